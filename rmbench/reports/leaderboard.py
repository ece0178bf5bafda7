"""Leaderboards from finished runs: one row per model (and per distinct settings), one column per
task score and per section, each cell with its 95% bootstrap interval from summary.json.

Runs of one model are merged into one row only when every setting that changes results
(run.json's identity less the task list and the per-task data) is the same and they cover
different tasks. Runs that differ get a row each, labelled with the settings that tell them apart
(``model [prompt=rubric]``); runs that still collide are told apart by data or run directory.
Output formats: markdown (through a jinja2 template), csv, latex, json; html lives in html.py.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rmbench.errors import UserError
from rmbench.redaction import REDACTED, is_secret_name
from rmbench.reports.markdown import _ANSI, md_escape, pct
from rmbench.store.rundir import RUN_JSON, SUMMARY_JSON, load_run

FORMATS = ("md", "csv", "latex", "html", "json")
CI_STYLES = ("pm", "bounds", "none")
# identity keys that are not "settings" of a row: the model is the row, tasks are columns, data is per task
_NOT_SETTINGS = ("model", "tasks", "data")


# -- finding runs -------------------------------------------------------------------------------

def load_summary_file(path: Path) -> dict:
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: not a readable summary.json ({e})") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("tasks"), dict):
        raise UserError(f"{path}: not an rmbench summary (no 'tasks')")
    run: dict = {}
    if path.name == SUMMARY_JSON and (path.parent / RUN_JSON).is_file():
        try:
            run = json.loads((path.parent / RUN_JSON).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            run = {}
    return {"path": str(path.parent if path.name == SUMMARY_JSON else path), "run": run, "summary": summary}


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
        if p.is_file() or (p / SUMMARY_JSON).is_file():
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
    return _flatten({k: v for k, v in ident.items() if k not in _NOT_SETTINGS})


def data_key(provenance: dict) -> dict:
    """What identifies a task's data: file hashes, hub revision and fingerprints; not where the
    files lie on this machine."""
    return {k: v for k, v in provenance.items() if k not in ("path", "cache_files")}


def data_of(run: dict, task: str) -> str:
    data = (run_identity(run).get("data") or {}).get(task)
    if data is None:
        return ""
    return hashlib.sha256(json.dumps(data_key(data), sort_keys=True).encode("utf-8")).hexdigest()[:8]


def _short(value: str, n: int = 16) -> str:
    return value if len(value) <= n else value[: n - 1] + "…"


# -- the table ----------------------------------------------------------------------------------

@dataclass
class Cell:
    value: float | None
    lo: float | None = None
    hi: float | None = None
    n: int | None = None

    def text(self, ci: str = "pm") -> str:
        if self.value is None:
            return pct(None)
        if ci == "none" or self.lo is None or self.hi is None:
            return pct(self.value)
        if ci == "bounds":
            return f"{pct(self.value)} [{pct(self.lo)}, {pct(self.hi)}]"
        return f"{pct(self.value)} ± {pct((self.hi - self.lo) / 2)}"

    def to_json(self) -> dict:
        return {"score": self.value, "ci": [self.lo, self.hi] if self.lo is not None else None, "n": self.n}


@dataclass
class Column:
    task: str
    section: str | None

    @property
    def header(self) -> str:
        return self.task if self.section is None else f"{self.task}: {self.section}"


@dataclass
class Row:
    model: str
    settings: dict[str, str]
    runs: list[dict] = field(default_factory=list)
    tasks: dict[str, dict] = field(default_factory=dict)      # task -> its summary
    data: dict[str, str] = field(default_factory=dict)        # task -> data hash
    suffix: dict[str, str] = field(default_factory=dict)      # what tells this row apart
    cells: dict[str, Cell] = field(default_factory=dict)      # column header -> cell

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


@dataclass
class Board:
    columns: list[Column]
    rows: list[Row]

    @property
    def headers(self) -> list[str]:
        return [c.header for c in self.columns]

    def column(self, name: str) -> str:
        """The header a --sort argument names: 'model', a header, or task.section; case,
        spaces and punctuation do not matter (rewardbench.chat_hard = 'rewardbench: Chat Hard')."""
        def norm(text: str) -> str:
            return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")

        want = norm(name)
        if want in ("model", "label", "name"):
            return "model"
        for h in self.headers:
            if want == norm(h):
                return h
        raise UserError(f"--sort: no column '{name}' (columns: model, {', '.join(self.headers)})")

    def sort(self, by: str | None = None) -> "Board":
        if by is None:
            first = next((c.header for c in self.columns if c.section is None), None)
            if first is None:
                self.rows.sort(key=lambda r: r.label)
                return self
            by = first
        header = self.column(by)
        if header == "model":
            self.rows.sort(key=lambda r: r.label.lower())
        else:
            self.rows.sort(key=lambda r: (r.cells[header].value is None, -(r.cells[header].value or 0.0), r.label))
        return self

    def to_json(self) -> dict:
        return {"columns": [{"header": c.header, "task": c.task, "section": c.section} for c in self.columns],
                "rows": [{"label": r.label, "model": r.model, "suffix": r.suffix,
                          "cells": {h: r.cells[h].to_json() for h in self.headers}, "details": r.details()}
                         for r in self.rows]}


def _cell(d: dict | None) -> Cell:
    if not d:
        return Cell(None)
    ci = d.get("ci") or [None, None]
    return Cell(d.get("score"), ci[0], ci[1], d.get("n"))


def build_board(runs: list[dict]) -> Board:
    sections: dict[str, list[str]] = {}  # task -> its sections, both in first-seen order
    for run in runs:
        for task, t in (run["summary"].get("tasks") or {}).items():
            secs = sections.setdefault(task, [])
            secs.extend(s for s in (t.get("sections") or {}) if s not in secs)
    columns = [c for task, secs in sections.items() for c in [Column(task, None)] + [Column(task, s) for s in secs]]

    rows: list[Row] = []
    for run in runs:
        model = str(run["summary"].get("model") or run_identity(run).get("model") or "?")
        settings = settings_of(run)
        tasks = run["summary"].get("tasks") or {}
        home = next((r for r in rows if r.model == model and r.settings == settings
                     and not set(r.tasks) & set(tasks)), None)
        if home is None:
            home = Row(model, settings)
            rows.append(home)
        home.runs.append(run)
        for task, t in tasks.items():
            home.tasks[task] = t
            home.data[task] = data_of(run, task)
    _label(rows)
    for row in rows:
        for c in columns:
            t = row.tasks.get(c.task)
            row.cells[c.header] = _cell(None if t is None else t if c.section is None
                                        else (t.get("sections") or {}).get(c.section))
    return Board(columns, rows)


_DEFAULTISH = ("null", "{}", "[]", "")


def _is_default(key: str, value: str) -> bool:
    """Is this the value ``rmbench run`` uses when the setting is not given?"""
    from rmbench.config import RunConfig

    defaults = _flatten({k: v for k, v in RunConfig(model="", tasks=[]).identity().items() if k not in _NOT_SETTINGS})
    return value in _DEFAULTISH or defaults.get(key) == value


def _label(rows: list[Row]) -> None:
    """Give rows of the same model a suffix naming the settings in which they differ (values
    other than the defaults); rows that still look alike get their data's hash when their data
    differs, then their run directory's name."""
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


# -- text formats -------------------------------------------------------------------------------

def leaderboard_rows(runs: list[dict]) -> tuple[list[str], list[list[Any]]]:
    """One row per model (and settings): its label, then each task's score and its sections."""
    board = build_board(runs).sort()
    return ["model"] + board.headers, [[r.label] + [r.cells[h].value for h in board.headers] for r in board.rows]


def markdown_cells(board: Board, ci: str = "pm") -> tuple[list[str], list[list[str]]]:
    headers = ["model"] + [md_escape(h) for h in board.headers]
    return headers, [[md_escape(r.label)] + [r.cells[h].text(ci) for h in board.headers] for r in board.rows]


def markdown_table_of(board: Board, ci: str = "pm") -> str:
    from tabulate import tabulate

    headers, cells = markdown_cells(board, ci)
    return tabulate(cells, headers=headers, tablefmt="github", disable_numparse=True)


def markdown_table(runs: list[dict], ci: str = "pm") -> str:
    return markdown_table_of(build_board(runs).sort(), ci)


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


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
        "|": r"\textbar{}"}


def tex_escape(text: Any) -> str:
    s = " ".join(_ANSI.sub("", str(text)).split())
    return "".join(_TEX.get(ch, ch) for ch in s)


def to_latex(board: Board, ci: str = "pm") -> str:
    def cell(c: Cell) -> str:
        if c.value is None:
            return "--"
        if ci != "none" and c.lo is not None and c.hi is not None:
            if ci == "bounds":
                return f"{pct(c.value)} [{pct(c.lo)}, {pct(c.hi)}]"
            return f"{pct(c.value)} $\\pm$ {pct((c.hi - c.lo) / 2)}"
        return pct(c.value)

    lines = [r"\begin{tabular}{l" + "r" * len(board.columns) + "}", r"\toprule",
             " & ".join(["Model"] + [tex_escape(h) for h in board.headers]) + r" \\", r"\midrule"]
    for r in board.rows:
        lines.append(" & ".join([tex_escape(r.label)] + [cell(r.cells[h]) for h in board.headers]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


# -- templates ----------------------------------------------------------------------------------

def _environment(autoescape: bool):
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(autoescape=autoescape, undefined=StrictUndefined, keep_trailing_newline=True,
                               trim_blocks=True, lstrip_blocks=True)
    env.filters.update(md=md_escape, pct=pct, tex=tex_escape)
    return env


def template_context(board: Board, ci: str = "pm") -> dict:
    """What a leaderboard template sees (plain data only)."""
    data = board.to_json()
    for row in data["rows"]:
        row["text"] = {h: _cell(row["cells"][h]).text(ci) for h in board.headers}
    return {"columns": data["columns"], "headers": board.headers, "rows": data["rows"],
            "table": markdown_table_of(board, ci), "ci_style": ci, "level": 0.95}


def render_template(source: str, board: Board, ci: str = "pm", name: str = "template", autoescape: bool = False) -> str:
    from jinja2 import TemplateError

    try:
        tpl = _environment(autoescape).from_string(source)
        return tpl.render(**template_context(board, ci))
    except TemplateError as e:
        raise UserError(f"{name}: template error: {e}") from None


def builtin_template(name: str) -> str:
    return (Path(__file__).resolve().parent / "templates" / name).read_text(encoding="utf-8")


def render(board: Board, fmt: str = "md", ci: str = "pm", template: str | None = None,
           title: str = "rmbench leaderboard") -> str:
    """The leaderboard as text in ``fmt``; ``template`` (a .j2 file) replaces the built-in one
    (sandboxed; HTML-escaped when its name ends in .html.j2 or .htm.j2)."""
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
        return render_template(source, board, ci, name=p.name, autoescape=p.name.endswith((".html.j2", ".htm.j2")))
    if fmt == "md":
        return render_template(builtin_template("leaderboard.md.j2"), board, ci, name="leaderboard.md.j2").rstrip() + "\n"
    if fmt == "csv":
        return to_csv(board)
    if fmt == "latex":
        return to_latex(board, ci)
    if fmt == "json":
        return json.dumps(board.to_json(), indent=2, ensure_ascii=False) + "\n"
    from rmbench.reports.html import html_page

    return html_page(board, title=title, ci=ci)
