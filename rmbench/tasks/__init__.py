"""Tasks: hub or local files -> ``Example``s, one schema module per dataset layout."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from rmbench.errors import RowError, UserError
from rmbench.tasks.spec import Source, TaskSpec, all_specs, get_spec
from rmbench.types import Example

__all__ = ["TaskData", "TaskSpec", "all_specs", "get_spec", "load_task", "memory_task", "select"]

#: how in-memory examples under a name that is not a registered task are scored
GENERIC_SCORING = "bon"


@dataclass
class TaskData:
    spec: TaskSpec
    examples: list[Example]
    provenance: dict[str, Any]
    notes: dict[str, Any] = field(default_factory=dict)  # data quirks, counted


def data_key(provenance: dict) -> dict:
    """What identifies a task's data: file hashes, hub revision and fingerprints; not where the
    files lie on this machine (shards of one job array may read node-local copies)."""
    return {k: v for k, v in provenance.items() if k not in ("path", "cache_files")}


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
    if demo:
        rows, prov = sources.iter_demo_rows(spec)
    elif data_path:
        rows, prov = sources.iter_local_rows(spec, data_path)
    elif spec.source.url and not spec.source.hub:
        rows, prov = sources.iter_url_rows(spec)
    else:
        rows, prov = sources.iter_hub_rows(spec)
    extra = {"seed": seed} if getattr(mod, "SEEDED", False) else {}
    notes: dict[str, Any] = {}
    examples: list[Example] = []
    wheres: list[Any] = []
    for index, (row, where) in enumerate(rows):
        try:
            ex = mod.convert(row, spec, index=index, path=where.path, notes=notes, **extra)
        except RowError as e:
            raise UserError(f"task '{spec.name}': {where}: {e}") from None
        if ex is None:
            continue
        examples.append(ex)
        wheres.append(where)
    examples = _unique_ids(spec, examples, wheres, notes)
    if not examples:
        skipped = ", ".join(f"{k}: {v['count']}" for k, v in notes.items() if isinstance(v, dict) and "count" in v)
        raise UserError(f"task '{spec.name}': the dataset has no examples" + (f" (rows skipped: {skipped})" if skipped else ""))
    return TaskData(spec=spec, examples=examples, provenance=prov, notes=notes)


def _unique_ids(spec: TaskSpec, examples: list[Example], wheres: list[Any], notes: dict) -> list[Example]:
    """Ids are kept as written. Where the same id stands in different subsets (splits or files
    that each count from 0, as some hub datasets do), every id of the task becomes SUBSET/ID, a
    rule that depends only on the data and is noted in the summary; the same id twice within one
    subset is an error naming both places."""
    def first_duplicate(exs: list[Example]) -> tuple[int, int] | None:
        seen: dict[str, int] = {}
        for k, ex in enumerate(exs):
            if ex.id in seen:
                return seen[ex.id], k
            seen[ex.id] = k
        return None

    dup = first_duplicate(examples)
    if dup is None:
        return examples
    a, b = dup
    if examples[a].subset != examples[b].subset:
        qualified = [ex if ex.id.startswith(ex.subset + "/") else dataclasses.replace(ex, id=f"{ex.subset}/{ex.id}")
                     for ex in examples]
        again = first_duplicate(qualified)
        if again is None:
            notes["ids_qualified_by_subset"] = {
                "count": len(examples), "why": f"id '{examples[a].id}' stands in subsets '{examples[a].subset}' "
                                               f"and '{examples[b].subset}'; every id is written SUBSET/ID"}
            return qualified
        a, b = again
        examples = qualified
    raise UserError(f"task '{spec.name}': {wheres[b]}: duplicate example id '{examples[b].id}' (first at {wheres[a]})")


# -- in-memory examples (the Python API) -----------------------------------------------------------

def generic_spec(name: str) -> TaskSpec:
    """The spec of in-memory examples under a name that is no registered task: scored as
    best-of-N accuracy (a pair is best-of-2), with the oracle and random-pick references."""
    return TaskSpec(name=name, version=1, description="in-memory examples", source=Source(), schema="memory",
                    scoring=GENERIC_SCORING, metric="accuracy of the judge's pick (a pair is best-of-2)",
                    path=Path("<memory>"))


def _check_example(name: str, k: int, ex: Any) -> None:
    where = f"examples['{name}'][{k}]"
    if not isinstance(ex, Example):
        raise UserError(f"{where} is a {type(ex).__name__}, not an rmbench.Example")
    if not isinstance(ex.id, str) or not ex.id:
        raise UserError(f"{where}: id must be a non-empty string")
    msgs = ex.messages
    if not isinstance(msgs, (list, tuple)) or not msgs or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in msgs):
        raise UserError(f"{where} (id '{ex.id}'): messages must be a non-empty list of {{role, content}} strings")
    if not isinstance(ex.candidates, (list, tuple)) or len(ex.candidates) < 2 or \
            not all(isinstance(c, str) for c in ex.candidates):
        raise UserError(f"{where} (id '{ex.id}'): candidates must be two or more strings")
    pref = ex.preferred
    if not isinstance(pref, (list, tuple)) or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(ex.candidates) for i in pref) \
            or len(set(pref)) != len(pref):
        raise UserError(f"{where} (id '{ex.id}'): preferred must list distinct candidate indices "
                        f"(0 to {len(ex.candidates) - 1})")
    if not pref or len(pref) == len(ex.candidates):
        # with every candidate (or none) preferred there is nothing to get right or wrong
        raise UserError(f"{where} (id '{ex.id}'): preferred must name at least one candidate and leave at "
                        "least one out")
    if not isinstance(ex.subset, str):
        raise UserError(f"{where} (id '{ex.id}'): subset must be a string")
    for key in ("labels", "meta"):
        value = getattr(ex, key)
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise UserError(f"{where} (id '{ex.id}'): {key} must be a mapping with string keys")
        try:
            json.dumps(dict(value), allow_nan=False)
        except (TypeError, ValueError) as e:
            raise UserError(f"{where} (id '{ex.id}'): {key} must hold JSON values (it is written into the "
                            f"records): {e}") from None
    try:  # a lone surrogate ("\ud800") cannot be written as UTF-8: records, cache keys, prompts
        json.dumps([ex.id, ex.subset, list(msgs), list(ex.candidates), dict(ex.labels), dict(ex.meta)],
                   ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise UserError(f"{where} (id {ex.id!r}): not valid Unicode text (a lone surrogate such as "
                        "\\ud800)") from None


def memory_task(name: str, examples: Sequence[Example], task_args: dict | None = None) -> TaskData:
    """A task from in-memory examples, scored with the generic best-of-N accuracy (a pair is
    best-of-2). A registered task's name is refused: that task's scoring reads labels and a
    layout its own rows carry, and examples built by hand would be scored by rules they may not
    fit (a silently wrong number); its rows in a file go through ``data_path`` instead."""
    from rmbench import registry

    if not isinstance(name, str) or not name or "/" in name:
        raise UserError(f"task name {name!r} must be a plain non-empty string")
    if name in registry.task_files():
        raise UserError(f"in-memory examples cannot be named '{name}', a registered task (its scoring reads the "
                        f"task's own rows): pick another name for best-of-N accuracy, or write the rows in "
                        f"{name}'s format to a file and pass data_path=")
    if task_args:
        raise UserError(f"task_args apply to registered tasks; in-memory examples ('{name}') take none")
    spec = generic_spec(name)
    if isinstance(examples, (str, bytes)) or not isinstance(examples, Sequence) or not examples:
        raise UserError(f"examples['{name}'] must be a non-empty list of rmbench.Example")
    out, seen = [], set()
    for k, ex in enumerate(examples):
        _check_example(name, k, ex)
        if ex.id in seen:
            raise UserError(f"examples['{name}'][{k}]: duplicate example id '{ex.id}'")
        seen.add(ex.id)
        out.append(dataclasses.replace(ex, task=name, subset=ex.subset or name,
                                       messages=tuple(dict(m) for m in ex.messages),
                                       candidates=tuple(ex.candidates), preferred=tuple(ex.preferred)))
    blob = json.dumps([[e.id, e.subset, list(e.messages), list(e.candidates), list(e.preferred),
                        dict(e.labels), dict(e.meta)] for e in out], sort_keys=True, ensure_ascii=False)
    provenance = {"kind": "memory", "examples": len(out), "sha256": hashlib.sha256(blob.encode("utf-8")).hexdigest()}
    return TaskData(spec=spec, examples=out, provenance=provenance)
