"""``--engine ray``: wall time of the same run with 2 actors against 1 (issue 17).

One local Ray instance (``ray.init(num_cpus=2)``), each actor one CPU (so one torch thread);
the judge is a random Llama-style causal LM built like the tests' tiny models but bigger (hidden
HIDDEN, 4 layers), loaded by the real hf/ provider in each actor through from_pretrained, as a
generative pairwise judge (greedy, ``--gen max_tokens=TOKENS``) over N RewardBench-shaped
examples (both orders: 2N generations). ``max_batch`` is set so each round of the batch queue
makes several engine calls (the calls a one-process run makes: see rmbench/judges/engine.py,
``BatchQueue._run_lanes``), which is what lets the actors work at once.

Reported per run: the judging wall time from run.json (``stats.wall_seconds``: from the first
request to the last record, without starting the actors), the driver's CPU time over it, the
batches each actor ran and the seconds it computed, and whether the records are byte-identical to the 1-actor run (they must
be). The ratio 2 actors / 1 actor is the figure for bench/RESULTS.md: 0.5 is perfect scaling.
The machine is shared with other jobs, so the load average is printed too; run it a few times.

Environment: N (48), TOKENS (24), MAX_BATCH (8), BATCH (4: the provider's batch_size), HIDDEN (128).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

N = int(os.environ.get("N", "48"))
TOKENS = int(os.environ.get("TOKENS", "24"))
MAX_BATCH = int(os.environ.get("MAX_BATCH", "8"))
BATCH = int(os.environ.get("BATCH", "4"))
HIDDEN = int(os.environ.get("HIDDEN", "128"))


def build(root: Path) -> tuple[Path, Path]:
    from tests import rb_fixture
    from tests.judges.tiny_models import build_causal_lm, build_tokenizer

    tok = build_tokenizer(root / "tokenizer")
    model = build_causal_lm(root / "lm", tok, seed=1, hidden=HIDDEN, layers=4, heads=4, max_positions=4096)
    rows = [rb_fixture.row(i, *rb_fixture.PLAN[i % len(rb_fixture.PLAN)]) for i in range(N)]
    data = root / "rb.json"
    data.write_text(json.dumps(rows))
    return model, data


def run(model: Path, data: Path, out: Path, name: str, replicas: int) -> dict:
    import asyncio

    from rmbench.config import GenConfig, RunConfig
    from rmbench.runner import prepare, run_plan

    config = RunConfig(model=f"hf/{model}", tasks=["rewardbench"], data_path=str(data), output_dir=str(out),
                       run_name=name, no_cache=True, gen=GenConfig(max_tokens=TOKENS), engine="ray",
                       model_args={"replicas": replicas, "max_batch": MAX_BATCH, "batch_size": BATCH})
    t0 = time.perf_counter()
    plan = prepare(config)
    started = time.perf_counter() - t0
    asyncio.run(run_plan(plan, progress=False))
    info = json.loads((out / name / "run.json").read_text())
    return {"start_s": started, "wall_s": info["stats"]["wall_seconds"], "ray": info["stats"]["ray"],
            "driver_cpu_s": info["stats"]["cpu_seconds"],
            "records": (out / name / "records.jsonl").read_bytes()}


def main() -> None:
    import ray

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model, data = build(root)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                 runtime_env={"env_vars": {"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}})
        try:
            one = run(model, data, root / "out", "one", 1)
            two = run(model, data, root / "out", "two", 2)
        finally:
            ray.shutdown()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"ray {ray.__version__}; load average {os.getloadavg()[0]:.1f}")
    print(f"work: {N} examples x 2 orders, greedy max_tokens={TOKENS}, max_batch={MAX_BATCH}, batch_size={BATCH}, "
          f"hidden={HIDDEN}")
    print("| actors | actors started (s) | judging wall (s) | driver CPU (s) | batches per actor | compute s per actor |")
    print("|---|---|---|---|---|---|")
    for n, r in ((1, one), (2, two)):
        actors = r["ray"]["actors"]
        batches = ", ".join(str(a["batches"]) for a in actors)
        busy = ", ".join(f"{a['busy_seconds']:.2f}" for a in actors)
        print(f"| {n} | {r['start_s']:.1f} | {r['wall_s']:.2f} | {r['driver_cpu_s']:.2f} | {batches} | {busy} |")
    print(f"ratio 2 actors / 1 actor (judging wall): {two['wall_s'] / one['wall_s']:.3f}; records identical: "
          f"{one['records'] == two['records']}")


if __name__ == "__main__":
    main()
