"""Flat preference pairs: one prompt, one chosen and one rejected response per row.

RewardBench's ``filtered`` split and ``pref-test-sets`` use it; the column names come from the
task's ``fields`` mapping, so any similar local file works too.
"""

from __future__ import annotations

from pathlib import Path

from rmbench.tasks.schemas._common import count, id_text, messages, need, text
from rmbench.tasks.spec import TaskSpec
from rmbench.types import Example


def convert(row: dict, spec: TaskSpec, index: int, path: Path | None, notes: dict) -> Example:
    f = {"id": "id", "prompt": "prompt", "chosen": "chosen", "rejected": "rejected", "subset": "subset", **spec.fields}
    msgs = messages(need(row, f["prompt"], spec, index), f["prompt"], spec, index)
    raw_chosen, raw_rejected = need(row, f["chosen"], spec, index), need(row, f["rejected"], spec, index)
    subset = row.get(f["subset"]) or spec.option("default_subset") or spec.name
    ident = row.get(f["id"])
    ident = f"{subset}/{index}" if ident is None else id_text(ident, f["id"], spec, index)
    if raw_chosen is None or raw_rejected is None:
        # a null (or, in a file whose other rows have it, absent) response: the pair cannot be
        # judged; skip it and count it, rather than score it against an empty string
        count(notes, "skipped_missing_response", ident)
        return None
    chosen = text(raw_chosen, f["chosen"], spec, index)
    rejected = text(raw_rejected, f["rejected"], spec, index)
    meta = {k: row[k] for k in ("chosen_model", "rejected_model") if row.get(k) is not None}
    return Example(id=ident, task=spec.name, subset=str(subset), messages=msgs, candidates=(chosen, rejected),
                   preferred=(0,), meta=meta)
