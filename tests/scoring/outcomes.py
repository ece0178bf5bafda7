"""Hand-made judge outcomes for scorer tests: pointwise ``Score`` lists and pairwise ``Judgment``s,
built directly (no judge) so each expected number can be worked out by hand."""

from __future__ import annotations

from rmbench.protocol import Outcome, Policy
from rmbench.types import OK, UNPARSED, Example, Judgment, Score


def example(ident: str, n: int, preferred=(0,), subset: str = "s", labels=None, task: str = "t") -> Example:
    return Example(id=ident, task=task, subset=subset, messages=({"role": "user", "content": "q"},),
                   candidates=tuple(f"c{i}" for i in range(n)), preferred=tuple(preferred), labels=labels or {})


def pointwise(ex: Example, values, on_failure: str = "loss") -> Outcome:
    """One score per candidate; ``None`` makes that candidate's score a failure."""
    scores = [[Score(i, 0, v) if v is not None else Score(i, 0, None, UNPARSED)] for i, v in enumerate(values)]
    return Outcome(ex, Policy(on_failure=on_failure), scores=scores)


def rated(ex: Example, values, expected, policy: Policy | None = None) -> Outcome:
    """One sampled rating per candidate with its ``expected`` rating (the probability-weighted
    one; None: not recorded)."""
    scores = []
    for c, (v, e) in enumerate(zip(values, expected, strict=True)):
        s = Score(c, 0, v)
        if e is not None:
            s.expected = e
        scores.append([s])
    return Outcome(ex, policy or Policy(), scores=scores)


def pairwise(ex: Example, winners: dict, on_failure: str = "loss") -> Outcome:
    """``winners[(i, j)]`` = the winner of pair (i, j) shown in order i-first then j-first, as a
    tuple of two winners (both orders) or one (fixed order); ``None`` is an unparsed judgment."""
    judgments = {}
    for (i, j), ws in winners.items():
        ws = ws if isinstance(ws, tuple) else (ws,)
        orders = [(i, j), (j, i)][: len(ws)]
        judgments[(i, j)] = [Judgment(a, b, 0, OK if w is not None else UNPARSED, winner=w)
                             for (a, b), w in zip(orders, ws, strict=True)]
    return Outcome(ex, Policy(on_failure=on_failure), judgments=judgments)


def record(ex: Example, result: dict) -> dict:
    rec = {"task": ex.task, "id": ex.id, "subset": ex.subset, "result": result}
    if ex.labels:
        rec["labels"] = dict(ex.labels)
    return rec
