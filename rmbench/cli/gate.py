"""rmbench gate --baseline RUN --candidate RUN: exit 1 when a gated metric drops by more than the
allowed points with statistical significance (0 otherwise, 2 on bad input)."""

from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser("gate", help="CI regression gate: fail (exit 1) on a significant drop against a baseline",
                       description="Exit 0 when no gated metric of the candidate drops by more than --max-drop "
                                   "points with significance, 1 when one does, 2 on a usage error. Writes a "
                                   "markdown report (gate.md in the candidate's run directory, or -o) and appends "
                                   "it to $GITHUB_STEP_SUMMARY when that is set.")
    p.add_argument("--baseline", required=True, help="the last accepted run directory, or a committed summary.json")
    p.add_argument("--candidate", required=True, help="the new run directory (or summary.json)")
    p.add_argument("--metric", nargs="+", action="extend", metavar="TASK[.SECTION]",
                   help="metrics to gate (default: every task score and section in the baseline)")
    p.add_argument("--max-drop", type=float, default=1.0, help="allowed drop in points (default 1.0)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level, one-sided (default 0.05)")
    p.add_argument("--correction", choices=["holm", "none"], default="holm",
                   help="multiple-metric correction (default holm)")
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples for paired runs (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("-o", "--output", help="where to write the markdown report (default: CANDIDATE/gate.md)")
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of markdown")
    return p


def main(args) -> int:
    import os
    import sys
    from pathlib import Path

    from rmbench.errors import UserError
    from rmbench.reports.gate import gate_json, gate_markdown, run_gate
    from rmbench.reports.leaderboard import load_any

    if args.resamples < 100:
        raise UserError("--resamples must be at least 100")
    base, cand = load_any(args.baseline), load_any(args.candidate)
    res = run_gate(base, cand, metrics=args.metric, max_drop=args.max_drop, alpha=args.alpha,
                   resamples=args.resamples, seed=args.seed, correction=args.correction)
    report = gate_markdown(res)
    if args.output:
        out = Path(args.output)
        try:
            out.write_text(report, encoding="utf-8")
        except OSError as e:
            raise UserError(f"cannot write the gate report to {out}: {e.strerror or e}") from None
    else:  # into the candidate's run directory, never through a link planted there
        from rmbench.store.rundir import write_report

        where = Path(cand["path"]) if Path(cand["path"]).is_dir() else Path(cand["path"]).parent
        out = write_report(where, "gate.md", report)
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        try:
            with open(summary_file, "a", encoding="utf-8") as f:
                f.write(report + "\n")
        except OSError as e:
            print(f"rmbench: warning: cannot append to $GITHUB_STEP_SUMMARY: {e.strerror or e}", file=sys.stderr)
    for w in res["warnings"]:
        print(f"rmbench: warning: {w}", file=sys.stderr)
    sys.stdout.write(gate_json(res) if args.json else report)
    print(f"gate report: {out}", file=sys.stderr)
    return 0 if res["passed"] else 1
