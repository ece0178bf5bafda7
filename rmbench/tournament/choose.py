"""From an item's candidates to one chosen best: the entry point a runner calls per item.

``choose(method, example, match, seed=...)`` runs the tournament the method needs and says
which candidate came out on top:

- ``knockout``: a seeded bracket; the champion is the pick (N - 1 matches).
- ``elo``, ``bt``, ``wins``: a round robin (N(N-1)/2 matches) read by sequential Elo, a
  Bradley-Terry fit, or Copeland win counts; the top-rated candidate is the pick.

``rate(method, n, matches, ...)`` applies the last three to a round-robin log that is already
there, so one judged round robin can be read all three ways (or re-read offline).
``choose_by_scores`` is the pointwise counterpart: with one score per candidate, the pick is
the highest score.

A ``Choice`` names every candidate tied for first (``top``), so a caller can give 1/k credit
for a k-way tie: ``credit`` is the share of ``top`` that is preferred (1 or 0 without a tie).
``best`` is one index from ``top``; where a tie has to be broken, a seeded draw breaks it.
When nothing was decided (every match failed and was excluded, or no candidate got a score),
``credit`` is None, so the caller's failure policy can treat the item as excluded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from rmbench.tournament.knockout import knockout
from rmbench.tournament.matches import ItemKey, MatchFn, MatchRecord
from rmbench.tournament.roundrobin import BT_PRIOR, ELO_INITIAL, ELO_K, decided, elo, round_robin, win_counts
from rmbench.types import Example

if TYPE_CHECKING:     # numpy (under bradley_terry) is imported only when a BT fit is asked for
    from rmbench.tournament.bradley_terry import BTIntervals

AGGREGATORS = ("knockout", "elo", "bt", "wins")
RATING_METHODS = ("elo", "bt", "wins")
TIE_TOLERANCE = 1e-6     # rating points; Copeland points are exact halves anyway


@dataclass(frozen=True)
class Choice:
    method: str
    best: int | None
    top: tuple[int, ...]
    credit: float | None
    comparisons: int = 0
    matches: tuple[MatchRecord, ...] = ()
    ratings: tuple[float | None, ...] | None = None
    intervals: BTIntervals | None = None
    bracket: tuple[int, ...] | None = None
    byes: tuple[tuple[int, int], ...] = ()

    @property
    def tie_size(self) -> int:
        return len(self.top)

    def to_json(self) -> dict:
        d: dict = {"method": self.method, "best": self.best, "top": list(self.top), "credit": self.credit,
                   "comparisons": self.comparisons}
        if self.ratings is not None:
            d["ratings"] = list(self.ratings)
        if self.intervals is not None:
            d["intervals"] = self.intervals.to_json()
        if self.bracket is not None:
            d["bracket"] = list(self.bracket)
            d["byes"] = [list(b) for b in self.byes]
        if self.matches:
            d["matches"] = [m.to_json() for m in self.matches]
        return d


def _credit(top: Sequence[int], preferred: Sequence[int]) -> float | None:
    if not top or not preferred:
        return None
    pref = set(preferred)
    return sum(1 for c in top if c in pref) / len(top)


def _pick(top: tuple[int, ...], key: ItemKey | None, method: str) -> int | None:
    if not top:
        return None
    if len(top) == 1 or key is None:
        return top[0]
    return top[key.rng(method, "tie").randrange(len(top))]


def top_of(values: Sequence[float | None], tolerance: float = 0.0) -> tuple[int, ...]:
    """Indices whose value is within ``tolerance`` of the highest (None never counts)."""
    present = [v for v in values if v is not None]
    if not present:
        return ()
    high = max(present)
    return tuple(c for c, v in enumerate(values) if v is not None and v >= high - tolerance)


def rate(method: str, n: int, matches: Sequence[MatchRecord], preferred: Sequence[int], key: ItemKey, *,
         elo_initial: float = ELO_INITIAL, elo_k: float = ELO_K, bt_prior: float = BT_PRIOR,
         bootstrap: int = 0, level: float = 0.95) -> Choice:
    """Read a round-robin log with ``elo``, ``bt`` or ``wins`` and pick the top candidate.

    ``bootstrap`` > 0 (``bt`` only) adds seeded percentile intervals from that many resamples.
    """
    if method not in RATING_METHODS:
        raise ValueError(f"unknown rating method '{method}' (known: {', '.join(RATING_METHODS)})")
    intervals = None
    if method == "elo":
        ratings = elo(n, matches, key, initial=elo_initial, k=elo_k)
    elif method == "bt":
        from rmbench.tournament import bradley_terry

        ratings = list(bradley_terry.fit(n, matches, prior=bt_prior, initial=elo_initial).ratings)
        if bootstrap:
            intervals = bradley_terry.bootstrap(n, matches, key, samples=bootstrap, level=level,
                                                prior=bt_prior, initial=elo_initial)
    else:
        ratings = win_counts(n, matches)
    comparisons = sum(m.comparisons for m in matches)
    if n > 1 and not decided(matches):
        return Choice(method, None, (), None, comparisons, tuple(matches), tuple(ratings), intervals)
    top = top_of(ratings, TIE_TOLERANCE)
    return Choice(method, _pick(top, key, method), top, _credit(top, preferred), comparisons, tuple(matches),
                  tuple(ratings), intervals)


async def choose(method: str, example: Example, match: MatchFn, *, seed: int, **options) -> Choice:
    """Run ``method``'s tournament over ``example``'s candidates and pick the best one.

    ``match(i, j)`` judges one pairing (see ``MatchResult``). ``options`` go to ``rate``
    (Elo's initial rating and K, the BT prior, bootstrap samples and level).
    """
    if method not in AGGREGATORS:
        raise ValueError(f"unknown aggregator '{method}' (known: {', '.join(AGGREGATORS)})")
    n = len(example.candidates)
    key = ItemKey.of(example, seed)
    if method == "knockout":
        ko = await knockout(n, match, key)
        credit = None if n > 1 and not decided(ko.matches) else _credit((ko.winner,), example.preferred)
        return Choice(method, ko.winner, (ko.winner,), credit, ko.comparisons, ko.matches,
                      bracket=ko.bracket, byes=ko.byes)
    rr = await round_robin(n, match)
    return rate(method, n, rr.matches, example.preferred, key, **options)


def choose_by_scores(scores: Sequence[float | None], preferred: Sequence[int], key: ItemKey | None = None,
                     narrow: Callable[[list[int]], list[int]] | None = None) -> Choice:
    """The pointwise path: the highest score wins; candidates with equal top scores tie.

    A None score (a failed rating) never wins. ``narrow`` may shrink a tie at the top first (the
    expected ratings of a run with verdict probabilities: ``Outcome.break_ties``). ``best`` breaks
    a remaining tie by a seeded draw when a ``key`` is given, else takes the lowest index.
    """
    top = top_of(list(scores))
    if narrow is not None and len(top) > 1:
        top = tuple(narrow(list(top)))
    return Choice("score", _pick(top, key, "score"), top, _credit(top, preferred), 0,
                  ratings=tuple(None if s is None else float(s) for s in scores))
