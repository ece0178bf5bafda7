"""API judges and the judgment cache: a rerun asks nothing again, failures can be re-asked
alone, samples are distinct requests, and the key never reaches the cache."""

from __future__ import annotations

import pytest

from rmbench.protocol import Policy
from rmbench.types import API_ERROR, OK, UNPARSED, Example
from tests.judges.api_helpers import PROVIDERS, evaluate, example, judge
from tests.servers import fake_model
from tests.servers.fake_api import TEST_KEY

EXAMPLES = [example(0, "apples"), example(1, "pears", chosen_long=False), example(2, "plums"), example(3, "figs")]


def _statuses(outs):
    return [jd.status for o in outs for js in o.judgments.values() for jd in js]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_rerun_with_the_same_cache_makes_no_request(fake_api, provider, tmp_path):
    first = evaluate(judge(fake_api, provider, tmp_path), EXAMPLES)
    assert fake_api.total == 8  # 4 examples x 2 orders
    assert fake_api.stats()["max_per_prompt"] == 1
    fake_api.reset()
    j = judge(fake_api, provider, tmp_path)
    again = evaluate(j, EXAMPLES)
    assert fake_api.total == 0
    assert j.stats.cache_hits == 8 and j.stats.requests == 0
    assert [o.to_json() for o in again] == [o.to_json() for o in first]
    assert [o.beats(0, 1) for o in again] == [1.0, 0.0, 1.0, 1.0]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_key_never_reaches_the_cache(fake_api, provider, tmp_path):
    evaluate(judge(fake_api, provider, tmp_path, gen={"seed": 3, "max_tokens": 2000}), EXAMPLES)
    assert fake_api.total == 8
    files = list(tmp_path.glob("cache.sqlite*"))
    assert files
    blob = b"".join(f.read_bytes() for f in files)
    assert b"[[A]]" in blob or b"[[B]]" in blob  # the outputs are there...
    assert TEST_KEY.encode() not in blob  # ...the key is not
    assert TEST_KEY[-8:].encode() not in blob


@pytest.mark.parametrize("provider", PROVIDERS)
def test_retry_failed_asks_again_only_what_failed(fake_api, provider, tmp_path):
    fake_api.script("both", times=None, match="pears")
    fake_api.script("500", times=None, match="plums")
    outs = evaluate(judge(fake_api, provider, tmp_path, max_retries=0), EXAMPLES)
    assert sorted(set(_statuses(outs))) == [API_ERROR, OK, UNPARSED]
    fake_api.reset()
    # a plain rerun re-asks only what never got an answer (the API errors are not cached)
    outs = evaluate(judge(fake_api, provider, tmp_path, max_retries=0), EXAMPLES)
    assert fake_api.total == 2 and fake_api.count("plums") == 2
    assert _statuses(outs).count(UNPARSED) == 2
    fake_api.reset()
    # --retry-failed also re-asks the cached unparsed answers, and nothing else
    outs = evaluate(judge(fake_api, provider, tmp_path, retry_failed=True), EXAMPLES)
    assert fake_api.total == 2 and fake_api.count("pears") == 2
    assert set(_statuses(outs)) == {OK}
    fake_api.reset()
    evaluate(judge(fake_api, provider, tmp_path, retry_failed=True), EXAMPLES)
    assert fake_api.total == 0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_samples_are_separate_requests_with_offset_seeds(fake_api, provider, tmp_path):
    # a judge that changes its mind on the second sample (odd seed) of every comparison
    def rule(prompt, body):
        rep = fake_model.answer(prompt)
        seed = body.get("seed") if provider == "openai" else None
        if seed is not None and seed % 2 == 0:
            rep.text = rep.text.replace("[[A]]", "[[X]]").replace("[[B]]", "[[A]]").replace("[[X]]", "[[B]]")
        return rep

    fake_api.rule = rule
    policy = Policy(orders="fixed", samples=3, seed=0)
    outs = evaluate(judge(fake_api, provider, tmp_path, gen={"seed": 7}), [EXAMPLES[0]], policy)
    assert fake_api.total == 3
    if provider == "openai":
        assert sorted(r["seed"] for r in fake_api.requests()) == [7, 8, 9]
        winners = sorted(jd.winner for js in outs[0].judgments.values() for jd in js)
        assert winners == [0, 0, 1]  # seed 8 flipped; the majority still picks the chosen one
    else:
        assert all(r["seed"] is None and "seed" not in r["params"] for r in fake_api.requests())
    assert outs[0].beats(0, 1) == 1.0
    fake_api.reset()
    evaluate(judge(fake_api, provider, tmp_path, gen={"seed": 7}), [EXAMPLES[0]], policy)
    assert fake_api.total == 0  # each sample has its own cache entry


@pytest.mark.parametrize("provider", PROVIDERS)
def test_concurrency_bounds_requests_in_flight(fake_api, provider, tmp_path):
    fake_api.latency = 0.05
    exs = [example(i, f"topic{i}") for i in range(12)]
    evaluate(judge(fake_api, provider, tmp_path, concurrency=3), exs)
    assert fake_api.total == 24
    assert fake_api.stats()["max_in_flight"] == 3


def test_retry_failed_asks_again_a_pick_naming_a_label_past_the_list(fake_api, tmp_path):
    # [[C]] for two candidates is recorded as unparsed; --retry-failed must ask it again, not
    # reuse the cached answer as if it had named a candidate
    ex = Example(id="p", task="t", subset="s", messages=({"role": "user", "content": "A question about kiwis?"},),
                 candidates=("Yes, and here is why in detail.", "No."), preferred=(0,))
    fake_api.script("text", times=1, match="kiwis", text="None of them fits. [[C]]")
    outs = evaluate(judge(fake_api, "openai", tmp_path, prompt="best-of-n"), [ex], Policy(orders="fixed"))
    assert [p.status for p in outs[0].picks] == [UNPARSED]
    fake_api.reset()
    outs = evaluate(judge(fake_api, "openai", tmp_path, prompt="best-of-n", retry_failed=True), [ex],
                    Policy(orders="fixed"))
    assert fake_api.total == 1
    assert [p.status for p in outs[0].picks] == [OK] and outs[0].pick_credit() == 1.0
