"""``llamacpp/<file.gguf>``: GGUF models in process through llama-cpp-python (extra
``rmbench[llamacpp]``), on CPU, Apple silicon or a GPU build of llama.cpp.

- The model: a local ``.gguf`` path, or a hub-style ``owner/repo/file.gguf`` that is already in
  the Hugging Face cache (rmbench never downloads at run time).
- Chat formatting is llama-cpp-python's own: the chat template stored in the GGUF metadata,
  or ``--model-args chat_format=NAME`` (one of the library's named formats, e.g. chatml).
  A model with neither is refused rather than given a guessed format.
- Generative judges only (pairwise, rating and best-of-N templates). Greedy unless ``--gen
  temperature`` > 0; sampled requests carry ``--gen seed`` or a seed derived from the run seed
  and the request, so sampled runs repeat. No repetition penalty, top-k or min-p: the model's
  plain distribution, as ``hf/`` and ``vllm/`` sample it.
- Batching, as far as the library allows: llama-cpp-python runs one sequence at a time, so the
  requests the Judge hands over together are generated one after another, **ordered so that
  consecutive prompts share their longest prefix** (sorted by token ids: comparisons of one
  conversation with the same first response follow each other). llama.cpp keeps the evaluated
  prompt in its KV cache and evaluates only what differs from the previous one; on RM-Bench,
  where each first response opens 3 of a conversation's 18 comparisons, this evaluates 1.5x
  fewer prompt tokens than the arrival order (bench/RESULTS.md). ``--model-args prefix_order=false`` keeps the arrival order. A prompt
  evaluated from a reused prefix gets logits a hair off a full evaluation (llama.cpp's kernels
  differ by batch shape), which can move a sampled token and, rarely, a greedy one; so every
  batch starts from an empty cache and is ordered the same way each time: the same command on
  the same data repeats exactly, while a resumed run (other batches) may differ in a few tokens.
- A prompt that does not fit the context (``n_ctx``) is a ``too_long`` failure, counted and
  reported in run.json; generation stops at the context end (``truncated``).
- ``--gen logprobs=true``: the top alternatives (and the sampled token) at every generated
  position, read from the logits of each step (no ``logits_all``), so verdict probabilities
  (``p_labels``) are recorded; see judges/logprobs.py.

``--model-args``: ``n_ctx`` (default: ``--max-length``, else the model's training context up to
8192), ``n_threads`` and ``n_threads_batch`` (llama.cpp's defaults: half the cores, all the
cores), ``n_batch`` (prompt tokens per forward pass, 512), ``n_gpu_layers`` (0; -1 offloads
every layer on a GPU or Metal build), ``chat_format``, ``prefix_order`` (true), ``max_batch``.
run.json ``stats.provider`` holds prompt and generation token counts, times and tokens/s.
"""

from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path
from typing import Any, Sequence

from rmbench.errors import UserError, import_extra
from rmbench.judges.base import GENERATIVE, BaseProvider, Failure, GenOutput, GenRequest
from rmbench.judges.local.common import (
    ArgReader,
    check_gen_settings,
    sampling_seed_identity,
    too_long_message,
)
from rmbench.judges.logprobs import TOP_LOGPROBS, incremental_texts, position
from rmbench.seeding import request_seed
from rmbench.types import API_ERROR, TOO_LONG

DEFAULT_MAX_TOKENS = 2048
DEFAULT_N_CTX_CAP = 8192  # a model trained on 128k tokens would otherwise reserve a huge KV cache


def require_llama_cpp():
    return import_extra("llama_cpp", "llamacpp", "the llamacpp/ provider")


def resolve_gguf(name: str) -> Path:
    """The local file a model name points at: a path, or ``owner/repo/file.gguf`` found in the
    Hugging Face cache without any network access."""
    p = Path(name).expanduser()
    if p.is_file():
        return p.resolve()
    if p.is_dir():
        raise UserError(f"llamacpp/{name} is a folder; give the .gguf file itself")
    if not name.lower().endswith(".gguf"):
        raise UserError(f"llamacpp/{name}: no such file (llamacpp/ models are .gguf files)")
    parts = name.split("/")
    if name.startswith(("/", ".", "~")) or len(parts) < 3:
        raise UserError(f"llamacpp/{name}: no such file")
    repo, filename = "/".join(parts[:2]), "/".join(parts[2:])
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo_id=repo, filename=filename, local_files_only=True))
    except Exception:
        raise UserError(f"llamacpp/{name}: not a local file, and '{filename}' of {repo} is not in the Hugging Face "
                        f"cache; rmbench never downloads at run time: fetch it first (hf download {repo} "
                        f"{filename}) or give the file's path") from None


def file_fingerprint(path: Path) -> str:
    """Size plus the first and last MiB of a weights file: a retrained or requantised file
    under the same name gets new cache keys."""
    h = hashlib.sha256()
    size = path.stat().st_size
    h.update(str(size).encode("ascii"))
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
        if size > 2 << 20:
            f.seek(size - (1 << 20))
            h.update(f.read())
    return h.hexdigest()[:16]


class _Captured(Exception):
    def __init__(self, prompt: list[int], stop: list[str]):
        self.prompt = prompt
        self.stop = stop


class _PromptOnly:
    """Stands in for the model inside a llama-cpp-python chat handler: the handler renders and
    tokenizes the chat (the library's own formatting, whatever the format), then asks for a
    completion, which is where we take the prompt tokens and its stop strings."""

    verbose = False

    def __init__(self, llm):
        self._llm = llm

    def tokenize(self, *args, **kwargs):
        return self._llm.tokenize(*args, **kwargs)

    def create_completion(self, prompt=None, stop=None, **_kwargs):
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        raise _Captured(list(prompt), [s for s in stops if s])


def chat_handler(llama_cpp, llm):
    """The chat handler llama-cpp-python formats ``llm``'s chats with: the GGUF's template or
    the named ``chat_format``."""
    return llm.chat_handler or llm._chat_handlers.get(llm.chat_format) or \
        llama_cpp.llama_chat_format.get_chat_completion_handler(llm.chat_format)


def render_tokens(handler, llm, messages: Sequence[dict],
                  enable_thinking: bool | None = None) -> tuple[list[int], list[str]]:
    """A chat rendered and tokenized by the library's chat handler, and its stop strings."""
    kwargs = {"enable_thinking": enable_thinking} if enable_thinking is not None else {}
    try:
        handler(llama=_PromptOnly(llm), messages=[dict(m) for m in messages], **kwargs)
    except _Captured as c:
        return c.prompt, c.stop
    raise RuntimeError("the chat handler asked for no completion")


class Provider(BaseProvider):
    kind = GENERATIVE
    batched = True
    gives_logprobs = True

    def __init__(self, name: str, config):
        super().__init__(name, config)
        check_gen_settings(config.gen, "llamacpp")
        if config.judge_type not in (None, GENERATIVE):
            raise UserError("llamacpp/ models are generative judges (--judge-type generative)")
        a = ArgReader(self.model_args, "llamacpp")
        n_ctx = a.int("n_ctx", None, minimum=16)
        n_threads = a.int("n_threads", None, minimum=1)
        n_threads_batch = a.int("n_threads_batch", None, minimum=1)
        n_batch = a.int("n_batch", 512, minimum=1)
        self.n_gpu_layers = a.int("n_gpu_layers", 0, minimum=-1)
        self.chat_format = a.str("chat_format", None)
        self.prefix_order = a.bool("prefix_order", True)
        a.int("max_batch", None, minimum=1)
        a.finish()
        self.path = resolve_gguf(name)
        llama_cpp = require_llama_cpp()
        self._lib = llama_cpp
        self.fp = file_fingerprint(self.path)

        if n_ctx is None:
            n_ctx = int(config.max_length) if config.max_length else min(self._trained_context(), DEFAULT_N_CTX_CAP)
        try:
            self.llm = llama_cpp.Llama(model_path=str(self.path), n_ctx=n_ctx, n_batch=n_batch,
                                       n_threads=n_threads, n_threads_batch=n_threads_batch,
                                       n_gpu_layers=self.n_gpu_layers, chat_format=self.chat_format,
                                       seed=config.seed, verbose=False)
        except Exception as e:
            raise UserError(f"llama.cpp could not load {self.path}: {_one_line(e)}") from None
        # llama.cpp may round a small context up; the library's token buffers keep the size asked for
        self.n_ctx = min(int(self.llm.n_ctx()), len(self.llm.input_ids))
        self.threads = (self.llm.n_threads, self.llm.n_threads_batch)
        meta = self.llm.metadata or {}
        if self.chat_format is None and "tokenizer.chat_template" not in meta:
            raise UserError(f"{self.path.name} has no chat template in its metadata; name one with --model-args "
                            "chat_format=NAME (e.g. chatml, llama-3, gemma)")
        try:
            self.handler = chat_handler(llama_cpp, self.llm)
        except Exception as e:
            raise UserError(f"--model-args chat_format={self.chat_format}: {_one_line(e)}") from None
        template = meta.get("tokenizer.chat_template") if self.chat_format is None else None
        self.template_id = (hashlib.sha256(template.encode("utf-8")).hexdigest()[:16] if template
                            else f"format:{self.llm.chat_format}")
        self.vocab = self.llm._model.vocab
        self.n_vocab = int(self.llm.n_vocab())
        self.counts = {"too_long": 0}
        self.work = {"prompts": 0, "prompt_tokens": 0, "prompt_tokens_reused": 0, "prompt_seconds": 0.0,
                     "generated_tokens": 0, "generation_seconds": 0.0}
        self._piece_cache: dict[int, tuple[bytes, str | None]] = {}

    def _trained_context(self) -> int:
        """The model's training context (a throw-away 16-token context on the memory-mapped file)."""
        try:
            probe = self._lib.Llama(model_path=str(self.path), n_ctx=16, n_batch=16, verbose=False)
        except Exception as e:
            raise UserError(f"llama.cpp could not read {self.path}: {_one_line(e)}") from None
        try:
            return int(probe._model.n_ctx_train()) or DEFAULT_N_CTX_CAP
        finally:
            probe.close()

    # -- identity ------------------------------------------------------------------------
    def cache_identity(self) -> dict[str, Any]:
        d: dict[str, Any] = {"provider": "llamacpp", "model": self.name, "file_fingerprint": self.fp,
                             "chat_template": self.template_id, "n_ctx": self.n_ctx}
        d.update(sampling_seed_identity(self.config))
        return d

    def describe(self) -> dict[str, Any]:
        return {**self.cache_identity(), "file": str(self.path), "n_gpu_layers": self.n_gpu_layers,
                "n_threads": self.threads[0], "n_threads_batch": self.threads[1],
                "prefix_order": self.prefix_order, "llama_cpp_python": getattr(self._lib, "__version__", None)}

    def run_stats(self) -> dict[str, Any]:
        w = self.work
        out: dict[str, Any] = {**self.counts, **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in w.items()}}
        evaluated = w["prompt_tokens"] - w["prompt_tokens_reused"]
        if w["prompt_seconds"] > 0:
            out["prompt_tokens_per_second"] = round(evaluated / w["prompt_seconds"], 1)
        if w["generation_seconds"] > 0:
            out["generation_tokens_per_second"] = round(w["generated_tokens"] / w["generation_seconds"], 1)
        return out

    # -- prompts -------------------------------------------------------------------------
    def prompt_tokens(self, req: GenRequest) -> tuple[list[int], list[str]]:
        """The chat rendered and tokenized by the library's chat handler, and its stop strings."""
        return render_tokens(self.handler, self.llm, req.messages, req.gen.enable_thinking)

    # -- generation ----------------------------------------------------------------------
    def generate_batch(self, reqs: Sequence[GenRequest]) -> list[GenOutput | Failure]:
        results: list[GenOutput | Failure | None] = [None] * len(reqs)
        prompts: dict[int, tuple[list[int], list[str]]] = {}
        for k, req in enumerate(reqs):
            try:
                tokens, stop = self.prompt_tokens(req)
            except Exception as e:  # a template that cannot render this conversation
                results[k] = Failure(API_ERROR, f"chat template: {_one_line(e)}")
                continue
            if len(tokens) >= self.n_ctx:
                self.counts["too_long"] += 1
                results[k] = Failure(TOO_LONG, too_long_message(len(tokens), self.n_ctx))
                continue
            prompts[k] = (tokens, stop)
        order = sorted(prompts, key=lambda k: prompts[k][0]) if self.prefix_order else sorted(prompts)
        # Start every batch from an empty KV cache: what a prompt reuses then depends only on the
        # batch itself (a reused prefix gives logits a hair off a full evaluation, enough to move
        # a sampled token), so the same requests give the same outputs on every run.
        self.llm.reset()
        for k in order:
            tokens, stop = prompts[k]
            try:
                results[k] = self._generate(reqs[k], tokens, stop)
            except Exception as e:  # one failed generation fails its request, not the batch
                results[k] = Failure(API_ERROR, _one_line(e))
        return results  # type: ignore[return-value]

    def _seed(self, req: GenRequest) -> int | None:
        g = req.gen
        if not (g.temperature and g.temperature > 0):
            return None
        return g.seed if g.seed is not None else request_seed(self.config.seed, req.key)

    def _generate(self, req: GenRequest, prompt: list[int], stop_strings: list[str]) -> GenOutput:
        llm, lib, g = self.llm, self._lib, req.gen
        stops = list(g.stop or ()) + [s for s in stop_strings if s not in (g.stop or ())]
        max_new = max(1, min(g.max_tokens or DEFAULT_MAX_TOKENS, self.n_ctx - len(prompt)))
        seed = self._seed(req)
        sampled = seed is not None
        if sampled:
            llm.set_seed(seed)
        reused = _common_prefix(llm._input_ids.tolist(), prompt) if llm.n_tokens else 0
        self.work["prompts"] += 1
        self.work["prompt_tokens"] += len(prompt)
        self.work["prompt_tokens_reused"] += min(reused, len(prompt) - 1)
        want_lp = bool(g.logprobs)
        out_bytes = b""
        positions: list[dict[str, float]] = []
        n_out, finish, text = 0, "length", None
        t0 = time.perf_counter()
        t_first = None
        # temp 0 is llama.cpp's greedy sampler; no repetition penalty, top-k, min-p or typical-p
        stream = llm.generate(prompt, temp=float(g.temperature) if sampled else 0.0, top_p=float(g.top_p or 1.0),
                              top_k=0, min_p=0.0, typical_p=1.0, repeat_penalty=1.0)
        try:
            for token in stream:
                if t_first is None:
                    t_first = time.perf_counter()
                n_out += 1
                if lib.llama_vocab_is_eog(self.vocab, token):
                    finish = "stop"
                    break
                if want_lp:
                    positions.append(self._position(token, out_bytes))
                out_bytes += self._piece(token)[0]
                if stops:
                    so_far = out_bytes.decode("utf-8", errors="ignore")
                    cut = min((p for p in (so_far.find(s) for s in stops) if p >= 0), default=-1)
                    if cut >= 0:
                        text, finish = so_far[:cut], "stop"
                        break
                if n_out >= max_new:
                    break
        finally:
            stream.close()
        t1 = time.perf_counter()
        first = t_first if t_first is not None else t1
        self.work["prompt_seconds"] += first - t0
        self.work["generation_seconds"] += t1 - first
        self.work["generated_tokens"] += n_out
        if text is None:
            text = out_bytes.decode("utf-8", errors="ignore")
        return GenOutput(text=text, finish_reason=finish, usage={"input_tokens": len(prompt), "output_tokens": n_out},
                         logprobs=positions if want_lp else None)

    def _piece(self, token: int) -> tuple[bytes, str | None]:
        """(the bytes a token adds to the text, its literal text when it is a special token
        that adds nothing, e.g. an end-of-turn marker)."""
        hit = self._piece_cache.get(token)
        if hit is None:
            plain = self._raw_piece(token, False)
            special = (self._raw_piece(token, True).decode("utf-8", errors="replace") or None) if not plain else None
            hit = self._piece_cache[token] = (plain, special)
        return hit

    def _raw_piece(self, token: int, special: bool) -> bytes:
        import ctypes

        size = 64
        buf = ctypes.create_string_buffer(size)
        n = self._lib.llama_token_to_piece(self.vocab, token, buf, size, 0, special)
        if n < 0:  # the piece needs -n bytes
            size = -n
            buf = ctypes.create_string_buffer(size)
            n = self._lib.llama_token_to_piece(self.vocab, token, buf, size, 0, special)
        return buf.raw[:max(0, n)]

    def _position(self, token: int, context: bytes) -> dict[str, float]:
        """The sampled token and the top alternatives at the step that produced ``token``, from
        the logits of that step (log-softmax over the whole vocabulary)."""
        import numpy as np

        ptr = self._lib.llama_get_logits_ith(self.llm._ctx.ctx, -1)
        logits = np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).astype(np.float64)
        top = np.argpartition(-logits, TOP_LOGPROBS)[:TOP_LOGPROBS] if self.n_vocab > TOP_LOGPROBS \
            else np.arange(self.n_vocab)
        ids = [int(token)] + [int(t) for t in top if int(t) != token]
        hi = float(logits.max())
        lse = hi + math.log(float(np.exp(logits - hi).sum()))
        pieces = [self._piece(t) for t in ids]
        texts = incremental_texts(context, [p for p, _ in pieces])
        return position((special if special is not None else text, float(logits[t]) - lse)
                        for t, (_, special), text in zip(ids, pieces, texts))

    def close(self) -> None:
        llm, self.llm = getattr(self, "llm", None), None
        if llm is not None:
            llm.close()


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:300]
