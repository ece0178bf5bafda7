"""JudgeBench (ScalerLab/JudgeBench): response pairs where exactly one answer is objectively correct.

Rows, as in the hub dataset and the repository's ``data/*.jsonl``: ``pair_id``, ``original_id``
(an int for MMLU-Pro questions, null for the others), ``source`` (``mmlu-pro-<subject>``,
``livebench-reasoning``, ``livebench-math``, ``livecodebench``), ``question``, ``response_model``,
``response_A``, ``response_B`` and ``label`` (``"A>B"`` or ``"B>A"``).

The category is mapped from ``source`` by prefix, as the official ``run_judge.py`` (``main``)
filters with ``source.startswith(...)``: mmlu-pro -> knowledge, livebench-reasoning -> reasoning,
livebench-math -> math, livecodebench -> coding; any other source is kept (it counts in the
official overall) under ``other`` and noted.

The ``split`` option picks the hub split (``gpt``: 350 pairs answered by GPT-4o, ``claude``: 270 by
Claude-3.5-Sonnet). Local files carry no split, so a row's ``response_model`` tells it: rows of
the other split's model are skipped and counted; rows of any other model are kept and noted.
Response A is candidate 0; the label travels in ``Example.meta``.
"""

from __future__ import annotations

from pathlib import Path

from rmbench.errors import RowError, UserError
from rmbench.tasks.schemas._common import count, messages, need, text
from rmbench.tasks.spec import TaskSpec
from rmbench.types import Example

SPLITS = ("gpt", "claude")
RESPONSE_MODELS = {"gpt-4o-2024-05-13": "gpt", "claude-3-5-sonnet-20240620": "claude"}
CATEGORIES = (("mmlu-pro", "knowledge"), ("livebench-reasoning", "reasoning"), ("livebench-math", "math"),
              ("livecodebench", "coding"))
OTHER = "other"
LABELS = ("A>B", "B>A")


def category(source: str) -> str:
    for prefix, name in CATEGORIES:
        if source.startswith(prefix):
            return name
    return OTHER


def split_of(spec: TaskSpec) -> str:
    chosen = spec.choices("split", SPLITS)
    if len(chosen) != 1:
        raise UserError(f"task '{spec.name}': option split takes one of {', '.join(SPLITS)} (the authors score "
                        "each split on its own)")
    return chosen[0]


def convert(row: dict, spec: TaskSpec, index: int, path: Path | None, notes: dict) -> Example | None:
    split = split_of(spec)
    model = row.get("response_model")
    ident = text(need(row, "pair_id", spec, index), "pair_id", spec, index, allow_empty=False)
    if model is not None:
        if not isinstance(model, str):
            raise RowError("column 'response_model' must be text")
        row_split = RESPONSE_MODELS.get(model)
        if row_split is not None and row_split != split:
            count(notes, f"rows of the {row_split} split (skipped; --task-args split={row_split} scores them)", ident)
            return None
        if row_split is None:
            count(notes, f"rows answered by another model than the {split} split's (kept)", ident)
    source = text(need(row, "source", spec, index), "source", spec, index, allow_empty=False)
    cat = category(source)
    if cat == OTHER:
        count(notes, "sources outside the four categories (in the overall score only)", ident)
    question = text(need(row, "question", spec, index), "question", spec, index)
    a = text(need(row, "response_A", spec, index), "response_A", spec, index)
    b = text(need(row, "response_B", spec, index), "response_B", spec, index)
    label = need(row, "label", spec, index)
    if label not in LABELS:
        raise RowError(f"column 'label' must be \"A>B\" or \"B>A\", "
                        f"got {str(label)[:40]!r}")
    if a == b:
        count(notes, "pairs with identical responses", ident)
    if not a.strip() or not b.strip():
        count(notes, "empty responses", ident)
    return Example(id=ident, task=spec.name, subset=cat, messages=messages(question, "question", spec, index),
                   candidates=(a, b), preferred=(0,) if label == "A>B" else (1,),
                   meta={"label": label, "source": source})
