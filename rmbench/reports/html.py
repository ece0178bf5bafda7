"""The HTML leaderboard: one self-contained page (no network, no CDN). The overview comes first,
then a section per benchmark in its own layout, each with an anchor the top bar links to; every
table sorts when a header is clicked, each row's runs and settings open under its name, and each
column with a value has a bar chart (inline SVG, the 95% interval as a whisker). A task whose runs
recorded test-time-compute curves (``compute_curves``: ``--samples K``, round-robin best-of-N)
shows them under its table as line charts.

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


PALETTE = ("#1a365d", "#c05621", "#2f855a", "#6b46c1", "#b83280", "#2c7a7b", "#975a16", "#4a5568")
CURVE_W, CURVE_H, PAD_L, PAD_B, PAD_T, PAD_R = 360, 200, 44, 34, 10, 12


def line_chart(title: str, series: list[tuple[str, list[tuple[float, float, str]]]], xlabel: str,
               integer_x: bool = False) -> str:
    """Inline SVG: accuracy (0-100 %) against ``x``, one line per named series of (x, y, tip)
    points (y a share), a legend under the plot; every point carries its tip as a tooltip."""
    xs = [x for _, pts in series for x, _, _ in pts]
    lo, hi = min(xs), max(xs)
    if hi == lo:
        lo, hi = lo - 1, hi + 1
    legend_h = 16 * len(series)
    width, height = PAD_L + CURVE_W + PAD_R, PAD_T + CURVE_H + PAD_B + legend_h

    def px(x: float) -> float:
        return PAD_L + CURVE_W * (x - lo) / (hi - lo)

    def py(y: float) -> float:
        return PAD_T + CURVE_H * (1 - min(1.0, max(0.0, y)))

    out = [f'<svg class="chart curve" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
           f"<title>{escape(title)}</title>"]
    for tick in (0, 25, 50, 75, 100):
        y = py(tick / 100)
        out.append(f'<line class="grid" x1="{PAD_L}" y1="{y:.1f}" x2="{PAD_L + CURVE_W}" y2="{y:.1f}"/>'
                   f'<text class="tick" x="{PAD_L - 4}" y="{y + 3:.1f}" text-anchor="end">{tick}</text>')
    ticks = sorted(set(xs)) if integer_x and len(set(xs)) <= 12 else [lo + (hi - lo) * i / 4 for i in range(5)]
    for t in ticks:
        x = px(t)
        text = f"{t:g}" if integer_x else f"{t:.3g}"
        out.append(f'<text class="tick" x="{x:.1f}" y="{PAD_T + CURVE_H + 13}" text-anchor="middle">{text}</text>')
    out.append(f'<text class="tick" x="{PAD_L + CURVE_W / 2:.1f}" y="{PAD_T + CURVE_H + 27}" '
               f'text-anchor="middle">{escape(xlabel)}</text>')
    for k, (name, pts) in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y, _ in pts)
        out.append(f'<polyline class="line" fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        for x, y, tip in pts:
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}">'
                       f"<title>{escape(tip)}</title></circle>")
        ly = PAD_T + CURVE_H + PAD_B + 16 * k + 11
        out.append(f'<rect x="{PAD_L}" y="{ly - 8}" width="10" height="10" fill="{colour}"/>'
                   f'<text class="name" x="{PAD_L + 16}" y="{ly + 1}">{escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def curve_charts(board: Board) -> list[tuple[str, str]]:
    """The test-time-compute curves of a task's runs (``compute_curves`` in their summaries), as
    (caption, svg): accuracy by votes with a line per row, and per row accuracy by judge calls
    with a line per aggregator. Empty when no run of the task recorded one."""
    if board.kind != "task" or not board.task:
        return []
    votes, cands = [], []
    for r in board.rows:
        block = (r.tasks.get(board.task) or {}).get("compute_curves") or {}
        pts = [(p["k"], p["accuracy"], p.get("ci")) for p in (block.get("votes") or {}).get("all") or []
               if p.get("accuracy") is not None]
        if pts:
            votes.append((r.label, [(k, a, f"{r.label}, k = {k}: {_fmt(a)}"
                                     + (f" (95% CI {_fmt(c[0])} to {_fmt(c[1])})" if c else "")) for k, a, c in pts]))
        by_method: dict[str, list] = {}
        for p in block.get("candidates") or []:
            if p.get("accuracy") is not None:
                by_method.setdefault(p["aggregator"], []).append(p)
        if by_method:
            cands.append((r.label, [(m, [(p["judge_calls"], p["accuracy"],
                                          f"{m}, n = {p['n']}: {_fmt(p['accuracy'])} at {p['judge_calls']:g} calls")
                                         for p in sorted(ps, key=lambda p: p["n"])])
                                    for m, ps in by_method.items()]))
    out = []
    if votes:
        out.append(("Accuracy by votes per request", line_chart(f"{board.title}: accuracy by votes", votes,
                                                                "votes per request (k)", integer_x=True)))
    for label, series in cands:
        out.append((f"{label}: best-of-N accuracy by judge calls",
                    line_chart(f"{label}: accuracy by judge calls", series, "judge calls per item")))
    return out


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
    curves = [{"header": caption, "svg": Markup(svg)} for caption, svg in curve_charts(board)]
    return {"id": board.anchor, "title": board_title(board), "short": board.title, "kind": board.kind,
            "headers": board.headers, "rows": rows, "notes": board.notes, "charts": charts, "curves": curves}


def html_page(lb: "Leaderboard", title: str = "rmbench leaderboard", ci: str = "pm") -> str:
    from rmbench.reports.formats import _environment

    sections = [_section(b, ci) for b in lb.boards]
    tpl = _environment(autoescape=True).from_string(builtin_template("leaderboard.html.j2"))
    text = tpl.render(title=title, sections=sections, ci_note=ci_note(ci), ci_style=ci)
    # escape codes and control characters from run data (a model name, say) would act on a
    # terminal the page is printed to; the page itself has none
    return _ANSI.sub("", text)
