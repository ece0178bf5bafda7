"""Helpers shared by the schema modules: field access with clear errors, message lists."""

from __future__ import annotations

import json
from typing import Any

from rmbench.errors import RowError
from rmbench.tasks.spec import TaskSpec

ROLES = ("system", "user", "assistant")


def need(row: dict, key: str, spec: TaskSpec, index: int) -> Any:
    if key not in row:
        raise RowError(f"missing column '{key}' "
                        f"(columns present: {', '.join(sorted(map(str, row))) or 'none'})")
    return row[key]


def text(value: Any, key: str, spec: TaskSpec, index: int, allow_empty: bool = True) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise RowError(f"column '{key}' must be text, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise RowError(f"column '{key}' is empty")
    return value


def messages(value: Any, key: str, spec: TaskSpec, index: int) -> tuple[dict, ...]:
    """A prompt as a message list: a string becomes one user message; a list of
    ``{role, content}`` dicts is kept whole (extra keys such as ``language`` are dropped)."""
    if isinstance(value, str):
        return ({"role": "user", "content": value},)
    if isinstance(value, (list, tuple)) and value:
        out = []
        for turn in value:
            if not isinstance(turn, dict) or "role" not in turn or "content" not in turn:
                raise RowError(f"column '{key}' must be a list of {{role, content}} messages")
            role = str(turn["role"]).lower()
            if role == "human":
                role = "user"
            if role in ("gpt", "bot", "model"):
                role = "assistant"
            if role not in ROLES:
                raise RowError(f"column '{key}' has unknown role '{turn['role']}'")
            out.append({"role": role, "content": "" if turn["content"] is None else str(turn["content"])})
        return tuple(out)
    raise RowError(f"column '{key}' must be text or a message list")


def id_text(value: Any, key: str, spec: TaskSpec, index: int) -> str:
    """An example id as written in the file: a string as it is, a number or boolean in its JSON
    spelling (``3.5``, ``true``; never Python's ``True``); a list or object is refused."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return json.dumps(value)
    raise RowError(f"'{key}' must be a string or a number, not {type(value).__name__}")


def count(notes: dict, key: str, ident: str | None = None, keep: int = 20) -> None:
    """Count a data quirk in the task's notes, listing the first few ids."""
    entry = notes.setdefault(key, {"count": 0, "ids": []})
    entry["count"] += 1
    if ident is not None and len(entry["ids"]) < keep:
        entry["ids"].append(ident)
