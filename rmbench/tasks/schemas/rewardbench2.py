"""RewardBench 2 (allenai/reward-bench-2, split ``test``): one prompt, a list of correct
(``chosen``) and a list of incorrect (``rejected``) completions.

Candidates are the chosen completions followed by the rejected ones; every chosen one is
preferred. The five best-of-4 subsets have one chosen and three rejected; the Ties subset has ids
``ref:<prompt_id>`` (one correct answer) and ``tied:<prompt_id>`` (several), and its scorer needs
the kind and the prompt id, which go into the labels. The prompt id also names the record's
bootstrap cluster (``labels["cluster"]``): the ref and tied forms of one prompt are resampled
together, as the Ties composite compares them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rmbench.contracts import CLUSTER
from rmbench.errors import RowError
from rmbench.tasks.schemas._common import count, id_text, messages, need, text
from rmbench.tasks.spec import TaskSpec
from rmbench.types import Example

TIES = "ties"


def _completions(value: Any, key: str, spec: TaskSpec, index: int) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise RowError(f"column '{key}' must be a list of responses")
    return tuple(text(v, f"{key}[{k}]", spec, index) for k, v in enumerate(value))


def convert(row: dict, spec: TaskSpec, index: int, path: Path | None, notes: dict) -> Example | None:
    subset = str(need(row, "subset", spec, index))
    raw_id = row.get("id")
    ident = f"{subset}/{index}" if raw_id is None else id_text(raw_id, "id", spec, index)
    msgs = messages(need(row, "prompt", spec, index), "prompt", spec, index)
    chosen = _completions(need(row, "chosen", spec, index), "chosen", spec, index)
    rejected = _completions(need(row, "rejected", spec, index), "rejected", spec, index)
    if not chosen or not rejected:
        count(notes, "rows without a chosen or without a rejected completion (skipped)", ident)
        return None
    n_correct = row.get("num_correct")
    if n_correct is not None:
        try:
            differs = int(n_correct) != len(chosen)
        except (TypeError, ValueError):  # not a number: it cannot agree with the list either
            differs = True
        if differs:
            count(notes, "rows whose num_correct differs from the chosen list", ident)
    candidates = chosen + rejected
    if len(set(candidates)) < len(candidates):
        count(notes, "rows with repeated completions", ident)
    if any(not c.strip() for c in candidates):
        count(notes, "empty completions", ident)

    labels: dict[str, Any] = {}
    if subset.lower() == TIES:
        kind, sep, prompt_id = ident.partition(":")
        if not sep or kind not in ("ref", "tied") or not prompt_id:
            raise RowError(f"a Ties row has id '{ident}'; expected ref:<prompt_id> "
                            f"or tied:<prompt_id>")
        labels = {"ties_kind": kind, "prompt_id": prompt_id, CLUSTER: f"ties:{prompt_id}"}
    elif len(chosen) != 1 or len(rejected) != 3:
        count(notes, "best-of-4 rows without exactly 1 chosen and 3 rejected", ident)
    meta = {"models": list(row["models"])} if isinstance(row.get("models"), list) else {}
    return Example(id=ident, task=spec.name, subset=subset, messages=msgs, candidates=candidates,
                   preferred=tuple(range(len(chosen))), labels=labels, meta=meta)
