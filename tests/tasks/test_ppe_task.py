"""The ``ppe-correctness`` task: PPE best-of-K rows in the hub schema, the seeded k-subsample, and
its scoring (pick accuracy, baselines, pairwise accuracy over the conflict pairs, best-of-K curve,
row-wise Pearson) worked out by hand."""

from __future__ import annotations

import re

import pytest

from rmbench.errors import UserError
from rmbench.protocol import Outcome, Policy
from rmbench.scoring import ppe
from rmbench.tasks import get_spec, load_task
from rmbench.tasks.spec import apply_task_args
from rmbench.types import OK, UNPARSED, Example, Judgment, Score
from tests.helpers import write_json, write_jsonl


def ppe_row(qid: str, flags: list[bool], subset: str | None = None, pairs=None, prefix: str = "answer") -> dict:
    """A row as the hub datasets hold it: question_id, prompt, scores, response_1..N, conflict pairs."""
    row = {"question_id": qid, "prompt": f"Question {qid}?", "model_name": "writer", "scores": flags,
           "mean_score": sum(flags) / len(flags)}
    for i in range(len(flags)):
        row[f"response_{i + 1}"] = f"{prefix} {i + 1} to {qid}"
    if pairs is not None:
        row["sampled_conflict_pairs"] = pairs
    if subset is not None:
        row["subset"] = subset
    return row


def _spec(**args):
    return apply_task_args(get_spec("ppe-correctness"), args)


def test_rows_become_examples_with_the_subset_from_the_file_name(tmp_path):
    folder = tmp_path / "ppe"
    folder.mkdir()
    write_jsonl(folder / "math.jsonl", [ppe_row("m1", [True, False, True], pairs=[[1, 0], [2, 1]])])
    (folder / "PPE-GPQA-Best-of-K" / "data").mkdir(parents=True)
    write_json(folder / "PPE-GPQA-Best-of-K" / "data" / "train.json", [ppe_row("g1", [False, True])])
    td = load_task(get_spec("ppe-correctness"), str(folder))
    by_id = {ex.id: ex for ex in td.examples}
    m1, g1 = by_id["math/m1"], by_id["gpqa/g1"]
    assert (m1.subset, m1.candidates, m1.preferred) == ("math", ("answer 1 to m1", "answer 2 to m1", "answer 3 to m1"),
                                                         (0, 2))
    assert m1.messages == ({"role": "user", "content": "Question m1?"},)
    assert m1.meta == {"of": 3, "conflict_pairs": [(0, 1), (2, 1)]}   # correct answer first
    assert g1.subset == "gpqa" and g1.preferred == (1,) and "conflict_pairs" not in g1.meta
    assert td.notes["questions without sampled_conflict_pairs (pairwise accuracy over every correct/incorrect "
                    "pair)"]["ids"] == ["gpqa/g1"]


def test_subsets_option_and_quirks(tmp_path):
    rows = [ppe_row("a", [True, False], "math"), ppe_row("b", [False, False], "MMLU-Pro"),
            ppe_row("c", [True, True], "ifeval", pairs=[[0, 1]]), ppe_row("d", [True], "gpqa")]
    path = write_json(tmp_path / "rows.json", rows)
    td = load_task(_spec(subsets="math+mmlu-pro+ifeval+gpqa"), str(path))
    assert [ex.id for ex in td.examples] == ["math/a", "mmlu-pro/b", "ifeval/c"]
    notes = {k: v["ids"] for k, v in td.notes.items()}
    assert notes["questions with no correct answer (no pick can be right)"] == ["mmlu-pro/b"]
    assert notes["questions where every answer is correct (any pick is right)"] == ["ifeval/c"]
    assert notes["conflict pairs whose two answers are both correct or both wrong (left out)"] == ["ifeval/c"]
    assert notes["questions with fewer than two answers (skipped)"] == ["gpqa/d"]
    td = load_task(_spec(subsets="math"), str(path))
    assert [ex.id for ex in td.examples] == ["math/a"] and td.notes["rows of subsets not selected (skipped)"]["count"] == 3


@pytest.mark.parametrize("row,args,message", [
    ({**ppe_row("x", [True, False]), "subset": "chess"}, {}, "has subset 'chess', not one of mmlu-pro, math"),
    (ppe_row("x", [True, False]), {}, "has no 'subset' column and its file name does not name a subset"),
    ({**ppe_row("x", [True, False], "math"), "scores": [True, "yes"]}, {}, "'scores' must hold true/false values"),
    ({**ppe_row("x", [True, False], "math"), "sampled_conflict_pairs": [[0, 5]]}, {},
     "not a pair of answer indices from 0 to 1"),
    ({**ppe_row("x", [True, False], "math"), "response_3": "extra"}, {}, "more responses than 'scores' values (2)"),
    ({k: v for k, v in ppe_row("x", [True, False], "math").items() if k != "response_2"}, {},
     "row 0: missing column 'response_2'"),
    (ppe_row("x", [True, False], "math"), {"k": 1}, "option k=1 must be 0 (every answer) or a whole number of at least 2"),
    (ppe_row("x", [True, False], "math"), {"subsets": "math+chess"}, "option subsets='chess' is not one of"),
])
def test_bad_rows_and_options_are_one_line_errors(tmp_path, row, args, message):
    with pytest.raises(UserError, match=re.escape(message)) as err:
        load_task(_spec(**args), str(write_json(tmp_path / "rows.json", [row])))
    assert "\n" not in str(err.value)


def test_k_subsample_is_seeded_recorded_and_keeps_order(tmp_path):
    flags = [i % 4 == 0 for i in range(32)]
    rows = [ppe_row(f"q{n}", flags, "math", pairs=[[0, 1], [4, 5], [8, 9]]) for n in range(6)]
    path = write_json(tmp_path / "rows.json", rows)

    def draw(seed, k=8):
        return {ex.id: ex for ex in load_task(_spec(k=k), str(path), seed=seed).examples}

    a, b, c = draw(7), draw(7), draw(8)
    for qid, ex in a.items():
        kept = ex.meta["responses"]
        assert len(kept) == 8 and kept == sorted(kept) and ex.meta["of"] == 32
        assert ex.candidates == tuple(f"answer {r} to {qid.split('/')[1]}" for r in kept)
        assert ex.preferred == tuple(p for p, r in enumerate(kept) if (r - 1) % 4 == 0)
        # a conflict pair survives only when both its answers were kept, re-indexed
        assert ex.meta["conflict_pairs"] == [(kept.index(i + 1), kept.index(j + 1)) for i, j in ((0, 1), (4, 5), (8, 9))
                                             if i + 1 in kept and j + 1 in kept]
        assert b[qid].meta["responses"] == kept                      # same seed, same answers
    assert [a[q].meta["responses"] for q in a] != [c[q].meta["responses"] for q in a]   # another seed, others
    assert len({tuple(ex.meta["responses"]) for ex in a.values()}) > 1                   # drawn per question
    whole = draw(7, k=0)["math/q0"]
    assert len(whole.candidates) == 32 and "responses" not in whole.meta
    big = load_task(_spec(k=40), str(path), seed=7)
    assert len(big.examples[0].candidates) == 32 and big.notes["questions with fewer than k=40 answers (all kept)"]


def test_the_hub_source_reads_one_dataset_per_selected_subset(tmp_path):
    # local folders stand in for the five hub repositories (load_dataset treats both alike); the
    # dataset read names the subset, whatever a row's own columns say
    import dataclasses

    hubs = {}
    for name in ("mmlu-pro", "math", "gpqa", "ifeval", "mbpp-plus"):
        folder = tmp_path / f"hub-{name}" / "data"
        folder.mkdir(parents=True)
        write_jsonl(folder / "train-00000-of-00001.jsonl", [ppe_row(f"{name}-1", [True, False], subset="chess")])
        hubs[name] = str(folder.parent)
    hubs["gpqa"] = str(tmp_path / "missing")          # never read unless selected

    def spec(**args):
        s = _spec(**args)
        return dataclasses.replace(s, source=dataclasses.replace(s.source, hubs=tuple(hubs.items())))

    td = load_task(spec(subsets="math+mmlu-pro"))
    assert [ex.id for ex in td.examples] == ["math/math-1", "mmlu-pro/mmlu-pro-1"]
    assert td.provenance["hubs"] == {"math": hubs["math"], "mmlu-pro": hubs["mmlu-pro"]}
    with pytest.raises(UserError, match="could not load .*missing"):
        load_task(spec())


def test_demo_loads():
    td = load_task(get_spec("ppe-correctness"), demo=True)
    assert [ex.subset for ex in td.examples] == ["mmlu-pro", "math", "gpqa", "ifeval", "mbpp-plus"]
    assert all(len(ex.preferred) >= 2 and ex.rejected and ex.meta["conflict_pairs"] for ex in td.examples)


# -- scoring by hand ------------------------------------------------------------------------------

def _ex(ident, flags, subset="math", pairs=None, responses=None) -> Example:
    meta = {"of": len(flags)}
    if pairs is not None:
        meta["conflict_pairs"] = pairs
    if responses is not None:
        meta["responses"], meta["of"] = responses, 32
    return Example(id=ident, task="ppe-correctness", subset=subset, messages=({"role": "user", "content": "q"},),
                   candidates=tuple(f"c{i}" for i in range(len(flags))),
                   preferred=tuple(i for i, f in enumerate(flags) if f), meta=meta)


def _scores(ex, values, on_failure="loss") -> Outcome:
    per = [[Score(i, 0, v) if v is not None else Score(i, 0, None, UNPARSED)] for i, v in enumerate(values)]
    return Outcome(ex, Policy(on_failure=on_failure), scores=per)


def _record(ex, result):
    return {"task": ex.task, "id": ex.id, "subset": ex.subset, "result": result}


def test_best_of_k_curve_by_hand():
    # scores 5 (wrong), 4 (right), 3 (right), 1 (wrong): K=1 picks at random (2/4); K=2 tops with the
    # 5 in 3 of the 6 pairs, else a right answer; K=3 tops with the 5 in 3 of 4 triples; K=4 always
    assert ppe.best_of_k_curve([3, 5, 4, 1], [True, False, True, False]) == pytest.approx([0.5, 0.5, 0.25, 0.0])
    # a tie at the top shares the credit: {2: right, 2: wrong} above {1: wrong}
    assert ppe.best_of_k_curve([2, 2, 1], [True, False, False]) == pytest.approx([1 / 3, 1 / 2, 1 / 2])
    # K = N is the pick, K = 1 the random baseline, for any scores
    scores, flags = [0.3, 0.9, 0.1, 0.9, 0.5], [False, True, True, False, True]
    curve = ppe.best_of_k_curve(scores, flags)
    assert curve[0] == pytest.approx(3 / 5) and curve[-1] == pytest.approx(0.5)


def test_a_scoring_judge_by_hand():
    a = _ex("a", [True, False, True, False], pairs=[(0, 1), (2, 3)])
    b = _ex("b", [True, False, False])                                    # no conflict pairs: every pair
    c = _ex("c", [False, True, False], subset="gpqa")
    ra = ppe.example_result(a, _scores(a, [3, 5, 4, 1]))
    rb = ppe.example_result(b, _scores(b, [2, 2, 1]))
    rc = ppe.example_result(c, _scores(c, [None, 1, 2]))
    assert ra["correct"] == 0.0 and rb["correct"] == 0.5 and rc["correct"] == 0.0   # a failed score never wins
    assert (ra["pair_hits"], ra["pair_n"]) == (1.0, 2)                    # 3 < 5 loses, 4 > 1 wins
    assert (rb["pair_hits"], rb["pair_n"]) == (1.0, 2)                    # the 2-2 tie is a loss
    assert (rc["pair_hits"], rc["pair_n"]) == (0.0, 2)                    # the failed score loses (policy loss)
    assert ra["pearson"] == pytest.approx(0.5 / 8.75 ** 0.5) and rb["pearson"] == pytest.approx(0.5)
    assert "bok" not in rc and "pearson" not in rc
    assert (ra["solvable"], ra["chance"], rb["chance"], rc["chance"]) == (1.0, 0.5, 1 / 3, 1 / 3)
    summ = ppe.aggregate([_record(a, ra), _record(b, rb), _record(c, rc)], {})
    math, gpqa = summ["sections"]["math"], summ["sections"]["gpqa"]
    assert math["score"] == 0.25 and math["n"] == 2 and gpqa["score"] == 0.0
    assert math["random"] == pytest.approx((1 / 2 + 1 / 3) / 2) and math["oracle"] == 1.0
    assert math["pairwise_accuracy"] == 0.5 and gpqa["pairwise_accuracy"] == 0.0
    assert math["best_of_k"]["curve"] == pytest.approx([5 / 12, 0.5, 0.375, 0.0])
    assert (math["best_of_k"]["max"], math["best_of_k"]["max_at_k"]) == (0.5, 2)
    assert math["row_pearson"] == pytest.approx((0.5 / 8.75 ** 0.5 + 0.5) / 2) and "best_of_k" not in gpqa
    assert summ["score"] == 0.125 and summ["n"] == 3
    assert summ["metrics"] == pytest.approx({"oracle": 1.0, "random": (5 / 12 + 1 / 3) / 2, "pairwise_accuracy": 0.25,
                                             "row_pearson": (0.5 / 8.75 ** 0.5 + 0.5) / 2, "best_of_k_max": 0.5})
    assert list(summ["sections"]) == ["math", "gpqa"]                      # PPE's order, not first-seen


def test_failure_policy_and_unsolvable_items():
    ex = _ex("f", [True, False])
    assert ppe.example_result(ex, _scores(ex, [None, None], "half"))["correct"] == 0.5
    assert ppe.example_result(ex, _scores(ex, [None, None], "exclude"))["correct"] is None
    none_right = _ex("n", [False, False])
    res = ppe.example_result(none_right, _scores(none_right, [1, 2]))
    assert res["correct"] == 0.0 and res["solvable"] == 0.0 and res["pair_n"] == 0
    summ = ppe.aggregate([_record(none_right, res),
                          _record(ex, ppe.example_result(ex, _scores(ex, [None, None], "exclude")))], {})
    assert summ["excluded"] == 1 and summ["sections"]["math"]["n"] == 1 and summ["metrics"]["oracle"] == 0.5


def test_the_pairwise_reading_judges_the_conflict_pairs():
    ex = _ex("p", [True, False, True, False], pairs=[(0, 1), (2, 3)])
    assert ppe.pairs(ex) == [(0, 1), (2, 3)]
    assert ppe.pairs(_ex("q", [True, False, False])) == [(0, 1), (0, 2)]

    def judged(verdicts, on_failure="loss"):
        # verdicts[(i, j)] = winners of the (i, j) and (j, i) orders; None is an unreadable verdict
        js = {pair: [Judgment(a, b, 0, OK if w is not None else UNPARSED, winner=w)
                     for (a, b), w in zip((pair, pair[::-1]), ws)] for pair, ws in verdicts.items()}
        return ppe.example_result(ex, Outcome(ex, Policy(on_failure=on_failure), judgments=js))

    # (0, 1): each answer wins when shown first (a contradiction, 0.5); (2, 3): the right one both times
    res = judged({(0, 1): (0, 1), (2, 3): (2, 2)})
    assert (res["pair_hits"], res["pair_n"], res["correct"], res["pairwise"]) == (1.5, 2, 0.75, True)
    res = judged({(0, 1): (None, 0), (2, 3): (3, 3)}, "exclude")          # the failed order is left out
    assert (res["pair_hits"], res["pair_n"]) == (1.0, 2)
    summ = ppe.aggregate([_record(ex, judged({(0, 1): (0, 1), (2, 3): (2, 2)})), _record(ex, res)], {})
    assert summ["score"] == pytest.approx(2.5 / 4) and summ["sections"]["math"]["pairs"] == 4
    assert "metrics" not in summ and "pairwise reading" in summ["notes"][0]


def test_the_subsample_is_recorded_in_the_result():
    ex = _ex("s", [True, False, True], responses=[4, 9, 30])
    res = ppe.example_result(ex, _scores(ex, [1, 2, 3]))
    assert res["responses"] == [4, 9, 30] and res["of"] == 32
    assert ppe.aggregate([_record(ex, res)], {})["subsample"] == {"k": 3, "questions": 1}
