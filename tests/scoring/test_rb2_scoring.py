"""RewardBench 2: best-of-4 with ties at the top, and the Ties composite, against hand-computed
values; then end to end through the CLI with the longest baseline on responses whose lengths are
the scores."""

from __future__ import annotations

import json
import math

import pytest

from rmbench.scoring import rewardbench2 as rb2
from tests.helpers import run_cli, write_json
from tests.scoring.outcomes import example, pairwise, pointwise, record
from tests.tasks.test_rb2_task import rb2_row


def _rec(ident, subset, scores, n_correct=1, on_failure="loss"):
    labels = {}
    if subset == "Ties":
        kind, _, pid = ident.partition(":")
        labels = {"ties_kind": kind, "prompt_id": pid}
    ex = example(ident, len(scores), preferred=tuple(range(n_correct)), subset=subset, labels=labels,
                 task="rewardbench2")
    return record(ex, rb2.example_result(ex, pointwise(ex, scores, on_failure=on_failure)))


@pytest.mark.parametrize("scores, expected", [
    ([4, 1, 2, 3], 1.0),
    ([4, 4, 2, 1], 1 / 2),      # two-way tie at the top
    ([4, 4, 4, 1], 1 / 3),      # three-way tie
    ([3, 4, 2, 1], 0.0),
    ([1, 1, 1, 1], 1 / 4),
])
def test_best_of_4_ties_at_the_top_share_the_credit(scores, expected):
    assert _rec("x", "Math", scores)["result"]["correct"] == pytest.approx(expected)


@pytest.mark.parametrize("policy, expected", [("loss", 0.0), ("half", 0.5), ("exclude", None)])
def test_a_missing_score_follows_the_failure_policy(policy, expected):
    assert _rec("x", "Math", [9, None, 1, 1], on_failure=policy)["result"]["correct"] == expected


# Ties prompts (scores of the correct answers first, then the incorrect ones):
#  1: ref  [8 | 5 6]       accurate, margin 2
#     tied [9 7 8 | 3 5]   accurate, diff 2, margin 2  -> preferred 2>2 no, hard min(2,2)>2 no, tanh(2/2-1)=0
#  2: ref  [4 | 6 1]       wrong, margin -2
#     tied [10 10 | 2]     accurate, diff 0, margin 8  -> preferred yes, hard min(-2,8)>0 no, tanh(-2/0) -> -1
#  3: ref  [6 | 1]         accurate, margin 5
#     tied [6 4 | 1]       accurate, diff 2, margin 3  -> preferred yes, hard min(5,3)>2 yes, tanh(3/2-1)
#  4: ref  [3 | 2]         accurate; no tied form, so only in ref accuracy
TIES = [("ref:1", [8, 5, 6], 1), ("tied:1", [9, 7, 8, 3, 5], 3), ("ref:2", [4, 6, 1], 1), ("tied:2", [10, 10, 2], 2),
        ("ref:3", [6, 1], 1), ("tied:3", [6, 4, 1], 2), ("ref:4", [3, 2], 1)]
REF_ACC, TIED_ACC = 3 / 4, 1.0
PREFERRED, HARD, MARGIN = 2 / 3, 1 / 3, (0.0 - 1.0 + math.tanh(0.5)) / 3
TIES_SCORE = 0.3 * TIED_ACC + 0.3 * REF_ACC + 0.2 * PREFERRED + 0.2 * HARD + 0.01 * MARGIN


def test_ties_composite():
    block = rb2.ties_block([_rec(i, "Ties", s, k) for i, s, k in TIES])
    assert block["ref_accuracy"] == REF_ACC and block["tied_accuracy"] == TIED_ACC
    assert block["correctness_preferred"] == pytest.approx(PREFERRED)
    assert block["correctness_preferred_hard"] == pytest.approx(HARD)
    assert block["margin_score"] == pytest.approx(MARGIN)
    assert block["score"] == pytest.approx(TIES_SCORE)
    assert TIES_SCORE == pytest.approx(0.3 + 0.225 + 0.2 * 2 / 3 + 0.2 / 3 + 0.01 * (math.tanh(0.5) - 1) / 3)
    assert block["prompts_in_both"] == 3 and block["official"] is True and block["n"] == 7


def test_zero_spread_with_zero_margin_adds_nothing():
    # tied [5 5 | 5]: diff 0, margin 0 -> the tanh term is nan in numpy, counted as 0
    block = rb2.ties_block([_rec("ref:9", "Ties", [5, 5], 1), _rec("tied:9", "Ties", [5, 5, 5], 2)])
    assert block["margin_score"] == 0.0 and block["ref_accuracy"] == 0.0


def test_score_is_the_unweighted_mean_of_the_six_subsets():
    recs = [_rec("f1", "Factuality", [4, 1, 2, 3]), _rec("f2", "Factuality", [4, 4, 1, 1]),
            _rec("p1", "Precise IF", [1, 2, 3, 4]), _rec("m1", "Math", [5, 1, 1, 1]),
            _rec("s1", "Safety", [5, 5, 5, 1]), _rec("o1", "Focus", [2, 1, 1, 1])] + \
        [_rec(i, "Ties", s, k) for i, s, k in TIES]
    out = rb2.aggregate(recs, {})
    assert list(out["sections"]) == ["Factuality", "Precise IF", "Math", "Safety", "Focus", "Ties"]
    assert out["sections"]["Factuality"] == {"score": 0.75, "n": 2, "tied_top": 1}   # f2 shares its top
    assert out["score"] == pytest.approx((0.75 + 0 + 1 + 1 / 3 + 1 + TIES_SCORE) / 6)
    assert "notes" not in out
    part = rb2.aggregate(recs[:2], {})
    assert part["score"] == 0.75 and "Precise IF, Math, Safety, Focus, Ties" in part["notes"][0]


def test_pairwise_judge_falls_back_and_says_so():
    ex = example("m", 4, subset="Math", task="rewardbench2")
    won = rb2.example_result(ex, pairwise(ex, {(0, 1): (0, 0), (0, 2): (0, 0), (0, 3): (0, 3)}))
    assert won == {"correct": 0.5, "pairwise": True}
    ref = example("ref:1", 3, subset="Ties", labels={"ties_kind": "ref", "prompt_id": "1"}, task="rewardbench2")
    tied = example("tied:1", 4, preferred=(0, 1), subset="Ties", labels={"ties_kind": "tied", "prompt_id": "1"},
                   task="rewardbench2")
    recs = [record(ex, won),
            record(ref, rb2.example_result(ref, pairwise(ref, {(0, 1): (0, 0), (0, 2): (0, 0)}))),
            record(tied, rb2.example_result(tied, pairwise(tied, {(0, 2): (0, 0), (0, 3): (0, 0), (1, 2): (2, 2),
                                                                  (1, 3): (1, 1)})))]
    out = rb2.aggregate(recs, {})
    ties = out["sections"]["Ties"]
    assert ties["official"] is False and ties["score"] == pytest.approx((1.0 + 0.0) / 2)
    assert out["notes"][0] == rb2.PAIRWISE_NOTE


def _text(n, k):
    return "abcdefghij"[k % 10] * n  # distinct texts whose length is the score the longest baseline gives


def test_longest_baseline_end_to_end(tmp_path):
    rows = [rb2_row("f1", "Factuality", [_text(4, 0)], [_text(1, 1), _text(2, 2), _text(3, 3)]),
            rb2_row("f2", "Factuality", [_text(4, 0)], [_text(4, 1), _text(1, 2), _text(1, 3)]),
            rb2_row("p1", "Precise IF", [_text(1, 0)], [_text(2, 1), _text(3, 2), _text(4, 3)]),
            rb2_row("m1", "Math", [_text(5, 0)], [_text(1, 1), _text(1, 2), _text(1, 3)]),
            rb2_row("s1", "Safety", [_text(5, 0)], [_text(5, 1), _text(5, 2), _text(1, 3)]),
            rb2_row("o1", "Focus", [_text(2, 0)], [_text(1, 1), _text(1, 2), _text(1, 3)])]
    for ident, scores, k in TIES:
        rows.append(rb2_row(ident, "Ties", [_text(s, i) for i, s in enumerate(scores[:k])],
                            [_text(s, 5 + i) for i, s in enumerate(scores[k:])]))
    data = write_json(tmp_path / "rb2.json", rows)
    res = run_cli("run", "--model", "baseline/longest", "--task", "rewardbench2", "--data-path", str(data),
                  "--output-dir", str(tmp_path / "out"), "--run-name", "r", "--quiet")
    assert res.returncode == 0, res.stderr
    t = json.loads((tmp_path / "out" / "r" / "summary.json").read_text())["tasks"]["rewardbench2"]
    assert t["sections"]["Ties"]["score"] == pytest.approx(TIES_SCORE)
    assert t["score"] == pytest.approx((0.75 + 0 + 1 + 1 / 3 + 1 + TIES_SCORE) / 6)
