"""Bootstrap confidence intervals for any scorer's metrics.

The benchmark is resampled, not the metric: each resample draws examples with replacement
*within each stratum* (a subset and its labels: every subset keeps its size, as the benchmark's
design fixes it) and re-runs the scorer's own ``aggregate(records, options)`` on the resample, so
the official weighting (RewardBench's constant subset weights, RM-Bench's style matrices, RMB's
micro averages, ...) is applied inside every resample. The interval is the percentile interval
of the resampled values.

Two engines give the same numbers:

- resampling (always correct): build each resample's record list and call ``aggregate``;
- affine (fast): many scorers are affine in the per-stratum means of the numeric values in
  ``record["result"]`` (subset accuracy -> weighted sections -> mean; per-cell means of a matrix
  -> levels; micro averages over fixed-size strata). For those a resample's metric is the real
  value plus ``sum(coef * (stratum mean - real stratum mean))``, which numpy evaluates for all
  resamples at once. The coefficients come from probing ``aggregate`` itself (shift one value of
  one stratum, see how each metric moves; values the scorer never reads are found with one probe
  each and skipped), and the model is used only after it reproduces ``aggregate`` on the first
  resamples. Anything else (excluded examples, non-linear metrics, mixed result shapes in a
  stratum) takes the resampling engine.

Both engines consume the same random draws, so a seed gives the same intervals either way.

Clusters: records that name the same cluster (the record label ``cluster``, see
``rmbench.contracts.CLUSTER``) are one resampling unit: a resample draws clusters with
replacement and takes all their records (RewardBench 2 Ties: the ref and tied forms of one prompt,
whose margins the composite compares). Clustered records are stratified by subset alone (their
other labels vary inside a cluster), and a task with clusters takes the resampling engine.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from rmbench.contracts import CLUSTER
from rmbench.scoring import metrics as _metrics
from rmbench.scoring.metrics import get_path
from rmbench.scoring.metrics import is_number as _num
from rmbench.seeding import item_seed

DEFAULT_RESAMPLES = 1000
LEVEL = 0.95
MIN_SUBSET_N = 30        # subsets smaller than this get no interval of their own
MIN_STRATUM = 10         # strata smaller than this are pooled into one ...
POOL_SHARE = 0.02        # ... when together they hold more than this share of the records
MIN_VALID = 0.5          # a metric undefined in more than half the resamples gets no interval
_DRAW_BUDGET = 4_000_000  # index draws per chunk of resamples (bounds memory)
_TOL = 1e-9

Path = _metrics.Path
Aggregate = Callable[[list[dict], dict], dict]


def metric_paths(summary: dict, min_subset_n: int = MIN_SUBSET_N) -> list[Path]:
    """The headline metrics of a task summary that get an interval: the score, the numeric
    extra metrics, each section and each subset with at least ``min_subset_n`` examples (the
    one walker, rmbench/scoring/metrics.py, decides what those are)."""
    return _metrics.metric_paths(summary, min_subset_n)


def stratum_of(record: dict) -> tuple:
    """A record's stratum: its subset and labels (RMB's pairwise and best-of-N items share
    scenario names, for example, but never a stratum); a clustered record's, its subset."""
    labels = record.get("labels") or {}
    if isinstance(labels, dict) and labels.get(CLUSTER) is not None:
        return record.get("subset"), CLUSTER
    return record.get("subset"), json.dumps(labels, sort_keys=True, default=str)


def cluster_of(record: dict) -> str | None:
    labels = record.get("labels") or {}
    value = labels.get(CLUSTER) if isinstance(labels, dict) else None
    return None if value is None else str(value)


def units(records: Sequence[dict], group: np.ndarray) -> list[np.ndarray]:
    """A stratum's resampling units in first-seen order: each cluster's records together, every
    other record on its own."""
    out: list[list[int]] = []
    where: dict[str, int] = {}
    for i in group.tolist():
        c = cluster_of(records[i])
        if c is None:
            out.append([i])
        elif c in where:
            out[where[c]].append(i)
        else:
            where[c] = len(out)
            out.append([i])
    return [np.asarray(u, dtype=np.int64) for u in out]


def strata(records: Sequence[dict], stratify: bool = True, min_size: int = MIN_STRATUM) -> list[np.ndarray]:
    """Record positions grouped by stratum (first-seen order); one stratum when not stratifying.

    Strata smaller than ``min_size``, when together they hold more than ``POOL_SHARE`` of the
    records, are pooled into one stratum (placed where the first of them was): resampled on its
    own, a stratum of one example adds no variance at all. When they hold less (two tiny RMB
    scenarios among 18,000 items) they stay as they are: the variance they understate is
    negligible, and fixed strata keep the fast engine usable."""
    if not stratify:
        return [np.arange(len(records))]
    groups: dict[Any, list[int]] = {}
    for i, r in enumerate(records):
        groups.setdefault(stratum_of(r), []).append(i)
    small = sum(len(m) for m in groups.values() if len(m) < min_size)
    if small <= POOL_SHARE * len(records):
        return [np.asarray(v, dtype=np.int64) for v in groups.values()]
    out: list[list[int]] = []
    pool: list[int] | None = None
    for members in groups.values():
        if len(members) >= min_size:
            out.append(members)
        elif pool is None:
            pool = list(members)
            out.append(pool)
        else:
            pool.extend(members)
    if pool is not None:
        pool.sort()
    return [np.asarray(v, dtype=np.int64) for v in out]


def draws(rng: np.random.Generator, sizes: list[int], resamples: int) -> Iterator[list[np.ndarray]]:
    """Chunks of resamples; each chunk is a list (one per stratum) of (chunk, n_s) index arrays."""
    total = max(1, sum(sizes))
    chunk = max(1, min(250, _DRAW_BUDGET // total))
    done = 0
    while done < resamples:
        c = min(chunk, resamples - done)
        yield [rng.integers(0, n, size=(c, n)) for n in sizes]
        done += c


# -- the affine engine --------------------------------------------------------------------------

def _leaves(value: Any, prefix: tuple = ()) -> list[tuple[tuple, Any]]:
    if isinstance(value, dict):
        return [x for k in value for x in _leaves(value[k], prefix + (k,))]
    if isinstance(value, list):
        return [x for i, v in enumerate(value) for x in _leaves(v, prefix + (i,))]
    return [(prefix, value)]


def _shifted(record: dict, path: tuple, delta: float) -> dict:
    """A copy of ``record`` whose result has ``delta`` added to the leaf at ``path``."""
    result = _copy(record["result"])
    cur = result
    for key in path[:-1]:
        cur = cur[key]
    cur[path[-1]] = cur[path[-1]] + delta
    return {**record, "result": result}


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


class _Affine:
    """metric = real value + sum over terms (stratum s, leaf j) of coef * (mean of leaf j over
    the resampled records of s - its mean over the real ones)."""

    def __init__(self, real: np.ndarray, terms: list[tuple[int, np.ndarray, float, np.ndarray]]):
        self.real = real          # (P,) the metrics on the real data
        self.terms = terms        # (stratum, leaf values (n_s,), their mean, coef (P,))

    @classmethod
    def build(cls, records: list[dict], aggregate: Aggregate, options: dict, paths: list[Path],
              groups: list[np.ndarray]) -> "_Affine | None":
        """Learn the coefficients by probing ``aggregate``: shift one numeric leaf of one stratum's
        results by 1 and see how each metric moves. None when the records do not fit (missing
        values, strata with mixed result shapes) or a probe fails."""
        if not records or not all(isinstance(r.get("result"), dict) for r in records):
            return None
        layouts: list[list[tuple]] = []
        columns: list[np.ndarray] = []
        for pos in groups:
            layout = None
            rows = []
            for i in pos.tolist():
                leaves = [(p, v) for p, v in _leaves(records[i]["result"]) if _num(v) or v is None]
                if any(v is None for _, v in leaves):
                    return None  # an excluded value: means over varying counts are not affine
                mine = [p for p, _ in leaves]
                if layout is None:
                    layout = mine
                elif mine != layout:
                    return None
                rows.append([v for _, v in leaves])
            layouts.append(layout or [])
            columns.append(np.asarray(rows, dtype=float).reshape(len(pos), len(layout or [])))

        def evaluate(recs: list[dict]) -> np.ndarray | None:
            try:
                summ = aggregate(recs, options)
            except Exception:
                return None
            vals = [get_path(summ, p) for p in paths]
            return None if any(v is None for v in vals) else np.asarray(vals, dtype=float)

        real = evaluate(records)
        if real is None:
            return None
        # which leaves matter at all: shift one leaf everywhere at once, by a different amount in
        # each stratum (so that opposite effects of two strata cannot cancel out)
        every = list(dict.fromkeys(p for layout in layouts for p in layout))
        used = set()
        for path in every:
            probe = list(records)
            for s, (pos, layout) in enumerate(zip(groups, layouts)):
                if path in layout:
                    delta = 1.0 + (0.6180339887 * (s + 1)) % 1.0
                    for i in pos.tolist():
                        probe[i] = _shifted(records[i], path, delta)
            f = evaluate(probe)
            if f is None:
                return None
            if not np.allclose(f, real, rtol=0, atol=_TOL):
                used.add(path)
        terms: list[tuple[int, np.ndarray, float, np.ndarray]] = []
        keys: list[tuple[int, tuple]] = []
        for s, (pos, layout, cols) in enumerate(zip(groups, layouts, columns)):
            for j, path in enumerate(layout):
                col = cols[:, j]
                if path not in used or np.all(col == col[0]):
                    continue  # unread, or the same in every record of the stratum: it never moves
                probe = list(records)
                for i in pos.tolist():
                    probe[i] = _shifted(records[i], path, 1.0)
                f = evaluate(probe)
                if f is None:
                    return None
                terms.append((s, col, float(col.mean()), f - real))
                keys.append((s, path))
        # a joint check: shift every term at once by its own amount; an affine scorer moves by
        # the sum of the single effects, anything with interactions (a product, a ratio) does not
        probe, expected = list(records), real.copy()
        for t, ((s, path), (_, _, _, coef)) in enumerate(zip(keys, terms)):
            delta = 0.5 + (0.6180339887 * (t + 1)) % 1.0
            expected += delta * coef
            for i in groups[s].tolist():
                probe[i] = _shifted(probe[i], path, delta)
        f = evaluate(probe)
        if f is None or not np.allclose(f, expected, rtol=0, atol=1e-7):
            return None
        return cls(real, terms)

    def predict(self, idx: list[np.ndarray]) -> np.ndarray:
        """One chunk of resamples (per stratum, (c, n_s) index arrays) -> (c, P) metrics, summed in
        a fixed order (no BLAS), so the result does not depend on threads."""
        c = idx[0].shape[0]
        out = np.tile(self.real, (c, 1))
        for s, col, mean0, coef in self.terms:
            out += (col[idx[s]].mean(axis=1) - mean0)[:, None] * coef[None, :]
        return out


# -- the resampling driver ----------------------------------------------------------------------

def resample_metrics(datasets: Sequence[list[dict]], aggregate: Aggregate, options: dict | Sequence[dict],
                     paths: list[Path], *,
                     seed: int, resamples: int = DEFAULT_RESAMPLES, stratify: bool = True,
                     fast: bool = True) -> list[np.ndarray]:
    """Bootstrap distributions of ``paths`` for one or more aligned datasets (record ``n`` of each
    is the same example, as in a paired comparison): every dataset is resampled with the same
    indices. Returns one (resamples, len(paths)) array per dataset; NaN where a metric is
    undefined in a resample. Strata come from the first dataset. ``options`` is one dict for all
    datasets or a list with one per dataset (two runs may score with different task options)."""
    if not datasets or not datasets[0] or not paths:
        return [np.full((resamples, len(paths)), np.nan) for _ in datasets]
    n = len(datasets[0])
    if any(len(d) != n for d in datasets):
        raise ValueError("aligned datasets must have the same length")
    opts = list(options) if isinstance(options, (list, tuple)) else [options] * len(datasets)
    groups = strata(datasets[0], stratify)
    unit_lists = [units(datasets[0], g) for g in groups]
    clustered = any(len(u) > 1 for ul in unit_lists for u in ul)
    sizes = [len(ul) for ul in unit_lists]   # = len(g) without clusters: the same draws as ever
    if stratify and any(len({stratum_of(datasets[0][i]) for i in g.tolist()}) > 1 for g in groups):
        fast = False  # a pooled stratum: subset sizes vary between resamples, nothing is affine
    if clustered:
        fast = False  # a resample's size varies with the clusters drawn
    models = [(_Affine.build(list(d), aggregate, o, paths, groups) if fast else None) for d, o in zip(datasets, opts)]
    outs = [np.empty((resamples, len(paths))) for _ in datasets]
    rng = np.random.Generator(np.random.PCG64(seed))
    row = 0
    checked = [False] * len(datasets)
    for idx in draws(rng, sizes, resamples):
        c = idx[0].shape[0]
        if clustered:  # one position array per resample (their lengths vary)
            parts = [pos[ix] if len(ul) == len(pos) else None for pos, ul, ix in zip(groups, unit_lists, idx)]
            flat = [np.concatenate([part[b] if part is not None else
                                    np.concatenate([ul[k] for k in ix[b].tolist()])
                                    for part, ul, ix in zip(parts, unit_lists, idx)]) for b in range(c)]
        else:
            flat = np.concatenate([pos[ix] for pos, ix in zip(groups, idx)], axis=1)  # (c, N) record positions
        for d, data in enumerate(datasets):
            model = models[d]
            if model is not None:
                pred = model.predict(idx)
                if not checked[d]:  # and on the first resamples, against aggregate() itself
                    checked[d] = True
                    for b in range(min(2, c)):
                        ref = _evaluate(aggregate, opts[d], paths, data, flat[b])
                        if not np.allclose(pred[b], ref, rtol=0, atol=_TOL, equal_nan=True):
                            models[d] = model = None
                            break
                if model is not None:
                    outs[d][row:row + c] = pred
                    continue
            for b in range(c):
                outs[d][row + b] = _evaluate(aggregate, opts[d], paths, data, flat[b])
        row += c
    return outs


def _evaluate(aggregate: Aggregate, options: dict, paths: list[Path], data: Sequence[dict],
              positions: np.ndarray) -> np.ndarray:
    recs = [data[i] for i in positions.tolist()]
    summ = aggregate(recs, options)
    return np.asarray([np.nan if (v := get_path(summ, p)) is None else v for p in paths], dtype=float)


def percentile_interval(samples: np.ndarray, level: float = LEVEL) -> tuple[float, float] | None:
    """The percentile interval of one metric's bootstrap values (NaNs ignored), rounded to 6
    decimals; None when the metric was undefined in too many resamples."""
    ok = samples[~np.isnan(samples)]
    if ok.size == 0 or ok.size < MIN_VALID * samples.size:
        return None
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(ok, [a, 1.0 - a])
    return round(float(lo), 6), round(float(hi), 6)


def bootstrap_intervals(records: list[dict], aggregate: Aggregate, options: dict, *, seed: int,
                        summary: dict | None = None, resamples: int = DEFAULT_RESAMPLES, level: float = LEVEL,
                        stratify: bool = True, min_subset_n: int = MIN_SUBSET_N,
                        fast: bool = True) -> dict[Path, tuple[float, float]]:
    """Percentile intervals for the headline metrics of ``aggregate(records, options)``."""
    if summary is None:
        summary = aggregate(records, options)
    paths = metric_paths(summary, min_subset_n)
    if len(records) < 2 or not paths:
        return {}
    (dist,) = resample_metrics([records], aggregate, options, paths, seed=seed, resamples=resamples,
                               stratify=stratify, fast=fast)
    out = {}
    for j, p in enumerate(paths):
        ci = percentile_interval(dist[:, j], level)
        if ci is not None:
            out[p] = ci
    return out


def attach_intervals(summary: dict, intervals: dict[Path, tuple[float, float]], info: dict) -> dict:
    """Write intervals into a task summary: ``ci`` beside each score (task, sections, subsets),
    ``score_with_prior_ci``, ``metrics_ci`` and a ``ci_method`` description."""
    for path, (lo, hi) in intervals.items():
        ci = [lo, hi]
        if path == ("score",):
            summary["ci"] = ci
        elif path == ("score_with_prior",):
            summary["score_with_prior_ci"] = ci
        elif path[0] == "metrics":
            summary.setdefault("metrics_ci", {})[path[1]] = ci
        elif path[0] == "sections" and len(path) == 3:
            summary["sections"][path[1]]["ci"] = ci
        elif path[0] == "sections":
            summary["sections"][path[1]]["subsets"][path[3]]["ci"] = ci
    if intervals:
        summary["ci_method"] = info
    return summary


def add_intervals(summary: dict, records: list[dict], aggregate: Aggregate, options: dict, *, seed: int,
                  task: str, resamples: int = DEFAULT_RESAMPLES, level: float = LEVEL) -> dict:
    """The hook ``runner.summarize`` calls: 95% stratified percentile-bootstrap intervals, seeded
    by the run seed and the task name."""
    intervals = bootstrap_intervals(records, aggregate, options, seed=item_seed(seed, "bootstrap", task),
                                    summary=summary, resamples=resamples, level=level)
    groups = strata(records)
    pooled = sum(len(g) for g in groups if len({stratum_of(records[i]) for i in g.tolist()}) > 1)
    info = {"method": "percentile bootstrap over examples, stratified by subset and labels", "level": level,
            "resamples": resamples, "seed": seed, "strata": len(groups), "pooled_examples": pooled,
            "min_subset_n": MIN_SUBSET_N}
    clusters = sum(1 for g in groups for u in units(records, g) if len(u) > 1)
    if clusters:
        info["clusters"] = clusters
        info["method"] += "; records of one cluster resampled together"
    return attach_intervals(summary, intervals, info)
