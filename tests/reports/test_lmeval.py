"""lm-eval interop: `rmbench lm-eval-tasks` writes tasks that lm-eval runs against a local
OpenAI-compatible server (its local-chat-completions model), and the scores lm-eval reports
equal rmbench's own for the same verdicts."""

from __future__ import annotations

import asyncio
import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rmbench.config import RunConfig
from rmbench.runner import run
from tests.helpers import REPO, run_cli
from tests.reports.chat_server import ChatServer


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("lm-eval-tasks")
    res = run_cli("lm-eval-tasks", "--demo", "--task", "rewardbench", "--dir", str(d))
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(d.resolve())
    return d


def test_written_task_files(task_dir):
    yaml_text = (task_dir / "rmbench_rewardbench.yaml").read_text()
    assert "task: rmbench_rewardbench" in yaml_text and "process_results: !function utils.process_rmbench_rewardbench" in yaml_text
    for metric in ("judgment_acc", "score", "chat", "chat_hard", "safety", "reasoning"):
        assert f"- metric: {metric}\n" in yaml_text
    docs = [json.loads(ln) for ln in (task_dir / "data" / "rmbench_rewardbench.jsonl").open()]
    assert len(docs) == 36  # 18 demo examples, each pair in both orders
    by_id: dict = {}
    for d in docs:
        by_id.setdefault(d["id"], []).append(d)
        assert d["target"] == ("A" if d["first"] == d["i"] else "B")
        assert "[[A]]" in d["user"] and d["system"]
    assert all(sorted((d["first"], d["second"]) for d in pair) == [(0, 1), (1, 0)] for pair in by_id.values())
    utils = (task_dir / "utils.py").read_text()
    assert "from rmbench.integrations.lm_eval import" in utils


def test_bad_input(tmp_path):
    res = run_cli("lm-eval-tasks", "--demo", "--task", "nope", "--dir", str(tmp_path))
    assert res.returncode == 2 and "unknown task" in res.stderr
    res = run_cli("lm-eval-tasks", "--demo", "--task", "rewardbench", "--prompt", "rating", "--dir", str(tmp_path))
    assert res.returncode == 2 and "pairwise template" in res.stderr


def _protocol_reference(task: str) -> dict:
    """What rmbench's own pipeline scores for the fake judge's verdicts: the real protocol
    (evaluate_example, both orders) and the task's scorer, with a compare function that answers
    like the server (the longer response wins; equal lengths give no verdict)."""
    from rmbench.protocol import Policy, default_pairs, evaluate_example
    from rmbench.scoring import get_scorer
    from rmbench.tasks import get_spec, load_task
    from rmbench.types import OK, UNPARSED, Judgment

    spec = get_spec(task)
    scorer = get_scorer(spec.scoring)
    policy = Policy()

    async def compare(example, c):
        la, lb = len(example.candidates[c.first]), len(example.candidates[c.second])
        if la == lb:
            return Judgment(c.first, c.second, c.sample, UNPARSED)
        return Judgment(c.first, c.second, c.sample, OK, winner=c.first if la > lb else c.second)

    async def score(*_):
        raise AssertionError("pairwise only")

    records = []
    for ex in load_task(spec, demo=True).examples:
        pairs = scorer.pairs(ex) if hasattr(scorer, "pairs") else default_pairs(ex)
        outcome = asyncio.run(evaluate_example(ex, "pairwise", policy, compare, score, pairs=pairs))
        records.append({"task": task, "id": ex.id, "subset": ex.subset, "labels": dict(ex.labels),
                        "result": scorer.example_result(ex, outcome)})
    return scorer.aggregate(records, spec.options)


@pytest.mark.slow
def test_lm_eval_runs_the_tasks_against_a_local_server(tmp_path):
    pytest.importorskip("lm_eval", reason="lm-eval is not installed (pip install 'rmbench[lm-eval]')")
    task_dir = tmp_path / "tasks"
    res = run_cli("lm-eval-tasks", "--demo", "--dir", str(task_dir))  # every task with a demo sample
    assert res.returncode == 0, res.stderr
    meta = {p.name[: -len(".meta.json")]: json.loads(p.read_text()) for p in (task_dir / "data").glob("*.meta.json")}
    assert {"rmbench_rewardbench", "rmbench_rm_bench", "rmbench_rmb"} <= set(meta)
    n_docs = sum(1 for p in (task_dir / "data").glob("*.jsonl") for _ in p.open())
    out = tmp_path / "lm-eval-out"
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HF_DATASETS_CACHE": str(tmp_path / "hf"), "OPENAI_API_KEY": "unused"}
    with ChatServer() as server:
        res = subprocess.run([sys.executable, "-m", "lm_eval", "--model", "local-chat-completions",
                              "--model_args", f"model=judge,base_url={server.url},num_concurrent=4,max_retries=1",
                              "--tasks", "rmbench", "--include_path", str(task_dir),
                              "--apply_chat_template", "--output_path", str(out)],
                             capture_output=True, text=True, env=env, timeout=280)
        requests = list(server.requests)
    assert res.returncode == 0, res.stderr[-3000:]
    assert len(requests) == n_docs
    docs = {}
    for p in (task_dir / "data").glob("*.jsonl"):
        for ln in p.open():
            d = json.loads(ln)
            docs[d["user"]] = d
    for body in requests:
        assert [m["role"] for m in body["messages"]] == ["system", "user"]
        assert body["messages"][1]["content"] in docs
    results = json.loads(Path(glob.glob(str(out / "**" / "results_*.json"), recursive=True)[0]).read_text())["results"]

    for name, m in meta.items():
        ref = _protocol_reference(m["task"])
        for key, path in m["metrics"].items():
            want = ref
            for k in path:
                want = want[k]
            assert results[name][f"{key},none"] == pytest.approx(want, abs=1e-12), (name, key)

    # and an anchor outside the protocol: for RewardBench the same verdicts are exactly what the
    # scalar baseline/longest scores (a tie is a loss both ways)
    path = run(RunConfig(model="baseline/longest", tasks=["rewardbench"], output_dir=str(tmp_path), run_name="ref"),
               demo=True, argv=["rmbench"], show_progress=False)
    ref = json.loads((path / "summary.json").read_text())["tasks"]["rewardbench"]
    got = results["rmbench_rewardbench"]
    assert got["score,none"] == pytest.approx(ref["score"], abs=1e-12)
    for key, section in (("chat", "Chat"), ("chat_hard", "Chat Hard"), ("safety", "Safety"), ("reasoning", "Reasoning")):
        assert got[f"{key},none"] == pytest.approx(ref["sections"][section]["score"], abs=1e-12), key
    records = [json.loads(ln) for ln in (path / "records.jsonl").open()]
    assert got["judgment_acc,none"] == pytest.approx(sum(r["result"]["correct"] for r in records) / len(records))
