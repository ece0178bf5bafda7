"""The official scripts' rules for generative judges, against hand-computed values: equal
ratings, failed ratings in best-of-4 rows, the four-way prompt, tie verdicts in pairwise and
best-of-N scoring, Ties without a composite, and the ``chance`` failure value.

Each expected number is what the official code gives (file and function in docs/benchmarks.md):
e.g. RewardBench 2's ``get_vllm_judgement`` drops failed (-1) ratings and returns
``(0 in winners) / len(winners)``, 0.25 when no rating is left."""

from __future__ import annotations

import math

import pytest

from rmbench.contracts import CHANCE, failure_value
from rmbench.protocol import DROP, Outcome, Policy
from rmbench.scoring import bon, rmb
from rmbench.scoring import rewardbench as rb1
from rmbench.scoring import rewardbench2 as rb2
from rmbench.scoring import rmbench as rmbench_scoring
from rmbench.scoring.judging import failure_counts, tie_rates
from rmbench.types import OK, TIE, UNPARSED, Judgment, Pick, Score
from tests.scoring.outcomes import example, record

GENERATIVE_RATINGS = Policy(equal_scores=0.5, partial_failures=DROP)   # what resolve() gives a rating judge
SCALAR = Policy()                                                      # strict >, a failed score fails the row


def _scores(ex, values, policy):
    scores = [[Score(i, 0, v) if v is not None else Score(i, 0, None, UNPARSED)] for i, v in enumerate(values)]
    return Outcome(ex, policy, scores=scores)


def _pairs(ex, verdicts, policy=Policy()):
    """``verdicts[(i, j)]`` = statuses/winners of the judgments of pair (i, j) in orders (i, j), (j, i):
    an int winner, "tie" or None (unparsed)."""
    judgments = {}
    for (i, j), vs in verdicts.items():
        orders = [(i, j), (j, i)][: len(vs)]
        judgments[(i, j)] = [Judgment(a, b, 0, TIE if v == "tie" else (OK if v is not None else UNPARSED),
                                      winner=v if isinstance(v, int) else None) for (a, b), v in zip(orders, vs)]
    return Outcome(ex, policy, judgments=judgments)


def _picks(ex, winners, policy=Policy(), order=(2, 0, 3, 1)):
    picks = [Pick(tuple(order), s, TIE if w == "tie" else (OK if w is not None else UNPARSED),
                  winner=w if isinstance(w, int) else None) for s, w in enumerate(winners)]
    return Outcome(ex, policy, picks=picks)


# -- 1. RewardBench v1, ratings: equal ratings ---------------------------------------------

def test_equal_ratings_score_half_for_a_generative_judge_and_zero_for_a_scalar_one():
    ex = example("r", 2, task="rewardbench")
    assert rb1.example_result(ex, _scores(ex, [7, 7], GENERATIVE_RATINGS)) == {"correct": 0.5}
    assert rb1.example_result(ex, _scores(ex, [7, 7], SCALAR)) == {"correct": 0.0}   # run_rm.py: chosen > rejected
    assert rb1.example_result(ex, _scores(ex, [8, 7], GENERATIVE_RATINGS)) == {"correct": 1.0}
    assert rb1.example_result(ex, _scores(ex, [6, 7], GENERATIVE_RATINGS)) == {"correct": 0.0}


def test_equal_ratings_are_counted_and_reported_as_a_tie_rate():
    recs = []
    for k, values in enumerate([[7, 7], [8, 7], [5, 5], [1, 9]]):
        ex = example(f"r{k}", 2, subset="alpacaeval-easy", task="rewardbench")
        out = _scores(ex, values, GENERATIVE_RATINGS)
        recs.append({**record(ex, rb1.example_result(ex, out)), **out.to_json(), "failures": out.failures()})
    assert [r["ties"] for r in recs] == [{"compared": 1, "equal": 1}, {"compared": 1, "equal": 0},
                                         {"compared": 1, "equal": 1}, {"compared": 1, "equal": 0}]
    assert tie_rates(recs) == {"equal_scores": {"n": 2, "of": 4, "rate": 0.5}}
    assert failure_counts(recs) == {}
    # subset accuracy (1 + ... by hand): 0.5 + 1 + 0.5 + 0 over 4 rows
    assert rb1.aggregate(recs, {"sections": {"Chat": {"alpacaeval-easy": 100}}})["score"] == pytest.approx(0.5)


def test_a_failed_rating_fails_the_pair_per_the_policy():
    ex = example("r", 2, task="rewardbench")
    assert rb1.example_result(ex, _scores(ex, [None, 7], GENERATIVE_RATINGS)) == {"correct": 0.0}
    half = Policy(equal_scores=0.5, on_failure="half")   # --protocol official: RewardBench's "error" -> 0.5
    assert rb1.example_result(ex, _scores(ex, [None, 7], half)) == {"correct": 0.5}


# -- 2. RewardBench 2, ratings: failed ratings ---------------------------------------------

@pytest.mark.parametrize("values, expected", [
    ([None, 3, 2, 1], 0.0),           # one failed, the chosen one: it cannot win
    ([5, None, 6, 1], 0.0),           # one failed: 6 beats 5 among the other three
    ([5, None, 4, 1], 1.0),           # one failed: 5 is the best of the other three
    ([5, None, None, 1], 1.0),        # two failed: decided between the two left
    ([5, None, None, 5], 0.5),        # two failed, a tie at the top of the two left: 1/2
    ([None, None, None, 9], 0.0),     # three failed: the one left is a rejected one
])
def test_failed_ratings_are_left_out_and_the_row_is_decided_among_the_rest(values, expected):
    ex = example("m", 4, subset="Math", task="rewardbench2")
    res = rb2.example_result(ex, _scores(ex, values, GENERATIVE_RATINGS))
    assert res["correct"] == pytest.approx(expected) and res["dropped"] is True


@pytest.mark.parametrize("policy, expected", [("loss", 0.0), ("half", 0.5), ("exclude", None), ("chance", 0.25)])
def test_four_failed_ratings_score_the_failure_value_and_chance_is_a_quarter(policy, expected):
    ex = example("m", 4, subset="Math", task="rewardbench2")
    pol = Policy(equal_scores=0.5, partial_failures=DROP, on_failure=policy)
    assert rb2.example_result(ex, _scores(ex, [None] * 4, pol))["correct"] == expected


def test_a_scalar_row_with_a_missing_score_still_fails_as_a_whole():
    ex = example("m", 4, subset="Math", task="rewardbench2")
    assert rb2.example_result(ex, _scores(ex, [5, None, 4, 1], SCALAR))["correct"] == 0.0
    assert "dropped" not in rb2.example_result(ex, _scores(ex, [5, None, 4, 1], SCALAR))


def test_rows_decided_without_failed_ratings_are_counted_in_the_summary():
    recs = []
    for k, values in enumerate([[5, None, 4, 1], [5, 4, 3, 2], [None, None, None, None], [2, 2, 1, 1]]):
        ex = example(f"f{k}", 4, subset="Factuality", task="rewardbench2")
        recs.append(record(ex, rb2.example_result(ex, _scores(ex, values, GENERATIVE_RATINGS))))
    out = rb2.aggregate(recs, {})
    fact = out["sections"]["Factuality"]
    assert fact["score"] == pytest.approx((1 + 1 + 0 + 0.5) / 4)
    assert fact["decided_without_failed"] == 1 and fact["tied_top"] == 1
    assert any("1 best-of-4 rows had failed ratings" in n for n in out["notes"])


def test_ties_failed_rating_is_minus_one_under_the_official_protocol():
    ref = example("ref:1", 3, subset="Ties", labels={"ties_kind": "ref", "prompt_id": "1"}, task="rewardbench2")
    official = Policy(equal_scores=0.5, partial_failures=DROP, on_failure="chance", failed_score=-1.0)
    res = rb2.example_result(ref, _scores(ref, [4, None, 2], official))
    assert res["scores"] == [4, -1.0, 2] and res["correct"] == 1.0 and res["failed_scored"] is True
    lost = rb2.example_result(ref, _scores(ref, [None, 3, 2], official))
    assert lost["scores"] == [-1.0, 3, 2] and lost["correct"] == 0.0
    # by default the row fails as a whole; chance for a ref row is 1/3, for a tied row 1/C(n, k)
    assert rb2.example_result(ref, _scores(ref, [4, None, 2], GENERATIVE_RATINGS))["correct"] == 0.0
    chance = Policy(equal_scores=0.5, partial_failures=DROP, on_failure="chance")
    assert rb2.example_result(ref, _scores(ref, [4, None, 2], chance))["correct"] == pytest.approx(1 / 3)
    tied = example("tied:1", 4, preferred=(0, 1), subset="Ties", labels={"ties_kind": "tied", "prompt_id": "1"},
                   task="rewardbench2")
    assert rb2.example_result(tied, _scores(tied, [4, None, 2, 1], chance))["correct"] == pytest.approx(1 / 6)


# -- 3. the four-way prompt ----------------------------------------------------------------

@pytest.mark.parametrize("policy, expected", [("loss", 0.0), ("half", 0.5), ("chance", 0.25), ("exclude", None)])
def test_an_unparsable_four_way_answer_scores_the_failure_value(policy, expected):
    ex = example("m", 4, subset="Math", task="rewardbench2")
    assert rb2.example_result(ex, _picks(ex, [None], Policy(on_failure=policy))) == \
        {"correct": expected, "listwise": True}


def test_a_four_way_pick_counts_when_it_names_the_chosen_completion():
    ex = example("m", 4, subset="Math", task="rewardbench2")
    assert rb2.example_result(ex, _picks(ex, [0]))["correct"] == 1.0
    assert rb2.example_result(ex, _picks(ex, [3]))["correct"] == 0.0
    assert rb2.example_result(ex, _picks(ex, ["tie"]))["correct"] == 0.0     # names none: a loss in a list
    # samples: the majority pick; failed samples are left out
    assert rb2.example_result(ex, _picks(ex, [0, 3, 0]))["correct"] == 1.0
    assert rb2.example_result(ex, _picks(ex, [None, None, 3]))["correct"] == 0.0
    out = _picks(ex, [0])
    assert out.failures() == {} and _picks(ex, [None]).failures() == {"unparsed": 1}
    assert out.to_json() == {"picks": [{"order": [2, 0, 3, 1], "sample": 0, "status": "ok", "winner": 0,
                                        "label": None}]}


def test_the_bon_task_reads_picks_too():
    ex = example("b", 5, preferred=(1, 3), task="bon")
    assert bon.example_result(ex, _picks(ex, [3], order=(0, 1, 2, 3, 4)))["correct"] == 1.0
    assert bon.example_result(ex, _picks(ex, [2], order=(0, 1, 2, 3, 4)))["correct"] == 0.0
    assert bon.example_result(ex, _picks(ex, [None], Policy(on_failure=CHANCE), order=(0, 1, 2, 3, 4)))["correct"] \
        == pytest.approx(1 / 5)


# -- 4. tie verdicts -----------------------------------------------------------------------

def test_a_tie_verdict_is_half_in_pairwise_accuracy():
    ex = example("r", 2, task="rewardbench")
    assert rb1.example_result(ex, _pairs(ex, {(0, 1): ("tie",)})) == {"correct": 0.5}
    assert rb1.example_result(ex, _pairs(ex, {(0, 1): ("tie", 0)})) == {"correct": 0.75}   # mean over orders
    assert rb1.example_result(ex, _pairs(ex, {(0, 1): ("tie", 1)})) == {"correct": 0.25}
    out = _pairs(ex, {(0, 1): ("tie", None)})
    assert out.failures() == {"unparsed": 1}                                   # a tie is not a failure


def test_a_tie_verdict_is_half_in_an_rm_bench_cell():
    ex = example("c", 6, preferred=(0, 1, 2), task="rm-bench")
    verdicts = {(i, j): (i,) for i in range(3) for j in range(3, 6)}
    verdicts[(0, 4)] = ("tie",)           # chosen 0 vs rejected 1: a hard cell
    res = rmbench_scoring.example_result(ex, _pairs(ex, verdicts))
    assert res["matrix"][0][1] == 0.5 and res["correct"] == pytest.approx(8.5 / 9)


def test_a_tie_verdict_is_a_loss_in_best_of_n_lists():
    bon_item = example("x", 3, labels={"part": "bon"}, task="rmb")
    won = {(0, 1): (0, 0), (0, 2): (0, 0)}
    assert rmb.example_result(bon_item, _pairs(bon_item, won))["correct"] == 1.0
    assert rmb.example_result(bon_item, _pairs(bon_item, {**won, (0, 2): ("tie", "tie")}))["correct"] == 0.0
    assert rmb.example_result(bon_item, _pairs(bon_item, {**won, (0, 2): ("tie", 0)}))["correct"] == 0.5
    pair_item = example("p", 2, labels={"part": "pairwise"}, task="rmb")
    assert rmb.example_result(pair_item, _pairs(pair_item, {(0, 1): ("tie",)}))["correct"] == 0.5
    rb2_item = example("m", 4, subset="Math", task="rewardbench2")
    assert rb2.example_result(rb2_item, _pairs(rb2_item, {(0, j): ("tie",) for j in (1, 2, 3)}))["correct"] == 0.0
    bon_pairs = example("b", 3, task="bon")
    assert bon.example_result(bon_pairs, _pairs(bon_pairs, {(0, 1): (0,), (0, 2): ("tie",)}))["correct"] == 0.0


def test_equal_scores_in_an_rmb_list_are_a_loss_even_for_a_generative_judge():
    ex = example("x", 3, labels={"part": "bon"}, task="rmb")
    assert rmb.example_result(ex, _scores(ex, [7, 7, 1], GENERATIVE_RATINGS))["correct"] == 0.0
    assert rmb.example_result(ex, _scores(ex, [8, 7, 1], GENERATIVE_RATINGS))["correct"] == 1.0


def test_tie_verdicts_are_reported_as_a_rate_not_as_failures():
    ex = example("r", 2, subset="alpacaeval-easy", task="rewardbench")
    recs = []
    for vs in [("tie", 0), (0, 0), (None, 0)]:
        out = _pairs(ex, {(0, 1): vs})
        recs.append({**record(ex, rb1.example_result(ex, out)), **out.to_json(), "failures": out.failures()})
    assert tie_rates(recs) == {"tie_verdicts": {"n": 1, "of": 5, "rate": 0.2}}
    assert failure_counts(recs) == {"unparsed": 1}


# -- 5. Ties undefined: the overall is not official ----------------------------------------

def test_a_missing_ties_composite_makes_the_overall_unofficial_and_says_why():
    recs = []
    for sub in ("Factuality", "Precise IF", "Math", "Safety", "Focus"):
        ex = example(sub, 4, subset=sub, task="rewardbench2")
        recs.append(record(ex, rb2.example_result(ex, _scores(ex, [4, 1, 2, 3], SCALAR))))
    ref = example("ref:1", 3, subset="Ties", labels={"ties_kind": "ref", "prompt_id": "1"}, task="rewardbench2")
    recs.append(record(ref, rb2.example_result(ref, _scores(ref, [4, 1, 2], SCALAR))))   # no tied:1 (--limit)
    out = rb2.aggregate(recs, {})
    assert out["sections"]["Ties"]["score"] is None
    assert out["score"] == 1.0 and out["official"] is False
    assert any("Ties composite is undefined" in n and "mean of 5 subsets" in n for n in out["notes"])
    full = rb2.aggregate(recs[:5], {})   # Ties absent altogether: also not the official score
    assert full["official"] is False and "subsets missing from the data: Ties" in full["notes"][0]


# -- the chance failure value --------------------------------------------------------------

def test_chance_is_one_over_the_number_of_candidates():
    assert failure_value(CHANCE, 2) == 0.5 and failure_value(CHANCE, 4) == 0.25
    assert failure_value(CHANCE, math.comb(4, 2)) == pytest.approx(1 / 6)
    assert failure_value("loss", 4) == 0.0 and failure_value("half", 7) == 0.5 and failure_value("exclude", 3) is None
    with pytest.raises(ValueError):
        failure_value(CHANCE, 0)
    # a pair under chance: 1/2
    ex = example("r", 2, task="rewardbench")
    assert rb1.example_result(ex, _pairs(ex, {(0, 1): (None,)}, Policy(on_failure=CHANCE))) == {"correct": 0.5}
    rmb_list = example("x", 4, labels={"part": "bon"}, task="rmb")
    assert rmb.example_result(rmb_list, _scores(rmb_list, [None, 1, 2, 3], Policy(on_failure=CHANCE)))["correct"] \
        == 0.25
