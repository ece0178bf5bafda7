"""A stand-in for vLLM's offline engine, built from vLLM 0.33.0/0.34.0's source (read from their
wheels) where the ``vllm/`` provider depends on it, so the tests fail when the provider
misreads vLLM rather than agreeing with a copy written to fit it.

- The request and response classes are vLLM's own (``SamplingParams``, ``PoolingParams``,
  ``RequestOutput``/``CompletionOutput``, ``PoolingRequestOutput``/``ClassificationRequestOutput``,
  ``RequestError``, ``Logprob``, ``VLLMValidationError``, ``EngineArgs``' field names) when the
  vllm wheel is installed: its pure-Python modules import on a CPU machine without vLLM's CUDA
  dependencies (``make install-dev`` installs the wheel with ``--no-deps`` plus the few small
  packages those modules import). Without it, the copies in vllm_mirror.py stand in, and
  test_vllm_standin.py checks them against the real classes wherever both exist
  (``RMBENCH_VLLM_STANDIN=mirror`` forces the copies, to test them or to save the ~5 s that
  importing vLLM's modules costs).
- ``FakeLLM`` replaces ``vllm.LLM`` (which needs a GPU): the same signatures, the same input
  rendering and tokenisation, the same length checks and messages at the same thresholds, the
  same failure shapes; only the model is fake (it answers by a rule on the prompt, see
  ``length_judge``). Every behaviour names the vLLM file it mirrors.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

from tests import rb_fixture


def _vllm_classes() -> SimpleNamespace | None:
    if importlib.util.find_spec("vllm") is None:
        return None
    os.environ.setdefault("VLLM_CONFIGURE_LOGGING", "0")  # no log handlers bound to pytest's streams
    try:
        import dataclasses

        from vllm.engine.arg_utils import EngineArgs
        from vllm.exceptions import VLLMValidationError
        from vllm.logprobs import Logprob
        from vllm.outputs import (
            ClassificationRequestOutput,
            CompletionOutput,
            PoolingOutput,
            PoolingRequestOutput,
            RequestError,
            RequestOutput,
        )
        from vllm.pooling_params import PoolingParams
        from vllm.renderers.params import TokenizeParams
        from vllm.sampling_params import SamplingParams
    except ImportError:
        return None
    return SimpleNamespace(source="vllm", VLLMValidationError=VLLMValidationError, Logprob=Logprob,
                           ClassificationRequestOutput=ClassificationRequestOutput, CompletionOutput=CompletionOutput,
                           PoolingOutput=PoolingOutput, PoolingRequestOutput=PoolingRequestOutput,
                           RequestError=RequestError, RequestOutput=RequestOutput, PoolingParams=PoolingParams,
                           SamplingParams=SamplingParams, TokenizeParams=TokenizeParams,
                           ENGINE_ARG_NAMES=frozenset(f.name for f in dataclasses.fields(EngineArgs)))


def _mirror_classes() -> SimpleNamespace:
    from tests.judges import vllm_mirror as m

    return SimpleNamespace(source="mirror", **{k: getattr(m, k) for k in (
        "VLLMValidationError", "Logprob", "ClassificationRequestOutput", "CompletionOutput", "PoolingOutput",
        "PoolingRequestOutput", "RequestError", "RequestOutput", "PoolingParams", "SamplingParams",
        "TokenizeParams", "ENGINE_ARG_NAMES")})


class _Classes:
    """vLLM's classes (or the mirror's), imported at first use: importing vLLM's modules pulls in
    torch and transformers (about 5 s), which test collection, in every pytest-xdist worker, need
    not pay."""

    _loaded: SimpleNamespace | None = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # pytest's probes while it collects (e.g. __wrapped__): not a class
            raise AttributeError(name)
        if _Classes._loaded is None:
            _Classes._loaded = (None if os.environ.get("RMBENCH_VLLM_STANDIN") == "mirror"
                                else _vllm_classes()) or _mirror_classes()
        return getattr(_Classes._loaded, name)


V = _Classes()

# LLM.__init__'s own keyword parameters (vllm/entrypoints/llm.py); everything else goes to
# EngineArgs(**kwargs) (vllm/engine/arg_utils.py), where an unknown name is a TypeError.
LLM_PARAMS = frozenset({
    "runner", "convert", "tokenizer", "tokenizer_mode", "skip_tokenizer_init", "trust_remote_code",
    "allowed_local_media_path", "allowed_media_domains", "tensor_parallel_size", "dtype", "quantization",
    "revision", "tokenizer_revision", "chat_template", "seed", "gpu_memory_utilization", "cpu_offload_gb",
    "offload_group_size", "offload_num_in_group", "offload_prefetch_step", "offload_params", "enforce_eager",
    "enable_return_routed_experts", "return_sampling_mask", "disable_custom_all_reduce", "hf_token",
    "hf_overrides", "mm_processor_kwargs", "pooler_config", "structured_outputs_config", "profiler_config",
    "attention_config", "kv_cache_memory_bytes", "compilation_config", "quantization_config",
    "logits_processors", "spec_method", "spec_model", "spec_tokens",
    "enable_extensible_kv_cache",  # new in 0.34
})

# vllm/model_executor/models/registry.py: reward models pooled per token (_REWARD_MODELS)
TOKEN_REWARD_ARCHS = ("Qwen2ForRewardModel", "InternLM2ForRewardModel", "Qwen2ForProcessRewardModel")
BLOCK_SIZE = 16  # vllm/config/cache.py: the KV cache block size the prefix cache works in


def length_judge(prompt_text: str) -> str:
    """The fake model's answer to a judge prompt: the response that holds rb_fixture.LONG wins,
    so the hand-computed RewardBench score comes out only if outputs map back to the right
    comparisons and orders."""
    a, b = prompt_text.find(rb_fixture.LONG), prompt_text.find(rb_fixture.SHORT)
    if a < 0 or b < 0:
        return "No idea."
    return "Verdict: [[A]]" if a < b else "Verdict: [[B]]"


class HfRenderer:
    """vllm/renderers/hf.py: the renderer for tokenizer_mode auto/hf (the provider asks its name)."""


class MistralRenderer:
    """vllm/renderers/mistral.py: tokenizer_mode=mistral renders through mistral_common."""


class FakeLLM:
    """vllm.LLM (vllm/entrypoints/llm.py) over a model folder's real tokenizer and config."""

    instances: list["FakeLLM"] = []
    respond: Callable[[str], str] = staticmethod(length_judge)
    # substring of a prompt's text -> "error" | "abort" (finish_reason of a generation, or an
    # errored pooling request) | "refuse" (a VLLMValidationError raised while rendering)
    faults: dict[str, str] = {}

    def __init__(self, model: str, **kwargs: Any) -> None:
        # vllm/entrypoints/llm.py: the model is the only positional parameter; LLM's own keyword
        # parameters and EngineArgs' fields (vllm/engine/arg_utils.py, a dataclass) are the
        # only names accepted
        for key in kwargs:
            if key not in LLM_PARAMS and key not in V.ENGINE_ARG_NAMES:
                raise TypeError(f"EngineArgs.__init__() got an unexpected keyword argument '{key}'")
        from transformers import AutoTokenizer

        runner = kwargs.pop("runner", "auto")
        tokenizer_mode = kwargs.get("tokenizer_mode", "auto")
        self.model, self.runner_arg, self.kwargs = model, runner, kwargs
        hf_config = json.loads((Path(model) / "config.json").read_text())
        archs = hf_config.get("architectures") or []
        pooling_arch = any(a.endswith("ForSequenceClassification") or a in TOKEN_REWARD_ARCHS for a in archs)
        # vllm/config/model.py: runner "auto" follows the architecture
        runner_type = runner if runner != "auto" else ("pooling" if pooling_arch else "generate")
        # vllm/config/model.py (_get_and_verify_max_len): max_model_len defaults to the
        # model's position limit and may not exceed it
        derived = int(hf_config.get("max_position_embeddings") or 2048)
        max_model_len = kwargs.get("max_model_len") or derived
        if max_model_len > derived:
            raise ValueError(f"User-specified max_model_len ({max_model_len}) is greater than the derived "
                             f"max_model_len (max_position_embeddings={derived} or model_max_length=None in "
                             "model's config.json).")
        self.model_config = SimpleNamespace(max_model_len=int(max_model_len), runner_type=runner_type,
                                            architectures=archs, max_logprobs=kwargs.get("max_logprobs", 20),
                                            tokenizer_mode=tokenizer_mode,
                                            num_labels=1 if any(a in TOKEN_REWARD_ARCHS for a in archs)
                                            else int(hf_config.get("num_labels") or 1))
        self.tok = AutoTokenizer.from_pretrained(kwargs.get("tokenizer") or model)
        # vllm/renderers/registry.py: the renderer follows the tokenizer mode
        self.renderer = MistralRenderer() if tokenizer_mode == "mistral" else HfRenderer()
        # vllm/v1/engine/llm_engine.py get_supported_tasks: what the model's pooler offers
        if runner_type == "generate":
            self.supported_tasks: tuple[str, ...] = ("generate",)
        elif any(a in TOKEN_REWARD_ARCHS for a in archs):
            self.supported_tasks = ("token_classify",)
        else:  # vllm/model_executor/layers/pooler/special.py DispatchPooler.for_seq_cls
            self.supported_tasks = ("token_classify", "classify")
        # vllm/config/model.py get_pooling_task: classify before token_classify
        self.pooling_task = next((t for t in ("classify", "token_classify") if t in self.supported_tasks), None) \
            if runner_type == "pooling" else None
        self.chat_template = kwargs.get("chat_template")  # vllm/entrypoints/llm.py: load_chat_template (a string here)
        self.request_counter = 0  # vllm/utils/counter.py: request ids grow across calls
        self.seen: list[list[int]] = []  # prompts already in the prefix cache
        self.calls: list[dict] = []
        FakeLLM.instances.append(self)

    def get_tokenizer(self):
        return self.tok

    # -- input rendering: vllm/renderers/base.py with vllm/renderers/params.py's checks ----------------
    def _tokenizer_info(self) -> SimpleNamespace:
        """The attributes of vLLM's cached tokenizer (vllm/tokenizers/hf.py) TokenizeParams reads."""
        vocab = self.tok.get_vocab()
        return SimpleNamespace(max_chars_per_token=max(len(t) for t in vocab), pad_token_id=self.tok.pad_token_id,
                               truncation_side="left" if self.model_config.runner_type == "generate" else "right")

    def _parse_prompt(self, prompt: Any, add_special_tokens: bool) -> list[int]:
        """vllm/renderers/inputs/preprocess.py parse_dec_only_prompt, then the renderer
        (BaseRenderer._tokenize_singleton_prompt): text is checked for its length in
        characters, tokenised (cut at max_model_len + 1, enough to fail the next check) and
        checked for its length in tokens; {"prompt_token_ids": ids} is only checked."""
        if isinstance(prompt, str):
            prompt = {"prompt": prompt}
        if not isinstance(prompt, dict) or not ("prompt" in prompt or "prompt_token_ids" in prompt):
            raise TypeError("Prompt should be a string, list of tokens, or dictionary")
        params = V.TokenizeParams(max_total_tokens=self.model_config.max_model_len,
                                  add_special_tokens=add_special_tokens)
        info = self._tokenizer_info()
        prompt = dict(prompt)
        if "prompt_token_ids" not in prompt:
            prompt = params.apply_pre_tokenization(info, prompt)
            prompt = {"prompt_token_ids": list(self.tok(prompt["prompt"], **params.get_encode_kwargs())["input_ids"])}
        elif not all(isinstance(t, int) for t in prompt["prompt_token_ids"]):
            raise TypeError("Token prompt should be a list of integers")
        ids = list(params.apply_post_tokenization(info, prompt)["prompt_token_ids"])
        self._maybe_refuse(ids)
        return ids

    def _check_engine(self, ids: list[int]) -> None:
        """vllm/v1/engine/input_processor.py _validate_prompt_len: after the renderer, a
        generation prompt must leave room for one output token."""
        limit = self.model_config.max_model_len
        if not ids:
            raise V.VLLMValidationError("The decoder prompt cannot be empty")
        if len(ids) == limit and self.model_config.runner_type == "generate":
            raise V.VLLMValidationError(
                f"The decoder prompt (length {len(ids)}) plus the number of requested output tokens (at least 1) "
                f"is longer than the maximum model length of {limit}. Make sure that `max_model_len` is no "
                "smaller than the number of text tokens (prompt + requested output tokens).")

    def _maybe_refuse(self, ids: list[int]) -> None:
        text = self.tok.decode(ids)
        for marker, fault in self.faults.items():
            if fault == "refuse" and marker in text:
                raise V.VLLMValidationError(f"Chat template rejected the request: {marker}")

    @staticmethod
    def _to_seq(prompts: Any) -> list:
        """vllm/renderers/inputs/preprocess.py prompt_to_seq: one prompt or a list of them."""
        if isinstance(prompts, (dict, str)) or (prompts and all(isinstance(p, int) for p in prompts)):
            return [prompts]
        return list(prompts)

    @staticmethod
    def _params_seq(params: Any, n: int) -> list:
        """vllm/entrypoints/common/offline.py _params_to_seq."""
        if isinstance(params, (list, tuple)):
            if len(params) != n:
                raise V.VLLMValidationError(f"The lengths of prompts ({n}) and params ({len(params)}) must be the same.")
            return list(params)
        return [params] * n

    def _next_id(self) -> str:
        rid = str(self.request_counter)
        self.request_counter += 1
        return rid

    def _cached_tokens(self, ids: list[int]) -> int:
        """Prefix caching (on by default; vllm/v1/core/kv_cache_manager.py): whole blocks of
        the longest prefix an earlier prompt shares, never the last prompt token."""
        if self.kwargs.get("enable_prefix_caching") is False:
            return 0
        best = 0
        for other in self.seen:
            n = 0
            for x, y in zip(ids, other):
                if x != y:
                    break
                n += 1
            best = max(best, n)
        self.seen.append(ids)
        return min((best // BLOCK_SIZE) * BLOCK_SIZE, max(0, len(ids) - 1))

    # -- generation ----------------------------------------------------------------------------------
    def generate(self, prompts, sampling_params=None, *, use_tqdm=True, lora_request=None, priority=None,
                 tokenization_kwargs=None, mm_processor_kwargs=None):
        if self.model_config.runner_type != "generate":
            raise ValueError("LLM.generate() is only supported for generative models. Try passing `--runner "
                             "generate` to use the model as a generative model.")
        seq = self._to_seq(prompts)
        params = self._params_seq(sampling_params if sampling_params is not None else V.SamplingParams(), len(seq))
        add_special = (tokenization_kwargs or {}).get("add_special_tokens", True)  # default_cmpl_tok_params
        self.calls.append({"api": "generate", "prompts": seq, "params": params, "use_tqdm": use_tqdm,
                           "tokenization_kwargs": tokenization_kwargs})
        # vllm/entrypoints/common/offline.py _render_and_add_requests: a prompt that fails to
        # render fails the whole call (what was added is aborted)
        rendered = [self._parse_prompt(p, add_special) for p in seq]
        return self._run(rendered, params)

    def chat(self, messages, sampling_params=None, use_tqdm=True, lora_request=None, priority=None,
             chat_template=None, chat_template_content_format="auto", add_generation_prompt=True,
             continue_final_message=False, tools=None, chat_template_kwargs=None, tokenization_kwargs=None,
             mm_processor_kwargs=None):
        if self.model_config.runner_type != "generate":
            raise ValueError("LLM.chat() is only supported for generative models. Try passing `--runner generate` "
                             "to use the model as a generative model.")
        # vllm/renderers/inputs/preprocess.py conversation_to_seq
        convs = [messages] if messages and isinstance(messages[0], dict) else list(messages)
        params = self._params_seq(sampling_params if sampling_params is not None else V.SamplingParams(),
                                  len(convs))
        self.calls.append({"api": "chat", "messages": convs, "params": params, "use_tqdm": use_tqdm,
                           "chat_template": chat_template, "chat_template_kwargs": chat_template_kwargs})
        template = chat_template if chat_template is not None else self.chat_template
        rendered = []
        for conv in convs:
            # vllm/renderers/hf.py safe_apply_chat_template: the given template, else the LLM's,
            # else the tokenizer's; rendered to text, then tokenised without special tokens
            # (vllm/entrypoints/common/offline.py _preprocess_chat: add_special_tokens=False)
            if isinstance(self.renderer, MistralRenderer) and template is None and not self.tok.chat_template:
                # vllm/renderers/mistral.py encodes with mistral_common, which the stand-in does
                # not reproduce: a fixed format stands for it
                text = "".join(f"[{m['role']}]{m['content']}" for m in conv) + "[assistant]"
            else:
                text = self.tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=add_generation_prompt,
                                                    chat_template=template, **(chat_template_kwargs or {}))
            rendered.append(self._parse_prompt(text, (tokenization_kwargs or {}).get("add_special_tokens", False)))
        return self._run(rendered, params)

    def _run(self, prompts: list[list[int]], params: list) -> list:
        for ids, sp in zip(prompts, params):
            self._check_engine(ids)
            # vllm/v1/engine/input_processor.py _validate_params -> SamplingParams.verify
            if sp.logprobs is not None and sp.logprobs > self.model_config.max_logprobs:
                raise V.VLLMValidationError(f"Requested sample logprobs of {sp.logprobs}, which is greater than max "
                                            f"allowed: {self.model_config.max_logprobs}", parameter="logprobs",
                                            value=sp.logprobs)
        requests = [(self._next_id(), ids, sp) for ids, sp in zip(prompts, params)]
        # the scheduler finishes short requests first; vllm/entrypoints/common/offline.py
        # _run_engine sorts the finished outputs back by request id
        finished = [self._complete(rid, ids, sp) for rid, ids, sp in sorted(requests, key=lambda r: len(r[1]))]
        return sorted(finished, key=lambda o: int(o.request_id))

    def _complete(self, rid: str, ids: list[int], sp) -> Any:
        prompt_text = self.tok.decode(ids)
        eos = self.tok.eos_token_id
        answer = list(self.tok(self.respond(prompt_text), add_special_tokens=False)["input_ids"]) + [eos]
        # vllm/v1/engine/input_processor.py: max_tokens None means up to max_model_len
        room = self.model_config.max_model_len - len(ids)
        limit = min(sp.max_tokens if sp.max_tokens is not None else room, room)
        reason, stop_reason = "stop", None
        if len(answer) > limit:
            answer, reason = answer[:limit], "length"
        fault = next((f for m, f in self.faults.items() if m in prompt_text and f in ("error", "abort")), None)
        if fault:  # vllm/v1/engine/__init__.py FinishReason.ERROR / ABORT: whatever was made so far
            answer, reason = answer[:1], fault
        # vllm/v1/engine/detokenizer.py: the EOS that ended the request is not detokenised;
        # special tokens are dropped unless skip_special_tokens=False
        shown = answer[:-1] if (reason == "stop" and answer and answer[-1] == eos) else answer
        text = self.tok.decode(shown, skip_special_tokens=sp.skip_special_tokens)
        for s in sp.stop:  # vllm/v1/engine/output_processor.py: stop strings end the text
            pos = text.find(s)
            if pos >= 0:
                text = text[: pos + len(s)] if sp.include_stop_str_in_output else text[:pos]
                reason, stop_reason = "stop", s
        logprobs = cumulative = None
        if sp.logprobs is not None:
            logprobs = [self._position_logprobs(t, sp.logprobs) for t in answer]
            cumulative = sum(p[t].logprob for p, t in zip(logprobs, answer))
        comp = V.CompletionOutput(index=0, text=text, token_ids=answer, cumulative_logprob=cumulative,
                                  logprobs=logprobs, finish_reason=reason, stop_reason=stop_reason)
        return V.RequestOutput(request_id=rid, prompt=None, prompt_token_ids=ids, prompt_logprobs=None,
                               outputs=[comp], finished=True, num_cached_tokens=self._cached_tokens(ids))

    def _position_logprobs(self, token: int, k: int) -> dict:
        """vllm/v1/engine/logprobs.py: the top-k tokens at one position plus the sampled one
        ({token id: Logprob(logprob, rank, decoded_token)}); the fake model puts the sampled
        token first and k - 1 others after it."""
        vocab = len(self.tok)
        out = {token: V.Logprob(logprob=math.log(0.8), rank=1, decoded_token=self.tok.decode([token]))}
        texts = {out[token].decoded_token}
        step = 0
        while len(out) < max(k, 1):  # alternatives with texts of their own (no byte fragments)
            step += 1
            other = (token + 7919 * step) % vocab
            text = self.tok.decode([other])
            if other not in out and text not in texts and "\ufffd" not in text:
                out[other] = V.Logprob(logprob=math.log(0.2) - len(out), rank=len(out) + 1, decoded_token=text)
                texts.add(text)
        return out

    # -- pooling: vllm/entrypoints/pooling/offline.py ---------------------------------------------------
    def classify(self, prompts, *, pooling_params=None, use_tqdm=True, lora_request=None, tokenization_kwargs=None):
        items = self.encode(prompts, use_tqdm=use_tqdm, pooling_params=pooling_params, lora_request=lora_request,
                            pooling_task="classify", tokenization_kwargs=tokenization_kwargs)
        return [V.ClassificationRequestOutput.from_base(item) for item in items]

    def encode(self, prompts, pooling_params=None, *, use_tqdm=True, lora_request=None, pooling_task=None,
               tokenization_kwargs=None):
        import torch

        self._verify_pooling_task(pooling_task)
        seq = self._to_seq(prompts)
        params = [p.clone() for p in self._params_seq(pooling_params if pooling_params is not None
                                                      else V.PoolingParams(), len(seq))]
        for p in params:  # vllm/entrypoints/pooling/base/io_processor.py get_request_factory_offline
            if p.task is None:
                p.task = pooling_task
            elif p.task != pooling_task:
                raise V.VLLMValidationError(f"You cannot overwrite {p.task=!r} with {pooling_task=!r}!")
        self.calls.append({"api": "encode", "pooling_task": pooling_task, "prompts": seq, "params": params,
                           "use_tqdm": use_tqdm, "tokenization_kwargs": tokenization_kwargs})
        add_special = (tokenization_kwargs or {}).get("add_special_tokens", True)  # default_cmpl_tok_params
        if not seq:
            raise ValueError("You must pass at least one prompt")  # _run_tiling_engine
        rendered = [self._parse_prompt(p, add_special) for p in seq]  # a failure fails the call
        out = []
        for ids, p in zip(rendered, params):
            rid = self._next_id()
            text = self.tok.decode(ids)
            if any(m in text and f in ("error", "abort") for m, f in self.faults.items()):
                # vllm/v1/engine/output_processor.py: a pooling request that failed carries a
                # RequestError and an empty output
                out.append(V.PoolingRequestOutput(rid, V.PoolingOutput(torch.empty(0)), ids, 0, True,
                                                  error=V.RequestError(code="multimodal_cache_miss",
                                                                       message="Multi-modal processor cache miss.",
                                                                       retryable=True)))
                continue
            # the fake reward: the token count (so the longer response wins), one per label
            labels = self.model_config.num_labels
            if pooling_task == "classify":
                data = torch.tensor([float(len(ids))] + [-1.0] * (labels - 1))
            else:  # token_classify: one row per token, [n_tokens, num_labels]
                data = torch.arange(1, len(ids) + 1, dtype=torch.float32).unsqueeze(1).repeat(1, labels)
            if p.use_activation is not False:  # the head's default activation (sigmoid for 1 label)
                data = torch.sigmoid(data)
            out.append(V.PoolingRequestOutput(rid, V.PoolingOutput(data), ids, 0, True))
        return sorted(out, key=lambda o: int(o.request_id))

    def _verify_pooling_task(self, pooling_task: str | None) -> None:
        """PoolingOfflineMixin._verify_pooling_task."""
        if self.model_config.runner_type != "pooling":
            raise ValueError("LLM.encode() is only supported for pooling models. Try passing `--runner pooling` to "
                             "use the model as a pooling model.")
        if pooling_task is None:
            raise ValueError("pooling_task required for `LLM.encode`.")
        if pooling_task in ("classify", "token_classify") and pooling_task not in self.supported_tasks:
            raise ValueError("Classification API is not supported by this model. Try converting the model using "
                             "`--convert classify`.")
        if pooling_task != self.pooling_task:
            if pooling_task not in self.supported_tasks:
                raise ValueError(f"Unsupported task: {pooling_task!r} Supported tasks: {self.supported_tasks}")
            raise ValueError(f'Try switching the model\'s pooling_task via `PoolerConfig(task="{pooling_task}")`')


def vllm_module() -> SimpleNamespace:
    """What the provider's ``load_vllm`` returns: the stand-in engine with vLLM's classes."""
    return SimpleNamespace(LLM=FakeLLM, SamplingParams=V.SamplingParams, PoolingParams=V.PoolingParams)
