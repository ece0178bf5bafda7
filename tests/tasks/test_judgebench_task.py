"""The ``judgebench`` task: rows, the split and category mapping, and the official two-order rule
(agreement, one-sided tie, contradiction, no decision) and single-game rule, worked out by hand
for a stand-in pairwise judge and a scoring baseline."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

from rmbench.errors import UserError
from rmbench.protocol import Outcome, Policy
from rmbench.scoring import judgebench
from rmbench.tasks import get_spec, load_task
from rmbench.tasks.spec import apply_task_args
from rmbench.types import OK, TIE, UNPARSED, Example, Judgment, Score
from tests.helpers import write_jsonl

GPT, CLAUDE = "gpt-4o-2024-05-13", "claude-3-5-sonnet-20240620"


def jb_row(pid, source, label, model=GPT, a="answer A", b="answer B"):
    return {"pair_id": pid, "original_id": None, "source": source, "question": f"Question {pid}?",
            "response_model": model, "response_A": a, "response_B": b, "label": label}


def test_rows_categories_and_splits(tmp_path):
    rows = [jb_row("p1", "mmlu-pro-computer science", "A>B"), jb_row("p2", "livebench-reasoning", "B>A"),
            jb_row("p3", "livebench-math", "A>B"), jb_row("p4", "livecodebench", "B>A", a="same", b="same"),
            jb_row("p5", "arena-hard", "A>B"), jb_row("p6", "mmlu-pro-law", "B>A", model=CLAUDE),
            jb_row("p7", "livebench-math", "B>A", model="some-other-model")]
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    td = load_task(get_spec("judgebench"), str(path))
    by_id = {ex.id: ex for ex in td.examples}
    assert [(i, ex.subset, ex.preferred) for i, ex in by_id.items()] == [
        ("p1", "knowledge", (0,)), ("p2", "reasoning", (1,)), ("p3", "math", (0,)), ("p4", "coding", (1,)),
        ("p5", "other", (0,)), ("p7", "math", (1,))]
    assert by_id["p1"].candidates == ("answer A", "answer B") and by_id["p1"].meta == {
        "label": "A>B", "source": "mmlu-pro-computer science"}
    notes = {k: v["ids"] for k, v in td.notes.items()}
    assert notes == {"pairs with identical responses": ["p4"],
                     "sources outside the four categories (in the overall score only)": ["p5"],
                     "rows of the claude split (skipped; --task-args split=claude scores them)": ["p6"],
                     "rows answered by another model than the gpt split's (kept)": ["p7"]}
    claude = load_task(apply_task_args(get_spec("judgebench"), {"split": "claude"}), str(path))
    assert [ex.id for ex in claude.examples] == ["p6", "p7"]


@pytest.mark.parametrize("bad,args,message", [
    ({"label": "A=B"}, {}, "column 'label' must be \"A>B\" or \"B>A\", got 'A=B'"),
    ({"pair_id": None}, {}, "column 'pair_id' is empty"),
    ({"source": ""}, {}, "column 'source' is empty"),
    ({}, {"split": "gemini"}, "option split='gemini' is not one of gpt, claude"),
    ({}, {"split": "gpt+claude"}, "option split takes one of gpt, claude"),
])
def test_bad_rows_and_options_are_one_line_errors(tmp_path, bad, args, message):
    with pytest.raises(UserError, match=re.escape(message)) as err:
        load_task(apply_task_args(get_spec("judgebench"), args),
                  str(write_jsonl(tmp_path / "p.jsonl", [{**jb_row("p1", "livecodebench", "A>B"), **bad}])))
    assert "\n" not in str(err.value)


def test_the_hub_source_reads_one_split():
    from rmbench.tasks.sources import hub_reads

    assert hub_reads(get_spec("judgebench")) == [(None, "ScalerLab/JudgeBench", "gpt")]
    assert hub_reads(apply_task_args(get_spec("judgebench"), {"split": "claude"})) == [
        (None, "ScalerLab/JudgeBench", "claude")]


# -- scoring by hand ------------------------------------------------------------------------------

ITEMS = [  # (label, category, verdict shown A-first, verdict shown B-first); "A"/"B" name the winner
    ("A>B", "knowledge", "A", "A"),        # agreement on the right answer: +2
    ("B>A", "knowledge", "A", "A"),        # agreement on the wrong one: -2
    ("A>B", "reasoning", "A", "B"),        # each wins when shown first: a contradiction, 0
    ("B>A", "reasoning", "tie", "B"),      # a tie and the right answer: +1
    ("A>B", "math", "tie", "B"),           # a tie and the wrong answer: -1
    ("B>A", "math", None, "B"),            # no decision and the right answer: +1
    ("A>B", "coding", None, None),         # no decision at all
    ("B>A", "coding", "tie", "tie"),       # two ties: 0
]


def _ex(n, label, cat) -> Example:
    return Example(id=f"p{n}", task="judgebench", subset=cat, messages=({"role": "user", "content": "q"},),
                   candidates=("A", "B"), preferred=(0,) if label == "A>B" else (1,),
                   meta={"label": label, "source": cat})


def _judgment(first, second, verdict):
    if verdict is None:
        return Judgment(first, second, 0, UNPARSED)
    if verdict == "tie":
        return Judgment(first, second, 0, TIE)
    return Judgment(first, second, 0, OK, winner="AB".index(verdict))


def _records(on_failure="loss", orders=("ab", "ba")):
    recs = []
    for n, (label, cat, v1, v2) in enumerate(ITEMS, start=1):
        ex = _ex(n, label, cat)
        js = []
        if "ab" in orders:
            js.append(_judgment(0, 1, v1))
        if "ba" in orders:
            js.append(_judgment(1, 0, v2))
        res = judgebench.example_result(ex, Outcome(ex, Policy(on_failure=on_failure), judgments={(0, 1): js}))
        recs.append({"task": "judgebench", "id": ex.id, "subset": cat, "result": res})
    return recs


def test_the_two_order_rule_by_hand():
    recs = _records()
    assert [r["result"]["correct"] for r in recs] == [1, 0, 0, 1, 0, 1, 0, 0]
    assert [r["result"].get("sum") for r in recs] == [2, -2, 0, 1, -1, 1, 0, 0]
    summ = judgebench.aggregate(recs, {})
    assert summ["score"] == 3 / 8 and summ["n"] == 8
    assert {k: v["score"] for k, v in summ["sections"].items()} == {"knowledge": 0.5, "reasoning": 0.5, "math": 0.5,
                                                                    "coding": 0.0}
    assert summ["pairs"] == {"correct": 3, "tie": 3, "incorrect": 2}     # the official three outcomes
    assert "1 pairs had no decision at all" in summ["notes"][0]


def test_a_pair_without_any_decision_follows_the_failure_policy():
    half = judgebench.aggregate(_records("half"), {})
    assert half["score"] == 3.5 / 8 and half["sections"]["coding"]["score"] == 0.25
    excl = judgebench.aggregate(_records("exclude"), {})
    assert excl["score"] == 3 / 7 and excl["excluded"] == 1 and excl["sections"]["coding"] == {
        "score": 0.0, "n": 1, "excluded": 1}


def test_single_game_the_decision_must_equal_the_label():
    recs = _records(orders=("ab",))
    # A-first verdicts: A (right), A (wrong), A (right), tie, tie, none, none, tie
    assert [r["result"]["correct"] for r in recs] == [1, 0, 1, 0, 0, 0, 0, 0]
    assert judgebench.aggregate(recs, {})["score"] == 2 / 8


def test_samples_vote_within_an_order():
    assert judgebench.order_vote([1, 1, -1]) == 1
    assert judgebench.order_vote([1, -1]) == 0
    assert judgebench.order_vote([None, -1]) == -1
    assert judgebench.order_vote([None, None]) is None


def test_a_scoring_judge_is_a_single_game_and_equal_scores_decide_b():
    cases = [("A>B", 2.0, 1.0, 1.0), ("A>B", 1.0, 2.0, 0.0), ("B>A", 1.0, 2.0, 1.0),
             ("A>B", 3.0, 3.0, 0.0), ("B>A", 3.0, 3.0, 1.0)]      # a tie decides B>A, as the official RMs do
    recs = []
    for n, (label, sa, sb, want) in enumerate(cases):
        ex = _ex(n, label, "math")
        res = judgebench.example_result(ex, Outcome(ex, Policy(), scores=[[Score(0, 0, sa)], [Score(1, 0, sb)]]))
        assert res["correct"] == want
        recs.append({"task": "judgebench", "id": ex.id, "subset": "math", "result": res})
    summ = judgebench.aggregate(recs, {})
    assert summ["score"] == 3 / 5 and "2 pairs got equal scores for A and B: decided B>A" in summ["notes"][0]
    assert "pairs" not in summ


def test_pairs_and_preferred_for_position_bias():
    ex = _ex(1, "B>A", "math")
    assert judgebench.pairs(ex) == [(0, 1)]
    res = judgebench.example_result(ex, Outcome(ex, Policy(), judgments={(0, 1): [_judgment(0, 1, "B"),
                                                                                   _judgment(1, 0, "B")]}))
    from rmbench.scoring.judging import position_bias

    rec = {"result": res, "pairs": [{"i": 0, "j": 1, "judgments": [
        {"first": 0, "second": 1, "status": OK, "winner": 1}, {"first": 1, "second": 0, "status": OK, "winner": 1}]}]}
    pb = position_bias([rec])
    assert pb["consistency_rate"] == 1.0 and pb["order_consistent_accuracy"] == 1.0   # B is the preferred one


# -- the official script on the authors' published judgments ---------------------------------------

JUDGEBENCH_REPO = os.environ.get("RMBENCH_JUDGEBENCH_REPO")


@pytest.mark.skipif(not JUDGEBENCH_REPO, reason="set RMBENCH_JUDGEBENCH_REPO to a checkout of ScalerLab/JudgeBench")
def test_the_published_judgments_score_as_the_official_script_scores_them(monkeypatch):
    """Every output file in the repository: its two decisions per pair read back as judgments
    (A>B / B>A / A=B / null), scored by rmbench and by ``utils.metrics.compute_final_metrics``."""
    repo = Path(JUDGEBENCH_REPO)
    monkeypatch.syspath_prepend(str(repo))
    sys.modules.pop("utils", None)
    from utils.metrics import compute_final_metrics  # the official code, from the checkout

    files = sorted((repo / "outputs").glob("*.jsonl"))
    assert files
    for f in files:
        split = "claude" if "response_model=claude" in f.name else "gpt"
        data = repo / "data" / f"dataset=judgebench,response_model={GPT if split == 'gpt' else CLAUDE}.jsonl"
        examples = {ex.id: ex for ex in load_task(apply_task_args(get_spec("judgebench"), {"split": split}),
                                                  str(data)).examples}
        pairs = [json.loads(line) for line in f.open()]
        recs = []
        for p in pairs:
            ex = examples[p["pair_id"]]
            js = []
            for (first, second), j in zip(((0, 1), (1, 0)), p["judgments"]):
                d = (j or {}).get("decision")
                if d in ("A>B", "B>A"):   # positional: the response shown first is "A"
                    js.append(Judgment(first, second, 0, OK, winner=first if d == "A>B" else second))
                elif d == "A=B":
                    js.append(Judgment(first, second, 0, TIE))
                else:
                    js.append(Judgment(first, second, 0, UNPARSED))
            res = judgebench.example_result(ex, Outcome(ex, Policy(), judgments={(0, 1): js}))
            recs.append({"task": "judgebench", "id": ex.id, "subset": ex.subset, "result": res})
        summ = judgebench.aggregate(recs, {})
        assert 100 * summ["score"] == pytest.approx(compute_final_metrics(pairs, True)), f.name
        for prefix, cat in (("mmlu-pro", "knowledge"), ("livebench-reasoning", "reasoning"),
                            ("livebench-math", "math"), ("livecodebench", "coding")):
            official = compute_final_metrics(pairs, True, include_fn=lambda x, p=prefix: x["source"].startswith(p))
            assert 100 * summ["sections"][cat]["score"] == pytest.approx(official), (f.name, cat)


def test_the_split_option_reads_one_split_of_the_hub_dataset(tmp_path):
    # a local folder stands in for the hub repository (load_dataset treats both alike), laid out
    # as ScalerLab/JudgeBench is: data/gpt-00000-of-00001.jsonl and data/claude-...jsonl
    import dataclasses

    (tmp_path / "hub" / "data").mkdir(parents=True)
    write_jsonl(tmp_path / "hub" / "data" / "gpt-00000-of-00001.jsonl",
                [jb_row("g1", "livebench-math", "A>B"), jb_row("g2", "livecodebench", "B>A")])
    write_jsonl(tmp_path / "hub" / "data" / "claude-00000-of-00001.jsonl",
                [jb_row("c1", "mmlu-pro-law", "B>A", model=CLAUDE)])

    def spec(**args):
        s = apply_task_args(get_spec("judgebench"), args)
        return dataclasses.replace(s, source=dataclasses.replace(s.source, hub=str(tmp_path / "hub")))

    gpt = load_task(spec())
    assert [ex.id for ex in gpt.examples] == ["g1", "g2"] and gpt.provenance["splits"] == ["gpt"]
    claude = load_task(spec(split="claude"))
    assert [ex.id for ex in claude.examples] == ["c1"] and claude.provenance["splits"] == ["claude"]
    assert not claude.notes
