"""Records read back as the protocol's own objects, so that figures derived after a run (the
votes and candidates curves, the bias diagnostics) go through exactly the code the run used.

A record (one line of records.jsonl) keeps every judgment or score the judge returned. This
module turns it back into ``Judgment``/``Score`` objects and an ``Outcome``; with the record's
``preferred`` indices (and its candidate count) it also rebuilds a stand-in ``Example`` that a
scorer's ``example_result`` can read. No text is needed: scorers read indices, subset and labels.

Record keys read here, besides those every record has (``task``, ``id``, ``subset``,
``labels``, ``result``, ``pairs`` or ``scores``, ``tournament``):

- ``preferred``: list of int, the candidates that should win (written since the diagnostics
  work; older records lack it, and for a plain pairwise record it is recovered from the pairs,
  whose first index is always the preferred one);
- ``lengths``: ``{"unit": "tokens" | "chars", "counts": [int per candidate]}``.
"""

from __future__ import annotations

from typing import Iterable

from rmbench.contracts import BY_MATCHES, TOURNAMENT, ranked_by
from rmbench.protocol import Outcome, Policy
from rmbench.types import OK, Example, Judgment, Pick, Score

#: The status of a tie verdict (a judge that may answer "neither is better"). Not a failure: the
#: protocol decides what it is worth; diagnostics count it as its own verdict.
TIE = "tie"
PREFERRED = "preferred"
LENGTHS = "lengths"


def judgment(d: dict) -> Judgment:
    return Judgment(first=int(d["first"]), second=int(d["second"]), sample=int(d.get("sample") or 0),
                    status=str(d["status"]), winner=d.get("winner"), label=d.get("label"))


def score(d: dict, index: int | None = None) -> Score:
    s = Score(index=int(d.get("index", index if index is not None else 0)), sample=int(d.get("sample") or 0),
              value=d.get("value"), status=str(d.get("status", OK)))
    if d.get("expected") is not None:
        s.expected = float(d["expected"])  # type: ignore[attr-defined]  (the rating's probability-weighted value)
    return s


def pair_judgments(record: dict, samples: Iterable[int] | None = None) -> dict[tuple[int, int], list[Judgment]]:
    """The record's judgments per judged pair ``(i, j)`` as listed in the record, optionally only
    those of the given sample indices."""
    keep = None if samples is None else set(samples)
    out: dict[tuple[int, int], list[Judgment]] = {}
    for p in record.get("pairs") or []:
        js = [judgment(d) for d in p["judgments"]]
        out[(int(p["i"]), int(p["j"]))] = js if keep is None else [j for j in js if j.sample in keep]
    return out


def candidate_scores(record: dict, samples: Iterable[int] | None = None) -> list[list[Score]] | None:
    if record.get("scores") is None:
        return None
    keep = None if samples is None else set(samples)
    out = []
    for c, per in enumerate(record["scores"]):
        ss = [score(d, c) for d in per]
        out.append(ss if keep is None else [s for s in ss if s.sample in keep])
    return out


def is_tournament(record: dict) -> bool:
    return ranked_by(record) == BY_MATCHES


def preferred_of(record: dict) -> tuple[int, ...] | None:
    """The preferred candidates: the record's ``preferred`` (or its result's, where a task's scorer
    lists them there), or for a plain pairwise record (not a tournament, whose pairs are matches)
    the first index of its pairs; None when unknown."""
    pref = record.get(PREFERRED)
    if not isinstance(pref, list):
        pref = (record.get("result") or {}).get(PREFERRED)
    if isinstance(pref, list):
        return tuple(int(x) for x in pref)
    if record.get("pairs") and not is_tournament(record):
        return tuple(sorted({int(p["i"]) for p in record["pairs"]}))
    return None


def candidate_count(record: dict) -> int | None:
    lengths = record.get(LENGTHS)
    if isinstance(lengths, dict) and isinstance(lengths.get("counts"), list):
        return len(lengths["counts"])
    if record.get("scores") is not None:
        return len(record["scores"])
    block = record.get(TOURNAMENT)
    if isinstance(block, dict) and block.get("candidates"):
        return int(block["candidates"])
    if record.get("picks"):
        return len(record["picks"][0]["order"])
    idx = [int(x) for p in record.get("pairs") or [] for x in (p["i"], p["j"])]
    return max(idx) + 1 if idx else None


def stub_example(record: dict) -> Example | None:
    """A text-free ``Example`` with the record's identity, labels, candidate count and preferred
    candidates; None when those cannot be told from the record."""
    pref, n = preferred_of(record), candidate_count(record)
    if pref is None or n is None:
        return None
    return Example(id=str(record["id"]), task=str(record["task"]), subset=str(record.get("subset", "")),
                   messages=(), candidates=("",) * n, preferred=pref, labels=dict(record.get("labels") or {}),
                   meta=dict(record.get("meta") or {}))


def record_picks(record: dict, samples: Iterable[int] | None = None) -> list[Pick] | None:
    """The record's listwise picks (None for a record without any), optionally some samples only."""
    if record.get("picks") is None:
        return None
    keep = None if samples is None else set(samples)
    out = [Pick(order=tuple(int(x) for x in d["order"]), sample=int(d.get("sample", 0)), status=str(d["status"]),
                winner=d.get("winner"), label=d.get("label")) for d in record["picks"]]
    return out if keep is None else [pk for pk in out if pk.sample in keep]


def outcome_of(record: dict, example: Example, policy: Policy, samples: Iterable[int] | None = None) -> Outcome:
    """The record's ``Outcome`` (scores, listwise picks or pairwise judgments), optionally
    restricted to some samples."""
    scores = candidate_scores(record, samples)
    if scores is not None:
        return Outcome(example, policy, scores=scores)
    picks = record_picks(record, samples)
    if picks is not None:
        return Outcome(example, policy, picks=picks)
    return Outcome(example, policy, judgments=pair_judgments(record, samples))


def scoring_pairs(example: Example) -> list[tuple[int, int]]:
    """Every (preferred, rejected) pair of an example."""
    return [(p, r) for p in example.preferred for r in example.rejected]

