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


def main(args) -> int:
    import sys

    from rmbench.redaction import redact_argv
    from rmbench.runner import merge
    from rmbench.store.files import read_text

    out = merge(args.runs, args.output, overwrite=args.overwrite, command=redact_argv(["rmbench"] + sys.argv[1:]))
    if not args.quiet:
        print(read_text(out / "summary.md"))
    print(f"merged {len(args.runs)} shards: {out}", file=sys.stderr)
    return 0
