"""rmbench plot RUN_DIR...: best-of-N accuracy against judge calls (or matches) per item."""

from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser("plot", help="plot best-of-N accuracy against judge calls per item, one point per run",
                       description="Read the runs' summaries and draw, per task, best-of-N accuracy against the "
                                   "judge calls (or matches) spent per item, one point per run, coloured by "
                                   "aggregation method. Writes PREFIX.png and PREFIX.svg (needs rmbench[plot]).")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories (results/<run-name>)")
    p.add_argument("-o", "--output", default="aggregation", metavar="PREFIX",
                   help="output path without extension (default: aggregation -> aggregation.png, aggregation.svg)")
    p.add_argument("--x", default="calls", choices=["calls", "matches"],
                   help="x axis: judge calls per item (default) or matches per item")
    p.add_argument("--task", help="comma-separated tasks to plot (default: every task with aggregation figures)")
    return p


def main(args) -> int:
    import sys

    from rmbench.reports.plot import plot
    from rmbench.store.rundir import load_run

    runs = [load_run(d) for d in args.run_dirs]
    tasks = [t.strip() for t in args.task.split(",") if t.strip()] if args.task else None
    out = plot(runs, args.output, x=args.x, tasks=tasks)
    print(f"run\ttask\tmethod\t{'judge_calls' if args.x == 'calls' else 'matches'}_per_item\taccuracy_%")
    for p in out.points:
        print(f"{p.run}\t{p.task}\t{p.method}\t{p.x:g}\t{100 * p.accuracy:.1f}")
    print("wrote " + ", ".join(str(f) for f in out.files), file=sys.stderr)
    return 0
