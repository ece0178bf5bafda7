"""Stand-in judges for tournament runs (the real Judge wraps them) and best-of-N data whose
``(quality N)`` tags tell the fake judge (tests/servers/fake_model.py) which response wins."""

from __future__ import annotations

import asyncio
import random
import re
import time
from pathlib import Path

import rmbench
from rmbench.judges.base import BaseProvider, GenOutput
from tests.helpers import write_jsonl
from tests.servers import fake_model

ITEM = re.compile(r"Question (\d+)\b")


def _prompt(req) -> str:
    return "\n\n".join(m["content"] for m in req.messages)


def _reply(req) -> GenOutput:
    return GenOutput(text=fake_model.answer(_prompt(req)).text, finish_reason="stop")


class Batched(BaseProvider):
    """A batch engine stand-in (like vLLM): records the size of every generate_batch call."""

    batched = True

    def __init__(self, name, config=None):
        super().__init__(name, config)
        self.sizes: list[int] = []

    def generate_batch(self, reqs):
        self.sizes.append(len(reqs))
        return [_reply(r) for r in reqs]


class Slow(BaseProvider):
    """An async API stand-in whose latency depends on the item (read from the prompt); it keeps
    (item, start, end) for every request."""

    def __init__(self, name, config=None, latency=None):
        super().__init__(name, config)
        self.latency = latency
        self.log: list[tuple[int, float, float]] = []

    async def agenerate(self, req):
        item = int(ITEM.search(_prompt(req)).group(1))
        t0 = time.perf_counter()
        await asyncio.sleep(self.latency(item))
        self.log.append((item, t0, time.perf_counter()))
        return _reply(req)


def bon_rows(items: int, n: int, seed: int = 0) -> list[dict]:
    """``items`` best-of-``n`` rows, qualities shuffled; the highest quality is the one correct."""
    rng = random.Random(seed)
    rows = []
    for k in range(items):
        q = list(range(1, n + 1))
        rng.shuffle(q)
        rows.append({"id": f"q{k}", "prompt": f"Question {k}: which answer is best?",
                     "responses": [f"(quality {v}) answer {c} to question {k}" for c, v in enumerate(q)],
                     "correct": [v == n for v in q]})
    return rows


def run_with(provider, tmp_path, rows, name: str = "r", **kw) -> Path:
    """The ``bon`` task through the Python API with ``provider`` as the judge's provider (no
    cache, so every comparison reaches it), into a run directory."""
    data = write_jsonl(tmp_path / f"{name}.jsonl", rows)
    res = rmbench.evaluate(provider, ["bon"], data_path=str(data), output_dir=tmp_path / "out", run_name=name,
                           no_cache=True, progress=False, **kw)
    return res.path
