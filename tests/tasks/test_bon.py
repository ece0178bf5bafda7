"""The generic ``bon`` task: reading rows, and best-of-N accuracy with its baselines by hand."""

from __future__ import annotations

import re

import pytest

from rmbench.errors import UserError
from rmbench.scoring import bon
from rmbench.scoring.intervals import _Affine, bootstrap_intervals, metric_paths, strata
from rmbench.tasks import get_spec, load_task
from tests.helpers import write_json, write_jsonl
from tests.scoring.outcomes import example, pairwise, pointwise, record


def _load(tmp_path, rows, name="bon.jsonl"):
    return load_task(get_spec("bon"), str(write_jsonl(tmp_path / name, rows)))


def test_rows_become_examples(tmp_path):
    td = _load(tmp_path, [
        {"id": "a", "prompt": "Pick one", "responses": ["x", "y", "z"], "correct": [False, True, True]},
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
         "responses": ["p", "q"], "best": 1, "subset": "chat"},
        {"prompt": "Only one", "responses": ["lonely"], "correct": [True]},
        {"prompt": "None right", "responses": ["u", "v"], "correct": [False, False]},
    ])
    a, b, c = td.examples
    assert (a.id, a.subset, a.candidates, a.preferred) == ("a", "bon", ("x", "y", "z"), (1, 2))
    assert a.messages == ({"role": "user", "content": "Pick one"},)
    assert (b.id, b.subset, b.preferred) == ("chat/1", "chat", (1,))
    assert [m["role"] for m in b.messages] == ["system", "user"]
    assert c.preferred == () and c.id == "bon/3"
    assert td.notes["rows with fewer than two responses (skipped)"]["count"] == 1
    assert td.notes["rows with no correct response (no pick can be right)"]["ids"] == ["bon/3"]


@pytest.mark.parametrize("row,message", [
    ({"responses": ["a", "b"], "correct": [True, False]}, "needs 'messages' (a message list) or 'prompt'"),
    ({"prompt": "q", "responses": ["a", "b"]}, "needs 'correct' (one true/false per response) or 'best'"),
    ({"prompt": "q", "responses": ["a", "b"], "correct": [True]}, "one true/false per response (2), got 1 values"),
    ({"prompt": "q", "responses": ["a", "b"], "correct": ["yes", "no"]}, "must hold true/false values"),
    ({"prompt": "q", "responses": ["a", "b"], "best": 2}, "must be a response index from 0 to 1, got 2"),
    ({"prompt": "q", "responses": ["a", "b"], "best": 0, "correct": [False, True]},
     "names response 0 as 'best' but marks it incorrect"),
    ({"prompt": "q", "responses": "a", "best": 0}, "'responses' must be a list of responses"),
])
def test_bad_rows_are_one_line_errors(tmp_path, row, message):
    with pytest.raises(UserError, match=re.escape(message)) as err:
        load_task(get_spec("bon"), str(write_json(tmp_path / "bad.json", [row])))
    assert "\n" not in str(err.value)


def test_the_task_has_no_hub_source_and_defaults_to_knockout():
    spec = get_spec("bon")
    assert spec.source.hub is None and spec.protocol == {"listwise": True, "aggregate": "knockout",
                                                        "min_candidates": 2}
    with pytest.raises(UserError, match="task 'bon' has no hub source; pass --data-path"):
        load_task(spec)
    demo = load_task(spec, demo=True).examples
    assert len(demo) == 8 and all(ex.preferred and ex.rejected for ex in demo)


def test_picks_ties_failures_and_baselines_by_hand():
    e1 = example("1", 4, preferred=(2,), subset="math")        # picked right
    e2 = example("2", 3, preferred=(0, 1), subset="math")      # a 2-way tie at the top, one correct: 1/2
    e3 = example("3", 5, preferred=(4,), subset="code")        # picked wrong
    e4 = example("4", 2, preferred=(), subset="code")          # nothing right
    e5 = example("5", 3, preferred=(1,), subset="code")        # a failed score never wins
    results = [bon.example_result(e1, pointwise(e1, [1, 2, 5, 3])),
               bon.example_result(e2, pointwise(e2, [4, 1, 4])),
               bon.example_result(e3, pointwise(e3, [9, 1, 1, 1, 2])),
               bon.example_result(e4, pointwise(e4, [1, 2])),
               bon.example_result(e5, pointwise(e5, [None, 2, 1]))]
    assert [r["correct"] for r in results] == [1.0, 0.5, 0.0, 0.0, 1.0]
    all_failed = example("6", 3, preferred=(0,))
    assert bon.example_result(all_failed, pointwise(all_failed, [None, None, None], "half"))["correct"] == 0.5
    assert bon.example_result(all_failed, pointwise(all_failed, [None, None, None], "exclude"))["correct"] is None
    recs = [record(e, r) for e, r in zip((e1, e2, e3, e4, e5), results)]
    summ = bon.aggregate(recs, {})
    assert summ["score"] == pytest.approx(2.5 / 5) and summ["n"] == 5
    assert summ["metrics"]["oracle"] == pytest.approx(4 / 5)
    assert summ["metrics"]["random"] == pytest.approx((1 / 4 + 2 / 3 + 1 / 5 + 0 + 1 / 3) / 5)
    assert summ["candidates_per_item"] == pytest.approx(17 / 5)
    assert summ["sections"]["math"] == {"score": 0.75, "n": 2, "oracle": 1.0, "random": pytest.approx((1 / 4 + 2 / 3) / 2),
                                        "candidates": 3.5}
    assert summ["sections"]["code"]["score"] == pytest.approx(1 / 3)
    assert "notes" not in summ


def test_the_pairwise_reading_needs_every_correct_to_beat_every_incorrect():
    ex = example("p", 3, preferred=(0, 1))
    # 0 beats 2 in both orders; 1 and 2 split (each wins when shown first): 1 * 0.5
    out = pairwise(ex, {(0, 2): (0, 0), (1, 2): (1, 2)})
    res = bon.example_result(ex, out)
    assert res["correct"] == 0.5 and res["pairwise"] is True
    summ = bon.aggregate([record(ex, res)], {})
    assert summ["score"] == 0.5 and "pairwise reading" in summ["notes"][0]


def test_intervals_take_the_fast_engine_and_agree_with_resampling():
    """The baselines' per-item parts are stored as plain values, so their means are affine in the
    strata's means and the fast interval engine applies."""
    recs = []
    for k in range(60):
        n = 2 + k % 4
        ex = example(str(k), n, preferred=(k % n,) if k % 5 else (), subset="ab"[k % 2])
        recs.append(record(ex, bon.example_result(ex, pointwise(ex, [float((c * 7 + k) % n) for c in range(n)]))))
    summ = bon.aggregate(recs, {})
    paths = metric_paths(summ)
    assert {("score",), ("metrics", "oracle"), ("metrics", "random")} <= set(paths)
    assert _Affine.build(recs, bon.aggregate, {}, paths, strata(recs)) is not None
    fast = bootstrap_intervals(recs, bon.aggregate, {}, seed=1, resamples=200)
    assert fast == bootstrap_intervals(recs, bon.aggregate, {}, seed=1, resamples=200, fast=False)
