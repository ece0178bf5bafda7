"""A stand-in for the Judge's retry clock (rmbench.judges.engine.Clock): every wait the Judge
asks for is recorded, in seconds, and ends at once, so backoff tests check the exact waits
without sleeping through them. The real clock's timers are covered by
tests/judges/test_api_faults.py::test_retries_wait_on_the_real_clock."""

from __future__ import annotations

import asyncio
from typing import Any, Callable


class FakeClock:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def call_later(self, loop: asyncio.AbstractEventLoop, delay: float, callback: Callable[..., Any],
                   *args: Any) -> asyncio.TimerHandle:
        self.waits.append(delay)
        return loop.call_later(0, callback, *args)

    async def sleep(self, delay: float) -> None:
        self.waits.append(delay)
        await asyncio.sleep(0)
