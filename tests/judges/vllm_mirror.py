"""Copies of the few pure-Python vLLM classes the stand-in engine needs, for a machine where the
vllm wheel is not installed. Where it is (``make install-dev`` installs it without its CUDA
dependencies), tests/judges/vllm_standin.py uses vLLM's own classes instead, and
test_vllm_standin.py checks that these copies behave like them (same fields, same accepted and
refused settings, same messages), so the copies cannot drift unnoticed.

Each class names the vLLM file it copies (vLLM 0.33.0 and 0.34.0 agree on all of them).
Only what rmbench touches is copied; everything else is left out on purpose.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, fields
from typing import Any


# -- vllm/exceptions.py ------------------------------------------------------------------------
class VLLMError(Exception):
    pass


class VLLMClientError(VLLMError):
    pass


class VLLMValidationError(VLLMClientError):
    def __init__(self, message: str, *, parameter: str | None = None, value: Any = None) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.value = value

    def __str__(self) -> str:
        base = super().__str__()
        extras = []
        if self.parameter is not None:
            extras.append(f"parameter={self.parameter}")
        if self.value is not None:
            extras.append(f"value={self.value}")
        return f"{base} ({', '.join(extras)})" if extras else base


# -- vllm/sampling_params.py -------------------------------------------------------------------
_SAMPLING_EPS = 1e-5
_MAX_TEMP = 1e-2


class SamplingParams:
    """A msgspec Struct in vLLM: keyword arguments only, an unknown one is a TypeError, and
    ``__post_init__`` normalises and validates (``_verify_args``)."""

    _defaults: dict[str, Any] = {
        "n": 1, "presence_penalty": 0.0, "frequency_penalty": 0.0, "repetition_penalty": 1.0,
        "temperature": 1.0, "top_p": 1.0, "top_k": 0, "min_p": 0.0, "seed": None, "stop": None,
        "stop_token_ids": None, "ignore_eos": False, "max_tokens": 16, "min_tokens": 0, "logprobs": None,
        "prompt_logprobs": None, "detokenize": True, "skip_special_tokens": True,
        "spaces_between_special_tokens": True, "include_stop_str_in_output": False, "bad_words": None,
        "structured_outputs": None, "logit_bias": None, "allowed_token_ids": None, "extra_args": None,
    }

    def __init__(self, **kwargs: Any) -> None:
        for key in kwargs:
            if key not in self._defaults:
                raise TypeError(f"Unexpected keyword argument '{key}'")
        for key, default in self._defaults.items():
            setattr(self, key, kwargs.get(key, copy.copy(default)))
        self.__post_init__()

    def __post_init__(self) -> None:
        if 0 < self.temperature < _MAX_TEMP:
            self.temperature = max(self.temperature, _MAX_TEMP)
        if self.seed == -1:
            self.seed = None
        if self.stop is None:
            self.stop = []
        elif isinstance(self.stop, str):
            self.stop = [self.stop]
        self.stop_token_ids = [] if self.stop_token_ids is None else list(dict.fromkeys(self.stop_token_ids))
        self.bad_words = [] if self.bad_words is None else list(dict.fromkeys(self.bad_words))
        if self.logprobs is True:
            self.logprobs = 1
        if self.prompt_logprobs is True:
            self.prompt_logprobs = 1
        self._verify_args()
        if self.temperature < _SAMPLING_EPS:  # greedy
            self.top_p = 1.0
            self.top_k = 0
            self.min_p = 0.0
            if self.n > 1:
                raise VLLMValidationError(f"n must be 1 when using greedy sampling, got {self.n}.")

    def _verify_args(self) -> None:
        if not isinstance(self.n, int):
            raise VLLMValidationError(f"n must be an int, but is of type {type(self.n)}")
        if self.n < 1:
            raise VLLMValidationError(f"n must be at least 1, got {self.n}.")
        if not -2.0 <= self.presence_penalty <= 2.0:
            raise VLLMValidationError(f"presence_penalty must be in [-2, 2], got {self.presence_penalty}.")
        if not -2.0 <= self.frequency_penalty <= 2.0:
            raise VLLMValidationError(f"frequency_penalty must be in [-2, 2], got {self.frequency_penalty}.")
        if not math.isfinite(self.temperature):
            raise VLLMValidationError(f"temperature must be a finite number, got {self.temperature}.",
                                      parameter="temperature", value=self.temperature)
        if self.temperature < 0.0:
            raise VLLMValidationError(f"temperature must be non-negative, got {self.temperature}.",
                                      parameter="temperature", value=self.temperature)
        if self.temperature > 2.0:
            raise VLLMValidationError(f"temperature must be in [0, 2], got {self.temperature}.",
                                      parameter="temperature", value=self.temperature)
        if not 0.0 < self.top_p <= 1.0:
            raise VLLMValidationError(f"top_p must be in (0, 1], got {self.top_p}.", parameter="top_p",
                                      value=self.top_p)
        if self.top_k < -1:
            raise VLLMValidationError(f"top_k must be 0 (disable), or at least 1, got {self.top_k}.")
        if not 0.0 <= self.min_p <= 1.0:
            raise VLLMValidationError(f"min_p must be in [0, 1], got {self.min_p}.")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise VLLMValidationError(f"max_tokens must be at least 1, got {self.max_tokens}.",
                                      parameter="max_tokens", value=self.max_tokens)
        if self.min_tokens < 0:
            raise VLLMValidationError(f"min_tokens must be greater than or equal to 0, got {self.min_tokens}.")
        if self.max_tokens is not None and self.min_tokens > self.max_tokens:
            raise VLLMValidationError(f"min_tokens must be less than or equal to max_tokens={self.max_tokens}, "
                                      f"got {self.min_tokens}.")
        if self.logprobs is not None and self.logprobs != -1 and self.logprobs < 0:
            raise VLLMValidationError(f"logprobs must be non-negative or -1, got {self.logprobs}.",
                                      parameter="logprobs", value=self.logprobs)
        if any(not s for s in self.stop):
            raise VLLMValidationError("stop cannot contain an empty string.")

    def clone(self) -> "SamplingParams":
        return copy.deepcopy(self)


# -- vllm/pooling_params.py --------------------------------------------------------------------
class PoolingParams:
    _defaults: dict[str, Any] = {"use_activation": None, "dimensions": None, "step_tag_id": None,
                                 "returned_token_ids": None, "task": None, "requires_token_ids": False,
                                 "skip_reading_prefix_cache": None, "extra_kwargs": None}

    def __init__(self, **kwargs: Any) -> None:
        for key in kwargs:
            if key not in self._defaults:
                raise TypeError(f"Unexpected keyword argument '{key}'")
        for key, default in self._defaults.items():
            setattr(self, key, kwargs.get(key, default))

    def clone(self) -> "PoolingParams":
        return copy.deepcopy(self)


# -- vllm/logprobs.py --------------------------------------------------------------------------
@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


# -- vllm/outputs.py ---------------------------------------------------------------------------
@dataclass(frozen=True)
class RequestError:
    code: str
    message: str
    retryable: bool = False


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: Any
    cumulative_logprob: float | None
    logprobs: Any
    routed_experts: Any = None
    finish_reason: str | None = None
    stop_reason: int | str | None = None
    lora_request: Any = None


class RequestOutput:
    def __init__(self, request_id: str, prompt: str | None, prompt_token_ids: list[int] | None,
                 prompt_logprobs: Any, outputs: list[CompletionOutput], finished: bool, metrics: Any = None,
                 lora_request: Any = None, encoder_prompt: str | None = None,
                 encoder_prompt_token_ids: list[int] | None = None, num_cached_tokens: int | None = None,
                 num_cache_creation_tokens: int | None = None, **kwargs: Any) -> None:
        fields_ = dict(locals())
        del fields_["self"], fields_["kwargs"]
        self.__dict__.update(fields_)  # every parameter becomes the attribute of that name


@dataclass
class PoolingOutput:
    data: Any  # a torch.Tensor in vLLM


class PoolingRequestOutput:
    def __init__(self, request_id: str, outputs: Any, prompt_token_ids: list[int], num_cached_tokens: int,
                 finished: bool, *, error: RequestError | None = None, late_chunking: Any = None) -> None:
        fields_ = dict(locals())
        del fields_["self"]
        self.__dict__.update(fields_)


@dataclass
class ClassificationOutput:
    probs: list[float]

    @staticmethod
    def from_base(pooling_output: PoolingOutput) -> "ClassificationOutput":
        data = pooling_output.data
        if data.ndim != 1:
            raise ValueError("pooled_data should be a 1-D probability vector")
        return ClassificationOutput(data.tolist())


class ClassificationRequestOutput(PoolingRequestOutput):
    @staticmethod
    def from_base(request_output: PoolingRequestOutput) -> "ClassificationRequestOutput":
        outputs = ClassificationOutput([]) if request_output.error is not None \
            else ClassificationOutput.from_base(request_output.outputs)
        return ClassificationRequestOutput(request_id=request_output.request_id, outputs=outputs,
                                           prompt_token_ids=request_output.prompt_token_ids,
                                           num_cached_tokens=request_output.num_cached_tokens,
                                           finished=request_output.finished, error=request_output.error)


# -- vllm/renderers/params.py: the renderer's length checks (no truncation, no padding) --------
@dataclass(frozen=True)
class TokenizeParams:
    max_total_tokens: int | None
    max_output_tokens: int | None = 0
    add_special_tokens: bool = True

    @property
    def max_input_tokens(self) -> int | None:
        return self.max_total_tokens

    def get_encode_kwargs(self) -> dict[str, Any]:
        max_length = None if self.max_input_tokens is None else self.max_input_tokens + 1
        return dict(truncation=max_length is not None, max_length=max_length,
                    add_special_tokens=self.add_special_tokens)

    def apply_pre_tokenization(self, tokenizer: Any, prompt: dict) -> dict:
        limit = self.max_input_tokens
        if limit is None or tokenizer is None:
            return prompt
        max_chars = limit * tokenizer.max_chars_per_token
        text = prompt["prompt"]
        if len(text) > max_chars:
            raise VLLMValidationError(
                f"This model's maximum context length is {self.max_total_tokens} tokens. However, your prompt "
                f"contains {len(text)} characters (more than {max_chars} characters, which is the upper bound "
                f"for {limit} input tokens). Please reduce the length of the input prompt.",
                parameter="input_text", value=len(text))
        return prompt

    def apply_post_tokenization(self, tokenizer: Any, prompt: dict) -> dict:
        limit = self.max_input_tokens
        tokens = prompt["prompt_token_ids"]
        if limit is not None and len(tokens) > limit:
            qualifier = "at least " if len(tokens) == limit + 1 else ""
            raise VLLMValidationError(
                f"This model's maximum context length is {self.max_total_tokens} tokens. However, your prompt "
                f"contains {qualifier}{len(tokens)} input tokens, which exceeds this limit even without any "
                "output tokens. Please reduce the length of the input prompt.",
                parameter="input_tokens", value=len(tokens))
        return prompt


# -- vllm/engine/arg_utils.py: EngineArgs fields the tests pass through LLM(**kwargs) ----------
ENGINE_ARG_NAMES = frozenset({
    "max_model_len", "enable_prefix_caching", "pipeline_parallel_size", "data_parallel_size", "max_num_seqs",
    "max_num_batched_tokens", "kv_cache_dtype", "max_logprobs", "disable_log_stats",
    "distributed_executor_backend", "enable_chunked_prefill", "block_size", "download_dir", "load_format",
    "model_impl", "generation_config", "logprobs_mode",
})


def dataclass_field_names(cls) -> list[str]:
    return [f.name for f in fields(cls)]
