"""``hf/<hub-id-or-path>``: local models through transformers, on CPU or GPU.

Three judge types (``--judge-type`` overrides the one read from the model config):

- ``generative``: the chat template plus batched ``generate`` with left padding; the Judge
  renders the judge template and parses the verdict. Greedy unless ``--gen temperature`` > 0.
- ``scalar``: ``AutoModelForSequenceClassification``; the raw head output at the last token of
  the rendered conversation (no activation).
- ``dpo``: a DPO policy as an implicit reward model. With ``ref_model=<reference>`` the score
  is the summed log-probability ratio policy/reference over the response tokens; without
  one, the policy's own response log-probability (``dpo_reduction=sum|mean``).

``--model-args``: batch_size (8), device (auto|cpu|cuda|cuda:N), dtype (auto|float32|bfloat16|
float16; auto = float32 on CPU, bfloat16 on GPU), truncate (false), ref_model, dpo_reduction
(sum|mean), label_index (for heads with several outputs), chat_template (a file), revision,
trust_remote_code, sort_by_length (true), max_batch, gguf_file (a GGUF checkpoint in the model
folder or hub repo, dequantized by transformers; needs the ``gguf`` package).

``--gen logprobs=true`` (generative): the top alternatives at each generated position from the
raw logits, so verdict probabilities (``p_labels``) are recorded (see judges/logprobs.py).
``--gen stop=a|b``: a row stops generating once its generated text holds a stop string (never on a
match that begins in the prompt), its text ends before the string, and its output tokens are those
it took to produce the string, as the APIs and vLLM count them.

Length: an input longer than ``--max-length`` (default: the model's context) is a ``too_long``
failure, counted in the records and summary. With ``truncate=true`` scalar and DPO inputs keep
their last ``max-length`` tokens instead (the response survives, the start of the conversation
goes) and the number truncated is reported in run.json (``stats.provider``) and on stderr.
``--protocol official`` sets truncation per task instead, as the benchmark's official script
cuts (``truncate_inputs``: RewardBench v1, RM-Bench and RMB keep the last 2,048 tokens;
RewardBench 2 cuts 2,048 on the tokenizer's own side).
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from typing import Any, Sequence

from rmbench.errors import MissingExtraError, UserError
from rmbench.judges.base import GENERATIVE, SCALAR, BaseProvider, Failure, GenOutput, GenRequest, ScoreItem
from rmbench.judges.local.common import (
    DPO,
    ArgReader,
    chat_template_sha,
    check_gen_settings,
    context_limit,
    encode,
    fingerprint,
    first_line,
    label_index_for,
    load_chat_template,
    local_identity,
    prompt_and_response_ids,
    render,
    resolve_judge_type,
    scored_conversation,
    template_kwargs,
    too_long,
)
from rmbench.judges.local.gguf_header import parse_once
from rmbench.judges.logprobs import TOP_LOGPROBS, position
from rmbench.seeding import request_seed

DTYPES = ("auto", "float32", "bfloat16", "float16")
DEFAULT_MAX_TOKENS = 2048


def require_hf():
    try:
        import torch
        import transformers
    except ImportError:
        raise MissingExtraError("hf", "the hf/ provider") from None
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    return torch, transformers


def _load_error(what: str, name: str, exc: BaseException) -> UserError:
    return UserError(f"cannot load {what} '{name}': {first_line(exc)}")


class Provider(BaseProvider):
    kind = GENERATIVE
    batched = True
    gives_logprobs = True
    judge_types = (GENERATIVE, SCALAR, DPO)

    def __init__(self, name: str, config):
        super().__init__(name, config)
        check_gen_settings(config.gen, "hf")
        a = ArgReader(self.model_args, "hf")
        self.batch_size = a.int("batch_size", 8, minimum=1)
        device = a.str("device", "auto")
        dtype = a.str("dtype", "auto", choices=DTYPES)
        self.truncate = a.bool("truncate", False)
        self.sort = a.bool("sort_by_length", True)
        self.ref_name = a.str("ref_model", None)
        reduction = a.str("dpo_reduction", None, choices=("sum", "mean"))
        label_index = a.int("label_index", None, minimum=0)
        template_path = a.str("chat_template", None)
        self.revision = a.str("revision", None)
        self.gguf_file = a.str("gguf_file", None)
        trust = a.bool("trust_remote_code", False)
        a.int("max_batch", None, minimum=1)
        a.finish()

        # a GGUF checkpoint carries no config.json to detect the type from: it is a causal LM
        requested = config.judge_type or (GENERATIVE if self.gguf_file else None)
        self.judge_type = resolve_judge_type(requested, name, self.revision, self.judge_types)
        self.judge_kind = GENERATIVE if self.judge_type == GENERATIVE else SCALAR
        if self.judge_type != DPO and (self.ref_name or reduction):
            raise UserError("--model-args ref_model/dpo_reduction apply only to --judge-type dpo")
        self.reduction = reduction or "sum"
        if self.truncate and self.judge_type == GENERATIVE:
            raise UserError("--model-args truncate=true applies to scalar and dpo judges; a judge prompt is never cut")
        torch, transformers = require_hf()  # after the cheap checks, so bad input fails fast

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            self.device = torch.device(device)
        except (RuntimeError, ValueError):
            raise UserError(f"--model-args device={device}: not a torch device") from None
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise UserError(f"--model-args device={device}: CUDA is not available here")
        if dtype == "auto":
            dtype = "float32" if self.device.type == "cpu" else "bfloat16"
        self.dtype_name = dtype
        self.torch_dtype = getattr(torch, dtype)

        load_kw: dict[str, Any] = {"revision": self.revision, "trust_remote_code": trust}
        if self.gguf_file:  # transformers dequantizes it (needs the gguf package)
            load_kw["gguf_file"] = self.gguf_file
        # a GGUF file's header is parsed once for the config, tokenizer and weights together
        with parse_once() if self.gguf_file else nullcontext():
            try:
                self.tokenizer = transformers.AutoTokenizer.from_pretrained(name, **load_kw)
            except Exception as e:
                raise _load_error("the tokenizer of", name, e) from None
            custom = load_chat_template(template_path)
            if custom is not None:
                self.tokenizer.chat_template = custom
            self.template_sha = chat_template_sha(name, getattr(self.tokenizer, "chat_template", None))
            self.pad_id = self._pad_id()

            from rmbench.judges.local import hf_compute

            auto = transformers.AutoModelForSequenceClassification if self.judge_type == SCALAR \
                else transformers.AutoModelForCausalLM
            self.model = self._load(auto, name, load_kw, "model")
            self.limit = context_limit(self.model.config, self.tokenizer, config.max_length)
            self.ref_model = None
            if self.judge_type == SCALAR:
                labels = int(getattr(self.model.config, "num_labels", 1) or 1)
                self.label_index = label_index_for(name, labels, label_index)
                text_cfg = self.model.config.get_text_config() if hasattr(self.model.config, "get_text_config") \
                    else self.model.config
                if getattr(text_cfg, "pad_token_id", None) is None:  # transformers refuses batches without one
                    text_cfg.pad_token_id = self.pad_id
                    self.model.config.pad_token_id = self.pad_id
                self.scorer = hf_compute.ScalarScorer(self.model, self.pad_id, self.label_index, self.device)
            elif self.judge_type == DPO:
                self.policy = hf_compute.LogProbScorer(self.model, self.pad_id, self.device)
                if self.ref_name:
                    self._check_ref_tokenizer(transformers, load_kw)
                    self.ref_model = self._load(transformers.AutoModelForCausalLM, self.ref_name, load_kw, "reference model")
                    self.reference = hf_compute.LogProbScorer(self.ref_model, self.pad_id, self.device)
            else:
                self.generator = hf_compute.Generator(self.model, self.tokenizer, self.pad_id, self.device)
        self.counts = {"too_long": 0, "truncated_inputs": 0}
        self.task_truncation: dict[str, dict[str, Any]] = {}   # per task: {"tokens", "side"} (official protocol)
        self.fp = fingerprint(name)
        self.ref_fp = fingerprint(self.ref_name) if self.ref_name else None

    # -- loading -------------------------------------------------------------------------
    def _pad_id(self) -> int:
        tok = self.tokenizer
        for cand in (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id, 0):
            if cand is not None:
                return int(cand)
        return 0

    def _load(self, auto, name: str, load_kw: dict, what: str):
        try:
            model = auto.from_pretrained(name, dtype=self.torch_dtype, **load_kw)
        except Exception as e:
            raise _load_error(f"the {what}", name, e) from None
        return model.to(self.device).eval()

    def _check_ref_tokenizer(self, transformers, load_kw: dict) -> None:
        try:
            ref_tok = transformers.AutoTokenizer.from_pretrained(self.ref_name, **load_kw)
        except Exception as e:
            raise _load_error("the tokenizer of", self.ref_name, e) from None
        if ref_tok.get_vocab() != self.tokenizer.get_vocab():
            raise UserError(f"the reference model '{self.ref_name}' uses a different tokenizer from '{self.name}'; "
                            "DPO log-ratios need the same token ids")

    # -- identity ------------------------------------------------------------------------
    def cache_identity(self) -> dict[str, Any]:
        return local_identity("hf", self.name, self.template_sha, self.config, self.fp,
                              {"dtype": self.dtype_name, "revision": self.revision or None,
                               "gguf_file": self.gguf_file or None,
                               # --max-length bounds a generation (its room before the context end)
                               "max_length": int(self.config.max_length) if self.config.max_length else None})

    def describe(self) -> dict[str, Any]:
        d = {**self.cache_identity(), "judge_type": self.judge_type, "max_length": self.limit}
        if self.judge_kind == SCALAR:
            d["truncate"] = self.truncate
            if self.task_truncation:
                d["truncation"] = {t: dict(v) for t, v in sorted(self.task_truncation.items())}
        if self.judge_type == DPO:
            d.update(ref_model=self.ref_name, dpo_reduction=self.reduction)
            if self.ref_fp:
                d["ref_fingerprint"] = self.ref_fp
        return d

    def run_stats(self) -> dict[str, int]:
        return dict(self.counts)

    # -- limits --------------------------------------------------------------------------
    def truncate_inputs(self, task: str, tokens: int, side: str) -> bool:
        if self.judge_kind != SCALAR:
            return False
        self.task_truncation[task] = {"tokens": int(tokens), "side": side}
        return True

    def _fit(self, ids: list[int], task: str = "") -> tuple[list[int] | None, int]:
        """(ids to use or None when too long, number of tokens cut from the start)."""
        per_task = self.task_truncation.get(task)
        if per_task is not None:  # the official script's cut: at most ``tokens``, even in a longer context
            limit = per_task["tokens"] if self.limit is None else min(self.limit, per_task["tokens"])
            if len(ids) <= limit:
                return ids, 0
            self.counts["truncated_inputs"] += 1
            side = per_task["side"]
            if side == "tokenizer":
                side = getattr(self.tokenizer, "truncation_side", "right") or "right"
            if side == "right":
                return ids[:limit], 0
            return ids[len(ids) - limit:], len(ids) - limit
        if self.limit is None or len(ids) <= self.limit:
            return ids, 0
        if not self.truncate:
            return None, 0
        self.counts["truncated_inputs"] += 1
        cut = len(ids) - self.limit
        return ids[cut:], cut

    # -- scalar and dpo ------------------------------------------------------------------
    def score_batch(self, items: Sequence[ScoreItem]) -> list[float | Failure]:
        results: list[float | Failure | None] = [None] * len(items)
        if self.judge_type == DPO:
            return self._dpo_batch(items)
        rows, where = [], []
        for k, it in enumerate(items):
            text = render(self.tokenizer, scored_conversation(it.messages, it.response), generation_prompt=False)
            ids = encode(self.tokenizer, text)
            fitted, _ = self._fit(ids, it.task)
            if fitted is None:
                results[k] = too_long(self.counts, len(ids), self.limit)
                continue
            rows.append(fitted)
            where.append(k)
        if rows:
            for k, v in zip(where, self.scorer.score(rows, self.batch_size, self.sort), strict=True):
                results[k] = v
        return results  # type: ignore[return-value]

    def _dpo_batch(self, items: Sequence[ScoreItem]) -> list[float | Failure]:
        from rmbench.judges.local.hf_compute import DpoRow

        results: list[float | Failure | None] = [None] * len(items)
        rows, where = [], []
        for k, it in enumerate(items):
            ids, start = prompt_and_response_ids(self.tokenizer, it.messages, it.response)
            fitted, cut = self._fit(ids, it.task)
            if fitted is None:
                results[k] = too_long(self.counts, len(ids), self.limit)
                continue
            rows.append(DpoRow(fitted, max(1, start - cut)))
            where.append(k)
        if rows:
            pol = self.policy.logprobs(rows, self.batch_size, self.sort)
            ref = self.reference.logprobs(rows, self.batch_size, self.sort) if self.ref_model is not None else None
            for n, k in enumerate(where):
                total, count = pol[n]
                if ref is not None:
                    total -= ref[n][0]
                results[k] = total / count if (self.reduction == "mean" and count) else total
        return results  # type: ignore[return-value]

    # -- generative ----------------------------------------------------------------------
    def generate_batch(self, reqs: Sequence[GenRequest]) -> list[GenOutput | Failure]:
        from rmbench.judges.local.hf_compute import GenSettings

        results: list[GenOutput | Failure | None] = [None] * len(reqs)
        groups: dict[tuple, list[int]] = {}
        prompts: dict[int, list[int]] = {}
        for k, req in enumerate(reqs):
            ids = encode(self.tokenizer, render(self.tokenizer, req.messages, generation_prompt=True,
                                                kwargs=template_kwargs(req.gen)))
            if self.limit is not None and len(ids) >= self.limit:
                results[k] = too_long(self.counts, len(ids), self.limit)
                continue
            prompts[k] = ids
            g = req.gen
            sample = bool(g.temperature) and g.temperature > 0
            # the room left before the context end is part of the group: a batch stops at the
            # smallest room among its rows, so a row must never share one with a longer prompt's
            room = g.max_tokens or DEFAULT_MAX_TOKENS
            if self.limit is not None:
                room = min(room, self.limit - len(ids))
            key = (room, g.temperature if sample else None,
                   g.top_p if sample else None, g.seed if sample else None, tuple(g.stop or ()), bool(g.logprobs))
            groups.setdefault(key, []).append(k)
        for (max_tokens, temperature, top_p, seed, stop, logprobs), members in groups.items():
            if temperature is not None and seed is None:  # reproducible sampling without --gen seed
                seed = request_seed(self.config.seed, "\x1f".join(sorted(reqs[k].key for k in members)))
            settings = GenSettings(max_new_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed)
            outs = self.generator.generate([prompts[k] for k in members], settings, self.batch_size,
                                           top_logprobs=TOP_LOGPROBS if logprobs else 0, stop=stop)
            for k, (text, reason, n_out, steps, kept) in zip(members, outs, strict=True):
                cut_text, reason = _apply_stop(text, reason, stop)
                if cut_text != text:   # counted as the APIs count: up to the token that completed the stop string
                    n_out = _tokens_to_stop(self.tokenizer, kept, stop)
                    steps = steps[:n_out] if steps is not None else None
                text = cut_text
                results[k] = GenOutput(text=text, finish_reason=reason,
                                       usage={"input_tokens": len(prompts[k]), "output_tokens": n_out},
                                       logprobs=self._positions(steps) if steps is not None else None)
        return results  # type: ignore[return-value]

    def _positions(self, steps: list[list[tuple[int, float]]]) -> list[dict[str, float]]:
        """Token texts for the top alternatives at each step: what each adds to the text decoded
        so far (a few tokens of context make leading spaces and split characters come out as in
        the full decode); special tokens keep their literal text."""
        tok = self.tokenizer
        special = set(tok.all_special_ids or [])
        out, sampled = [], []
        for pairs in steps:
            ctx = sampled[-4:]
            before = _decoded(tok, ctx)
            alts = []
            for tid, lp in pairs:
                if tid in special:
                    alts.append((tok.convert_ids_to_tokens(tid), lp))
                    continue
                after = _decoded(tok, ctx + [tid])
                alts.append((after[len(before):] if after.startswith(before) else tok.decode([tid]), lp))
            out.append(position(alts))
            sampled.append(pairs[0][0])
        return out

    def close(self) -> None:
        n = self.counts["truncated_inputs"]
        if n:
            if self.task_truncation:
                print(f"rmbench: hf/{self.name}: {n} over-long inputs were truncated as the official scripts cut "
                      "them (--protocol official)", file=sys.stderr)
            else:
                print(f"rmbench: hf/{self.name}: {n} inputs longer than {self.limit} tokens were truncated "
                      "(kept their last tokens; truncate=true)", file=sys.stderr)



def _decoded(tokenizer, ids: list[int]) -> str:
    """Decoded text without a trailing half character (it is completed by a later token)."""
    return tokenizer.decode(ids, skip_special_tokens=True).rstrip("\ufffd") if ids else ""


def _tokens_to_stop(tokenizer, kept: list[int], stop: tuple[str, ...]) -> int:
    """How many of the generated tokens it took for a stop string to appear in the decoded text
    (the fewest; decoded prefixes only grow, so a binary search finds it)."""
    def has_stop(n: int) -> bool:
        text = tokenizer.decode(kept[:n], skip_special_tokens=True)
        return any(s in text for s in stop)

    lo, hi = 1, len(kept)
    if not kept or not has_stop(hi):
        return len(kept)
    while lo < hi:
        mid = (lo + hi) // 2
        if has_stop(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _apply_stop(text: str, reason: str, stop: tuple[str, ...]) -> tuple[str, str]:
    cut = min((p for p in (text.find(s) for s in stop) if p >= 0), default=-1)
    if cut >= 0:
        return text[:cut], "stop"
    return text, reason
