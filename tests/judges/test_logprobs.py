"""Verdict probabilities (judges/logprobs.py) on hand-built token sequences: where the verdict
token is found, which alternatives count for which label, ratings split across digit tokens,
and the refusals (no alignment, two alignments) that keep doubtful numbers out of records."""

from __future__ import annotations

import math

import pytest

from rmbench.config import GenConfig
from rmbench.judges.base import GenOutput
from rmbench.judges.logprobs import (
    add_logprob,
    from_openai,
    incremental_texts,
    label_probs,
    locate,
    position,
    rating_probs,
    rating_scale,
    summary_note,
)
from rmbench.judges.parsers import find_verdict

L = math.log


def seq(*steps):
    """Positions from [(text, p), ...] per step (probabilities, for readability)."""
    return [{t: L(p) for t, p in step} for step in steps]


def test_brackets_single_token_label():
    text = "B is wrong.\n[[A]]"
    pos = seq([("B", .6), ("A", .3)], [(" is", .9)], [(" wrong", .8)], [(".", .9)], [("\n", .7)],
              [("[[", .95), ("[", .05)], [("A", .7), ("B", .2), ("C", .05), (" A", .02)], [("]]", .99)])
    label, status, start = find_verdict("brackets", text, ("A", "B"))
    assert (label, status, text[start]) == ("A", "ok", "A")
    p = label_probs(text, pos, ("A", "B"), start)
    # " A" does not continue "[[" into the label as written (the gap is empty): not counted
    assert p == {"A": pytest.approx(.7), "B": pytest.approx(.2)}
    assert sum(p.values()) <= 1


def test_label_inside_a_longer_token_and_a_gap():
    # "[[ B ]]" written as "[[", " B", " ]]": the verdict token starts one character early
    text = "Verdict: [[ B ]]"
    pos = seq([("Verdict", .9)], [(":", .9)], [(" [[", .8)], [(" B", .55), (" A", .4), (" Both", .01), (" ", .02)],
              [(" ]]", .9)])
    _, _, start = find_verdict("brackets", text, ("A", "B"))
    assert label_probs(text, pos, ("A", "B"), start) == {"A": pytest.approx(.4), "B": pytest.approx(.55 + .01)}


def test_label_and_closing_brackets_in_one_token():
    text = "[[A]]"
    pos = seq([("[[", 1.0)], [("A]]", .6), ("A", .1), ("B]]", .25), ("B", .05)])
    assert label_probs(text, pos, ("A", "B"), 2) == {"A": pytest.approx(.7), "B": pytest.approx(.3)}


def test_multi_token_labels_are_decided_where_they_differ():
    text = r"so \boxed{Assistant 2}"
    pos = seq([("so", 1.0)], [(" \\", 1.0)], [("boxed", 1.0)], [("{", 1.0)], [("Assistant", .9), ("Ass", .1)],
              [(" 2", .6), (" 1", .3), (" ", .05), (" 2}", .02)], [("}", 1.0)])
    label, status, start = find_verdict("boxed", text, ("Assistant 1", "Assistant 2"))
    assert label == "Assistant 2" and text[start:].startswith("Assistant 2")
    p = label_probs(text, pos, ("Assistant 1", "Assistant 2"), start)
    # the shared "Assistant" token decides nothing; " " stops short of the deciding character
    assert p == {"Assistant 1": pytest.approx(.3), "Assistant 2": pytest.approx(.62)}


def test_whole_label_in_one_token_counts():
    text = r"\boxed{Assistant 1}"
    pos = seq([("\\", 1.0)], [("boxed", 1.0)], [("{", 1.0)], [("Assistant 1", .5), ("Assistant 2", .3), ("Assistant", .2)],
              [("}", 1.0)])
    _, _, start = find_verdict("boxed", text, ("Assistant 1", "Assistant 2"))
    assert label_probs(text, pos, ("Assistant 1", "Assistant 2"), start) == {
        "Assistant 1": pytest.approx(.5), "Assistant 2": pytest.approx(.3)}


def test_the_parsed_marker_is_the_last_one_on_the_verdict_line():
    # an earlier quoted marker is not the verdict; the position must be the last line's marker
    text = "B said [[B]] once.\nFinal: [[A]]"
    _, _, start = find_verdict("brackets", text, ("A", "B"))
    assert start == len(text) - 3
    pos = seq([("B", 1.0)], [(" said", 1.0)], [(" [[", 1.0)], [("B", .9), ("A", .1)], [("]]", 1.0)], [(" once", 1.0)],
              [(".\n", 1.0)], [("Final", 1.0)], [(":", 1.0)], [(" [[", 1.0)], [("A", .8), ("B", .15)], [("]]", 1.0)])
    assert label_probs(text, pos, ("A", "B"), start) == {"A": pytest.approx(.8), "B": pytest.approx(.15)}


def test_think_block_offsets_are_in_the_full_text():
    text = "<think>[[B]]</think>[[A]]"
    label, _, start = find_verdict("brackets", text, ("A", "B"))
    assert label == "A" and start == len(text) - 3


def test_no_alignment_gives_none():
    text = "[[A]]"
    pos = seq([("[", 1.0)], [("X", 1.0)])  # the texts do not add up to the output
    assert label_probs(text, pos, ("A", "B"), 2) is None
    assert label_probs(text, None, ("A", "B"), 2) is None
    assert label_probs(text, [], ("A", "B"), 2) is None


def test_two_alignments_that_disagree_give_none():
    # "[[" + "A" and "[" + "[A" both spell the text: the verdict token starts at 2 or at 1
    text = "[[A]]"
    pos = seq([("[[", .5), ("[", .5)], [("A", .5), ("[A", .4), ("B", .1)], [("]]", 1.0)])
    assert locate(text, pos, 2) is None
    assert label_probs(text, pos, ("A", "B"), 2) is None


def test_a_wrong_path_dies_before_the_end_of_the_text():
    # "ab" + "[[" + "A" + "]]" or "a" + "b" + "[[" + ...: the second path runs out of
    # positions before the text ends, so only the first one counts
    text = "ab[[A]]"
    pos = seq([("ab", .6), ("a", .3)], [("[[", .5), ("b", .5)], [("A", .7), ("[[", .2)], [("]]", 1.0)])
    assert locate(text, pos, 4) == (2, 4, ["A"])


def test_positions_past_a_stop_string_are_free():
    # the text was cut by the stop string "\n": the last token runs past the end
    text = "[[B]]"
    pos = seq([("[[", 1.0)], [("B", .8), ("A", .1)], [("]]\n", .9), ("]]", .1)], [("More", 1.0)])
    assert label_probs(text, pos, ("A", "B"), 2) == {"A": pytest.approx(.1), "B": pytest.approx(.8)}


def test_empty_pieces_keep_alignment():
    # a split multi-byte character: its first byte piece adds nothing, the second adds "é"
    text = "é [[B]]"
    pos = seq([("", .9), ("x", .1)], [("é", .95)], [(" [[", 1.0)], [("B", .6), ("A", .3)], [("]]", 1.0)])
    assert label_probs(text, pos, ("A", "B"), 4) == {"A": pytest.approx(.3), "B": pytest.approx(.6)}


def test_labels_that_are_prefixes_of_each_other_are_refused():
    assert label_probs("[[A]]", seq([("[[", 1.0)], [("A", 1.0)]), ("A", "AB"), 2) is None


def test_mass_never_exceeds_one():
    # log-probabilities rounded by an engine can add up to a hair above 1
    text = "[[A]]"
    pos = [{"[[": 0.0}, {"A": 1e-7, "A]]": -30.0, "B": -25.0}, {"]]": 0.0}]
    p = label_probs(text, pos, ("A", "B"), 2)
    assert sum(p.values()) <= 1.0 and p["A"] > 0.999


def test_rating_single_digits_and_expected():
    text = "Rating: [[7]]"
    pos = seq([("Rating", 1.0)], [(":", 1.0)], [(" [[", 1.0)], [("7", .5), ("8", .3), ("6", .1), ("x", .1)], [("]]", 1.0)])
    _, _, start = find_verdict("rating", text, ())
    p, expected = rating_probs(text, pos, start, range(1, 11))
    assert p["7"] == pytest.approx(.5) and p["8"] == pytest.approx(.3) and p["6"] == pytest.approx(.1)
    assert p["10"] == 0 and sum(p.values()) <= 1
    assert expected == pytest.approx((7 * .5 + 8 * .3 + 6 * .1) / .9)


def test_rating_ten_split_across_digit_tokens():
    # digits are separate tokens: "1" may be 1 or the start of 10; the next step decides
    text = "[[10]]"
    pos = seq([("[[", 1.0)], [("1", .6), ("9", .3)], [("0", .5), ("]]", .4), ("5", .05), (".", .05)], [("]]", 1.0)])
    p, expected = rating_probs(text, pos, 2, range(1, 11))
    assert p["10"] == pytest.approx(.6 * .5)   # "1" then "0"
    assert p["1"] == pytest.approx(.6 * .4)    # "1" then "]]"; "15" is off the scale, "1." undecided
    assert p["9"] == pytest.approx(.3)
    assert sum(p.values()) <= 1
    assert expected == pytest.approx((10 * .3 + 1 * .24 + 9 * .3) / (.3 + .24 + .3))


def test_rating_digit_split_needs_to_know_the_sampled_token():
    # "1" and "10" both spell the text: which one was sampled (and so what the next step is
    # conditioned on) cannot be told, so the ambiguous "1" is left out; "10" counts whole
    text = "[[10]]"
    pos = seq([("[[", 1.0)], [("1", .6), ("10", .3)], [("0", .5), ("]]", .4)], [("]]", 1.0)])
    found = locate(text, pos, 2)
    assert found == (1, 2, ["1", "10"])
    p, _ = rating_probs(text, pos, 2, range(1, 11))
    assert p["10"] == pytest.approx(.3) and p["1"] == 0


def test_rating_ambiguous_digit_off_the_sampled_path_is_left_out():
    text = "[[9]]"
    pos = seq([("[[", 1.0)], [("9", .6), ("1", .3), ("10", .05)], [("]]", 1.0)])
    p, _ = rating_probs(text, pos, 2, range(1, 11))
    assert p["9"] == pytest.approx(.6) and p["1"] == 0 and p["10"] == pytest.approx(.05)


def test_rating_scale_from_template_header():
    assert rating_scale({"scale": [1, 5]}) == (1, 2, 3, 4, 5)
    assert rating_scale({}) == tuple(range(1, 11))
    assert rating_scale({"scale": "bad"}) == tuple(range(1, 11))


def test_add_logprob_sums_same_text():
    d: dict[str, float] = {}
    add_logprob(d, "", L(.2))
    add_logprob(d, "", L(.3))
    assert math.exp(d[""]) == pytest.approx(.5)
    assert position([("a", L(.5)), ("a", L(.25))]) == {"a": pytest.approx(L(.75), abs=1e-6)}


def test_incremental_texts_split_characters():
    e_acute = "é".encode()
    assert incremental_texts(b"ab", [e_acute[:1]]) == [""]
    assert incremental_texts(b"ab" + e_acute[:1], [e_acute[1:], b"x"]) == ["é", "x"]


def test_from_openai_with_bytes_and_without():
    e = list("é".encode())
    content = [{"token": "bytes:\\xc3", "bytes": e[:1], "logprob": -0.1,
                "top_logprobs": [{"token": "bytes:\\xc3", "bytes": e[:1], "logprob": -0.1},
                                 {"token": "A", "bytes": [65], "logprob": -3.0}]},
               {"token": "bytes:\\xa9", "bytes": e[1:], "logprob": -0.2, "top_logprobs": []}]
    pos = from_openai(content)
    assert pos == [{"": -0.1, "A": -3.0}, {"é": -0.2}]
    plain = from_openai([{"token": "A", "bytes": None, "logprob": -0.5,
                          "top_logprobs": [{"token": "B", "bytes": None, "logprob": -1.0}]}])
    assert plain == [{"A": -0.5, "B": -1.0}]
    assert from_openai(None) is None and from_openai([{"nope": 1}]) is None


def test_genoutput_round_trips_logprobs():
    out = GenOutput(text="[[A]]", finish_reason="stop", logprobs=[{"[[": -0.1}, {"A": -0.2, "B": -1.5}])
    back = GenOutput.from_json(out.to_json())
    assert back.logprobs == out.logprobs
    assert "logprobs" not in GenOutput(text="x").to_json()


def test_gen_setting_parses_and_off_equals_unset():
    assert GenConfig.from_pairs({"logprobs": "true"}).logprobs is True
    assert GenConfig.from_pairs({"logprobs": "false"}) == GenConfig()
    assert "logprobs" not in GenConfig.from_pairs({"logprobs": "0"}).set_fields()


def test_summary_note_counts_verdicts_with_and_without():
    recs = [{"pairs": [{"judgments": [{"status": "ok", "p_labels": {"A": .5, "B": .4}}, {"status": "ok"},
                                      {"status": "unparsed"}]}]},
            {"scores": [[{"status": "ok", "p_labels": {"7": .9}, "expected": 7.0}]]}]
    note = summary_note(GenConfig(logprobs=True), recs)["p_labels"]
    assert note["verdicts"] == 3 and note["with_p_labels"] == 2 and "1 verdicts" in note["note"]
    assert summary_note(GenConfig(), recs) == {}


class _Echo:
    """A batched stand-in engine that answers "[[A]]" with fixed log-probabilities."""

    def __init__(self, gives: bool):
        from rmbench.judges.base import BaseProvider

        class P(BaseProvider):
            batched = True
            gives_logprobs = gives

            def generate_batch(self, reqs):
                self.calls += len(reqs)
                lp = [{"[[": -0.01}, {"A": math.log(.6), "B": math.log(.3)}, {"]]": 0.0}] if gives else None
                return [GenOutput(text="[[A]]", finish_reason="stop", logprobs=lp if r.gen.logprobs else None)
                        for r in reqs]

        from rmbench.config import RunConfig

        self.provider = P("echo", RunConfig(model="x/echo", tasks=["t"], gen=GenConfig(logprobs=True)))
        self.provider.calls = 0


def _judge(provider, cache_path):
    import asyncio

    from rmbench.judges.cache import Cache
    from rmbench.judges.engine import Judge
    from rmbench.judges.prompts import load_template
    from rmbench.types import Comparison, Example

    judge = Judge(provider, provider.config, load_template("pairwise"), cache=Cache(cache_path))
    ex = Example(id="1", task="t", subset="s", messages=({"role": "user", "content": "q"},), candidates=("a", "b"),
                 preferred=(0,))

    async def one():
        try:
            return await judge.compare(ex, Comparison("1", 0, 1))
        finally:
            await judge.aclose()

    j = asyncio.run(one())
    judge.cache.close()
    return j, judge


def test_cached_output_without_logprobs_is_asked_again(tmp_path):
    echo = _Echo(gives=True)
    first, judge = _judge(echo.provider, tmp_path / "c.sqlite")
    assert echo.provider.calls == 1 and first.p_labels == {"A": pytest.approx(.6), "B": pytest.approx(.3)}
    # the next run reads the stored answer, log-probabilities included
    again, judge = _judge(echo.provider, tmp_path / "c.sqlite")
    assert echo.provider.calls == 1 and judge.stats.cache_hits == 1 and again.p_labels == first.p_labels
    # a stored answer that lost its log-probabilities (an older writer) is a miss, then replaced
    from rmbench.judges.cache import Cache

    cache = Cache(tmp_path / "c.sqlite")
    key = next(iter(cache._db.execute("SELECT key FROM outputs").fetchall()))[0]
    cache.put(key, {"text": "[[A]]", "finish_reason": "stop"})
    cache.close()
    third, judge = _judge(echo.provider, tmp_path / "c.sqlite")
    assert echo.provider.calls == 2 and judge.stats.cache_hits == 0 and third.p_labels == first.p_labels


def test_engines_without_logprobs_keep_cache_hits(tmp_path):
    echo = _Echo(gives=False)
    _judge(echo.provider, tmp_path / "c.sqlite")
    j, judge = _judge(echo.provider, tmp_path / "c.sqlite")
    assert echo.provider.calls == 1 and judge.stats.cache_hits == 1 and j.p_labels is None


@pytest.mark.parametrize("text", ["[[0]]", "[[11]]", "[[7.5]]"])
def test_a_rating_off_the_scale_has_no_probabilities(text):
    # the rating said carries most of the mass but is no value of the scale: what is left (other
    # digits) would make an expected rating of 8 for a judge that said 0, or 7 for 7.5
    pos = seq([("[[", 1.0)], [(text[2:-2], .95), ("8", .05)], [("]]", 1.0)])
    assert rating_probs(text, pos, 2, range(1, 11)) is None
    pos = seq([("[[", 1.0)], [("7", .95), ("8", .05)], [(".", 1.0)], [("5", 1.0)], [("]]", 1.0)])
    assert rating_probs("[[7.5]]", pos, 2, range(1, 11)) is None
