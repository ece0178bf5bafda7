"""What ``hf/`` and ``vllm/`` share: model-args reading, model config inspection, chat
rendering and token counting, the judge identity, label and length checks, one-line errors.

Imports only the standard library and rmbench's own light modules at module level
(``huggingface_hub`` and the tokenizer's library are used inside functions).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from rmbench.errors import UserError
from rmbench.judges.base import Failure
from rmbench.types import TOO_LONG

GENERATIVE = "generative"
SCALAR = "scalar"
DPO = "dpo"

# Architectures that end like this are reward models (a scalar head), not chat models.
SCALAR_ARCH_SUFFIXES = ("ForSequenceClassification", "ForRewardModeling", "ForRewardModel", "RewardModel")


class ArgReader:
    """Typed access to ``--model-args`` with one-line errors; ``finish`` rejects unknown keys."""

    def __init__(self, args: Mapping[str, Any], provider: str):
        self.args = dict(args)
        self.provider = provider
        self.seen: set[str] = set()

    def _bad(self, key: str, want: str) -> UserError:
        return UserError(f"--model-args {key}={self.args[key]!r}: {self.provider}/ expects {want}")

    def get(self, key: str, default: Any = None) -> Any:
        self.seen.add(key)
        return self.args.get(key, default)

    def int(self, key: str, default: int | None, minimum: int | None = None) -> int | None:
        self.seen.add(key)
        if key not in self.args or self.args[key] is None:
            return default
        v = self.args[key]
        if isinstance(v, bool) or not isinstance(v, int):
            raise self._bad(key, "an integer")
        if minimum is not None and v < minimum:
            raise self._bad(key, f"an integer >= {minimum}")
        return v

    def bool(self, key: str, default: bool) -> bool:
        self.seen.add(key)
        if key not in self.args:
            return default
        v = self.args[key]
        if isinstance(v, bool):
            return v
        if v in (0, 1):
            return bool(v)
        raise self._bad(key, "true or false")

    def str(self, key: str, default: str | None, choices: Sequence[str] | None = None) -> str | None:
        self.seen.add(key)
        if key not in self.args or self.args[key] is None:
            return default
        v = str(self.args[key])
        if choices is not None and v not in choices:
            raise self._bad(key, "one of " + ", ".join(choices))
        return v

    def finish(self) -> None:
        unknown = sorted(set(self.args) - self.seen)
        if unknown:
            raise UserError(f"unknown --model-args for {self.provider}/: {', '.join(unknown)} "
                            f"(known: {', '.join(sorted(self.seen))})")

    def rest(self) -> dict[str, Any]:
        """Every key not read so far (passed through to an engine)."""
        return {k: v for k, v in self.args.items() if k not in self.seen}


def read_model_config(name: str, revision: str | None = None) -> dict[str, Any]:
    """The model's ``config.json`` as a dict, from a local folder or the hub (cache first)."""
    p = Path(name).expanduser()
    if p.is_dir():
        cfg = p / "config.json"
        if not cfg.is_file():
            raise UserError(f"{name}: the folder has no config.json (is it a saved model?)")
        try:
            return json.loads(cfg.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise UserError(f"{cfg}: unreadable model config: {e}") from None
    if p.exists():
        raise UserError(f"{name} is a file; give the model's folder (or a hub id)")
    if name.startswith((".", "/", "~")):
        raise UserError(f"{name}: no such model folder")
    try:
        from huggingface_hub import hf_hub_download

        local = hf_hub_download(repo_id=name, filename="config.json", revision=revision)
        return json.loads(Path(local).read_text(encoding="utf-8"))
    except Exception as e:  # network, missing repo, gated repo, offline mode
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"cannot read the config of model '{name}' (not a local folder; hub lookup failed: "
                        f"{msg[:200]}); pass --judge-type to skip detection") from None


def detect_judge_type(config: Mapping[str, Any]) -> str:
    """``scalar`` for reward-model heads, ``generative`` for everything else."""
    archs = config.get("architectures") or []
    if any(str(a).endswith(SCALAR_ARCH_SUFFIXES) for a in archs):
        return SCALAR
    return GENERATIVE


def resolve_judge_type(requested: str | None, name: str, revision: str | None, allowed: Sequence[str]) -> str:
    if requested:
        if requested not in allowed:
            raise UserError(f"--judge-type {requested} is not supported here (choose from {', '.join(allowed)})")
        return requested
    return detect_judge_type(read_model_config(name, revision))


def fingerprint(name: str) -> str | None:
    """A cheap content fingerprint of a local model folder (config, tokenizer files, and the
    size plus first and last MiB of each weight file), so cached judgments of a model that was
    retrained in place are not reused. None for hub ids (their revision identifies them)."""
    p = Path(name).expanduser()
    if not p.is_dir():
        return None
    h = hashlib.sha256()
    for f in sorted(p.iterdir()):
        if not f.is_file():
            continue
        h.update(f.name.encode("utf-8") + b"\0")
        size = f.stat().st_size
        h.update(str(size).encode("ascii"))
        with open(f, "rb") as fh:
            if size <= 2 << 20:
                h.update(fh.read())
            else:
                h.update(fh.read(1 << 20))
                fh.seek(size - (1 << 20))
                h.update(fh.read())
    return h.hexdigest()[:16]


def check_gen_settings(gen, provider: str) -> None:
    """API-only generation settings do nothing on a local model: refuse rather than ignore."""
    for key in ("reasoning_effort", "thinking_budget"):
        if getattr(gen, key, None) is not None:
            raise UserError(f"--gen {key} applies to API models only; {provider}/ models take enable_thinking "
                            "(passed to the chat template) and max_tokens")


def sampling_seed_identity(config) -> dict[str, Any]:
    """Sampled generations without ``--gen seed`` are seeded from the run seed, which the cache
    key must then include (greedy outputs do not depend on it)."""
    g = config.gen
    if g.temperature is not None and g.temperature > 0 and g.seed is None:
        return {"run_seed": config.seed}
    return {}


def template_kwargs(gen) -> dict[str, Any]:
    """Chat-template variables taken from the generation settings."""
    return {"enable_thinking": gen.enable_thinking} if gen.enable_thinking is not None else {}


def load_chat_template(path: str | None) -> str | None:
    if not path:
        return None
    try:
        return Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"--model-args chat_template={path}: cannot read it: {e}") from None


# -- chat rendering ------------------------------------------------------------------------

def render(tokenizer, messages: Sequence[Mapping[str, str]], *, generation_prompt: bool,
           kwargs: Mapping[str, Any] | None = None) -> str:
    """The conversation as text through the tokenizer's chat template (rendered once)."""
    return tokenizer.apply_chat_template([dict(m) for m in messages], tokenize=False,
                                         add_generation_prompt=generation_prompt, **dict(kwargs or {}))


def encode(tokenizer, text: str) -> list[int]:
    """Token ids of rendered text. The template already wrote any BOS, so the tokenizer adds
    no special tokens; a BOS doubled by the template itself is collapsed to one."""
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is not None and len(ids) >= 2 and ids[0] == bos and ids[1] == bos:
        ids = ids[1:]
    return ids


def scored_conversation(messages: Sequence[Mapping[str, str]], response: str) -> list[dict[str, str]]:
    return [dict(m) for m in messages] + [{"role": "assistant", "content": response}]


def prompt_and_response_ids(tokenizer, messages: Sequence[Mapping[str, str]], response: str,
                            kwargs: Mapping[str, Any] | None = None) -> tuple[list[int], int]:
    """(ids of the whole conversation with the response, index of the first response token).

    The boundary is the longest common prefix of the prompt (with the generation prompt) and
    the full conversation, so templates that rewrite earlier turns are still split correctly."""
    prompt = encode(tokenizer, render(tokenizer, messages, generation_prompt=True, kwargs=kwargs))
    full = encode(tokenizer, render(tokenizer, scored_conversation(messages, response), generation_prompt=False,
                                    kwargs=kwargs))
    start = 0
    for a, b in zip(prompt, full, strict=False):  # a common prefix
        if a != b:
            break
        start += 1
    return full, max(1, start)


def context_limit(model_config: Any, tokenizer: Any, requested: int | None) -> int | None:
    """--max-length if given, else the model's position limit (or the tokenizer's, if sane)."""
    if requested:
        return int(requested)
    for attr in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        v = getattr(model_config, attr, None)
        if isinstance(v, int) and v > 0:
            return v
    v = getattr(tokenizer, "model_max_length", None)
    if isinstance(v, int) and 0 < v < 10_000_000:
        return v
    return None


def too_long_message(n: int, limit: int) -> str:
    return f"input has {n} tokens; the limit is {limit} (--max-length or the model's context)"


def too_long(counts: dict[str, int], n: int, limit: int) -> Failure:
    """A ``too_long`` failure for an input of ``n`` tokens, counted in ``counts["too_long"]``."""
    counts["too_long"] = counts.get("too_long", 0) + 1
    return Failure(TOO_LONG, too_long_message(n, limit))


# -- identity, labels, errors ----------------------------------------------------------------

def first_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: first line of the message``, for one-line errors."""
    text = str(exc).strip()
    text = text.splitlines()[0] if text else ""
    return (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:limit]


def chat_template_sha(name: str, template: str | None) -> str:
    """The short sha256 that identifies the chat template in the cache key; a model without
    one is refused (rmbench renders every conversation through it)."""
    if not template:
        raise UserError(f"model '{name}' has no chat template; pass --model-args chat_template=FILE.jinja")
    return hashlib.sha256(template.encode("utf-8")).hexdigest()[:16]


def local_identity(provider: str, name: str, template_sha: str, config, fp: str | None,
                   settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The cache identity of a local judge: provider, model, chat template, the settings that
    change outputs (those set), the folder fingerprint and, for sampled runs without a
    ``--gen seed``, the run seed."""
    d: dict[str, Any] = {"provider": provider, "model": name, "chat_template": template_sha}
    d.update({k: v for k, v in (settings or {}).items() if v is not None})
    if fp:
        d["fingerprint"] = fp
    d.update(sampling_seed_identity(config))
    return d


def label_index_for(name: str, labels: int, requested: int | None) -> int:
    """The output of a reward head that is the reward: the only one, or the one asked for."""
    if requested is None:
        if labels > 1:
            raise UserError(f"model '{name}' has {labels} outputs; pick the reward with --model-args label_index=K")
        return 0
    if requested >= labels:
        raise UserError(f"--model-args label_index={requested}: the model has {labels} outputs")
    return requested
