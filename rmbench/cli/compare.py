"""rmbench compare RUN_A RUN_B: per-metric changes with paired bootstrap intervals and an exact
McNemar test over the examples both runs judged."""

from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser("compare", help="compare two runs example by example (paired bootstrap, McNemar)",
                       description="Match the records of two runs by task and id and report, per metric, "
                                   "B - A with a paired bootstrap interval, plus an exact McNemar test on "
                                   "per-example correctness. Warns when data or settings differ.")
    p.add_argument("run_a", metavar="RUN_A")
    p.add_argument("run_b", metavar="RUN_B")
    p.add_argument("--format", choices=["md", "json"], default="md")
    p.add_argument("-o", "--output", help="write the report to FILE")
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--subsets", action="store_true", help="also compare subsets with at least 30 shared examples")
    return p


def main(args) -> int:
    import sys
    from pathlib import Path

    from rmbench.errors import UserError
    from rmbench.reports.compare import compare_json, compare_markdown, compare_runs
    from rmbench.store.rundir import load_run

    if args.resamples < 100:
        raise UserError("--resamples must be at least 100")
    res = compare_runs(load_run(args.run_a), load_run(args.run_b), resamples=args.resamples, seed=args.seed,
                       subsets=args.subsets)
    for w in res["warnings"]:
        print(f"rmbench: warning: {w}", file=sys.stderr)
    text = compare_json(res) if args.format == "json" else compare_markdown(res)
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as e:
            raise UserError(f"-o {args.output}: cannot write it ({e.strerror or e})") from None
    else:
        sys.stdout.write(text)
    return 0
