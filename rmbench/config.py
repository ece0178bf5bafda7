"""Run and generation settings.

``GenConfig`` fields all default to None; ``merge`` overlays only what is set, so task defaults,
CLI flags and per-call settings stack without special cases. Only set fields reach a provider
(and the cache key), so adding a field never invalidates cached judgments.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field, fields
from typing import Any

from rmbench.contracts import FAILURE_POLICIES, PROTOCOLS, RMBENCH
from rmbench.errors import UserError
from rmbench.redaction import scrub_text


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
        gen = cls(**kwargs)
        gen.validate()
        return gen

    def validate(self) -> None:
        """Values no provider accepts are refused here, once, before any work (providers may
        narrow the ranges further, e.g. an API's maximum temperature)."""
        def bad(key: str, why: str) -> UserError:
            return UserError(f"--gen {key}={getattr(self, key)!r}: {why}")

        for key in ("temperature", "top_p"):
            v = getattr(self, key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
                raise bad(key, "must be a finite number")
        if self.temperature is not None and self.temperature < 0:
            raise bad("temperature", "must be 0 or more")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise bad("top_p", "must be above 0 and at most 1")
        for key, least in (("max_tokens", 1), ("seed", 0), ("thinking_budget", 0)):
            v = getattr(self, key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < least):
                raise bad(key, f"must be a whole number of at least {least}")
        if self.reasoning_effort is not None and self.reasoning_effort not in REASONING_EFFORTS:
            raise bad("reasoning_effort", f"must be one of {', '.join(REASONING_EFFORTS)}")
        if self.stop is not None and (not isinstance(self.stop, tuple) or not self.stop
                                      or not all(isinstance(x, str) and x for x in self.stop)):
            raise bad("stop", "must be non-empty strings separated by '|'")
        for key in ("enable_thinking", "logprobs"):
            v = getattr(self, key, None)
            if v is not None and not isinstance(v, bool):
                raise bad(key, "must be true or false")


#: the union of the APIs' effort levels (OpenAI reasoning_effort, Anthropic output_config.effort)
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")


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
        k, v = (x.strip() for x in part.split("=", 1))
        if not k:
            raise UserError(f"{flag}: '{part}' has no key before '='")
        if not k.isprintable() or not v.isprintable():
            raise UserError(f"{flag}: '{k}' contains control characters")
        if k in out:
            raise UserError(f"{flag}: '{k}' is given twice")
        out[k] = v
    return out


def coerce_value(raw: str) -> Any:
    """Best-effort typing of a ``--model-args`` value: int, float, bool, None or str. A number
    that is not finite (``nan``, ``inf``, ``1e999``) is refused: it cannot be written to run.json."""
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        value = float(raw)
    except ValueError:
        return raw
    if not math.isfinite(value):
        raise UserError(f"'{raw}' is not a finite number")
    return value


def check_run_name(run_name: str) -> str:
    """A run name is one plain directory name: not blank, no path separators, no control
    characters, not starting with '.'."""
    if not isinstance(run_name, str) or not run_name.strip():
        raise UserError("--run-name is blank; give a plain directory name")
    if any(not ch.isprintable() for ch in run_name):
        raise UserError("--run-name contains control characters; give a plain directory name")
    if run_name in (".", "..") or "/" in run_name or "\\" in run_name or os.sep in run_name:
        raise UserError(f"--run-name '{run_name}' must be a plain name inside the output directory "
                        "(no '/' or '\\', not '.' or '..')")
    if run_name != run_name.strip():
        raise UserError(f"--run-name '{run_name}' starts or ends with spaces")
    if run_name.startswith("."):   # hidden from listings, and the leaderboard's scan skips it
        raise UserError(f"--run-name '{run_name}' starts with '.'; give a name that is not hidden")
    return run_name


ORDERS = ("both", "random", "fixed")
# engine settings that change speed, not results: a run may resume or merge across them
VOLATILE_MODEL_ARGS = frozenset({"batch_size", "max_batch", "sort_by_length", "gpu_memory_utilization",
                                 "num_workers", "n_threads", "n_threads_batch", "n_batch", "prefix_order",
                                 # --engine ray's pool (rmbench/judges/ray_engine.py): where, not what, is computed
                                 "replicas", "gpus_per_replica", "cpus_per_replica", "max_restarts",
                                 "batch_retries"})
#: --engine: ``local`` runs the judge in this process; ``ray`` as a pool of Ray actors
ENGINES = ("local", "ray")


@dataclass
class RunConfig:
    """Everything that defines a run. Serialised into run.json (never any secret)."""

    model: str
    tasks: list[str]
    limit: int | None = None
    seed: int = 0
    output_dir: str | None = "results"   # None: in memory (the Python API), no run directory
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
    protocol: str = RMBENCH  # rmbench | official: see rmbench/protocol/official.py (part of the identity)
    engine: str = "local"    # local | ray (rmbench/judges/ray_engine.py); not part of the identity
    ray_address: str | None = None  # --engine ray: auto, ray://host:port, or None (RAY_ADDRESS, else a local Ray)

    def _check_types(self) -> None:
        """Each setting of the kind its field declares (the Python API and run.json hand in values
        that argparse never saw)."""
        def isint(v):
            return isinstance(v, int) and not isinstance(v, bool)

        def isnum(v):
            return isinstance(v, (int, float)) and not isinstance(v, bool)

        kinds = {
            "model": (lambda v: isinstance(v, str), "text"),
            "tasks": (lambda v: isinstance(v, list) and all(isinstance(t, str) for t in v), "a list of task names"),
            "limit": (lambda v: v is None or isint(v), "a whole number"),
            "seed": (isint, "a whole number"),
            "samples": (isint, "a whole number"), "concurrency": (isint, "a whole number"),
            "max_retries": (isint, "a whole number"),
            "max_length": (lambda v: v is None or isint(v), "a whole number"),
            "timeout": (isnum, "a number of seconds"),
            "model_args": (lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v), "key=value settings"),
            "task_args": (lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v), "key=value settings"),
            "gen": (lambda v: isinstance(v, GenConfig), "generation settings"),
            "price": (lambda v: v is None or (isinstance(v, tuple) and len(v) == 2 and all(isnum(x) for x in v)),
                      "IN,OUT (two numbers)"),
            "shard": (lambda v: v is None or (isinstance(v, tuple) and len(v) == 2 and all(isint(x) for x in v)),
                      "I/N (two whole numbers)"),
        }
        for name in ("output_dir", "run_name", "data_path", "prompt", "judge_type", "aggregate", "base_url", "cache",
                     "ray_address"):
            kinds[name] = (lambda v: v is None or isinstance(v, str), "text")
        for name in ("orders", "on_failure", "protocol", "engine"):
            kinds[name] = (lambda v: isinstance(v, str), "text")
        for name in ("no_cache", "retry_failed", "batch", "overwrite"):
            kinds[name] = (lambda v: isinstance(v, bool), "true or false")
        for name, (ok, what) in kinds.items():
            value = getattr(self, name)
            if not ok(value):
                raise UserError(f"setting {name}={value!r}: must be {what}")

    def validate(self) -> None:
        self._check_types()
        if not isinstance(self.model, str) or not self.model.strip():
            raise UserError("--model is empty")
        if not self.tasks or not all(isinstance(t, str) and t.strip() for t in self.tasks):
            raise UserError("--task is empty")
        if len(set(self.tasks)) != len(self.tasks):
            raise UserError(f"--task names a task twice ({', '.join(self.tasks)})")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise UserError(f"--seed must be a whole number of at least 0, not {self.seed!r}")
        if self.run_name is not None:
            check_run_name(self.run_name)
        self.gen.validate()
        for name, value in (("--model-args", self.model_args), ("--task-args", self.task_args)):
            for k, v in value.items():
                if isinstance(v, float) and not math.isfinite(v):
                    raise UserError(f"{name} {k}={v}: not a finite number")
        if self.price is not None and not all(math.isfinite(x) and x >= 0 for x in self.price):
            raise UserError(f"--price {self.price[0]},{self.price[1]}: prices must be finite and 0 or more")
        if self.orders not in ORDERS:
            raise UserError(f"--orders must be one of {', '.join(ORDERS)}, not '{self.orders}'")
        if self.protocol not in PROTOCOLS:
            raise UserError(f"--protocol must be one of {', '.join(PROTOCOLS)}, not '{self.protocol}'")
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
        if self.engine not in ENGINES:
            raise UserError(f"--engine must be one of {', '.join(ENGINES)}, not '{self.engine}'")
        if self.ray_address is not None and self.engine != "ray":
            raise UserError("--ray-address needs --engine ray")
        if self.base_url:
            self.base_url = expand_base_url(self.base_url)

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["gen"] = self.gen.set_fields()
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "RunConfig":
        """The config a run.json recorded (unknown keys from a newer rmbench are ignored)."""
        known = {f.name for f in fields(cls)}
        try:
            kw = {k: v for k, v in d.items() if k in known}
            gen = dict(kw.pop("gen", None) or {})
            if gen.get("stop") is not None:
                gen["stop"] = tuple(gen["stop"])
            for key in ("price", "shard"):
                if kw.get(key) is not None:
                    kw[key] = tuple(kw[key])
            config = cls(gen=GenConfig(**gen), **kw)
        except (TypeError, ValueError) as e:
            raise UserError(f"run.json's config cannot be read back ({e})") from None
        try:
            config.validate()
        except UserError as e:
            raise UserError(f"run.json's config is not a valid rmbench config ({e})") from None
        return config

    def identity(self) -> dict[str, Any]:
        """The settings that change results (a resumed run must match these)."""
        d = self.to_json()
        d["model_args"] = {k: v for k, v in d["model_args"].items() if k not in VOLATILE_MODEL_ARGS}
        # where the data lies is not what it is: the identity holds its content hashes (data_key)
        for volatile in ("concurrency", "timeout", "max_retries", "cache", "no_cache", "retry_failed",
                         "overwrite", "output_dir", "run_name", "price", "batch", "data_path", "engine",
                         "ray_address"):
            d.pop(volatile, None)
        if d.get("base_url"):  # replicas of one model: the first endpoint names them (docs/scale-out.md)
            d["base_url"] = split_base_url(d["base_url"])[0]
        return d


# a comma that starts another URL (a comma inside one URL, e.g. in its query, does not split it)
_NEXT_URL = re.compile(r",\s*(?=[A-Za-z][A-Za-z0-9+.-]*://)")


def split_base_url(raw: str) -> list[str]:
    """The endpoints of a ``--base-url`` value: ``URL1,URL2,...`` (one URL gives one entry)."""
    urls = [u.strip().rstrip(",").strip() for u in _NEXT_URL.split(raw.strip())]
    return [u for u in urls if u] or [raw.strip()]


def expand_base_url(raw: str) -> str:
    """``--base-url`` as one string: a URL, several separated by commas, or ``@FILE`` with one
    URL per line (blank lines and ``#`` comments skipped), read once here so run.json records
    the endpoints themselves. The URLs are checked by the provider (rmbench/judges/endpoints.py)."""
    raw = raw.strip()
    if not raw.startswith("@"):
        return ",".join(split_base_url(raw))
    path = raw[1:].strip()
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"--base-url @{path}: cannot read the endpoint list ({type(e).__name__}: {e})") from None
    urls = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    bad = [u for u in urls if "," in u or " " in u]
    if bad:
        raise UserError(f"--base-url @{path}: one URL per line, not '{scrub_text(bad[0])[:80]}'")
    if not urls:
        raise UserError(f"--base-url @{path}: the file lists no URL")
    return ",".join(urls)
