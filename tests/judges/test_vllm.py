"""``vllm/`` against the stand-in engine of tests/judges/vllm_standin.py: vLLM 0.33/0.34's offline
API as it really behaves (its own request/response classes where the wheel is installed, the
renderer's and the engine's length checks at their thresholds, request errors, finish reasons,
strict signatures), injected by replacing the provider's ``load_vllm``. The stand-in's fake
model judges by length, so a wrong mapping of outputs to comparisons changes the hand-computed
RewardBench score. The real engine runs in scripts/gpu_smoke.sh where a GPU and vllm exist.

Issue 19's defects, each reproduced here: (1) an over-long prompt no longer fails its batch,
(2) error/abort outputs are failures, never cached, (3) bad --gen settings are a one-line error
at start-up, (5) per-token reward models, (6) reasoning behind a special </think>, (7) request
errors as one line. (4) is documentation (docs/vllm.md).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import types

import pytest

pytest.importorskip("transformers")

import rmbench.judges.providers.vllm as vllm_provider  # noqa: E402
from rmbench.cli.main import main  # noqa: E402
from rmbench.config import GenConfig, RunConfig  # noqa: E402
from rmbench.errors import UserError  # noqa: E402
from rmbench.judges.base import Failure, GenOutput, GenRequest, ScoreItem  # noqa: E402
from rmbench.judges.local.common import encode, render  # noqa: E402
from rmbench.judges.parsers import brackets  # noqa: E402
from rmbench.judges.prompts import load_template  # noqa: E402
from rmbench.types import OK, UNPARSED  # noqa: E402
from tests import rb_fixture  # noqa: E402
from tests.helpers import write_json  # noqa: E402
from tests.judges import vllm_standin  # noqa: E402
from tests.judges.tiny_models import CHAT_TEMPLATE  # noqa: E402
from tests.judges.vllm_standin import FakeLLM, V  # noqa: E402

# fixtures ``tiny`` (the tiny models) and ``data`` (the RewardBench fixture): tests/judges/conftest.py


@pytest.fixture
def standin(monkeypatch):
    monkeypatch.setattr(vllm_provider, "load_vllm", vllm_standin.vllm_module)
    monkeypatch.setattr(FakeLLM, "instances", [])
    monkeypatch.setattr(FakeLLM, "faults", {})
    return FakeLLM


def _main(tmp_path, data, model, *extra, name="r", cache=None):
    rc = main(["run", "--model", model, "--task", "rewardbench", "--data-path", str(data), "--output-dir",
               str(tmp_path / "out"), "--run-name", name, "--quiet",
               *(["--cache", str(cache)] if cache else ["--no-cache"]), *extra])
    summary_path = tmp_path / "out" / name / "summary.json"
    return rc, (json.loads(summary_path.read_text()) if summary_path.exists() else None)


def _records(tmp_path, name="r"):
    return [json.loads(x) for x in (tmp_path / "out" / name / "records.jsonl").read_text().splitlines()]


def _provider(model, **cfg):
    return vllm_provider.Provider(str(model), RunConfig(model=f"vllm/{model}", tasks=["rewardbench"], **cfg))


def _judge_prompts(rows):
    """Every conversation the pairwise judge sends for ``rows`` (both orders), in row order."""
    tmpl = load_template("pairwise")
    out = []
    for row in rows:
        msgs = ({"role": "user", "content": row["prompt"]},)
        for pair in ((row["chosen"], row["rejected"]), (row["rejected"], row["chosen"])):
            out.append([dict(m) for m in tmpl.render(msgs, pair)])
    return out


def _counted(tok, messages, generation_prompt=True, template=None):
    """rmbench's token count of a conversation (what the provider measures)."""
    kwargs = {"chat_template": template} if template else {}
    return encode(tok, render(tok, messages, generation_prompt=generation_prompt, kwargs=kwargs))


def _double_bos_template(tmp_path):
    """A chat template that writes BOS twice: rmbench's count collapses it, vLLM's does not."""
    path = tmp_path / "double_bos.jinja"
    path.write_text("{{ bos_token }}" + CHAT_TEMPLATE, encoding="utf-8")
    return path


def _generations(llm):
    return [c for c in llm.calls if c["api"] in ("generate", "chat")]


def test_the_stand_in_uses_vllms_own_classes_when_the_wheel_is_installed():
    import importlib.util

    if importlib.util.find_spec("vllm") is None or os.environ.get("RMBENCH_VLLM_STANDIN") == "mirror":
        pytest.skip("vllm is not installed here (or RMBENCH_VLLM_STANDIN=mirror): the stand-in uses vllm_mirror.py")
    assert V.source == "vllm"
    assert V.SamplingParams.__module__ == "vllm.sampling_params"


# -- generative ------------------------------------------------------------------------------

def test_generative_run_sends_the_counted_token_ids_in_one_generate_call(tmp_path, tiny, data, standin):
    rc, summary = _main(tmp_path, data, f"vllm/{tiny['lm']}", "--model-args",
                        "tensor_parallel_size=2,gpu_memory_utilization=0.5,enable_prefix_caching=true", "--seed", "9")
    assert rc == 0
    (llm,) = standin.instances
    assert llm.runner_arg == "generate"
    assert llm.kwargs == {"tensor_parallel_size": 2, "gpu_memory_utilization": 0.5, "enable_prefix_caching": True,
                          "seed": 9}
    (call,) = _generations(llm)  # the whole stage in one call
    assert call["api"] == "generate" and call["use_tqdm"] is False
    # exactly the token ids rmbench counted for every rendered judge prompt, nothing else
    expected = sorted(_counted(llm.tok, conv) for conv in _judge_prompts(rb_fixture.rows()))
    assert sorted(p["prompt_token_ids"] for p in call["prompts"]) == expected
    for p in call["params"]:
        assert isinstance(p, V.SamplingParams)
        assert p.temperature == 0.0 and p.max_tokens is None and p.n == 1 and isinstance(p.seed, int)
        assert p.skip_special_tokens is True and p.logprobs is None
    # the length-judging model gives the hand-computed score only if outputs map back right
    assert summary["tasks"]["rewardbench"]["score"] == pytest.approx(rb_fixture.SCORE, abs=1e-12)
    assert summary["judge"]["provider"] == "vllm" and summary["judge"]["judge_type"] == "generative"
    assert summary["judge"]["render"] == "rmbench"
    recs = _records(tmp_path)
    assert next(r for r in recs if r["subset"] == "donotanswer")["failures"] == {"unparsed": 2}
    ok = next(r for r in recs if r["subset"] == "llmbar-natural")
    assert [j["winner"] for p in ok["pairs"] for j in p["judgments"]] == [0, 0]
    usage = summary["tasks"]["rewardbench"]["usage"]
    assert usage["input_tokens"] == sum(len(ids) for ids in expected)
    assert 0 < usage["cached_tokens"] < usage["input_tokens"]  # the shared judge-template prefix
    run = json.loads((tmp_path / "out" / "r" / "run.json").read_text())
    assert run["stats"]["provider"]["generate_calls"] == 1 and run["stats"]["provider"]["chat_calls"] == 0


def test_sampling_settings_reach_vllm(tmp_path, tiny, data, standin):
    template = tmp_path / "t.jinja"
    template.write_text("{{ bos_token }}{% if enable_thinking is defined and not enable_thinking %}[no-think]"
                        "{% endif %}" + CHAT_TEMPLATE.removeprefix("{{ bos_token }}"), encoding="utf-8")
    rc, _ = _main(tmp_path, data, f"vllm/{tiny['lm']}", "--gen", "temperature=0.7", "--gen", "top_p=0.9",
                  "--gen", "max_tokens=99", "--gen", "seed=5", "--gen", "stop=</verdict>",
                  "--gen", "enable_thinking=false", "--model-args", f"chat_template={template}")
    assert rc == 0
    llm = standin.instances[0]
    (call,) = _generations(llm)
    for prompt, p in zip(call["prompts"], call["params"]):
        assert (p.temperature, p.top_p, p.max_tokens, p.seed, p.stop, p.n) == (0.7, 0.9, 99, 5, ["</verdict>"], 1)
        assert llm.tok.decode(prompt["prompt_token_ids"]).startswith("<s>[no-think]")  # the template variable


def test_length_finish_is_truncated(tmp_path, tiny, data, standin):
    rc, summary = _main(tmp_path, data, f"vllm/{tiny['lm']}", "--gen", "max_tokens=2")
    assert rc == 0
    assert summary["tasks"]["rewardbench"]["judging"]["failures"] == {"truncated": 2 * len(rb_fixture.rows())}


def test_prompts_past_the_context_are_counted_not_sent(tmp_path, tiny, data, standin):
    rows = rb_fixture.rows()
    rows[0]["prompt"] = "a long question " * 200
    data = write_json(tmp_path / "long.json", rows)
    rc, summary = _main(tmp_path, data, f"vllm/{tiny['lm']}", "--max-length", "1500")
    assert rc == 0
    (llm,) = standin.instances
    assert llm.kwargs["max_model_len"] == 1500  # --max-length becomes the engine's context
    assert len(_generations(llm)[0]["prompts"]) == 2 * (len(rows) - 1)
    assert summary["tasks"]["rewardbench"]["judging"]["failures"]["too_long"] == 2
    first = _records(tmp_path)[0]
    assert first["failures"] == {"too_long": 2}
    assert "the limit is 1500" in first["pairs"][0]["judgments"][0]["error"]


def test_thresholds_are_vllms(tiny, standin):
    """A generation prompt of exactly max_model_len tokens leaves no room for the answer (the
    engine refuses it); a scored conversation of exactly max_model_len is accepted."""
    msgs = ({"role": "user", "content": f"{rb_fixture.LONG} vs {rb_fixture.SHORT}"},)
    probe = _provider(tiny["lm"])
    n = len(_counted(probe.tokenizer, msgs))
    prov = _provider(tiny["lm"], max_length=n)
    (out,) = prov.generate_batch([GenRequest(messages=msgs, gen=GenConfig(), key="k")])
    assert isinstance(out, Failure) and out.status == "too_long" and not _generations(standin.instances[-1])
    prov = _provider(tiny["lm"], max_length=n + 1)
    (out,) = prov.generate_batch([GenRequest(messages=msgs, gen=GenConfig(), key="k")])
    assert isinstance(out, GenOutput) and out.usage["input_tokens"] == n

    conv = ({"role": "user", "content": "hi"},)
    rm_probe = _provider(tiny["rm"])
    m = len(_counted(rm_probe.tokenizer, list(conv) + [{"role": "assistant", "content": "yes"}], False))
    (score,) = _provider(tiny["rm"], max_length=m).score_batch([ScoreItem("a", 0, conv, "yes")])
    assert score == m  # sent, and scored by the stand-in's token count
    (score,) = _provider(tiny["rm"], max_length=m - 1).score_batch([ScoreItem("a", 0, conv, "yes")])
    assert isinstance(score, Failure) and score.status == "too_long"


# -- defect 1: a prompt vLLM counts as too long fails alone ----------------------------------

def test_length_errors_are_recognised_in_both_wordings():
    renderer = V.VLLMValidationError(
        "This model's maximum context length is 40 tokens. However, your prompt contains at least 41 input tokens, "
        "which exceeds this limit even without any output tokens. Please reduce the length of the input prompt.",
        parameter="input_tokens", value=41)
    engine = V.VLLMValidationError(
        "The decoder prompt (length 40) plus the number of requested output tokens (at least 1) is longer than the "
        "maximum model length of 40. Make sure that `max_model_len` is no smaller than the number of text tokens.")
    by_parameter = V.VLLMValidationError("(reworded in a later release)", parameter="input_text", value=9000)
    for e in (renderer, engine, by_parameter):
        assert vllm_provider.is_length_error(e) and vllm_provider.is_request_error(e)
    other = V.VLLMValidationError("Chat template rejected the request: bad role")
    assert not vllm_provider.is_length_error(other) and vllm_provider.is_request_error(other)
    assert not vllm_provider.is_request_error(RuntimeError("CUDA error: an illegal memory access"))
    assert vllm_provider.message(renderer).startswith("This model's maximum context length is 40 tokens.")


def test_a_generation_prompt_vllm_counts_as_too_long_fails_alone_and_a_rerun_reasks_only_it(tmp_path, tiny, standin):
    """render=vllm (LLM.chat) with a template that doubles BOS: vLLM counts one token more than
    rmbench, so the longest prompt, one token short of the context for rmbench, is refused by
    the engine ("... longer than the maximum model length ..."). Before the fix that error failed
    all 24 prompts of the batch as api_error, on every rerun."""
    template = _double_bos_template(tmp_path)
    rows = rb_fixture.rows()
    rows[4]["prompt"] += " with more words" * 12
    data = write_json(tmp_path / "rb.json", rows)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny["lm"])
    counts = [len(_counted(tok, c, template=template.read_text())) for c in _judge_prompts(rows)]
    longest = max(counts)
    assert counts.index(longest) // 2 == 4 and sorted(counts)[-3] < longest  # only row 4's prompts are longest
    args = ("--model-args", f"chat_template={template},render=vllm", "--max-length", str(longest + 1))
    cache = tmp_path / "cache.sqlite"
    rc, summary = _main(tmp_path, data, f"vllm/{tiny['lm']}", *args, cache=cache)
    assert rc == 0
    recs = _records(tmp_path)
    refused = sum(1 for c in counts if c == longest)
    assert recs[4]["failures"] == {"too_long": refused}
    errors = [j["error"] for p in recs[4]["pairs"] for j in p["judgments"] if j.get("error")]
    assert all("longer than the maximum model length" in e for e in errors)
    assert all(r["failures"] in ({}, {"unparsed": 2}) for k, r in enumerate(recs) if k != 4)  # the rest judged
    assert summary["tasks"]["rewardbench"]["judging"]["failures"]["too_long"] == refused
    (llm,) = standin.instances
    assert {c["api"] for c in llm.calls} == {"chat"} and llm.calls[0]["chat_template"] == template.read_text()

    rc, _ = _main(tmp_path, data, f"vllm/{tiny['lm']}", *args, cache=cache, name="again")
    assert rc == 0
    rerun = standin.instances[-1]
    asked = rerun.calls[0]["messages"]  # later calls are its halves, isolating the refused prompts
    assert len(asked) == refused and all(rows[4]["prompt"] in conv[-1]["content"] for conv in asked)
    assert all(conv in asked for c in rerun.calls for conv in c["messages"])


def test_a_scored_conversation_vllm_counts_as_too_long_fails_alone(tmp_path, tiny, standin):
    """The renderer's wording ("This model's maximum context length is N tokens ...",
    parameter input_tokens) for text prompts to LLM.classify."""
    template = _double_bos_template(tmp_path)
    prov = _provider(tiny["rm"], model_args={"chat_template": str(template), "render": "vllm"})
    items = [ScoreItem("a", k, ({"role": "user", "content": f"question {k}"},), "answer " * (1 + 3 * (k == 2)))
             for k in range(5)]
    counts = [len(_counted(prov.tokenizer, list(it.messages) + [{"role": "assistant", "content": it.response}],
                           False, template.read_text())) for it in items]
    limit = max(counts)
    assert counts.count(limit) == 1
    prov = _provider(tiny["rm"], max_length=limit, model_args={"chat_template": str(template), "render": "vllm"})
    outs = prov.score_batch(items)
    assert isinstance(outs[2], Failure) and outs[2].status == "too_long"
    assert "maximum context length" in outs[2].error and "at least" in outs[2].error
    assert [o for k, o in enumerate(outs) if k != 2] == [c + 1 for k, c in enumerate(counts) if k != 2]  # 2 BOS
    assert prov.run_stats()["too_long"] == 1


def test_the_default_sends_what_rmbench_counted_so_vllm_never_disagrees(tmp_path, tiny, standin):
    """The same doubled-BOS template without render=vllm: vLLM gets rmbench's ids (one BOS) and
    the longest prompt fits, as it does in rmbench's count and in hf/."""
    template = _double_bos_template(tmp_path)
    msgs = ({"role": "user", "content": f"{rb_fixture.LONG} vs {rb_fixture.SHORT}"},)
    probe = _provider(tiny["lm"])
    ids = _counted(probe.tokenizer, msgs, template=template.read_text())
    prov = _provider(tiny["lm"], max_length=len(ids) + 1, model_args={"chat_template": str(template)})
    (out,) = prov.generate_batch([GenRequest(messages=msgs, gen=GenConfig(), key="k")])
    assert isinstance(out, GenOutput) and out.usage == {"input_tokens": len(ids), "output_tokens": 1}
    assert out.finish_reason == "length"  # the one token of room left
    (call,) = _generations(standin.instances[-1])
    assert call["prompts"] == [{"prompt_token_ids": ids}]
    assert ids[0] == probe.tokenizer.bos_token_id and ids[1] != probe.tokenizer.bos_token_id


def test_a_prompt_vllm_refuses_for_another_reason_fails_alone(tiny, standin):
    standin.faults = {"REFUSE-ME": "refuse"}
    prov = _provider(tiny["lm"])
    reqs = [GenRequest(messages=({"role": "user", "content": f"{rb_fixture.LONG} vs {rb_fixture.SHORT} {k}"
                                  + (" REFUSE-ME" if k == 5 else "")},), gen=GenConfig(), key=str(k)) for k in range(8)]
    outs = prov.generate_batch(reqs)
    assert isinstance(outs[5], Failure) and outs[5].status == "api_error"
    assert outs[5].error == "vLLM refused the prompt: Chat template rejected the request: REFUSE-ME"
    assert all(o.text == "Verdict: [[A]]" for k, o in enumerate(outs) if k != 5)
    assert 1 < prov.calls["generate"] <= 1 + 2 * 3  # the batch, then halves down to the refused prompt


def test_an_engine_failure_still_fails_the_whole_call(tiny, standin, monkeypatch):
    prov = _provider(tiny["lm"])

    def broken(*a, **k):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(prov.llm, "generate", broken)
    with pytest.raises(RuntimeError, match="illegal memory access"):  # the Judge records the batch as api_error
        prov.generate_batch([GenRequest(messages=({"role": "user", "content": "hi"},), gen=GenConfig(), key="k")])


# -- defects 2 and 7: failed requests are failures, never cached, in one line ---------------

def test_error_and_abort_finishes_are_api_errors_and_not_cached(tmp_path, tiny, data, standin):
    standin.faults = {"question 3 for": "error", "question 5 for": "abort"}
    cache = tmp_path / "cache.sqlite"
    rc, summary = _main(tmp_path, data, f"vllm/{tiny['lm']}", cache=cache)
    assert rc == 0
    recs = _records(tmp_path)
    assert recs[3]["failures"] == {"api_error": 2} and recs[5]["failures"] == {"api_error": 2}
    assert recs[3]["pairs"][0]["judgments"][0]["error"] == "vLLM finished the request with finish_reason='error'"
    assert "finish_reason='abort'" in recs[5]["pairs"][0]["judgments"][0]["error"]

    standin.faults = {}
    rc, summary = _main(tmp_path, data, f"vllm/{tiny['lm']}", cache=cache, name="again")
    assert rc == 0
    (call,) = _generations(standin.instances[-1])
    assert len(call["prompts"]) == 4  # only rows 3 and 5 (both orders) were asked again
    assert summary["tasks"]["rewardbench"]["score"] == pytest.approx(rb_fixture.SCORE, abs=1e-12)


def test_a_pooling_request_error_is_one_line_api_error(tmp_path, tiny, data, standin):
    standin.faults = {"question 2 for": "error"}
    rc, summary = _main(tmp_path, data, f"vllm/{tiny['rm']}")
    assert rc == 0
    rec = _records(tmp_path)[2]
    errors = {s[0]["status"]: s[0].get("error") for s in rec["scores"]}
    assert errors == {"api_error": "vLLM: multimodal_cache_miss: Multi-modal processor cache miss."}  # not a repr


# -- defect 3: settings vLLM refuses are a one-line error at start-up -----------------------

@pytest.mark.parametrize("setting,expected", [
    ("temperature=3", "temperature must be in [0, 2], got 3.0."),
    # these three no provider accepts: refused by rmbench's own check of --gen, before vllm/ is built
    ("top_p=0", "--gen top_p=0.0: must be above 0 and at most 1"),
    ("max_tokens=0", "--gen max_tokens=0: must be a whole number of at least 1"),
    ("seed=-1", "--gen seed=-1: must be a whole number of at least 0"),
])
def test_generation_settings_vllm_refuses_are_a_one_line_error_before_loading(tmp_path, tiny, data, standin, capsys,
                                                                             setting, expected):
    rc, _ = _main(tmp_path, data, f"vllm/{tiny['lm']}", "--gen", setting)
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and err.endswith(expected)
    assert standin.instances == []  # refused before any weights load


def test_unknown_engine_args_are_refused_by_the_real_signature(tmp_path, tiny, data, standin, capsys):
    rc, _ = _main(tmp_path, data, f"vllm/{tiny['lm']}", "--model-args", "tensor_paralel_size=2")
    err = capsys.readouterr().err
    assert rc == 2
    assert "vllm.LLM rejected the --model-args: TypeError: EngineArgs.__init__() got an unexpected keyword " \
           "argument 'tensor_paralel_size'" in err


# -- scalar reward models --------------------------------------------------------------------

def test_scalar_reward_model_through_classify_with_token_ids(tmp_path, tiny, data, standin):
    rc, summary = _main(tmp_path, data, f"vllm/{tiny['rm']}", "--model-args", "label_index=0,dtype=float32")
    assert rc == 0
    (llm,) = standin.instances
    assert llm.runner_arg == "pooling" and llm.kwargs == {"dtype": "float32", "seed": 0}
    assert summary["judge"]["judge_type"] == "scalar" and summary["judge"]["dtype"] == "float32"
    assert summary["judge"]["pooling_task"] == "classify"
    (call,) = llm.calls
    assert call["api"] == "encode" and call["pooling_task"] == "classify" and call["tokenization_kwargs"] is None
    assert all(p.use_activation is False for p in call["params"])  # raw head output, no sigmoid
    expected = sorted(_counted(llm.tok, [{"role": "user", "content": r["prompt"]}, {"role": "assistant", "content": c}],
                               False) for r in rb_fixture.rows() for c in (r["chosen"], r["rejected"]))
    assert sorted(p["prompt_token_ids"] for p in call["prompts"]) == expected
    # the stand-in scores by token count: the hand-computed longest-response score
    assert summary["tasks"]["rewardbench"]["score"] == pytest.approx(rb_fixture.SCORE, abs=1e-12)
    rec = _records(tmp_path)[0]
    assert rec["scores"][0][0]["value"] > rec["scores"][1][0]["value"] > 1  # raw, not squashed


def test_scalar_too_long_is_a_failure(tiny, standin):
    prov = _provider(tiny["rm"], max_length=40)
    items = [ScoreItem("a", 0, ({"role": "user", "content": "hi"},), "short"),
             ScoreItem("a", 1, ({"role": "user", "content": "hi"},), "long " * 60)]
    outs = prov.score_batch(items)
    assert isinstance(outs[0], float) and isinstance(outs[1], Failure) and outs[1].status == "too_long"
    assert len(standin.instances[0].calls[0]["prompts"]) == 1


def test_official_protocol_cuts_scalar_inputs_as_token_prompts(tiny, standin):
    """--protocol official cuts a scalar model's over-long inputs per task (RewardBench: the last
    tokens; RewardBench 2: the tokenizer's own side) and hands the cut ids to vLLM as a token
    prompt; other tasks keep failing over-long inputs."""
    prov = _provider(tiny["rm"], max_length=40)
    assert prov.truncate_inputs("rewardbench", 2048, "left") and prov.truncate_inputs("rewardbench2", 30, "tokenizer")
    msgs = ({"role": "user", "content": "hi"},)
    items = [ScoreItem("a", 0, msgs, "short", task="rewardbench"),
             ScoreItem("a", 1, msgs, "long " * 60, task="rewardbench"),
             ScoreItem("b", 0, msgs, "long " * 60, task="rewardbench2"),
             ScoreItem("c", 0, msgs, "long " * 60, task="rm-bench")]
    outs = prov.score_batch(items)
    # the stand-in scores by token count: the cut inputs have exactly the limit
    assert outs[1] == 40.0 and outs[2] == 30.0 and outs[0] < 40
    assert isinstance(outs[3], Failure) and outs[3].status == "too_long"
    (call,) = standin.instances[0].calls
    full = _counted(standin.instances[0].tok, [*msgs, {"role": "assistant", "content": "long " * 60}], False)
    assert call["prompts"][1] == {"prompt_token_ids": full[-40:]}
    side = standin.instances[0].tok.truncation_side
    assert call["prompts"][2] == {"prompt_token_ids": full[:30] if side == "right" else full[-30:]}
    assert prov.run_stats()["truncated_inputs"] == 2 and prov.run_stats()["too_long"] == 1
    assert prov.describe()["truncation"] == {"rewardbench": {"tokens": 2048, "side": "left"},
                                            "rewardbench2": {"tokens": 30, "side": "tokenizer"}}


def _reward_model_folder(tmp_path, tiny, arch):
    folder = tmp_path / arch
    shutil.copytree(tiny["rm"], folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["architectures"] = [arch]
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


@pytest.mark.parametrize("arch", ["Qwen2ForRewardModel", "InternLM2ForRewardModel"])
def test_per_token_reward_models_are_read_at_the_last_token(tmp_path, tiny, data, standin, arch):
    folder = _reward_model_folder(tmp_path, tiny, arch)
    rc, summary = _main(tmp_path, data, f"vllm/{folder}")
    assert rc == 0
    (call,) = standin.instances[0].calls
    assert call["api"] == "encode" and call["pooling_task"] == "token_classify"
    assert all(p.use_activation is False for p in call["params"])
    assert summary["judge"]["pooling_task"] == "token_classify"
    assert summary["tasks"]["rewardbench"]["score"] == pytest.approx(rb_fixture.SCORE, abs=1e-12)


@pytest.mark.parametrize("arch,expected", [("Qwen2ForProcessRewardModel", "is a process reward model"),
                                           ("Gemma2ForRewardModeling", "vLLM serves no reward head for")])
def test_reward_models_vllm_cannot_read_are_refused_before_loading(tmp_path, tiny, data, standin, capsys, arch,
                                                                   expected):
    rc, _ = _main(tmp_path, data, f"vllm/{_reward_model_folder(tmp_path, tiny, arch)}")
    assert rc == 2 and expected in capsys.readouterr().err
    assert standin.instances == []


# -- defect 6: reasoning behind a special </think> -------------------------------------------

def test_parser_reads_the_answer_after_the_reasoning_in_both_shapes():
    # the whole block in the text (LLM.chat returns the reasoning inside text), and a template
    # that opened <think> in the prompt, so only the closing tag is generated
    assert brackets("<think>B is better? [[B]]\nNo.</think>\nVerdict: [[A]]") == ("A", OK)
    assert brackets("B is better? [[B]]\nNo.\n</think>\n\nVerdict: [[A]]") == ("A", OK)
    # what vLLM returns when </think> is a special token it skips: no boundary left
    assert brackets("B is better? [[B]]Verdict: [[A]]") == (None, UNPARSED)


def test_a_special_think_token_is_kept_so_the_reasoning_is_not_read_as_the_answer(tmp_path, tiny, standin,
                                                                                  monkeypatch):
    from transformers import AutoTokenizer

    folder = tmp_path / "reasoner"
    shutil.copytree(tiny["lm"], folder)
    tok = AutoTokenizer.from_pretrained(folder)
    tok.add_special_tokens({"additional_special_tokens": ["<think>", "</think>"]})
    tok.save_pretrained(folder)
    monkeypatch.setattr(FakeLLM, "respond", staticmethod(lambda prompt: "<think>B looks better: [[B]]</think>[[A]]"))
    req = GenRequest(messages=({"role": "user", "content": "which?"},), gen=GenConfig(), key="k")

    prov = _provider(folder)
    assert prov.skip_special_tokens is False and prov.cache_identity()["skip_special_tokens"] is False
    (out,) = prov.generate_batch([req])
    assert out.text == "<think>B looks better: [[B]]</think>[[A]]" and brackets(out.text) == ("A", OK)
    assert _generations(standin.instances[-1])[0]["params"][0].skip_special_tokens is False

    prov = _provider(folder, model_args={"skip_special_tokens": True})  # vLLM's default: the defect
    (out,) = prov.generate_batch([req])
    assert out.text == "B looks better: [[B]][[A]]" and brackets(out.text) == (None, UNPARSED)

    assert _provider(tiny["lm"]).skip_special_tokens is True  # no special </think>: vLLM's default


# -- verdict log-probabilities ---------------------------------------------------------------

def test_logprobs_give_the_top_alternatives_at_every_generated_token(tiny, standin):
    prov = _provider(tiny["lm"], gen=GenConfig(logprobs=True), model_args={"top_logprobs": 3})
    assert prov.cache_identity()["top_logprobs"] == 3
    msgs = ({"role": "user", "content": f"{rb_fixture.LONG} vs {rb_fixture.SHORT}"},)
    (out,) = prov.generate_batch([GenRequest(messages=msgs, gen=GenConfig(logprobs=True), key="k")])
    (call,) = _generations(standin.instances[-1])
    assert call["params"][0].logprobs == 3
    tok = prov.tokenizer
    generated = list(tok("Verdict: [[A]]", add_special_tokens=False)["input_ids"]) + [tok.eos_token_id]
    assert out.usage["output_tokens"] == len(generated) == len(out.logprobs)
    for token, position in zip(generated, out.logprobs):
        assert len(position) == 3 and all(isinstance(k, str) for k in position)
        assert position[tok.decode([token])] == pytest.approx(math.log(0.8))  # the sampled token, by its text
        assert max(position.values()) == pytest.approx(math.log(0.8))
    assert GenOutput.from_json(json.loads(json.dumps(out.to_json()))) == out  # survives the cache
    # two ids that decode to the same text (byte fragments): one entry, the larger logprob
    same = V.CompletionOutput(index=0, text="", token_ids=[5], cumulative_logprob=None, logprobs=[
        {5: V.Logprob(-0.5, 1, "\ufffd"), 6: V.Logprob(-2.0, 2, "\ufffd"), 7: V.Logprob(-3.0, 3, "x")}])
    assert prov._logprobs(same) == [{"\ufffd": -0.5, "x": -3.0}]

    (plain,) = _provider(tiny["lm"]).generate_batch([GenRequest(messages=msgs, gen=GenConfig(), key="k")])
    assert plain.logprobs is None and "logprobs" not in plain.to_json()
    assert "top_logprobs" not in _provider(tiny["lm"], model_args={"top_logprobs": 3}).cache_identity()


def test_logprobs_from_the_command_line_and_vllms_cap(tmp_path, tiny, data, standin, capsys):
    rc, _ = _main(tmp_path, data, f"vllm/{tiny['lm']}", "--gen", "logprobs=true")
    assert rc == 0
    assert all(p.logprobs == vllm_provider.DEFAULT_TOP_LOGPROBS for p in _generations(standin.instances[0])[0]["params"])
    rc, _ = _main(tmp_path, data, f"vllm/{tiny['lm']}", "--gen", "logprobs=true", "--model-args", "top_logprobs=21",
                  name="capped")
    assert rc == 2 and "vLLM returns at most 20" in capsys.readouterr().err


# -- rendering choice, errors, identity ------------------------------------------------------

def test_other_renderers_let_vllm_render_through_chat(tiny, standin):
    prov = _provider(tiny["lm"], model_args={"tokenizer_mode": "mistral"})
    assert prov.render == "vllm" and prov.cache_identity()["render"] == "vllm"
    assert prov.cache_identity()["tokenizer_mode"] == "mistral"
    msgs = ({"role": "user", "content": f"{rb_fixture.SHORT} vs {rb_fixture.LONG}"},)
    (out,) = prov.generate_batch([GenRequest(messages=msgs, gen=GenConfig(enable_thinking=False), key="k")])
    assert out.text == "Verdict: [[B]]"
    (call,) = _generations(standin.instances[-1])
    assert call["api"] == "chat" and call["messages"] == [[dict(m) for m in msgs]]
    assert call["chat_template_kwargs"] == {"enable_thinking": False}
    assert "render" not in _provider(tiny["lm"]).cache_identity()


def test_vllms_own_renderers_need_no_jinja_template(tmp_path, tiny, standin):
    folder = tmp_path / "no-template"
    shutil.copytree(tiny["lm"], folder)
    cfg = json.loads((folder / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg))
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    with pytest.raises(UserError, match="has no chat template"):  # rmbench renders: it needs one
        _provider(folder)
    prov = _provider(folder, model_args={"tokenizer_mode": "mistral"})
    assert prov.render == "vllm" and not prov.counting and prov.cache_identity()["chat_template"] == "vllm:MistralRenderer"
    msgs = ({"role": "user", "content": f"{rb_fixture.LONG} vs {rb_fixture.SHORT}"},)
    (out,) = prov.generate_batch([GenRequest(messages=msgs, gen=GenConfig(), key="k")])
    assert out.text == "Verdict: [[A]]" and _generations(standin.instances[-1])[0]["api"] == "chat"


def test_judge_type_override_and_bad_args(tmp_path, tiny, data, standin, capsys):
    prov = vllm_provider.Provider(str(tiny["rm"]), RunConfig(model="vllm/x", tasks=["x"], judge_type="generative"))
    assert prov.judge_kind == "generative" and standin.instances[-1].runner_arg == "generate"
    rc, _ = _main(tmp_path, data, f"vllm/{tiny['lm']}", "--judge-type", "dpo")
    assert rc == 2 and "--judge-type dpo" in capsys.readouterr().err
    rc, _ = _main(tmp_path, data, f"vllm/{tiny['lm']}", "--model-args", "truncate=true")
    assert rc == 2 and "truncate" in capsys.readouterr().err
    rc, _ = _main(tmp_path, data, f"vllm/{tiny['lm']}", "--model-args", "render=maybe")
    assert rc == 2 and "render" in capsys.readouterr().err
    rc, _ = _main(tmp_path, data, f"vllm/{tiny['rm']}", "--model-args", "label_index=3")
    assert rc == 2 and "label_index=3: the model has 1 outputs" in capsys.readouterr().err


def test_missing_or_broken_vllm_is_a_one_line_error(tmp_path, tiny, data, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "vllm", None)  # what `import vllm` meets where it is not installed
    rc, _ = _main(tmp_path, data, f"vllm/{tiny['lm']}")
    assert rc == 2
    assert capsys.readouterr().err.strip() == \
        "rmbench: error: the vllm/ provider needs the 'vllm' extra: pip install 'rmbench[vllm]'"

    broken = types.ModuleType("vllm")

    def missing(name):
        raise ModuleNotFoundError("No module named 'openai_harmony'", name="openai_harmony")

    broken.__getattr__ = missing  # vllm imports LLM lazily: an incomplete install fails there
    monkeypatch.setitem(sys.modules, "vllm", broken)
    rc, _ = _main(tmp_path, data, f"vllm/{tiny['lm']}", name="broken")
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "vllm is installed but does not import (ModuleNotFoundError: No module named 'openai_harmony')" in err


def test_sampled_runs_without_a_gen_seed_key_the_cache_by_the_run_seed(tiny, standin):
    def ident(**kw):
        return _provider(tiny["lm"], **kw).cache_identity()

    assert "run_seed" not in ident(seed=1)  # greedy: the seed changes nothing
    assert ident(seed=1, gen=GenConfig(temperature=0.8))["run_seed"] == 1
    assert "run_seed" not in ident(seed=1, gen=GenConfig(temperature=0.8, seed=3))  # --gen seed is in the key


def test_judge_type_detection_from_architectures():
    from rmbench.judges.local.common import detect_judge_type

    assert detect_judge_type({"architectures": ["LlamaForSequenceClassification"]}) == "scalar"
    assert detect_judge_type({"architectures": ["Gemma2ForRewardModeling"]}) == "scalar"
    assert detect_judge_type({"architectures": ["InternLM2ForRewardModel"]}) == "scalar"
    assert detect_judge_type({"architectures": ["Qwen2ForCausalLM"]}) == "generative"
    assert detect_judge_type({}) == "generative"


def test_user_errors_from_the_provider_are_user_errors(tiny, standin):
    with pytest.raises(UserError, match="top_logprobs"):
        _provider(tiny["lm"], model_args={"top_logprobs": 30})
