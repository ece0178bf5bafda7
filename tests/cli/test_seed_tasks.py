"""ppe-correctness, pandalm and judgebench from the command line: listed by ``rmbench tasks``,
judged end to end by a generative judge (the fake OpenAI server: the longer response wins, A on a
tie) in both orders and by the longest-response baseline, and shown on a leaderboard."""

from __future__ import annotations

import json

from rmbench.config import RunConfig
from rmbench.runner import run
from rmbench.tasks import get_spec, load_task
from tests.helpers import REPO, run_cli

DEMO = REPO / "rmbench" / "demo"
TASKS = ("ppe-correctness", "pandalm", "judgebench")


def test_tasks_lists_the_three_with_source_size_and_metric():
    res = run_cli("tasks", "--format", "json")
    assert res.returncode == 0, res.stderr
    rows = {r["task"]: r for r in json.loads(res.stdout)}
    assert rows["ppe-correctness"]["source"] == "lmarena-ai/PPE-{MMLU-Pro,MATH,GPQA,IFEval,MBPP-Plus}-Best-of-K (train)"
    assert rows["ppe-correctness"]["size"] == 2555 and "best-of-K accuracy" in rows["ppe-correctness"]["metric"]
    assert rows["pandalm"]["source"].startswith("https://raw.githubusercontent.com/WeOpenML/PandaLM/")
    assert rows["pandalm"]["size"] == 999 and rows["pandalm"]["metric"].startswith("macro F1")
    assert rows["judgebench"]["source"] == "ScalerLab/JudgeBench (gpt,claude)" and rows["judgebench"]["size"] == 350
    assert "per category knowledge, reasoning, math, coding" in rows["judgebench"]["metric"]
    table = run_cli("tasks").stdout                                  # and the markdown table shows them
    assert all(f"| {t} " in table for t in TASKS)


def _run(tmp_path, task, model, name, **kw):
    """A run in-process (the judges and the pipeline are the real ones)."""
    cfg = RunConfig(model=model, tasks=[task], data_path=str(DEMO / f"{task}.json"), output_dir=str(tmp_path / "out"),
                    run_name=name, **kw)
    return run(cfg, argv=["rmbench"], show_progress=False)


def _records(tmp_path, name):
    return {r["id"]: r for r in map(json.loads, (tmp_path / "out" / name / "records.jsonl").open())}


def test_a_generative_judge_in_both_orders_and_the_longest_baseline(fake_api, tmp_path):
    api = {"base_url": fake_api.openai_base_url, "cache": str(tmp_path / "cache.sqlite"), "max_retries": 1}
    for task in ("pandalm", "judgebench"):
        _run(tmp_path, task, "openai/fake-judge", f"{task}-api", **api)
        _run(tmp_path, task, "baseline/longest", f"{task}-longest")
    # PandaLM: the longer response wins in both orders; equal lengths make each order pick the
    # response shown first, a contradiction, hence a tie, the same prediction the baseline's
    # equal scores give
    examples = {ex.id: ex for ex in load_task(get_spec("pandalm"), demo=True).examples}
    api_recs, base_recs = _records(tmp_path, "pandalm-api"), _records(tmp_path, "pandalm-longest")
    for ident, ex in examples.items():
        a, b = (len(c) for c in ex.candidates)
        want = 1 if a > b else 2 if a < b else 0
        assert api_recs[ident]["result"]["pred"] == base_recs[ident]["result"]["pred"] == want
        assert len(api_recs[ident]["pairs"][0]["judgments"]) == 2
    api_summ = json.loads((tmp_path / "out" / "pandalm-api" / "summary.json").read_text())["tasks"]["pandalm"]
    base_summ = json.loads((tmp_path / "out" / "pandalm-longest" / "summary.json").read_text())["tasks"]["pandalm"]
    assert api_summ["metrics"] == base_summ["metrics"]
    assert api_summ["judging"]["position_bias"]["pairs_both_orders"] == len(examples)
    # JudgeBench: no equal lengths in the demo, so both orders agree with the baseline's pick
    jb_api, jb_base = _records(tmp_path, "judgebench-api"), _records(tmp_path, "judgebench-longest")
    assert {i: r["result"]["correct"] for i, r in jb_api.items()} == {i: r["result"]["correct"] for i, r in jb_base.items()}
    assert all(abs(r["result"]["sum"]) == 2 for r in jb_api.values())


def test_a_leaderboard_with_the_three_tasks_renders(tmp_path):
    for model in ("baseline/longest", "baseline/shortest"):
        cfg = RunConfig(model=model, tasks=list(TASKS), output_dir=str(tmp_path / "out"), run_name=model[9:],
                        data_path=",".join(f"{t}={DEMO / (t + '.json')}" for t in TASKS))
        run(cfg, argv=["rmbench"], show_progress=False)
    res = run_cli("leaderboard", str(tmp_path / "out"))
    assert res.returncode == 0, res.stderr
    headers = [ln for ln in res.stdout.splitlines() if ln.startswith("| model")]
    # the overview, then each benchmark in its own layout (the leaderboard: blocks of the task YAMLs)
    cells = [[c.strip() for c in h.strip("|").split("|")] for h in headers]
    assert {"PPE best-of-K", "PandaLM", "JudgeBench"} <= set(cells[0])
    expected = {"MMLU-Pro", "MBPP-Plus", "Accuracy", "F1", "Knowledge", "Coding", "Overall"}
    assert expected <= {c for row in cells[1:] for c in row}
    assert "baseline/longest" in res.stdout and "baseline/shortest" in res.stdout
