"""RMB (Zhou-Zoey/RMB-Reward-Model-Benchmark): pairwise pairs and best-of-N lists.

The data is a folder tree ``RMB_dataset/{Pairwise_set,BoN_set}/{Helpfulness/<Category>/<Scenario>,
Harmlessness/<S1..S11|multi>}.json``, each file a JSON array. The two sets have different columns,
so the files are loaded one at a time (``PER_FILE``); a row's kind is told by its id column:

- pairwise: ``pair_uid``, ``conversation_input`` (list of ``{role, content, language}``, ends with a
  user turn), ``chosen`` and **``reject``** (each ``{llm_name, answer}``), ``category_path``;
- best-of-N: ``bon_uid``, ``conversation_input``, ``bon_best`` and ``loser_list`` (2-6
  ``{llm_name, answer}``), ``category_path``.

``category_path`` (e.g. ``Pairwise_set/Helpfulness/Chat/Discussion``) gives the goal and the
scenario; the file path is the fallback. Task options ``parts`` (pairwise, bon) and ``goals``
(Helpfulness, Harmlessness) select what is scored; other rows are skipped and counted.
Conversations stay whole message lists. Quirks (identical pair texts, empty answers, a loser equal
to the best, turns without ``language``) are counted in the task notes and the rows are kept,
scored as the official code scores them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rmbench.errors import RowError, UserError
from rmbench.tasks.schemas._common import count, id_text, messages, need, text
from rmbench.tasks.spec import TaskSpec
from rmbench.types import Example

PER_FILE = True

PAIRWISE = "pairwise"
BON = "bon"
PARTS = (PAIRWISE, BON)
GOALS = ("Helpfulness", "Harmlessness")
SET_DIRS = {"Pairwise_set": PAIRWISE, "BoN_set": BON}
AVERAGES = ("micro", "macro")


def _category(row: dict, path: Path | None) -> tuple[str, str] | None:
    """(goal, scenario) from ``category_path``, else from the file path."""
    cat = row.get("category_path")
    if isinstance(cat, str) and cat.strip():
        parts = [p for p in cat.strip().strip("/").split("/") if p]
        if parts and parts[0] in SET_DIRS:
            parts = parts[1:]
        if len(parts) >= 2:
            return parts[0], "/".join(parts[1:])
    if path is not None:
        parts = list(path.with_suffix("").parts)
        for goal in GOALS:
            if goal in parts:
                rest = parts[parts.index(goal) + 1:]
                if rest:
                    return goal, "/".join(rest)
    return None


def _answer(value: Any, key: str, spec: TaskSpec, index: int) -> tuple[str, str | None]:
    if not isinstance(value, dict) or "answer" not in value:
        raise RowError(f"column '{key}' must be an {{llm_name, answer}} object")
    return text(value.get("answer"), f"{key}.answer", spec, index), value.get("llm_name")


def _part(row: dict, spec: TaskSpec, index: int) -> str:
    if row.get("bon_uid") is not None:
        return BON
    if row.get("pair_uid") is not None:
        return PAIRWISE
    raise RowError(f"has neither 'pair_uid' (pairwise) nor 'bon_uid' (best-of-N); "
                    f"columns present: {', '.join(sorted(k for k, v in row.items() if v is not None)) or 'none'}")


def convert(row: dict, spec: TaskSpec, index: int, path: Path | None, notes: dict) -> Example | None:
    # the scorer's option, checked here too so that a typo fails before any judging
    if str(spec.option("average") or "micro").lower() not in AVERAGES:
        raise UserError(f"task '{spec.name}': option average={spec.option('average')!r} must be micro or macro")
    part = _part(row, spec, index)
    cat = _category(row, path)
    if cat is None:
        raise RowError("has no usable 'category_path' "
                        "(expected e.g. Pairwise_set/Helpfulness/Chat/Discussion)")
    goal, scenario = cat
    if part not in spec.choices("parts", PARTS):
        count(notes, f"{'best-of-N' if part == BON else 'pairwise'} rows not selected (skipped)")
        return None
    if goal in GOALS and goal not in spec.choices("goals", GOALS):
        count(notes, f"{goal} rows not selected (skipped)")
        return None

    key = "bon_uid" if part == BON else "pair_uid"
    uid = id_text(row[key], key, spec, index)
    ident = f"{part}/{uid}"
    conv = need(row, "conversation_input", spec, index)
    msgs = messages(conv, "conversation_input", spec, index)
    if isinstance(conv, list) and any(isinstance(t, dict) and t.get("language") is None for t in conv):
        count(notes, "conversations with turns missing 'language'", ident)
    if msgs[-1]["role"] != "user":
        count(notes, "conversations not ending with a user turn", ident)

    if part == PAIRWISE:
        chosen, chosen_model = _answer(need(row, "chosen", spec, index), "chosen", spec, index)
        key = "reject" if "reject" in row else "rejected"
        rejected, rejected_model = _answer(need(row, key, spec, index), key, spec, index)
        candidates = (chosen, rejected)
        if chosen == rejected:
            count(notes, "pairs whose chosen and reject answers are identical", ident)
        meta = {"chosen_model": chosen_model, "rejected_model": rejected_model}
    else:
        best, best_model = _answer(need(row, "bon_best", spec, index), "bon_best", spec, index)
        losers_raw = need(row, "loser_list", spec, index)
        if not isinstance(losers_raw, list):
            raise RowError(f"column 'loser_list' must be a list of {{llm_name, answer}} objects, "
                           f"not {type(losers_raw).__name__}")
        if not losers_raw:
            count(notes, "best-of-N lists without losers (skipped)", ident)
            return None
        losers = [_answer(v, f"loser_list[{k}]", spec, index) for k, v in enumerate(losers_raw)]
        candidates = (best, *(a for a, _ in losers))
        if any(a == best for a, _ in losers):
            count(notes, "best-of-N lists with a loser identical to the best", ident)
        if len({a for a, _ in losers}) < len(losers):
            count(notes, "best-of-N lists with repeated losers", ident)
        meta = {"models": [best_model, *(m for _, m in losers)]}
    if any(not c.strip() for c in candidates):
        count(notes, "empty answers", ident)

    return Example(id=ident, task=spec.name, subset=f"{goal}/{scenario}", messages=msgs, candidates=candidates,
                   preferred=(0,), labels={"part": part, "goal": goal, "scenario": scenario},
                   meta={k: v for k, v in meta.items() if v is not None})
