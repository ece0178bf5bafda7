"""``--protocol official|rmbench``: what ``resolve`` sets per task and judge type, the listwise
(best-of-n) judge through the real Judge, tie verdicts, a constant-rating stand-in judge on the
real scorers, the protocol in run.json and the summary, resume refusing to mix protocols, and the
official truncation of scalar inputs through the hf/ provider's own path."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

import rmbench.judges
from rmbench.config import RunConfig
from rmbench.contracts import LISTWISE, PAIRWISE, POINTWISE
from rmbench.errors import UserError
from rmbench.judges.base import BaseProvider, GenOutput
from rmbench.protocol import Policy, listings, shown_order
from rmbench.protocol.official import resolve
from rmbench.runner import run
from rmbench.tasks import get_spec
from rmbench.types import Example
from tests.helpers import REPO, write_json
from tests.servers import fake_model

DEMO = REPO / "rmbench" / "demo"
GEN = {"kind": "generative", "mode": PAIRWISE}
RATING = {"kind": "generative", "mode": POINTWISE}
LIST = {"kind": "generative", "mode": LISTWISE}
SCALAR = {"kind": "scalar", "mode": POINTWISE}


def _cfg(**kw) -> RunConfig:
    return RunConfig(model="x/y", tasks=["t"], **kw)


# -- resolve: the table of docs/benchmarks.md -----------------------------------------------

@pytest.mark.parametrize("task, judge, orders, on_failure", [
    ("rewardbench", GEN, "random", "half"),           # run_generative.py: "error" -> 0.5
    ("rewardbench", RATING, "random", "half"),
    ("rewardbench", SCALAR, "random", "loss"),
    ("rewardbench-prior", GEN, "random", "half"),
    ("rewardbench2", LIST, "random", "chance"),       # run_generative_v2.py: 0.25
    ("rewardbench2", RATING, "random", "chance"),
    ("rm-bench", GEN, "random", "loss"),              # RM-R1: "error" -> 0
    ("rmb", GEN, "random", "loss"),
    ("rmb-bon", RATING, "random", "loss"),
    ("judgebench", GEN, "both", "loss"),             # run_judge.py: both orders, no decision is not correct
    ("pandalm", GEN, "fixed", "loss"),               # the authors: one order, response 1 first
])
def test_official_settings_per_task_and_judge_type(task, judge, orders, on_failure):
    s = resolve(_cfg(protocol="official"), get_spec(task), judge)
    assert (s.protocol, s.policy.orders, s.policy.on_failure) == ("official", orders, on_failure)
    assert s.script and s.to_json()["script"] == s.script
    default = resolve(_cfg(), get_spec(task), judge)
    assert (default.policy.orders, default.policy.on_failure, default.truncate) == ("both", "loss", None)
    # the same under both protocols: equal ratings 0.5 for generative judges, strict > for scalar ones
    for st in (s, default):
        assert st.policy.equal_scores == (0.0 if judge is SCALAR else 0.5) and st.policy.tie == 0.5
    # expected ratings (an rmbench extra, from --gen logprobs) never decide a tie under the official rules
    assert default.policy.expected_ties and not s.policy.expected_ties
    assert s.to_json()["expected_ties"] is False and "expected_ties" not in default.to_json()


def test_official_equal_ratings_stay_ties_whatever_the_expected_ratings():
    from rmbench.scoring import bon
    from tests.scoring.outcomes import example, rated

    ex = example("a", 3, preferred=(1,), subset="Focus")
    rb2 = resolve(_cfg(protocol="official"), get_spec("rewardbench2"), RATING).policy
    rb1 = resolve(_cfg(protocol="official"), get_spec("rewardbench"), RATING).policy

    def outcome(policy):
        return rated(ex, [8.0, 8.0, 5.0], [7.6, 7.9, 5.0], policy)

    assert outcome(rb1).beats(1, 0) == 0.5                       # run_generative.py: equal ratings 0.5
    assert outcome(Policy(equal_scores=0.5)).beats(1, 0) == 1.0  # rmbench's reading decides by expectation
    assert bon.example_result(ex, outcome(rb2))["correct"] == 0.5   # a 2-way tie at the top: 1/2


def test_scalar_truncation_and_the_ties_failed_rating():
    rb = resolve(_cfg(protocol="official"), get_spec("rewardbench"), {**SCALAR, "truncation": {
        "rewardbench": {"tokens": 2048, "side": "left"}}})
    assert rb.truncate == {"tokens": 2048, "side": "left"} and not rb.notes
    rb2 = resolve(_cfg(protocol="official"), get_spec("rewardbench2"), SCALAR)
    assert rb2.truncate == {"tokens": 2048, "side": "tokenizer"}
    assert any("cannot cut its inputs" in n for n in rb2.notes)   # a provider that did not take the setting
    ties = resolve(_cfg(protocol="official"), get_spec("rewardbench2"), LIST)
    assert ties.policy.failed_score == -1.0 and ties.truncate is None
    assert resolve(_cfg(), get_spec("rewardbench2"), LIST).policy.failed_score is None


def test_conflicting_flags_tasks_without_a_script_and_unsupported_modes():
    with pytest.raises(UserError, match="--protocol official sets --orders random for rewardbench"):
        resolve(_cfg(protocol="official", orders="fixed"), get_spec("rewardbench"), GEN)
    with pytest.raises(UserError, match="sets --on-failure half for rewardbench with a pairwise judge"):
        resolve(_cfg(protocol="official", on_failure="exclude"), get_spec("rewardbench"), GEN)
    ok = resolve(_cfg(protocol="official", orders="random", on_failure="half"), get_spec("rewardbench"), GEN)
    assert ok.policy.orders == "random"
    bon = resolve(_cfg(protocol="official", orders="fixed"), get_spec("bon"), GEN)
    assert bon.policy.orders == "fixed" and "no official script" in bon.notes[0]
    with pytest.raises(UserError, match="cannot be judged with a best-of-n prompt"):
        resolve(_cfg(), get_spec("rewardbench"), LIST)
    with pytest.raises(UserError, match="--protocol must be one of rmbench, official"):
        _cfg(protocol="offical").validate()
    pairwise_rb2 = resolve(_cfg(protocol="official"), get_spec("rewardbench2"), GEN)
    assert any("no pairwise method" in n for n in pairwise_rb2.notes)


def test_rewardbench2_scores_ties_pointwise_under_a_listwise_judge():
    s = resolve(_cfg(), get_spec("rewardbench2"), LIST)
    ex = SimpleNamespace(subset="Ties")
    assert s.mode == LISTWISE and s.mode_for(ex) == POINTWISE and s.mode_for(SimpleNamespace(subset="Math")) == LISTWISE


# -- listwise presentation ---------------------------------------------------------------

def _ex(ident="q1", n=4, task="rewardbench2") -> Example:
    return Example(id=ident, task=task, subset="Math", messages=({"role": "user", "content": "Q?"},),
                   candidates=tuple(f"c{i}" for i in range(n)), preferred=(0,))


def test_the_shown_order_is_a_seeded_shuffle_per_row():
    ex = _ex()
    a = shown_order(ex, Policy(seed=1))
    assert sorted(a) == [0, 1, 2, 3] and a == shown_order(ex, Policy(seed=1))
    assert len({shown_order(_ex(f"q{k}"), Policy(seed=1)) for k in range(30)}) > 5     # rows differ
    assert {shown_order(ex, Policy(seed=s)) for s in range(20)} != {a}                 # seeds differ
    assert shown_order(ex, Policy(orders="fixed")) == (0, 1, 2, 3)
    assert [lst.order for lst in listings(ex, Policy(seed=1, samples=3))] == [a] * 3
    # the chosen completion lands in every slot about equally often
    slots = [shown_order(_ex(f"r{k}"), Policy(seed=0)).index(0) for k in range(400)]
    assert all(70 < slots.count(p) < 130 for p in range(4))


# -- stand-in judges through the real Judge and runner -----------------------------------

class Scripted(BaseProvider):
    """A generative stand-in: ``reply(prompt)`` gives the model's text."""

    def __init__(self, name, config, reply):
        super().__init__(name, config)
        self.reply = reply
        self.prompts: list[str] = []

    async def agenerate(self, req):
        prompt = "\n\n".join(m["content"] for m in req.messages)
        self.prompts.append(prompt)
        return GenOutput(text=self.reply(prompt), finish_reason="stop")


def _run(monkeypatch, tmp_path, provider_reply, tasks, name="r", data_path=None, demo=False, **kw):
    holder = {}

    def build(config):
        holder["p"] = Scripted("stand-in", config, provider_reply)
        return holder["p"]

    monkeypatch.setattr(rmbench.judges, "build_provider", build)
    cfg = RunConfig(model="stand-in/judge", tasks=tasks, data_path=data_path, output_dir=str(tmp_path / "out"),
                    run_name=name, no_cache=True, **kw)
    path = run(cfg, demo=demo, argv=["rmbench"], show_progress=False)
    recs = [json.loads(x) for x in (path / "records.jsonl").read_text().splitlines()]
    return json.loads((path / "summary.json").read_text()), recs, json.loads((path / "run.json").read_text()), holder["p"]


@pytest.mark.parametrize("protocol", ["rmbench", "official"])
def test_a_constant_rating_gives_exactly_half_on_rewardbench_and_a_quarter_on_best_of_4(monkeypatch, tmp_path,
                                                                                          protocol):
    summ, recs, _, _ = _run(monkeypatch, tmp_path, lambda p: "Fine.\n\nRating: [[7]]", ["rewardbench", "rewardbench2"],
                            demo=True, prompt="rating", protocol=protocol)
    rb = summ["tasks"]["rewardbench"]
    assert rb["score"] == 0.5 and {s["score"] for s in rb["sections"].values()} == {0.5}
    assert all(v["accuracy"] == 0.5 for s in rb["sections"].values() for v in s["subsets"].values())
    assert rb["judging"]["equal_scores"] == {"n": 18, "of": 18, "rate": 1.0} and rb["judging"]["failures"] == {}
    rb2 = summ["tasks"]["rewardbench2"]
    best_of_4 = [n for n in rb2["sections"] if n != "Ties"]
    assert best_of_4 and all(rb2["sections"][n]["score"] == 0.25 for n in best_of_4)
    assert all(rb2["sections"][n]["tied_top"] == 1 for n in best_of_4)
    assert summ["protocol"] == protocol and rb["protocol"]["protocol"] == protocol


def test_rewardbench2_defaults_to_the_four_way_prompt_and_records_the_shuffle(monkeypatch, tmp_path):
    def quality(prompt):
        return fake_model.answer(prompt).text

    rows = json.loads((DEMO / "rewardbench2.json").read_text())
    for r in rows:  # tag the chosen completions best, so a working pick is always right
        r["chosen"] = [f"(quality 9) {c}" for c in r["chosen"]]
        r["rejected"] = [f"(quality {k + 1}) {c}" for k, c in enumerate(r["rejected"])]
    data = write_json(tmp_path / "rb2.json", rows)
    summ, recs, run_json, prov = _run(monkeypatch, tmp_path, quality, ["rewardbench2"], data_path=str(data), seed=5,
                                      protocol="official")
    t = summ["tasks"]["rewardbench2"]
    assert t["protocol"]["mode"] == "listwise" and t["protocol"]["prompt"] == "best-of-n"
    assert t["protocol"]["on_failure"] == "chance" and t["protocol"]["scored_subsets"] == ["Ties"]
    assert all(t["sections"][n]["score"] == 1.0 for n in t["sections"] if n != "Ties")
    bo4 = [r for r in recs if r["subset"] != "Ties"]
    assert all(len(r["picks"]) == 1 and sorted(r["picks"][0]["order"]) == [0, 1, 2, 3] for r in bo4)
    assert len({tuple(r["picks"][0]["order"]) for r in bo4}) > 1      # shuffled per row
    for r in bo4:  # the label the judge gave is the shown position of the chosen completion
        assert r["picks"][0]["label"] == "ABCD"[r["picks"][0]["order"].index(0)] and r["picks"][0]["winner"] == 0
    ties = [r for r in recs if r["subset"] == "Ties"]
    assert ties and all("scores" in r and "picks" not in r for r in ties)   # Ties is rated
    four_way = [p for p in prov.prompts if "[Response D]" in p]
    rated = [p for p in prov.prompts if "[Response]" in p]
    assert len(four_way) == len(bo4) and len(rated) == sum(len(r["scores"]) for r in ties)
    assert run_json["judge"]["task_templates"]["rewardbench2"]["listwise"]["template"] == "best-of-n"
    assert run_json["judge"]["task_templates"]["rewardbench2"]["pointwise"]["template"] == "rating"
    assert run_json["protocol"]["rewardbench2"]["mode"] == "listwise"
    assert "pick" in json.dumps(t["judging"]["position_bias"])


def test_tie_verdicts_are_parsed_where_the_template_declares_one(monkeypatch, tmp_path):
    tmpl = tmp_path / "tie.j2"
    tmpl.write_text("{#- rmbench\nparser: brackets\nlabels: [A, B]\ntie_label: C\n-#}\n"
                    "Q: {{ question }}\nA: {{ response_a }}\nB: {{ response_b }}\nAnswer [[A]], [[B]] or [[C]].")
    rows = [{"id": k, "prompt": f"question {k}", "chosen": f"good {k}", "chosen_model": "m", "rejected": f"bad {k}",
             "rejected_model": "m", "subset": "alpacaeval-easy"} for k in range(4)]
    data = write_json(tmp_path / "rb.json", rows)

    def reply(prompt):   # a tie for questions 0 and 1, otherwise the chosen one, whichever side it is on
        if "question 0" in prompt or "question 1" in prompt:
            return "Both are equally good. [[C]]"
        return "[[A]]" if prompt.index("good") < prompt.index("bad") else "[[B]]"

    summ, recs, _, _ = _run(monkeypatch, tmp_path, reply, ["rewardbench"], data_path=str(data), prompt=str(tmpl))
    t = summ["tasks"]["rewardbench"]
    statuses = [jd["status"] for r in recs for p in r["pairs"] for jd in p["judgments"]]
    assert statuses.count("tie") == 4 and statuses.count("ok") == 4
    assert all(jd["winner"] is None and jd["label"] == "C" for r in recs[:2] for p in r["pairs"] for jd in p["judgments"])
    assert [r["result"]["correct"] for r in recs] == [0.5, 0.5, 1.0, 1.0]
    assert t["judging"]["failures"] == {} and t["judging"]["tie_verdicts"] == {"n": 4, "of": 8, "rate": 0.5}
    assert t["sections"]["Chat"]["subsets"]["alpacaeval-easy"]["accuracy"] == 0.75


def test_pandalm_tie_verdicts_predict_the_tie_class(monkeypatch, tmp_path):
    # issue 18: PandaLM's gold has a tie class; a template that declares a tie label lets a judge predict it
    tmpl = tmp_path / "tie.j2"
    tmpl.write_text("{#- rmbench\nparser: brackets\nlabels: [A, B]\ntie_label: C\n-#}\n"
                    "Q: {{ question }}\nA: {{ response_a }}\nB: {{ response_b }}\nAnswer [[A]], [[B]] or [[C]].")
    summ, recs, _, _ = _run(monkeypatch, tmp_path, lambda p: "Equally good. [[C]]", ["pandalm"], demo=True,
                            prompt=str(tmpl))
    t = summ["tasks"]["pandalm"]
    assert recs and all(r["result"]["pred"] == 0 for r in recs)
    assert {jd["status"] for r in recs for p in r["pairs"] for jd in p["judgments"]} == {"tie"}
    gold_ties = sum(r["result"]["gold"] == 0 for r in recs)
    assert 0 < gold_ties < len(recs) and t["metrics"]["accuracy"] == pytest.approx(gold_ties / len(recs))
    assert t["metrics"]["tie_rate"] == 1.0 and t["sections"]["tie"]["recall"] == 1.0
    assert t["judging"]["failures"] == {} and t["judging"]["tie_verdicts"]["rate"] == 1.0


# -- the protocol in run.json, the summary and the run's identity ---------------------------

def test_the_protocol_is_recorded_and_a_resume_under_another_refuses(tmp_path):
    cfg = dict(model="baseline/longest", tasks=["rewardbench"], output_dir=str(tmp_path / "out"), run_name="r",
               limit=4)
    path = run(RunConfig(**cfg, protocol="official"), demo=True, argv=["rmbench"], show_progress=False)
    info = json.loads((path / "run.json").read_text())
    assert info["config"]["protocol"] == "official" and info["identity"]["protocol"] == "official"
    assert info["protocol"]["rewardbench"]["protocol"] == "official"
    summary = json.loads((path / "summary.json").read_text())
    assert summary["protocol"] == "official" and summary["tasks"]["rewardbench"]["protocol"]["orders"] == "random"
    assert "protocol: official" in (path / "summary.md").read_text().splitlines()[2]
    with pytest.raises(UserError, match=r"different settings \(protocol\)"):
        run(RunConfig(**cfg, protocol="rmbench"), demo=True, argv=["rmbench"], show_progress=False)
    again = run(RunConfig(**cfg, protocol="official"), demo=True, argv=["rmbench"], show_progress=False)
    assert json.loads((again / "run.json").read_text())["resumed_records"] == 4
    from rmbench.runner import rescore

    assert rescore(path)["protocol"] == "official"


def test_the_cli_flag(tmp_path, capsys):
    from rmbench.cli.main import main

    rc = main(["run", "--model", "baseline/longest", "--task", "rewardbench", "--limit", "2", "--output-dir",
               str(tmp_path / "o"), "--run-name", "r", "--quiet", "--protocol", "official", "--data-path",
               str(DEMO / "rewardbench.json")])
    assert rc == 0
    assert json.loads((tmp_path / "o" / "r" / "run.json").read_text())["config"]["protocol"] == "official"
    rc = main(["run", "--model", "baseline/longest", "--task", "rewardbench", "--limit", "2", "--output-dir",
               str(tmp_path / "o"), "--run-name", "s", "--quiet", "--protocol", "paper"])
    assert rc == 2 and "--protocol must be one of rmbench, official" in capsys.readouterr().err


# -- scalar truncation through hf/ ----------------------------------------------------------

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    pytest.importorskip("transformers")
    from tests.judges.tiny_models import tiny_models_at

    return tiny_models_at(tmp_path_factory.getbasetemp() / "tiny-models")


def test_official_protocol_cuts_over_long_scalar_inputs_to_their_last_tokens(tmp_path, tiny):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from tests import rb_fixture

    rows = rb_fixture.rows()
    rows[0]["chosen"] = "a very long answer " * 200     # past the tiny model's 512 positions
    data = write_json(tmp_path / "long.json", rows)
    base = dict(model=f"hf/{tiny['rm']}", tasks=["rewardbench"], data_path=str(data), output_dir=str(tmp_path / "out"))
    plain = run(RunConfig(**base, run_name="plain"), argv=["rmbench"], show_progress=False)
    first = json.loads((plain / "records.jsonl").read_text().splitlines()[0])
    assert first["scores"][0][0]["status"] == "too_long"
    cut = run(RunConfig(**base, run_name="cut", protocol="official"), argv=["rmbench"], show_progress=False)
    info = json.loads((cut / "run.json").read_text())
    assert info["stats"]["provider"]["truncated_inputs"] == 1 and info["stats"]["provider"]["too_long"] == 0
    assert info["judge"]["truncation"] == {"rewardbench": {"tokens": 2048, "side": "left"}}
    summary = json.loads((cut / "summary.json").read_text())
    assert summary["tasks"]["rewardbench"]["protocol"]["truncate"] == {"tokens": 2048, "side": "left"}
    rec = json.loads((cut / "records.jsonl").read_text().splitlines()[0])
    assert rec["scores"][0][0]["status"] == "ok"
    # the score is the model's own forward over the last 512 tokens (min of its context and 2,048)
    tok = AutoTokenizer.from_pretrained(tiny["rm"])
    model = AutoModelForSequenceClassification.from_pretrained(tiny["rm"], dtype=torch.float32).eval()
    text = tok.apply_chat_template([{"role": "user", "content": rows[0]["prompt"]},
                                    {"role": "assistant", "content": rows[0]["chosen"]}], tokenize=False)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert len(ids) > 512
    with torch.no_grad():
        want = model(input_ids=torch.tensor([ids[-512:]])).logits[0, 0].item()
    assert rec["scores"][0][0]["value"] == pytest.approx(want, abs=1e-5)


def test_ties_cut_by_limit_leave_the_overall_unofficial(tmp_path):
    # --limit 6 keeps tied:1 and ref:2 of the demo's Ties rows: no prompt in both forms
    path = run(RunConfig(model="baseline/longest", tasks=["rewardbench2"], output_dir=str(tmp_path / "out"),
                         run_name="r", limit=6), demo=True, argv=["rmbench"], show_progress=False)
    t = json.loads((path / "summary.json").read_text())["tasks"]["rewardbench2"]
    assert t["sections"]["Ties"]["score"] is None and t["official"] is False
    others = [s["score"] for n, s in t["sections"].items() if n != "Ties"]
    assert len(others) == 4 and t["score"] == pytest.approx(sum(others) / 4)
    assert any("Ties composite is undefined" in n for n in t["notes"])
    assert "Ties composite is undefined" in (path / "summary.md").read_text()


def test_rmb_tasks_state_the_published_sizes():
    # the published set (17,131 pairs, 3,786 lists), not the shared copy that lacks three pairwise files
    assert (get_spec("rmb").size, get_spec("rmb-pairwise").size, get_spec("rmb-bon").size) == (20917, 17131, 3786)
