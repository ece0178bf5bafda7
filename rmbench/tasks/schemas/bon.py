"""Generic best-of-N sets (the ``bon`` task): your own data, one item per row.

A row has the conversation, either as ``messages`` (a list of ``{role, content}`` turns ending
with the user) or as a ``prompt`` string; ``responses``, the N candidates; and which of them are
right, either as ``correct`` (one boolean per response, any number true, as in PPE-style
best-of-K sets) or as ``best`` (the index of the single best response). Optional: ``id``
(default ``<subset>/<row>``) and ``subset`` (default ``bon``). The column names can be remapped
with the task's ``fields`` (``--task-args`` cannot rename columns; copy tasks/bon.yaml).

Every correct response is preferred. Rows with fewer than two responses are skipped (nothing to
choose from); rows where every response, or none, is correct are kept (the pick cannot matter,
but it still costs judge calls) and counted in the data notes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rmbench.errors import RowError
from rmbench.tasks.schemas._common import count, id_text, messages, need, text
from rmbench.tasks.spec import TaskSpec
from rmbench.types import Example

FIELDS = {"id": "id", "messages": "messages", "prompt": "prompt", "responses": "responses", "correct": "correct",
          "best": "best", "subset": "subset"}


def _flag(value: Any, key: str, spec: TaskSpec, index: int) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise RowError(f"column '{key}' must hold true/false values, got {value!r}")


def _preferred(row: dict, f: dict, n: int, spec: TaskSpec, index: int) -> tuple[int, ...]:
    flags, best = row.get(f["correct"]), row.get(f["best"])
    if flags is None and best is None:
        raise RowError(f"needs '{f['correct']}' (one true/false per response) "
                        f"or '{f['best']}' (the index of the best response)")
    if flags is not None:
        if not isinstance(flags, (list, tuple)) or len(flags) != n:
            got = f"{len(flags)} values" if isinstance(flags, (list, tuple)) else type(flags).__name__
            raise RowError(f"column '{f['correct']}' must hold one true/false per "
                            f"response ({n}), got {got}")
        preferred = tuple(k for k, v in enumerate(flags) if _flag(v, f["correct"], spec, index))
    if best is not None:
        if isinstance(best, bool) or not isinstance(best, int) or not 0 <= best < n:
            raise RowError(f"column '{f['best']}' must be a response index "
                            f"from 0 to {n - 1}, got {best!r}")
        if flags is None:
            return (best,)
        if best not in preferred:
            raise RowError(f"names response {best} as '{f['best']}' but marks it "
                            f"incorrect in '{f['correct']}'")
    return preferred


def convert(row: dict, spec: TaskSpec, index: int, path: Path | None, notes: dict) -> Example | None:
    f = {**FIELDS, **spec.fields}
    subset = str(row.get(f["subset"]) or spec.option("default_subset") or "bon")
    raw_id = row.get(f["id"])
    ident = f"{subset}/{index}" if raw_id is None else id_text(raw_id, f["id"], spec, index)
    if row.get(f["messages"]) is not None:
        msgs = messages(row[f["messages"]], f["messages"], spec, index)
    elif row.get(f["prompt"]) is not None:
        msgs = messages(text(row[f["prompt"]], f["prompt"], spec, index), f["prompt"], spec, index)
    else:
        raise RowError(f"needs '{f['messages']}' (a message list) or "
                        f"'{f['prompt']}' (text)")
    if msgs[-1]["role"] != "user":
        count(notes, "conversations not ending with a user turn", ident)
    raw = need(row, f["responses"], spec, index)
    if not isinstance(raw, (list, tuple)):
        raise RowError(f"column '{f['responses']}' must be a list of responses")
    responses = tuple(text(v, f"{f['responses']}[{k}]", spec, index) for k, v in enumerate(raw))
    if len(responses) < 2:
        count(notes, "rows with fewer than two responses (skipped)", ident)
        return None
    preferred = _preferred(row, f, len(responses), spec, index)
    if not preferred:
        count(notes, "rows with no correct response (no pick can be right)", ident)
    elif len(preferred) == len(responses):
        count(notes, "rows where every response is correct (any pick is right)", ident)
    if len(set(responses)) < len(responses):
        count(notes, "rows with repeated responses", ident)
    if any(not r.strip() for r in responses):
        count(notes, "empty responses", ident)
    return Example(id=ident, task=spec.name, subset=subset, messages=msgs, candidates=responses,
                   preferred=preferred)
