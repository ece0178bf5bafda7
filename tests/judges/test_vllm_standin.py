"""The vLLM stand-in (tests/judges/vllm_standin.py) against the installed vllm wheel's source, so
it cannot drift from vLLM: the copies in vllm_mirror.py behave like vLLM's own classes, the
fake ``LLM``'s methods have the real signatures, and its messages are vLLM's. The wheel's
pure-Python modules import without vLLM's CUDA dependencies (``make install-dev`` installs it
with ``--no-deps``); where it is absent these tests skip and say so."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import math
from pathlib import Path

import pytest

pytest.importorskip("transformers")

from tests.judges import vllm_mirror as mirror  # noqa: E402
from tests.judges import vllm_standin  # noqa: E402

SPEC = importlib.util.find_spec("vllm")
pytestmark = pytest.mark.skipif(SPEC is None, reason="the vllm wheel is not installed (make install-dev installs it)")


@pytest.fixture(scope="module")
def real():
    classes = vllm_standin._vllm_classes()
    assert classes is not None, "vllm is installed but its pure-Python classes do not import"
    return classes


def _source(relpath: str) -> str:
    return (Path(SPEC.submodule_search_locations[0]) / relpath).read_text(encoding="utf-8")


def _function(relpath: str, cls: str, name: str) -> ast.FunctionDef:
    tree = ast.parse(_source(relpath))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == name:
                    return item
    raise AssertionError(f"{cls}.{name} not found in vllm/{relpath}")


def _ast_params(fn: ast.FunctionDef) -> list[tuple[str, str]]:
    a = fn.args
    return ([(x.arg, "POSITIONAL_ONLY") for x in a.posonlyargs] + [(x.arg, "POSITIONAL_OR_KEYWORD") for x in a.args]
            + ([(a.vararg.arg, "VAR_POSITIONAL")] if a.vararg else [])
            + [(x.arg, "KEYWORD_ONLY") for x in a.kwonlyargs] + ([(a.kwarg.arg, "VAR_KEYWORD")] if a.kwarg else []))


def _params(fn) -> list[tuple[str, str]]:
    return [(p.name, p.kind.name) for p in inspect.signature(fn).parameters.values()]


# -- the copies behave like vLLM's classes -----------------------------------------------------

SAMPLING_CASES = [
    {}, {"n": 1, "temperature": 0.0, "max_tokens": None, "seed": 3},
    {"n": 1, "temperature": 0.7, "top_p": 0.9, "max_tokens": 99, "seed": 5, "stop": ["</verdict>"]},
    {"temperature": 0.001}, {"seed": -1}, {"stop": "x"}, {"logprobs": True}, {"logprobs": 5, "skip_special_tokens": False},
    {"temperature": 0, "top_p": 0.5, "top_k": 5}, {"temperature": 2.0},
    # refused
    {"temperature": 3}, {"temperature": -0.5}, {"temperature": math.nan}, {"top_p": 0}, {"top_p": 1.5},
    {"max_tokens": 0}, {"max_tokens": -5}, {"n": 0}, {"logprobs": -2}, {"stop": [""]},
    {"min_tokens": 5, "max_tokens": 2}, {"temperature": 0, "n": 2}, {"bogus": 1},
]
READ = ("n", "temperature", "top_p", "top_k", "min_p", "seed", "stop", "max_tokens", "logprobs", "skip_special_tokens",
        "include_stop_str_in_output")


def _outcome(cls, kwargs):
    try:
        obj = cls(**kwargs)
    except Exception as e:  # the type, vLLM's own message and the parameter it names
        return ("error", type(e).__name__, str(e.args[0]) if e.args else "", getattr(e, "parameter", None))
    return ("ok",) + tuple(getattr(obj, k) for k in READ if hasattr(obj, k))


@pytest.mark.parametrize("kwargs", SAMPLING_CASES, ids=[str(c) for c in SAMPLING_CASES])
def test_sampling_params_copy_accepts_and_refuses_like_vllm(real, kwargs):
    assert _outcome(mirror.SamplingParams, kwargs) == _outcome(real.SamplingParams, kwargs)


def test_pooling_params_copy_and_validation_error_match(real):
    def pooling(cls, kwargs):
        try:
            obj = cls(**kwargs)
        except TypeError as e:
            return ("error", str(e))
        return ("ok", obj.use_activation, obj.task)

    for kwargs in ({}, {"use_activation": False}, {"use_activation": True, "task": "classify"}, {"bogus": 1}):
        assert pooling(mirror.PoolingParams, kwargs) == pooling(real.PoolingParams, kwargs)
    for args in (("plain",), ("x", "input_tokens", 41), ("y", None, 3)):
        text, parameter, value = (list(args) + [None, None])[:3]
        assert str(mirror.VLLMValidationError(text, parameter=parameter, value=value)) == \
            str(real.VLLMValidationError(text, parameter=parameter, value=value))
    assert [c.__name__ for c in real.VLLMValidationError.__mro__][:4] == \
        ["VLLMValidationError", "VLLMClientError", "VLLMError", "Exception"]


def test_output_classes_copy_vllms_fields(real):
    # constructor parameters, in order: the copies are a prefix (they leave out the rest)
    for name in ("CompletionOutput", "RequestOutput", "PoolingRequestOutput", "RequestError", "Logprob",
                 "PoolingOutput"):
        mine = [p for p in _params(getattr(mirror, name)) if p[1] != "VAR_KEYWORD"]
        theirs = _params(getattr(real, name))
        assert theirs[:len(mine)] == mine or set(mine) <= set(theirs), name
    import torch

    for cls in (mirror, real):
        ok = cls.PoolingRequestOutput("0", cls.PoolingOutput(torch.tensor([1.5])), [1, 2], 0, True)
        assert cls.ClassificationRequestOutput.from_base(ok).outputs.probs == [1.5]
        failed = cls.PoolingRequestOutput("1", cls.PoolingOutput(torch.empty(0)), [1], 0, True,
                                          error=cls.RequestError(code="c", message="m"))
        out = cls.ClassificationRequestOutput.from_base(failed)
        assert out.outputs.probs == [] and out.error.message == "m"


@pytest.mark.parametrize("case", [(40, None, list(range(41))), (40, None, list(range(44))), (40, None, list(range(40))),
                                  (4, "x" * 13, None), (4, "x" * 12, None)])
def test_renderer_length_checks_match(real, case):
    limit, text, ids = case
    info = vllm_standin.SimpleNamespace(max_chars_per_token=3, pad_token_id=0, truncation_side="left")

    def run(cls):
        params = cls.TokenizeParams(max_total_tokens=limit, add_special_tokens=False)
        try:
            if text is not None:
                return ("ok", params.apply_pre_tokenization(info, {"prompt": text})["prompt"], params.get_encode_kwargs())
            return ("ok", params.apply_post_tokenization(info, {"prompt_token_ids": ids})["prompt_token_ids"])
        except Exception as e:
            return ("error", type(e).__name__, e.args[0], e.parameter)

    assert run(mirror) == run(real)


def test_engine_arg_names_are_vllms(real):
    assert mirror.ENGINE_ARG_NAMES <= real.ENGINE_ARG_NAMES


# -- the fake LLM has the real signatures and says what vLLM says ------------------------------

@pytest.mark.parametrize("method,relpath,cls", [("generate", "entrypoints/llm.py", "LLM"),
                                                ("chat", "entrypoints/llm.py", "LLM"),
                                                ("get_tokenizer", "entrypoints/llm.py", "LLM"),
                                                ("classify", "entrypoints/pooling/offline.py", "PoolingOfflineMixin"),
                                                ("encode", "entrypoints/pooling/offline.py", "PoolingOfflineMixin")])
def test_fake_llm_methods_have_vllms_signatures(method, relpath, cls):
    assert _params(getattr(vllm_standin.FakeLLM, method)) == _ast_params(_function(relpath, cls, method))


def test_fake_llm_accepts_exactly_vllms_constructor_parameters(real):
    params = _ast_params(_function("entrypoints/llm.py", "LLM", "__init__"))
    assert params[:2] == [("self", "POSITIONAL_OR_KEYWORD"), ("model", "POSITIONAL_OR_KEYWORD")]
    keyword = {name for name, kind in params if kind == "KEYWORD_ONLY"}
    assert keyword == vllm_standin.LLM_PARAMS | {"runner"}
    assert params[-1] == ("kwargs", "VAR_KEYWORD")  # the rest goes to EngineArgs


def test_fake_engine_messages_are_vllms():
    """The engine's checks the stand-in copies by hand (the module imports GPU-only packages)."""
    source = _source("v1/engine/input_processor.py")
    for fragment in ('f"The {prompt_type} prompt (length {prompt_len}) plus the number of "',
                     'f"requested output tokens (at least 1) is longer than the maximum "',
                     'f"model length of {max_prompt_len}. {suggestion}"',
                     'elif prompt_len == max_prompt_len and model_config.runner_type == "generate":',
                     '"number of text tokens (prompt + requested output tokens)."',
                     'raise VLLMValidationError(f"The {prompt_type} prompt cannot be empty")'):
        assert fragment in source, fragment
    assert 'FINISH_REASON_STRINGS = ("stop", "length", "abort", "error", "repetition")' in \
        _source("v1/engine/__init__.py")


def test_reward_architectures_are_vllms():
    from rmbench.judges.providers import vllm as provider

    tree = ast.parse(_source("model_executor/models/registry.py"))
    rewards = next(ast.literal_eval(node.value) for node in ast.walk(tree) if isinstance(node, ast.Assign)
                   and any(getattr(t, "id", None) == "_REWARD_MODELS" for t in node.targets))
    assert set(rewards) == set(provider.TOKEN_REWARD_ARCHS) | set(provider.PROCESS_REWARD_ARCHS)
    assert set(rewards) == set(vllm_standin.TOKEN_REWARD_ARCHS)
