"""Bootstrap intervals: coverage in simulation, both engines agreeing, determinism, edge cases."""

from __future__ import annotations

import random

import numpy as np
import pytest

from rmbench.scoring import rewardbench
from rmbench.scoring.common import mean
from rmbench.scoring.intervals import (
    _Affine,
    add_intervals,
    bootstrap_intervals,
    metric_paths,
    percentile_interval,
    resample_metrics,
    strata,
)

# a RewardBench-shaped design: constant subset weights, sections, score = mean of sections
OPTIONS = {"sections": {"A": {"a1": 100, "a2": 50}, "B": {"b1": 80, "b2": 80, "b3": 200}}}
SIZES = {"a1": 60, "a2": 40, "b1": 50, "b2": 30, "b3": 90}
TRUE_P = {"a1": 0.9, "a2": 0.6, "b1": 0.75, "b2": 0.5, "b3": 0.8}


def true_values() -> dict[str, float]:
    secs = {name: sum(TRUE_P[s] * w for s, w in ws.items()) / sum(ws.values()) for name, ws in OPTIONS["sections"].items()}
    return {"score": sum(secs.values()) / len(secs), **secs}


def simulate(rng: random.Random, p: dict[str, float] = TRUE_P, sizes: dict[str, int] = SIZES) -> list[dict]:
    recs = []
    for s, n in sizes.items():
        for k in range(n):
            recs.append({"task": "t", "id": f"{s}-{k}", "subset": s, "result": {"correct": float(rng.random() < p[s])}})
    return recs


def test_coverage_of_task_and_section_intervals_is_near_nominal():
    rng = random.Random(1234)
    truth = true_values()
    hits = {"score": 0, "A": 0, "B": 0}
    n_sets = 200
    for d in range(n_sets):
        recs = simulate(rng)
        ci = bootstrap_intervals(recs, rewardbench.aggregate, OPTIONS, seed=d, resamples=400)
        for key, path in (("score", ("score",)), ("A", ("sections", "A", "score")), ("B", ("sections", "B", "score"))):
            lo, hi = ci[path]
            hits[key] += lo <= truth[key] <= hi
    for key, h in hits.items():
        assert 0.90 <= h / n_sets <= 0.99, (key, h / n_sets)


def test_interval_contains_point_estimate_and_shrinks_with_more_data():
    rng = random.Random(5)
    small = simulate(rng)
    big = simulate(rng, sizes={s: 10 * n for s, n in SIZES.items()})
    ci_s = bootstrap_intervals(small, rewardbench.aggregate, OPTIONS, seed=0)[("score",)]
    ci_b = bootstrap_intervals(big, rewardbench.aggregate, OPTIONS, seed=0)[("score",)]
    point = rewardbench.aggregate(small, OPTIONS)["score"]
    assert ci_s[0] < point < ci_s[1]
    # width scales like 1/sqrt(n): ten times the data, about a third of the width
    ratio = (ci_b[1] - ci_b[0]) / (ci_s[1] - ci_s[0])
    assert 0.22 < ratio < 0.45


def test_affine_engine_matches_resampling_engine_exactly():
    recs = simulate(random.Random(7))
    fast = bootstrap_intervals(recs, rewardbench.aggregate, OPTIONS, seed=3, resamples=300, min_subset_n=30)
    slow = bootstrap_intervals(recs, rewardbench.aggregate, OPTIONS, seed=3, resamples=300, min_subset_n=30, fast=False)
    assert fast == slow
    assert ("sections", "B", "subsets", "b3", "accuracy") in fast
    assert ("sections", "B", "subsets", "b2", "accuracy") in fast  # 30 examples: just enough
    fewer = bootstrap_intervals(recs, rewardbench.aggregate, OPTIONS, seed=3, resamples=50, min_subset_n=31)
    assert ("sections", "B", "subsets", "b2", "accuracy") not in fewer


def test_affine_engine_is_used_for_linear_scorers():
    recs = simulate(random.Random(8))
    paths = metric_paths(rewardbench.aggregate(recs, OPTIONS))
    groups = strata(recs)
    assert _Affine.build(recs, rewardbench.aggregate, OPTIONS, paths, groups) is not None


# -- a matrix scorer (RM-Bench's shape): per-record 2x2 cells, metric = mean of a cell mix ----------

def matrix_aggregate(records: list[dict], options: dict) -> dict:
    sums = [[0.0, 0.0], [0.0, 0.0]]
    counts = [[0, 0], [0, 0]]
    for r in records:
        for i in range(2):
            for j in range(2):
                v = r["result"]["matrix"][i][j]
                if v is not None:
                    sums[i][j] += v
                    counts[i][j] += 1
    m = [[sums[i][j] / counts[i][j] if counts[i][j] else None for j in range(2)] for i in range(2)]
    hard, easy = m[0][1], m[1][0]
    return {"score": mean([hard, easy, m[0][0], m[1][1]]), "n": len(records), "metrics": {"hard": hard, "easy": easy},
            "sections": {}}


def matrix_records(rng: random.Random, n: int, missing: float = 0.0) -> list[dict]:
    recs = []
    for k in range(n):
        m = [[None if rng.random() < missing else float(rng.random() < 0.4 + 0.2 * i + 0.1 * j) for j in range(2)]
             for i in range(2)]
        vals = [v for row in m for v in row if v is not None]
        recs.append({"task": "m", "id": str(k), "subset": "chat" if k % 3 else "code",
                     "result": {"correct": sum(vals) / len(vals) if vals else None, "matrix": m}})
    return recs


@pytest.mark.parametrize("missing", [0.0, 0.1])
def test_matrix_scorer_both_engines_agree(missing):
    recs = matrix_records(random.Random(11), 300, missing)
    fast = bootstrap_intervals(recs, matrix_aggregate, {}, seed=9, resamples=200)
    slow = bootstrap_intervals(recs, matrix_aggregate, {}, seed=9, resamples=200, fast=False)
    assert fast == slow
    assert set(fast) == {("score",), ("metrics", "hard"), ("metrics", "easy")}
    groups = strata(recs)
    paths = list(fast)
    model = _Affine.build(recs, matrix_aggregate, {}, paths, groups)
    assert (model is not None) == (missing == 0.0)  # missing cells: not affine, resample engine


def test_nonlinear_scorer_falls_back_and_is_still_right():
    """A scorer whose score is the product of two subset accuracies is not affine: the affine
    engine must refuse it, and the intervals must equal those of the resampling engine."""

    def product(records, options):
        acc = {}
        for r in records:
            acc.setdefault(r["subset"], []).append(r["result"]["correct"])
        a = {k: sum(v) / len(v) for k, v in acc.items()}
        return {"score": a["x"] * a["y"], "n": len(records), "sections": {}}

    rng = random.Random(3)
    recs = [{"id": str(i), "subset": "x" if i % 2 else "y", "result": {"correct": float(rng.random() < 0.7)}}
            for i in range(200)]
    assert _Affine.build(recs, product, {}, [("score",)], strata(recs)) is None
    a = bootstrap_intervals(recs, product, {}, seed=1, resamples=200)
    b = bootstrap_intervals(recs, product, {}, seed=1, resamples=200, fast=False)
    assert a == b and a[("score",)][0] < product(recs, {})["score"] < a[("score",)][1]


def test_same_seed_same_intervals_other_seed_other_intervals():
    recs = simulate(random.Random(2))
    a = bootstrap_intervals(recs, rewardbench.aggregate, OPTIONS, seed=42)
    b = bootstrap_intervals(recs, rewardbench.aggregate, OPTIONS, seed=42)
    c = bootstrap_intervals(recs, rewardbench.aggregate, OPTIONS, seed=43)
    assert a == b and a != c


def test_constant_data_gives_a_point_interval():
    recs = [{"id": str(i), "subset": "a1", "result": {"correct": 1.0}} for i in range(40)]
    ci = bootstrap_intervals(recs, rewardbench.aggregate, {"sections": {"A": {"a1": 1}}}, seed=0)
    assert ci[("score",)] == (1.0, 1.0)


def test_percentile_interval_by_hand():
    xs = np.arange(101, dtype=float) / 100  # 0.00 .. 1.00: quantiles 2.5% and 97.5% are 0.025 and 0.975
    assert percentile_interval(xs) == (0.025, 0.975)
    assert percentile_interval(np.array([np.nan] * 6 + [0.5] * 4)) is None  # undefined too often


def test_small_subsets_are_pooled_into_one_stratum():
    recs = [{"id": str(i), "subset": s, "result": {"correct": 1.0}}
            for i, s in enumerate(["big"] * 12 + ["t1", "t2", "t2", "big"] + ["t3"])]
    groups = [g.tolist() for g in strata(recs)]
    assert groups == [list(range(12)) + [15], [12, 13, 14, 16]]
    # a few tiny strata among many examples (under 2% of them) stay as they are
    many = [{"id": str(i), "subset": "big", "result": {"correct": 1.0}} for i in range(300)] + recs[12:15]
    assert [len(g) for g in strata(many)] == [300, 1, 2]


def test_excluded_examples_use_the_resampling_engine():
    rng = random.Random(4)
    recs = simulate(rng)
    for r in recs[::7]:
        r["result"]["correct"] = None
    fast = bootstrap_intervals(recs, rewardbench.aggregate, OPTIONS, seed=5, resamples=200)
    slow = bootstrap_intervals(recs, rewardbench.aggregate, OPTIONS, seed=5, resamples=200, fast=False)
    assert fast == slow and ("score",) in fast


def test_paired_resampling_uses_the_same_indices():
    recs = simulate(random.Random(6))
    a, b = resample_metrics([recs, recs], rewardbench.aggregate, OPTIONS, [("score",)], seed=1, resamples=100)
    assert np.array_equal(a, b)


def test_add_intervals_writes_ci_fields():
    recs = simulate(random.Random(9))
    summ = rewardbench.aggregate(recs, OPTIONS)
    add_intervals(summ, recs, rewardbench.aggregate, OPTIONS, seed=0, task="t", resamples=200)
    assert summ["ci"][0] <= summ["score"] <= summ["ci"][1]
    for name, sec in summ["sections"].items():
        assert sec["ci"][0] <= sec["score"] <= sec["ci"][1], name
        for sub, v in sec["subsets"].items():
            assert ("ci" in v) == (v["n"] >= 30), sub
    assert summ["ci_method"]["resamples"] == 200 and summ["ci_method"]["level"] == 0.95


# -- rmbench's own scorers ------------------------------------------------------------------------

def _spec(task):
    from rmbench.scoring import get_scorer
    from rmbench.tasks import get_spec

    spec = get_spec(task)
    return get_scorer(spec.scoring).aggregate, spec.options


def rm_bench_records(rng: random.Random) -> list[dict]:
    recs = []
    for dom, n in (("chat", 40), ("math", 60), ("code", 30), ("safety-refuse", 25), ("safety-response", 35)):
        for k in range(n):
            m = [[float(rng.random() < 0.5 + 0.1 * (i - j)) for j in range(3)] for i in range(3)]
            recs.append({"task": "rm-bench", "id": f"{dom}/{k}", "subset": dom,
                         "labels": {"domain": dom, "scored_domain": "safety" if dom.startswith("safety") else dom},
                         "result": {"correct": sum(map(sum, m)) / 9, "matrix": m}})
    return recs


def rmb_records(rng: random.Random) -> list[dict]:
    recs = []
    for goal in ("Helpfulness", "Harmlessness"):
        for scen, n in (("S1", 40), ("S2", 25), ("S3", 12)):
            for part in ("pairwise", "bon"):
                for k in range(n):
                    res: dict = {"correct": float(rng.random() < (0.6 if part == "pairwise" else 0.4))}
                    if part == "bon":
                        losers = rng.randint(2, 6)
                        res.update(losers=losers, beaten=float(rng.randint(0, losers)))
                    recs.append({"task": "rmb", "id": f"{part}/{goal}/{scen}/{k}", "subset": f"{goal}/{scen}",
                                 "labels": {"part": part, "goal": goal, "scenario": scen}, "result": res})
    return recs


@pytest.mark.parametrize("task,make", [("rm-bench", rm_bench_records), ("rmb", rmb_records)])
def test_real_scorers_use_the_affine_engine_and_agree_with_resampling(task, make):
    aggregate, options = _spec(task)
    recs = make(random.Random(31))
    summ = aggregate(recs, options)
    paths = metric_paths(summ)
    assert _Affine.build(recs, aggregate, options, paths, strata(recs)) is not None
    fast = bootstrap_intervals(recs, aggregate, options, seed=2, resamples=200)
    slow = bootstrap_intervals(recs, aggregate, options, seed=2, resamples=200, fast=False)
    assert fast == slow and ("score",) in fast
    lo, hi = fast[("score",)]
    assert lo < summ["score"] < hi


def test_rmb_pairwise_and_bon_items_of_one_scenario_are_separate_strata():
    recs = rmb_records(random.Random(1))
    assert len(strata(recs)) == 12  # 2 goals x 3 scenarios x 2 parts


def test_records_of_one_cluster_are_resampled_together():
    """RewardBench 2 Ties: the ref and tied forms of a prompt name one cluster; in every resample a
    prompt's ref row appears exactly as often as its tied row (as separate strata they would not)."""
    from rmbench.scoring.intervals import stratum_of, units

    recs = []
    for p in range(40):
        for kind in ("ref", "tied"):
            recs.append({"id": f"{kind}:{p}", "subset": "Ties", "result": {"correct": float((p + len(kind)) % 3 > 0)},
                         "labels": {"ties_kind": kind, "prompt_id": str(p), "cluster": f"ties:{p}"}})
    recs += [{"id": f"m{k}", "subset": "Math", "result": {"correct": float(k % 2)}} for k in range(30)]
    groups = strata(recs)
    assert len(groups) == 2 and stratum_of(recs[0]) == stratum_of(recs[1]) == ("Ties", "cluster")
    assert [u.tolist() for u in units(recs, groups[0])][:2] == [[0, 1], [2, 3]]
    seen: list[dict[str, int]] = []

    def aggregate(records, options):
        counts: dict[str, int] = {}
        for r in records:
            counts[r["id"]] = counts.get(r["id"], 0) + 1
        seen.append(counts)
        return {"score": mean(r["result"]["correct"] for r in records)}

    (dist,) = resample_metrics([recs], aggregate, {}, [("score",)], seed=3, resamples=50)
    assert len(seen) == 50 and not np.isnan(dist).any()
    for counts in seen:
        assert all(counts.get(f"ref:{p}", 0) == counts.get(f"tied:{p}", 0) for p in range(40))
        assert sum(v for k, v in counts.items() if k.startswith("m")) == 30   # unclustered strata keep their size
    assert any(counts.get("ref:0", 0) != 1 for counts in seen)                  # and clusters really are drawn
    (dist2,) = resample_metrics([recs], aggregate, {}, [("score",)], seed=3, resamples=50)
    assert np.array_equal(dist, dist2)                                          # seeded
    summ = {"score": mean(r["result"]["correct"] for r in recs)}
    add_intervals(summ, recs, aggregate, {}, seed=0, task="rewardbench2", resamples=50)
    assert summ["ci_method"]["clusters"] == 40 and "cluster" in summ["ci_method"]["method"]
