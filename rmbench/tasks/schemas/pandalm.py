"""The PandaLM human-annotated test set (WeOpenML/PandaLM, ``data/testset-v1.json``).

A JSON array; each row has ``idx``, ``motivation_app``, ``cmp_key`` (the two answering models),
``instruction``, ``input`` (often empty), ``response1``, ``response2`` and three annotators'
labels ``annotator1``..``annotator3``: 1 = response 1 is better, 2 = response 2 is better,
0 = they are about equally good. (The repository's README shows an older spelling, ``index`` and
``label_0``..``label_2`` as strings; both are read.)

Gold is the label at least two annotators gave (PandaLM's majority; every row of the published file
has one, giving 105 ties, 422 "1" and 472 "2"); a row whose three labels all differ has no gold and
is skipped, counted in the notes. The conversation is the instruction, then the input after a
blank line when there is one. Response 1 is candidate 0. Preferred: the better response, or both
for a tie (neither may lose); the gold label itself travels in ``Example.meta``, with the task
option ``unparsed_as_tie`` that the scorer reads (rmbench/scoring/pandalm.py).

Quirks counted: responses stored as JSON booleans (``true``; read as the text ``True``), empty
responses, identical responses.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from rmbench.errors import RowError, UserError
from rmbench.tasks.schemas._common import count, id_text, need, text
from rmbench.tasks.spec import TaskSpec
from rmbench.types import Example

LABELS = (0, 1, 2)
ANNOTATORS = (("annotator1", "annotator2", "annotator3"), ("label_0", "label_1", "label_2"))


def _label(value: Any, key: str, spec: TaskSpec, index: int) -> int:
    if isinstance(value, str) and value.strip() in ("0", "1", "2"):
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and value in LABELS:
        return int(value)
    raise RowError(f"column '{key}' must be 0, 1 or 2, got {repr(value)[:40]}")


def _response(row: dict, key: str, spec: TaskSpec, index: int, ident: str, notes: dict) -> str:
    value = need(row, key, spec, index)
    if isinstance(value, bool):
        count(notes, "responses stored as JSON booleans (read as text)", ident)
        return str(value)
    return text(value, key, spec, index)


def majority(labels: list[int]) -> int | None:
    """The label at least two of the three annotators gave; None when all three differ."""
    value, n = Counter(labels).most_common(1)[0]
    return value if n * 2 > len(labels) else None


def convert(row: dict, spec: TaskSpec, index: int, path: Path | None, notes: dict) -> Example | None:
    raw_id = row.get("idx", row.get("index"))
    ident = str(index) if raw_id is None else id_text(raw_id, "idx", spec, index)
    keys = next((ks for ks in ANNOTATORS if ks[0] in row), ANNOTATORS[0])
    labels = [_label(need(row, k, spec, index), k, spec, index) for k in keys]
    gold = majority(labels)
    if gold is None:
        count(notes, "rows whose three annotators all disagree (no gold label; skipped)", ident)
        return None
    instruction = text(need(row, "instruction", spec, index), "instruction", spec, index)
    extra = text(row.get("input"), "input", spec, index)
    prompt = instruction + ("\n\n" + extra if extra.strip() else "")
    r1 = _response(row, "response1", spec, index, ident, notes)
    r2 = _response(row, "response2", spec, index, ident, notes)
    if not r1.strip() or not r2.strip():
        count(notes, "empty responses", ident)
    if r1 == r2:
        count(notes, "identical responses", ident)
    preferred = {1: (0,), 2: (1,), 0: (0, 1)}[gold]
    return Example(id=ident, task=spec.name, subset="pandalm", messages=({"role": "user", "content": prompt},),
                   candidates=(r1, r2), preferred=preferred,
                   meta={"gold": gold, "annotators": labels, "unparsed_as_tie": _as_tie(spec)})


def _as_tie(spec: TaskSpec) -> bool:
    value = spec.option("unparsed_as_tie", True)
    if not isinstance(value, bool):
        raise UserError(f"task '{spec.name}': option unparsed_as_tie must be true or false, not {value!r}")
    return value
