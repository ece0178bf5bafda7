"""rmbench rescore RUN_DIR: recompute summary.json from records.jsonl without model calls."""

from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser("rescore", help="recompute a run's summary from its records (no model calls)",
                       description="Recompute summary.json and summary.md from records.jsonl with the task options "
                                   "and scoring recorded in run.json. Every file is validated first: a damaged run "
                                   "is refused (exit 2) and its summary left as it was.")
    p.add_argument("run_dir")
    return p


def main(args) -> int:
    from rmbench.reports.markdown import summary_markdown
    from rmbench.runner import rescore

    print(summary_markdown(rescore(args.run_dir)), end="")
    return 0
