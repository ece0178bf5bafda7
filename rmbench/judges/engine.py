"""``Judge``: the one wrapper around every provider.

It renders templates, consults the cache, bounds concurrency, retries with backoff (honouring
Retry-After), coalesces work for batch providers into large calls, hands whole waves of requests
to a provider's batch API (``--batch``, see ``judges/batching.py``), parses verdicts and keeps
usage statistics. Protocol code calls ``compare`` and ``score``; it never sees a provider.

API requests go through ``RequestPool``: ``--concurrency`` worker tasks take requests from one
FIFO queue. A worker that gets an answer hands it back and sends the next request in the same
step, so a slot never waits for a wave of other answers to be processed first (a semaphore
would wake the next sender only after every answer that arrived together was handled).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import math
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from rmbench.config import GenConfig, RunConfig
from rmbench.contracts import LISTWISE, PAIRWISE, POINTWISE
from rmbench.errors import UserError
from rmbench.judges.base import SCALAR, BaseProvider, Failure, GenOutput, GenRequest, ProviderError, ScoreItem
from rmbench.judges.cache import Cache, cache_key
from rmbench.judges.logprobs import label_probs, rating_probs, rating_scale
from rmbench.judges.parsers import find_verdict
from rmbench.judges.prompts import BEST_OF_N, RATING, JudgeTemplate
from rmbench.judges.prompts import PAIRWISE as PAIRWISE_TEMPLATE
from rmbench.types import (
    API_ERROR,
    EMPTY,
    OK,
    REFUSED,
    TIE,
    TRUNCATED,
    UNPARSED,
    Comparison,
    Example,
    Judgment,
    Listing,
    Pick,
    Score,
    is_failure,
)

#: the judge mode a template's mode asks for
TEMPLATE_JUDGE_MODE = {RATING: POINTWISE, BEST_OF_N: LISTWISE}


def judge_mode_of(template: JudgeTemplate) -> str:
    return TEMPLATE_JUDGE_MODE.get(template.mode, PAIRWISE)

#: Environment variable: the first retry waits this many seconds (doubling after; default 0.5).
RETRY_BASE_ENV = "RMBENCH_RETRY_BASE"
DEFAULT_RETRY_BASE = 0.5
MAX_BACKOFF = 60.0
#: A run stops (one-line error) after this many requests in a row end with the same
#: authentication / permission / not-found error: every later request would fail the same way.
STOP_AFTER_SAME_ERROR = 20
FATAL_HTTP = (401, 403, 404)


def one_line(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, ProviderError) and text:  # already a message written for people
        return text[:limit]
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text[:limit]


@dataclass
class Stats:
    requests: int = 0          # calls that reached the provider (after the cache)
    cache_hits: int = 0
    retries: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    batch: dict[str, int] = field(default_factory=dict)  # batch API progress: submitted, done, failed
    p_labels_asked: int = 0    # --gen logprobs: verdicts whose output carried log-probabilities
    p_labels_found: int = 0    # ... and whose verdict token was located (p_labels recorded)

    def add_usage(self, usage: dict | None) -> None:
        for k, v in (usage or {}).items():
            if isinstance(v, (int, float)):
                self.tokens[k] = self.tokens.get(k, 0) + int(v)

    def fail(self, status: str) -> None:
        self.failures[status] = self.failures.get(status, 0) + 1


class BatchQueue:
    """Collects requests from many coroutines and hands them to a blocking batch function in
    large calls: it waits until the event loop has nothing else to run (every live item is
    waiting on the judge), then flushes up to ``max_batch`` requests at once.

    With ``many``, ``fn`` takes several batches at once and returns, per batch, its results or
    the exception that failed it, running them concurrently (``--engine ray``: one per actor,
    rmbench/judges/ray_engine.py); see ``_run_many``.

    The call blocks the event loop on purpose: while it runs nothing else may submit, so which
    items share a batch (and so a local model's padding, hence its scores to the last bit) never
    depends on thread timing. ``rmbench.evaluate_async`` loads the data and the model in a thread;
    only the model's own work holds the caller's loop."""

    def __init__(self, fn: Callable[[list], Any], max_batch: int, many: bool = False):
        self.fn = fn
        self.max_batch = max(1, max_batch)
        self.many = many
        self.pending: list[tuple[Any, asyncio.Future]] = []
        self._flusher: asyncio.Task | None = None
        self.calls = 0

    async def submit(self, item: Any) -> Any:
        fut = asyncio.get_running_loop().create_future()
        self.pending.append((item, fut))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._run())
        return await fut

    async def _settle(self) -> None:
        stable = 0
        last = -1
        while stable < 3 and len(self.pending) < self.max_batch:
            await asyncio.sleep(0)
            if len(self.pending) == last:
                stable += 1
            else:
                stable, last = 0, len(self.pending)

    async def _run(self) -> None:
        if self.many:
            return await self._run_many()
        while self.pending:
            await self._settle()
            batch, self.pending = self.pending[: self.max_batch], self.pending[self.max_batch:]
            batch = [(item, fut) for item, fut in batch if not fut.cancelled()]
            if not batch:
                continue
            self.calls += 1
            try:
                results = self.fn([item for item, _ in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"batch call returned {len(results)} results for {len(batch)} inputs")
            except Exception as e:  # one failed batch fails its items, not the run
                for _, fut in batch:
                    if not fut.done():
                        fut.set_result(Failure(API_ERROR, one_line(e)))
                continue
            for (_, fut), res in zip(batch, results):
                if not fut.done():
                    fut.set_result(res)

    async def _run_many(self) -> None:
        """The calls the loop above makes, with the same items in the same order, but each run
        of consecutive full calls (those the loop makes one after the other without letting
        anything else run: after a call of ``max_batch`` items it takes the next at once) handed
        to ``fn`` together, which runs them concurrently (one per Ray actor) and returns when all
        are done. Nothing else runs meanwhile in either case, so a run makes the same engine calls
        with one worker or many, and its results are byte-identical."""
        while self.pending:
            await self._settle()
            chain: list[list[tuple[Any, asyncio.Future]]] = []
            while self.pending:
                batch, self.pending = self.pending[: self.max_batch], self.pending[self.max_batch:]
                batch = [(item, fut) for item, fut in batch if not fut.cancelled()]
                if batch:
                    chain.append(batch)
                if len(self.pending) < self.max_batch:
                    break
            if not chain:
                continue
            self.calls += len(chain)
            try:
                outcomes = self.fn([[item for item, _ in batch] for batch in chain])
            except UserError as e:  # the engine is gone (e.g. every Ray actor died): the run stops
                for batch in chain:
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(e)
                continue
            except Exception as e:
                outcomes = [e] * len(chain)
            for batch, out in zip(chain, outcomes):
                if not isinstance(out, BaseException) and len(out) != len(batch):
                    out = RuntimeError(f"batch call returned {len(out)} results for {len(batch)} inputs")
                for k, (_, fut) in enumerate(batch):
                    if not fut.done():  # one failed call fails its items, not the run
                        fut.set_result(Failure(API_ERROR, one_line(out)) if isinstance(out, BaseException) else out[k])

    async def aclose(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)


@dataclass
class RetryPolicy:
    """The one retry rule for every provider call, live requests (``RequestPool``) and batch
    API calls (``batching.BatchDispatcher``) alike: a retryable failure is tried again up to
    ``max_retries`` times, after the server's Retry-After when it gave one, else after
    ``base`` * 2^attempt seconds (at most ``MAX_BACKOFF``); either wait gets up to 25 % jitter."""

    max_retries: int
    base: float = DEFAULT_RETRY_BASE
    rng: random.Random = field(default_factory=random.Random)
    max_backoff: float = MAX_BACKOFF

    def delay(self, retryable: bool, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait before trying again after failed attempt number ``attempt`` (0 for
        the first try), or None when the call has failed for good."""
        if not retryable or attempt >= self.max_retries:
            return None
        wait = retry_after if retry_after is not None else min(self.max_backoff, self.base * (2 ** attempt))
        return wait * (1.0 + 0.25 * self.rng.random())


def fatal_http(exc: BaseException, retryable: bool) -> bool:
    """A non-retryable authentication / permission / not-found answer: asking again, or asking
    anything else with the same key and model, fails the same way."""
    return not retryable and getattr(exc, "http_status", None) in FATAL_HTTP


class Clock:
    """How the Judge waits before a retry: real event-loop timers. A Judge's ``clock`` may be
    replaced by any object with these two methods (the tests use one that records each wait
    and returns at once)."""

    def call_later(self, loop: asyncio.AbstractEventLoop, delay: float, callback: Callable[..., Any],
                   *args: Any) -> asyncio.TimerHandle:
        return loop.call_later(delay, callback, *args)

    async def sleep(self, delay: float) -> None:
        await asyncio.sleep(delay)


def retry_base() -> float:
    raw = os.environ.get(RETRY_BASE_ENV, "").strip()
    if not raw:
        return DEFAULT_RETRY_BASE
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise UserError(f"{RETRY_BASE_ENV} must be a number of seconds >= 0, not '{raw}'")
    return value


class RequestPool:
    """``size`` workers sending API requests taken from one FIFO queue, with retries.

    A request that fails in a retryable way goes back on the queue after its backoff (its
    worker moves on meanwhile), so waiting never holds a slot. Results and final failures are
    handed to the caller's future; a run-stopping error (see ``STOP_AFTER_SAME_ERROR``) is
    raised in every caller from then on."""

    def __init__(self, judge: "Judge", size: int):
        self.judge = judge
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.workers = [self.loop.create_task(self._work()) for _ in range(max(1, size))]
        self.fatal: UserError | None = None
        self._streak: tuple[Any, int] = (None, 0)
        self._timers: set[asyncio.TimerHandle] = set()

    async def call(self, req: GenRequest) -> GenOutput | Failure:
        if self.fatal is not None:
            raise self.fatal
        fut = self.loop.create_future()
        self.queue.put_nowait((req, fut, 0))
        return await fut  # a cancelled caller cancels the future; its worker skips it

    def _requeue(self, item) -> None:
        self.queue.put_nowait(item)

    async def _send(self, req: GenRequest) -> GenOutput:
        timeout = self.judge.config.timeout
        if hasattr(asyncio, "timeout"):  # 3.11+: no extra task per request, unlike wait_for
            async with asyncio.timeout(timeout):
                return await self.judge.provider.agenerate(req)
        return await asyncio.wait_for(self.judge.provider.agenerate(req), timeout=timeout)

    async def _work(self) -> None:
        while True:
            item = await self.queue.get()
            fut = item[1]
            if fut.done():
                continue
            try:
                await self._attempt(*item)
            except asyncio.CancelledError:
                if not fut.done():
                    fut.cancel()
                raise
            except BaseException as e:  # a bug, not a request failure: fail the caller loudly, keep the worker
                if not fut.done():
                    fut.set_exception(e)

    async def _attempt(self, req: GenRequest, fut: asyncio.Future, attempt: int) -> None:
        judge, stats = self.judge, self.judge.stats
        if self.fatal is not None:
            fut.set_exception(self.fatal)
            return
        status, fatal = API_ERROR, False
        t0 = time.perf_counter()
        stats.requests += 1
        try:
            out = await self._send(req)
        except asyncio.TimeoutError:
            retryable, after, err = True, None, f"timed out after {judge.config.timeout:g}s"
        except asyncio.CancelledError:
            raise
        except UserError as e:   # a setup the run cannot go on with (replicas of two models): stop it
            if self.fatal is None:
                self.fatal = e
            if not fut.done():
                fut.set_exception(self.fatal)
            return
        except Exception as e:
            retryable, after = judge.provider.classify_error(e)
            err = one_line(e)
            if isinstance(e, ProviderError) and e.status:
                status = e.status
            fatal = fatal_http(e, retryable)
        else:
            stats.latencies.append(time.perf_counter() - t0)
            self._streak = (None, 0)
            if not fut.done():
                fut.set_result(out)
            return
        if fatal:
            self._note_fatal(err)
        else:
            self._streak = (None, 0)
        if fut.done():
            return
        if self.fatal is not None:
            fut.set_exception(self.fatal)
            return
        delay = judge.retry.delay(retryable, attempt, after)
        if delay is None:
            fut.set_result(Failure(status, err))
            return
        stats.retries += 1
        handle = judge.clock.call_later(self.loop, delay, self._requeue, (req, fut, attempt + 1))
        self._timers.add(handle)
        if len(self._timers) > 4096:
            now = self.loop.time()
            self._timers = {h for h in self._timers if not h.cancelled() and h.when() > now}

    def _note_fatal(self, err: str) -> None:
        same, n = self._streak
        n = n + 1 if same == err else 1
        self._streak = (err, n)
        if n >= STOP_AFTER_SAME_ERROR and self.fatal is None:
            self.fatal = UserError(f"stopped: {n} requests in a row failed with \"{err}\"; what was judged "
                                   "so far is kept - fix the cause and rerun the same command to resume")

    async def aclose(self) -> None:
        for h in self._timers:
            h.cancel()
        for w in self.workers:
            w.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)
        while not self.queue.empty():
            _, fut, _ = self.queue.get_nowait()
            if not fut.done():
                fut.cancel()


class Judge:
    clock: Clock = Clock()  # waits between retries (request pool and batch API calls)

    def __init__(self, provider: BaseProvider, config: RunConfig, template: JudgeTemplate | None,
                 templates: dict[str, JudgeTemplate] | None = None, cache: Cache | None = None):
        self.provider = provider
        self.config = config
        self.template = template
        self.templates = templates or {}
        self.cache = cache
        self.gen = config.gen
        self.stats = Stats()
        self.mode = self.mode_for(template)
        # per task and judge mode, a template other than ``template`` (set by
        # rmbench/protocol/official.py: e.g. best-of-n for RewardBench 2, rating for its Ties)
        self.task_templates: dict[str, dict[str, JudgeTemplate]] = {}
        self.task_modes: dict[str, str] = {}   # tasks whose mode differs from ``mode``
        self.retry = RetryPolicy(config.max_retries, retry_base(), random.Random(config.seed))
        # --gen logprobs with a provider that fills them: a cached output without them is a miss
        self._wants_logprobs = bool(config.gen.logprobs) and provider.gives_logprobs
        self._pool: RequestPool | None = None
        self._gen_queue: BatchQueue | None = None
        self._score_queue: BatchQueue | None = None
        self.batch_api = bool(config.batch)
        if self.batch_api and not getattr(provider, "batch_api", False):
            raise UserError(f"--batch: the {provider.cache_identity().get('provider', 'this')}/ provider has no "
                            "batch API (it is for openai/ and anthropic/ models)")
        self._batcher = None
        self.run_dir = None  # where --batch keeps batches.json (set by the runner)
        self.log: Callable[[str], None] | None = None  # status lines for people (batch submissions)

    def mode_for(self, template: JudgeTemplate | None) -> str:
        if self.provider.judge_kind == SCALAR or template is None:
            return POINTWISE
        return judge_mode_of(template)

    def check_templates(self, examples: Sequence[Example]) -> None:
        """Render each template this judge may use once, on real examples, before any work: a
        template that cannot render is a one-line error before anything is written."""
        if self.template is None:
            return
        for example in examples:
            # the multi-turn form of a template is rendered too, on the example grown into a
            # conversation of two user turns, when the example itself has one
            turns = sum(1 for m in example.messages if m.get("role") == "user")
            grown = example if turns > 1 else dataclasses.replace(example, messages=(
                *example.messages, {"role": "assistant", "content": "An earlier answer."},
                {"role": "user", "content": "A follow-up question."}))
            modes = {self.task_modes.get(example.task, self.mode), *self.task_templates.get(example.task, {})}
            for mode in sorted(modes):
                for ex in (example,) if grown is example else (example, grown):
                    tmpl = self.template_for(ex, mode)
                    n = {RATING: 1, BEST_OF_N: len(ex.candidates)}.get(tmpl.mode, 2)
                    if len(ex.candidates) >= n:
                        tmpl.render(ex.messages, ex.candidates[:n])

    # -- identity -------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        d = {"mode": self.mode, "kind": self.provider.judge_kind, **self.provider.describe()}
        if self.template is not None and self.provider.judge_kind != SCALAR:
            d.update(self.template.identity())
            if self.task_templates:
                d["task_templates"] = {task: {mode: t.identity() for mode, t in sorted(by_mode.items())}
                                       for task, by_mode in sorted(self.task_templates.items())}
                d["task_modes"] = dict(sorted(self.task_modes.items()))
        return d

    def use_template(self, task: str, mode: str, template: JudgeTemplate) -> None:
        """Judge ``task``'s items of judge mode ``mode`` with ``template`` (its multi-turn form is
        loaded along with it)."""
        from rmbench.judges.prompts import load_template

        self.task_templates.setdefault(task, {})[mode] = template
        if template.multi_turn and template.multi_turn not in self.templates:
            self.templates[template.multi_turn] = load_template(template.multi_turn)

    def adopt(self, task: str, name: str) -> str:
        """Judge ``task`` with the template ``name`` (a built-in or a file) instead of the run's;
        returns the judge mode it asks for, which becomes the task's mode."""
        from rmbench.judges.prompts import load_template

        template = load_template(name)
        mode = judge_mode_of(template)
        self.use_template(task, mode, template)
        self.task_modes[task] = mode
        return mode

    def adopt_rating(self, task: str) -> None:
        """For a task judged listwise, the rating template that scores items needing a score per
        candidate: the one the best-of-n template names (``rating_template``), else ``rating``."""
        from rmbench.judges.prompts import DEFAULT_RATING_TEMPLATE, load_template

        listwise = self.task_templates.get(task, {}).get(LISTWISE) or self.template
        assert listwise is not None
        rating = load_template(listwise.rating_template or DEFAULT_RATING_TEMPLATE)
        if rating.mode != RATING:
            raise UserError(f"template '{listwise.name}': its rating_template '{rating.name}' is a {rating.mode} "
                            "template, not a rating one")
        self.use_template(task, POINTWISE, rating)

    def template_for(self, example: Example, mode: str | None = None) -> JudgeTemplate:
        base = self.task_templates.get(example.task, {}).get(mode or self.mode) or self.template
        assert base is not None
        multi = sum(1 for m in example.messages if m.get("role") == "user") > 1
        if multi and base.multi_turn and base.multi_turn in self.templates:
            return self.templates[base.multi_turn]
        return base

    def _gen_for(self, sample: int) -> GenConfig:
        gen = self.gen
        if sample and gen.seed is not None:
            gen = gen.merge(GenConfig(seed=gen.seed + sample))
        return gen

    # -- dispatch -------------------------------------------------------------------------
    async def _call_api(self, req: GenRequest) -> GenOutput | Failure:
        pool = self._pool
        if pool is None or pool.loop is not asyncio.get_running_loop():
            pool = self._pool = RequestPool(self, self.config.concurrency)
        return await pool.call(req)

    def _batch_dispatcher(self):
        if self._batcher is None or self._batcher.loop is not asyncio.get_running_loop():
            from rmbench.judges.batching import BatchDispatcher

            self._batcher = BatchDispatcher(self)
        return self._batcher

    def _local_queue(self, method: str) -> BatchQueue:
        """The batch queue in front of a local provider's ``generate_batch``/``score_batch``. A
        provider that runs several batches at once elsewhere (``--engine ray``:
        rmbench/judges/ray_engine.py) offers ``run_batches(method, batches)``."""
        run_batches = getattr(self.provider, "run_batches", None)
        if run_batches is not None:
            return BatchQueue(functools.partial(run_batches, method), self.provider.max_batch(), many=True)
        return BatchQueue(getattr(self.provider, method), self.provider.max_batch())

    def store(self, key: str, out: GenOutput) -> None:
        """Account for and cache one fresh output (every path: live, local batch, batch API)."""
        self.stats.add_usage(out.usage)
        if self.cache is not None:
            self.cache.put(key, out.to_json())

    async def generate(self, messages: Sequence[dict], sample: int, template: JudgeTemplate | None,
                       refresh: Callable[[GenOutput], bool] | None = None,
                       task: str = "") -> tuple[GenOutput | Failure, bool]:
        """One generation through the cache; returns (output or failure, came from cache)."""
        gen = self._gen_for(sample)
        key = cache_key({**self.provider.cache_identity(), "messages": list(messages), "gen": gen.set_fields(),
                         "sample": sample, **(template.identity() if template else {})})
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                out = GenOutput.from_json(hit)
                if self._wants_logprobs and out.logprobs is None:
                    pass  # stored without log-probabilities: ask again (the fresh answer replaces it)
                elif refresh is None or not refresh(out):
                    self.stats.cache_hits += 1
                    return out, True
        req = GenRequest(messages=tuple(messages), gen=gen, sample=sample, key=key, task=task)
        if self.batch_api:  # the dispatcher stores what it gets back (and what a resumed batch held)
            return await self._batch_dispatcher().submit(req, refresh), False
        if self.provider.batched:
            if self._gen_queue is None:
                self._gen_queue = self._local_queue("generate_batch")
            self.stats.requests += 1
            res = await self._gen_queue.submit(req)
        else:
            res = await self._call_api(req)
        if isinstance(res, Failure):
            return res, False
        self.store(key, res)
        return res, False

    def _interpret(self, out: GenOutput, template: JudgeTemplate, shown: int | None = None) -> tuple[str, str | None]:
        return self._read(out, template, shown)[:2]

    def _read(self, out: GenOutput, template: JudgeTemplate,
              shown: int | None = None) -> tuple[str, str | None, int | None]:
        """(status, label, offset of the label in the text) for one output; a tie verdict is
        status ``tie`` with the template's tie label. With ``shown`` (a best-of-n list of that
        many candidates), a label past the end of the list (e.g. [[E]] for four) is unparsed."""
        if out.finish_reason == "length":
            return TRUNCATED, None, None
        if out.finish_reason in ("refusal", "content_filter"):
            return REFUSED, None, None
        if not (out.text or "").strip():
            return EMPTY, None, None
        label, status, start = find_verdict(template.parser, out.text, template.verdicts)
        if status != OK:
            return UNPARSED, None, None
        if template.tie_label is not None and label == template.tie_label:
            return TIE, label, start
        if shown is not None and label not in template.labels[:shown]:
            return UNPARSED, None, None
        return OK, label, start

    def _verdict_probs(self, out: GenOutput, template: JudgeTemplate, start: int | None):
        """``--gen logprobs``: label probabilities at the verdict (None when the output has no
        log-probabilities or the verdict token cannot be told); for ratings (p_labels, expected)."""
        if not self.gen.logprobs or start is None or out.logprobs is None:
            return None
        self.stats.p_labels_asked += 1
        if template.mode == RATING:
            found = rating_probs(out.text, out.logprobs, start, rating_scale(template.meta))
        else:
            found = label_probs(out.text, out.logprobs, template.verdicts, start)
        if found is not None:
            self.stats.p_labels_found += 1
        return found

    def _refresh_failed(self, template: JudgeTemplate,
                        shown: int | None = None) -> Callable[[GenOutput], bool] | None:
        if not self.config.retry_failed:
            return None
        return lambda out: is_failure(self._interpret(out, template, shown)[0])

    # -- the two questions protocol code asks ---------------------------------------------
    async def compare(self, example: Example, cmp: Comparison) -> Judgment:
        tmpl = self.template_for(example, PAIRWISE)
        if tmpl.mode != PAIRWISE_TEMPLATE:
            raise UserError(f"template '{tmpl.name}' is a {tmpl.mode} template; comparing two responses needs a "
                            "pairwise one")
        msgs = tmpl.render(example.messages, (example.candidates[cmp.first], example.candidates[cmp.second]))
        res, cached = await self.generate(msgs, cmp.sample, tmpl, self._refresh_failed(tmpl), example.task)
        if isinstance(res, Failure):
            self.stats.fail(res.status)
            return Judgment(cmp.first, cmp.second, cmp.sample, status=res.status, error=res.error)
        status, label, start = self._read(res, tmpl)
        winner = None
        if status == OK:
            winner = cmp.first if label == tmpl.labels[0] else cmp.second
        elif is_failure(status):
            self.stats.fail(status)
        return Judgment(cmp.first, cmp.second, cmp.sample, status=status, winner=winner, label=label,
                        raw=res.text, usage=res.usage, cached=cached, p_labels=self._verdict_probs(res, tmpl, start))

    async def pick(self, example: Example, listing: Listing) -> Pick:
        """Every candidate in one message, in ``listing.order``; the verdict names one label."""
        tmpl = self.template_for(example, LISTWISE)
        if tmpl.mode != BEST_OF_N:
            raise UserError(f"template '{tmpl.name}' is a {tmpl.mode} template; a listwise judge needs a "
                            "best-of-n one")
        order = listing.order
        msgs = tmpl.render(example.messages, tuple(example.candidates[i] for i in order))
        res, cached = await self.generate(msgs, listing.sample, tmpl, self._refresh_failed(tmpl, len(order)),
                                          example.task)
        if isinstance(res, Failure):
            self.stats.fail(res.status)
            return Pick(order, listing.sample, status=res.status, error=res.error)
        status, label, _ = self._read(res, tmpl, len(order))
        winner = order[tmpl.labels.index(label)] if status == OK else None
        if is_failure(status):
            self.stats.fail(status)
        return Pick(order, listing.sample, status=status, winner=winner, label=label, raw=res.text,
                    usage=res.usage, cached=cached)

    async def score(self, example: Example, index: int, sample: int = 0) -> Score:
        if self.provider.judge_kind == SCALAR:
            if self._score_queue is None:
                self._score_queue = self._local_queue("score_batch")
            item = ScoreItem(example_id=example.id, index=index, messages=tuple(example.messages),
                             response=example.candidates[index], task=example.task, meta=example.meta)
            res = await self._score_queue.submit(item)
            if isinstance(res, Failure):
                self.stats.fail(res.status)
                return Score(index, sample, None, res.status, error=res.error)
            if res is None:
                self.stats.fail(API_ERROR)
                return Score(index, sample, None, API_ERROR, error="no score returned")
            value = float(res)
            if not math.isfinite(value):  # NaN compares false both ways: no verdict, never a loss
                self.stats.fail(API_ERROR)
                return Score(index, sample, None, API_ERROR, error=f"the model returned a non-finite score ({value})")
            return Score(index, sample, value)
        tmpl = self.template_for(example, POINTWISE)
        if tmpl.mode != RATING:
            raise UserError(f"template '{tmpl.name}' is a {tmpl.mode} template; scoring one response needs a "
                            "rating template")
        msgs = tmpl.render(example.messages, (example.candidates[index],))
        res, cached = await self.generate(msgs, sample, tmpl, self._refresh_failed(tmpl), example.task)
        if isinstance(res, Failure):
            self.stats.fail(res.status)
            return Score(index, sample, None, res.status, error=res.error)
        status, label, start = self._read(res, tmpl)
        if status != OK:
            status = UNPARSED if status == TIE else status
            self.stats.fail(status)
            return Score(index, sample, None, status, raw=res.text, usage=res.usage, cached=cached)
        probs = self._verdict_probs(res, tmpl, start)
        p_labels, expected = probs if probs is not None else (None, None)
        return Score(index, sample, float(label), OK, raw=res.text, usage=res.usage, cached=cached,
                     p_labels=p_labels, expected=expected)

    def discard(self, provider: bool = True) -> None:
        """Release what the judge holds (the cache's writer thread and file and, with
        ``provider``, the provider's resources) when a run ends early or is over: a failed check
        in ``prepare``, a refused run directory, the end of a run. Safe to call more than once.
        A provider the caller built and handed in (the Python API) is the caller's to close."""
        if self.cache is not None:
            self.cache.close()
        if provider:
            self.provider.close()

    async def aclose(self, provider: bool = True) -> None:
        """The end of a run's work: stop the request pool and batcher, flush the cache and (with
        ``provider``: see ``discard``) close the provider."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.aclose()
        queues, self._gen_queue, self._score_queue = (self._gen_queue, self._score_queue), None, None
        for queue in queues:
            if queue is not None:
                await queue.aclose()
        if self._batcher is not None:
            await self._batcher.aclose()
        if self.cache is not None:
            self.cache.flush()
        if provider:
            await self.provider.aclose()
            self.provider.close()
