"""rmbench demo: run the baseline judges on every task's embedded demo sample (no network)
and print the leaderboard: an overview, then one compact table per task."""

from __future__ import annotations

BASELINES = ("baseline/longest", "baseline/shortest", "baseline/random")
MAX_WIDTH = 120  # the demo's tables fit this many columns (or a narrower terminal)


def add_parser(sub):
    p = sub.add_parser("demo", help="run baselines on the embedded demo samples and print a leaderboard (offline)")
    p.add_argument("--output-dir", default="results", help="output root (default: results)")
    p.add_argument("--task", help="comma-separated tasks (default: every task with a demo sample)")
    return p


def main(args) -> int:
    import sys

    from rmbench.api import evaluate
    from rmbench.cli.leaderboard import terminal_width
    from rmbench.reports.formats import render
    from rmbench.reports.layouts import build_leaderboard
    from rmbench.store.rundir import load_run
    from rmbench.tasks.spec import all_specs

    tasks = [t.strip() for t in args.task.split(",")] if args.task else [s.name for s in all_specs() if s.demo]
    runs = []
    for model in BASELINES:
        res = evaluate(model, tasks, demo=True, output_dir=args.output_dir,
                       run_name=f"demo--{model.replace('/', '__')}", overwrite=True, progress=False)
        print(f"{model}: {res.path}", file=sys.stderr)
        runs.append(load_run(res.path))
    width = min(MAX_WIDTH, terminal_width(sys.stdout) or MAX_WIDTH)
    print("Demo leaderboard (baseline judges on the embedded demo samples, a few examples per task)\n")
    sys.stdout.write(render(build_leaderboard(runs).sort(), "text", width=width))
    print(f"the same leaderboard as markdown, html or LaTeX: rmbench leaderboard {args.output_dir} "
          "--format md|html|latex", file=sys.stderr)
    return 0
