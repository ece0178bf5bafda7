"""PPE correctness at full size: five subsets of 512 questions (MBPP-Plus 507) with 32 answers each,
in the hub schema, scored with baseline/longest end to end through the CLI in a fresh interpreter
(all 32 answers, then a seeded k=8), with the scalar metrics (pairwise accuracy, best-of-K curve,
row-wise Pearson) and their bootstrap intervals.

The hub copies cannot be read offline, so the script writes synthetic rows of the same shape: answers
of 300-3,000 characters (the published answers are chain-of-thought solutions of that order), about
a third of them correct, 16 sampled conflict pairs per question. Figures go to bench/RESULTS.md by hand.

    python bench/ppe_scale.py            # N=2 runs per setting
"""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
N = int(os.environ.get("N", "2"))
SIZES = {"mmlu-pro": 512, "math": 512, "gpqa": 512, "ifeval": 512, "mbpp-plus": 507}
WORDS = "the of a value so then we get and is by step check answer result therefore".split()


def write_data(root: Path, seed: int = 0) -> int:
    rng = random.Random(seed)
    total = 0
    for subset, n in SIZES.items():
        rows = []
        for q in range(n):
            flags = [rng.random() < 0.35 for _ in range(32)]
            row = {"question_id": f"{subset}-{q}", "prompt": f"Question {q} of {subset}: " + " ".join(
                rng.choice(WORDS) for _ in range(60)), "model_name": "synthetic", "scores": flags,
                   "mean_score": sum(flags) / 32}
            for i in range(32):
                row[f"response_{i + 1}"] = " ".join(rng.choice(WORDS) for _ in range(rng.randint(60, 600)))
            good = [i for i, f in enumerate(flags) if f]
            bad = [i for i, f in enumerate(flags) if not f]
            row["sampled_conflict_pairs"] = [[rng.choice(good), rng.choice(bad)] for _ in range(16)] if good and bad else []
            rows.append(row)
        (root / f"{subset}.json").write_text(json.dumps(rows), encoding="utf-8")
        total += n
    return total


def one_run(data: Path, out: Path, name: str, *extra: str) -> tuple[float, float, dict]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HF_DATASETS_CACHE": str(out / "hf"), "RMBENCH_CACHE_DIR": str(out / "cache")}
    argv = [sys.executable, "-m", "rmbench.cli.main", "run", "--model", "baseline/longest", "--task",
            "ppe-correctness", "--data-path", str(data), "--output-dir", str(out), "--run-name", name, "--quiet",
            *extra]
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(proc.stderr.read().decode()[-2000:])
    summary = json.loads((out / name / "summary.json").read_text())["tasks"]["ppe-correctness"]
    return wall, usage.ru_maxrss / 1024, summary


def main() -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        data = root / "data"
        data.mkdir()
        t0 = time.perf_counter()
        questions = write_data(data)
        size = sum(f.stat().st_size for f in data.iterdir()) / 2**20
        print(f"wrote {questions} questions x 32 answers ({size:.0f} MiB) in {time.perf_counter() - t0:.1f} s")
        for label, extra in (("all 32 answers", ()), ("k=8", ("--task-args", "k=8"))):
            walls, rss = [], []
            for n in range(N):
                wall, peak, summ = one_run(data, root / "out", f"{label[:3]}-{n}".replace(" ", ""), *extra)
                walls.append(wall)
                rss.append(peak)
            print(f"{label}: wall s {min(walls):.1f}-{max(walls):.1f} (median {statistics.median(walls):.1f}), "
                  f"peak RSS {max(rss):.0f} MiB; score {summ['score']:.4f}, metrics "
                  + ", ".join(f"{k} {v:.4f}" for k, v in summ["metrics"].items()))


if __name__ == "__main__":
    main()
