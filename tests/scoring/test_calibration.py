"""Soft-verdict calibration against hand-computed values, from records carrying verdict
probabilities (``p_labels``, ``expected``) as the logprobs work writes them."""

from __future__ import annotations

import math

import pytest

from rmbench.protocol import Policy
from rmbench.scoring import calibration as calib
from rmbench.scoring import diagnostics, get_scorer
from rmbench.tasks import get_spec
from tests.scoring.diag_records import judgment


def test_metrics_by_hand():
    items = [(0.9, 1), (0.8, 1), (0.3, 0), (0.6, 0), (0.2, 1)]
    m = calib.forecast_metrics(items)
    assert m["n"] == 5
    assert m["soft_accuracy"] == pytest.approx((0.9 + 0.8 + 0.7 + 0.4 + 0.2) / 5)
    assert m["brier"] == pytest.approx((0.01 + 0.04 + 0.09 + 0.36 + 0.64) / 5)
    assert m["ece"] == pytest.approx((0.1 + 0.2 + 0.3 + 0.6 + 0.8) / 5)
    assert m["auc"] == pytest.approx(4 / 6)           # 0.2 (a positive) is below both negatives
    assert len(m["bins"]) == 10 and [b["n"] for b in m["bins"]] == [0, 0, 1, 1, 0, 0, 1, 0, 1, 1]
    assert m["bins"][2] == {"lo": 0.2, "hi": 0.3, "n": 1, "mean_p": 0.2, "frac_positive": 1.0}


def test_a_perfectly_calibrated_judge_has_zero_ece():
    items = []
    for b in range(10):
        p = (b + 0.5) / 10
        pos = round(p * 40)
        items += [(p, 1)] * pos + [(p, 0)] * (40 - pos)
    m = calib.forecast_metrics(items)
    assert m["ece"] == pytest.approx(0.0, abs=1e-12)
    assert all(b["frac_positive"] == pytest.approx(b["mean_p"]) for b in m["bins"])
    # and one that is always 20 points too sure is off by 0.2 in every bin
    shifted = calib.forecast_metrics([(min(1.0, p + 0.2) if p >= 0.5 else max(0.0, p - 0.2), y) for p, y in items
                                      if 0.25 < p < 0.75])
    assert shifted["ece"] == pytest.approx(0.2)


def test_auc_ties_count_one_half_and_one_class_has_none():
    assert calib.roc_auc([(0.5, 1), (0.5, 0)]) == 0.5
    assert calib.roc_auc([(0.9, 1), (0.1, 1)]) is None


def _rec(ident, judgments, subset="alpacaeval-easy"):
    return {"task": "rewardbench", "id": ident, "subset": subset, "result": {"correct": None}, "preferred": [0],
            "lengths": {"unit": "chars", "counts": [1, 1]}, "pairs": [{"i": 0, "j": 1, "judgments": judgments}]}


def test_pairwise_soft_verdicts_read_the_labels_roles_off_the_sampled_verdicts():
    recs = [
        # preferred shown first, won with label A; then shown second, won with label B
        _rec("a", [judgment(0, 1, 0, "W", p_labels={"A": 0.7, "B": 0.2}),
                   judgment(1, 0, 0, "W", p_labels={"A": 0.1, "B": 0.85})]),
        # a loss, a tie verdict (label C) and an unparsed judgment that still has probabilities
        _rec("b", [judgment(0, 1, 0, "L", p_labels={"A": 0.3, "B": 0.6, "C": 0.1}),
                   judgment(1, 0, 0, "T", p_labels={"A": 0.2, "B": 0.2, "C": 0.5}),
                   judgment(1, 0, 1, "F", p_labels={"A": 0.5, "B": 0.5})]),
    ]
    roles, why = calib.label_roles(recs)
    assert why is None and roles == {"A": "first", "B": "second", "C": "tie"}
    want = [(0.7 / 0.9, 1), (0.1 / 0.95, 0), ((0.3 + 0.05) / 1.0, 1), ((0.2 + 0.25) / 0.9, 0), (0.5, 0)]
    got = calib.pairwise_forecasts(recs, roles)
    assert [y for _, y in got] == [y for _, y in want]
    assert [p for p, _ in got] == pytest.approx([p for p, _ in want])
    out = diagnostics.task_diagnostics(recs, scorer=get_scorer("rewardbench"), options=get_spec("rewardbench").options,
                                       policy=Policy(orders="both"), task="rewardbench", judge={"mode": "pairwise"})
    cal = out["diagnostics"]["calibration"]
    ref = calib.forecast_metrics(want)
    assert cal["framing"] == "first position wins"
    assert {k: cal[k] for k in ("n", "soft_accuracy", "brier", "ece", "auc")} == \
        pytest.approx({k: ref[k] for k in ("n", "soft_accuracy", "brier", "ece", "auc")})


def test_a_label_in_two_roles_is_a_note():
    recs = [_rec("a", [judgment(0, 1, 0, "W", p_labels={"A": 0.9}), judgment(1, 0, 0, "W", p_labels={"A": 0.9})])]
    recs[0]["pairs"][0]["judgments"][1]["label"] = "A"      # the second's win written with the first's label
    out = diagnostics.task_diagnostics(recs, scorer=get_scorer("rewardbench"), options=get_spec("rewardbench").options,
                                       policy=Policy(orders="both"), task="rewardbench", judge={"mode": "pairwise"})
    assert "calibration" not in out["diagnostics"]
    assert any("named different positions" in n for n in out["diagnostics"]["notes"])


def test_rating_soft_verdicts():
    good = [{"index": 0, "value": 8.0, "status": "ok", "p_labels": {"7": 0.4, "8": 0.4, "x": 0.2}, "expected": 7.5}]
    bad = [{"index": 1, "value": 7.0, "status": "ok", "p_labels": {"7": 0.9}, "expected": 7.0}]
    rec = {"task": "rewardbench", "id": "r", "subset": "alpacaeval-easy", "result": {"correct": None},
           "preferred": [0], "lengths": {"unit": "chars", "counts": [1, 1]}, "scores": [good, bad]}
    q = 0.5 * 1 + 0.5 * 0.5          # P(8 > 7) + P(7 = 7) / 2, mass renormalised over the ratings
    out = diagnostics.task_diagnostics([rec], scorer=get_scorer("rewardbench"), options=get_spec("rewardbench").options,
                                       policy=Policy(), task="rewardbench",
                                       judge={"mode": "pointwise", "kind": "generative"})
    cal = out["diagnostics"]["calibration"]
    assert cal["framing"] == "rating pairs, both ways"
    assert cal["soft_accuracy"] == pytest.approx(q) and cal["n"] == 2
    assert cal["brier"] == pytest.approx((1 - q) ** 2) and cal["auc"] == 1.0
    assert math.isclose(cal["ece"], 1 - q)
    assert out["diagnostics"]["ratings"]["distribution"] == {"7": 1, "8": 1}
