"""rmbench leaderboard RESULTS_DIR_OR_RUNS...: an overview of every task's score, then one table
per task in its benchmark's layout, each cell with its 95% bootstrap interval."""

from __future__ import annotations

_EXT = {".md": "md", ".markdown": "md", ".txt": "text", ".csv": "csv", ".tex": "latex", ".html": "html",
        ".htm": "html", ".json": "json"}


def add_parser(sub):
    p = sub.add_parser("leaderboard", help="tabulate finished runs: text, markdown, csv, latex, html or json",
                       description="Build a leaderboard from run directories, summary.json files, or folders "
                                   "holding runs: an overview of every task's score, then one table per task in "
                                   "its benchmark's layout (the task YAML's leaderboard block). Runs of one model "
                                   "with different settings get separate, labelled rows.")
    p.add_argument("paths", nargs="+", metavar="RESULTS_DIR_OR_RUN", help="run directories, summary.json files "
                   "or results folders (searched recursively)")
    p.add_argument("-o", "--output", help="write to FILE instead of stdout (format from its extension unless --format)")
    p.add_argument("--format", choices=["text", "md", "csv", "latex", "html", "json"],
                   help="output format (default: text fitted to the terminal when stdout is one, else md; "
                        "with -o, from the file's extension)")
    p.add_argument("--task", action="append", metavar="NAME[,NAME...]",
                   help="only these tasks' tables (in their layouts), no overview")
    p.add_argument("--template", help="a jinja2 template (sandboxed) that replaces the built-in markdown one; "
                   "HTML-escaped when named *.html.j2 (see docs/leaderboards.md for its variables)")
    p.add_argument("--sort", help="column to sort by in every table that has it: model, a header (Chat Hard), "
                   "a task (its score) or task.section (default: each table's headline score)")
    p.add_argument("--ci", choices=["pm", "bounds", "none"], default="pm",
                   help="how cells show the 95%% interval: pm (± half-width, default), bounds ([lo, hi]) or none")
    p.add_argument("--width", type=int, metavar="COLUMNS",
                   help="fit text tables to this many columns (default: the terminal's width when stdout is one)")
    p.add_argument("--title", default="rmbench leaderboard", help="page title (html)")
    return p


def terminal_width(stream) -> int | None:
    """The width of the terminal ``stream`` writes to; None when it is not a terminal."""
    import os

    try:
        if not stream.isatty():
            return None
        return os.get_terminal_size(stream.fileno()).columns or None
    except (AttributeError, OSError, ValueError):
        return None


def main(args) -> int:
    import sys
    from pathlib import Path

    from rmbench.errors import UserError
    from rmbench.reports.formats import render
    from rmbench.reports.layouts import build_leaderboard
    from rmbench.reports.leaderboard import find_runs

    if args.width is not None and args.width < 20:
        raise UserError("--width must be at least 20 columns")
    tty = None if args.output else terminal_width(sys.stdout)
    if args.format:
        fmt = args.format
    elif args.output:
        fmt = _EXT.get(Path(args.output).suffix.lower(), "md")
    else:
        fmt = "text" if tty else "md"
    tasks = [t.strip() for arg in args.task or [] for t in arg.split(",") if t.strip()] or None
    board = build_leaderboard(find_runs(args.paths), tasks).sort(args.sort)
    text = render(board, fmt, ci=args.ci, template=args.template, title=args.title, width=args.width or tty)
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as e:
            raise UserError(f"-o {args.output}: cannot write it ({e.strerror or e})") from None
        print(f"leaderboard: {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
