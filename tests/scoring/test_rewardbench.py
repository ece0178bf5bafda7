"""RewardBench's sectioned score against hand-computed numbers."""

from __future__ import annotations

import json

import pytest

from rmbench.scoring import rewardbench
from rmbench.tasks.spec import get_spec
from tests import rb_fixture
from tests.helpers import run_cli, write_json


def _records(plan):
    return [{"task": "rewardbench", "id": str(i), "subset": s, "result": {"correct": c}} for i, (s, c) in enumerate(plan)]


def test_sections_weight_subsets_by_official_counts():
    opts = get_spec("rewardbench").options
    recs = _records([("math-prm", 1.0), ("math-prm", 0.0), ("hep-python", 1.0)])
    out = rewardbench.aggregate(recs, opts)
    # math-prm counts as 984 examples, not 2 and not 447
    assert out["sections"]["Reasoning"]["score"] == pytest.approx((0.5 * 984 + 164) / (984 + 164))
    assert out["sections"]["Reasoning"]["subsets"]["math-prm"] == {"accuracy": 0.5, "n": 2, "excluded": 0, "weight": 984}
    assert out["score"] == pytest.approx(out["sections"]["Reasoning"]["score"])  # one section present
    assert any("Chat" in n for n in out["notes"])


def test_prior_sets_weighting():
    opts = get_spec("rewardbench").options
    plan = [("alpacaeval-easy", 1.0), ("mt-bench-hard", 0.0), ("donotanswer", 1.0), ("hep-go", 0.0),
            ("anthropic_helpful", 1.0), ("shp", 0.0)]
    out = rewardbench.aggregate(_records(plan), opts)
    assert out["score"] == pytest.approx(0.5)
    assert out["sections"]["Prior Sets"]["score"] == pytest.approx(0.5)
    assert out["score_with_prior"] == pytest.approx((2 * 1 + 2 * 0 + 2 * 1 + 2 * 0 + 1 * 0.5) / 9)


def test_excluded_examples_are_counted_not_scored():
    opts = get_spec("rewardbench").options
    out = rewardbench.aggregate(_records([("hep-go", None), ("hep-go", 1.0)]), opts)
    assert out["sections"]["Reasoning"]["subsets"]["hep-go"]["n"] == 1
    assert out["sections"]["Reasoning"]["subsets"]["hep-go"]["excluded"] == 1
    assert out["sections"]["Reasoning"]["score"] == 1.0


def test_end_to_end_longest_baseline_matches_hand_computation(tmp_path):
    data = write_json(tmp_path / "rb.json", rb_fixture.rows())
    res = run_cli("run", "--model", "baseline/longest", "--task", "rewardbench", "--data-path", str(data),
                  "--output-dir", str(tmp_path / "out"), "--run-name", "rb", "--quiet")
    assert res.returncode == 0, res.stderr
    run_dir = tmp_path / "out" / "rb"
    for name in ("run.json", "records.jsonl", "summary.json", "summary.md"):
        assert (run_dir / name).is_file(), name
    summary = json.loads((run_dir / "summary.json").read_text())
    t = summary["tasks"]["rewardbench"]
    assert t["sections"]["Chat"]["score"] == pytest.approx(rb_fixture.CHAT)
    assert t["sections"]["Chat Hard"]["score"] == pytest.approx(rb_fixture.CHAT_HARD)
    assert t["sections"]["Safety"]["score"] == pytest.approx(rb_fixture.SAFETY)
    assert t["sections"]["Reasoning"]["score"] == pytest.approx(rb_fixture.REASONING)
    assert t["score"] == pytest.approx(rb_fixture.SCORE)
    assert t["n"] == len(rb_fixture.PLAN)
    records = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == [str(i) for i in range(len(rb_fixture.PLAN))]
    tie = next(r for r in records if r["subset"] == "donotanswer")
    assert tie["result"]["correct"] == 0.0  # equal lengths: a tie is a loss
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "complete"
    assert run["datasets"]["rewardbench"]["kind"] == "local"
    assert list(run["datasets"]["rewardbench"]["files"].values())[0]  # sha256 recorded
    assert run["config"]["seed"] == 0 and "versions" in run and run["command"][:2] == ["rmbench", "run"]
    assert "Score: " in (run_dir / "summary.md").read_text()


def test_prior_sets_are_named_by_their_hub_split_not_the_rows_subset_column(tmp_path):
    # allenai/pref-test-sets has a `subset` column in every split ("the dataset this example came
    # from", per its card); the official loader renames it and names every row by its split
    # (allenai/reward-bench rewardbench/utils.py: load_eval_dataset, `rename_column("subset",
    # "subsubset")` then `add_column("subset", [subset_name] * ...)`), and Prior Sets is the mean
    # over the four split accuracies (analysis/get_benchmark_results.py: np.nanmean).
    # A local folder stands in for the hub repository, laid out as data/<split>-00000-of-00001.jsonl.
    import dataclasses

    from rmbench.tasks import load_task
    from tests.helpers import write_jsonl

    hub = tmp_path / "hub" / "data"
    hub.mkdir(parents=True)
    plan = {"anthropic_helpful": ("helpful-base", [True, False]), "anthropic_hhh": ("honest", [True]),
            "shp": ("askscience", [False, False, True]), "summarize": ("tldr", [True, True])}
    k = 0
    for split, (source, wins) in plan.items():
        rows = []
        for win in wins:
            rows.append({"prompt": [{"role": "user", "content": "q"}], "chosen": "long answer" if win else "a",
                         "rejected": "b" if win else "long answer", "subset": source, "id": k})
            k += 1
        write_jsonl(hub / f"{split}-00000-of-00001.jsonl", rows)
    spec = get_spec("rewardbench-prior")
    spec = dataclasses.replace(spec, source=dataclasses.replace(spec.source, hub=str(tmp_path / "hub")))
    data = load_task(spec)
    assert sorted({ex.subset for ex in data.examples}) == sorted(plan)
    recs = [{"task": spec.name, "id": ex.id, "subset": ex.subset,
             "result": {"correct": 1.0 if len(ex.candidates[0]) > len(ex.candidates[1]) else 0.0}}
            for ex in data.examples]
    out = rewardbench.aggregate(recs, spec.options)
    assert out["score"] == pytest.approx((0.5 + 1.0 + 1 / 3 + 1.0) / 4)
    assert "unscored_subsets" not in out
