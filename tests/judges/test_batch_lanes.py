"""The batch queue handing several calls over at once (rmbench/judges/engine.py,
``BatchQueue(many=True)``, used by ``--engine ray``): it must make exactly the engine calls the
one-call-at-a-time queue makes (same items, same order), which is what makes a Ray run
byte-identical to a one-process run."""

from __future__ import annotations

import asyncio
import random

import pytest

from rmbench.judges.base import Failure
from rmbench.judges.engine import BatchQueue


def _workload(queue: BatchQueue, n: int):
    """n judged items, each asking a varying number of questions in turn, some two at once (as a
    pairwise judge asks both orders), like the examples of a run."""

    async def one(i: int):
        answers = []
        for step in range(1 + i % 3):
            if (i + step) % 2:
                answers += await asyncio.gather(queue.submit((i, step, "a")), queue.submit((i, step, "b")))
            else:
                answers.append(await queue.submit((i, step)))
        return answers

    async def run():
        return await asyncio.gather(*(one(i) for i in range(n)))

    return run()


def _answer(item) -> str:
    return "answer to " + repr(item)


@pytest.mark.parametrize("max_batch", [1, 3, 4, 7, 100])
def test_many_makes_the_blocking_queue_calls(max_batch):
    blocking_calls: list[list] = []

    def blocking(items):
        blocking_calls.append(list(items))
        return [_answer(x) for x in items]

    async def go_blocking():
        return await _workload(BatchQueue(blocking, max_batch), 17)

    want = asyncio.run(go_blocking())

    rng = random.Random(max_batch)
    many_calls: list[list] = []
    together: list[int] = []

    def many(batches):   # several calls at once, computed in any order (as actors finish them)
        many_calls.extend(list(b) for b in batches)
        together.append(len(batches))
        out: list = [None] * len(batches)
        for k in rng.sample(range(len(batches)), len(batches)):
            out[k] = [_answer(x) for x in batches[k]]
        return out

    async def go_many():
        return await _workload(BatchQueue(many, max_batch, many=True), 17)

    got = asyncio.run(go_many())
    assert got == want
    assert many_calls == blocking_calls
    if max_batch <= 4:
        assert max(together) > 1   # some calls did go out together


def test_a_failed_call_fails_its_items_and_an_engine_loss_stops_the_run():
    from rmbench.errors import UserError

    def many(batches):
        if any("gone" in b for b in batches):
            raise UserError("every actor died")
        return [RuntimeError("the engine broke") if "boom" in b else [x.upper() for x in b] for b in batches]

    async def go():
        q = BatchQueue(many, 1, many=True)
        ok, failed = await asyncio.gather(q.submit("fine"), q.submit("boom"))
        with pytest.raises(UserError, match="every actor died"):
            await q.submit("gone")
        await q.aclose()
        return ok, failed

    ok, failed = asyncio.run(go())
    assert ok == "FINE"
    assert failed == Failure("api_error", "RuntimeError: the engine broke")
