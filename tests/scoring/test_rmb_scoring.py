"""RMB accuracies (pairwise and best-of-N per goal, micro and macro) against hand-computed values,
and the longest baseline on the real folder against an independent count from the raw JSON."""

from __future__ import annotations

import json

import pytest

from rmbench.errors import UserError
from rmbench.scoring import rmb
from tests.helpers import run_cli
from tests.scoring.outcomes import example, pairwise, pointwise, record


def _ex(ident, part, goal, scenario, n):
    return example(ident, n, preferred=(0,), subset=f"{goal}/{scenario}", task="rmb",
                   labels={"part": part, "goal": goal, "scenario": scenario})


def _rec(ident, part, goal, scenario, scores):
    ex = _ex(ident, part, goal, scenario, len(scores))
    return record(ex, rmb.example_result(ex, pointwise(ex, scores)))


RECORDS = [
    # Helpfulness pairwise: scenario A 2 of 3, scenario B 0 of 1 -> micro 2/4, macro (2/3 + 0) / 2
    _rec("p1", "pairwise", "Helpfulness", "A", [3, 1]),
    _rec("p2", "pairwise", "Helpfulness", "A", [9, 2]),
    _rec("p3", "pairwise", "Helpfulness", "A", [4, 4]),       # tie: a loss
    _rec("p4", "pairwise", "Helpfulness", "B", [1, 2]),
    # Harmlessness pairwise: 2 of 2
    _rec("p5", "pairwise", "Harmlessness", "S1", [2, 1]),
    _rec("p6", "pairwise", "Harmlessness", "S1", [5, 0]),
    # Helpfulness best-of-N: A 1 of 2 (a loser tying the best is a loss), C 1 of 1
    _rec("b1", "bon", "Helpfulness", "A", [5, 4, 3]),
    _rec("b2", "bon", "Helpfulness", "A", [5, 4, 5]),
    _rec("b3", "bon", "Helpfulness", "C", [2, 1]),
    # Harmlessness best-of-N: the best beats one loser of two -> wrong
    _rec("b4", "bon", "Harmlessness", "S2", [1, 2, 0]),
]


def test_best_of_n_needs_every_loser_beaten():
    by_id = {r["id"]: r["result"] for r in RECORDS}
    assert by_id["b1"] == {"correct": 1.0, "losers": 2, "beaten": 2.0}
    assert by_id["b2"] == {"correct": 0.0, "losers": 2, "beaten": 1.0}
    assert by_id["b4"]["correct"] == 0.0
    assert by_id["p3"] == {"correct": 0.0}


def test_micro_accuracies_per_goal_and_overall():
    out = rmb.aggregate(RECORDS, {})
    s = out["sections"]
    assert list(s) == ["Helpfulness Pairwise", "Harmlessness Pairwise", "Helpfulness BoN", "Harmlessness BoN"]
    assert s["Helpfulness Pairwise"]["score"] == pytest.approx(2 / 4)
    assert s["Harmlessness Pairwise"]["score"] == 1.0
    assert s["Helpfulness BoN"]["score"] == pytest.approx(2 / 3)
    assert s["Harmlessness BoN"]["score"] == 0.0
    assert out["score"] == pytest.approx((0.5 + 1 + 2 / 3 + 0) / 4)
    assert out["metrics"] == pytest.approx({"pairwise_accuracy": 0.75, "bon_accuracy": 1 / 3,
                                            "helpfulness": (0.5 + 2 / 3) / 2, "harmlessness": 0.5})
    assert s["Helpfulness Pairwise"]["subsets"] == {"A": {"accuracy": pytest.approx(2 / 3), "n": 3},
                                                    "B": {"accuracy": 0.0, "n": 1}}
    assert out["n"] == 10 and out["average"] == "micro" and "notes" not in out


def test_macro_averages_scenarios():
    out = rmb.aggregate(RECORDS, {"average": "macro"})
    s = out["sections"]
    assert s["Helpfulness Pairwise"]["score"] == pytest.approx((2 / 3 + 0) / 2)
    assert s["Helpfulness BoN"]["score"] == pytest.approx((0.5 + 1) / 2)
    assert out["score"] == pytest.approx(((2 / 3) / 2 + 1 + 0.75 + 0) / 4)
    assert s["Helpfulness Pairwise"]["micro"] == pytest.approx(0.5)   # both figures are kept
    with pytest.raises(UserError, match="average must be micro or macro"):
        rmb.aggregate(RECORDS, {"average": "weighted"})


def test_one_part_only_is_noted():
    out = rmb.aggregate([r for r in RECORDS if r["labels"]["part"] == "pairwise"], {})
    assert out["score"] == pytest.approx((0.5 + 1) / 2)
    assert "Helpfulness BoN, Harmlessness BoN" in out["notes"][0]


def test_pairwise_judge_best_of_n_is_the_product_over_losers():
    ex = _ex("b", "bon", "Helpfulness", "A", 4)
    # best beats loser 1 in both orders, loser 2 in one order of two, loser 3 in both
    res = rmb.example_result(ex, pairwise(ex, {(0, 1): (0, 0), (0, 2): (0, 2), (0, 3): (0, 0)}))
    assert res == {"correct": 0.5, "losers": 3, "beaten": 2.5}
    lost = rmb.example_result(ex, pairwise(ex, {(0, 1): (0, 0), (0, 2): (2, 2), (0, 3): (0, 0)}))
    assert lost["correct"] == 0.0
    failed = rmb.example_result(ex, pairwise(ex, {(0, 1): (None, None), (0, 2): (0, 0), (0, 3): (0, 0)},
                                              on_failure="exclude"))
    assert failed["correct"] is None


def _independent(root):
    """Per (part, goal): scenario -> [correct...] for the longest baseline, from the raw files."""
    out = {}
    for path in sorted(root.rglob("*.json")):
        for row in json.loads(path.read_text(encoding="utf-8")):
            parts = row["category_path"].split("/")
            key = ("bon" if parts[0] == "BoN_set" else "pairwise", parts[1])
            if key[0] == "bon":
                ok = len(row["bon_best"]["answer"]) > max(len(x["answer"]) for x in row["loser_list"])
            else:
                ok = len(row["chosen"]["answer"]) > len(row["reject"]["answer"])
            out.setdefault(key, {}).setdefault("/".join(parts[2:]), []).append(ok)
    return out


@pytest.mark.slow
def test_longest_baseline_on_the_real_folder_end_to_end(shared_data, tmp_path):
    root = shared_data / "rmb" / "RMB_dataset"
    expected = _independent(root)
    res = run_cli("run", "--model", "baseline/longest", "--task", "rmb", "--data-path", str(root),
                  "--output-dir", str(tmp_path), "--run-name", "r", "--quiet")
    assert res.returncode == 0, res.stderr
    t = json.loads((tmp_path / "r" / "summary.json").read_text())["tasks"]["rmb"]
    names = {"pairwise": "Pairwise", "bon": "BoN"}
    micro, macro = [], []
    for (part, goal), scen in expected.items():
        sec = t["sections"][f"{goal} {names[part]}"]
        flat = [v for vals in scen.values() for v in vals]
        micro.append(sum(flat) / len(flat))
        macro.append(sum(sum(v) / len(v) for v in scen.values()) / len(scen))
        assert sec["n"] == len(flat)
        assert sec["score"] == pytest.approx(micro[-1])
        assert sec["macro"] == pytest.approx(macro[-1])
        assert sec["scenarios"] == len(scen)
    assert len(micro) == 4
    assert t["score"] == pytest.approx(sum(micro) / 4)
    assert t["data_notes"]["empty answers"]["count"] == 2
    # the records alone give the macro figure too (re-scoring offline)
    records = [json.loads(line) for line in (tmp_path / "r" / "records.jsonl").read_text().splitlines()]
    assert rmb.aggregate(records, {"average": "macro"})["score"] == pytest.approx(sum(macro) / 4)
