"""Building run directories for report tests.

``summary_run`` writes run.json + summary.json with values chosen by hand (for tables checked
cell by cell); ``records_run`` writes run.json + records.jsonl for RewardBench with chosen
per-example correctness and lets the real ``rescore`` compute summary.json (scores and intervals).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from rmbench.runner import rescore

BASE_IDENTITY = {"limit": None, "seed": 0, "model_args": {}, "task_args": {}, "gen": {},
                 "prompt": None, "judge_type": None, "orders": "both", "samples": 1, "on_failure": "loss",
                 "aggregate": None, "base_url": None, "shard": None, "max_length": None, "protocol": "rmbench"}
DATA = {"kind": "local", "path": "/data/rb.json", "files": {"rb.json": "aa" * 32}}


def identity(model: str, tasks: list[str], data: dict | None = None, **settings) -> dict:
    ident = {"model": model, "tasks": list(tasks), **BASE_IDENTITY, **settings}
    ident["data"] = {t: (data or DATA) for t in tasks}
    ident["judge"] = {"mode": "pairwise", "kind": "generative", "provider": model.split("/")[0]}
    return ident


def write_run_json(path: Path, ident: dict, records: list[dict] | None = None) -> None:
    """run.json as the runner writes it; with ``records``, also what it records per task (scoring,
    options, the examples judged) so that the validated readers accept the run."""
    from rmbench.store.schema import identity_hash, ids_sha256
    from rmbench.tasks import get_spec

    config = {k: v for k, v in ident.items() if k not in ("data", "judge")}
    run = {"rmbench_version": "0.1.0", "status": "complete", "config": config, "identity": ident,
           "identity_hash": identity_hash(ident), "judge": ident["judge"], "datasets": ident["data"],
           "finished": "2026-11-20T10:00:00+00:00"}
    if records is not None:
        tasks = {}
        for t in ident["tasks"]:
            spec = get_spec(t)
            ids = [r["id"] for r in records if r["task"] == t]
            tasks[t] = {"scoring": spec.scoring, "version": spec.version, "options": spec.options,
                        "selection": {"n": len(ids), "ids_sha256": ids_sha256(ids)}}
        run["tasks"] = tasks
    (path / "run.json").write_text(json.dumps(run, indent=2), encoding="utf-8")


def summary_run(root: Path, name: str, model: str, tasks: dict[str, dict], data: dict | None = None,
                **settings) -> Path:
    """tasks: {task: {"score", "ci", "n", "sections": {name: {"score", "ci", "n"}}}}"""
    path = root / name
    path.mkdir(parents=True)
    ident = identity(model, list(tasks), data, **settings)
    write_run_json(path, ident)
    from rmbench.store.schema import identity_hash

    summary = {"rmbench_version": "0.1.0", "run_identity": identity_hash(ident), "model": model,
               "seed": ident["seed"], "judge": ident["judge"], "tasks": tasks}
    (path / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return path


def task(score, ci, n, **sections) -> dict:
    return {"score": score, "ci": ci, "n": n,
            "sections": {k.replace("_", " "): {"score": s, "ci": c, "n": m} for k, (s, c, m) in sections.items()}}


# RewardBench subsets used by records_run: two per section, sizes chosen for quick tests
SUBSETS = {"alpacaeval-easy": 100, "alpacaeval-hard": 95, "llmbar-natural": 100, "mt-bench-hard": 37,
           "refusals-dangerous": 100, "xstest-should-respond": 250, "math-prm": 447, "hep-python": 164}


def rb_records(p: float | dict[str, float], seed: int) -> list[dict]:
    rng = random.Random(seed)
    recs = []
    for subset, n in SUBSETS.items():
        q = p[subset] if isinstance(p, dict) else p
        for k in range(n):
            recs.append({"task": "rewardbench", "id": f"{subset}-{k}", "subset": subset,
                         "result": {"correct": float(rng.random() < q)}, "failures": {}, "scores": []})
    return recs


def records_run(root: Path, name: str, model: str, records: list[dict], data: dict | None = None,
                **settings) -> Path:
    path = root / name
    path.mkdir(parents=True)
    ident = identity(model, ["rewardbench"], data, **settings)
    write_run_json(path, ident, records)
    from rmbench.store.schema import identity_hash

    stamped = [{"run_identity": identity_hash(ident), **r} for r in records]
    (path / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in stamped), encoding="utf-8")
    rescore(path)
    return path


def flip(records: list[dict], n: int, to: float, seed: int) -> list[dict]:
    """A copy with ``n`` examples that are not already ``to`` set to ``to``."""
    rng = random.Random(seed)
    out = [json.loads(json.dumps(r)) for r in records]
    idx = [i for i, r in enumerate(out) if r["result"]["correct"] != to]
    for i in rng.sample(idx, n):
        out[i]["result"]["correct"] = to
    return out
