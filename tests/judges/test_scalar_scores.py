"""Scores from a scalar judge as the Judge records them."""

from __future__ import annotations

import math

import rmbench
from rmbench.judges.base import SCALAR, BaseProvider


class NanOnBad(BaseProvider):
    """A reward model that overflows (NaN, inf) on some responses."""

    kind = SCALAR
    batched = True

    def score_batch(self, items):
        bad = {"bad": math.nan, "worse": math.inf}
        return [bad.get(it.response, float(len(it.response))) for it in items]


def test_a_non_finite_score_is_a_failure_not_a_value():
    # NaN compared false both ways (the candidate silently lost every pair, and a best-of-N row
    # whose top score was NaN divided by zero); it is an api_error like vllm/'s
    exs = [rmbench.Example.pair("a", "q?", chosen="long answer", rejected="bad"),
           rmbench.Example.pair("b", "q?", chosen="worse", rejected="long answer"),
           rmbench.Example.pair("c", "q?", chosen="long answer", rejected="no")]
    res = rmbench.evaluate(NanOnBad("nan"), {"mine": exs}, no_cache=True)
    scores = {r["id"]: [s for per in r["scores"] for s in per] for r in res.records}
    assert [s["status"] for s in scores["a"]] == ["ok", "api_error"]
    assert [s["status"] for s in scores["b"]] == ["api_error", "ok"]
    assert "non-finite score (nan)" in scores["a"][1]["error"] and "(inf)" in scores["b"][0]["error"]
    assert res.summary["tasks"]["mine"]["judging"]["failures"] == {"api_error": 2}
    assert [s["status"] for s in scores["c"]] == ["ok", "ok"]
