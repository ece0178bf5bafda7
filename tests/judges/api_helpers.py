"""Helpers for judging through the fake API server with the real SDKs and the real Judge."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rmbench.config import GenConfig, RunConfig
from rmbench.judges import build_judge
from rmbench.protocol import Policy, evaluate_example
from rmbench.types import Comparison, Example

PROVIDERS = ("openai", "anthropic")


def config(fake, provider: str, tmp_path: Path, **kw) -> RunConfig:
    base = fake.openai_base_url if provider == "openai" else fake.anthropic_base_url
    settings = dict(model=f"{provider}/fake-judge", tasks=["t"], base_url=base, cache=str(tmp_path / "cache.sqlite"),
                    max_retries=1, timeout=5.0, concurrency=8)
    settings.update(kw)
    if isinstance(settings.get("gen"), dict):
        settings["gen"] = GenConfig(**settings["gen"])
    return RunConfig(**settings)


def judge(fake, provider: str, tmp_path: Path, **kw):
    return build_judge(config(fake, provider, tmp_path, **kw))


def example(i: int = 0, topic: str = "apples", short: str = "No.", long: str = "Yes, and here is why in detail.",
            chosen_long: bool = True) -> Example:
    """A two-candidate example; the fake judge prefers the longer candidate."""
    chosen, rejected = (long, short) if chosen_long else (short, long)
    return Example(id=str(i), task="t", subset="s", messages=({"role": "user", "content": f"A question about {topic}?"},),
                   candidates=(chosen, rejected), preferred=(0,))


def compare(j, ex: Example, first: int = 0, second: int = 1, sample: int = 0):
    """One comparison through the Judge (closing its HTTP client afterwards)."""

    async def go():
        try:
            return await j.compare(ex, Comparison(ex.id, first, second, sample))
        finally:
            await j.aclose()

    return asyncio.run(go())


def evaluate(j, examples, policy: Policy | None = None):
    """Every example through ``evaluate_example`` concurrently, as the runner does."""
    policy = policy or Policy()

    async def go():
        try:
            return await asyncio.gather(*(evaluate_example(ex, j.mode, policy, j.compare, j.score, pick=j.pick)
                                          for ex in examples))
        finally:
            await j.aclose()

    return asyncio.run(go())
