"""Leaderboards from finished runs: one row per model (and per distinct settings), one column per
task score and per section, each cell with its 95% bootstrap interval from summary.json.

Runs of one model are merged into one row only when every setting that changes results
(run.json's identity less the task list and the per-task data) is the same and they cover
different tasks. Runs that differ get a row each, labelled with the settings that tell them apart
(``model [prompt=rubric]``); runs that still collide are told apart by data or run directory.
The tables people publish (an overview and one table per task in its benchmark's layout) are
built from these rows in layouts.py; formats.py writes them out (text, markdown, csv, latex,
json; html through html.py), tables.py draws text, markdown and LaTeX tables.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rmbench.errors import UserError
from rmbench.redaction import REDACTED, is_secret_name
from rmbench.reports.markdown import pct
from rmbench.scoring import metrics
from rmbench.store.rundir import RUN_JSON, SUMMARY_JSON, load_run
from rmbench.tasks import data_key

# identity keys that are not "settings" of a row: the model is the row, tasks are columns, data and
# the task options a run used ("scoring", --task-args resolved) are per task (Row.options)
_NOT_SETTINGS = ("model", "tasks", "data", "scoring")
# judge entries that are per task too: the template and mode of a task judged unlike the others
# (a generative judge's best-of-n prompt for rewardbench2)
_PER_TASK_JUDGE = ("task_templates", "task_modes")


# -- finding runs -------------------------------------------------------------------------------

def load_summary_file(path: Path) -> dict:
    """A summary JSON file (validated); beside its run.json when it is a run's summary.json."""
    from rmbench.store.schema import read_summary

    if path.name == SUMMARY_JSON and (path.parent / RUN_JSON).is_file():
        return load_run(path.parent)
    return {"path": str(path), "run": {}, "summary": read_summary(path)}


def load_any(path: str | os.PathLike) -> dict:
    """A run directory, or a summary JSON file (a committed summary.json may carry any name)."""
    p = Path(path)
    if p.is_file():
        return load_summary_file(p)
    return load_run(p)


def find_runs(paths: list[str], warn=None) -> list[dict]:
    """Every finished run named by ``paths``: run directories, summary files, or folders searched
    (recursively, in name order) for run directories. Incomplete runs are skipped with a note."""
    warn = warn or (lambda msg: print(f"rmbench: {msg}", file=sys.stderr))
    runs: list[dict] = []
    for arg in paths:
        p = Path(arg)
        if not p.exists():
            raise UserError(f"{arg}: no such run directory or file")
        if p.is_file() or (p / SUMMARY_JSON).exists() or (p / RUN_JSON).exists():  # one run: load it or say why not
            runs.append(load_any(p))
            continue
        found = 0
        for root, dirs, files in os.walk(p):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            if SUMMARY_JSON in files:
                runs.append(load_run(root))
                found += 1
                dirs[:] = []
            elif RUN_JSON in files:
                warn(f"skipping {root}: the run has no summary.json (incomplete)")
        if not found:
            raise UserError(f"{arg}: no finished runs (no summary.json) found")
    seen, unique = set(), []
    for r in runs:
        key = os.path.realpath(r["path"])
        if key not in seen:
            seen.add(key)
            unique.append(r)
    return unique


# -- settings that tell runs apart ------------------------------------------------------------------

def run_identity(run: dict) -> dict:
    ident = (run.get("run") or {}).get("identity")
    if ident:
        return ident
    s = run["summary"]  # a bare summary.json: what it records
    return {k: s.get(k) for k in ("model", "protocol", "seed", "orders", "samples", "on_failure", "limit", "shard",
                                  "judge")} | \
        {"tasks": list(s.get("tasks") or {})}


def _flatten(d: Any, prefix: str = "") -> dict[str, str]:
    """Nested settings as dotted keys -> compact strings; secret-looking keys (api_key,
    auth_token, ...; not max_tokens) are shown as <redacted>."""
    if isinstance(d, dict) and d:
        out: dict[str, str] = {}
        for k, v in d.items():
            out.update(_flatten(REDACTED if is_secret_name(k) else v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: json.dumps(d, sort_keys=True, ensure_ascii=False) if not isinstance(d, str) else d}


def settings_of(run: dict) -> dict[str, str]:
    ident = run_identity(run)
    settings = {k: v for k, v in ident.items() if k not in _NOT_SETTINGS}
    if isinstance(ident.get("scoring"), dict):  # --task-args are recorded per task there (Row.options)
        settings.pop("task_args", None)
    if isinstance(settings.get("judge"), dict):
        settings["judge"] = {k: v for k, v in settings["judge"].items() if k not in _PER_TASK_JUDGE}
    shard = settings.get("shard")
    if isinstance(shard, list) and len(shard) == 2:
        settings["shard"] = f"{shard[0]}/{shard[1]}"      # as --shard takes it
    return _flatten(settings)


def task_args_of(run: dict) -> dict[str, str]:
    """The --task-args a run was given (``task_args.KEY``), to name rows that differ in them."""
    args = run_identity(run).get("task_args")
    return _flatten({"task_args": args}) if isinstance(args, dict) and args else {}


def options_of(run: dict, task: str) -> dict[str, str]:
    """The options a run recorded for one task (resolved YAML and --task-args, and the judge's
    template and mode for that task when they are its own), as dotted keys ``scoring.TASK.…`` and
    ``judge.task_templates.TASK.…``; empty for a run that recorded none (a bare summary.json)."""
    ident = run_identity(run)
    opts = (ident.get("scoring") or {}).get(task)
    out = _flatten(opts, f"scoring.{task}.") if isinstance(opts, dict) and opts else {}
    judge = ident.get("judge") if isinstance(ident.get("judge"), dict) else {}
    for key in _PER_TASK_JUDGE:
        own = (judge.get(key) or {}).get(task)
        if own is not None:
            out.update(_flatten(own, f"judge.{key}.{task}."))
    return out


def data_of(run: dict, task: str) -> str:
    data = (run_identity(run).get("data") or {}).get(task)
    if data is None:
        return ""
    return hashlib.sha256(json.dumps(data_key(data), sort_keys=True).encode("utf-8")).hexdigest()[:8]


def _short(value: str, n: int = 16) -> str:
    return value if len(value) <= n else value[: n - 1] + "…"


# -- the table model ----------------------------------------------------------------------------

@dataclass
class Cell:
    value: float | None
    lo: float | None = None
    hi: float | None = None
    n: int | None = None

    @property
    def has_ci(self) -> bool:
        return self.value is not None and self.lo is not None and self.hi is not None

    def text(self, ci: str = "pm") -> str:
        return self.value_text() + ((" " + self.ci_text(ci)) if self.ci_text(ci) else "")

    def value_text(self) -> str:
        return pct(self.value)

    def ci_text(self, ci: str = "pm") -> str:
        """The interval alone ('± 2.0' or '[79.2, 83.2]'); empty when hidden or absent."""
        if ci == "none" or not self.has_ci:
            return ""
        if ci == "bounds":
            return f"[{pct(self.lo)}, {pct(self.hi)}]"
        return f"± {pct((self.hi - self.lo) / 2)}"

    def to_json(self) -> dict:
        return {"score": self.value, "ci": [self.lo, self.hi] if self.lo is not None else None, "n": self.n}


@dataclass
class Column:
    """A column of a table. ``key`` names what it shows across tables (``task`` for a task's
    score, ``task.NAME`` for another metric, as rmbench/scoring/metrics.py names them)."""
    header: str
    task: str | None = None          # the task it reads; None for a computed column (the overview's mean)
    section: str | None = None       # the all-columns board: the section (None: the task's score)
    key: str = ""

    def __post_init__(self):
        if not self.key:
            self.key = self.task if self.section is None else f"{self.task}.{self.section}"


@dataclass
class Row:
    model: str
    settings: dict[str, str]
    runs: list[dict] = field(default_factory=list)
    tasks: dict[str, dict] = field(default_factory=dict)      # task -> its summary
    data: dict[str, str] = field(default_factory=dict)        # task -> data hash
    options: dict[str, dict[str, str]] = field(default_factory=dict)  # task -> its recorded options
    suffix: dict[str, str] = field(default_factory=dict)      # what tells this row apart
    cells: dict[str, Cell] = field(default_factory=dict)      # column header -> cell (one table's)

    @property
    def label(self) -> str:
        if not self.suffix:
            return self.model
        return f"{self.model} [{', '.join(f'{k}={v}' for k, v in self.suffix.items())}]"

    def details(self) -> dict:
        return {"runs": [{"path": r["path"], "name": Path(r["path"]).name,
                          "tasks": list((r["summary"].get("tasks") or {})),
                          "finished": (r.get("run") or {}).get("finished"),
                          "rmbench_version": r["summary"].get("rmbench_version")} for r in self.runs],
                "settings": self.settings,
                "n": {t: s.get("n") for t, s in self.tasks.items()},
                "data": self.data}

    def with_cells(self, cells: dict[str, Cell]) -> "Row":
        """This row in another table: the same runs and label, that table's cells."""
        return replace(self, cells=cells)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


@dataclass
class Board:
    """One table: the overview, one task's table in its benchmark's layout, or the board with a
    column for every task and section (csv and json of several tasks, custom templates)."""
    columns: list[Column]
    rows: list[Row]
    title: str = ""
    task: str | None = None                           # the task of a per-task table
    notes: list[str] = field(default_factory=list)    # shown under the table
    default_sort: str | None = None                   # header ranked by when --sort names nothing here
    kind: str = "wide"                                # wide | overview | task

    @property
    def headers(self) -> list[str]:
        return [c.header for c in self.columns]

    @property
    def anchor(self) -> str:
        return "overview" if self.kind == "overview" else f"task-{_norm(self.task or 'all') or 'x'}"

    def find_column(self, name: str) -> str | None:
        """The header a --sort argument names: 'model', a header, or task.section / 'task:
        section'; case, spaces and punctuation do not matter (rewardbench.chat_hard)."""
        want = _norm(name)
        if want in ("model", "label", "name"):
            return "model"
        for c in self.columns:
            names = [c.header, c.key]
            if c.task:
                names += [f"{c.task}.{c.header}", f"{c.task}: {c.header}"]
            if any(want == _norm(n) for n in names):
                return c.header
        return None

    def column(self, name: str) -> str:
        header = self.find_column(name)
        if header is None:
            raise UserError(f"--sort: no column '{name}' (columns: model, {', '.join(self.headers)})")
        return header

    def sort(self, by: str | None = None) -> "Board":
        if by is None:
            by = self.default_sort or next((c.header for c in self.columns if c.section is None), None)
            if by is None:
                self.rows.sort(key=lambda r: r.label)
                return self
        header = self.column(by)
        if header == "model":
            self.rows.sort(key=lambda r: r.label.lower())
        else:
            self.rows.sort(key=lambda r: (r.cells[header].value is None, -(r.cells[header].value or 0.0), r.label))
        return self

    def to_json(self) -> dict:
        return {"title": self.title, "task": self.task, "kind": self.kind, "notes": self.notes,
                "columns": [{"header": c.header, "task": c.task, "section": c.section, "key": c.key}
                            for c in self.columns],
                "rows": [{"label": r.label, "model": r.model, "suffix": r.suffix,
                          "cells": {h: r.cells[h].to_json() for h in self.headers}, "details": r.details()}
                         for r in self.rows]}


def cell_at(summary: dict | None, path: tuple) -> Cell:
    """The cell for the metric at ``path`` of a task summary (value None when it has none)."""
    if not isinstance(summary, dict):
        return Cell(None)
    lo, hi = metrics.ci_of(summary, path) or (None, None)
    return Cell(metrics.get_path(summary, path), lo, hi, metrics.n_of(summary, path))


def cell_of(summary: dict | None, name: str) -> Cell | None:
    """The cell for the metric called ``name`` in a task summary (rmbench/scoring/metrics.py's
    names); None when the summary has no such metric."""
    if not isinstance(summary, dict):
        return None
    m = metrics.find(summary, name)
    return None if m is None else cell_at(summary, m.path)


def build_rows(runs: list[dict]) -> list[Row]:
    """One row per model and settings: runs of one model with the same settings that cover
    different tasks share a row; the rest get rows labelled by what tells them apart."""
    rows: list[Row] = []
    for run in runs:
        model = str(run["summary"].get("model") or run_identity(run).get("model") or "?")
        settings = settings_of(run)
        tasks = {k: v for k, v in (run["summary"].get("tasks") or {}).items() if isinstance(v, dict)}
        fits = [r for r in rows if r.model == model and r.settings == settings and not set(r.tasks) & set(tasks)]
        args = task_args_of(run)  # rather a row given the same --task-args
        home = next((r for r in fits if all(task_args_of(o) == args for o in r.runs)), fits[0] if fits else None)
        if home is None:
            home = Row(model, settings)
            rows.append(home)
        home.runs.append(run)
        for task, t in tasks.items():
            home.tasks[task] = t
            home.data[task] = data_of(run, task)
            home.options[task] = options_of(run, task)
    _label(rows)
    return rows


def task_names(rows: list[Row]) -> list[str]:
    """Every task the rows cover, in first-seen order."""
    return list(dict.fromkeys(t for r in rows for t in r.tasks))


def build_board(runs: list[dict] | None = None, rows: list[Row] | None = None) -> Board:
    """The board with a column for every task score and every section (``task: section``)."""
    rows = build_rows(runs or []) if rows is None else rows
    sections: dict[str, list[str]] = {}  # task -> its sections, both in first-seen order
    for row in rows:
        for task, t in row.tasks.items():
            secs = sections.setdefault(task, [])
            secs.extend(s for s in (t.get("sections") or {}) if s not in secs)
    columns = [Column(task if s is None else f"{task}: {s}", task, s)
               for task, secs in sections.items() for s in [None, *secs]]
    out = []
    for row in rows:
        cells = {}
        for c in columns:
            path = metrics.SCORE if c.section is None else ("sections", c.section, "score")
            cells[c.header] = cell_at(row.tasks.get(c.task), path)
        out.append(row.with_cells(cells))
    return Board(columns, out)


_DEFAULTISH = ("null", "{}", "[]", "")


def _is_default(key: str, value: str) -> bool:
    """Is this the value ``rmbench run`` uses when the setting is not given?"""
    from rmbench.config import RunConfig

    defaults = _flatten({k: v for k, v in RunConfig(model="", tasks=[]).identity().items() if k not in _NOT_SETTINGS})
    return value in _DEFAULTISH or defaults.get(key) == value


def _label(rows: list[Row]) -> None:
    """Give rows of the same model a suffix naming the settings in which they differ (values
    other than the defaults); rows that still look alike get the --task-args in which they differ,
    then the task options in which they differ (for a task both ran), then their data's hash when
    their data differs, then their run directory's name."""
    by_model: dict[str, list[Row]] = {}
    for r in rows:
        by_model.setdefault(r.model, []).append(r)
    for same in by_model.values():
        if len(same) < 2:
            continue
        keys = sorted({k for r in same for k in r.settings})
        differ = [k for k in keys if len({r.settings.get(k, "null") for r in same}) > 1]
        shown = [k for k in differ if not k.startswith("judge.")] or differ
        for r in same:
            r.suffix = {k: _short(v) for k in shown if not _is_default(k, v := r.settings.get(k, "null"))}
        for clash in _clashes(same):  # alike so far: the --task-args they were given
            args = [{k: v for run in r.runs for k, v in task_args_of(run).items()} for r in clash]
            for k in sorted({k for a in args for k in a}):
                if len({a.get(k) for a in args}) > 1:
                    for r, a in zip(clash, args):
                        if k in a:
                            r.suffix[k] = _short(a[k])
        for clash in _clashes(same):  # alike so far: the options of a task both ran (an edited YAML)
            for task in sorted(set.intersection(*(set(r.tasks) for r in clash))):
                for k in sorted({k for r in clash for k in r.options.get(task, {})}):
                    if len({r.options.get(task, {}).get(k, "null") for r in clash}) > 1:
                        for r in clash:
                            r.suffix[k] = _short(r.options.get(task, {}).get(k, "null"))
        for clash in _clashes(same):  # identical settings: the data tells them apart, else the run
            shared = set.intersection(*(set(r.tasks) for r in clash))
            if any(len({r.data.get(t) for r in clash}) > 1 for t in shared):
                for r in clash:
                    r.suffix["data"] = ",".join(r.data[t] or "?" for t in sorted(shared))
        for clash in _clashes(same):
            names = _short_paths([r.runs[0]["path"] for r in clash])
            for r, name in zip(clash, names):
                r.suffix["run"] = name


def _short_paths(paths: list[str]) -> list[str]:
    """The fewest trailing path components that tell the paths apart (run dirs of the same
    name in different results folders)."""
    parts = [Path(os.path.abspath(p)).parts for p in paths]
    for k in range(1, max(len(p) for p in parts) + 1):
        names = ["/".join(p[-k:]) for p in parts]
        if len(set(names)) == len(names):
            return names
    return [str(p) for p in paths]


def _clashes(rows: list[Row]) -> list[list[Row]]:
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(r.label, []).append(r)
    return [g for g in groups.values() if len(g) > 1]
