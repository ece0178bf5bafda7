"""The transformers compute loops behind ``hf/``: scalar scores, DPO log-probabilities and
batched generation. Imported only by the hf provider (it imports torch at load time).

Batch invariance (a score does not depend on what else is in its batch):
- scalar heads: right padding keeps every real token at its own position and, under causal
  attention, unaffected by the padding; the score is read at each row's last real token (the
  per-token head output is captured, not the model's own pooled output, which looks for the
  rightmost non-pad id and misreads rows that end in the pad id);
- DPO: left padding with explicit position ids (cumulative sum of the attention mask), so
  response tokens end every row and only the last K positions' logits are computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch


def plan_batches(lengths: Sequence[int], batch_size: int, sort: bool) -> list[list[int]]:
    """Index batches. Sorted: longest first (an out-of-memory shows up at once), so rows of
    similar length share a batch and padding stays small. Unsorted: input order."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)) if sort else list(range(len(lengths)))
    return [order[k:k + batch_size] for k in range(0, len(order), batch_size)]


def _pad(rows: Sequence[Sequence[int]], pad_id: int, left: bool, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for b, r in enumerate(rows):
        if left:
            ids[b, width - len(r):] = torch.tensor(r, dtype=torch.long)
            mask[b, width - len(r):] = 1
        else:
            ids[b, :len(r)] = torch.tensor(r, dtype=torch.long)
            mask[b, :len(r)] = 1
    return ids.to(device), mask.to(device)


class ScalarScorer:
    """Reads one float per sequence from a ``...ForSequenceClassification`` model."""

    def __init__(self, model, pad_id: int, label_index: int, device):
        self.model = model
        self.pad_id = pad_id
        self.label_index = label_index
        self.device = device
        self._captured: dict[str, Any] = {}
        head = getattr(model, "score", None)
        # decoder reward models apply a linear ``score`` head to every position; capture it
        self._hook = head.register_forward_hook(self._capture) if isinstance(head, torch.nn.Module) else None

    def _capture(self, _module, _inputs, output) -> None:
        self._captured["per_token"] = output

    @torch.inference_mode()
    def score(self, rows: Sequence[Sequence[int]], batch_size: int, sort: bool = True) -> list[float]:
        out: list[float] = [0.0] * len(rows)
        for idx in plan_batches([len(r) for r in rows], batch_size, sort):
            batch = [rows[i] for i in idx]
            ids, mask = _pad(batch, self.pad_id, left=False, device=self.device)
            self._captured.clear()
            result = self.model(input_ids=ids, attention_mask=mask)
            per_token = self._captured.get("per_token")
            if isinstance(per_token, torch.Tensor) and per_token.dim() == 3 and per_token.shape[1] == ids.shape[1]:
                last = mask.sum(dim=1) - 1
                values = per_token[torch.arange(len(batch), device=per_token.device), last, self.label_index]
            else:  # encoder models pool their first token themselves
                values = result.logits[:, self.label_index]
            for i, v in zip(idx, values.float().cpu().tolist(), strict=True):
                out[i] = float(v)
        return out


@dataclass
class DpoRow:
    ids: list[int]
    start: int  # index of the first response token


class LogProbScorer:
    """Summed (or mean) log-probability of each row's response tokens under a causal LM."""

    def __init__(self, model, pad_id: int, device):
        import inspect

        self.model = model
        self.pad_id = pad_id
        self.device = device
        try:
            self.keep_arg = "logits_to_keep" in inspect.signature(model.forward).parameters
        except (TypeError, ValueError):
            self.keep_arg = False

    @torch.inference_mode()
    def logprobs(self, rows: Sequence[DpoRow], batch_size: int, sort: bool = True) -> list[tuple[float, int]]:
        """(sum of response-token log-probabilities, number of response tokens) per row."""
        out: list[tuple[float, int]] = [(0.0, 0)] * len(rows)
        for idx in plan_batches([len(r.ids) for r in rows], batch_size, sort):
            batch = [rows[i] for i in idx]
            ids, mask = _pad([r.ids for r in batch], self.pad_id, left=True, device=self.device)
            width = ids.shape[1]
            resp = [len(r.ids) - r.start for r in batch]
            keep = max(resp) + 1
            positions = (mask.cumsum(dim=-1) - 1).clamp(min=0)
            kwargs = {"logits_to_keep": keep} if self.keep_arg else {}
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, **kwargs).logits
            if not self.keep_arg:
                logits = logits[:, width - keep:]
            for b, (i, r) in enumerate(zip(idx, resp, strict=True)):
                if r <= 0:
                    out[i] = (0.0, 0)
                    continue
                lp = torch.log_softmax(logits[b, keep - 1 - r:keep - 1].float(), dim=-1)
                target = ids[b, width - r:]
                out[i] = (float(lp.gather(-1, target.unsqueeze(-1)).sum().item()), r)
        return out


@dataclass
class GenSettings:
    max_new_tokens: int
    temperature: float | None
    top_p: float | None
    seed: int | None


class Generator:
    """Batched ``generate`` with left padding; returns (text, finish_reason, new token count, ...)."""

    def __init__(self, model, tokenizer, pad_id: int, device):
        self.model = model
        self.tokenizer = tokenizer
        self.pad_id = pad_id
        self.device = device
        eos = model.generation_config.eos_token_id
        if eos is None:
            eos = tokenizer.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])

    @torch.inference_mode()
    def generate(self, prompts: Sequence[Sequence[int]], settings: GenSettings,
                 batch_size: int, top_logprobs: int = 0,
                 stop: Sequence[str] = ()) -> list[tuple[str, str, int, list | None, list[int]]]:
        """Per prompt: (text, finish reason, new token count, steps, kept token ids). With
        ``top_logprobs`` > 0, ``steps`` lists for each kept token [(token id, log-probability),
        ...]: the sampled token first, then the ``top_logprobs`` most likely ones, from the raw
        logits of that step. A row ends once its generated text holds a ``stop`` string (the
        text still holds it, for the caller to cut)."""
        from transformers import GenerationConfig

        out: list[tuple[str, str, int, list | None, list[int]]] = [("", "stop", 0, None, [])] * len(prompts)
        sample = bool(settings.temperature) and settings.temperature > 0
        for idx in plan_batches([len(p) for p in prompts], batch_size, sort=True):
            batch = [prompts[i] for i in idx]
            max_new = max(1, settings.max_new_tokens)
            ids, mask = _pad(batch, self.pad_id, left=True, device=self.device)
            # Explicit neutral values: transformers fills unset fields from the checkpoint's
            # generation_config (a repetition penalty, top_k ...), which vLLM does not apply.
            cfg = GenerationConfig(max_new_tokens=max_new, pad_token_id=self.pad_id, eos_token_id=sorted(self.eos_ids) or None,
                                   do_sample=sample, num_beams=1, num_return_sequences=1,
                                   temperature=settings.temperature if sample else 1.0,
                                   top_p=settings.top_p if (sample and settings.top_p is not None) else 1.0,
                                   top_k=0, min_p=0.0, typical_p=1.0, repetition_penalty=1.0, no_repeat_ngram_size=0)
            if sample and settings.seed is not None:
                torch.manual_seed(settings.seed)
            extra = {"stopping_criteria": [_StopStrings(self.tokenizer, stop, ids.shape[1])]} if stop else {}
            res = self.model.generate(input_ids=ids, attention_mask=mask, generation_config=cfg,
                                      return_dict_in_generate=True, output_logits=top_logprobs > 0, **extra)
            new = res.sequences[:, ids.shape[1]:].cpu().tolist()
            for b, (i, toks) in enumerate(zip(idx, new, strict=True)):
                end = next((k for k, t in enumerate(toks) if t in self.eos_ids), None)
                if end is not None:
                    kept, reason = toks[:end], "stop"
                else:
                    kept = toks
                    reason = "length" if len(toks) >= max_new else "stop"
                # trailing pad ids only appear after an end-of-sequence; strip them anyway
                while kept and kept[-1] == self.pad_id and self.pad_id not in self.eos_ids:
                    kept = kept[:-1]
                text = self.tokenizer.decode(kept, skip_special_tokens=True)
                steps = _top_steps(res.logits, b, kept, top_logprobs) if top_logprobs > 0 else None
                out[i] = (text, reason, len(kept) + (1 if end is not None else 0), steps, list(kept))
        return out


class _StopStrings:
    """A stopping criterion: a row is done once the text it generated holds a stop string. Only
    generated tokens count (transformers' own stop-string criterion also matches across the end of
    the prompt, which ended rows before they had written anything). The last few tokens are
    decoded at each step; a match there is confirmed on the row's whole generated text."""

    def __init__(self, tokenizer, stop: Sequence[str], prompt_len: int):
        self.tokenizer, self.stop, self.start = tokenizer, tuple(stop), prompt_len
        self.window = max(len(s) for s in self.stop) + 2   # tokens: each spells one character or more

    def _holds(self, ids: list[int]) -> bool:
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        return any(s in text for s in self.stop)

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        done = [self._holds(row[-self.window:]) and self._holds(row)
                for row in input_ids[:, self.start:].tolist()]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


def _top_steps(logits, row: int, kept: Sequence[int], k: int) -> list[list[tuple[int, float]]]:
    steps = []
    for t, tok in enumerate(kept):
        lp = torch.log_softmax(logits[t][row].float(), dim=-1)
        top = torch.topk(lp, min(k, lp.shape[-1]))
        pairs = [(int(tok), float(lp[tok]))]
        pairs += [(int(j), float(v)) for v, j in zip(top.values.tolist(), top.indices.tolist()) if int(j) != tok]
        steps.append(pairs)
    return steps
