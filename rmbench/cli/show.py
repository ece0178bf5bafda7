"""rmbench show RUN_DIR: print a run's summary as markdown."""

from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser("show", help="print a run's summary as markdown")
    p.add_argument("run_dir", help="a run directory (results/<run-name>)")
    return p


def main(args) -> int:
    from rmbench.reports.markdown import summary_markdown
    from rmbench.store.rundir import load_run

    run = load_run(args.run_dir)
    print(summary_markdown(run["summary"]), end="")
    return 0
