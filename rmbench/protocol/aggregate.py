"""Best-of-N items judged as a whole: a tournament of pairwise judgments, or a ranking by scores.

``evaluate_aggregated`` is ``evaluate_example`` for the items an ``Aggregation`` covers (items
with at least ``min_candidates`` candidates). Like the rest of the protocol it never imports a
judge: it receives the ``compare`` and ``score`` callables.

- A pairwise judge and a tournament method (knockout, elo, bt, wins): every pairing
  ``match(i, j)`` asks ``compare`` for the comparisons ``protocol.comparisons`` lists (orders
  times samples) and folds them with ``pair_value``; ``rmbench.tournament.choose`` runs the
  tournament. The result is handed to the task's scorer as per-candidate values, so the
  scorers' pointwise rules read it unchanged: the round each candidate reached in a knockout
  (the champion one higher than the final), or the ratings of a round robin, with every
  candidate tied for first set to exactly the top rating so that a scorer's "strictly highest"
  agrees with the tournament's tie tolerance.
- A pairwise judge and ``pairwise``: the task's own pairs (e.g. RMB's best against each loser),
  exactly as without aggregation; only the counts are added.
- A pointwise judge (a scalar model, a rating prompt): no matches are needed, the candidates are
  ranked by score (``choose_by_scores``); the outcome is the usual one.

A failed judgment carries no verdict for either candidate, so inside a match it is left out
(whichever candidate happened to be listed first would otherwise take the loss); a match with no
verdict at all is settled by a seeded coin (knockout) or left out of the ratings. An item none of
whose matches was decided gets no values, and the scorer applies ``--on-failure`` to it.

Each aggregated item also yields a JSON block for its record (``tournament``): the method, how
the item was ranked (``by``: matches, scores or pairs), the pick (``best``, ``top``,
``credit``), the bracket and byes or the ratings, every match, and the counts ``n_matches``
and ``judge_calls`` (``comparisons`` keeps the tournament package's meaning: judge calls
spent on matches).
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from rmbench.contracts import BY_MATCHES, BY_PAIRS, BY_SCORES, LISTWISE, POINTWISE
from rmbench.errors import UserError
from rmbench.protocol import (
    CompareFn,
    Outcome,
    PickFn,
    Policy,
    ScoreFn,
    comparisons,
    default_pairs,
    evaluate_example,
    pair_value,
)
from rmbench.tournament import AGGREGATORS, Choice, ItemKey, MatchResult, choose, choose_by_scores
from rmbench.types import OK, Example, Judgment, Score

PAIRWISE = "pairwise"
METHODS = (PAIRWISE, *AGGREGATORS)
DEFAULT_MIN_CANDIDATES = 3      # two candidates are a pair, scored as a pair
UNDECIDED = "undecided"         # status of a synthesized value when no match was decided


def check_method(method: str | None, where: str = "--aggregate") -> str | None:
    if method is not None and method not in METHODS:
        raise UserError(f"{where} must be one of {', '.join(METHODS)}, not '{method}'")
    return method


@dataclass(frozen=True)
class Aggregation:
    """How a task's best-of-N items are judged: ``method`` for items with at least
    ``min_candidates`` candidates (smaller items take the plain pairwise path)."""

    method: str
    min_candidates: int = DEFAULT_MIN_CANDIDATES

    def applies(self, example: Example) -> bool:
        return len(example.candidates) >= max(2, self.min_candidates)


def plan(requested: str | None, task_protocol: Mapping[str, Any] | None, task: str = "") -> Aggregation | None:
    """The aggregation for one task: ``--aggregate`` if given, else the task's default (the
    ``protocol: {aggregate: ...}`` of its YAML), else none (the task's own pairs, no block)."""
    proto = dict(task_protocol or {})
    default = check_method(proto.get("aggregate"), f"task '{task}': protocol.aggregate")
    method = check_method(requested) or default
    if method is None:
        return None
    try:
        least = int(proto.get("min_candidates", DEFAULT_MIN_CANDIDATES))
    except (TypeError, ValueError):
        raise UserError(f"task '{task}': protocol.min_candidates must be a whole number") from None
    return Aggregation(method, least)


class TournamentOutcome(Outcome):
    """Pairwise judgments read as per-candidate values: ``scores`` holds the tournament's values
    (what a scorer reads), ``judgments`` every judgment made (what the record keeps)."""

    def _pairs(self) -> Outcome:
        return Outcome(self.example, self.policy, judgments=self.judgments)

    def failures(self) -> dict[str, int]:
        return self._pairs().failures()

    def to_json(self) -> dict:
        return self._pairs().to_json()


def _decided(choice: Choice, n: int) -> bool:
    if choice.method == "score":
        return bool(choice.top)
    return n <= 1 or any(m.value is not None for m in choice.matches)


def item_credit(choice: Choice, example: Example) -> float | None:
    """The share of the top candidates that are preferred; 0 for an item with no preferred
    candidate at all (no pick can be right); None when nothing was decided."""
    if not _decided(choice, len(example.candidates)):
        return None
    if not example.preferred:
        return 0.0
    return choice.credit


def candidate_values(choice: Choice, n: int) -> list[float | None]:
    """Per-candidate values a pointwise scorer can rank: knockout rounds reached, or ratings
    with the top (within the tournament's tolerance) set to exactly the highest rating."""
    if not _decided(choice, n):
        return [None] * n
    if choice.method == "knockout":
        rounds = max((m.round for m in choice.matches), default=0)
        reached = [float(rounds + 1)] * n
        for m in choice.matches:
            loser = m.j if m.winner == m.i else m.i
            reached[loser] = float(m.round)
        return reached
    ratings = list(choice.ratings or [None] * n)
    top = max(ratings[c] for c in choice.top)
    return [top if c in choice.top else v for c, v in enumerate(ratings)]


def block(method: str, by: str, choice: Choice, example: Example, judge_calls: int) -> dict:
    d = {"method": method, "by": by, "candidates": len(example.candidates), "n_matches": len(choice.matches),
         "judge_calls": judge_calls}
    d.update({k: v for k, v in choice.to_json().items() if k != "method"})
    d["credit"] = item_credit(choice, example)
    return d


async def evaluate_aggregated(example: Example, mode: str, policy: Policy, compare: CompareFn, score: ScoreFn,
                              aggregation: Aggregation | None, pairs: list[tuple[int, int]] | None = None,
                              pick: PickFn | None = None) -> tuple[Outcome, dict | None]:
    """Judge one example; returns its outcome (for the scorer) and its ``tournament`` block
    (None when the aggregation does not cover the example). A listwise judge names the best
    candidate itself: nothing to aggregate."""
    if aggregation is None or not aggregation.applies(example) or mode == LISTWISE:
        return await evaluate_example(example, mode, policy, compare, score, pairs=pairs, pick=pick), None
    n = len(example.candidates)
    method = aggregation.method
    if mode == POINTWISE:
        outcome = await evaluate_example(example, mode, policy, compare, score)
        choice = choose_by_scores([outcome.score_of(i) for i in range(n)], example.preferred,
                                  ItemKey.of(example, policy.seed), narrow=outcome.break_ties)
        d = block(method, BY_SCORES, choice, example, judge_calls=n * policy.samples)
        d.pop("ratings", None)      # the scores themselves are in the record already
        return outcome, d
    if method == PAIRWISE:
        pairs = pairs if pairs is not None else default_pairs(example)
        outcome = await evaluate_example(example, mode, policy, compare, score, pairs=pairs)
        calls = sum(len(js) for js in outcome.judgments.values())
        return outcome, {"method": method, "by": BY_PAIRS, "candidates": n, "n_matches": len(outcome.judgments),
                         "comparisons": calls, "judge_calls": calls}

    in_match = dataclasses.replace(policy, on_failure="exclude")   # see the module docstring
    judged: dict[tuple[int, int], list[Judgment]] = {}

    async def match(i: int, j: int) -> MatchResult:
        cmps = comparisons(example, [(i, j)], policy)
        if len(cmps) == 1:
            judgments = [await compare(example, cmps[0])]
        else:
            judgments = list(await asyncio.gather(*(compare(example, c) for c in cmps)))
        judged[(i, j)] = judgments
        return MatchResult(pair_value(example, i, j, judgments, in_match), len(cmps))

    choice = await choose(method, example, match, seed=policy.seed)
    # the record lists the judgments in match-log order, not in the order they came back
    judgments = {(m.i, m.j): judged[(m.i, m.j)] for m in choice.matches}
    values = candidate_values(choice, n)
    scores = [[Score(c, 0, v, OK if v is not None else UNDECIDED)] for c, v in enumerate(values)]
    outcome = TournamentOutcome(example, policy, scores=scores, judgments=judgments)
    d = block(method, BY_MATCHES, choice, example, judge_calls=choice.comparisons)
    if method == "knockout":
        d["reached"] = values
    return outcome, d
