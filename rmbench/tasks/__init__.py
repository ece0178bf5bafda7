"""Tasks: hub or local files -> ``Example``s, one schema module per dataset layout."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rmbench.errors import UserError
from rmbench.tasks.spec import TaskSpec, all_specs, get_spec
from rmbench.types import Example

__all__ = ["TaskData", "TaskSpec", "all_specs", "get_spec", "load_task", "select"]


@dataclass
class TaskData:
    spec: TaskSpec
    examples: list[Example]
    provenance: dict[str, Any]
    notes: dict[str, Any] = field(default_factory=dict)  # data quirks, counted


def schema_module(spec: TaskSpec):
    try:
        return importlib.import_module(f"rmbench.tasks.schemas.{spec.schema}")
    except ModuleNotFoundError:
        raise UserError(f"task '{spec.name}' names unknown schema '{spec.schema}'") from None


def select(examples: list[Example], limit: int | None, shard: tuple[int, int] | None) -> list[Example]:
    """``--limit N`` keeps N evenly spaced examples (so every subset stays represented);
    ``--shard i/n`` then keeps every n-th example starting at i."""
    if limit is not None and limit < len(examples):
        step = len(examples) / limit
        examples = [examples[int(k * step)] for k in range(limit)]
    if shard is not None:
        i, n = shard
        examples = examples[i::n]
    return examples


def load_task(spec: TaskSpec, data_path: str | None = None, demo: bool = False, seed: int = 0) -> TaskData:
    """The task's examples from the hub (or ``source.url``), ``--data-path`` or the demo sample.
    ``seed`` is the run seed, handed to schemas that draw from it (``SEEDED``; e.g. PPE's
    ``k``-of-32 subsample), so that every judge run with one seed sees the same examples."""
    from rmbench.tasks import sources

    mod = schema_module(spec)
    per_file = bool(getattr(mod, "PER_FILE", False))
    if demo:
        rows, prov = sources.iter_demo_rows(spec)
    elif data_path:
        rows, prov = sources.iter_local_rows(spec, data_path, per_file=per_file)
    elif spec.source.url and not spec.source.hub:
        rows, prov = sources.iter_url_rows(spec)
    else:
        rows, prov = sources.iter_hub_rows(spec)
    extra = {"seed": seed} if getattr(mod, "SEEDED", False) else {}
    notes: dict[str, Any] = {}
    examples: list[Example] = []
    seen: set[str] = set()
    for index, (row, path) in enumerate(rows):
        ex = mod.convert(row, spec, index=index, path=Path(path) if path else None, notes=notes, **extra)
        if ex is None:
            continue
        if ex.id in seen:
            raise UserError(f"task '{spec.name}': duplicate example id '{ex.id}' in the data")
        seen.add(ex.id)
        examples.append(ex)
    if not examples:
        skipped = ", ".join(f"{k}: {v['count']}" for k, v in notes.items() if isinstance(v, dict) and "count" in v)
        raise UserError(f"task '{spec.name}': the dataset has no examples" + (f" (rows skipped: {skipped})" if skipped else ""))
    return TaskData(spec=spec, examples=examples, provenance=prov, notes=notes)
