"""``vllm/<hub-id-or-path>``: local models through vLLM's offline ``LLM`` (extra ``rmbench[vllm]``;
written against vLLM 0.33 and 0.34, whose offline API is the same where rmbench uses it).

What vLLM is given. rmbench renders every conversation once through the chat template and
counts its tokens. With vLLM's usual (Hugging Face) renderer it then hands vLLM exactly those
token ids (``{"prompt_token_ids": ids}``), so vLLM judges what rmbench measured (the same ids
``hf/`` uses, one BOS even where a template writes two):

- generative judges: one ``LLM.generate`` call for everything the Judge's batch queue hands over
  (thousands of prompts; vLLM schedules them and reuses the shared prompt prefix, which the
  judge templates put before the responses);
- scalar reward models: ``LLM(model, runner="pooling")``; sequence-classification heads through
  ``LLM.classify``, per-token reward models (``Qwen2ForRewardModel``, ``InternLM2ForRewardModel``)
  through ``LLM.encode(pooling_task="token_classify")`` and the value at the last token; the
  activation is off (the raw head output).

With another renderer (``tokenizer_mode=mistral``, DeepSeek's or Kimi's encoders, ...) or
``--model-args render=vllm``, vLLM renders: ``LLM.chat`` for generation, the rendered text for
scoring. rmbench's token count is then an estimate, and a prompt vLLM finds too long after all is
isolated (the call is split in halves until it stands alone) and recorded as ``too_long``.

Failures, never cached: prompts past the context are ``too_long`` (never cut); outputs that
finish with ``error`` or ``abort`` and pooling requests that carry an error are ``api_error``;
any other request-level refusal of vLLM (``VLLMValidationError``) fails only its own prompt.

Generation: greedy unless ``--gen temperature`` > 0; every request carries a seed (``--gen
seed``, or one derived from the run seed and the request). Settings vLLM refuses (temperature
above 2, top_p outside (0, 1], max_tokens below 1) and negative seeds are a one-line error at
start-up. Sampled outputs repeat exactly only with vLLM's batch invariance
(``VLLM_BATCH_INVARIANT=1``): see docs/vllm.md. ``--gen logprobs=true`` fills
``GenOutput.logprobs`` with the top ``top_logprobs`` alternatives at every generated token.

The judge type comes from the model config's ``architectures`` (``--judge-type`` overrides).
``--model-args`` go to ``vllm.LLM`` unchanged (tensor_parallel_size, pipeline_parallel_size,
max_model_len, gpu_memory_utilization, dtype, seed, enable_prefix_caching, quantization, ...)
except rmbench's own: max_batch, label_index, chat_template (a file), render (auto|rmbench|vllm),
skip_special_tokens (auto|true|false), top_logprobs (5). ``--max-length`` sets max_model_len
when that is not given. Prompts longer than the context are ``too_long`` failures (counted and
reported), never cut, except under ``--protocol official``, which cuts a scalar model's inputs per
task as the benchmark's official script does (``truncate_inputs``; the cut ids go to vLLM as a
token prompt).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Sequence

from rmbench.errors import MissingExtraError, UserError
from rmbench.judges.base import GENERATIVE, SCALAR, BaseProvider, Failure, GenOutput, GenRequest, ScoreItem
from rmbench.judges.local import common as local
from rmbench.judges.parsers import THINK_END
from rmbench.seeding import request_seed
from rmbench.types import API_ERROR, TOO_LONG

# Engine settings that change outputs (recorded in the judge's identity and cache key).
RESULT_SETTINGS = ("dtype", "quantization", "revision", "tokenizer", "max_model_len", "hf_overrides",
                   "tokenizer_mode")

# How vLLM says a prompt is too long. The renderer (vllm/renderers/params.py, TokenizeParams)
# checks every prompt against max_model_len with "This model's maximum context length is N
# tokens. However, your prompt contains M input tokens ..." (parameter "input_tokens"; for text
# prompts first a character bound, parameter "input_text"); the engine
# (vllm/v1/engine/input_processor.py, _validate_prompt_len) then refuses a generation prompt of
# exactly max_model_len tokens with "... is longer than the maximum model length of N".
LENGTH_PARAMETERS = ("input_tokens", "input_text")
LENGTH_ERROR_HINTS = ("maximum context length", "longer than the maximum model length")

# Reward models vLLM serves as a value per token (vllm/model_executor/models/registry.py,
# _REWARD_MODELS; pooled with pooling_task="token_classify"): the reward is the last token's.
TOKEN_REWARD_ARCHS = ("Qwen2ForRewardModel", "InternLM2ForRewardModel")
# ... and one rmbench cannot use: a score per reasoning step, not per response.
PROCESS_REWARD_ARCHS = ("Qwen2ForProcessRewardModel",)

RENDER_CHOICES = ("auto", "rmbench", "vllm")
DEFAULT_TOP_LOGPROBS = 5
VLLM_MAX_LOGPROBS = 20  # vLLM's default ModelConfig.max_logprobs (vllm/config/model.py)


def load_vllm():
    """The vllm module (or a stand-in with the same surface: LLM, SamplingParams, PoolingParams).
    Tests replace this function; nothing else in this module imports vllm."""
    try:
        import vllm

        # the package imports lazily: touch what rmbench uses so a broken install fails here
        vllm.LLM, vllm.SamplingParams, vllm.PoolingParams  # noqa: B018
    except ModuleNotFoundError as e:
        if e.name == "vllm":
            raise MissingExtraError("vllm", "the vllm/ provider") from None
        raise UserError(f"vllm is installed but does not import ({local.first_line(e)}); the vllm/ provider needs a "
                        "complete install: pip install 'rmbench[vllm]' on a machine with a GPU") from None
    except ImportError as e:
        raise UserError(f"vllm is installed but does not import ({local.first_line(e)}); the vllm/ provider needs a "
                        "complete install: pip install 'rmbench[vllm]' on a machine with a GPU") from None
    return vllm


def message(exc: BaseException) -> str:
    """An exception's own message, first line (a VLLMValidationError's str() appends its
    parameter and value, which we read separately)."""
    text = str(exc.args[0]) if exc.args and isinstance(exc.args[0], str) else str(exc)
    text = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return text[:300]


def is_length_error(exc: BaseException) -> bool:
    return getattr(exc, "parameter", None) in LENGTH_PARAMETERS or any(h in str(exc) for h in LENGTH_ERROR_HINTS)


def is_request_error(exc: BaseException) -> bool:
    """vLLM refused one prompt of a call (vllm/exceptions.py: VLLMClientError and subclasses),
    as opposed to an engine failure that concerns the whole call."""
    return is_length_error(exc) or any(c.__name__ == "VLLMClientError" for c in type(exc).__mro__)


def error_text(err: Any) -> str:
    """A vllm.outputs.RequestError (code, message, retryable) as one line, not a dataclass repr."""
    msg = getattr(err, "message", None)
    if msg is None:
        return str(err)[:300]
    code = getattr(err, "code", None)
    return (f"{code}: {msg}" if code else str(msg))[:300]


def marks_special(tokenizer, token: str) -> bool:
    """Whether the tokenizer treats ``token`` as a special token, which vLLM's detokenizer drops
    from the output text by default (SamplingParams.skip_special_tokens)."""
    if token in (getattr(tokenizer, "all_special_tokens", None) or ()):
        return True
    for added in (getattr(tokenizer, "added_tokens_decoder", None) or {}).values():
        if getattr(added, "content", str(added)) == token and getattr(added, "special", False):
            return True
    return False


class Provider(BaseProvider):
    kind = GENERATIVE
    batched = True
    judge_types = (GENERATIVE, SCALAR)

    def __init__(self, name: str, config):
        super().__init__(name, config)
        local.check_gen_settings(config.gen, "vllm")
        a = local.ArgReader(self.model_args, "vllm")
        a.int("max_batch", None, minimum=1)
        label_index = a.int("label_index", None, minimum=0)
        template_path = a.str("chat_template", None)
        render_choice = a.str("render", "auto", choices=RENDER_CHOICES)
        skip_special = a.get("skip_special_tokens", "auto")
        if skip_special != "auto" and not isinstance(skip_special, bool):
            raise UserError(f"--model-args skip_special_tokens={skip_special!r}: vllm/ expects auto, true or false")
        self.top_logprobs = a.int("top_logprobs", DEFAULT_TOP_LOGPROBS, minimum=0)
        if "truncate" in self.model_args:
            raise UserError("--model-args truncate is not supported by vllm/: over-long inputs are reported as "
                            "too_long (use hf/ with truncate=true to cut them)")
        self.engine_args: dict[str, Any] = a.rest()
        self.engine_args.setdefault("seed", config.seed)
        if config.max_length and "max_model_len" not in self.engine_args:
            self.engine_args["max_model_len"] = int(config.max_length)
        max_logprobs = self.engine_args.get("max_logprobs", VLLM_MAX_LOGPROBS)
        if isinstance(max_logprobs, int) and max_logprobs >= 0 and self.top_logprobs > max_logprobs:
            raise UserError(f"--model-args top_logprobs={self.top_logprobs}: vLLM returns at most {max_logprobs} "
                            "(raise it with --model-args max_logprobs=N)")

        self.vllm = load_vllm()
        revision = self.engine_args.get("revision")
        # the model's config.json: always for a local folder, from the hub only to detect the type
        model_config: dict[str, Any] = {}
        if not config.judge_type or Path(name).expanduser().is_dir():
            model_config = local.read_model_config(name, revision)
        if config.judge_type:
            self.judge_type = local.resolve_judge_type(config.judge_type, name, revision, self.judge_types)
        else:
            self.judge_type = local.detect_judge_type(model_config)
        self.judge_kind = self.judge_type
        self.chat_template = local.load_chat_template(template_path)
        self.pooling_task: str | None = None
        self.label_index = 0
        self.skip_special_tokens = True  # decided from the tokenizer once it is loaded
        if self.judge_type == SCALAR:
            self.pooling_task = self._pooling_task(name, model_config.get("architectures") or [])
            labels = 1 if self.pooling_task == "token_classify" else \
                int(model_config.get("num_labels") or len(model_config.get("id2label") or {}) or 1)
            self.label_index = local.label_index_for(name, labels, label_index)
        else:
            self._check_sampling()  # bad --gen settings fail here, before any weights load

        runner = "pooling" if self.judge_type == SCALAR else "generate"
        try:
            self.llm = self.vllm.LLM(name, runner=runner, **self.engine_args)
        except TypeError as e:
            raise UserError(f"vllm.LLM rejected the --model-args: {local.first_line(e)}") from None
        except Exception as e:
            raise UserError(f"vLLM could not load '{name}': {local.first_line(e)}") from None
        self.tokenizer = self.llm.get_tokenizer()
        self.max_model_len = int(self.llm.model_config.max_model_len)
        if self.judge_type == SCALAR:
            self._check_pooling_task(name)
        renderer = type(getattr(self.llm, "renderer", None)).__name__
        self.render = render_choice if render_choice != "auto" else ("rmbench" if renderer == "HfRenderer" else "vllm")
        template = self.chat_template or getattr(self.tokenizer, "chat_template", None)
        # vLLM's own renderers (Mistral, DeepSeek, Kimi ...) need no Jinja template; rmbench then
        # cannot count tokens and leaves the length checks to vLLM
        self.counting = bool(template) or self.render == "rmbench" or self.judge_type == SCALAR
        self.template_sha = local.chat_template_sha(name, template) if self.counting else f"vllm:{renderer}"
        # a reasoning model whose </think> is a special token: keep it in the text, or the
        # reasoning would be read as the answer (vLLM drops special tokens by default)
        self.skip_special_tokens = (not marks_special(self.tokenizer, THINK_END)) if skip_special == "auto" \
            else bool(skip_special)
        self.fp = local.fingerprint(name)
        self.counts = {"too_long": 0, "truncated_inputs": 0}
        self.calls = {"generate": 0, "chat": 0, "classify": 0, "encode": 0}
        self.task_truncation: dict[str, dict[str, Any]] = {}   # per task: {"tokens", "side"} (official protocol)

    # -- set-up checks -------------------------------------------------------------------
    @staticmethod
    def _pooling_task(name: str, archs: Sequence[str]) -> str | None:
        """How vLLM pools this reward model, read from its architectures before any weights
        load (None when the config names none we know: decided from vLLM's supported tasks)."""
        archs = [str(x) for x in archs]
        if any(x in TOKEN_REWARD_ARCHS for x in archs):
            return "token_classify"
        if any(x.endswith("ForSequenceClassification") for x in archs):
            return "classify"
        if any(x in PROCESS_REWARD_ARCHS for x in archs):
            raise UserError(f"'{name}' is a process reward model ({', '.join(archs)}: a score per reasoning step); "
                            "rmbench needs one reward per response")
        odd = [x for x in archs if x.endswith(local.SCALAR_ARCH_SUFFIXES)]
        if odd:
            raise UserError(f"vLLM serves no reward head for {', '.join(odd)}; vllm/ reads rewards from "
                            f"...ForSequenceClassification heads and {', '.join(TOKEN_REWARD_ARCHS)} "
                            "(try hf/ for this model)")
        return None

    def _check_pooling_task(self, name: str) -> None:
        tasks = tuple(getattr(self.llm, "supported_tasks", None) or ())
        if self.pooling_task is None:
            self.pooling_task = next((t for t in ("classify", "token_classify") if t in tasks), None)
        if self.pooling_task not in tasks:
            raise UserError(f"vLLM serves '{name}' without a classify task (it offers: {', '.join(tasks) or 'none'}); "
                            "rmbench reads scalar rewards from classification heads")

    def _check_sampling(self) -> None:
        g = self.config.gen
        if g.seed is not None and g.seed < 0:
            raise UserError(f"--gen seed={g.seed}: vllm/ needs a seed >= 0 (vLLM reads -1 as 'no seed')")
        try:
            self._sampling(g, 0 if g.seed is None else g.seed)
        except Exception as e:
            if not (is_request_error(e) or isinstance(e, (TypeError, ValueError))):
                raise
            raise UserError(f"--gen: vLLM refuses these generation settings: {message(e)}") from None

    # -- identity ------------------------------------------------------------------------
    def cache_identity(self) -> dict[str, Any]:
        settings = {k: self.engine_args.get(k) for k in RESULT_SETTINGS}
        if self.render == "vllm":
            settings["render"] = "vllm"  # vLLM's own rendering may differ from rmbench's
        if not self.skip_special_tokens:
            settings["skip_special_tokens"] = False
        if self.config.gen.logprobs:
            settings["top_logprobs"] = self.top_logprobs
        return local.local_identity("vllm", self.name, self.template_sha, self.config, self.fp, settings)

    def describe(self) -> dict[str, Any]:
        d = {**self.cache_identity(), "judge_type": self.judge_type, "max_model_len": self.max_model_len,
             "render": self.render}
        if self.judge_type == SCALAR:
            d.update(label_index=self.label_index, pooling_task=self.pooling_task)
            if self.task_truncation:
                d["truncation"] = {t: dict(v) for t, v in sorted(self.task_truncation.items())}
        else:
            d["skip_special_tokens"] = self.skip_special_tokens
        return d

    def run_stats(self) -> dict[str, int]:
        return {**self.counts, **{f"{k}_calls": v for k, v in self.calls.items()}}

    # -- helpers -------------------------------------------------------------------------
    def _tokens(self, messages, generation_prompt: bool, kwargs: dict) -> tuple[str, list[int]]:
        """The conversation rendered once, and its token ids as rmbench counts them."""
        extra = dict(kwargs)
        if self.chat_template:
            extra["chat_template"] = self.chat_template
        text = local.render(self.tokenizer, messages, generation_prompt=generation_prompt, kwargs=extra)
        return text, local.encode(self.tokenizer, text)

    def _sampling(self, g, seed: int):
        kw: dict[str, Any] = {"n": 1, "temperature": g.temperature if g.temperature is not None else 0.0,
                              "max_tokens": g.max_tokens, "seed": seed}
        if g.top_p is not None:
            kw["top_p"] = g.top_p
        if g.stop:
            kw["stop"] = list(g.stop)
        if g.logprobs:
            kw["logprobs"] = self.top_logprobs
        if not self.skip_special_tokens:
            kw["skip_special_tokens"] = False
        return self.vllm.SamplingParams(**kw)

    def _isolating(self, call: Callable[[list], list], items: list) -> list:
        """``call`` on all items at once. When vLLM refuses one prompt it fails the whole call
        (vllm/entrypoints/common/offline.py aborts what it had added and re-raises), so the
        items are split in halves until the refused ones stand alone: those become too_long
        (a length error) or api_error failures, every other item gets its output."""
        try:
            outs = list(call(items))
        except Exception as e:
            if not is_request_error(e):
                raise
            if len(items) == 1:
                if is_length_error(e):
                    self.counts["too_long"] += 1
                    return [Failure(TOO_LONG, f"vLLM: {message(e)}")]
                return [Failure(API_ERROR, f"vLLM refused the prompt: {message(e)}")]
            mid = len(items) // 2
            return self._isolating(call, items[:mid]) + self._isolating(call, items[mid:])
        if len(outs) != len(items):
            raise RuntimeError(f"vLLM returned {len(outs)} outputs for {len(items)} prompts")
        return outs

    # -- generative ----------------------------------------------------------------------
    def generate_batch(self, reqs: Sequence[GenRequest]) -> list[GenOutput | Failure]:
        results: list[GenOutput | Failure | None] = [None] * len(reqs)
        groups: dict[tuple, list[tuple[int, Any, Any]]] = {}
        for k, req in enumerate(reqs):
            kwargs = local.template_kwargs(req.gen)
            ids: list[int] = []
            if self.counting:
                _, ids = self._tokens(req.messages, True, kwargs)
                if len(ids) >= self.max_model_len:  # not even one token of room for the answer
                    results[k] = local.too_long(self.counts, len(ids), self.max_model_len)
                    continue
            g = req.gen
            try:
                params = self._sampling(g, g.seed if g.seed is not None else request_seed(self.config.seed, req.key))
            except Exception as e:  # the settings were checked at start-up; this is a safety net
                results[k] = Failure(API_ERROR, f"vLLM refused the sampling settings: {message(e)}")
                continue
            if self.render == "rmbench":  # token ids carry the template variables already
                prompt: Any = {"prompt_token_ids": ids}
                key: tuple = ()
            else:
                prompt = [dict(m) for m in req.messages]
                key = tuple(sorted(kwargs.items()))
            groups.setdefault(key, []).append((k, prompt, params))
        for key, items in groups.items():
            kwargs = dict(key)
            call = self._generate if self.render == "rmbench" else \
                (lambda batch, kw=kwargs: self._chat(batch, kw))
            outs = self._isolating(call, items)
            for (k, _, _), out in zip(items, outs, strict=True):
                results[k] = out if isinstance(out, Failure) else self._gen_output(out, reqs[k])
        return results  # type: ignore[return-value]

    def _generate(self, items: list) -> list:
        self.calls["generate"] += 1
        return self.llm.generate([p for _, p, _ in items], [s for _, _, s in items], use_tqdm=False)

    def _chat(self, items: list, kwargs: dict) -> list:
        self.calls["chat"] += 1
        extra: dict[str, Any] = {"use_tqdm": False}
        if kwargs:
            extra["chat_template_kwargs"] = kwargs
        if self.chat_template:
            extra["chat_template"] = self.chat_template
        return self.llm.chat([p for _, p, _ in items], [s for _, _, s in items], **extra)

    def _gen_output(self, out, req: GenRequest) -> GenOutput | Failure:
        comp = out.outputs[0]
        reason = comp.finish_reason
        if reason in ("error", "abort"):  # vllm/v1/engine/__init__.py FinishReason: not an answer
            why = f" ({comp.stop_reason})" if comp.stop_reason is not None else ""
            return Failure(API_ERROR, f"vLLM finished the request with finish_reason={reason!r}{why}")
        usage = {"input_tokens": len(out.prompt_token_ids or []), "output_tokens": len(comp.token_ids or [])}
        cached = getattr(out, "num_cached_tokens", None)
        if cached:
            usage["cached_tokens"] = int(cached)
        logprobs = self._logprobs(comp) if req.gen.logprobs else None
        return GenOutput(text=comp.text, finish_reason=reason, usage=usage, logprobs=logprobs)

    def _logprobs(self, comp) -> list[dict[str, float]] | None:
        """CompletionOutput.logprobs (one {token id: Logprob} per generated token, the sampled
        token included) as {token text: logprob}; two ids with the same text keep the larger."""
        if comp.logprobs is None:
            return None
        out: list[dict[str, float]] = []
        for position in comp.logprobs:
            d: dict[str, float] = {}
            for token_id, lp in (position or {}).items():
                text = lp.decoded_token if lp.decoded_token is not None else self.tokenizer.decode([token_id])
                value = float(lp.logprob)
                if text not in d or value > d[text]:
                    d[text] = value
            out.append(d)
        return out

    # -- scalar --------------------------------------------------------------------------
    def truncate_inputs(self, task: str, tokens: int, side: str) -> bool:
        if self.judge_type != SCALAR:
            return False
        self.task_truncation[task] = {"tokens": int(tokens), "side": side}
        return True

    def _cut(self, ids: list[int], task: str) -> list[int] | None:
        """The official protocol's cut of one scored input's token ids, or None when it fits."""
        per_task = self.task_truncation.get(task)
        if per_task is None:
            return None
        limit = min(per_task["tokens"], self.max_model_len)
        if len(ids) <= limit:
            return None
        self.counts["truncated_inputs"] += 1
        side = per_task["side"]
        if side == "tokenizer":
            side = getattr(self.tokenizer, "truncation_side", "right") or "right"
        return ids[:limit] if side == "right" else ids[len(ids) - limit:]

    def score_batch(self, items: Sequence[ScoreItem]) -> list[float | Failure]:
        results: list[float | Failure | None] = [None] * len(items)
        todo: list[tuple[int, Any]] = []
        for k, it in enumerate(items):
            text, ids = self._tokens(local.scored_conversation(it.messages, it.response), False, {})
            cut = self._cut(ids, it.task)
            if cut is not None:  # --protocol official: the ids the official script would score
                todo.append((k, {"prompt_token_ids": cut}))
                continue
            if len(ids) > self.max_model_len:
                results[k] = local.too_long(self.counts, len(ids), self.max_model_len)
                continue
            todo.append((k, {"prompt_token_ids": ids} if self.render == "rmbench" else text))
        if todo:
            outs = self._isolating(self._pool, todo)
            for (k, _), out in zip(todo, outs, strict=True):
                results[k] = out if isinstance(out, Failure) else self._value(out)
        return results  # type: ignore[return-value]

    def _pool(self, items: list) -> list:
        prompts = [p for _, p in items]
        pooling = self.vllm.PoolingParams(use_activation=False)
        kw: dict[str, Any] = {"pooling_params": pooling, "use_tqdm": False}
        if self.render != "rmbench":  # the template wrote any BOS: no second one
            kw["tokenization_kwargs"] = {"add_special_tokens": False}
        if self.pooling_task == "classify":
            self.calls["classify"] += 1
            return self.llm.classify(prompts, **kw)
        self.calls["encode"] += 1
        return self.llm.encode(prompts, pooling_task="token_classify", **kw)

    def _value(self, out) -> float | Failure:
        err = getattr(out, "error", None)
        if err is not None:
            return Failure(API_ERROR, f"vLLM: {error_text(err)}")
        if self.pooling_task == "classify":
            values = list(out.outputs.probs)
        else:  # one row per token (vllm/model_executor/layers/pooler/tokwise): the last token's
            data = out.outputs.data
            if len(data) == 0:
                return Failure(API_ERROR, "vLLM returned no token values")
            last = data[-1]
            last = last.tolist() if hasattr(last, "tolist") else last
            values = list(last) if isinstance(last, (list, tuple)) else [last]
        if len(values) <= self.label_index:
            return Failure(API_ERROR, f"the model returned {len(values)} outputs; label_index is {self.label_index}")
        value = float(values[self.label_index])
        if not math.isfinite(value):
            return Failure(API_ERROR, f"vLLM returned a non-finite score ({value})")
        return value
