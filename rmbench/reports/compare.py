"""Comparing two runs example by example.

Records are matched by (task, id); only examples both runs judged count. For each metric the
change (B - A) gets a paired bootstrap interval: both runs are resampled with the same indices
(stratified by subset, official weighting inside each resample), so what the two runs share
cancels out. Per-example correctness also gets an exact McNemar test.

McNemar needs a yes/no per example; ``result.correct`` may be fractional (both orders
disagreeing gives 0.5, RM-Bench gives k/9, a RewardBench 2 tie 1/k). An example counts as right
when its value is above 0.5 and wrong when below; exactly 0.5 (no majority either way) and
excluded (None) examples are left out of the test, and their number is reported.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from rmbench.errors import UserError
from rmbench.reports.leaderboard import _flatten, data_key, run_identity
from rmbench.scoring import get_scorer
from rmbench.scoring.intervals import percentile_interval, resample_metrics
from rmbench.scoring.metrics import full_name, get_path, metric_paths
from rmbench.seeding import item_seed

# settings whose difference makes two runs' numbers not like for like (the model, prompt and
# generation settings are what a comparison usually compares, so they are only listed)
PROTOCOL_KEYS = ("protocol", "limit", "shard", "seed", "orders", "samples", "on_failure", "task_args", "aggregate",
                 "max_length", "data_path")


# -- statistics ---------------------------------------------------------------------------------

def binarize(value: float | None) -> int | None:
    if value is None:
        return None
    if value > 0.5:
        return 1
    if value < 0.5:
        return 0
    return None


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: b and c are the discordant counts (A right and B wrong,
    A wrong and B right); under no difference each discordant example is a fair coin, so
    p = min(1, 2 * P(X <= min(b, c))) for X ~ Binomial(b + c, 1/2).

    Computed in log space: each term log C(n, i) - n log 2 comes from lgamma, and the tail is a
    log-sum-exp over terms scaled by the largest (the last one, since i <= n/2), so nothing
    overflows and 20,000 discordant pairs take milliseconds (big-integer sums took seconds)."""
    if b < 0 or c < 0:
        raise ValueError("discordant counts cannot be negative")
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    if 2 * k >= n:  # b == c: the tail holds half the mass or more
        return 1.0
    base = math.lgamma(n + 1) - n * math.log(2.0)
    logs = [base - math.lgamma(i + 1) - math.lgamma(n - i + 1) for i in range(k + 1)]
    top = logs[-1]  # terms grow with i up to n/2
    log_tail = top + math.log(math.fsum(math.exp(v - top) for v in logs))
    return min(1.0, 2.0 * math.exp(log_tail))


def mcnemar(a: list[dict], b: list[dict]) -> dict:
    counts = {"both": 0, "a_only": 0, "b_only": 0, "neither": 0, "left_out": 0}
    for ra, rb in zip(a, b):
        x, y = binarize(ra["result"].get("correct")), binarize(rb["result"].get("correct"))
        if x is None or y is None:
            counts["left_out"] += 1
        elif x and y:
            counts["both"] += 1
        elif x:
            counts["a_only"] += 1
        elif y:
            counts["b_only"] += 1
        else:
            counts["neither"] += 1
    counts["p"] = mcnemar_exact(counts["a_only"], counts["b_only"])
    return counts


# -- loading ------------------------------------------------------------------------------------

def load_records(run: dict) -> list[dict]:
    """A run's records, validated (``store.rundir.load_complete``) unless already loaded."""
    if "records" in run:
        return run["records"]
    if not run.get("run"):
        raise UserError(f"{run['path']}: a bare summary.json cannot be compared example by example "
                        "(give the run directory)")
    from rmbench.scoring import record_checker
    from rmbench.store.rundir import load_complete

    run["records"] = load_complete(run["path"], checker=record_checker)["records"]
    return run["records"]


def task_options(run: dict, task: str) -> tuple[Any, dict]:
    """The scorer and the options a run scored ``task`` with, as its run.json recorded them."""
    info = ((run.get("run") or {}).get("tasks") or {}).get(task)
    if info is None:
        raise UserError(f"{run['path']}: run.json records no options for task '{task}'")
    return get_scorer(info["scoring"]), info["options"]


def align(recs_a: list[dict], recs_b: list[dict]) -> dict[str, tuple[list[dict], list[dict]]]:
    """Per task, the records both runs have, in run A's order."""
    index_b = {(r["task"], r["id"]): r for r in recs_b}
    out: dict[str, tuple[list[dict], list[dict]]] = {}
    for r in recs_a:
        other = index_b.get((r["task"], r["id"]))
        if other is not None:
            pa, pb = out.setdefault(r["task"], ([], []))
            pa.append(r)
            pb.append(other)
    return out


def differences(run_a: dict, run_b: dict, tasks: list[str]) -> tuple[list[str], list[str]]:
    """(warnings, differences): data or protocol settings that differ, and every other setting
    that differs (model, prompt, generation settings: usually the point of the comparison)."""
    ia, ib = run_identity(run_a), run_identity(run_b)
    warnings: list[str] = []
    for task in tasks:
        da, db = (ia.get("data") or {}).get(task), (ib.get("data") or {}).get(task)
        if da is not None and db is not None and data_key(da) != data_key(db):
            warnings.append(f"{task}: the runs used different data ({da.get('kind')} vs {db.get('kind')}, "
                            "different files or revisions)")
    fa = _flatten({k: v for k, v in ia.items() if k not in ("tasks", "data")})
    fb = _flatten({k: v for k, v in ib.items() if k not in ("tasks", "data")})
    diff = []
    for key in sorted(set(fa) & set(fb)):  # a bare summary.json records only some settings
        va, vb = fa[key], fb[key]
        if va == vb:
            continue
        line = f"{key}: {va} → {vb}"
        if key.split(".")[0] in PROTOCOL_KEYS:
            warnings.append(f"settings differ, {line}")
        else:
            diff.append(line)
    return warnings, diff


# -- the comparison -----------------------------------------------------------------------------

def metric_name(task: str, path: tuple) -> str:
    return full_name(task, path)


def compare_runs(run_a: dict, run_b: dict, *, resamples: int = 2000, seed: int = 0, level: float = 0.95,
                 subsets: bool = False) -> dict:
    recs_a, recs_b = load_records(run_a), load_records(run_b)
    pairs = align(recs_a, recs_b)
    tasks_a = {r["task"] for r in recs_a}
    tasks_b = {r["task"] for r in recs_b}
    if not pairs:
        raise UserError("the two runs share no examples (records are matched by task and id)")
    warnings, diff = differences(run_a, run_b, list(pairs))
    out: dict[str, Any] = {"a": _describe(run_a), "b": _describe(run_b), "level": level, "resamples": resamples,
                           "seed": seed, "warnings": warnings, "differences": diff, "tasks": {}}
    for task in sorted(tasks_a ^ tasks_b):
        warnings.append(f"{task}: only in run {'A' if task in tasks_a else 'B'}; not compared")
    for task, (a, b) in pairs.items():
        n_a = sum(1 for r in recs_a if r["task"] == task)
        n_b = sum(1 for r in recs_b if r["task"] == task)
        if len(a) < max(n_a, n_b):
            warnings.append(f"{task}: only {len(a)} examples are in both runs (A has {n_a}, B has {n_b}); "
                            "metrics below are over the shared ones")
        scorer_a, opts_a = task_options(run_a, task)
        _, opts_b = task_options(run_b, task)
        sa, sb = scorer_a.aggregate(a, opts_a), scorer_a.aggregate(b, opts_b)
        paths = [p for p in metric_paths(sa, min_subset_n=30 if subsets else 10**12) if get_path(sb, p) is not None]
        da, db = resample_metrics([a, b], scorer_a.aggregate, [opts_a, opts_b], paths,
                                  seed=item_seed(seed, "compare", task), resamples=resamples)
        delta = db - da
        metrics = []
        for j, p in enumerate(paths):
            va, vb = get_path(sa, p), get_path(sb, p)
            col = delta[:, j]
            ok = col[~np.isnan(col)]
            p_two = None
            if ok.size:
                p_two = min(1.0, 2 * min((np.sum(ok <= 0) + 1) / (ok.size + 1), (np.sum(ok >= 0) + 1) / (ok.size + 1)))
            metrics.append({"metric": metric_name(task, p), "path": list(p), "a": va, "b": vb, "delta": vb - va,
                            "ci": list(ci) if (ci := percentile_interval(col, level)) else None,
                            "p_bootstrap": None if p_two is None else round(float(p_two), 6)})
        out["tasks"][task] = {"shared": len(a), "n_a": n_a, "n_b": n_b, "metrics": metrics, "mcnemar": mcnemar(a, b)}
    return out


def _describe(run: dict) -> dict:
    return {"path": run["path"], "model": run["summary"].get("model"), "seed": run["summary"].get("seed")}


def _pts(x: float | None, sign: bool = False) -> str:
    if x is None:
        return "—"
    return f"{100 * x:+.1f}" if sign else f"{100 * x:.1f}"


def _p(p: float | None) -> str:
    if p is None:
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def compare_markdown(res: dict) -> str:
    from rmbench.reports.markdown import md_escape
    from rmbench.reports.tables import gfm_table

    lvl = int(round(res["level"] * 100))
    lines = [f"# Comparison: {md_escape(res['a']['model'])} (A) vs {md_escape(res['b']['model'])} (B)", "",
             f"A: {md_escape(res['a']['path'])}  ", f"B: {md_escape(res['b']['path'])}", ""]
    lines += warnings_markdown(res["warnings"])
    if res["differences"]:
        lines += ["Settings that differ: " + "; ".join(md_escape(d) for d in res["differences"]), ""]
    for task, t in res["tasks"].items():
        lines += [f"## {md_escape(task)}", "", f"{t['shared']} shared examples. Change is B - A in points; "
                  f"{lvl}% paired bootstrap interval ({res['resamples']} resamples).", ""]
        rows = [[md_escape(m["metric"]), _pts(m["a"]), _pts(m["b"]), _pts(m["delta"], True),
                 f"[{_pts(m['ci'][0], True)}, {_pts(m['ci'][1], True)}]" if m["ci"] else "—", _p(m["p_bootstrap"])]
                for m in t["metrics"]]
        lines += [gfm_table(["metric", "A", "B", "change", f"{lvl}% CI", "p"], rows), ""]
        mc = t["mcnemar"]
        lines += [f"McNemar (exact, per-example correctness above/below 0.5): A right and B wrong {mc['a_only']}, "
                  f"A wrong and B right {mc['b_only']}, both right {mc['both']}, both wrong {mc['neither']}"
                  + (f", left out (0.5 or excluded) {mc['left_out']}" if mc["left_out"] else "")
                  + f"; p = {_p(mc['p'])}", ""]
    return "\n".join(lines).rstrip() + "\n"


def warnings_markdown(warnings: list[str]) -> list[str]:
    from rmbench.reports.markdown import md_escape

    if not warnings:
        return []
    return ["**Warnings:**", ""] + [f"- {md_escape(w)}" for w in warnings] + [""]


def compare_json(res: dict) -> str:
    return json.dumps(res, indent=2, ensure_ascii=False) + "\n"
