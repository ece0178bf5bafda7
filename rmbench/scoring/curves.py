"""Test-time-compute curves from one run's records: accuracy against votes, and best-of-N accuracy
against candidates and judge calls per aggregator. Nothing is asked of the model again.

Votes (``compute_curves.votes``, for runs with ``--samples K``, K > 1)
----------------------------------------------------------------------
For k = 1..K: the exact expectation of the task's metric (its ``score`` and each section's) had
the run drawn k votes per request instead of K, where a request's k votes are a uniformly random
k of its K recorded samples and requests draw independently (each request's samples are
independent draws, so this is what a k-sample run of the same judge would see). Votes are folded
exactly as the run folds them (``protocol.pair_value``): per order the majority of the verdicts,
an even split settled by the run's seeded coin for that order, a single verdict taken as it is,
failures valued by ``--on-failure``; orders are then averaged.

- Pairwise items (not tournaments): closed form. For one request (a pair in one order) with a
  wins, b losses, h half-values (ties, or failures under ``half``) and e excluded failures among
  its K samples, a k-subset holds (x, y, z, w) of them with the hypergeometric probability
  C(a,x) C(b,y) C(h,z) C(e,w) / C(K,k); its majority is 1 when x > y, 0 when x < y, the coin
  when x = y (half-values cancel in the majority), the lone value when x + y + z = 1, and
  nothing when x + y + z = 0. The pair's expected value (the mean over its orders, orders
  independent) is handed to the task's own ``example_result`` through ``beats``, so every
  scorer whose item result is a mean or a product of distinct pairs' values (all pairwise
  scorers here) gets the exact expected item result; ``aggregate`` of the expected results is
  then the exact expected metric, the aggregates being linear in the items' results.
- Items scored pointwise (rating prompts with samples) and round-robin tournaments: exact
  enumeration. For each of the C(K,k) sets T of sample indices, every item is re-scored from the
  samples in T only (a round robin's matches refolded and re-rated exactly as the run did), the
  task re-aggregated, and the metrics averaged over the sets (a run with k samples uses the
  same k sample indices for every request). This is exact for any aggregate; it is skipped for
  the k with more than ``ENUM_LIMIT`` sets (with a note).
- Knockout items: a bracket's later matches depend on who won earlier ones, and with fewer votes
  other matches would have been needed; no votes curve (a note says so).

The point at k = K is the run's own metric; k = 1 is the mean single-sample metric. Each point
has a 95% bootstrap interval over items (``scoring.intervals``, seeded from the run seed, the
task and k) of the metric recomputed from the items' expected results.

Under ``--on-failure exclude`` a pair whose k votes could all be failures has no value in some
draws; it then counts with its expected value given that it was decided, which is not an exact
expectation (the curve says so in ``notes``).

Candidates (``compute_curves.candidates``, for best-of-N items judged by a full round robin)
--------------------------------------------------------------------------------------------
A round robin (``--aggregate elo|bt|wins``) has judged every pair, so any aggregator can be
replayed on any subset of an item's candidates from the recorded judgments: knockout (the
seeded bracket of an n-candidate item, over the subset's candidates in index order; each
match folded from the pair's recorded judgments in the bracket's orientation, as a knockout
run folds it), Elo, Bradley-Terry and win counts (``tournament.rate`` on the subset's matches).
For n = 1..N: every size-n subset when there are few enough, else a fixed number of distinct
subsets drawn with a seed from the run seed, the task, the item and n (``subset_limit``: 16
per item, fewer for tasks with over 125 items, at least 2; ``exact`` says whether all were used). A point
is ``{aggregator, n, accuracy, judge_calls, matches, oracle, items, exact}``: the mean over items
(those with at least n candidates) of the mean over subsets of the pick's credit (the share of
the top that is preferred, 0 when the subset holds no preferred candidate; an undecided pick
takes the failure policy), of the judge calls and matches the subset's tournament needed, and
of the share of subsets holding a preferred candidate (what a perfect picker would get).
At n = N the run's own aggregator reproduces its picks (the aggregation block's ``credit``),
and knockout reproduces what a knockout run with the same seed would pick (the same bracket,
the same judgments) when every pair was judged in both orders; with ``--orders fixed`` or
``random`` a knockout would have shown some pairs the other way round (a note says so).
"""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Callable, Sequence

from rmbench.contracts import failure_value
from rmbench.protocol import Outcome, Policy, _judgment_value, pair_value
from rmbench.protocol.aggregate import UNDECIDED, TournamentOutcome, candidate_values
from rmbench.scoring import replay
from rmbench.scoring.intervals import bootstrap_intervals, get_path
from rmbench.seeding import item_rng, item_seed
from rmbench.tournament import ItemKey, MatchRecord, MatchResult, rate
from rmbench.tournament.knockout import bracket_order, plan_round
from rmbench.tournament.matches import settle
from rmbench.tournament.roundrobin import decided
from rmbench.tournament.roundrobin import record as rr_record
from rmbench.types import OK, Example, Score

ENUM_LIMIT = 256          # sample sets enumerated per k (pointwise items, round robins)
SUBSET_LIMIT = 16         # candidate subsets per item and size n, at most ...
SUBSET_BUDGET = 2000      # ... and about this many per size over all items ...
MIN_SUBSETS = 2           # ... but at least this many per item
RATING_METHODS = ("elo", "bt", "wins")
AGGREGATORS = ("knockout", *RATING_METHODS)
ALL = "all"

Aggregate = Callable[[list[dict], dict], dict]


# -- votes: the closed form for pairwise items ----------------------------------------------------

def order_distribution(values: Sequence[float | None], k: int, coin: float) -> dict[float | None, float]:
    """Distribution of one request's folded value when k of its recorded sample values are kept
    (a uniformly random k-subset). ``values`` are the samples' values for the candidate asking
    (1 win, 0 loss, 0.5 a half-value, None excluded); ``coin`` is the run's tie-break for it."""
    a = sum(1 for v in values if v == 1.0)
    b = sum(1 for v in values if v == 0.0)
    h = sum(1 for v in values if v == 0.5)
    e = sum(1 for v in values if v is None)
    n = a + b + h + e
    if n != len(values):
        raise ValueError("a sample value other than 1, 0, 0.5 or None")
    k = min(k, n)
    total = math.comb(n, k)
    out: dict[float | None, float] = {}
    for x in range(min(a, k) + 1):
        for y in range(min(b, k - x) + 1):
            for z in range(min(h, k - x - y) + 1):
                w = k - x - y - z
                if w > e:
                    continue
                ways = math.comb(a, x) * math.comb(b, y) * math.comb(h, z) * math.comb(e, w)
                m = x + y + z
                if m == 0:
                    v = None
                elif m == 1:
                    v = 1.0 if x else 0.0 if y else 0.5
                else:
                    v = 1.0 if x > y else 0.0 if x < y else coin
                out[v] = out.get(v, 0.0) + ways / total
    return out


def vote_coin(example: Example, order: tuple[int, int], policy: Policy) -> float:
    """The value ``pair_value`` gives the asking candidate for an even split in ``order``."""
    return 1.0 if item_rng(policy.seed, example.task, example.id, "vote", *order).random() < 0.5 else 0.0


def expected_pair_value(example: Example, i: int, judgments, policy: Policy, k: int,
                        tie: float | None = None) -> tuple[float | None, float]:
    """(E[pair value for i | decided], P(undecided)) with k votes per request, orders independent;
    ``tie`` is what a tie verdict is worth (as in ``protocol.pair_value``)."""
    by_order: dict[tuple[int, int], list[float | None]] = {}
    for jd in judgments:
        by_order.setdefault((jd.first, jd.second), []).append(_judgment_value(jd, i, policy, tie))
    if not by_order:
        return None, 1.0
    dists = [order_distribution(vals, k, vote_coin(example, order, policy)) for order, vals in sorted(by_order.items())]
    joint: list[tuple[list[float], float]] = [([], 1.0)]
    for d in dists:
        joint = [(vs + ([v] if v is not None else []), p * q) for vs, p in joint for v, q in d.items() if q > 0]
    decided_p = sum(p for vs, p in joint if vs)
    if decided_p <= 0:
        return None, 1.0
    mean = sum(p * sum(vs) / len(vs) for vs, p in joint if vs) / decided_p
    return mean, 1.0 - decided_p


@dataclass
class VotesOutcome(Outcome):
    """A pairwise outcome whose ``beats`` is the expected pair value with k votes per request."""

    k: int = 1
    partial: list = dataclasses.field(default_factory=list)   # pairs undecided in some draws

    def beats(self, i: int, j: int, tie: float | None = None) -> float | None:
        key = (i, j) if (i, j) in self.judgments else (j, i)
        if key not in self.judgments:
            raise KeyError(f"pair {(i, j)} was not judged for example {self.example.id}")
        value, undecided = expected_pair_value(self.example, i, self.judgments[key], self.policy, self.k, tie)
        if value is not None and undecided > 1e-12:
            self.partial.append((i, j))
        return value


# -- votes: exact enumeration (pointwise items, round robins) ---------------------------------

def replay_round_robin(record: dict, example: Example, policy: Policy, samples=None) -> TournamentOutcome:
    """A round-robin item re-rated from its recorded judgments (optionally only some samples),
    exactly as ``protocol.aggregate`` rated it during the run."""
    block = record["tournament"]
    method = block["method"]
    n = len(example.candidates)
    judged = replay.pair_judgments(record, samples)
    in_match = dataclasses.replace(policy, on_failure="exclude")
    order = [(int(m["i"]), int(m["j"])) for m in block.get("matches") or []] or list(judged)
    matches = [rr_record(i, j, MatchResult(pair_value(example, i, j, judged[(i, j)], in_match), len(judged[(i, j)])))
               for i, j in order]
    choice = rate(method, n, matches, example.preferred, ItemKey.of(example, policy.seed))
    values = candidate_values(choice, n)
    scores = [[Score(c, 0, v, OK if v is not None else UNDECIDED)] for c, v in enumerate(values)]
    return TournamentOutcome(example, policy, scores=scores, judgments=judged)


def _result_for_samples(record: dict, example: Example, policy: Policy, scorer, samples) -> dict:
    if replay.is_tournament(record):
        outcome: Outcome = replay_round_robin(record, example, policy, samples)
    else:
        outcome = replay.outcome_of(record, example, policy, samples)
    return scorer.example_result(example, outcome)


def mean_results(results: Sequence[Any]) -> Any:
    """Leaf-wise mean of same-shaped results (numbers averaged over the non-None ones; a leaf that
    is the same in every result, e.g. a count such as ``n_correct``, and other leaves such as
    flags, taken from the first)."""
    first = results[0]
    if all(r == first and type(r) is type(first) for r in results):
        return first
    if isinstance(first, dict):
        return {key: mean_results([r.get(key) if isinstance(r, dict) else None for r in results]) for key in first}
    if isinstance(first, list):
        if all(isinstance(r, list) and len(r) == len(first) for r in results):
            return [mean_results([r[i] for r in results]) for i in range(len(first))]
        return first
    nums = [r for r in results if isinstance(r, (int, float)) and not isinstance(r, bool)]
    if nums and len(nums) + sum(1 for r in results if r is None) == len(results):
        return sum(nums) / len(nums)
    return first if first is not None else next((r for r in results if r is not None), None)


def _paths(summary: dict) -> dict[str, tuple]:
    out = {ALL: ("score",)}
    for name, sec in (summary.get("sections") or {}).items():
        if isinstance(sec, dict) and "score" in sec:
            out[name] = ("sections", name, "score")
    return out


def votes_curve(records: list[dict], scorer, options: dict, policy: Policy, task: str,
                resamples: int | None = None) -> tuple[dict | None, list[str]]:
    """``{section or "all": [{k, accuracy, ci}]}`` (see the module docstring) and notes."""
    K = policy.samples
    if K < 2 or not records:
        return None, []
    examples = [replay.stub_example(r) for r in records]
    if any(e is None for e in examples):
        return None, ["votes curve: some records do not say which candidates are preferred (written by an older "
                      "rmbench); rerun to get it"]
    if any(replay.is_tournament(r) and r["tournament"].get("method") not in RATING_METHODS for r in records):
        return None, ["votes curve: not computed for knockout items (with fewer votes a bracket would have needed "
                      "matches the run never played)"]
    closed = all(r.get("scores") is None and not replay.is_tournament(r) for r in records)
    if closed:
        try:
            for r in records:
                for p in r.get("pairs") or []:
                    for d in p["judgments"]:
                        _check_value(_judgment_value(replay.judgment(d), int(p["i"]), policy))
        except ValueError:
            closed = False
    notes: list[str] = []
    curve: dict[str, list[dict]] = {}
    partial_pairs = 0
    for k in range(1, K + 1):
        if closed:
            expected = []
            for r, ex in zip(records, examples):
                outcome = VotesOutcome(ex, policy, judgments=replay.pair_judgments(r), k=k)
                expected.append({**r, "result": scorer.example_result(ex, outcome)})
                partial_pairs += bool(outcome.partial)
            summ = scorer.aggregate(expected, options)
            metrics = {name: get_path(summ, path) for name, path in _paths(summ).items()}
        else:
            if math.comb(K, k) > ENUM_LIMIT:
                notes.append(f"votes curve: k = {k} skipped ({math.comb(K, k)} sample sets to enumerate, more than "
                             f"{ENUM_LIMIT})")
                continue
            metrics, expected = _enumerate(records, examples, scorer, options, policy, k)
        summ = scorer.aggregate(expected, options)
        intervals = bootstrap_intervals(expected, scorer.aggregate, options, summary=summ,
                                        seed=item_seed(policy.seed, "votes", task, k), min_subset_n=1 << 62,
                                        **({"resamples": resamples} if resamples else {}))
        paths = _paths(summ)
        for name, value in metrics.items():
            ci = intervals.get(paths.get(name, ()))
            curve.setdefault(name, []).append({"k": k, "accuracy": value, "ci": list(ci) if ci else None})
    if partial_pairs:
        notes.append("votes curve: under --on-failure exclude some pairs could draw only failures; they count with "
                     "their expected value given a verdict (not an exact expectation)")
    return (curve or None), notes


def _check_value(v: float | None) -> None:
    if v not in (None, 0.0, 0.5, 1.0):
        raise ValueError(v)


def _enumerate(records, examples, scorer, options, policy, k) -> tuple[dict[str, float | None], list[dict]]:
    sums: dict[str, float] = {}
    undefined: set[str] = set()
    per_record: list[list[dict]] = [[] for _ in records]
    sets = list(combinations(range(policy.samples), k))
    for T in sets:
        recs = []
        for idx, (r, ex) in enumerate(zip(records, examples)):
            res = _result_for_samples(r, ex, policy, scorer, T)
            per_record[idx].append(res)
            recs.append({**r, "result": res})
        summ = scorer.aggregate(recs, options)
        for name, path in _paths(summ).items():
            v = get_path(summ, path)
            if v is None:
                undefined.add(name)
            else:
                sums[name] = sums.get(name, 0.0) + v
    metrics = {name: (None if name in undefined else s / len(sets)) for name, s in sums.items()}
    for name in undefined:
        metrics[name] = None
    expected = [{**r, "result": mean_results(res)} for r, res in zip(records, per_record)]
    return metrics, expected


# -- candidates: replaying aggregators on subsets of a round robin ----------------------------

@dataclass
class _Item:
    example: Example
    key: ItemKey
    judged: dict[tuple[int, int], list]
    in_match: Policy
    cache: dict

    def value(self, i: int, j: int) -> tuple[float | None, int]:
        """The match value of i against j folded in this orientation, and its judge calls."""
        hit = self.cache.get((i, j))
        if hit is None:
            key = (i, j) if (i, j) in self.judged else (j, i)
            js = self.judged.get(key)
            if js is None:
                raise KeyError((i, j))
            hit = self.cache[(i, j)] = (pair_value(self.example, i, j, js, self.in_match), len(js))
        return hit


def knockout_over(item: _Item, members: Sequence[int]) -> tuple[tuple[MatchRecord, ...], int]:
    """The knockout an item with ``len(members)`` candidates would play (its seeded bracket, byes
    and coins), with candidate t of that item being ``members[t]``: the match log and the
    champion, both in position terms."""
    n = len(members)
    alive = bracket_order(n, item.key)
    byes_so_far = {p: 0 for p in alive}
    log: list[MatchRecord] = []
    rnd = 0
    while len(alive) > 1:
        rnd += 1
        pairs, bye = plan_round(alive, byes_so_far, item.key, rnd)
        if bye is not None:
            byes_so_far[bye] += 1
        winner_of = {}
        for x, y in pairs:
            value, calls = item.value(members[x], members[y])
            rec = settle(item.key, rnd, x, y, MatchResult(value, calls))
            log.append(rec)
            winner_of[x] = rec.winner
        alive = [p if p == bye else winner_of[p] for p in alive if p == bye or p in winner_of]
    return tuple(log), alive[0]


def _subsets(n_all: int, n: int, limit: int, seed_parts: tuple) -> tuple[list[tuple[int, ...]], bool]:
    """Every size-n subset of ``range(n_all)`` when there are at most ``limit``, else ``limit``
    distinct ones drawn with a seed; and whether that is all of them."""
    if math.comb(n_all, n) <= limit:
        return list(combinations(range(n_all), n)), True
    rng = random.Random(item_seed(*seed_parts))
    seen: dict[tuple[int, ...], None] = {}
    while len(seen) < limit:
        seen[tuple(sorted(rng.sample(range(n_all), n)))] = None
    return list(seen), False


def _round_robin_items(records: list[dict]) -> tuple[list[tuple[dict, Example]], int]:
    rr, knockouts = [], 0
    for r in records:
        if not replay.is_tournament(r):
            continue
        if r["tournament"].get("method") in RATING_METHODS:
            ex = replay.stub_example(r)
            if ex is not None:
                rr.append((r, ex))
        else:
            knockouts += 1
    return rr, knockouts


def subset_limit(items: int) -> int:
    """Subsets per item and size: at most ``SUBSET_LIMIT``, fewer when there are many items (the
    curve's error is then mostly between items), never fewer than ``MIN_SUBSETS``."""
    return max(MIN_SUBSETS, min(SUBSET_LIMIT, SUBSET_BUDGET // max(1, items)))


def candidates_curve(records: list[dict], policy: Policy, task: str) -> tuple[list[dict] | None, list[str]]:
    """``[{aggregator, n, accuracy, judge_calls, matches, oracle, items, exact}]`` for the task's
    round-robin items (see the module docstring) and notes."""
    rr, knockouts = _round_robin_items(records)
    notes: list[str] = []
    if not rr:
        if knockouts:
            notes.append("candidates curve: needs a full round robin (--aggregate elo, bt or wins); a knockout plays "
                         "too few matches to replay other aggregators")
        return None, notes
    if policy.orders != "both":
        notes.append(f"candidates curve: pairs were judged with --orders {policy.orders}; a knockout run would have "
                     "shown some pairs the other way round, so its replay is approximate")
    limit = subset_limit(len(rr))
    acc: dict[tuple[str, int], list[float]] = {}
    cost: dict[tuple[str, int], list[tuple[float, float]]] = {}
    oracle: dict[int, list[float]] = {}
    exact: dict[int, bool] = {}
    for r, ex in rr:
        item = _item(r, ex, policy)
        preferred = set(ex.preferred)
        n_all = len(ex.candidates)
        for n in range(1, n_all + 1):
            subsets, complete = _subsets(n_all, n, limit, (policy.seed, task, ex.id, "curve", n))
            exact[n] = exact.get(n, True) and complete
            credits: dict[str, list[float]] = {m: [] for m in AGGREGATORS}
            spent: dict[str, list[tuple[float, float]]] = {m: [] for m in AGGREGATORS}
            hits = []
            for members in subsets:
                hits.append(1.0 if preferred.intersection(members) else 0.0)
                for method, pick in picks(item, members).items():
                    credit = pick["credit"] if pick["credit"] is not None else failure_value(policy.on_failure, n)
                    if credit is not None:
                        credits[method].append(credit)
                    spent[method].append((pick["judge_calls"], pick["matches"]))
            oracle.setdefault(n, []).append(sum(hits) / len(hits))
            for method in AGGREGATORS:
                if credits[method]:
                    acc.setdefault((method, n), []).append(sum(credits[method]) / len(credits[method]))
                s = spent[method]
                cost.setdefault((method, n), []).append((sum(c for c, _ in s) / len(s), sum(m for _, m in s) / len(s)))
    out = []
    for method in AGGREGATORS:
        for n in sorted(oracle):
            vals, spent = acc.get((method, n), []), cost[(method, n)]
            out.append({"aggregator": method, "n": n, "accuracy": sum(vals) / len(vals) if vals else None,
                        "judge_calls": sum(c for c, _ in spent) / len(spent),
                        "matches": sum(m for _, m in spent) / len(spent),
                        "oracle": sum(oracle[n]) / len(oracle[n]), "items": len(oracle[n]), "exact": exact[n]})
    if not all(exact.values()):
        notes.append(f"candidates curve: where an item has more than {limit} subsets of a size, {limit} of them "
                     "(drawn with the run seed) stand for all (exact: false)")
    return out, notes


def _item(record: dict, example: Example, policy: Policy) -> _Item:
    return _Item(example, ItemKey.of(example, policy.seed), replay.pair_judgments(record),
                 dataclasses.replace(policy, on_failure="exclude"), {})


def picks(item: _Item, members: Sequence[int], methods: Sequence[str] = AGGREGATORS) -> dict[str, dict]:
    """What each aggregator picks among ``members`` (candidate indices) from the recorded
    judgments: per method ``{"best", "top", "credit", "judge_calls", "matches"}`` with ``best``
    and ``top`` as candidate indices and ``credit`` None when nothing was decided (or, for a
    subset without a preferred candidate, 0 once something was)."""
    n = len(members)
    preferred = set(item.example.preferred)
    pref_pos = [t for t, c in enumerate(members) if c in preferred]
    out: dict[str, dict] = {}
    if n == 1:
        one = {"best": members[0], "top": [members[0]], "credit": 1.0 if pref_pos else 0.0, "judge_calls": 0.0,
               "matches": 0.0}
        return {m: dict(one) for m in methods}
    if "knockout" in methods:
        log, winner = knockout_over(item, members)
        ok = bool(decided(log))
        out["knockout"] = {"best": members[winner] if ok else None, "top": [members[winner]] if ok else [],
                           "credit": (1.0 if winner in pref_pos else 0.0) if ok else None,
                           "judge_calls": float(sum(m.comparisons for m in log)), "matches": float(len(log))}
    rating = [m for m in methods if m in RATING_METHODS]
    if rating:
        matches = []
        for x in range(n):
            for y in range(x + 1, n):
                value, calls = item.value(members[x], members[y])
                matches.append(rr_record(x, y, MatchResult(value, calls)))
        calls = float(sum(m.comparisons for m in matches))
        for method in rating:
            choice = rate(method, n, matches, pref_pos, item.key)
            credit = choice.credit if pref_pos else (0.0 if choice.top else None)
            out[method] = {"best": members[choice.best] if choice.best is not None else None,
                           "top": [members[t] for t in choice.top], "credit": credit, "judge_calls": calls,
                           "matches": float(len(matches))}
    return out


def replay_picks(record: dict, policy: Policy, members: Sequence[int] | None = None,
                 methods: Sequence[str] = AGGREGATORS) -> dict[str, dict]:
    """``picks`` for one round-robin record, over ``members`` (default: every candidate)."""
    ex = replay.stub_example(record)
    if ex is None or not replay.is_tournament(record):
        raise ValueError("a round-robin record with its preferred candidates is needed")
    return picks(_item(record, ex, policy), list(members) if members is not None else list(range(len(ex.candidates))),
                 methods)
