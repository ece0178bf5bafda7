"""The HTML leaderboard: one self-contained page (no network, no CDN). The overview comes first,
then a section per benchmark in its own layout, each with an anchor the top bar links to; every
table sorts when a header is clicked, each row's runs and settings open under its name, and each
column with a value has a bar chart (inline SVG, the 95% interval as a whisker).

Every piece of run-provided text reaches the page through jinja2's autoescaping or
``html.escape``; nothing from a run is ever placed inside the script.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from rmbench.reports.formats import builtin_template, ci_note
from rmbench.reports.leaderboard import Board, Column
from rmbench.reports.markdown import _ANSI
from rmbench.reports.tables import best_of, board_title, is_best

if TYPE_CHECKING:  # pragma: no cover
    from rmbench.reports.layouts import Leaderboard

BAR_H = 16
GAP = 5
LABEL_W = 170
PLOT_W = 250
LABEL_CHARS = 26


def _fmt(x: float) -> str:
    return f"{100 * x:.1f}"


def _x(value: float) -> float:
    """A value's position on the 0-100% axis (values outside it are drawn at its edge)."""
    return LABEL_W + PLOT_W * min(1.0, max(0.0, value))


def bar_chart(board: Board, column: Column) -> str:
    """Inline SVG: one bar per row (best first) with its 95% interval as a whisker. It scales
    down with the page (viewBox; CSS caps its width at the container's)."""
    h = column.header
    rows = [r for r in board.rows if r.cells[h].value is not None]
    rows.sort(key=lambda r: (-(r.cells[h].value or 0.0), r.label))
    height = GAP + len(rows) * (BAR_H + GAP) + 18
    width = LABEL_W + PLOT_W + 50
    out = [f'<svg class="chart" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
           f"<title>{escape(board_title(board))}: {escape(h)}</title>"]
    for tick in (0, 25, 50, 75, 100):
        x = LABEL_W + PLOT_W * tick / 100
        out.append(f'<line class="grid" x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 15}"/>'
                   f'<text class="tick" x="{x:.1f}" y="{height - 3}" text-anchor="middle">{tick}</text>')
    for k, r in enumerate(rows):
        c = r.cells[h]
        y = GAP + k * (BAR_H + GAP)
        label = r.label if len(r.label) <= LABEL_CHARS else r.label[:LABEL_CHARS - 1] + "…"
        tip = f"{r.label}: {_fmt(c.value)}"
        if c.has_ci:
            tip += f" (95% CI {_fmt(c.lo)} to {_fmt(c.hi)})"
        out.append(f"<g><title>{escape(tip)}</title>"
                   f'<text class="name" x="{LABEL_W - 6}" y="{y + BAR_H - 4}" text-anchor="end">{escape(label)}</text>'
                   f'<rect class="bar" x="{LABEL_W}" y="{y}" width="{_x(c.value) - LABEL_W:.1f}" height="{BAR_H}"/>')
        if c.has_ci:
            x1, x2, ym = _x(c.lo), _x(c.hi), y + BAR_H / 2
            out.append(f'<line class="ci" x1="{x1:.1f}" y1="{ym}" x2="{x2:.1f}" y2="{ym}"/>'
                       f'<line class="ci" x1="{x1:.1f}" y1="{y + 3}" x2="{x1:.1f}" y2="{y + BAR_H - 3}"/>'
                       f'<line class="ci" x1="{x2:.1f}" y1="{y + 3}" x2="{x2:.1f}" y2="{y + BAR_H - 3}"/>')
        out.append(f'<text class="value" x="{LABEL_W + PLOT_W + 5}" y="{y + BAR_H - 4}">{_fmt(c.value)}</text></g>')
    out.append("</svg>")
    return "".join(out)


def _section(board: Board, ci: str) -> dict:
    """What the page template needs for one table (plain data; Markup only for our own SVG)."""
    from markupsafe import Markup

    best = {h: best_of(board, h) for h in board.headers}
    # the overview shows each task's score alone (its interval is in the cell's tooltip and in the
    # task's own table), so that a page with many tasks still fits 1280 px without scrolling
    show_ci = board.kind != "overview"
    rows = []
    for r in board.rows:
        cells = []
        for h in board.headers:
            c = r.cells[h]
            tip = (f"95% CI {_fmt(c.lo)} to {_fmt(c.hi)}; " if c.has_ci else "") + (f"n = {c.n}" if c.n is not None else "")
            cells.append({"value": c.value, "text": c.value_text(), "ci": c.ci_text(ci) if show_ci else "",
                          "tip": tip.strip("; "),
                          "best": is_best(c, best[h])})
        rows.append({"label": r.label, "details": r.details(), "cells": cells})
    charts = [{"header": c.header, "svg": Markup(bar_chart(board, c))}
              for c in board.columns if any(r.cells[c.header].value is not None for r in board.rows)]
    return {"id": board.anchor, "title": board_title(board), "short": board.title, "kind": board.kind,
            "headers": board.headers, "rows": rows, "notes": board.notes, "charts": charts}


def html_page(lb: "Leaderboard", title: str = "rmbench leaderboard", ci: str = "pm") -> str:
    from rmbench.reports.formats import _environment

    sections = [_section(b, ci) for b in lb.boards]
    tpl = _environment(autoescape=True).from_string(builtin_template("leaderboard.html.j2"))
    text = tpl.render(title=title, sections=sections, ci_note=ci_note(ci), ci_style=ci)
    # escape codes and control characters from run data (a model name, say) would act on a
    # terminal the page is printed to; the page itself has none
    return _ANSI.sub("", text)
