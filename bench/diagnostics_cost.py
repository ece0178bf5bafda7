"""What the diagnostics and compute curves add to a run's summary (issue 15).

Everything ``scoring.diagnostics.task_diagnostics`` computes is recomputed from the records by
every ``rmbench rescore`` (and at the end of every run), so its cost is paid often. Three
workloads, each timed as process CPU seconds of one ``task_diagnostics`` call (median of
``--repeat``), on synthetic records in the exact shape a run writes:

- ``rewardbench K=1``: 2,985 pairwise items in RewardBench's subsets, both orders, one sample
  (the everyday case: length bias, sections, position bias per section);
- ``rewardbench K=8``: the same with 8 samples per request (adds the votes curve: 8 closed-form
  points, each with its 1,000-resample bootstrap, and self-consistency);
- ``bon round robin N=8``: 500 best-of-8 items judged by a round robin in both orders (adds the
  candidates curve: knockout, Elo, Bradley-Terry and wins replayed on candidate subsets).

Goal: under 10 s each on the development machine. Prints a markdown table; record the figures
in bench/RESULTS.md.

    PYTHONPATH=. python bench/diagnostics_cost.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import time

from rmbench.protocol import Policy
from rmbench.scoring import diagnostics, get_scorer
from rmbench.tasks import get_spec

GOAL_S = 10.0


def _judgment(first, second, sample, winner):
    return {"first": first, "second": second, "sample": sample, "status": "ok", "winner": winner,
            "label": "A" if winner == first else "B"}


def rewardbench_records(samples: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    subsets = [s for weights in get_spec("rewardbench").options["sections"].values() for s in weights]
    out = []
    for k in range(2985):
        skill = rng.random()
        js = [_judgment(a, b, s, 0 if rng.random() < 0.4 + 0.5 * skill else 1)
              for a, b in ((0, 1), (1, 0)) for s in range(samples)]
        out.append({"task": "rewardbench", "id": str(k), "subset": subsets[k % len(subsets)],
                    "result": {"correct": sum(j["winner"] == 0 for j in js) / len(js)}, "failures": {},
                    "pairs": [{"i": 0, "j": 1, "judgments": js}], "preferred": [0],
                    "lengths": {"unit": "chars", "counts": [rng.randint(50, 900), rng.randint(50, 900)]}})
    return out


def bon_records(items: int = 500, n: int = 8, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for k in range(items):
        strength = [rng.random() for _ in range(n)]
        best = max(range(n), key=strength.__getitem__)
        pairs, matches = [], []
        for i in range(n):
            for j in range(i + 1, n):
                p = 0.5 + 0.8 * (strength[i] - strength[j])
                js = [_judgment(a, b, 0, i if rng.random() < p else j) for a, b in ((i, j), (j, i))]
                pairs.append({"i": i, "j": j, "judgments": js})
                matches.append({"round": 1, "i": i, "j": j, "value": None, "winner": None, "settled": "verdict",
                                "comparisons": 2})
        out.append({"task": "bon", "id": f"q{k}", "subset": "bon", "result": {"correct": 0.0, "n": n, "n_correct": 1,
                    "solvable": 1.0, "chance": 1 / n}, "failures": {}, "pairs": pairs, "preferred": [best],
                    "lengths": {"unit": "chars", "counts": [100] * n},
                    "tournament": {"method": "bt", "by": "matches", "candidates": n, "matches": matches}})
    return out


def timed(records, task, samples, repeat):
    scorer, options = get_scorer(get_spec(task).scoring), get_spec(task).options
    policy = Policy(orders="both", samples=samples, seed=0, on_failure="loss")
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        out = diagnostics.task_diagnostics(records, scorer=scorer, options=options, policy=policy, task=task,
                                           judge={"mode": "pairwise", "kind": "generative"})
        times.append(time.process_time() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}")
    print("| workload | records | CPU s (median) | goal |")
    print("|---|---|---|---|")
    for name, recs, task, k in (("rewardbench K=1", rewardbench_records(1), "rewardbench", 1),
                                ("rewardbench K=8", rewardbench_records(8), "rewardbench", 8),
                                ("bon round robin N=8", bon_records(), "bon", 1)):
        t, out = timed(recs, task, k, args.repeat)
        print(f"| {name} | {len(recs)} | {t:.2f} | {'met' if t < GOAL_S else 'MISSED'} (< {GOAL_S:g} s) |")


if __name__ == "__main__":
    main()
