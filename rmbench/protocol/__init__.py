"""Protocol: examples -> the comparisons a judge must make, and back to per-pair outcomes.

Nothing here imports a judge: ``evaluate_example`` receives ``compare``, ``score`` and ``pick``
callables. Every random choice comes from a per-item seed derived from the run seed and the
item id, so orders, samples and tie-breaks are the same on every rerun and in every shard.

Three judge modes: pointwise (a score per candidate), pairwise (one pair per question, in the
orders ``Policy.orders`` asks for) and listwise (every candidate in one message, shown in a
seeded per-row shuffle that the record keeps, so position bias can be measured).

Ties: a tie verdict (status ``tie``) is worth ``Policy.tie`` to either side of a pair, and two
equal scores ``Policy.equal_scores`` (0 for scalar and DPO judges, whose official scripts use a
strict ``>``; 0.5 for generative ratings). In a best-of-N list a tie never picks the right
answer: scorers pass ``tie=0.0`` there. Which values apply to a task is decided in one place,
``rmbench/protocol/official.py``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from rmbench.contracts import LISTWISE, POINTWISE, failure_value
from rmbench.seeding import item_rng, item_seed  # noqa: F401  (re-exported)
from rmbench.types import OK, TIE, Comparison, Example, Judgment, Listing, Pick, Score, is_failure

CompareFn = Callable[[Example, Comparison], Awaitable[Judgment]]
ScoreFn = Callable[[Example, int, int], Awaitable[Score]]
PickFn = Callable[[Example, Listing], Awaitable[Pick]]

#: how a pointwise row with some failed scores is decided (``Policy.partial_failures``)
FAIL_ROW = "fail"     # the row fails as a whole (the failure policy applies)
DROP = "drop"         # failed candidates are left out and the row is decided among the others


@dataclass(frozen=True)
class Policy:
    orders: str = "both"       # both | random | fixed
    samples: int = 1
    seed: int = 0
    on_failure: str = "loss"   # loss | half | exclude | chance
    tie: float = 0.5           # a tie verdict, to either side of a pair
    equal_scores: float = 0.0  # two equal scores (0: strict >, scalar judges; 0.5: generative ratings)
    partial_failures: str = FAIL_ROW   # a pointwise best-of-N row with some failed scores
    failed_score: float | None = None  # a failed score where a scorer needs every score (None: missing)
    expected_ties: bool = True  # equal ratings decided by expected ratings where recorded (off: official)


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


def shown_order(example: Example, policy: Policy) -> tuple[int, ...]:
    """The order a listwise judge sees the candidates in: as listed with ``--orders fixed``,
    otherwise one seeded shuffle per row (the same for every sample of the row)."""
    order = list(range(len(example.candidates)))
    if policy.orders != "fixed":
        item_rng(policy.seed, example.task, example.id, "shuffle").shuffle(order)
    return tuple(order)


def listings(example: Example, policy: Policy) -> list[Listing]:
    order = shown_order(example, policy)
    return [Listing(example.id, order, s) for s in range(policy.samples)]


def comparisons(example: Example, pairs: list[tuple[int, int]], policy: Policy) -> list[Comparison]:
    out = []
    for pair in pairs:
        for first, second in orders_for(example, pair, policy):
            for s in range(policy.samples):
                out.append(Comparison(example.id, first, second, s))
    return out


def _judgment_value(j: Judgment, i: int, policy: Policy, tie: float | None = None) -> float | None:
    """1 if candidate ``i`` won this judgment, 0 if it lost, the tie value for a tie verdict; a
    failure per the policy (chance for a pair is 1/2)."""
    if j.status == OK:
        return 1.0 if j.winner == i else 0.0
    if j.status == TIE:
        return policy.tie if tie is None else tie
    return failure_value(policy.on_failure, 2)


def pair_value(example: Example, i: int, j: int, judgments: list[Judgment], policy: Policy,
               tie: float | None = None) -> float | None:
    """How strongly ``i`` beats ``j``: per order, the majority over samples (a tie between
    samples broken by a seeded draw); then the mean over orders. None when every judgment was
    excluded by the failure policy. ``tie`` overrides what a tie verdict is worth."""
    by_order: dict[tuple[int, int], list[float]] = {}
    for jd in judgments:
        v = _judgment_value(jd, i, policy, tie)
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
    """What the judge said about one example: pointwise scores, pairwise judgments or listwise
    picks."""

    example: Example
    policy: Policy
    scores: list[list[Score]] | None = None          # per candidate, one Score per sample
    judgments: dict[tuple[int, int], list[Judgment]] = field(default_factory=dict)
    picks: list[Pick] | None = None                  # listwise: one Pick per sample
    # pointwise pairs a scorer compared with ``beats`` -> whether their scores were equal
    _compared: dict[tuple[int, int], bool] = field(default_factory=dict, repr=False)

    def score_of(self, i: int) -> float | None:
        assert self.scores is not None
        return score_value(self.scores[i])

    def beats(self, i: int, j: int, tie: float | None = None) -> float | None:
        """Outcome of candidate i against j in [0, 1]; None when excluded as a failure.

        Pointwise: 1 if score(i) > score(j), 0 if lower; equal scores are decided by the expected
        ratings when both candidates have one (``break_ties``), else worth ``Policy.equal_scores``.
        Pairwise: see pair_value. ``tie`` overrides what equal scores or a tie verdict are worth
        (best-of-N lists pass 0: a tie does not pick the right answer)."""
        if self.scores is not None:
            si, sj = self.score_of(i), self.score_of(j)
            if si is None or sj is None:
                return failure_value(self.policy.on_failure, 2)
            self._compared[(i, j)] = si == sj
            if si == sj:
                narrowed = self.break_ties([i, j])
                if len(narrowed) == 1:
                    return 1.0 if narrowed == [i] else 0.0
                return self.policy.equal_scores if tie is None else tie
            return 1.0 if si > sj else 0.0
        key = (i, j) if (i, j) in self.judgments else (j, i)
        if key not in self.judgments:
            raise KeyError(f"pair {(i, j)} was not judged for example {self.example.id}")
        v = pair_value(self.example, i, j, self.judgments[key], self.policy, tie)
        return v

    def break_ties(self, tied: list[int]) -> list[int]:
        """Candidates with equal scores, narrowed to those with the highest expected rating when
        every one of them has one (a rating judge run with verdict probabilities); otherwise, or
        when the expected ratings tie too, all of them."""
        if self.scores is None or len(tied) < 2 or not self.policy.expected_ties:
            return list(tied)
        exp = [expected_value(self.scores[c]) for c in tied]
        if any(e is None for e in exp):
            return list(tied)
        high = max(exp)
        return [c for c, e in zip(tied, exp) if e == high]

    def picked(self) -> int | str | None:
        """Listwise: the candidate the judge named (majority over samples, a tie between samples
        broken by a seeded draw), ``TIE`` for a tie verdict, None when every pick failed."""
        assert self.picks is not None
        votes: dict[int | str, int] = {}
        for p in self.picks:
            if not is_failure(p.status):
                key: int | str = TIE if p.status == TIE else int(p.winner)  # type: ignore[arg-type]
                votes[key] = votes.get(key, 0) + 1
        if not votes:
            return None
        top = max(votes.values())
        best = sorted((k for k, v in votes.items() if v == top), key=str)
        if len(best) == 1:
            return best[0]
        rng = item_rng(self.policy.seed, self.example.task, self.example.id, "pick-vote")
        return best[int(rng.random() * len(best))]

    def pick_credit(self, preferred: set[int] | None = None) -> float | None:
        """Listwise: 1 when the named candidate is preferred, 0 when not (a tie verdict names
        none: 0); a pick that failed in every sample scores the failure value for this many
        candidates (``--on-failure chance``: 1/N)."""
        preferred = set(self.example.preferred) if preferred is None else preferred
        who = self.picked()
        if who is None:
            return failure_value(self.policy.on_failure, len(self.example.candidates))
        if who == TIE:
            return 0.0
        return 1.0 if who in preferred else 0.0

    def failures(self) -> dict[str, int]:
        out: dict[str, int] = {}
        if self.picks is not None:
            items: list = list(self.picks)
        elif self.scores is not None:
            items = [s for per in self.scores for s in per]
        else:
            items = [j for js in self.judgments.values() for j in js]
        for it in items:
            if is_failure(it.status):
                out[it.status] = out.get(it.status, 0) + 1
        return out

    def tie_counts(self) -> dict[str, int] | None:
        """Pointwise: how many of the pairs a scorer compared had equal scores."""
        if not self._compared:
            return None
        return {"compared": len(self._compared), "equal": sum(self._compared.values())}

    def to_json(self) -> dict:
        if self.picks is not None:
            return {"picks": [p.to_json() for p in self.picks]}
        if self.scores is not None:
            d: dict = {"scores": [[s.to_json() for s in per] for per in self.scores]}
            ties = self.tie_counts()
            if ties:
                d["ties"] = ties
            return d
        return {"pairs": [{"i": i, "j": j, "judgments": [jd.to_json() for jd in js]}
                          for (i, j), js in self.judgments.items()]}


async def evaluate_example(example: Example, mode: str, policy: Policy, compare: CompareFn, score: ScoreFn,
                           pairs: list[tuple[int, int]] | None = None, pick: PickFn | None = None) -> Outcome:
    """Ask the judge everything one example needs (all in flight together)."""
    if mode == LISTWISE:
        if pick is None:
            raise ValueError("a listwise judge needs a pick function")
        picks = await asyncio.gather(*(pick(example, lst) for lst in listings(example, policy)))
        return Outcome(example, policy, picks=list(picks))
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
