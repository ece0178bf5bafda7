"""A regression gate for CI: does the candidate lose more than ``max_drop`` points on a gated
metric, with statistical significance, against the baseline?

For each gated metric the drop is D = baseline - candidate, and the gate tests H0: D <= m (the
allowed drop, in points) against D > m, one-sided at ``alpha``:

- paired (both are run directories with records): a paired bootstrap over the examples both
  runs judged (stratified by subset, official weighting inside each resample, the same indices
  for both runs); p = share of resampled drops at or below m (with the usual +1 correction).
  It rejects exactly when the one-sided (1 - alpha) lower bound of D is above m.
- unpaired (either side is a bare summary.json, e.g. a committed baseline): each score's
  standard error is read off its 95% interval (half-width / 1.96) and D is taken as normal
  with variance se_b^2 + se_c^2. That ignores the positive correlation between two runs on
  the same examples, so it overstates the noise: the test is conservative (it flags fewer
  regressions than the paired one would).

With several gated metrics the p-values are Holm-adjusted by default (family-wise error at
``alpha``), so gating every section does not multiply false alarms.
"""

from __future__ import annotations

import json
import math
from statistics import NormalDist

import numpy as np

from rmbench.errors import UserError
from rmbench.reports.compare import align, differences, load_records, task_options, warnings_markdown
from rmbench.scoring import metrics as walker
from rmbench.scoring.intervals import percentile_interval, resample_metrics
from rmbench.scoring.metrics import get_path
from rmbench.seeding import item_seed

CORRECTIONS = ("holm", "none")
MIN_GATE_N = 10  # metrics resting on fewer examples are reported, not tested


def metric_catalog(summary: dict) -> dict[str, tuple[str, tuple]]:
    """Gateable metric names -> (task, path): ``task``, ``task.Section``, ``task.Section.subset``,
    ``task.<extra metric>`` and ``task.score_with_prior`` (named by rmbench/scoring/metrics.py)."""
    out: dict[str, tuple[str, tuple]] = {}
    for task, t in (summary.get("tasks") or {}).items():
        if isinstance(t, dict):
            for name, path in walker.catalog(task, t).items():
                out.setdefault(name, (task, path))
    return out


def default_metrics(summary: dict) -> list[str]:
    """Every task score and section of the baseline, also one declared without a value (the gate
    then refuses, naming it: a gate never passes on a metric it could not read)."""
    return [m.full_name(task) for task, t in (summary.get("tasks") or {}).items() if isinstance(t, dict)
            for m in walker.walk(t, min_subset_n=10**12, numeric=False)
            if m.kind in (walker.TASK_SCORE, walker.SECTION)]


def resolve(summary: dict, names: list[str] | None) -> list[tuple[str, str, tuple]]:
    catalog = metric_catalog(summary)
    lower = {k.lower(): k for k in catalog}
    out = []
    for name in names or default_metrics(summary):
        key = lower.get(name.strip().lower())
        if key is None:
            raise UserError(f"--metric {name}: not in the baseline (known: {', '.join(default_metrics(summary))}, "
                            "or task.section.subset)")
        task, path = catalog[key]
        if get_path(summary["tasks"][task], path) is None:
            how = "" if names else "; name the metrics to gate with --metric"
            raise UserError(f"metric {key}: the baseline has no value for it, so it cannot be gated{how}")
        out.append((key, task, path))
    if not out:
        raise UserError("the baseline has no metrics to gate on")
    return out


def holm(ps: list[float]) -> list[float]:
    order = sorted(range(len(ps)), key=lambda i: ps[i])
    adj = [0.0] * len(ps)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(ps) - rank) * ps[i]))
        adj[i] = running
    return adj


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def _se(ci: list | None, level: float) -> float | None:
    if not ci or ci[0] is None or ci[1] is None:
        return None
    z = _z(level)
    return (ci[1] - ci[0]) / (2 * z)


def _z(level: float) -> float:
    """The two-sided normal quantile for ``level`` (1.959964 for 0.95)."""
    return NormalDist().inv_cdf(1 - (1 - level) / 2)


def has_records(run: dict) -> bool:
    """A run directory (with run.json) rather than a bare summary.json: gated example by example."""
    return "records" in run or bool(run.get("run"))


def paired_drop_test(base: list[dict], cand: list[dict], aggregate, options, paths: list[tuple], m: float, *,
                     seed: int, resamples: int) -> list[tuple[float, list | None]]:
    """Per metric: the one-sided bootstrap p for "the drop is at most m" and the 95% interval of
    the change (candidate - baseline), from one paired bootstrap of aligned records."""
    db, dc = resample_metrics([base, cand], aggregate, options, paths, seed=seed, resamples=resamples)
    out = []
    for j in range(len(paths)):
        drops = db[:, j] - dc[:, j]
        ok = drops[~np.isnan(drops)]
        p = float((np.sum(ok <= m) + 1) / (ok.size + 1)) if ok.size else None
        ci = percentile_interval(-drops)
        out.append((p, list(ci) if ci else None))
    return out


def run_gate(baseline: dict, candidate: dict, *, metrics: list[str] | None = None, max_drop: float = 1.0,
             alpha: float = 0.05, resamples: int = 2000, seed: int = 0, correction: str = "holm") -> dict:
    if not 0 < alpha < 1:
        raise UserError(f"--alpha must be between 0 and 1, not {alpha}")
    if max_drop < 0:
        raise UserError("--max-drop must be zero or more points")
    if correction not in CORRECTIONS:
        raise UserError(f"--correction must be one of {', '.join(CORRECTIONS)}")
    chosen = resolve(baseline["summary"], metrics)
    cand_tasks = candidate["summary"].get("tasks") or {}
    if metrics is None:   # the default list comes from the baseline: the candidate's must not be longer
        base_tasks = {task for _, task, _ in chosen} | set(baseline["summary"].get("tasks") or {})
        have = {name for name, _, _ in chosen}
        extra = [n for n in default_metrics({"tasks": {t: v for t, v in cand_tasks.items() if t in base_tasks}})
                 if n not in have]
        if extra:
            raise UserError(f"metric {extra[0]}: the candidate reports it but the baseline does not (a damaged or "
                            "older baseline summary?); name the metrics to gate with --metric")
    for name, task, path in chosen:
        if task not in cand_tasks or get_path(cand_tasks[task], path) is None:
            raise UserError(f"metric {name}: the candidate has no value for it (did it run task '{task}'?); "
                            "a gate never passes on a metric it could not read")
    paired = has_records(baseline) and has_records(candidate)
    m = max_drop / 100.0
    tasks = list(dict.fromkeys(task for _, task, _ in chosen))
    warnings, diff = differences(baseline, candidate, tasks)
    rows: list[dict] = []
    if paired:
        pairs = align(load_records(baseline), load_records(candidate))
        for task in tasks:
            if task not in pairs:
                raise UserError(f"task '{task}': the runs share no examples (records are matched by task and id)")
            base, cand = pairs[task]
            n_c = cand_tasks[task].get("n")
            if n_c is not None and len(base) < n_c:
                warnings.append(f"{task}: only {len(base)} of the candidate's examples are in the baseline; "
                                "the gate uses the shared ones")
            scorer, opts_b = task_options(baseline, task)
            _, opts_c = task_options(candidate, task)
            sb, sc = scorer.aggregate(base, opts_b), scorer.aggregate(cand, opts_c)
            mine = [(name, path) for name, t, path in chosen if t == task]
            for name, path in mine:
                if get_path(sb, path) is None or get_path(sc, path) is None:
                    side = "baseline's" if get_path(sb, path) is None else "candidate's"
                    raise UserError(f"metric {name}: the {side} records on the shared examples do not give it a "
                                    "value (it is not recomputed from records, or no shared example falls in it); "
                                    "gate the summary files to use the reported values")
            paths = [p for _, p in mine]
            tests = paired_drop_test(base, cand, scorer.aggregate, [opts_b, opts_c], paths, m,
                                     seed=item_seed(seed, "gate", task), resamples=resamples)
            for (name, path), (p, ci) in zip(mine, tests):
                rows.append({"metric": name, "baseline": get_path(sb, path), "candidate": get_path(sc, path),
                             "n": min(walker.n_of(sb, path) or 0, walker.n_of(sc, path) or 0), "ci": ci, "p": p})
    else:
        for name, task, path in chosen:
            tb, tc = baseline["summary"]["tasks"][task], cand_tasks[task]
            level_b = (tb.get("ci_method") or {}).get("level", 0.95)
            level_c = (tc.get("ci_method") or {}).get("level", 0.95)
            se_b, se_c = _se(walker.ci_of(tb, path), level_b), _se(walker.ci_of(tc, path), level_c)
            if se_b is None or se_c is None:
                which = "baseline" if se_b is None else "candidate"
                raise UserError(f"--metric {name}: the {which} summary has no confidence interval for it; "
                                "recompute it with 'rmbench rescore RUN_DIR' or gate on run directories")
            vb, vc = get_path(tb, path), get_path(tc, path)
            drop = vb - vc
            se = math.hypot(se_b, se_c)
            p = (0.0 if drop > m else 1.0) if se == 0 else _normal_sf((drop - m) / se)
            half = _z(0.95) * se
            n = min(walker.n_of(tb, path) or 0, walker.n_of(tc, path) or 0)
            rows.append({"metric": name, "baseline": vb, "candidate": vc, "n": n,
                         "ci": [max(-1.0, round(-drop - half, 6)), min(1.0, round(-drop + half, 6))], "p": p})
    untested = []
    for r in rows:  # too few examples: a bootstrap (or a normal approximation) cannot be trusted
        if r["n"] < MIN_GATE_N:
            r["p"] = None
            untested.append(f"{r['metric']}: only {r['n']} examples; not tested (the gate needs {MIN_GATE_N})")
        elif r["p"] is None:
            untested.append(f"{r['metric']}: no resample gave it a value in both runs; not tested")
    warnings += untested
    tested = [r for r in rows if r["p"] is not None]
    if not tested:  # a gate never passes on nothing: that is a broken CI job, not a green one
        raise UserError(f"none of the gated metrics could be tested ({'; '.join(untested)}); "
                        "gate on more examples or name other metrics with --metric")
    adjusted = holm([r["p"] for r in tested]) if correction == "holm" else [r["p"] for r in tested]
    for r, pa in zip(tested, adjusted):
        r["p_adjusted"] = pa
    for r in rows:
        r["drop"] = r["baseline"] - r["candidate"]
        r.setdefault("p_adjusted", None)
        r["failed"] = r["p_adjusted"] is not None and r["p_adjusted"] < alpha and r["drop"] > m
        r["verdict"] = (("too few examples" if r["n"] < MIN_GATE_N else "not tested") if r["p"] is None else "regression" if r["failed"]
                        else "drop within noise" if r["drop"] > m
                        else "drop within allowance" if r["drop"] > 0 else "no drop")
    return {"passed": not any(r["failed"] for r in rows), "mode": "paired bootstrap" if paired else "unpaired normal",
            "max_drop": max_drop, "alpha": alpha, "correction": correction, "resamples": resamples if paired else None,
            "seed": seed, "baseline": {"path": baseline["path"], "model": baseline["summary"].get("model")},
            "candidate": {"path": candidate["path"], "model": candidate["summary"].get("model")},
            "warnings": warnings, "differences": diff, "metrics": rows}


def _pts(x: float | None, sign: bool = False) -> str:
    if x is None:
        return "—"
    return f"{100 * x:+.1f}" if sign else f"{100 * x:.1f}"


def gate_markdown(res: dict) -> str:
    from rmbench.reports.markdown import md_escape
    from rmbench.reports.tables import gfm_table

    verdict = "PASS" if res["passed"] else "FAIL"
    lines = [f"## rmbench gate: {verdict}", "",
             f"Baseline: {md_escape(res['baseline']['model'])} ({md_escape(res['baseline']['path'])})  ",
             f"Candidate: {md_escape(res['candidate']['model'])} ({md_escape(res['candidate']['path'])})", ""]
    if res["mode"] == "paired bootstrap":
        test = (f"paired bootstrap over the examples both runs judged ({res['resamples']} resamples, "
                f"seed {res['seed']})")
    else:
        test = "normal approximation from each summary's 95% interval (unpaired, conservative)"
    corr = ", Holm-adjusted over the gated metrics" if res["correction"] == "holm" and len(res["metrics"]) > 1 else ""
    unit = "point" if res["max_drop"] == 1 else "points"
    lines += [f"Rule: fail when a metric drops by more than {res['max_drop']:g} {unit} with one-sided "
              f"p < {res['alpha']:g}{corr}. Test: {test}.", ""]
    lines += warnings_markdown(res["warnings"])
    rows = [[md_escape(r["metric"]), _pts(r["baseline"]), _pts(r["candidate"]), _pts(-r["drop"], True),
             f"[{_pts(r['ci'][0], True)}, {_pts(r['ci'][1], True)}]" if r["ci"] else "—",
             "—" if r["p_adjusted"] is None else f"{r['p_adjusted']:.3g}",
             ("❌ " if r["failed"] else "") + r["verdict"]] for r in res["metrics"]]
    lines += [gfm_table(["metric", "baseline", "candidate", "change", "95% CI", "p", "verdict"], rows,
                        align="lrrrrrl"), ""]
    if res["differences"]:
        lines += ["Settings that differ: " + "; ".join(md_escape(d) for d in res["differences"]), ""]
    return "\n".join(lines).rstrip() + "\n"


def gate_json(res: dict) -> str:
    return json.dumps(res, indent=2, ensure_ascii=False) + "\n"
