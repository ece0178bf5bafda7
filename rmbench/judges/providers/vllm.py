"""``vllm/<hub-id-or-path>``: local models through vLLM's offline ``LLM`` (extra ``rmbench[vllm]``,
written against vLLM 0.33).

- Generative judges: one ``LLM.chat`` call for everything the Judge's batch queue hands over
  (thousands of conversations; vLLM schedules them and reuses the shared prompt prefix, which
  the judge templates put before the responses). Greedy unless ``--gen temperature`` > 0; every
  request carries a seed (``--gen seed``, or one derived from the run seed and the request), so
  sampled runs repeat.
- Scalar reward models (``...ForSequenceClassification``): ``LLM(model, runner="pooling")`` and
  ``LLM.classify`` on the conversation rendered once with the tokenizer's chat template, with
  ``add_special_tokens=False`` (no second BOS) and the activation off: the raw head output.

The judge type comes from the model config's ``architectures`` (``--judge-type`` overrides).
``--model-args`` go to ``vllm.LLM`` unchanged (tensor_parallel_size, pipeline_parallel_size,
max_model_len, gpu_memory_utilization, dtype, seed, enable_prefix_caching, quantization, ...)
except rmbench's own: max_batch, label_index, chat_template (a file). ``--max-length`` sets
max_model_len when that is not given. Prompts longer than the context are ``too_long``
failures (counted and reported), never cut, except under ``--protocol official``, which cuts a
scalar model's inputs per task as the benchmark's official script does (``truncate_inputs``;
the cut ids are handed to ``classify`` as a token prompt).
"""

from __future__ import annotations

import hashlib
from typing import Any, Sequence

from rmbench.errors import MissingExtraError, UserError
from rmbench.judges.base import GENERATIVE, SCALAR, BaseProvider, Failure, GenOutput, GenRequest, ScoreItem
from rmbench.judges.local.common import (
    ArgReader,
    check_gen_settings,
    encode,
    fingerprint,
    load_chat_template,
    read_model_config,
    render,
    resolve_judge_type,
    sampling_seed_identity,
    scored_conversation,
    template_kwargs,
    too_long_message,
)
from rmbench.seeding import request_seed
from rmbench.types import API_ERROR, TOO_LONG

# Engine settings that change outputs (recorded in the judge's identity and cache key).
RESULT_SETTINGS = ("dtype", "quantization", "revision", "tokenizer", "max_model_len", "hf_overrides")
LENGTH_ERROR_HINTS = ("maximum model length", "max_model_len", "longer than the maximum")


def load_vllm():
    """The vllm module (or a stand-in with the same surface: LLM, SamplingParams, PoolingParams).
    Tests replace this function; nothing else in this module imports vllm."""
    try:
        import vllm
    except ImportError:
        raise MissingExtraError("vllm", "the vllm/ provider") from None
    return vllm


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:300]


def _is_length_error(exc: BaseException) -> bool:
    return any(h in str(exc) for h in LENGTH_ERROR_HINTS)


class Provider(BaseProvider):
    kind = GENERATIVE
    batched = True
    judge_types = (GENERATIVE, SCALAR)

    def __init__(self, name: str, config):
        super().__init__(name, config)
        self.vllm = load_vllm()
        check_gen_settings(config.gen, "vllm")
        a = ArgReader(self.model_args, "vllm")
        a.int("max_batch", None, minimum=1)
        label_index = a.int("label_index", None, minimum=0)
        template_path = a.str("chat_template", None)
        if "truncate" in self.model_args:
            raise UserError("--model-args truncate is not supported by vllm/: over-long inputs are reported as "
                            "too_long (use hf/ with truncate=true to cut them)")
        self.engine_args: dict[str, Any] = a.rest()
        self.engine_args.setdefault("seed", config.seed)
        if config.max_length and "max_model_len" not in self.engine_args:
            self.engine_args["max_model_len"] = int(config.max_length)

        model_config: dict[str, Any] = {}
        if not config.judge_type:
            model_config = read_model_config(name, self.engine_args.get("revision"))
        self.judge_type = resolve_judge_type(config.judge_type, name, self.engine_args.get("revision"), self.judge_types)
        self.judge_kind = self.judge_type
        self.chat_template = load_chat_template(template_path)
        self.label_index = label_index or 0
        if self.judge_type == SCALAR:
            labels = int(model_config.get("num_labels") or len(model_config.get("id2label") or {}) or 1)
            if label_index is None and labels > 1:
                raise UserError(f"model '{name}' has {labels} outputs; pick the reward with --model-args label_index=K")

        runner = "pooling" if self.judge_type == SCALAR else "generate"
        try:
            self.llm = self.vllm.LLM(name, runner=runner, **self.engine_args)
        except TypeError as e:
            raise UserError(f"vllm.LLM rejected the --model-args: {_one_line(e)}") from None
        except Exception as e:
            raise UserError(f"vLLM could not load '{name}': {_one_line(e)}") from None
        self.tokenizer = self.llm.get_tokenizer()
        self.max_model_len = int(self.llm.model_config.max_model_len)
        if self.judge_type == SCALAR:
            tasks = getattr(self.llm, "supported_tasks", None)
            if tasks is not None and "classify" not in tasks:
                raise UserError(f"vLLM serves '{name}' without a classify task (it offers: {', '.join(tasks)}); "
                                "rmbench reads scalar rewards from sequence-classification heads")
        template = self.chat_template or getattr(self.tokenizer, "chat_template", None)
        if not template:
            raise UserError(f"model '{name}' has no chat template; pass --model-args chat_template=FILE.jinja")
        self.template_sha = hashlib.sha256(template.encode("utf-8")).hexdigest()[:16]
        self.fp = fingerprint(name)
        self.counts = {"too_long": 0, "truncated_inputs": 0}
        self.calls = {"chat": 0, "classify": 0}
        self.task_truncation: dict[str, dict[str, Any]] = {}   # per task: {"tokens", "side"} (official protocol)

    # -- identity ------------------------------------------------------------------------
    def cache_identity(self) -> dict[str, Any]:
        d: dict[str, Any] = {"provider": "vllm", "model": self.name, "chat_template": self.template_sha}
        for key in RESULT_SETTINGS:
            if key in self.engine_args:
                d[key] = self.engine_args[key]
        if self.fp:
            d["fingerprint"] = self.fp
        d.update(sampling_seed_identity(self.config))
        return d

    def describe(self) -> dict[str, Any]:
        d = {**self.cache_identity(), "judge_type": self.judge_type, "max_model_len": self.max_model_len}
        if self.judge_type == SCALAR:
            d["label_index"] = self.label_index
            if self.task_truncation:
                d["truncation"] = {t: dict(v) for t, v in sorted(self.task_truncation.items())}
        return d

    def run_stats(self) -> dict[str, int]:
        return {**self.counts, "chat_calls": self.calls["chat"], "classify_calls": self.calls["classify"]}

    # -- helpers -------------------------------------------------------------------------
    def _count(self, messages, generation_prompt: bool, kwargs: dict) -> tuple[str, int]:
        extra = dict(kwargs)
        if self.chat_template:
            extra["chat_template"] = self.chat_template
        text = render(self.tokenizer, messages, generation_prompt=generation_prompt, kwargs=extra)
        return text, len(encode(self.tokenizer, text))

    def _sampling(self, req: GenRequest):
        g = req.gen
        kw: dict[str, Any] = {"n": 1, "temperature": g.temperature if g.temperature is not None else 0.0,
                              "max_tokens": g.max_tokens,
                              "seed": g.seed if g.seed is not None else request_seed(self.config.seed, req.key)}
        if g.top_p is not None:
            kw["top_p"] = g.top_p
        if g.stop:
            kw["stop"] = list(g.stop)
        return self.vllm.SamplingParams(**kw)

    def _isolating(self, call, inputs: list, *args) -> list:
        """Run ``call`` on all inputs at once; if vLLM refuses the batch because one prompt is
        too long after all (a token count that differs from ours), split it in halves until the
        offending prompts are alone and report those as too_long."""
        try:
            outs = list(call(inputs, *args))
        except Exception as e:
            if not _is_length_error(e):
                raise
            if len(inputs) == 1:
                self.counts["too_long"] += 1
                return [Failure(TOO_LONG, _one_line(e))]
            mid = len(inputs) // 2
            return self._isolating(call, inputs[:mid], *[x[:mid] for x in args]) + \
                self._isolating(call, inputs[mid:], *[x[mid:] for x in args])
        if len(outs) != len(inputs):
            raise RuntimeError(f"vLLM returned {len(outs)} outputs for {len(inputs)} prompts")
        return outs

    # -- generative ----------------------------------------------------------------------
    def generate_batch(self, reqs: Sequence[GenRequest]) -> list[GenOutput | Failure]:
        results: list[GenOutput | Failure | None] = [None] * len(reqs)
        groups: dict[tuple, list[int]] = {}
        for k, req in enumerate(reqs):
            groups.setdefault(tuple(sorted(template_kwargs(req.gen).items())), []).append(k)
        for key, members in groups.items():
            kwargs = dict(key)
            todo = []
            for k in members:
                _, n = self._count(reqs[k].messages, True, kwargs)
                if n >= self.max_model_len:  # not even one token of room for the answer
                    self.counts["too_long"] += 1
                    results[k] = Failure(TOO_LONG, too_long_message(n, self.max_model_len))
                else:
                    todo.append(k)
            if not todo:
                continue
            convs = [[dict(m) for m in reqs[k].messages] for k in todo]
            params = [self._sampling(reqs[k]) for k in todo]
            outs = self._isolating(lambda c, p, kw=kwargs: self._chat(c, p, kw), convs, params)
            for k, out in zip(todo, outs, strict=True):
                results[k] = out if isinstance(out, Failure) else _gen_output(out)
        return results  # type: ignore[return-value]

    def _chat(self, convs: list, params: list, kwargs: dict) -> list:
        self.calls["chat"] += 1
        extra: dict[str, Any] = {"use_tqdm": False}
        if kwargs:
            extra["chat_template_kwargs"] = kwargs
        if self.chat_template:
            extra["chat_template"] = self.chat_template
        return self.llm.chat(convs, params, **extra)

    # -- scalar --------------------------------------------------------------------------
    def truncate_inputs(self, task: str, tokens: int, side: str) -> bool:
        if self.judge_type != SCALAR:
            return False
        self.task_truncation[task] = {"tokens": int(tokens), "side": side}
        return True

    def _cut(self, text: str, task: str) -> str | dict | None:
        """The official protocol's cut of one scored input: a token prompt, or None when it fits."""
        per_task = self.task_truncation.get(task)
        if per_task is None:
            return None
        ids = encode(self.tokenizer, text)
        limit = min(per_task["tokens"], self.max_model_len)
        if len(ids) <= limit:
            return None
        self.counts["truncated_inputs"] += 1
        side = per_task["side"]
        if side == "tokenizer":
            side = getattr(self.tokenizer, "truncation_side", "right") or "right"
        return {"prompt_token_ids": ids[:limit] if side == "right" else ids[len(ids) - limit:]}

    def score_batch(self, items: Sequence[ScoreItem]) -> list[float | Failure]:
        results: list[float | Failure | None] = [None] * len(items)
        texts: list = []
        where = []
        for k, it in enumerate(items):
            text, n = self._count(scored_conversation(it.messages, it.response), False, {})
            cut = self._cut(text, it.task) if it.task in self.task_truncation else None
            if cut is not None:
                texts.append(cut)
                where.append(k)
                continue
            if n > self.max_model_len:
                self.counts["too_long"] += 1
                results[k] = Failure(TOO_LONG, too_long_message(n, self.max_model_len))
                continue
            texts.append(text)
            where.append(k)
        if texts:
            pooling = self.vllm.PoolingParams(use_activation=False)
            outs = self._isolating(lambda t: self._classify(t, pooling), texts)
            for k, out in zip(where, outs, strict=True):
                results[k] = out if isinstance(out, Failure) else self._value(out)
        return results  # type: ignore[return-value]

    def _classify(self, texts: list[str], pooling) -> list:
        self.calls["classify"] += 1
        return self.llm.classify(texts, pooling_params=pooling, use_tqdm=False,
                                 tokenization_kwargs={"add_special_tokens": False})

    def _value(self, out) -> float | Failure:
        if getattr(out, "error", None):
            return Failure(API_ERROR, str(out.error)[:300])
        probs = out.outputs.probs
        if len(probs) <= self.label_index:
            return Failure(API_ERROR, f"the model returned {len(probs)} outputs; label_index is {self.label_index}")
        return float(probs[self.label_index])


def _gen_output(out) -> GenOutput:
    comp = out.outputs[0]
    usage = {"input_tokens": len(out.prompt_token_ids or []), "output_tokens": len(comp.token_ids or [])}
    cached = getattr(out, "num_cached_tokens", None)
    if cached:
        usage["cached_tokens"] = int(cached)
    return GenOutput(text=comp.text, finish_reason=comp.finish_reason, usage=usage)

