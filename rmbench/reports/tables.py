"""Rendering tables: GitHub-flavoured markdown (the leaderboard, ``compare`` and ``gate`` all use
``gfm_table``), plain text fitted to a terminal's width, and LaTeX with booktabs.

Leaderboard tables mark the best value of each column: bold in markdown and LaTeX; LaTeX also
underlines every value whose 95% interval overlaps the best value's interval. "Best" is the
highest value as displayed (to 0.1 points), so values that print alike are marked alike.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from typing import TYPE_CHECKING, Any, Sequence

from rmbench.reports.markdown import _ANSI, md_escape, pct

if TYPE_CHECKING:  # pragma: no cover
    from rmbench.reports.leaderboard import Board, Cell

MISSING = pct(None)
SEP = "  "  # between text columns
MIN_LABEL = 16  # model labels wrap to no fewer columns than this


# -- text measuring -----------------------------------------------------------------------------

def clean(text: Any) -> str:
    """One line of plain text: no escape codes or control characters, whitespace collapsed."""
    return " ".join(_ANSI.sub("", str(text)).split())


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes: wide East Asian characters count 2, combining marks 0."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def _pad(text: str, width: int, right: bool) -> str:
    gap = " " * max(0, width - display_width(text))
    return gap + text if right else text + gap


# -- markdown -----------------------------------------------------------------------------------

def gfm_table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured markdown table. Cells must already be markdown-safe (``md_escape``);
    ``align`` holds 'l' or 'r' per column (default: first column left, the rest right). Columns
    are padded so the source reads as a table too."""
    n = len(headers)
    align = list(align or ["l"] + ["r"] * (n - 1))
    widths = [max([3, display_width(headers[j])] + [display_width(r[j]) for r in rows]) for j in range(n)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(_pad(c, widths[j], align[j] == "r") for j, c in enumerate(cells)) + " |"

    rule = "|" + "|".join((":" + "-" * (widths[j] + 1)) if align[j] == "l" else ("-" * (widths[j] + 1) + ":")
                          for j in range(n)) + "|"
    return "\n".join([line(headers), rule] + [line(r) for r in rows])


def best_of(board: "Board", header: str) -> float | None:
    """The highest value of a column as displayed (a percentage to 0.1), when at least two rows
    have a value and they do not all show the same (then nothing is best)."""
    shown = [round(100 * r.cells[header].value, 1) for r in board.rows if r.cells[header].value is not None]
    return max(shown) if len(set(shown)) >= 2 else None


def is_best(cell: "Cell", best: float | None) -> bool:
    return best is not None and cell.value is not None and round(100 * cell.value, 1) == best


def board_markdown(board: "Board", ci: str = "pm", bold: bool = True) -> str:
    """One leaderboard table as GFM, the best value of each column in bold."""
    best = {h: best_of(board, h) if bold else None for h in board.headers}
    rows = []
    for r in board.rows:
        line = [md_escape(r.label)]
        for h in board.headers:
            c = r.cells[h]
            value = f"**{c.value_text()}**" if is_best(c, best[h]) else c.value_text()
            line.append(" ".join(x for x in (value, c.ci_text(ci)) if x))
        rows.append(line)
    return gfm_table(["model"] + [md_escape(h) for h in board.headers], rows)


# -- plain text, fitted to a width ----------------------------------------------------------------

def _wrap_header(header: str, width: int) -> list[str]:
    """A header on as many lines as it needs to fit ``width``, broken between words only."""
    words = header.split()
    if not words:
        return [""]
    lines = [words[0]]
    for w in words[1:]:
        if display_width(lines[-1] + " " + w) <= width:
            lines[-1] += " " + w
        else:
            lines.append(w)
    return lines


def _wrap_label(label: str, width: int) -> list[str]:
    """A model label on lines of at most ``width`` columns: broken at spaces, else after '/', '-'
    or ',' (a label is text; only numbers must never break)."""
    lines: list[str] = []
    for word in label.split(" "):
        if lines and display_width(lines[-1] + " " + word) <= width:
            lines[-1] += " " + word
            continue
        while display_width(word) > width:
            cut = max((k + 1 for k, ch in enumerate(word[:width]) if ch in "/-,_"), default=0) or width
            while display_width(word[:cut]) > width:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        lines.append(word)
    return [ln for ln in lines if ln] or [""]


def _layout(heads: list[str], labels: list[str], cells: list[list[tuple[str, str]]], mode: str,
            wrap: bool, label_width: int | None = None) -> tuple[list[list[str]], list[list[list[str]]], list[int]]:
    """(header lines per column, cell lines per row and column, column widths) for one mode:
    inline ('81.2 ± 2.0'), split (the interval on a second line) or bare (no interval); headers
    wrapped between words when ``wrap``, labels wrapped to ``label_width`` when given."""
    body: list[list[list[str]]] = []
    for label, row in zip(labels, cells):
        line: list[list[str]] = [_wrap_label(label, label_width) if label_width else [label]]
        for value, ci in row:
            if mode == "inline":
                line.append([f"{value} {ci}" if ci else value])
            elif mode == "split":
                line.append([value, ci] if ci else [value])
            else:
                line.append([value])
        body.append(line)
    widths = [max([display_width(x) for r in body for x in r[j]] + [1]) for j in range(len(heads))]
    head_lines = []
    for j, h in enumerate(heads):
        lines = _wrap_header(h, max(widths[j], max(display_width(w) for w in h.split() or [""]))) if wrap else [h]
        head_lines.append(lines)
        widths[j] = max([widths[j]] + [display_width(x) for x in lines])
    return head_lines, body, widths


def _render_text(head_lines: list[list[str]], body: list[list[list[str]]], widths: list[int],
                 cols: list[int]) -> list[str]:
    """The lines of a text table over the columns ``cols`` (0 is the label column)."""
    height = max(len(head_lines[j]) for j in cols)
    out = []
    for k in range(height):  # headers sit on their last line, like a spreadsheet's
        parts = []
        for j in cols:
            lines = head_lines[j]
            text = lines[k - (height - len(lines))] if k >= height - len(lines) else ""
            parts.append(_pad(text, widths[j], j > 0))
        out.append(SEP.join(parts).rstrip())
    out.append(SEP.join("-" * widths[j] for j in cols))
    for row in body:
        for k in range(max(len(row[j]) for j in cols)):
            out.append(SEP.join(_pad(row[j][k] if k < len(row[j]) else "", widths[j], j > 0)
                                for j in cols).rstrip())
    return out


def _total(widths: list[int], cols: list[int]) -> int:
    return sum(widths[j] for j in cols) + len(SEP) * (len(cols) - 1)


def fit_text_table(headers: list[str], labels: list[str], cells: list[list[tuple[str, str]]],
                   width: int | None) -> tuple[list[str], list[str]]:
    """A table as plain text lines no wider than ``width`` when that can be done without breaking
    a number: (lines, notes). Tried in turn, the first that fits wins: intervals beside values;
    headers wrapped between words; each interval on a second line under its value; long model
    names wrapped too; intervals left out (with a note); then the columns split into several
    tables, each repeating the model column (with a note)."""
    heads = ["model"] + [clean(h) for h in headers]
    labels = [clean(lb) for lb in labels]
    cols = list(range(len(heads)))
    has_ci = any(ci for row in cells for _, ci in row)
    dropped = "intervals left out to fit the width (widen the terminal, or use --format md)"
    modes = [("inline", False), ("inline", True)] + ([("split", True)] if has_ci else []) + [("bare", True)]
    for mode, wrap in modes:
        hl, body, widths = _layout(heads, labels, cells, mode, wrap)
        notes = [dropped] if mode == "bare" and has_ci else []
        if width is None or _total(widths, cols) <= width:
            return _render_text(hl, body, widths, cols), notes
        if mode in ("split", "bare"):  # long model names on several lines
            room = max(MIN_LABEL, width - _total(widths, cols[1:]) - len(SEP))
            hl, body, widths = _layout(heads, labels, cells, mode, wrap, room)
            if _total(widths, cols) <= width:
                return _render_text(hl, body, widths, cols), notes
    # split the columns into groups that fit, each repeating the (wrapped) model column
    hl, body, widths = _layout(heads, labels, cells, "bare", True, max(MIN_LABEL, min(widths[0], width // 3)))
    groups: list[list[int]] = [[0]]
    for j in cols[1:]:
        if len(groups[-1]) > 1 and _total(widths, groups[-1] + [j]) > width:
            groups.append([0])
        groups[-1].append(j)
    lines: list[str] = []
    for g in groups:
        if lines:
            lines.append("")
        lines += _render_text(hl, body, widths, g)
    return lines, notes + [f"columns split over {len(groups)} tables to fit the width"]


def wrap_note(text: str, width: int | None, indent: str = "") -> list[str]:
    text = clean(text)
    if width is None:
        return [indent + text]
    return textwrap.wrap(text, width=max(20, width), initial_indent=indent, subsequent_indent=indent,
                         break_on_hyphens=False) or [indent]


def board_text(board: "Board", ci: str = "pm", width: int | None = None) -> list[str]:
    """A table under its title, fitted to ``width``, with its notes wrapped below it."""
    cells = [[(r.cells[h].value_text(), r.cells[h].ci_text(ci)) for h in board.headers] for r in board.rows]
    lines, notes = fit_text_table(board.headers, [r.label for r in board.rows], cells, width)
    title = clean(board_title(board))
    out = [title, "=" * min(display_width(title), width or 10**6)]
    out += lines
    if board.notes or notes:
        out.append("")
    for note in [*board.notes, *notes]:
        out += wrap_note(note, width)
    return out


def board_title(board: "Board") -> str:
    if board.kind == "task" and board.task and board.title != board.task:
        return f"{board.title} ({board.task})"
    return board.title


# -- LaTeX --------------------------------------------------------------------------------------

_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
        "|": r"\textbar{}"}


def tex_escape(text: Any) -> str:
    s = clean(text)
    return "".join(_TEX.get(ch, ch) for ch in s)


def overlaps(cell: "Cell", best_cells: list["Cell"]) -> bool:
    """Does this cell's interval overlap the interval of a best cell?"""
    if not cell.has_ci:
        return False
    return any(b.has_ci and cell.lo <= b.hi and cell.hi >= b.lo for b in best_cells)


LATEX_RULE = ("Bold: the best value in each column. Underlined: a value whose 95\\% interval overlaps the "
              "best value's interval (a rough screen for ``not clearly worse'', not a significance test).")


def board_latex(board: "Board", ci: str = "pm", label: str | None = None) -> str:
    """One table for a paper: booktabs rules, best values in bold, values whose interval overlaps
    the best one's underlined, the rule stated in the caption."""
    best = {h: best_of(board, h) for h in board.headers}
    tops = {h: [r.cells[h] for r in board.rows if is_best(r.cells[h], best[h])] for h in board.headers}

    def cell(h: str, c: "Cell") -> str:
        if c.value is None:
            return "--"
        v = c.value_text()
        if is_best(c, best[h]):
            v = f"\\textbf{{{v}}}"
        elif best[h] is not None and overlaps(c, tops[h]):
            v = f"\\underline{{{v}}}"
        extra = c.ci_text(ci)
        if extra:
            extra = extra.replace("± ", "$\\pm$")
            v += f"\\,{{\\scriptsize {extra}}}"
        return v

    what = {"pm": " $\\pm$ is half the width of the 95\\% bootstrap interval.",
            "bounds": " Brackets hold the 95\\% bootstrap interval.", "none": ""}[ci]
    caption = f"{tex_escape(board_title(board))}. Scores in \\%.{what} {LATEX_RULE}"
    for note in board.notes:
        caption += " " + tex_escape(note)
    label = label or "tab:rmbench-" + (re.sub(r"[^a-z0-9]+", "-", (board.task or board.kind).lower()).strip("-") or "x")
    # a table wider than the text shrinks to fit it (graphicx's \resizebox; never enlarged)
    lines = [r"\begin{table}[ht]", r"\centering", r"\small", f"\\caption{{{caption}}}", f"\\label{{{label}}}",
             r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
             r"\begin{tabular}{l" + "r" * len(board.columns) + "}", r"\toprule",
             " & ".join(["Model"] + [tex_escape(h) for h in board.headers]) + r" \\", r"\midrule"]
    for r in board.rows:
        lines.append(" & ".join([tex_escape(r.label)] + [cell(h, r.cells[h]) for h in board.headers]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}", r"\end{table}"]
    return "\n".join(lines) + "\n"
