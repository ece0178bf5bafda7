"""rmbench plot RUN_DIR...: best-of-N accuracy against judge calls (or matches) per item; with
--curves a run's test-time-compute curves, with --calibration its reliability diagrams."""

from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser("plot", help="plot best-of-N accuracy against judge calls per item, one point per run; "
                                    "or a run's compute curves (--curves) or calibration (--calibration)",
                       description="Read the runs' summaries and draw, per task, best-of-N accuracy against the "
                                   "judge calls (or matches) spent per item, one point per run, coloured by "
                                   "aggregation method. With --curves: each run's accuracy against votes "
                                   "(--samples K) and best-of-N accuracy against judge calls per aggregator "
                                   "(round-robin runs). With --calibration: each run's reliability diagram of its "
                                   "soft verdicts (--gen logprobs=true). Writes PREFIX.png and PREFIX.svg "
                                   "(needs rmbench[plot]).")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories (results/<run-name>)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--curves", action="store_true",
                      help="draw the test-time-compute curves (accuracy by votes; by candidates and judge calls)")
    what.add_argument("--calibration", action="store_true",
                      help="draw the reliability diagram of the soft verdicts")
    p.add_argument("-o", "--output", default=None, metavar="PREFIX",
                   help="output path without extension (default: aggregation, curves or calibration -> "
                        "PREFIX.png, PREFIX.svg)")
    p.add_argument("--x", default="calls", choices=["calls", "matches"],
                   help="x axis of the aggregation plot: judge calls per item (default) or matches per item")
    p.add_argument("--task", help="comma-separated tasks to plot (default: every task with figures)")
    return p


def main(args) -> int:
    import sys

    from rmbench.store.rundir import load_run

    runs = [load_run(d) for d in args.run_dirs]
    tasks = [t.strip() for t in args.task.split(",") if t.strip()] if args.task else None
    if args.curves or args.calibration:
        from rmbench.reports.curves_plot import plot_calibration, plot_curves

        draw = plot_curves if args.curves else plot_calibration
        fig = draw(runs, args.output or ("curves" if args.curves else "calibration"), tasks=tasks)
        print("run\ttask\tcurve\tseries\tx\ty_%")
        for run, task, curve, series, x, y in fig.rows:
            print(f"{run}\t{task}\t{curve}\t{series}\t{x:g}\t{y:.1f}")
        print("wrote " + ", ".join(str(f) for f in fig.files), file=sys.stderr)
        return 0

    from rmbench.reports.plot import plot

    out = plot(runs, args.output or "aggregation", x=args.x, tasks=tasks)
    print(f"run\ttask\tmethod\t{'judge_calls' if args.x == 'calls' else 'matches'}_per_item\taccuracy_%")
    for p in out.points:
        print(f"{p.run}\t{p.task}\t{p.method}\t{p.x:g}\t{100 * p.accuracy:.1f}")
    print("wrote " + ", ".join(str(f) for f in out.files), file=sys.stderr)
    return 0
