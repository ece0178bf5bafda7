"""rmbench merge RUN_DIR... [-o OUT]: combine the shard runs of a job array into one run."""

from __future__ import annotations

import argparse


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("merge", help="combine shard runs (--shard i/n) into one run",
                       description="Combine the runs of 'rmbench run ... --shard i/n' (every i from 0 to n-1, "
                                   "same settings otherwise) into one run directory whose records and "
                                   "summary.json are those of the same run made without --shard.")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="the shard run directories")
    p.add_argument("-o", "--output", help="merged run directory (default: beside the first shard, named "
                   "without its --shardIofN suffix)")
    p.add_argument("--overwrite", action="store_true", help="replace a different run already at OUTPUT")
    p.add_argument("--quiet", action="store_true", help="do not print the summary table")
    return p


def _summarize(plan) -> dict:
    from rmbench.config import RunConfig
    from rmbench.errors import UserError
    from rmbench.runner import summarize, task_args_for
    from rmbench.tasks import TaskData, get_spec
    from rmbench.tasks.spec import apply_task_args

    cfg = plan.config
    config = RunConfig(model=cfg["model"], tasks=list(cfg["tasks"]), seed=cfg["seed"], orders=cfg["orders"],
                       samples=cfg["samples"], on_failure=cfg["on_failure"], limit=cfg.get("limit"), shard=None,
                       task_args=cfg.get("task_args") or {}, protocol=cfg.get("protocol", "rmbench"))
    tasks = []
    datasets = plan.shards[0].run.get("datasets") or {}
    for name in config.tasks:
        try:
            spec = get_spec(name)
        except UserError as e:
            raise UserError(f"cannot merge: {e}") from None
        apply_task_args(spec, task_args_for(config, spec))
        tasks.append(TaskData(spec=spec, examples=[], provenance=datasets.get(name, {}),
                              notes=dict(plan.data_notes.get(name) or {})))
    judge = plan.shards[0].summary.get("judge", plan.judge)
    return summarize(config, judge, tasks, plan.records)


def main(args) -> int:
    import sys
    from pathlib import Path

    from rmbench.reports.markdown import summary_markdown
    from rmbench.store.merge import merge_runs

    out = merge_runs(args.runs, args.output, _summarize, summary_markdown,
                     argv=["rmbench"] + sys.argv[1:], overwrite=args.overwrite)
    if not args.quiet:
        print((Path(out) / "summary.md").read_text(encoding="utf-8"))
    print(f"merged {len(args.runs)} shards: {out}", file=sys.stderr)
    return 0
