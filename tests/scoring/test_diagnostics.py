"""Bias diagnostics (length, self-consistency, ties, ratings) from real runs and hand-made records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rmbench.config import RunConfig
from rmbench.protocol import Policy
from rmbench.runner import rescore, run
from rmbench.scoring import diagnostics, get_scorer
from rmbench.tasks import get_spec
from tests import rb_fixture
from tests.helpers import write_json
from tests.scoring.diag_records import judgment, pair_record, policy
from tests.tournament.standins import Batched


def _run(tmp_path: Path, model: str, task: str, data: Path | str, name: str, **kw) -> dict:
    cfg = RunConfig(model=model, tasks=[task], data_path=str(data), output_dir=str(tmp_path / "out"), run_name=name,
                    no_cache=True, **kw)
    path = run(cfg, argv=["rmbench"], show_progress=False)
    return json.loads((path / "summary.json").read_text())["tasks"][task] | {"_path": str(path)}


def test_length_bias_of_the_longest_baseline_is_one_and_zero(tmp_path):
    """baseline/longest is right exactly on the pairs whose chosen response is the longer one."""
    data = write_json(tmp_path / "rb.json", rb_fixture.rows())
    summ = _run(tmp_path, "baseline/longest", "rewardbench", data, "longest")
    lb = summ["diagnostics"]["length_bias"]
    longer = sum(1 for _, win in rb_fixture.PLAN if win)
    shorter = sum(1 for _, win in rb_fixture.PLAN if win is False)
    assert lb == {"unit": "chars", "accuracy_longer_preferred": 1.0, "n_longer_preferred": longer,
                  "accuracy_shorter_preferred": 0.0, "n_shorter_preferred": shorter, "difference": 1.0,
                  "length_controlled_accuracy": 0.5, "accuracy_equal_length": 0.0, "n_equal_length": 1}
    # per section too: Chat holds two longer- and two shorter-preferred pairs
    chat = summ["diagnostics"]["sections"]["Chat"]["length_bias"]
    assert (chat["n_longer_preferred"], chat["n_shorter_preferred"]) == (2, 2)
    assert chat["length_controlled_accuracy"] == 0.5
    records = [json.loads(x) for x in (Path(summ["_path"]) / "records.jsonl").open()]
    assert records[0]["lengths"] == {"unit": "chars", "counts": [len(rb_fixture.LONG), len(rb_fixture.SHORT)]}
    assert records[0]["preferred"] == [0]
    md = [" ".join(line.split()) for line in (Path(summ["_path"]) / "summary.md").read_text().splitlines()]
    assert "| length-controlled accuracy | 50.0 |" in md
    assert f"| length bias (chars) | preferred longer 100.0 (n {longer}), shorter 0.0 (n {shorter}), " \
           "difference +100.0 |" in md


def test_length_bias_of_a_pairwise_judge_that_prefers_the_longer_response(monkeypatch, tmp_path):
    """The fake model picks the longer response (a tie in length goes to the response shown
    first, so both orders split and the pair is worth one half)."""
    import rmbench.judges

    data = write_json(tmp_path / "rb.json", rb_fixture.rows())
    provider = Batched("judge", RunConfig(model="stand-in/judge", tasks=["rewardbench"]))
    monkeypatch.setattr(rmbench.judges, "build_provider", lambda config: provider)
    summ = _run(tmp_path, "stand-in/judge", "rewardbench", data, "pairwise")
    lb = summ["diagnostics"]["length_bias"]
    assert (lb["accuracy_longer_preferred"], lb["accuracy_shorter_preferred"]) == (1.0, 0.0)
    assert lb["length_controlled_accuracy"] == 0.5 and lb["accuracy_equal_length"] == 0.5


def test_length_bias_on_real_rm_bench_data(tmp_path, shared_data):
    summ = _run(tmp_path, "baseline/longest", "rm-bench", shared_data / "rm-bench", "rmb", limit=8)
    lb = summ["diagnostics"]["length_bias"]
    assert lb["accuracy_longer_preferred"] == 1.0 and lb["accuracy_shorter_preferred"] == 0.0
    assert lb["n_longer_preferred"] + lb["n_shorter_preferred"] + lb["n_equal_length"] == 8 * 9
    assert set(summ["diagnostics"]["sections"]) <= {"chat", "math", "code", "safety"}


def test_lengths_in_tokens_when_the_judge_has_a_tokenizer(tmp_path):
    from transformers import PreTrainedTokenizerFast

    from tests.judges.tiny_models import build_tokenizer

    build_tokenizer(tmp_path / "tok")
    tok = PreTrainedTokenizerFast.from_pretrained(str(tmp_path / "tok"))
    from tests.scoring.outcomes import example

    ex = example("a", 2)
    ex = type(ex)(**{**ex.__dict__, "candidates": ("The quick brown fox.", "Water boils at 100 degrees Celsius.")})
    facts = diagnostics.record_facts(ex, tok)
    assert facts["lengths"]["unit"] == "tokens"
    assert facts["lengths"]["counts"] == [len(tok(c, add_special_tokens=False)["input_ids"]) for c in ex.candidates]
    assert diagnostics.record_facts(ex)["lengths"] == {"unit": "chars", "counts": [20, 35]}


def test_self_consistency_counts_ties_as_their_own_verdict_and_skips_failures():
    recs = [pair_record("a", {(0, 1): "WWW", (1, 0): "WWL"}), pair_record("b", {(0, 1): "TTT", (1, 0): "TWW"}),
            pair_record("c", {(0, 1): "WFW", (1, 0): "FFW"})]
    sc = diagnostics.self_consistency(recs)
    # requests with >= 2 verdicts: a01 agree, a10 no, b01 agree (all ties), b10 no, c01 agree (failure left out)
    assert sc == {"unit": "comparison", "requests": 5, "all_agree": 3 / 5,
                  "mean_agreement": pytest.approx((1 + 2 / 3 + 1 + 2 / 3 + 1) / 5), "with_failures": 2}
    ties = diagnostics.verdict_ties(recs)
    assert ties == {"judgments": 4, "share": 4 / 15}


def test_ratings_distribution_tie_rate_and_the_expected_rating_tie_break():
    def rec(ident, good, bad, eg=None, eb=None):
        def sc(c, v, e):
            d = {"index": c, "value": float(v), "status": "ok"}
            if e is not None:
                d["expected"] = e
            return [d]
        return {"task": "rewardbench", "id": ident, "subset": "alpacaeval-easy", "result": {"correct": None},
                "preferred": [0], "lengths": {"unit": "chars", "counts": [1, 1]},
                "scores": [sc(0, good, eg), sc(1, bad, eb)]}

    recs = [rec("a", 7, 7, 7.4, 6.9), rec("b", 8, 8, 8.0, 8.0), rec("c", 9, 3, 8.8, 3.1), rec("d", 5, 5)]
    pol = policy(1)
    rt = diagnostics.ratings(recs, pol)
    assert rt["distribution"] == {"3": 1, "5": 2, "7": 2, "8": 2, "9": 1}
    assert rt["mean"] == pytest.approx(52 / 8) and rt["pairs"] == 4
    assert rt["tie_rate"] == 3 / 4 and rt["tie_rate_after_expected"] == 2 / 4   # a's tie is broken, b's and d's not
    # the protocol's rule: a tie in sampled ratings goes to the higher expected rating
    from rmbench.scoring import replay

    ex = replay.stub_example(recs[0])
    assert replay.outcome_of(recs[0], ex, pol).beats(0, 1) == 1.0
    ex = replay.stub_example(recs[3])
    assert replay.outcome_of(recs[3], ex, pol).beats(0, 1) == 0.0       # no expected ratings: a tie is a loss


def test_task_diagnostics_per_section_and_the_summary_shape():
    rb = get_scorer("rewardbench")
    recs = [pair_record("a", {(0, 1): "WW"}, subset="alpacaeval-easy", lengths=(9, 3)),
            pair_record("b", {(0, 1): "LL"}, subset="alpacaeval-easy", lengths=(2, 3)),
            pair_record("c", {(0, 1): "WL"}, subset="math-prm", lengths=(5, 5))]
    out = diagnostics.task_diagnostics(recs, scorer=rb, options=get_spec("rewardbench").options,
                                       policy=Policy(orders="fixed", samples=2), task="rewardbench",
                                       judge={"mode": "pairwise", "kind": "generative"})
    d = out["diagnostics"]
    assert set(d) == {"length_bias", "self_consistency", "sections"}
    assert set(d["sections"]) == {"Chat", "Reasoning"}
    assert d["sections"]["Chat"]["length_bias"]["length_controlled_accuracy"] == 0.5
    assert "position_bias" in d["sections"]["Chat"]
    assert set(out["compute_curves"]["votes"]) == {"all", "Chat", "Reasoning"}


def test_old_records_without_lengths_get_a_note_not_a_number():
    rec = pair_record("a", {(0, 1): "W"})
    del rec["lengths"]
    lb, note = diagnostics.length_bias([rec], policy(1))
    assert lb is None and "lengths" in note


def test_tie_verdict_judgment_shape():
    assert judgment(0, 1, 0, "T")["status"] == "tie"


def test_rescore_of_a_run_keeps_the_diagnostics(tmp_path):
    data = write_json(tmp_path / "rb.json", rb_fixture.rows())
    summ = _run(tmp_path, "baseline/longest", "rewardbench", data, "again")
    again = rescore(summ["_path"])["tasks"]["rewardbench"]
    assert again["diagnostics"] == summ["diagnostics"]


def test_expected_ratings_narrow_a_tie_at_the_top_of_a_best_of_n_pick():
    from rmbench.scoring import bon, rewardbench2
    from tests.scoring.outcomes import example, rated

    ex = example("a", 3, preferred=(1,), subset="Focus")

    def outcome(values, expected):
        return rated(ex, values, expected)

    assert bon.example_result(ex, outcome([8.0, 8.0, 5.0], [8.3, 7.9, 5.0]))["correct"] == 0.0   # 0 wins the tie
    assert rewardbench2.example_result(ex, outcome([8.0, 8.0, 5.0], [7.6, 7.9, 5.0]))["correct"] == 1.0
    assert bon.example_result(ex, outcome([8.0, 8.0, 5.0], [None, 7.9, 5.0]))["correct"] == 0.5  # one lacks it


def test_the_tournament_blocks_pick_follows_the_same_expected_rating_tie_break():
    """A pointwise best-of-N item's tournament block (its pick and credit, as the protocol builds
    it) narrows a tie at the top by the expected ratings exactly as the scorers do; without them
    the tie stays a tie."""
    import asyncio

    from rmbench.protocol.aggregate import Aggregation, evaluate_aggregated
    from rmbench.types import Score
    from tests.scoring.outcomes import example

    ex = example("a", 3, preferred=(1,), subset="Focus")

    async def no_compare(*_):
        raise AssertionError("pointwise only")

    for expected, top, credit in (([8.3, 7.9, 5.0], [0], 0.0), ([7.6, 7.9, 5.0], [1], 1.0),
                                  ([None, 7.9, 5.0], [0, 1], 0.5)):
        async def score(example, c, sample, expected=expected):
            s = Score(c, sample, [8.0, 8.0, 5.0][c])
            if expected[c] is not None:
                s.expected = expected[c]
            return s

        _, block = asyncio.run(evaluate_aggregated(ex, "pointwise", Policy(), no_compare, score,
                                                   Aggregation("wins", 3)))
        assert block["top"] == top and block["credit"] == credit, (expected, block)
