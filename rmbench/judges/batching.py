"""``--batch``: judging through a provider's batch API (OpenAI Batch API, Anthropic Message
Batches), at about half the price of live requests and with results within 24 hours.

The Judge stays the one place for caching and retries: when ``config.batch`` is set its
``generate`` hands every cache miss to a ``BatchDispatcher`` instead of the live request pool.
The runner then puts every example in flight at once, so the dispatcher sees every request the
protocol issues; once nothing else can run (every example waits on the judge) it sends the
whole wave as one batch (split only where the API's size limits require), writes the batch ids
to ``batches.json`` in the run directory (atomically, before polling starts), polls with
progress, downloads the results, stores every answer through ``Judge.store`` (usage and the
cache, as live answers) and hands each caller its answer or a ``Failure``. Per-request errors
and expired or cancelled requests become ``api_error`` with the reason; they are not retried
(rerun with ``--retry-failed`` to ask them again). Protocols that ask in rounds (a later
comparison depends on an earlier verdict) send one batch per round.

Resuming: a batch whose answers were not yet safely cached (``collected`` false in
batches.json) is polled again by the next run of the same command before anything new is
sent, and its answers are used instead of asking again: an interrupted ``--batch`` run never
pays twice. Batch ids are not secrets; no key is ever written.

A provider supports this by setting ``batch_api = True`` and implementing ``batch_poll_seconds``,
``batch_chunks``, ``batch_submit``, ``batch_status`` and ``batch_results`` (see the openai and
anthropic providers); its exceptions are ProviderErrors like ``agenerate``'s.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from rmbench.errors import UserError
from rmbench.judges.base import Failure, GenOutput, GenRequest
from rmbench.store import files
from rmbench.types import API_ERROR

if TYPE_CHECKING:
    from rmbench.judges.engine import Judge

BATCHES_JSON = "batches.json"


@dataclass
class BatchStatus:
    """Where a submitted batch stands, in the provider's own words (``state``)."""

    state: str
    ended: bool
    done: int = 0      # requests finished, answered or not
    failed: int = 0    # of those, the ones without an answer
    total: int = 0
    detail: str | None = None  # why a batch ended without answers (validation failed, expired, ...)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class BatchState:
    """``batches.json``: one entry per submitted batch, rewritten atomically on every change."""

    def __init__(self, path: Path | None):
        self.path = path
        self.data: dict[str, Any] = {"version": 1, "batches": []}
        if path is not None and files.exists(path):
            try:
                data = json.loads(files.read_text(path))
                if not isinstance(data, dict) or not isinstance(data.get("batches"), list):
                    raise ValueError("no 'batches' list")
                if not all(isinstance(e, dict) for e in data["batches"]):
                    raise ValueError("a batch entry is not an object")
            except RecursionError:
                raise UserError(f"cannot read {path} (nested too deeply); it lists batches already paid for: "
                                "repair it, or delete it to submit them again") from None
            except (OSError, ValueError) as e:
                raise UserError(f"cannot read {path} ({e}); it lists batches already paid for: repair it, or "
                                "delete it to submit them again") from None
            self.data = data

    @property
    def entries(self) -> list[dict[str, Any]]:
        return self.data["batches"]

    def add(self, entry: dict[str, Any]) -> None:
        self.entries.append(entry)
        self.save()

    def update(self, batch_id: str, **fields: Any) -> None:
        for e in self.entries:
            if e.get("id") == batch_id:
                e.update(fields)
        self.save()

    def unfinished(self, judge_identity: dict[str, Any]) -> list[dict[str, Any]]:
        return [e for e in self.entries if not e.get("collected") and e.get("judge") == judge_identity]

    def save(self) -> None:
        if self.path is None:
            return
        files.write_json_atomic(self.path, self.data)


def unfinished_batches(run_dir: Path, judge_identity: dict[str, Any]) -> int:
    """How many batches in ``run_dir/batches.json`` this judge submitted and never collected."""
    path = Path(run_dir) / BATCHES_JSON
    if not files.exists(path):
        return 0
    try:
        return len(BatchState(path).unfinished(judge_identity))
    except UserError:
        return 0


class BatchDispatcher:
    def __init__(self, judge: "Judge"):
        self.judge = judge
        self.provider = judge.provider
        self.loop = asyncio.get_running_loop()
        self.identity = self.provider.cache_identity()
        self.state = BatchState(Path(judge.run_dir) / BATCHES_JSON if judge.run_dir is not None else None)
        self.poll = float(self.provider.batch_poll_seconds())
        self.pending: dict[str, list[asyncio.Future]] = {}
        self.reqs: dict[str, GenRequest] = {}
        self.recovered: dict[str, GenOutput | Failure] = {}
        self._recovery: asyncio.Task | None = None
        self._flusher: asyncio.Task | None = None
        self._progress: dict[str, tuple[int, int]] = {}  # batch id -> (done, failed)

    def _log(self, line: str) -> None:
        if self.judge.log is not None:
            self.judge.log(line)

    # -- the caller's side ------------------------------------------------------------------
    async def submit(self, req: GenRequest, refresh: Callable[[GenOutput], bool] | None = None
                     ) -> GenOutput | Failure:
        if self._recovery is None:
            self._recovery = asyncio.ensure_future(self._recover())
        await asyncio.shield(self._recovery)
        hit = self.recovered.get(req.key)
        if hit is not None:
            stale = (isinstance(hit, Failure) and self.judge.config.retry_failed) or (
                isinstance(hit, GenOutput) and refresh is not None and refresh(hit))
            if not stale:
                return hit
        fut = self.loop.create_future()
        self.pending.setdefault(req.key, []).append(fut)
        self.reqs[req.key] = req
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._run())
        return await fut

    async def _settle(self) -> None:
        """Wait until nothing new arrives: every example still running waits on the judge."""
        while True:
            last, stable = -1, 0
            while stable < 3:
                await asyncio.sleep(0)
                stable, last = (stable + 1, last) if len(self.pending) == last else (0, len(self.pending))
            await asyncio.sleep(0.05)
            if len(self.pending) == last:
                return

    async def _run(self) -> None:
        while self.pending:
            await self._settle()
            wave, self.pending = self.pending, {}
            reqs = [self.reqs.pop(k) for k in wave]
            try:
                results = await self._send_wave(reqs)
                default = Failure(API_ERROR, "the batch returned nothing for this request")
            except UserError as e:
                for futs in wave.values():
                    for f in futs:
                        if not f.done():
                            f.set_exception(e)
                continue
            except Exception as e:  # submitted batches stay in batches.json: --retry-failed resumes them
                results, default = {}, Failure(API_ERROR, f"batch failed: {e}"[:300])
            for key, futs in wave.items():
                res = results.get(key) or default
                for f in futs:
                    if not f.done():
                        f.set_result(res)

    # -- batches ----------------------------------------------------------------------------
    async def _send_wave(self, reqs: list[GenRequest]) -> dict[str, GenOutput | Failure]:
        stats = self.judge.stats
        entries = []
        for chunk in self.provider.batch_chunks(reqs):
            handle = await self._retrying(lambda c=chunk: self.provider.batch_submit(c), "submitting a batch")
            entry = {"id": handle["id"], "handle": handle, "judge": self.identity, "requests": len(chunk),
                     "submitted": _now(), "state": "submitted", "collected": False}
            self.state.add(entry)  # on disk before any polling: a rerun finds it
            stats.requests += len(chunk)
            stats.batch["submitted"] = stats.batch.get("submitted", 0) + len(chunk)
            self._log(f"batch {handle['id']} submitted: {len(chunk)} requests (ids in "
                      f"{self.state.path or 'memory'}; rerun the same command to resume if stopped)")
            entries.append((entry, [r.key for r in chunk]))
        results: dict[str, GenOutput | Failure] = {}
        outcomes = await asyncio.gather(*(self._wait_and_collect(e) for e, _ in entries))
        for (entry, keys), (got, status) in zip(entries, outcomes):
            results.update(got)
            why = f"batch {entry['id']} ended '{status.state}'" + (f": {status.detail}" if status.detail else "")
            for k in keys:
                if k not in results:
                    results[k] = Failure(API_ERROR, why[:300])
        return results

    async def _wait_and_collect(self, entry: dict) -> tuple[dict[str, GenOutput | Failure], BatchStatus]:
        handle, bid = entry["handle"], entry["id"]
        last_state = entry.get("state")
        while True:
            status = await self._retrying(lambda: self.provider.batch_status(handle), f"checking batch {bid}")
            self._note_progress(bid, status)
            if status.state != last_state:
                self.state.update(bid, state=status.state)
                last_state = status.state
            if status.ended:
                break
            await asyncio.sleep(self.poll)
        got = await self._retrying(lambda: self.provider.batch_results(handle), f"downloading batch {bid}")
        answered = 0
        for key, res in got.items():
            if isinstance(res, GenOutput):
                self.judge.store(key, res)
                answered += 1
        failed = len(got) - answered
        self._note_progress(bid, BatchStatus(status.state, True, done=len(got), failed=failed, total=len(got)))
        if self.judge.cache is not None:  # safely cached: a later run need not poll this batch again
            self.judge.cache.flush()
            self.state.update(bid, collected=True, ended=_now(), answered=answered, failed=failed)
        else:
            self.state.update(bid, ended=_now(), answered=answered, failed=failed)
        self._log(f"batch {bid} {status.state}: {answered} answered, {failed} failed"
                  + (f" ({status.detail})" if status.detail and failed else ""))
        return got, status

    def _note_progress(self, bid: str, status: BatchStatus) -> None:
        self._progress[bid] = (status.done, status.failed)
        stats = self.judge.stats
        stats.batch["done"] = sum(d for d, _ in self._progress.values())
        stats.batch["failed"] = sum(f for _, f in self._progress.values())

    async def _recover(self) -> None:
        """Poll and collect the batches an interrupted run of this command left behind."""
        entries = self.state.unfinished(self.identity)
        if not entries:
            return
        for e in entries:
            self._log(f"batch {e['id']} ({e.get('requests', '?')} requests, submitted {e.get('submitted', '?')}): "
                      "resuming it instead of sending its requests again")
            self.judge.stats.batch["submitted"] = self.judge.stats.batch.get("submitted", 0) + int(e.get("requests", 0))
        outcomes = await asyncio.gather(*(self._wait_and_collect(e) for e in entries), return_exceptions=True)
        for e, out in zip(entries, outcomes):
            if isinstance(out, UserError):
                raise out
            if isinstance(out, BaseException):  # e.g. the provider no longer has it: ask again
                self._log(f"batch {e['id']} could not be resumed ({out}); its requests will be sent again")
                continue
            self.recovered.update(out[0])

    async def _retrying(self, fn: Callable[[], Awaitable[Any]], what: str) -> Any:
        """One batch API call under the Judge's retry policy (the one the live request pool
        uses). A key or permission problem stops the run with a one-line error."""
        from rmbench.judges.engine import fatal_http

        judge = self.judge
        attempt = 0
        while True:
            try:
                return await fn()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                retryable, after = self.provider.classify_error(e)
                delay = judge.retry.delay(retryable, attempt, after)
                if delay is None:
                    if fatal_http(e, retryable):
                        raise UserError(f"--batch: {what} failed: {str(e).splitlines()[0]}"[:500]) from None
                    raise
            attempt += 1
            judge.stats.retries += 1
            await judge.clock.sleep(delay)

    async def aclose(self) -> None:
        for t in (self._flusher, self._recovery):
            if t is not None and not t.done():
                t.cancel()
                await asyncio.gather(t, return_exceptions=True)
