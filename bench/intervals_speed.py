"""Bootstrap intervals: seconds for 1,000 resamples with rmbench's own scorers (issue 7's target:
well under a few seconds for about 3k records), with the affine engine and with plain
resampling (for RMB's 18k items the resampling engine is timed on 100 resamples and scaled).

- RewardBench: 2,985 records in the official 23 subsets;
- RM-Bench: 1,327 prompts in its four domains (five raw domains), a 3x3 matrix per record;
- RewardBench 2: 1,865 rows (five best-of-4 subsets, Ties as 51 prompts in ref and tied form),
  with Ties rows clustered by prompt (the resampling engine: the composite is not affine, and
  a cluster resample varies in size) and, for comparison, without the cluster labels;
- RMB: the real records of `baseline/longest` over ../shared/data/rmb (skipped if absent).
"""

from __future__ import annotations

import json
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rmbench.scoring import get_scorer  # noqa: E402
from rmbench.scoring.intervals import bootstrap_intervals  # noqa: E402
from rmbench.tasks import get_spec  # noqa: E402

RMB_DATA = ROOT.parent / "shared" / "data" / "rmb" / "RMB_dataset"


def rewardbench(rng):
    opts = get_spec("rewardbench").options
    recs = []
    for sec in opts["sections"].values():
        for subset, w in sec.items():
            for k in range(447 if subset == "math-prm" else w):
                recs.append({"task": "rewardbench", "id": f"{subset}-{k}", "subset": subset,
                             "result": {"correct": float(rng.random() < 0.7)}})
    return recs


def rm_bench(rng):
    recs = []
    for dom, n in (("chat", 129), ("math", 529), ("code", 228), ("safety-refuse", 193), ("safety-response", 248)):
        scored = "safety" if dom.startswith("safety") else dom
        for k in range(n):
            m = [[float(rng.random() < 0.5 + 0.1 * (i - j)) for j in range(3)] for i in range(3)]
            recs.append({"task": "rm-bench", "id": f"{dom}/{k}", "subset": dom,
                         "labels": {"domain": dom, "scored_domain": scored},
                         "result": {"correct": sum(map(sum, m)) / 9, "matrix": m}})
    return recs


def rewardbench2(rng, clustered=True):
    recs = []
    for subset, n in (("Factuality", 475), ("Precise IF", 160), ("Math", 183), ("Safety", 450), ("Focus", 495)):
        for k in range(n):
            scores = [rng.gauss(1.0, 1.0)] + [rng.gauss(0.0, 1.0) for _ in range(3)]
            top = max(scores)
            recs.append({"task": "rewardbench2", "id": f"{subset}-{k}", "subset": subset,
                         "result": {"correct": float(scores[0] == top), "scores": scores, "n_correct": 1}})
    for p in range(51):
        for kind, n_correct in (("ref", 1), ("tied", 3)):
            scores = [rng.gauss(1.0, 0.5) for _ in range(n_correct)] + [rng.gauss(0.0, 0.5) for _ in range(3)]
            labels = {"ties_kind": kind, "prompt_id": str(p)}
            if clustered:
                labels["cluster"] = f"ties:{p}"
            ok = min(scores[:n_correct]) > max(scores[n_correct:])
            recs.append({"task": "rewardbench2", "id": f"{kind}:{p}", "subset": "Ties", "labels": labels,
                         "result": {"correct": float(ok), "scores": scores, "n_correct": n_correct}})
    return recs


def rmb():
    if not RMB_DATA.is_dir():
        return None
    out = Path(tempfile.mkdtemp())
    subprocess.run([sys.executable, "-m", "rmbench.cli.main", "run", "--model", "baseline/longest", "--task", "rmb",
                    "--data-path", str(RMB_DATA), "--output-dir", str(out), "--run-name", "rmb", "--quiet"],
                   cwd=ROOT, check=True, capture_output=True)
    return [json.loads(line) for line in (out / "rmb" / "records.jsonl").open()]


def timed(records, task, fast, resamples=1000):
    spec = get_spec(task)
    agg = get_scorer(spec.scoring).aggregate
    best = float("inf")
    for _ in range(1 if len(records) > 5000 else 3):
        t = time.perf_counter()
        ci = bootstrap_intervals(records, agg, spec.options, seed=1, resamples=resamples, fast=fast)
        best = min(best, time.perf_counter() - t)
    return best, len(ci)


if __name__ == "__main__":
    rng = random.Random(0)
    print(f"python {platform.python_version()} on {platform.machine()}")
    print("| task | records | metrics with an interval | affine engine s | resampling engine s |")
    print("|---|---|---|---|---|")
    cases = (("rewardbench", rewardbench(rng)), ("rm-bench", rm_bench(rng)),
             ("rewardbench2", rewardbench2(random.Random(2))),
             ("rewardbench2 (Ties rows as separate strata)", rewardbench2(random.Random(2), clustered=False)),
             ("rmb", rmb()))
    for task, recs in cases:
        if recs is None:
            print(f"| {task} | (no data) | | | |")
            continue
        name = task.split()[0]
        fast, n = timed(recs, name, True)
        if len(recs) > 5000:
            slow, _ = timed(recs, name, False, resamples=100)
            slow_text = f"{10 * slow:.1f} (100 resamples: {slow:.2f})"
        else:
            slow_text = f"{timed(recs, name, False)[0]:.3f}"
        print(f"| {task} | {len(recs)} | {n} | {fast:.3f} | {slow_text} |")
