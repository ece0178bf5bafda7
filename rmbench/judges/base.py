"""The provider contract. A provider is one file in ``judges/providers/`` whose name is the
model prefix; it exposes ``Provider`` (a subclass of ``BaseProvider``).

Providers stay thin: they turn a request into one model call. Retries, concurrency, caching,
batching and usage accounting live once, in ``judges.engine.Judge``, around every provider.

Three kinds of work, a provider implements what it supports:
- ``agenerate(req)``: one chat generation, async (API providers);
- ``generate_batch(reqs)``: many chat generations in one call (vLLM, transformers);
- ``score_batch(items)``: pointwise scores for (conversation, response) pairs (scalar RMs, baselines).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Sequence

from rmbench.config import GenConfig, RunConfig
from rmbench.errors import UserError

GENERATIVE = "generative"
SCALAR = "scalar"
PROVIDERS_PACKAGE = "rmbench.judges.providers"


@dataclass(frozen=True)
class GenRequest:
    """One chat generation. ``messages`` is the full chat (system message first, if any)."""

    messages: tuple[Mapping[str, str], ...]
    gen: GenConfig
    sample: int = 0
    key: str = ""  # cache key; also a stable id for batch APIs
    task: str = ""  # the task of the example asking (for accounting; never part of the cache key)


@dataclass
class GenOutput:
    text: str
    finish_reason: str | None = None  # "stop", "length", "refusal", "content_filter", ...
    usage: dict[str, int] | None = None
    reasoning: str | None = None  # separate reasoning/thinking text when the API returns it
    #: With ``--gen logprobs=true``: for each generated token position, in order, token text ->
    #: log-probability over the top alternatives there (the sampled token included). Token
    #: texts are incremental (what the token adds to the text; see judges/logprobs.py).
    logprobs: list[dict[str, float]] | None = None

    def to_json(self) -> dict:
        d: dict[str, Any] = {"text": self.text, "finish_reason": self.finish_reason}
        if self.usage:
            d["usage"] = self.usage
        if self.reasoning:
            d["reasoning"] = self.reasoning
        if self.logprobs is not None:
            d["logprobs"] = self.logprobs
        return d

    @classmethod
    def from_json(cls, d: dict) -> "GenOutput":
        lp = d.get("logprobs")
        return cls(text=d.get("text", ""), finish_reason=d.get("finish_reason"), usage=d.get("usage"),
                   reasoning=d.get("reasoning"), logprobs=lp if isinstance(lp, list) else None)


@dataclass(frozen=True)
class ScoreItem:
    """A (conversation, response) pair to score; ``example_id``/``index`` identify it."""

    example_id: str
    index: int
    messages: tuple[Mapping[str, str], ...]
    response: str
    task: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)


class ProviderError(Exception):
    """A request failed in a way the provider understood (after its own classification).
    ``status`` names the failure when it is not a plain ``api_error`` (e.g. ``too_long`` for a
    prompt past the model's context window)."""

    def __init__(self, message: str, retryable: bool = False, retry_after: float | None = None,
                 status: str | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


class BaseProvider:
    #: "generative" or "scalar"; may be decided per instance (e.g. from a model config).
    kind: ClassVar[str] = GENERATIVE
    #: True when the provider implements generate_batch/score_batch rather than agenerate.
    batched: ClassVar[bool] = False
    #: Environment variables the provider reads (names are recorded in run.json, never values).
    env_vars: ClassVar[tuple[str, ...]] = ()
    #: True when ``agenerate``/``generate_batch`` fill ``GenOutput.logprobs`` for ``--gen logprobs=true``.
    gives_logprobs: ClassVar[bool] = False

    def __init__(self, name: str, config: RunConfig | None = None):
        self.name = name
        self.config = config
        self.model_args = dict(config.model_args) if config is not None else {}
        self.judge_kind = self.kind

    #: the settings a provider reads when it is built or when it answers (seeds, generation)
    BOUND_SETTINGS = ("model_args", "seed", "gen", "max_length", "judge_type", "base_url")

    def bind(self, config: RunConfig) -> None:
        """Give a provider handed to the Python API the run's settings. One built with settings
        of its own must agree with the run's where it reads them: otherwise the run would record
        one seed and answer with another."""
        if self.config is not None and self.config is not config:
            mine, theirs = self.config.to_json(), config.to_json()
            differ = [k for k in self.BOUND_SETTINGS if mine.get(k) != theirs.get(k)]
            if differ:
                raise UserError(f"the provider object was built with other settings than the run's "
                                f"({', '.join(f'{k}: {mine.get(k)!r} vs {theirs.get(k)!r}' for k in differ)}); "
                                "build it without a config, or with the run's")
        self.config = config
        self.model_args = dict(config.model_args)

    # -- identity -----------------------------------------------------------------------
    def cache_identity(self) -> dict[str, Any]:
        """What, besides the request, determines an output (provider, model, endpoint). A class
        from outside rmbench's providers is named in full (module and class), so two classes that
        share a model name never share answers."""
        cls = type(self)
        if cls.__module__.startswith(PROVIDERS_PACKAGE + "."):
            return {"provider": cls.__module__.rsplit(".", 1)[-1], "model": self.name}
        return {"provider": f"{cls.__module__}.{cls.__qualname__}", "model": self.name}

    def cacheable(self) -> bool:
        """Whether answers may go to the shared judgment cache: rmbench's own providers, and any
        provider that says what determines its answers by defining ``cache_identity``. A provider
        object of a user's own without one is not cached (its name alone may not tell two
        checkpoints apart)."""
        cls = type(self)
        return cls.__module__.startswith(PROVIDERS_PACKAGE + ".") or cls.cache_identity is not BaseProvider.cache_identity

    def describe(self) -> dict[str, Any]:
        """Provider facts for run.json (never secrets)."""
        return self.cache_identity()

    # -- work ---------------------------------------------------------------------------
    async def agenerate(self, req: GenRequest) -> GenOutput:
        raise NotImplementedError

    def generate_batch(self, reqs: Sequence[GenRequest]) -> list[GenOutput]:
        raise NotImplementedError

    def score_batch(self, items: Sequence[ScoreItem]) -> list[float | None]:
        raise NotImplementedError

    def truncate_inputs(self, task: str, tokens: int, side: str) -> bool:
        """Scalar judges: cut ``task``'s over-long scored inputs to ``tokens`` tokens instead of
        failing them (``side``: ``left`` keeps the last tokens, ``right`` the first, ``tokenizer``
        the side the model's tokenizer is set to cut). Used by ``--protocol official``; the
        provider then lists the setting under ``truncation`` in ``describe()``. False when the
        provider cannot cut inputs (they stay ``too_long`` failures)."""
        return False

    def max_batch(self) -> int:
        """Largest number of requests handed to one generate_batch/score_batch call."""
        return int(self.model_args.get("max_batch", 4096))

    # -- faults -------------------------------------------------------------------------
    def classify_error(self, exc: BaseException) -> tuple[bool, float | None]:
        """(retryable?, retry-after seconds or None) for an exception from agenerate."""
        if isinstance(exc, ProviderError):
            return exc.retryable, exc.retry_after
        return False, None

    async def aclose(self) -> None:
        return None

    def close(self) -> None:
        return None


@dataclass(frozen=True)
class Failure:
    """Returned in place of a result by batch providers for one item that could not be
    judged (e.g. ``too_long`` for a prompt past the context window)."""

    status: str
    error: str | None = None


def latency_summary(latencies: list[float], mean: bool = False) -> dict[str, float] | None:
    """Seconds per request as p50, p90, p99 and max (and the mean when asked), rounded to 0.1 ms;
    None without any request. Used for run.json's ``latency_seconds`` and per endpoint."""
    if not latencies:
        return None
    xs = sorted(latencies)

    def q(p: float) -> float:
        return round(xs[min(len(xs) - 1, int(p * len(xs)))], 4)

    out = {"p50": q(0.50), "p90": q(0.90), "p99": q(0.99), "max": round(xs[-1], 4)}
    if mean:
        out["mean"] = round(sum(xs) / len(xs), 4)
    return out
