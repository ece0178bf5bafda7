"""Task specs: one validated YAML file per task in tasks/."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rmbench import registry
from rmbench.errors import UserError

# libyaml's safe loader where PyYAML was built with it (the same documents, about ten times faster)
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_KNOWN_KEYS = {"name", "version", "description", "source", "demo", "schema", "fields", "scoring",
               "metric", "options", "citation", "size", "protocol", "include", "leaderboard"}
_LAYOUT_KEYS = {"title", "columns", "sort"}
_COLUMN_KEYS = {"name", "metric", "optional"}


@dataclass(frozen=True)
class Source:
    hub: str | None = None
    config: str | None = None
    split: str = "train"
    revision: str | None = None
    splits: tuple[str, ...] = ()  # several splits of one hub dataset (e.g. pref-test-sets)
    data_files: str | tuple[str, ...] | None = None  # which files of the hub repo to read (e.g. RM-Bench)
    hint: str | None = None  # where to get the data when there is no hub copy (shown in the error)
    # one hub dataset per subset (e.g. PPE's five best-of-K sets): {subset: hub id}; a task option
    # ``subsets`` picks which are read
    hubs: tuple[tuple[str, str], ...] = ()
    # a file published outside the hub (e.g. PandaLM's test set on GitHub), pinned by its sha256
    url: str | None = None
    sha256: str | None = None

    def describe(self) -> str:
        """Where the data comes from, in one line (``rmbench tasks``)."""
        if self.hubs:
            ids = [h for _, h in self.hubs]
            head = os.path.commonprefix(ids)
            tail = os.path.commonprefix([i[len(head):][::-1] for i in ids])[::-1]
            middles = [i[len(head):len(i) - len(tail)] for i in ids]
            return f"{head}{{{','.join(middles)}}}{tail} ({self.split})" if len(ids) > 1 else f"{ids[0]} ({self.split})"
        if self.hub:
            return f"{self.hub} ({','.join(self.splits) or self.split})"
        if self.url:
            return self.url
        return "--data-path only"


@dataclass(frozen=True)
class LayoutColumn:
    """One leaderboard column: its header and where its value comes from. ``metrics`` holds the
    alternatives in order, each (task, metric name): task None is this task, a name is what
    rmbench/scoring/metrics.py calls a metric (``score``, a section, an extra metric, ``S.U``)."""
    name: str
    metrics: tuple[tuple[str | None, str], ...]
    optional: bool = False  # left out when no row has a value


@dataclass(frozen=True)
class Layout:
    """A task's leaderboard table, as its YAML's ``leaderboard:`` block declares it."""
    title: str
    columns: tuple[LayoutColumn, ...]
    sort: str | None = None  # the column rows are ranked by (default: the one showing ``score``)


@dataclass(frozen=True)
class TaskSpec:
    name: str
    version: int
    description: str
    source: Source
    schema: str
    scoring: str
    metric: str
    path: Path
    demo: str | None = None
    size: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    protocol: dict[str, Any] = field(default_factory=dict)
    leaderboard: Layout | None = None

    def option(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)

    def choices(self, key: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
        """A task option naming some of ``allowed`` (a list, or a string split on ``,``, ``|`` or
        ``+``), case-blind, in the order given; unknown names and empty selections are errors."""
        raw: Any = self.option(key, list(allowed))
        if raw is None:
            return allowed
        if isinstance(raw, str):
            items = [s.strip() for s in re.split(r"[,|+]", raw)]
        else:
            items = [str(s).strip() for s in raw]
        by_low = {a.lower(): a for a in allowed}
        out = []
        for item in items:
            if not item:
                continue
            if item.lower() not in by_low:
                raise UserError(f"task '{self.name}': option {key}={item!r} is not one of {', '.join(allowed)}")
            out.append(by_low[item.lower()])
        if not out:
            raise UserError(f"task '{self.name}': option {key} selects nothing")
        return tuple(dict.fromkeys(out))


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    except (OSError, yaml.YAMLError) as e:
        raise UserError(f"task file {path.name} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise UserError(f"task file {path.name} must hold a mapping")
    parent = data.pop("include", None)
    if parent:
        base = _read_yaml(path.parent / f"{parent}.yaml") if not str(parent).endswith(".yaml") else _read_yaml(path.parent / parent)
        base_options = dict(base.get("options") or {})
        base.update(data)
        if isinstance(data.get("options"), dict):  # options merge key by key; other keys replace
            base["options"] = {**base_options, **data["options"]}
        data = base
    return data


def _data_files(value: Any) -> str | tuple[str, ...] | None:
    if value is None or isinstance(value, str):
        return value
    return tuple(str(v) for v in value)


def _text(value: Any, what: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{where}: {what} must be a non-empty string")
    return value.strip()


def _known_keys(block: dict, known: set[str] | frozenset[str], where: str) -> None:
    unknown = set(block) - set(known)
    if unknown:
        raise UserError(f"{where}: unknown keys {', '.join(sorted(map(str, unknown)))} "
                        f"(known: {', '.join(sorted(known))})")


def parse_layout(block: Any, where: str) -> Layout:
    """Validate a ``leaderboard:`` block: ``title`` (optional), ``columns`` (a list of
    ``{name, metric, optional}``; ``metric`` is a metric name or a list of alternatives, each
    optionally ``OTHER-TASK:NAME``), ``sort`` (optional, a column's name)."""
    where = f"{where}: leaderboard"
    if not isinstance(block, dict):
        raise UserError(f"{where} must be a mapping with 'columns' (and optionally 'title', 'sort')")
    _known_keys(block, _LAYOUT_KEYS, where)
    cols = block.get("columns")
    if not isinstance(cols, list) or not cols:
        raise UserError(f"{where}: 'columns' must be a non-empty list of {{name, metric}} mappings")
    columns: list[LayoutColumn] = []
    for k, col in enumerate(cols, 1):
        at = f"{where}: column {k}"
        if not isinstance(col, dict):
            raise UserError(f"{at} must be a mapping like {{name: Chat, metric: Chat}}")
        _known_keys(col, _COLUMN_KEYS, at)
        name = _text(col.get("name"), "'name'", at)
        refs = col.get("metric")
        refs = [refs] if isinstance(refs, str) else refs
        if not isinstance(refs, list) or not refs:
            raise UserError(f"{at} ({name}): 'metric' must be a metric name or a list of them")
        alts: list[tuple[str | None, str]] = []
        for ref in refs:
            ref = _text(ref, "'metric'", f"{at} ({name})")
            task, sep, metric = ref.partition(":")
            if sep and (not task.strip() or not metric.strip()):
                raise UserError(f"{at} ({name}): metric '{ref}' must be NAME or TASK:NAME")
            alts.append((task.strip(), metric.strip()) if sep else (None, ref))
        optional = col.get("optional", False)
        if not isinstance(optional, bool):
            raise UserError(f"{at} ({name}): 'optional' must be true or false")
        if any(c.name.lower() == name.lower() for c in columns):
            raise UserError(f"{at}: two columns are named '{name}'")
        columns.append(LayoutColumn(name, tuple(alts), optional))
    title = _text(block["title"], "'title'", where) if "title" in block else ""
    sort = block.get("sort")
    if sort is not None:
        sort = _text(sort, "'sort'", where)
        if not any(c.name.lower() == sort.lower() for c in columns):
            raise UserError(f"{where}: sort '{sort}' names no column ({', '.join(c.name for c in columns)})")
    return Layout(title, tuple(columns), sort)


def parse_spec(path: Path) -> TaskSpec:
    data = _read_yaml(path)
    _known_keys(data, _KNOWN_KEYS, f"task file {path.name}")
    for key in ("name", "schema", "scoring"):
        if key not in data:
            raise UserError(f"task file {path.name}: missing required key '{key}'")
    src = data.get("source") or {}
    if not isinstance(src, dict):
        raise UserError(f"task file {path.name}: 'source' must be a mapping")
    hubs = src.get("hubs") or {}
    if not isinstance(hubs, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in hubs.items()):
        raise UserError(f"task file {path.name}: 'source.hubs' must map subset names to hub ids")
    source = Source(hub=src.get("hub"), config=src.get("config"), split=src.get("split", "train"),
                    revision=src.get("revision"), splits=tuple(src.get("splits") or ()),
                    data_files=_data_files(src.get("data_files")), hint=src.get("hint"),
                    hubs=tuple(hubs.items()), url=src.get("url"), sha256=src.get("sha256"))
    return TaskSpec(
        name=str(data["name"]), version=int(data.get("version", 1)), description=str(data.get("description", "")).strip(),
        source=source, schema=str(data["schema"]), scoring=str(data["scoring"]), metric=str(data.get("metric", "")),
        path=path, demo=data.get("demo"), size=data.get("size"), fields=dict(data.get("fields") or {}),
        options=dict(data.get("options") or {}), protocol=dict(data.get("protocol") or {}),
        leaderboard=parse_layout(data["leaderboard"], f"task file {path.name}") if "leaderboard" in data else None,
    )


def get_spec(name: str) -> TaskSpec:
    return parse_spec(registry.task_file(name))


def all_specs() -> list[TaskSpec]:
    return [parse_spec(p) for p in registry.task_files().values()]


def _list_option(spec: TaskSpec, key: str, value: Any, default: list | tuple) -> list:
    """A list option from the command line: ``a+b+c`` (or a list), each item of the kind the
    default's items are. A list of numbers is a vector (``prior_weights=2+2+2+2+1``): it keeps the
    default's length and every item must be a finite number."""
    import math
    import re

    items = [s.strip() for s in re.split(r"[+|]", value)] if isinstance(value, str) else list(value)
    items = [x for x in items if x != ""]
    if not items:
        raise UserError(f"task '{spec.name}': option '{key}' is empty")
    numeric = bool(default) and all(isinstance(d, (int, float)) and not isinstance(d, bool) for d in default)
    if not numeric:
        return [str(x) for x in items]
    out = []
    for x in items:
        try:
            v = float(x) if not isinstance(x, (int, float)) or isinstance(x, bool) else x
        except ValueError:
            v = None
        if v is None or isinstance(v, bool) or not math.isfinite(v):
            raise UserError(f"task '{spec.name}': option '{key}' takes numbers (like {'+'.join(map(str, default))}), "
                            f"not '{x}'")
        out.append(int(v) if float(v).is_integer() and all(isinstance(d, int) for d in default) else v)
    if len(out) != len(default):  # a numeric list is a vector with one entry per position (e.g. weights)
        raise UserError(f"task '{spec.name}': option '{key}' needs {len(default)} numbers, got {len(out)}")
    return out


def apply_task_args(spec: TaskSpec, task_args: dict[str, Any] | None) -> TaskSpec:
    """Overlay ``--task-args`` on a task's options. Only options the task's YAML declares can be
    set, and a value must have the declared option's kind (a list option also takes a string
    such as ``a+b``, split by the schema); anything else is a one-line error."""
    for key, value in (task_args or {}).items():
        if key not in spec.options:
            known = ", ".join(sorted(k for k, v in spec.options.items() if not isinstance(v, dict))) or "none"
            raise UserError(f"task '{spec.name}' has no option '{key}' (settable options: {known})")
        default = spec.options[key]
        if isinstance(default, dict):
            raise UserError(f"task '{spec.name}': option '{key}' holds scoring constants and cannot be set from the command line")
        if isinstance(default, (list, tuple)):
            value = _list_option(spec, key, value, default)
            ok = True
        elif isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, (int, float)):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif isinstance(default, str):
            ok = isinstance(value, str)
        else:
            ok = True
        if not ok:
            raise UserError(f"task '{spec.name}': option '{key}={value}' must be like the default ({default!r})")
        spec.options[key] = value
    return spec
