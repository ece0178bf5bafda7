"""Protocol: examples -> the comparisons a judge must make, and back to per-pair outcomes.

Nothing here imports a judge: ``evaluate_example`` receives ``compare`` and ``score``
callables. Every random choice comes from a per-item seed derived from the run seed and the
item id, so orders, samples and tie-breaks are the same on every rerun and in every shard.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from rmbench.contracts import POINTWISE, failure_value
from rmbench.seeding import item_rng, item_seed  # noqa: F401  (re-exported)
from rmbench.types import OK, Comparison, Example, Judgment, Score

CompareFn = Callable[[Example, Comparison], Awaitable[Judgment]]
ScoreFn = Callable[[Example, int, int], Awaitable[Score]]


@dataclass(frozen=True)
class Policy:
    orders: str = "both"       # both | random | fixed
    samples: int = 1
    seed: int = 0
    on_failure: str = "loss"   # loss | half | exclude


def default_pairs(example: Example) -> list[tuple[int, int]]:
    """Every preferred candidate against every other one: (chosen, rejected) for a pair, the
    3x3 style matrix for RM-Bench, best against each loser for best-of-N."""
    return [(p, r) for p in example.preferred for r in example.rejected]


def orders_for(example: Example, pair: tuple[int, int], policy: Policy) -> list[tuple[int, int]]:
    i, j = pair
    if policy.orders == "both":
        return [(i, j), (j, i)]
    if policy.orders == "fixed":
        return [(i, j)]
    rng = item_rng(policy.seed, example.task, example.id, "order", i, j)
    return [(i, j)] if rng.random() < 0.5 else [(j, i)]


def comparisons(example: Example, pairs: list[tuple[int, int]], policy: Policy) -> list[Comparison]:
    out = []
    for pair in pairs:
        for first, second in orders_for(example, pair, policy):
            for s in range(policy.samples):
                out.append(Comparison(example.id, first, second, s))
    return out


def _judgment_value(j: Judgment, i: int, policy: Policy) -> float | None:
    """1 if candidate ``i`` won this judgment, 0 if it lost; a failure per the policy."""
    if j.status == OK:
        return 1.0 if j.winner == i else 0.0
    return failure_value(policy.on_failure)


def pair_value(example: Example, i: int, j: int, judgments: list[Judgment], policy: Policy) -> float | None:
    """How strongly ``i`` beats ``j``: per order, the majority over samples (a tie between
    samples broken by a seeded draw); then the mean over orders. None when every judgment was
    excluded by the failure policy."""
    by_order: dict[tuple[int, int], list[float]] = {}
    for jd in judgments:
        v = _judgment_value(jd, i, policy)
        if v is not None:
            by_order.setdefault((jd.first, jd.second), []).append(v)
    if not by_order:
        return None
    per_order = []
    for order, values in sorted(by_order.items()):
        if len(values) == 1:
            per_order.append(values[0])
            continue
        mean = sum(values) / len(values)
        if mean > 0.5:
            per_order.append(1.0)
        elif mean < 0.5:
            per_order.append(0.0)
        else:
            rng = item_rng(policy.seed, example.task, example.id, "vote", *order)
            per_order.append(1.0 if rng.random() < 0.5 else 0.0)
    return sum(per_order) / len(per_order)


def score_value(scores: list[Score]) -> float | None:
    ok = [s.value for s in scores if s.status == OK and s.value is not None]
    if not ok:
        return None
    return sum(ok) / len(ok)


def expected_value(scores: list[Score]) -> float | None:
    """The mean expected rating over a candidate's scored samples: ``expected`` is the
    probability-weighted rating a rating judge records beside the sampled one when the run asked
    for verdict probabilities. None unless every scored sample has one."""
    vals = [getattr(s, "expected", None) for s in scores if s.status == OK and s.value is not None]
    if not vals or any(v is None for v in vals):
        return None
    return sum(vals) / len(vals)


@dataclass
class Outcome:
    """What the judge said about one example: pointwise scores or pairwise judgments."""

    example: Example
    policy: Policy
    scores: list[list[Score]] | None = None          # per candidate, one Score per sample
    judgments: dict[tuple[int, int], list[Judgment]] = field(default_factory=dict)

    def score_of(self, i: int) -> float | None:
        assert self.scores is not None
        return score_value(self.scores[i])

    def beats(self, i: int, j: int) -> float | None:
        """Outcome of candidate i against j in [0, 1]; None when excluded as a failure.

        Pointwise: 1 if score(i) > score(j), else 0 (a tie is a loss, unless both candidates have
        expected ratings, which then decide: see ``break_ties``). Pairwise: see pair_value.
        """
        if self.scores is not None:
            si, sj = self.score_of(i), self.score_of(j)
            if si is None or sj is None:
                return failure_value(self.policy.on_failure)
            if si == sj:
                return 1.0 if self.break_ties([i, j]) == [i] else 0.0
            return 1.0 if si > sj else 0.0
        key = (i, j) if (i, j) in self.judgments else (j, i)
        if key not in self.judgments:
            raise KeyError(f"pair {(i, j)} was not judged for example {self.example.id}")
        v = pair_value(self.example, i, j, self.judgments[key], self.policy)
        return v

    def break_ties(self, tied: list[int]) -> list[int]:
        """Candidates with equal scores, narrowed to those with the highest expected rating when
        every one of them has one (a rating judge run with verdict probabilities); otherwise, or
        when the expected ratings tie too, all of them."""
        if self.scores is None or len(tied) < 2:
            return list(tied)
        exp = [expected_value(self.scores[c]) for c in tied]
        if any(e is None for e in exp):
            return list(tied)
        high = max(exp)
        return [c for c, e in zip(tied, exp) if e == high]

    def failures(self) -> dict[str, int]:
        out: dict[str, int] = {}
        items = [s for per in self.scores for s in per] if self.scores is not None else \
            [j for js in self.judgments.values() for j in js]
        for it in items:
            if it.status != OK:
                out[it.status] = out.get(it.status, 0) + 1
        return out

    def to_json(self) -> dict:
        if self.scores is not None:
            return {"scores": [[s.to_json() for s in per] for per in self.scores]}
        return {"pairs": [{"i": i, "j": j, "judgments": [jd.to_json() for jd in js]}
                          for (i, j), js in self.judgments.items()]}


async def evaluate_example(example: Example, mode: str, policy: Policy, compare: CompareFn, score: ScoreFn,
                           pairs: list[tuple[int, int]] | None = None) -> Outcome:
    """Ask the judge everything one example needs (all in flight together)."""
    if mode == POINTWISE:
        samples = policy.samples
        flat = await asyncio.gather(*(score(example, i, s) for i in range(len(example.candidates))
                                      for s in range(samples)))
        per = [list(flat[i * samples:(i + 1) * samples]) for i in range(len(example.candidates))]
        return Outcome(example, policy, scores=per)
    pairs = pairs if pairs is not None else default_pairs(example)
    cmps = comparisons(example, pairs, policy)
    results = await asyncio.gather(*(compare(example, c) for c in cmps))
    judgments: dict[tuple[int, int], list[Judgment]] = {p: [] for p in pairs}
    for c, jd in zip(cmps, results):
        key = (c.first, c.second) if (c.first, c.second) in judgments else (c.second, c.first)
        judgments[key].append(jd)
    return Outcome(example, policy, judgments=judgments)
