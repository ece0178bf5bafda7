"""PPE correctness best-of-K sets (lmarena-ai/PPE-{MMLU-Pro,MATH,GPQA,IFEval,MBPP-Plus}-Best-of-K).

One row per question, as the hub datasets hold it: ``question_id``, ``prompt`` (the text the
answering model was given), ``scores`` (one boolean per sampled answer: is it correct),
``response_1`` ... ``response_N`` (N = len(scores), 32 in the published sets), and, where present,
``sampled_conflict_pairs`` (index pairs of one correct and one incorrect answer, 0-based, the pairs
PPE's pairwise accuracy is measured on). Other columns (``model_name``, ``mean_score``, the source
benchmark's own fields) are ignored.

The subset (``mmlu-pro``, ``math``, ``gpqa``, ``ifeval``, ``mbpp-plus``) is the row's ``subset``
column (the hub reader sets it from the dataset it read), else the file's name or folder
(``PPE-MATH-Best-of-K/...``, ``math.parquet``). The ``subsets`` option keeps some of them.

``k`` (task option; 0 = every answer): each question keeps ``k`` of its answers, drawn from the
run seed, the task, the subset and the question id (``rmbench.seeding``), so every judge run with
one seed sees the same ``k`` answers; they keep their original order, and which ones were kept
travels in ``Example.meta`` into the record. Every correct answer kept is preferred.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rmbench.errors import RowError, UserError
from rmbench.seeding import item_rng
from rmbench.tasks.schemas._common import count, id_text, messages, need, text
from rmbench.tasks.spec import TaskSpec
from rmbench.types import Example

PER_FILE = True      # a folder of local files: the subset may come from each file's name
SEEDED = True        # convert() takes the run seed (the k-subsample)

SUBSETS = ("mmlu-pro", "math", "gpqa", "ifeval", "mbpp-plus")


def _key(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


_BY_KEY = {_key(s): s for s in SUBSETS}


def _named(name: str) -> str | None:
    """The subset a name stands for: ``math``, ``MBPP_Plus``, ``PPE-MATH-Best-of-K``."""
    return _BY_KEY.get(_key(name).removeprefix("ppe").removesuffix("bestofk"))


def subset_of(row: dict, path: Path | None, spec: TaskSpec, index: int) -> str:
    raw = row.get("subset")
    if raw is not None:
        name = _named(str(raw))
        if name is None:
            raise RowError(f"has subset {str(raw)[:40]!r}, not one of "
                            f"{', '.join(SUBSETS)}")
        return name
    if path is not None:   # the file, or one of the three folders above it, is named after the subset
        for part in [path.stem, *(p.name for p in list(path.parents)[:3])]:
            name = _named(part)
            if name is not None:
                return name
    raise RowError(f"has no 'subset' column and its file name does not name a "
                    f"subset ({', '.join(SUBSETS)}); name each file (or its folder) after its subset, e.g. "
                    "math.parquet or PPE-MATH-Best-of-K/")


def _flag(value: Any, spec: TaskSpec, index: int) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    raise RowError(f"column 'scores' must hold true/false values, got {value!r}"[:300])


def _k(spec: TaskSpec) -> int:
    k = spec.option("k", 0)
    if isinstance(k, bool) or not isinstance(k, int) or k < 0 or k == 1:
        raise UserError(f"task '{spec.name}': option k={k!r} must be 0 (every answer) or a whole number of at least 2")
    return k


def _pairs(value: Any, n: int, flags: list[bool], spec: TaskSpec, index: int, ident: str,
           notes: dict) -> list[tuple[int, int]] | None:
    if value is None:
        count(notes, "questions without sampled_conflict_pairs (pairwise accuracy over every correct/incorrect pair)",
              ident)
        return None
    if not isinstance(value, (list, tuple)):
        raise RowError("column 'sampled_conflict_pairs' must be a list of index pairs")
    out = []
    for pair in value:
        ok = isinstance(pair, (list, tuple)) and len(pair) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v < n for v in pair)
        if not ok:
            raise RowError(f"column 'sampled_conflict_pairs' holds {str(pair)[:40]!r}, "
                            f"not a pair of answer indices from 0 to {n - 1}")
        i, j = int(pair[0]), int(pair[1])
        if flags[i] == flags[j]:
            count(notes, "conflict pairs whose two answers are both correct or both wrong (left out)", ident)
            continue
        out.append((i, j) if flags[i] else (j, i))   # the correct answer first
    return out


def convert(row: dict, spec: TaskSpec, index: int, path: Path | None, notes: dict, seed: int = 0) -> Example | None:
    subset = subset_of(row, path, spec, index)
    if subset not in spec.choices("subsets", SUBSETS):
        count(notes, "rows of subsets not selected (skipped)")
        return None
    qid = row.get("question_id")
    ident = f"{subset}/{index if qid is None else id_text(qid, 'question_id', spec, index)}"
    prompt = text(need(row, "prompt", spec, index), "prompt", spec, index)
    raw_flags = need(row, "scores", spec, index)
    if not isinstance(raw_flags, (list, tuple)):
        raise RowError("column 'scores' must be a list of true/false values")
    flags = [_flag(v, spec, index) for v in raw_flags]
    n = len(flags)
    if n < 2:
        count(notes, "questions with fewer than two answers (skipped)", ident)
        return None
    answers = [text(need(row, f"response_{i + 1}", spec, index), f"response_{i + 1}", spec, index) for i in range(n)]
    if f"response_{n + 1}" in row and row[f"response_{n + 1}"] is not None:
        raise RowError(f"has more responses than 'scores' values ({n})")
    conflict = _pairs(row.get("sampled_conflict_pairs"), n, flags, spec, index, ident, notes)
    kept = list(range(n))
    k = _k(spec)
    if k and k < n:
        kept = sorted(item_rng(seed, spec.name, subset, ident, "k").sample(range(n), k))
    elif k > n:
        count(notes, f"questions with fewer than k={k} answers (all kept)", ident)
    where = {orig: pos for pos, orig in enumerate(kept)}
    preferred = tuple(pos for pos, orig in enumerate(kept) if flags[orig])
    if not any(flags):
        count(notes, "questions with no correct answer (no pick can be right)", ident)
    elif all(flags):
        count(notes, "questions where every answer is correct (any pick is right)", ident)
    elif not preferred:
        count(notes, "questions whose k answers are all wrong (no pick can be right)", ident)
    if any(not a.strip() for a in answers):
        count(notes, "empty answers", ident)
    if len(set(answers)) < n:
        count(notes, "questions with repeated answers", ident)
    meta: dict[str, Any] = {"of": n}
    if len(kept) < n:
        meta["responses"] = [orig + 1 for orig in kept]   # response_<number> columns kept
    if conflict is not None:
        meta["conflict_pairs"] = [(where[i], where[j]) for i, j in conflict if i in where and j in where]
    return Example(id=ident, task=spec.name, subset=subset, messages=messages(prompt, "prompt", spec, index),
                   candidates=tuple(answers[i] for i in kept), preferred=preferred, meta=meta)
