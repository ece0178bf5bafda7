"""The ``pandalm`` task: the test set's rows, the annotators' majority, and the authors' accuracy
and macro precision/recall/F1 for a scoring baseline and a stand-in pairwise judge (both orders,
contradictions, tie verdicts, unreadable verdicts), worked out by hand."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from rmbench.errors import UserError
from rmbench.protocol import Outcome, Policy
from rmbench.scoring import pandalm
from rmbench.tasks import get_spec, load_task
from rmbench.tasks.spec import apply_task_args
from rmbench.types import OK, TIE, UNPARSED, Example, Judgment, Score
from tests.helpers import write_json


def row(idx, labels, r1="first answer", r2="second answer", instruction="Do the thing.", extra=""):
    return {"idx": idx, "motivation_app": "Demo", "cmp_key": "m1_m2", "instruction": instruction, "input": extra,
            "response1": r1, "response2": r2,
            "annotator1": labels[0], "annotator2": labels[1], "annotator3": labels[2]}


def test_rows_gold_majority_and_quirks(tmp_path):
    rows = [row(0, [1, 1, 2], extra="some input"), row(1, [2, 0, 2]), row(2, [0, 0, 1]), row(3, [0, 1, 2]),
            row(4, [1, 1, 1], r1=True), row(5, [2, 2, 2], r1="same", r2="same"), row(6, [1, 2, 1], r2="")]
    td = load_task(get_spec("pandalm"), str(write_json(tmp_path / "testset.json", rows)))
    by_id = {ex.id: ex for ex in td.examples}
    assert list(by_id) == ["0", "1", "2", "4", "5", "6"]          # row 3: all three disagree
    assert [by_id[i].meta["gold"] for i in by_id] == [1, 2, 0, 1, 2, 1]
    assert [by_id[i].preferred for i in by_id] == [(0,), (1,), (0, 1), (0,), (1,), (0,)]   # a tie: neither loses
    assert by_id["0"].messages == ({"role": "user", "content": "Do the thing.\n\nsome input"},)
    assert by_id["1"].messages == ({"role": "user", "content": "Do the thing."},)
    assert by_id["4"].candidates == ("True", "second answer")
    assert by_id["2"].meta == {"gold": 0, "annotators": [0, 0, 1], "unparsed_as_tie": True}
    notes = {k: v["ids"] for k, v in td.notes.items()}
    assert notes == {"rows whose three annotators all disagree (no gold label; skipped)": ["3"],
                     "responses stored as JSON booleans (read as text)": ["4"],
                     "identical responses": ["5"], "empty responses": ["6"]}


def test_the_readme_spelling_is_read_too(tmp_path):
    r = {"index": "749", "instruction": "Pick a category.", "input": "x", "response1": "Politics",
         "response2": "Arts & Culture", "label_0": "2", "label_1": "2", "label_2": "0"}
    ex = load_task(get_spec("pandalm"), str(write_json(tmp_path / "t.json", [r]))).examples[0]
    assert (ex.id, ex.meta["gold"], ex.preferred) == ("749", 2, (1,))


@pytest.mark.parametrize("bad,args,message", [
    ({"annotator2": 3}, {}, "column 'annotator2' must be 0, 1 or 2, got 3"),
    ({"annotator1": None}, {}, "column 'annotator1' must be 0, 1 or 2"),
    ({"instruction": 7}, {}, "column 'instruction' must be text"),
    ({}, {"unparsed_as_tie": "maybe"}, "option 'unparsed_as_tie=maybe' must be like the default"),
])
def test_bad_rows_are_one_line_errors(tmp_path, bad, args, message):
    with pytest.raises(UserError, match=re.escape(message)) as err:
        spec = apply_task_args(get_spec("pandalm"), args)
        load_task(spec, str(write_json(tmp_path / "t.json", [{**row(0, [1, 1, 1]), **bad}])))
    assert "\n" not in str(err.value)


def test_the_default_source_is_the_pinned_file_and_offline_is_one_line():
    spec = get_spec("pandalm")
    assert spec.source.url.endswith("/data/testset-v1.json") and len(spec.source.sha256) == 64
    with pytest.raises(UserError, match="could not download .* pass --data-path to a local copy") as err:
        load_task(spec)
    assert "\n" not in str(err.value)


def test_the_pinned_file_is_fetched_checked_and_read(tmp_path, monkeypatch):
    """The download path end to end, from a server on 127.0.0.1: the cache keeps the file under a
    name without its suffix, the sha256 is checked before anything is read, and a different file
    at the same address is refused."""
    import dataclasses
    import hashlib
    import http.server
    import threading

    import datasets.config

    from rmbench.resources import demo_dir

    body = (demo_dir() / "pandalm.json").read_bytes()
    served = {"/data/testset-v1.json": body, "/other/testset-v1.json": body.replace(b"Demo", b"Dem0", 1)}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            data = served.get(self.path)
            self.send_response(200 if data else 404)
            self.send_header("Content-Length", str(len(data or b"")))
            self.end_headers()
            if self.command == "GET" and data:
                self.wfile.write(data)

        do_HEAD = do_GET

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)   # only 127.0.0.1 is reached
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    monkeypatch.setattr(datasets.config, "DOWNLOADED_DATASETS_PATH", tmp_path / "cache" / "downloads")
    try:
        base = get_spec("pandalm")
        url = f"http://127.0.0.1:{server.server_address[1]}/data/testset-v1.json"
        spec = dataclasses.replace(base, source=dataclasses.replace(
            base.source, url=url, sha256=hashlib.sha256(body).hexdigest()))
        task = load_task(spec)
        assert len(task.examples) == len(json.loads(body))
        assert task.provenance["files"] == {"testset-v1.json": hashlib.sha256(body).hexdigest()}
        other = dataclasses.replace(spec, source=dataclasses.replace(spec.source, url=url.replace("/data/", "/other/")))
        with pytest.raises(UserError, match="does not have the published content"):
            load_task(other)
    finally:
        server.shutdown()


# -- scoring by hand ------------------------------------------------------------------------------

GOLD = [1, 2, 0, 1, 2, 0]


def _ex(i, gold, as_tie=True) -> Example:
    pref = {1: (0,), 2: (1,), 0: (0, 1)}[gold]
    return Example(id=str(i), task="pandalm", subset="pandalm", messages=({"role": "user", "content": "q"},),
                   candidates=("r1", "r2"), preferred=pref,
                   meta={"gold": gold, "annotators": [gold] * 3, "unparsed_as_tie": as_tie})


def _record(ex, result):
    return {"task": "pandalm", "id": ex.id, "subset": ex.subset, "result": result}


def _scored(values):
    exs = [_ex(i, g) for i, g in enumerate(GOLD)]
    return [_record(ex, pandalm.example_result(ex, Outcome(ex, Policy(), scores=[[Score(0, 0, a)], [Score(1, 0, b)]])))
            for ex, (a, b) in zip(exs, values)]


def test_a_scoring_judge_by_hand():
    # predictions 1, 2, tie (equal scores), 2, 1, 1 against gold 1, 2, tie, 1, 2, tie
    recs = _scored([(5, 3), (2, 4), (3, 3), (1, 2), (4, 1), (2, 1)])
    assert [r["result"]["pred"] for r in recs] == [1, 2, 0, 2, 1, 1]
    summ = pandalm.aggregate(recs, {})
    # tie: P 1/1, R 1/2, F1 2/3; response 1: P 1/3, R 1/2, F1 0.4; response 2: P 1/2, R 1/2, F1 1/2
    assert summ["metrics"] == pytest.approx({"accuracy": 0.5, "precision": (1 + 1 / 3 + 1 / 2) / 3, "recall": 0.5,
                                             "f1": (2 / 3 + 0.4 + 0.5) / 3, "decisive_accuracy": 0.5,
                                             "tie_rate": 1 / 6})
    assert summ["score"] == summ["metrics"]["f1"] and summ["n"] == 6
    assert summ["sections"]["tie"] == pytest.approx({"score": 2 / 3, "n": 2, "precision": 1.0, "recall": 0.5,
                                                     "f1": 2 / 3, "support": 2, "predicted": 1})
    assert "notes" not in summ


def test_a_judge_that_cannot_say_tie_scores_zero_on_the_tie_class():
    recs = _scored([(5, 3), (2, 4), (3, 1), (1, 2), (4, 1), (2, 1)])     # never equal
    summ = pandalm.aggregate(recs, {})
    assert summ["sections"]["tie"] == {"score": 0.0, "n": 2, "precision": 0.0, "recall": 0.0, "f1": 0.0,
                                       "support": 2, "predicted": 0}
    # response 1: P 1/4 (1 of items 1, 3, 5, 6), R 1/2; response 2: P 1/2, R 1/2
    assert summ["metrics"]["f1"] == pytest.approx((0 + 2 * (1 / 4 * 1 / 2) / (3 / 4) + 0.5) / 3)
    assert summ["metrics"]["decisive_accuracy"] == 0.5 and summ["metrics"]["tie_rate"] == 0.0
    assert "never predicted a tie" in summ["notes"][0]


def _judged(as_tie=True, on_failure="loss"):
    """Both orders per item; ``winner`` 0/1, "tie" (a tie verdict) or None (unreadable)."""
    verdicts = [(0, 0),            # gold 1: agreement on response 1
                (0, 1),            # gold 2: each wins when shown first -> a contradiction -> tie
                ("tie", 0),        # gold tie: a tie and a preference -> the preference (1)
                (None, 0),         # gold 1: an unreadable verdict and a preference
                (None, None),      # gold 2: nothing readable
                ("tie", "tie")]    # gold tie: two ties
    recs = []
    for i, (gold, (w1, w2)) in enumerate(zip(GOLD, verdicts)):
        ex = _ex(i, gold, as_tie)
        js = []
        for (a, b), w in zip(((0, 1), (1, 0)), (w1, w2)):
            status = UNPARSED if w is None else TIE if w == "tie" else OK
            js.append(Judgment(a, b, 0, status, winner=w if status == OK else None))
        recs.append(_record(ex, pandalm.example_result(ex, Outcome(ex, Policy(on_failure=on_failure),
                                                                    judgments={(0, 1): js}))))
    return recs


def test_a_pairwise_judge_both_orders_by_hand():
    recs = _judged()
    # the authors' rule: an unreadable verdict is a tie -> predictions 1, tie, 1, 1, tie, tie
    assert [r["result"]["pred"] for r in recs] == [1, 0, 1, 1, 0, 0]
    summ = pandalm.aggregate(recs, {})
    # tie: P 1/3, R 1/2, F1 0.4; response 1: P 2/3, R 1, F1 0.8; response 2: never predicted, 0
    assert summ["metrics"] == pytest.approx({"accuracy": 0.5, "precision": 1 / 3, "recall": 0.5, "f1": 0.4,
                                             "decisive_accuracy": 0.5, "tie_rate": 0.5})


def test_unreadable_verdicts_left_to_the_failure_policy():
    loss = pandalm.aggregate(_judged(False, "loss"), {})
    # item 4 has one readable order (response 1 wins); item 5 none: a wrong prediction of no class
    assert [r["result"]["pred"] for r in _judged(False, "loss")] == [1, 0, 1, 1, pandalm.NO_CLASS, 0]
    assert loss["metrics"]["accuracy"] == 0.5 and loss["n"] == 6
    assert loss["metrics"]["f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert "no readable verdict" in loss["notes"][0]
    half = pandalm.aggregate(_judged(False, "half"), {})
    assert half["metrics"]["accuracy"] == pytest.approx(3.5 / 6)
    excl = pandalm.aggregate(_judged(False, "exclude"), {})
    assert excl["n"] == 5 and excl["excluded"] == 1 and excl["metrics"]["accuracy"] == pytest.approx(3 / 5)
    assert excl["metrics"]["f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)


def test_votes_per_order_and_single_order():
    assert pandalm.combine_votes([[1, -1]]) == 0               # no plurality among samples
    assert pandalm.combine_votes([[1, 1, -1], [0]]) == 1
    assert pandalm.combine_votes([[-1], [-1, 0, -1]]) == 2
    assert pandalm.combine_votes([[None], [None]]) is None
    ex = _ex(0, 2)
    one = [Judgment(0, 1, 0, OK, winner=1)]                    # --orders fixed: response 1 shown first
    res = pandalm.example_result(ex, Outcome(ex, Policy(orders="fixed"), judgments={(0, 1): one}))
    assert res["pred"] == 2 and res["correct"] == 1.0 and res["preferred"] == [1]
    assert pandalm.pairs(ex) == [(0, 1)]


# -- the authors' published figures ----------------------------------------------------------------

PANDALM_REPO = os.environ.get("RMBENCH_PANDALM_REPO")


@pytest.mark.skipif(not PANDALM_REPO, reason="set RMBENCH_PANDALM_REPO to a checkout of WeOpenML/PandaLM")
@pytest.mark.parametrize("file,key,figures", [
    ("gpt-3.5-turbo-testset-v1.json", "gpt_result", (71.07, 58.79, 57.36, 57.55)),
    ("pandalm-7b-testset-v1.json", "pandalm_result", (66.77, 57.38, 57.50, 57.43)),
])
def test_the_published_predictions_give_the_published_figures(file, key, figures):
    """The README's table (accuracy, precision, recall, F1) from the predictions the authors
    publish: gpt-3.5's 25 unreadable ("garbage") outputs must count as ties."""
    data = Path(PANDALM_REPO) / "data"
    examples = {ex.id: ex for ex in load_task(get_spec("pandalm"), str(data / "testset-v1.json")).examples}
    recs = []
    for p in json.loads((data / file).read_text()):
        ex = examples[str(p["idx"])]
        v = str(p[key])
        status, winner = {"1": (OK, 0), "2": (OK, 1), "0": (TIE, None), "Tie": (TIE, None)}.get(v, (UNPARSED, None))
        js = {(0, 1): [Judgment(0, 1, 0, status, winner=winner)]}
        recs.append(_record(ex, pandalm.example_result(ex, Outcome(ex, Policy(orders="fixed"), judgments=js))))
    m = pandalm.aggregate(recs, {})["metrics"]
    got = tuple(round(100 * m[k], 2) for k in ("accuracy", "precision", "recall", "f1"))
    assert got == figures
