"""Leaderboards as people publish them: an overview of every task's headline score, then one
table per task in the layout its benchmark made familiar.

A task's layout is its YAML's ``leaderboard:`` block (``rmbench/tasks/spec.py`` validates it):
a title and named columns, each reading a metric by the name rmbench/scoring/metrics.py gives it
(``score``, a section, an extra metric such as RM-Bench's ``hard``; ``OTHER-TASK:NAME`` reads
another task of the same row, as RewardBench's Prior Sets column does). A task without a block
(a new task, or a task this installation does not know) gets its score and its sections.
"""

from __future__ import annotations

from dataclasses import dataclass

from rmbench import registry
from rmbench.errors import UserError
from rmbench.reports.leaderboard import Board, Cell, Column, Row, build_board, build_rows, cell_of, task_names
from rmbench.scoring.common import mean
from rmbench.tasks.spec import Layout, LayoutColumn

SCORE_HEADER = "Score"


@dataclass
class Leaderboard:
    rows: list[Row]              # one per model and settings, labelled over all runs
    overview: Board | None       # several tasks: one column per task's score (and their mean)
    tables: list[Board]          # one per task, in its layout
    wide: Board                  # every task score and section as columns (csv, json, templates)

    @property
    def boards(self) -> list[Board]:
        return ([self.overview] if self.overview else []) + self.tables

    def sort(self, by: str | None = None) -> "Leaderboard":
        """Rank each table by its own headline column, or every table that has the column ``by``
        names by that column (an error when none has it)."""
        hit = False
        for board in self.boards + [self.wide]:
            if by is not None and board.find_column(by) is not None:
                board.sort(by)
                hit = True
            else:
                board.sort()
        if by is not None and not hit:
            known = sorted({h for b in self.boards for h in b.headers}, key=str.lower)
            raise UserError(f"--sort: no column '{by}' in any table (columns: model, {', '.join(known)})")
        return self


# -- layouts ------------------------------------------------------------------------------------

def layout_of(task: str) -> Layout | None:
    """The task's declared layout; None for a task without one or one this install lacks. A
    task file that is there but broken is an error, as everywhere else."""
    if task not in registry.task_files():
        return None
    from rmbench.tasks.spec import get_spec

    return get_spec(task).leaderboard


def generic_layout(task: str, rows: list[Row]) -> Layout:
    """Score, then each section the rows' summaries hold (first-seen order)."""
    sections: list[str] = []
    for r in rows:
        secs = (r.tasks.get(task) or {}).get("sections")
        if isinstance(secs, dict):
            sections += [str(s) for s in secs if str(s) not in sections]
    cols = [LayoutColumn(SCORE_HEADER, ((None, "score"),))]
    taken = {SCORE_HEADER.lower()}
    for s in sections:
        header = s if s.lower() not in taken else f"{s} (section)"
        taken.add(header.lower())
        cols.append(LayoutColumn(header, ((None, s),)))
    return Layout(task, tuple(cols), SCORE_HEADER)


def _cell(row: Row, task: str, col: LayoutColumn) -> tuple[Cell | None, str | None]:
    """The first alternative the row has a value for: (cell, its key), else (None, None)."""
    for other, name in col.metrics:
        src = other or task
        cell = cell_of(row.tasks.get(src), name)
        if cell is not None and cell.value is not None:
            return cell, src
    return None, None


def task_board(rows: list[Row], task: str, layout: Layout | None = None) -> Board:
    """The task's table in its layout: the rows that ran the task, a column per layout column."""
    mine = [r for r in rows if task in r.tasks]
    layout = layout or generic_layout(task, mine)
    columns: list[Column] = []
    cells: list[dict[str, Cell]] = [{} for _ in mine]
    notes: list[str] = []
    unreported: list[str] = []
    for col in layout.columns:
        found = [_cell(r, task, col) for r in mine]
        if not any(c for c, _ in found):
            if col.optional:
                continue
            names = " or ".join(f"{o}:{n}" if o else n for o, n in col.metrics)
            unreported.append(col.name if names == col.name else f"{col.name} ({names})")
        src, name = col.metrics[0]
        key = (src or task) if name == "score" else f"{src or task}.{name}"  # what --sort also matches
        columns.append(Column(col.name, task, None if name == "score" else name, key=key))
        for k, (c, _) in enumerate(found):
            cells[k][col.name] = c or Cell(None)
    if unreported:
        notes.append("No run here reports " + ", ".join(unreported) + ".")
    unofficial = [r.label for r in mine if (r.tasks[task] or {}).get("official") is False]
    if unofficial:
        notes.append("not the official metric (see each run's summary notes): " + ", ".join(unofficial))
    default = layout.sort or next((c.name for c in layout.columns if c.metrics[0] == (None, "score")), None)
    if default is not None and default not in [c.header for c in columns]:
        default = None
    return Board(columns, [r.with_cells(c) for r, c in zip(mine, cells)], title=layout.title or task, task=task,
                 notes=notes, default_sort=default, kind="task")


def overview_board(rows: list[Row], tasks: list[str], titles: dict[str, str]) -> Board:
    """One column per task's headline score and, when two or more tasks have a score in every
    row, their unweighted mean (labelled with how many tasks it covers)."""
    columns = [Column(titles[t], t, None, key=t) for t in tasks]
    scores = [{t: cell_of(r.tasks.get(t), "score") or Cell(None) for t in tasks} for r in rows]
    common = [t for t in tasks if all(s[t].value is not None for s in scores)]
    notes: list[str] = []
    mean_header = None
    if len(common) >= 2:
        mean_header = "Mean" if len(common) == len(tasks) else f"Mean ({len(common)} of {len(tasks)})"
        while mean_header in titles.values():  # a task titled so
            mean_header += "*"
        columns.append(Column(mean_header, None, None, key="mean"))
        notes.append(f"{mean_header}: unweighted mean of the scores of {', '.join(titles[t] for t in common)} "
                     "(the tasks every row has); no interval.")
    elif len(tasks) >= 2:
        notes.append("No mean: fewer than two tasks have a score in every row.")
    out = []
    for r, score in zip(rows, scores):
        cells = {titles[t]: score[t] for t in tasks}
        if mean_header:
            cells[mean_header] = Cell(mean(cells[titles[t]].value for t in common))
        out.append(r.with_cells(cells))
    return Board(columns, out, title="Overview", notes=notes, default_sort=mean_header or (columns[0].header),
                 kind="overview")


def _titles(tasks: list[str], layouts: dict[str, Layout | None]) -> dict[str, str]:
    titles = {t: (layouts[t].title if layouts[t] and layouts[t].title else t) for t in tasks}
    seen: dict[str, int] = {}
    for t in tasks:
        seen[titles[t].lower()] = seen.get(titles[t].lower(), 0) + 1
    return {t: (f"{titles[t]} ({t})" if seen[titles[t].lower()] > 1 and titles[t] != t else titles[t]) for t in tasks}


def build_leaderboard(runs: list[dict], tasks: list[str] | None = None) -> Leaderboard:
    """The overview (when several tasks are present and no ``tasks`` were asked for) and one
    table per task, each in its layout; ``tasks`` picks which tasks' tables to show."""
    rows = build_rows(runs)
    present = task_names(rows)
    if tasks:
        missing = [t for t in tasks if t not in present]
        if missing:
            raise UserError(f"--task {', '.join(missing)}: no run here has it (tasks: {', '.join(present) or 'none'})")
        chosen = list(dict.fromkeys(tasks))
    else:
        chosen = present
    layouts = {t: layout_of(t) for t in chosen}
    titles = _titles(chosen, layouts)
    tables = [task_board(rows, t, layouts[t]) for t in chosen]
    for t, b in zip(chosen, tables):
        b.title = titles[t]
    overview = overview_board(rows, chosen, titles) if not tasks and len(chosen) > 1 else None
    wide = build_board(rows=[r for r in rows if any(t in r.tasks for t in chosen)])
    if tasks:
        wide.columns = [c for c in wide.columns if c.task in chosen]
    return Leaderboard(rows, overview, tables, wide)
