"""Votes curves against expectations worked out by hand, and the closed form against brute force."""

from __future__ import annotations

import itertools
import math

import pytest

from rmbench.protocol import Outcome, pair_value
from rmbench.scoring import curves, get_scorer, replay
from rmbench.tasks import get_spec
from tests.scoring.diag_records import coin, pair_record, policy

RB = get_scorer("rewardbench")
RB_OPTIONS = get_spec("rewardbench").options


def _dist(values, k, c):
    return {v: round(p, 12) for v, p in curves.order_distribution(values, k, c).items() if p}


def test_order_distribution_by_hand():
    # W W L: two of three votes; a 2-vote draw is WW once and a split twice
    assert _dist([1.0, 1.0, 0.0], 1, 0.0) == {1.0: round(2 / 3, 12), 0.0: round(1 / 3, 12)}
    assert _dist([1.0, 1.0, 0.0], 2, 0.0) == {1.0: round(1 / 3, 12), 0.0: round(2 / 3, 12)}
    assert _dist([1.0, 1.0, 0.0], 2, 1.0) == {1.0: 1.0}
    assert _dist([1.0, 1.0, 0.0], 3, 0.0) == {1.0: 1.0}
    # W W 0.5 L L (a failure under --on-failure half): k = 2 is WW, W.5 (x2), WL (x4, split), .5L (x2), LL
    assert _dist([1.0, 1.0, 0.5, 0.0, 0.0], 2, 1.0) == {1.0: 0.7, 0.0: 0.3}
    # k = 3: WW.5, WWL x2 win; W.5L x4 split; WLL x2, .5LL lose
    assert _dist([1.0, 1.0, 0.5, 0.0, 0.0], 3, 0.0) == {1.0: 0.3, 0.0: 0.7}
    # a lone half-value is kept as it is; a lone excluded failure leaves no value
    assert _dist([0.5, None], 1, 0.0) == {0.5: 0.5, None: 0.5}


def test_closed_form_equals_brute_force_over_subsets():
    values = [1.0, 1.0, 1.0, 0.0, 0.0, 0.5, None]
    for k in range(1, len(values) + 1):
        for c in (0.0, 1.0):
            brute: dict = {}
            subsets = list(itertools.combinations(values, k))
            for sub in subsets:
                kept = [v for v in sub if v is not None]
                if not kept:
                    v = None
                elif len(kept) == 1:
                    v = kept[0]
                else:
                    m = sum(kept) / len(kept)
                    v = 1.0 if m > 0.5 else 0.0 if m < 0.5 else c
                brute[v] = brute.get(v, 0) + 1 / len(subsets)
            got = curves.order_distribution(values, k, c)
            assert set(got) == set(brute)
            assert all(math.isclose(got[v], brute[v]) for v in got)


def _curve(records, pol):
    curve, notes = curves.votes_curve(records, RB, RB_OPTIONS, pol, "rewardbench", resamples=50)
    return curve, notes


def _acc(curve, name="all"):
    return [p["accuracy"] for p in curve[name]]


def test_votes_curve_for_three_samples_by_hand():
    pol = policy(3)
    recs = [pair_record("a", {(0, 1): "WWW"}), pair_record("b", {(0, 1): "WWL"}),
            pair_record("c", {(0, 1): "WLL"}), pair_record("d", {(0, 1): "LLL"})]
    cb, cc = coin(0, "rewardbench", "b", (0, 1)), coin(0, "rewardbench", "c", (0, 1))
    curve, notes = _curve(recs, pol)
    assert notes == []
    want = [(1 + 2 / 3 + 1 / 3 + 0) / 4, (1 + (1 + 2 * cb) / 3 + 2 * cc / 3 + 0) / 4, (1 + 1 + 0 + 0) / 4]
    assert _acc(curve) == pytest.approx(want)
    assert _acc(curve, "Chat") == pytest.approx(want)       # the section holding the subset
    assert [p["k"] for p in curve["all"]] == [1, 2, 3]
    assert all(p["ci"] is None or p["ci"][0] <= p["accuracy"] + 1e-9 <= p["ci"][1] + 2e-9 for p in curve["all"])


def test_votes_curve_for_five_samples_in_both_orders_by_hand():
    pol = policy(5, orders="both")
    recs = [pair_record("e", {(0, 1): "WWWLL", (1, 0): "WWWWW"}),
            pair_record("f", {(0, 1): "WWFLL", (1, 0): "LLLLL"})]
    ce = coin(0, "rewardbench", "e", (0, 1))
    cf = coin(0, "rewardbench", "f", (0, 1))
    # e, order (0, 1): W W W L L; order (1, 0) always won
    e = [3 / 5, (3 + 6 * ce) / 10, 7 / 10, (2 + 3 * ce) / 5, 1.0]
    # f under --on-failure loss: the failure is a lost vote, W W L L L; order (1, 0) always lost
    f = [2 / 5, (1 + 6 * cf) / 10, 3 / 10, 3 * cf / 5, 0.0]
    want = [((ev + 1) / 2 + (fv + 0) / 2) / 2 for ev, fv in zip(e, f)]
    curve, _ = _curve(recs, pol)
    assert _acc(curve) == pytest.approx(want)


def test_k_equals_K_is_the_runs_accuracy_and_k_1_the_mean_single_sample_accuracy():
    pol = policy(5, orders="both", on_failure="half")
    plan = ["WWWLL", "WLFLW", "LLLLW", "WWWWW", "FWLWL", "LWLWL", "WWLLF", "TWWLT"]
    recs = [pair_record(f"x{n}", {(0, 1): seq, (1, 0): seq[::-1]}) for n, seq in enumerate(plan)]
    for r in recs:      # what the run stored: the scorer on all samples
        ex = replay.stub_example(r)
        r["result"] = RB.example_result(ex, replay.outcome_of(r, ex, pol))
    run_score = RB.aggregate(recs, RB_OPTIONS)["score"]
    singles = []
    for s in range(5):
        one = []
        for r in recs:
            ex = replay.stub_example(r)
            one.append({**r, "result": RB.example_result(ex, replay.outcome_of(r, ex, pol, samples=[s]))})
        singles.append(RB.aggregate(one, RB_OPTIONS)["score"])
    curve, _ = _curve(recs, pol)
    assert _acc(curve)[-1] == pytest.approx(run_score, abs=1e-12)
    assert _acc(curve)[0] == pytest.approx(sum(singles) / 5, abs=1e-12)


def test_expected_pair_value_matches_pair_value_on_every_subset_when_orders_are_one_request():
    """For one order, the closed form is the mean of pair_value over all k-subsets."""
    pol = policy(4, orders="fixed", on_failure="half")
    rec = pair_record("g", {(0, 1): "WFLW"})
    ex = replay.stub_example(rec)
    js = replay.pair_judgments(rec)[(0, 1)]
    for k in range(1, 5):
        subs = list(itertools.combinations(js, k))
        brute = sum(pair_value(ex, 0, 1, list(s), pol) for s in subs) / len(subs)
        value, undecided = curves.expected_pair_value(ex, 0, js, pol, k)
        assert undecided == 0
        assert value == pytest.approx(brute)


def test_exclude_policy_notes_pairs_that_could_draw_only_failures():
    pol = policy(3, on_failure="exclude")
    recs = [pair_record("a", {(0, 1): "WFF"}), pair_record("b", {(0, 1): "WWL"})]
    curve, notes = _curve(recs, pol)
    assert any("expected value given a verdict" in n for n in notes)
    assert _acc(curve)[-1] == pytest.approx((1 + 1) / 2)


def test_pointwise_ratings_enumerate_sample_sets():
    """A rating judge with 3 samples on two-candidate items: each k-point is the mean over the
    C(3, k) sample sets of the run's own scoring (mean rating; a tie is a loss)."""
    pol = policy(3)
    recs = []
    table = {"p": ([8, 6, 7], [7, 7, 7]), "q": ([5, 9, 5], [6, 6, 6]), "r": ([3, 3, 3], [4, 2, 9])}
    for ident, (good, bad) in table.items():
        recs.append({"task": "rewardbench", "id": ident, "subset": "alpacaeval-easy", "result": {"correct": None},
                     "preferred": [0], "lengths": {"unit": "chars", "counts": [1, 1]},
                     "scores": [[{"index": c, "value": float(v), "status": "ok", "sample": s}
                                 for s, v in enumerate(vals)] for c, vals in enumerate((good, bad))]})
    curve, notes = curves.votes_curve(recs, RB, RB_OPTIONS, pol, "rewardbench", resamples=50)

    def by_hand(k):
        total = 0.0
        for good, bad in table.values():
            sets = list(itertools.combinations(range(3), k))
            total += sum(1.0 if sum(good[s] for s in t) > sum(bad[s] for s in t) else 0.0 for t in sets) / len(sets)
        return total / len(table)

    assert _acc(curve) == pytest.approx([by_hand(1), by_hand(2), by_hand(3)])


def test_no_votes_curve_without_samples_or_for_knockout_items():
    assert curves.votes_curve([pair_record("a", {(0, 1): "W"})], RB, RB_OPTIONS, policy(1), "rewardbench")[0] is None
    rec = pair_record("a", {(0, 1): "WW"})
    rec["tournament"] = {"method": "knockout", "by": "matches"}
    curve, notes = curves.votes_curve([rec], RB, RB_OPTIONS, policy(2), "rewardbench")
    assert curve is None and "knockout" in notes[0]


def test_mean_results_averages_numbers_and_keeps_flags():
    got = curves.mean_results([{"correct": 1.0, "matrix": [[1.0, None]], "pairwise": True},
                               {"correct": 0.0, "matrix": [[0.0, None]], "pairwise": True}])
    assert got == {"correct": 0.5, "matrix": [[0.5, None]], "pairwise": True}


def test_votes_outcome_is_an_outcome():
    assert issubclass(curves.VotesOutcome, Outcome)
