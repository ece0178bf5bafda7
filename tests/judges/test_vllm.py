"""``vllm/`` against a stand-in engine with vLLM 0.33's offline surface (``LLM(model, runner=...,
**engine_args)``, ``get_tokenizer``, ``model_config.max_model_len``, ``chat``, ``classify``,
``SamplingParams``, ``PoolingParams``), injected by replacing the provider's ``load_vllm``.

The stand-in uses the tiny test model's real tokenizer and chat template, judges by length (so
a wrong mapping of outputs to comparisons changes the hand-computed RewardBench score), and
refuses prompts past ``max_model_len`` the way vLLM does: by failing the whole call.
The real engine runs in scripts/gpu_smoke.sh where a GPU and vllm exist.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

pytest.importorskip("transformers")

import rmbench.judges.providers.vllm as vllm_provider  # noqa: E402
from rmbench.cli.main import main  # noqa: E402
from rmbench.config import GenConfig, RunConfig  # noqa: E402
from rmbench.judges.base import Failure, GenRequest, ScoreItem  # noqa: E402
from rmbench.judges.prompts import load_template  # noqa: E402
from tests import rb_fixture  # noqa: E402
from tests.helpers import run_cli, write_json  # noqa: E402
from tests.judges.tiny_models import tiny_models_at  # noqa: E402


class Params:
    """SamplingParams / PoolingParams stand-in: keeps the keyword arguments it was built with."""

    def __init__(self, **kw):
        self.kw = kw


@dataclass
class Completion:
    text: str
    finish_reason: str
    token_ids: list = field(default_factory=list)


@dataclass
class RequestOutput:
    outputs: list
    prompt_token_ids: list
    num_cached_tokens: int = 0


@dataclass
class ClassificationOutput:
    probs: list


@dataclass
class ClassificationRequestOutput:
    outputs: ClassificationOutput
    prompt_token_ids: list
    error: str | None = None


class FakeLLM:
    instances: list["FakeLLM"] = []

    def __init__(self, model, runner="auto", **kwargs):
        from transformers import AutoTokenizer

        self.model, self.runner, self.kwargs = model, runner, kwargs
        self.tok = AutoTokenizer.from_pretrained(model)
        self.model_config = SimpleNamespace(max_model_len=kwargs.get("max_model_len", 4096))
        self.supported_tasks = ("classify",) if runner == "pooling" else ("generate",)
        self.chat_calls: list[dict] = []
        self.classify_calls: list[dict] = []
        FakeLLM.instances.append(self)

    def get_tokenizer(self):
        return self.tok

    def _too_long(self, n):
        limit = self.model_config.max_model_len
        if n > limit or (self.runner == "generate" and n == limit):
            raise ValueError(f"The decoder prompt (length {n}) is longer than the maximum model length of {limit}.")

    def chat(self, messages, sampling_params=None, use_tqdm=True, chat_template=None, chat_template_kwargs=None,
             **kw):
        assert self.runner == "generate", "LLM.chat() is only supported for generative models"
        assert len(sampling_params) == len(messages)
        self.chat_calls.append({"messages": messages, "params": sampling_params, "chat_template_kwargs":
                                chat_template_kwargs, "chat_template": chat_template, "use_tqdm": use_tqdm, "extra": kw})
        outs = []
        for conv, sp in zip(messages, sampling_params, strict=True):
            text = self.tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=True,
                                                **(chat_template_kwargs or {}))
            ids = self.tok(text, add_special_tokens=False)["input_ids"]
            self._too_long(len(ids))
            if "EXPLODE" in conv[-1]["content"]:  # our count says it fits, the engine disagrees
                self._too_long(10**9)
            user = conv[-1]["content"]
            a, b = user.find(rb_fixture.LONG), user.find(rb_fixture.SHORT)
            verdict = "No idea." if a < 0 or b < 0 else ("[[A]]" if a < b else "[[B]]")
            max_tokens = sp.kw.get("max_tokens")
            if max_tokens is not None and max_tokens < 3:
                outs.append(RequestOutput([Completion("[[", "length", [1, 2][:max_tokens])], ids))
            else:
                outs.append(RequestOutput([Completion(f"Verdict: {verdict}", "stop", [5, 6, 7])], ids, 4))
        return outs

    def classify(self, prompts, *, pooling_params=None, use_tqdm=True, lora_request=None, tokenization_kwargs=None):
        assert self.runner == "pooling"
        self.classify_calls.append({"prompts": prompts, "pooling_params": pooling_params,
                                    "tokenization_kwargs": tokenization_kwargs})
        outs = []
        for text in prompts:  # a text prompt, or a token prompt (vLLM's TokensPrompt: a dict)
            ids = list(text["prompt_token_ids"]) if isinstance(text, dict) else \
                self.tok(text, **(tokenization_kwargs or {}))["input_ids"]
            self._too_long(len(ids))
            outs.append(ClassificationRequestOutput(ClassificationOutput([float(len(ids)), -1.0]), ids))
        return outs


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    import transformers

    transformers.utils.logging.disable_progress_bar()
    return tiny_models_at(tmp_path_factory.getbasetemp() / "tiny-models")


@pytest.fixture
def fake_vllm(monkeypatch):
    FakeLLM.instances = []
    ns = SimpleNamespace(LLM=FakeLLM, SamplingParams=Params, PoolingParams=Params)
    monkeypatch.setattr(vllm_provider, "load_vllm", lambda: ns)
    return FakeLLM


@pytest.fixture
def data(tmp_path):
    return write_json(tmp_path / "rb.json", rb_fixture.rows())


def _main(tmp_path, data, model, *extra, name="r"):
    rc = main(["run", "--model", model, "--task", "rewardbench", "--data-path", str(data), "--output-dir",
               str(tmp_path / "out"), "--run-name", name, "--quiet", "--no-cache", *extra])
    summary_path = tmp_path / "out" / name / "summary.json"
    return rc, (json.loads(summary_path.read_text()) if summary_path.exists() else None)


def _records(tmp_path, name="r"):
    return [json.loads(x) for x in (tmp_path / "out" / name / "records.jsonl").read_text().splitlines()]


# -- generative --------------------------------------------------------------------------

def test_generative_run_is_one_batched_chat_call_mapped_back_in_order(tmp_path, tiny, data, fake_vllm):
    rc, summary = _main(tmp_path, data, f"vllm/{tiny['lm']}", "--model-args",
                        "tensor_parallel_size=2,gpu_memory_utilization=0.5,enable_prefix_caching=true", "--seed", "9")
    assert rc == 0
    (llm,) = fake_vllm.instances
    assert llm.runner == "generate"
    assert llm.kwargs == {"tensor_parallel_size": 2, "gpu_memory_utilization": 0.5, "enable_prefix_caching": True,
                          "seed": 9}
    n = len(rb_fixture.rows())
    assert len(llm.chat_calls) == 1  # the whole stage in one call
    call = llm.chat_calls[0]
    assert len(call["messages"]) == 2 * n  # both orders of every pair
    assert call["use_tqdm"] is False and call["extra"] == {} and call["chat_template_kwargs"] is None
    # exactly the rendered judge template of every comparison, nothing else
    tmpl = load_template("pairwise")
    expected = []
    for row in rb_fixture.rows():
        msgs = ({"role": "user", "content": row["prompt"]},)
        for pair in ((row["chosen"], row["rejected"]), (row["rejected"], row["chosen"])):
            expected.append(json.dumps([dict(m) for m in tmpl.render(msgs, pair)], sort_keys=True))
    assert sorted(json.dumps(c, sort_keys=True) for c in call["messages"]) == sorted(expected)
    for p in call["params"]:
        assert p.kw["temperature"] == 0.0 and p.kw["max_tokens"] is None and p.kw["n"] == 1
        assert isinstance(p.kw["seed"], int)
    # the length-judging stand-in gives the hand-computed score only if outputs map back right
    assert summary["tasks"]["rewardbench"]["score"] == pytest.approx(rb_fixture.SCORE, abs=1e-12)
    assert summary["judge"]["provider"] == "vllm" and summary["judge"]["judge_type"] == "generative"
    recs = _records(tmp_path)
    tie = next(r for r in recs if r["subset"] == "donotanswer")
    assert tie["failures"] == {"unparsed": 2}
    ok = next(r for r in recs if r["subset"] == "llmbar-natural")
    assert [j["winner"] for p in ok["pairs"] for j in p["judgments"]] == [0, 0]
    usage = summary["tasks"]["rewardbench"]["usage"]
    assert usage["output_tokens"] == 3 * 2 * n and usage["cached_tokens"] == 4 * 2 * n
    run = json.loads((tmp_path / "out" / "r" / "run.json").read_text())
    assert run["stats"]["provider"]["chat_calls"] == 1


def test_sampling_settings_reach_vllm(tmp_path, tiny, data, fake_vllm):
    rc, _ = _main(tmp_path, data, f"vllm/{tiny['lm']}", "--gen", "temperature=0.7", "--gen", "top_p=0.9",
                  "--gen", "max_tokens=99", "--gen", "seed=5", "--gen", "stop=</verdict>",
                  "--gen", "enable_thinking=false")
    assert rc == 0
    (call,) = fake_vllm.instances[0].chat_calls
    assert call["chat_template_kwargs"] == {"enable_thinking": False}
    for p in call["params"]:
        assert p.kw == {"n": 1, "temperature": 0.7, "top_p": 0.9, "max_tokens": 99, "seed": 5,
                        "stop": ["</verdict>"]}


def test_length_finish_is_truncated(tmp_path, tiny, data, fake_vllm):
    rc, summary = _main(tmp_path, data, f"vllm/{tiny['lm']}", "--gen", "max_tokens=2")
    assert rc == 0
    assert summary["tasks"]["rewardbench"]["judging"]["failures"] == {"truncated": 2 * len(rb_fixture.rows())}


def test_prompts_past_the_context_are_counted_not_sent(tmp_path, tiny, data, fake_vllm):
    rows = rb_fixture.rows()
    rows[0]["prompt"] = "a long question " * 200
    data = write_json(tmp_path / "long.json", rows)
    rc, summary = _main(tmp_path, data, f"vllm/{tiny['lm']}", "--max-length", "1500")
    assert rc == 0
    (llm,) = fake_vllm.instances
    assert llm.kwargs["max_model_len"] == 1500  # --max-length becomes the engine's context
    assert len(llm.chat_calls[0]["messages"]) == 2 * (len(rows) - 1)
    assert summary["tasks"]["rewardbench"]["judging"]["failures"]["too_long"] == 2
    first = _records(tmp_path)[0]
    assert first["failures"] == {"too_long": 2}
    assert "the limit is 1500" in first["pairs"][0]["judgments"][0]["error"]


def test_a_prompt_the_engine_refuses_is_isolated(tiny, fake_vllm):
    prov = vllm_provider.Provider(str(tiny["lm"]), RunConfig(model=f"vllm/{tiny['lm']}", tasks=["rewardbench"]))
    reqs = [GenRequest(messages=({"role": "user", "content": f"{rb_fixture.LONG} vs {rb_fixture.SHORT} {k}"
                                  + (" EXPLODE" if k == 5 else "")},), gen=GenConfig(), key=str(k)) for k in range(8)]
    outs = prov.generate_batch(reqs)
    assert isinstance(outs[5], Failure) and outs[5].status == "too_long"
    assert all(o.text == "Verdict: [[A]]" for k, o in enumerate(outs) if k != 5)
    assert prov.run_stats()["too_long"] == 1
    assert 1 < prov.calls["chat"] <= 1 + 2 * 3  # the batch, then halves down to the one refused prompt


# -- scalar ------------------------------------------------------------------------------

def test_scalar_reward_model_through_classify(tmp_path, tiny, data, fake_vllm):
    from transformers import AutoTokenizer

    rc, summary = _main(tmp_path, data, f"vllm/{tiny['rm']}", "--model-args", "label_index=0,dtype=float32")
    assert rc == 0
    (llm,) = fake_vllm.instances
    assert llm.runner == "pooling" and llm.kwargs == {"dtype": "float32", "seed": 0}
    assert summary["judge"]["judge_type"] == "scalar" and summary["judge"]["dtype"] == "float32"
    (call,) = llm.classify_calls
    assert call["pooling_params"].kw == {"use_activation": False}
    assert call["tokenization_kwargs"] == {"add_special_tokens": False}
    tok = AutoTokenizer.from_pretrained(tiny["rm"])
    expected = sorted(tok.apply_chat_template([{"role": "user", "content": r["prompt"]},
                                               {"role": "assistant", "content": c}], tokenize=False)
                      for r in rb_fixture.rows() for c in (r["chosen"], r["rejected"]))
    assert sorted(call["prompts"]) == expected
    assert all(t.startswith("<s>") and not t.startswith("<s><s>") for t in call["prompts"])
    # the stand-in scores by token count: the hand-computed longest-response score
    assert summary["tasks"]["rewardbench"]["score"] == pytest.approx(rb_fixture.SCORE, abs=1e-12)
    rec = _records(tmp_path)[0]
    assert rec["scores"][0][0]["value"] > rec["scores"][1][0]["value"]


def test_scalar_too_long_is_a_failure(tiny, fake_vllm):
    prov = vllm_provider.Provider(str(tiny["rm"]), RunConfig(model=f"vllm/{tiny['rm']}", tasks=["x"], max_length=40))
    items = [ScoreItem("a", 0, ({"role": "user", "content": "hi"},), "short"),
             ScoreItem("a", 1, ({"role": "user", "content": "hi"},), "long " * 60)]
    outs = prov.score_batch(items)
    assert isinstance(outs[0], float) and isinstance(outs[1], Failure) and outs[1].status == "too_long"
    assert len(fake_vllm.instances[0].classify_calls[0]["prompts"]) == 1


def test_official_protocol_cuts_scalar_inputs_as_token_prompts(tiny, fake_vllm):
    """--protocol official cuts a scalar model's over-long inputs per task (RewardBench: the last
    tokens; RewardBench 2: the tokenizer's own side) and hands the cut ids to classify as a token
    prompt; inputs that fit stay text, and other tasks keep failing over-long inputs."""
    from transformers import AutoTokenizer

    prov = vllm_provider.Provider(str(tiny["rm"]), RunConfig(model=f"vllm/{tiny['rm']}", tasks=["x"], max_length=40))
    assert prov.truncate_inputs("rewardbench", 2048, "left") and prov.truncate_inputs("rewardbench2", 30, "tokenizer")
    msgs = ({"role": "user", "content": "hi"},)
    items = [ScoreItem("a", 0, msgs, "short", task="rewardbench"), ScoreItem("a", 1, msgs, "long " * 60, task="rewardbench"),
             ScoreItem("b", 0, msgs, "long " * 60, task="rewardbench2"), ScoreItem("c", 0, msgs, "long " * 60, task="rm-bench")]
    outs = prov.score_batch(items)
    # the stand-in scores by token count: the cut inputs have exactly the limit
    assert outs[1] == 40.0 and outs[2] == 30.0 and outs[0] < 40
    assert isinstance(outs[3], Failure) and outs[3].status == "too_long"
    (call,) = fake_vllm.instances[0].classify_calls
    tok = AutoTokenizer.from_pretrained(tiny["rm"])
    full = tok(tok.apply_chat_template(list(msgs) + [{"role": "assistant", "content": "long " * 60}], tokenize=False),
               add_special_tokens=False)["input_ids"]
    assert isinstance(call["prompts"][0], str)
    assert call["prompts"][1] == {"prompt_token_ids": full[-40:]}
    side = tok.truncation_side
    assert call["prompts"][2] == {"prompt_token_ids": full[:30] if side == "right" else full[-30:]}
    assert prov.run_stats()["truncated_inputs"] == 2 and prov.run_stats()["too_long"] == 1
    assert prov.describe()["truncation"] == {"rewardbench": {"tokens": 2048, "side": "left"},
                                            "rewardbench2": {"tokens": 30, "side": "tokenizer"}}


def test_judge_type_override_and_bad_args(tmp_path, tiny, data, fake_vllm, capsys):
    prov = vllm_provider.Provider(str(tiny["rm"]), RunConfig(model="vllm/x", tasks=["x"], judge_type="generative"))
    assert prov.judge_kind == "generative" and fake_vllm.instances[-1].runner == "generate"
    rc, _ = _main(tmp_path, data, f"vllm/{tiny['lm']}", "--judge-type", "dpo")
    assert rc == 2 and "--judge-type dpo" in capsys.readouterr().err
    rc, _ = _main(tmp_path, data, f"vllm/{tiny['lm']}", "--model-args", "truncate=true")
    assert rc == 2 and "truncate" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_missing_vllm_is_a_one_line_error_naming_the_extra(tmp_path, tiny, data):
    res = run_cli("run", "--model", f"vllm/{tiny['lm']}", "--task", "rewardbench", "--data-path", str(data),
                  "--output-dir", str(tmp_path / "out"), "--quiet")
    assert res.returncode == 2
    assert res.stderr.strip() == "rmbench: error: the vllm/ provider needs the 'vllm' extra: pip install 'rmbench[vllm]'"


def test_sampled_runs_without_a_gen_seed_key_the_cache_by_the_run_seed(tiny, fake_vllm):
    def ident(**kw):
        cfg = RunConfig(model="vllm/x", tasks=["x"], **kw)
        return vllm_provider.Provider(str(tiny["lm"]), cfg).cache_identity()

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
