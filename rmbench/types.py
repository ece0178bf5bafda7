"""Frozen data passed along the pipeline. Imports nothing from rmbench.

tasks produce ``Example``s; protocol turns them into ``Comparison``s; judges return
``Judgment``s (pairwise), ``Score``s (pointwise) or ``Pick``s (listwise: one candidate named
out of all of them); scoring reads per-example ``Outcome``s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

# Judgment statuses. "ok" carries a verdict; "tie" is an explicit tie verdict (the template
# declares a tie label and the judge gave it; ``winner`` is None): not a failure, reported as a
# tie rate and scored as each benchmark's official script scores a tie. Every other status is a
# failure that is counted separately and scored according to the run's failure policy.
OK = "ok"
TIE = "tie"
UNPARSED = "unparsed"
TRUNCATED = "truncated"
REFUSED = "refused"
EMPTY = "empty"
API_ERROR = "api_error"
TOO_LONG = "too_long"
STATUSES = (OK, TIE, UNPARSED, TRUNCATED, REFUSED, EMPTY, API_ERROR, TOO_LONG)


def is_failure(status: str) -> bool:
    """A status that carries no verdict at all (a tie is a verdict)."""
    return status not in (OK, TIE)


@dataclass(frozen=True, kw_only=True)
class Example:
    """One benchmark item: a conversation and its candidate responses.

    ``messages`` is the conversation up to (and including) the final user turn, as
    ``{"role", "content"}`` dicts. ``preferred`` lists the indices of candidates that should win
    (the chosen response; every chosen style in RM-Bench; the best of a best-of-N list).
    ``labels`` carries the scoring labels beyond ``subset`` (section, domain, goal, scenario).
    ``task`` and ``subset`` may be left empty for in-memory examples given to ``rmbench.evaluate``
    (they become the task's name).
    """

    id: str
    messages: tuple[Mapping[str, str], ...]
    candidates: tuple[str, ...]
    preferred: tuple[int, ...]
    task: str = ""
    subset: str = ""
    labels: Mapping[str, Any] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def pair(cls, id: str, prompt: str, chosen: str, rejected: str, subset: str = "", **kw: Any) -> "Example":
        """A preference pair: one user prompt, the chosen and the rejected response."""
        return cls(id=id, messages=({"role": "user", "content": prompt},), candidates=(chosen, rejected),
                   preferred=(0,), subset=subset, **kw)

    @property
    def prompt(self) -> str:
        """The last user message (the question being answered)."""
        for m in reversed(self.messages):
            if m.get("role") == "user":
                return m.get("content", "")
        return ""

    @property
    def rejected(self) -> tuple[int, ...]:
        return tuple(i for i in range(len(self.candidates)) if i not in self.preferred)


@dataclass(frozen=True)
class Comparison:
    """A pairwise question put to a judge: candidate ``first`` shown as A, ``second`` as B."""

    example_id: str
    first: int
    second: int
    sample: int = 0

    @property
    def pair(self) -> tuple[int, int]:
        return (self.first, self.second)


@dataclass(frozen=True)
class Listing:
    """A listwise question put to a judge: every candidate in one message, shown in ``order``
    (``order[k]`` is the candidate shown with the template's k-th label)."""

    example_id: str
    order: tuple[int, ...]
    sample: int = 0


def _answer_json(d: dict, answer: Any) -> dict:
    """Add what every judge answer carries when it has it (raw output, error, token usage) to
    its record dict ``d``; returns ``d``."""
    if answer.raw is not None:
        d["raw"] = answer.raw
    if answer.error is not None:
        d["error"] = answer.error
    if answer.usage:
        d["usage"] = answer.usage
    return d


@dataclass
class Judgment:
    """A judge's answer to one ``Comparison`` (one order, one sample).

    ``winner`` is the candidate index that won (already un-swapped), or None on failure.
    """

    first: int
    second: int
    sample: int
    status: str
    winner: int | None = None
    label: str | None = None
    raw: str | None = None
    error: str | None = None
    usage: dict | None = None
    cached: bool = False
    p_labels: dict[str, float] | None = None  # --gen logprobs: probability of each label at the verdict

    def to_json(self) -> dict:
        d = _answer_json({"first": self.first, "second": self.second, "sample": self.sample,
                          "status": self.status, "winner": self.winner, "label": self.label}, self)
        if self.p_labels is not None:
            d["p_labels"] = self.p_labels
        return d


@dataclass
class Score:
    """A pointwise score for one candidate (scalar RM, baseline, or a generative rating)."""

    index: int
    sample: int = 0
    value: float | None = None
    status: str = OK
    raw: str | None = None
    error: str | None = None
    usage: dict | None = None
    cached: bool = False
    p_labels: dict[str, float] | None = None  # --gen logprobs: probability of each rating value
    expected: float | None = None             # the probability-weighted rating

    def to_json(self) -> dict:
        d = {"index": self.index, "value": self.value, "status": self.status}
        if self.sample:
            d["sample"] = self.sample
        _answer_json(d, self)
        if self.p_labels is not None:
            d["p_labels"] = self.p_labels
            d["expected"] = self.expected
        return d


@dataclass
class Pick:
    """A judge's answer to one ``Listing``: ``winner`` is the candidate index it named (already
    mapped back through the shown order), or None on failure or a tie verdict."""

    order: tuple[int, ...]
    sample: int
    status: str
    winner: int | None = None
    label: str | None = None
    raw: str | None = None
    error: str | None = None
    usage: dict | None = None
    cached: bool = False

    def to_json(self) -> dict:
        return _answer_json({"order": list(self.order), "sample": self.sample, "status": self.status,
                             "winner": self.winner, "label": self.label}, self)
