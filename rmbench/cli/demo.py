"""rmbench demo: run the baseline judges on every task's embedded demo sample (no network)
and print a leaderboard."""

from __future__ import annotations

BASELINES = ("baseline/longest", "baseline/shortest", "baseline/random")


def add_parser(sub):
    p = sub.add_parser("demo", help="run baselines on the embedded demo samples and print a leaderboard (offline)")
    p.add_argument("--output-dir", default="results", help="output root (default: results)")
    p.add_argument("--task", help="comma-separated tasks (default: every task with a demo sample)")
    return p


def main(args) -> int:
    import sys

    from rmbench.api import evaluate
    from rmbench.reports.leaderboard import markdown_table
    from rmbench.store.rundir import load_run
    from rmbench.tasks.spec import all_specs

    tasks = [t.strip() for t in args.task.split(",")] if args.task else [s.name for s in all_specs() if s.demo]
    runs = []
    for model in BASELINES:
        res = evaluate(model, tasks, demo=True, output_dir=args.output_dir,
                       run_name=f"demo--{model.replace('/', '__')}", overwrite=True, progress=False)
        print(f"{model}: {res.path}", file=sys.stderr)
        runs.append(load_run(res.path))
    print("Demo leaderboard (embedded demo samples; scores in %):\n")
    print(markdown_table(runs))
    return 0
