"""Writing a leaderboard out: markdown (through a jinja2 template, replaceable by the user's own,
sandboxed), text fitted to a terminal, csv, LaTeX, json; html lives in html.py. Tables are
drawn by tables.py; the boards come from layouts.py."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rmbench.errors import UserError
from rmbench.reports.leaderboard import Board
from rmbench.reports.markdown import _ANSI, md_escape, pct

if TYPE_CHECKING:  # pragma: no cover
    from rmbench.reports.layouts import Leaderboard

FORMATS = ("md", "text", "csv", "latex", "html", "json")
CI_STYLES = ("pm", "bounds", "none")


def markdown_table_of(board: Board, ci: str = "pm") -> str:
    """One table as GitHub-flavoured markdown, the best value of each column in bold."""
    from rmbench.reports.tables import board_markdown

    return board_markdown(board, ci)


def markdown_table(runs: list[dict], ci: str = "pm") -> str:
    """The markdown leaderboard of ``runs``: the overview and one table per task."""
    from rmbench.reports.layouts import build_leaderboard

    return render(build_leaderboard(runs).sort(), "md", ci=ci)


def _csv_text(value: str) -> str:
    """Text without control codes or line breaks; a cell a spreadsheet would run as a formula
    gets a leading apostrophe."""
    value = " ".join(_ANSI.sub("", value).split())
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def to_csv(board: Board) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    head = ["label", "model", "settings"]
    for h in board.headers:
        head += [h, f"{h} ci_lo", f"{h} ci_hi", f"{h} n"]
    w.writerow([_csv_text(h) for h in head])
    for r in board.rows:
        line: list[Any] = [_csv_text(r.label), _csv_text(r.model),
                           _csv_text(";".join(f"{k}={v}" for k, v in r.suffix.items()))]
        for h in board.headers:
            c = r.cells[h]
            line += ["" if x is None else x for x in (c.value, c.lo, c.hi, c.n)]
        w.writerow(line)
    return buf.getvalue()


def ci_note(ci: str, level: float = 0.95) -> str:
    pc = int(round(level * 100))
    return {"pm": f"; ± is half the width of the {pc}% bootstrap interval",
            "bounds": f"; brackets hold the {pc}% bootstrap interval", "none": ""}[ci]


def to_text(lb: "Leaderboard", ci: str = "pm", width: int | None = None) -> str:
    """The leaderboard for a terminal: each table fitted to ``width`` (None: no limit)."""
    from rmbench.reports.tables import board_text, wrap_note

    lines = wrap_note(f"Scores are percentages on each task's official metric{ci_note(ci)}.", width)
    for board in lb.boards:
        lines += [""] + board_text(board, ci, width)
    return "\n".join(lines) + "\n"


def to_latex(lb: "Leaderboard", ci: str = "pm") -> str:
    """One booktabs table per benchmark (the overview first), for ``\\input`` into a paper."""
    from rmbench.reports.tables import board_latex

    head = "% rmbench leaderboard: one table per benchmark; needs \\usepackage{booktabs} and \\usepackage{graphicx}\n"
    return head + "\n".join(board_latex(b, ci) for b in lb.boards)


def to_json(lb: "Leaderboard") -> dict:
    """Every table, plus the board with a column per task and section (``columns``, ``rows``)."""
    return {**lb.wide.to_json(), "overview": lb.overview.to_json() if lb.overview else None,
            "tables": [b.to_json() for b in lb.tables]}


def csv_board(lb: "Leaderboard") -> Board:
    """A csv holds one table: the task's table when there is one task, else every column."""
    return lb.tables[0] if len(lb.tables) == 1 else lb.wide


# -- templates ----------------------------------------------------------------------------------

def _environment(autoescape: bool):
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    from rmbench.reports.tables import tex_escape

    env = SandboxedEnvironment(autoescape=autoescape, undefined=StrictUndefined, keep_trailing_newline=True,
                               trim_blocks=True, lstrip_blocks=True)
    env.filters.update(md=md_escape, pct=pct, tex=tex_escape)
    return env


def _board_context(board: Board, ci: str) -> dict:
    data = board.to_json()
    for row, r in zip(data["rows"], board.rows):
        row["text"] = {h: r.cells[h].text(ci) for h in board.headers}
    data.update(headers=board.headers, anchor=board.anchor, table=markdown_table_of(board, ci))
    return data


def template_context(lb: "Leaderboard", ci: str = "pm") -> dict:
    """What a leaderboard template sees (plain data only): ``boards`` (the overview, then one
    table per task), ``overview`` and ``tables``; and, from the board with a column per task and
    section, ``columns``, ``headers``, ``rows`` and ``table``."""
    wide = _board_context(lb.wide, ci)
    boards = [_board_context(b, ci) for b in lb.boards]
    return {"columns": wide["columns"], "headers": wide["headers"], "rows": wide["rows"], "table": wide["table"],
            "boards": boards, "overview": boards[0] if lb.overview else None,
            "tables": boards[1:] if lb.overview else boards, "ci_style": ci, "level": 0.95}


def render_template(source: str, lb: "Leaderboard", ci: str = "pm", name: str = "template",
                    autoescape: bool = False) -> str:
    from rmbench.judges.prompts import no_loading_tags, render_problem

    no_loading_tags(source, name)
    try:
        tpl = _environment(autoescape).from_string(source)
        return tpl.render(**template_context(lb, ci))
    except Exception as e:  # jinja raises TemplateError, but also TypeError, SecurityError, ...
        raise UserError(f"{name}: template error: {render_problem(e)}") from None


def builtin_template(name: str) -> str:
    return (Path(__file__).resolve().parent / "templates" / name).read_text(encoding="utf-8")


def render(lb: "Leaderboard", fmt: str = "md", ci: str = "pm", template: str | None = None,
           title: str = "rmbench leaderboard", width: int | None = None) -> str:
    """The leaderboard as text in ``fmt``; ``template`` (a .j2 file) replaces the built-in one
    (sandboxed; HTML-escaped when its name ends in .html.j2 or .htm.j2). ``width`` fits the
    text format to a terminal."""
    if fmt not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}, not '{fmt}'")
    if ci not in CI_STYLES:
        raise UserError(f"--ci must be one of {', '.join(CI_STYLES)}, not '{ci}'")
    if template is not None:
        p = Path(template)
        try:
            source = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise UserError(f"--template {template}: cannot read it ({e})") from None
        return render_template(source, lb, ci, name=p.name, autoescape=p.name.endswith((".html.j2", ".htm.j2")))
    if fmt == "md":
        return render_template(builtin_template("leaderboard.md.j2"), lb, ci, name="leaderboard.md.j2").rstrip() + "\n"
    if fmt == "text":
        return to_text(lb, ci, width)
    if fmt == "csv":
        return to_csv(csv_board(lb))
    if fmt == "latex":
        return to_latex(lb, ci)
    if fmt == "json":
        return json.dumps(to_json(lb), indent=2, ensure_ascii=False) + "\n"
    from rmbench.reports.html import html_page

    return html_page(lb, title=title, ci=ci)
