"""Run and generation settings.

``GenConfig`` fields all default to None; ``merge`` overlays only what is set, so task defaults,
CLI flags and per-call settings stack without special cases. Only set fields reach a provider
(and the cache key), so adding a field never invalidates cached judgments.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any

from rmbench.contracts import FAILURE_POLICIES
from rmbench.errors import UserError


@dataclass(frozen=True)
class GenConfig:
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] | None = None
    reasoning_effort: str | None = None
    thinking_budget: int | None = None
    enable_thinking: bool | None = None
    logprobs: bool | None = None  # record verdict probabilities (p_labels) where the engine gives them

    def merge(self, other: "GenConfig | None") -> "GenConfig":
        if other is None:
            return self
        updates = {f.name: getattr(other, f.name) for f in fields(other) if getattr(other, f.name) is not None}
        return dataclasses.replace(self, **updates)

    def set_fields(self) -> dict[str, Any]:
        """The fields that were set, as plain JSON-able values."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if v is not None:
                out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    @classmethod
    def from_pairs(cls, pairs: dict[str, str]) -> "GenConfig":
        known = {f.name: f for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, raw in pairs.items():
            if key not in known:
                raise UserError(f"unknown --gen setting '{key}' (known: {', '.join(sorted(known))})")
            kwargs[key] = _coerce_gen(key, raw)
        if kwargs.get("logprobs") is False:  # off is the default: the same cache keys as without the flag
            kwargs["logprobs"] = None
        return cls(**kwargs)


def _coerce_gen(key: str, raw: str) -> Any:
    try:
        if key in ("temperature", "top_p"):
            return float(raw)
        if key in ("max_tokens", "seed", "thinking_budget"):
            return int(raw)
        if key == "stop":
            return tuple(s for s in raw.split("|") if s)
        if key in ("enable_thinking", "logprobs"):
            return parse_bool(raw)
    except ValueError:
        raise UserError(f"--gen {key}={raw}: not a valid value") from None
    return raw


def parse_bool(raw: str) -> bool:
    low = str(raw).strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def parse_kv(text: str | None, flag: str) -> dict[str, str]:
    """Parse ``k=v,k2=v2`` (also accepts repeated flags joined by commas)."""
    out: dict[str, str] = {}
    if not text:
        return out
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise UserError(f"{flag}: expected key=value, got '{part}'")
        k, v = part.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def coerce_value(raw: str) -> Any:
    """Best-effort typing of a ``--model-args`` value: int, float, bool, None or str."""
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for conv in (int, float):
        try:
            return conv(raw)
        except ValueError:
            pass
    return raw


ORDERS = ("both", "random", "fixed")
# engine settings that change speed, not results: a run may resume or merge across them
VOLATILE_MODEL_ARGS = frozenset({"batch_size", "max_batch", "sort_by_length", "gpu_memory_utilization",
                                 "num_workers", "n_threads", "n_threads_batch", "n_batch", "prefix_order"})


@dataclass
class RunConfig:
    """Everything that defines a run. Serialised into run.json (never any secret)."""

    model: str
    tasks: list[str]
    limit: int | None = None
    seed: int = 0
    output_dir: str = "results"
    run_name: str | None = None
    data_path: str | None = None
    model_args: dict[str, Any] = field(default_factory=dict)
    task_args: dict[str, Any] = field(default_factory=dict)
    gen: GenConfig = field(default_factory=GenConfig)
    prompt: str | None = None
    judge_type: str | None = None
    orders: str = "both"
    samples: int = 1
    on_failure: str = "loss"
    aggregate: str | None = None
    concurrency: int = 64
    timeout: float = 600.0
    max_retries: int = 6
    base_url: str | None = None
    cache: str | None = None
    no_cache: bool = False
    retry_failed: bool = False
    batch: bool = False
    price: tuple[float, float] | None = None
    shard: tuple[int, int] | None = None
    max_length: int | None = None
    overwrite: bool = False

    def validate(self) -> None:
        if self.orders not in ORDERS:
            raise UserError(f"--orders must be one of {', '.join(ORDERS)}, not '{self.orders}'")
        if self.on_failure not in FAILURE_POLICIES:
            raise UserError(f"--on-failure must be one of {', '.join(FAILURE_POLICIES)}, not '{self.on_failure}'")
        if self.samples < 1:
            raise UserError("--samples must be at least 1")
        if self.concurrency < 1:
            raise UserError("--concurrency must be at least 1")
        if not self.timeout > 0:
            raise UserError("--timeout must be a positive number of seconds")
        if self.max_retries < 0:
            raise UserError("--max-retries must be 0 or more")
        if self.max_length is not None and self.max_length < 1:
            raise UserError("--max-length must be at least 1")
        if self.limit is not None and self.limit < 1:
            raise UserError("--limit must be at least 1")
        if self.shard is not None:
            i, n = self.shard
            if not (n >= 1 and 0 <= i < n):
                raise UserError(f"--shard {i}/{n}: need 0 <= i < n")

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["gen"] = self.gen.set_fields()
        return d

    def identity(self) -> dict[str, Any]:
        """The settings that change results (a resumed run must match these)."""
        d = self.to_json()
        d["model_args"] = {k: v for k, v in d["model_args"].items() if k not in VOLATILE_MODEL_ARGS}
        for volatile in ("concurrency", "timeout", "max_retries", "cache", "no_cache", "retry_failed",
                         "overwrite", "output_dir", "run_name", "price", "batch"):
            d.pop(volatile, None)
        return d
