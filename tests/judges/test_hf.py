"""``hf/`` judges against tiny random models saved and reloaded through ``from_pretrained``:
scalar reward model, DPO (with and without a reference) and generative, end to end through the
CLI, plus the numerical guarantees (scores equal an unbatched reference computation; batch 1
and batch 8 agree within 1e-5 in float32)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from rmbench.config import GenConfig, RunConfig
from rmbench.judges.base import Failure, GenRequest, ScoreItem
from tests import rb_fixture
from tests.helpers import REPO, run_cli, write_json

# found, not imported: importing torch here would cost every pytest-xdist worker's collection
pytestmark = pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in ("torch", "transformers")),
                                reason="torch and transformers (the hf extra) are not installed")

# fixtures ``tiny`` (the tiny models) and ``data`` (the RewardBench fixture): tests/judges/conftest.py


def _run(tmp_path, data, model, *extra, name="r"):
    return run_cli("run", "--model", model, "--task", "rewardbench", "--data-path", str(data),
                   "--output-dir", str(tmp_path / "out"), "--run-name", name, "--quiet", *extra)


def _records(tmp_path, name="r"):
    return [json.loads(x) for x in (tmp_path / "out" / name / "records.jsonl").read_text().splitlines()]


def _provider(model_dir, **kw):
    from rmbench.judges import build_provider

    model_args = kw.pop("model_args", {})
    return build_provider(RunConfig(model=f"hf/{model_dir}", tasks=["rewardbench"], model_args=model_args, **kw))


def _items(n=12):
    """Conversations of varied lengths (so batches really pad)."""
    out = []
    for k in range(n):
        msgs = ({"role": "user", "content": "Which is the capital of France? " * (1 + k % 4)},)
        out.append(ScoreItem(example_id=str(k), index=0, messages=msgs,
                             response="The capital of France is Paris. " * (1 + (7 * k) % 5)))
    return out


# -- scalar ------------------------------------------------------------------------------

def _reference_scalar(model_dir, items):
    """Each conversation alone (no padding) through the model's own forward pass."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=torch.float32).eval()
    out = []
    for it in items:
        conv = list(it.messages) + [{"role": "assistant", "content": it.response}]
        text = tok.apply_chat_template(conv, tokenize=False)
        ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        assert ids[0, 0].item() == tok.bos_token_id and ids[0, 1].item() != tok.bos_token_id
        with torch.no_grad():
            out.append(model(input_ids=ids).logits[0, 0].item())
    return out


def test_scalar_end_to_end_matches_the_models_own_forward(tmp_path, tiny, data):
    res = _run(tmp_path, data, f"hf/{tiny['rm']}")
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "out" / "r" / "summary.json").read_text())
    assert summary["judge"]["judge_type"] == "scalar"  # detected from Qwen2ForSequenceClassification
    assert summary["judge"]["kind"] == "scalar" and summary["judge"]["dtype"] == "float32"
    recs = _records(tmp_path)
    assert len(recs) == len(rb_fixture.rows())
    rows = {str(r["id"]): r for r in rb_fixture.rows()}
    items, got = [], []
    for rec in recs:
        row = rows[rec["id"]]
        for cand, text in ((0, row["chosen"]), (1, row["rejected"])):
            s = rec["scores"][cand][0]
            assert s["status"] == "ok"
            got.append(s["value"])
            items.append(ScoreItem(rec["id"], cand, ({"role": "user", "content": row["prompt"]},), text))
        assert rec["result"]["correct"] == float(rec["scores"][0][0]["value"] > rec["scores"][1][0]["value"])
    ref = _reference_scalar(tiny["rm"], items)
    assert max(abs(a - b) for a, b in zip(got, ref, strict=True)) <= 1e-5


def test_scalar_scores_do_not_depend_on_batch_size_or_order(tiny):
    items = _items(16)
    one = _provider(tiny["rm"], model_args={"batch_size": 1}).score_batch(items)
    eight = _provider(tiny["rm"], model_args={"batch_size": 8}).score_batch(items)
    fixed = _provider(tiny["rm"], model_args={"batch_size": 8, "sort_by_length": False}).score_batch(items)
    assert all(isinstance(v, float) for v in one)
    assert len(set(round(v, 6) for v in one)) > 4  # really different inputs, not a constant
    # each score is the difference of two float32 log-prob sums of magnitude ~300 (policy and
    # reference), whose last bit is worth 3e-5 and rounds differently with the padded shape;
    # a few ulps of that is the most batching may change
    diffs = [abs(a - b) for a, b in zip(one, eight, strict=True)]
    assert max(diffs) <= 1.5e-4, diffs
    assert max(abs(a - b) for a, b in zip(one, fixed, strict=True)) <= 1e-5
    assert max(abs(a - b) for a, b in zip(one, _reference_scalar(tiny["rm"], items), strict=True)) <= 1e-5


def test_over_long_inputs_are_failures_by_default_and_counted_when_truncated(tmp_path, tiny, data):
    rows = rb_fixture.rows()
    rows[0]["chosen"] = "a very long answer " * 40
    data = write_json(tmp_path / "long.json", rows)
    res = _run(tmp_path, data, f"hf/{tiny['rm']}", "--max-length", "60", name="fail")
    assert res.returncode == 0, res.stderr
    rec = _records(tmp_path, "fail")[0]
    assert rec["scores"][0][0]["status"] == "too_long" and rec["failures"] == {"too_long": 1}
    assert "60" in rec["scores"][0][0]["error"]
    summary = json.loads((tmp_path / "out" / "fail" / "summary.json").read_text())
    assert summary["tasks"]["rewardbench"]["judging"]["failures"]["too_long"] == 1
    assert summary["judge"]["max_length"] == 60

    res = _run(tmp_path, data, f"hf/{tiny['rm']}", "--max-length", "60", "--model-args", "truncate=true", name="cut")
    assert res.returncode == 0, res.stderr
    assert "1 inputs longer than 60 tokens were truncated" in res.stderr
    rec = _records(tmp_path, "cut")[0]
    assert rec["scores"][0][0]["status"] == "ok" and not rec["failures"]
    run = json.loads((tmp_path / "out" / "cut" / "run.json").read_text())
    assert run["stats"]["provider"] == {"too_long": 0, "truncated_inputs": 1}
    assert run["judge"]["truncate"] is True


# -- DPO ---------------------------------------------------------------------------------

def _reference_logprob(model_dir, tok, conv_prompt, conv_full):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    p = tok(tok.apply_chat_template(conv_prompt, tokenize=False, add_generation_prompt=True),
            add_special_tokens=False)["input_ids"]
    f = tok(tok.apply_chat_template(conv_full, tokenize=False), add_special_tokens=False)["input_ids"]
    assert f[:len(p)] == p
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([f])).logits[0]
    lp = torch.log_softmax(logits.float(), dim=-1)
    toks = list(range(len(p), len(f)))
    return sum(lp[t - 1, f[t]].item() for t in toks), len(toks)


def test_dpo_score_is_the_policy_reference_log_ratio(tiny):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny["lm"])
    items = _items(6)
    prov = _provider(tiny["lm"], judge_type="dpo", model_args={"ref_model": str(tiny["ref"]), "batch_size": 4})
    assert prov.judge_kind == "scalar"
    got = prov.score_batch(items)
    free_sum = _provider(tiny["lm"], judge_type="dpo").score_batch(items)
    free_mean = _provider(tiny["lm"], judge_type="dpo", model_args={"dpo_reduction": "mean"}).score_batch(items)
    for it, g, s, m in zip(items, got, free_sum, free_mean, strict=True):
        prompt = list(it.messages)
        full = prompt + [{"role": "assistant", "content": it.response}]
        pol, n = _reference_logprob(tiny["lm"], tok, prompt, full)
        ref, _ = _reference_logprob(tiny["ref"], tok, prompt, full)
        assert abs(g - (pol - ref)) <= 1e-3
        assert abs(s - pol) <= 1e-3 and abs(m - pol / n) <= 1e-4
        assert s < 0 and n > 5


def test_dpo_scores_do_not_depend_on_batch_size(tiny):
    items = _items(16)
    args = {"ref_model": str(tiny["ref"])}
    one = _provider(tiny["lm"], judge_type="dpo", model_args={**args, "batch_size": 1}).score_batch(items)
    eight = _provider(tiny["lm"], judge_type="dpo", model_args={**args, "batch_size": 8}).score_batch(items)
    # each score is the difference of two float32 log-prob sums of magnitude ~300 (policy and
    # reference), whose last bit is worth 3e-5 and rounds differently with the padded shape;
    # a few ulps of that is the most batching may change
    diffs = [abs(a - b) for a, b in zip(one, eight, strict=True)]
    assert max(diffs) <= 1.5e-4, diffs


def test_dpo_end_to_end(tmp_path, tiny, data):
    res = _run(tmp_path, data, f"hf/{tiny['lm']}", "--judge-type", "dpo", "--model-args",
               f"ref_model={tiny['ref']},batch_size=4")
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "out" / "r" / "summary.json").read_text())
    assert summary["judge"]["judge_type"] == "dpo" and summary["judge"]["ref_model"] == str(tiny["ref"])
    assert summary["tasks"]["rewardbench"]["n"] == len(rb_fixture.rows())
    assert all(s[0]["status"] == "ok" for r in _records(tmp_path) for s in r["scores"])


# -- generative --------------------------------------------------------------------------

def test_generative_end_to_end_writes_every_record(tmp_path, tiny, data):
    res = _run(tmp_path, data, f"hf/{tiny['lm']}", "--gen", "max_tokens=6", "--no-cache")
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "out" / "r" / "summary.json").read_text())
    assert summary["judge"]["judge_type"] == "generative" and summary["judge"]["mode"] == "pairwise"
    recs = _records(tmp_path)
    assert len(recs) == len(rb_fixture.rows())
    judgments = [j for r in recs for p in r["pairs"] for j in p["judgments"]]
    assert len(judgments) == 2 * len(recs)  # both orders
    # a random model writes gibberish: never a crash, every judgment has a counted status
    assert {j["status"] for j in judgments} <= {"ok", "unparsed", "truncated", "empty"}
    assert any(j["status"] == "truncated" for j in judgments)  # 6 tokens rarely reach an end token
    assert all("raw" in j for j in judgments if j["status"] != "empty")
    usage = summary["tasks"]["rewardbench"]["usage"]
    assert usage["input_tokens"] > 100 * len(judgments) and 0 < usage["output_tokens"] <= 6 * len(judgments)


def test_generation_with_left_padding_matches_unbatched_greedy_decoding(tiny):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    prov = _provider(tiny["lm"], model_args={"batch_size": 4})
    reqs = [GenRequest(messages=({"role": "user", "content": "Rate this answer. " * k},), gen=GenConfig(max_tokens=5),
                       key=str(k)) for k in (1, 3, 6)]
    outs = prov.generate_batch(reqs)
    tok = AutoTokenizer.from_pretrained(tiny["lm"])
    model = AutoModelForCausalLM.from_pretrained(tiny["lm"], dtype=torch.float32).eval()
    for req, out in zip(reqs, outs, strict=True):
        ids = tok(tok.apply_chat_template(list(req.messages), tokenize=False, add_generation_prompt=True),
                  add_special_tokens=False, return_tensors="pt")["input_ids"]
        ref = model.generate(input_ids=ids, max_new_tokens=5, do_sample=False, pad_token_id=tok.pad_token_id)
        new = ref[0, ids.shape[1]:].tolist()
        if tok.eos_token_id in new:
            new = new[:new.index(tok.eos_token_id)]
        assert out.text == tok.decode(new, skip_special_tokens=True)
        assert out.usage["input_tokens"] == ids.shape[1]


def test_a_stop_string_ends_the_text_and_the_count_where_it_appears(tiny):
    """``--gen stop``: the text ends before the stop string and the output tokens are those it
    took to produce the string (as the APIs count them), not the ones a longer run would have
    generated after it. Checked against greedy runs without a stop string: ``output_tokens`` of
    them give a text holding the string, one fewer does not."""
    prov = _provider(tiny["lm"], model_args={"batch_size": 4})
    msgs = ({"role": "user", "content": "Rate this answer. Rate it well."},)
    free = prov.generate_batch([GenRequest(messages=msgs, gen=GenConfig(max_tokens=40), key="free")])[0]
    assert free.usage["output_tokens"] >= 10, free   # the tiny model runs on (no end-of-sequence)
    text = free.text
    stop = text[len(text) // 2: len(text) // 2 + 3]   # three characters from the middle of the text
    assert stop and text.find(stop) > 0, text
    # in one batch with another request (its row goes on generating after this one stopped)
    other = GenRequest(messages=({"role": "user", "content": "Another one."},), gen=GenConfig(max_tokens=40, stop=[stop]),
                       key="o")
    out, rest = prov.generate_batch([GenRequest(messages=msgs, gen=GenConfig(max_tokens=40, stop=[stop]), key="s"),
                                     other])
    assert out.text == text[:text.find(stop)] and out.finish_reason == "stop"
    n = out.usage["output_tokens"]
    assert 1 <= n < free.usage["output_tokens"]
    at_n, before_n = prov.generate_batch([GenRequest(messages=msgs, gen=GenConfig(max_tokens=m), key=f"m{m}")
                                          for m in (n, n - 1)])
    assert stop in at_n.text and (n == 1 or stop not in before_n.text), (at_n.text, before_n.text)
    alone = prov.generate_batch([other])[0]
    assert rest.text == alone.text and rest.usage == alone.usage


def test_the_stop_criterion_reads_only_generated_text(tiny):
    """A row stops once its own generated text holds a stop string, never on a match that starts
    in the prompt (a chat prompt ending in a newline and a stop string beginning with one)."""
    import torch
    from transformers import AutoTokenizer

    from rmbench.judges.local.hf_compute import _StopStrings

    tok = AutoTokenizer.from_pretrained(tiny["lm"])
    prompt = tok(tok.apply_chat_template([{"role": "user", "content": "Hi"}], add_generation_prompt=True,
                                         tokenize=False), add_special_tokens=False)["input_ids"]
    assert tok.decode(prompt).endswith("\n")
    water, more = tok.encode("Water", add_special_tokens=False), tok.encode(" and\nWater", add_special_tokens=False)
    crit = _StopStrings(tok, ["\nWater"], len(prompt))
    rows = torch.tensor([prompt + water + more, prompt + water + water[:1] * len(more)])
    assert crit(rows[:, :len(prompt) + len(water)], None).tolist() == [False, False]   # "\n" + "Water" spans the prompt end
    assert crit(rows, None).tolist() == [True, False]


def test_generative_prompt_past_the_context_is_too_long(tiny):
    prov = _provider(tiny["lm"], max_length=20)
    outs = prov.generate_batch([GenRequest(messages=({"role": "user", "content": "word " * 50},), gen=GenConfig())])
    assert isinstance(outs[0], Failure) and outs[0].status == "too_long"
    assert prov.run_stats()["too_long"] == 1


# -- bad input and import hygiene --------------------------------------------------------

def _one_line_error(res, *needles):
    assert res.returncode == 2, (res.returncode, res.stderr)
    err = res.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for n in needles:
        assert n in err, err


def test_bad_model_args_and_paths_are_one_line_errors(tmp_path, tiny, data):
    _one_line_error(_run(tmp_path, data, f"hf/{tiny['rm']}", "--model-args", "batchsize=4"),
                    "unknown --model-args for hf/: batchsize")
    _one_line_error(_run(tmp_path, data, f"hf/{tiny['rm']}", "--model-args", f"ref_model={tiny['ref']}"),
                    "only to --judge-type dpo")
    _one_line_error(_run(tmp_path, data, f"hf/{tiny['rm']}", "--model-args", "dtype=float64"), "dtype")
    _one_line_error(_run(tmp_path, data, f"hf/{tmp_path}/nowhere"), "no such model folder")
    _one_line_error(_run(tmp_path, data, f"hf/{tiny['lm']}", "--judge-type", "ranking"), "--judge-type ranking")
    _one_line_error(_run(tmp_path, data, f"hf/{tiny['lm']}", "--gen", "reasoning_effort=high"), "API models only")


def test_importing_the_providers_does_not_import_torch():
    code = ("import sys, rmbench.judges.providers.hf, rmbench.judges.providers.vllm, rmbench.cli.main\n"
            "heavy = [m for m in ('torch', 'transformers', 'vllm') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, env={"PYTHONPATH": str(REPO)})


def test_sampled_generation_repeats_with_the_same_seed(tiny):
    reqs = [GenRequest(messages=({"role": "user", "content": f"Say something {k}"},),
                       gen=GenConfig(temperature=1.0, max_tokens=8), key=f"k{k}") for k in range(4)]

    def texts(seed):
        return [o.text for o in _provider(tiny["lm"], seed=seed, model_args={"batch_size": 2}).generate_batch(reqs)]

    first = texts(0)
    assert texts(0) == first
    assert texts(1) != first


def test_a_generation_does_not_depend_on_a_longer_prompt_in_its_batch(tiny):
    # a batch stops at the smallest room before the context end among its rows: a short prompt
    # batched with one near the limit was cut there (truncated, and cached so)
    prov = _provider(tiny["lm"], max_length=100, model_args={"batch_size": 8})
    short = GenRequest(messages=({"role": "user", "content": "Hi"},), gen=GenConfig(max_tokens=20), key="s")
    near = GenRequest(messages=({"role": "user", "content": "word " * 20},), gen=GenConfig(max_tokens=20), key="n")
    alone = prov.generate_batch([short])[0]
    together = prov.generate_batch([short, near])
    assert together[0].text == alone.text and together[0].usage == alone.usage
    assert together[0].finish_reason == alone.finish_reason
    assert 0 < together[1].usage["output_tokens"] <= 100 - together[1].usage["input_tokens"]


def test_max_length_is_part_of_the_cache_identity(tiny):
    # a generation stops at the context end that --max-length sets: a run with a smaller one must
    # not hand its cut answers to a run with a larger one (llamacpp/ keys n_ctx, vllm/ max_model_len)
    assert _provider(tiny["lm"], max_length=100).cache_identity() != _provider(tiny["lm"], max_length=4000).cache_identity()
    assert "max_length" not in _provider(tiny["lm"]).cache_identity()
