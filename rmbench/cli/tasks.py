"""rmbench tasks: list registered tasks with their source, size and metric."""

from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser("tasks", help="list the registered tasks", description="List every task in tasks/*.yaml.")
    p.add_argument("--format", choices=["md", "json"], default="md")
    return p


def main(args) -> int:
    import json

    from tabulate import tabulate

    from rmbench.tasks.spec import all_specs

    rows = []
    for s in all_specs():
        src = s.source.describe()
        rows.append({"task": s.name, "source": src, "size": s.size if s.size is not None else "", "metric": s.metric})
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    else:
        print(tabulate([list(r.values()) for r in rows], headers=["task", "source", "size", "metric"], tablefmt="github"))
    return 0
