"""Several served replicas of one model: ``--base-url URL1,URL2,...`` (or ``@FILE``, one URL per
line) for the HTTP API providers (``openai/``, ``anthropic/``). This is how a judge runs on many
``vllm serve`` or SGLang replicas without a load balancer in front of them.

- Routing: each request goes to the replica with the fewest requests outstanding (ties: the one
  that has had fewest requests so far, then list order), so a slow replica gets less work and an
  idle one gets the next request.
- Health: a replica whose connection fails (refused, reset, DNS) is taken out of the rotation for
  a backoff (1 s, doubling up to 60 s while it keeps failing). When the backoff is over, one
  request is sent to it as a probe; any answer (even an HTTP error: the server is up) puts it
  back. A replica that accepts connections but answers slowly is not taken out: its requests
  time out and are retried, and least-outstanding routing sends it less meanwhile.
- Failover: a request whose connection failed is sent at once to another replica that is in the
  rotation (never to one it already failed on). Only when every replica has failed it does the
  error reach the Judge, whose retry loop (rmbench/judges/engine.py) backs off and retries as
  for a single endpoint. A connection failure means no answer was received, so nothing answered
  is asked twice.
- Identity: the first URL names the replica set. The judge's cache identity and the run identity
  use it alone, so replicas share cached answers, and adding or removing replicas (keeping the
  first) resumes a run and reuses its cache. List replicas of one model only: every answer names
  the model that gave it (the ``model`` field of OpenAI and Anthropic replies), and an answer
  under another name than the first one's stops the run with a one-line error naming both
  replicas. That answer is neither recorded nor cached, so the run's records hold one model's
  verdicts, and a rerun with a corrected list resumes. The runner records the name in run.json
  (``served_model``) and hands it to a rerun, which holds to it.
- Statistics: per replica (``stats()``, in run.json under ``stats.endpoints``): requests sent,
  answers, errors, connection failures, times taken out, whether it is in the rotation at the
  end, the model names its answers gave, and latency quantiles. Replicas are shown by their public URL (no user info or query:
  URLs may carry credentials).

The provider supplies ``make_client(url) -> (client, post_url)`` (an SDK client for one replica
and the absolute URL to post to), its SDK's connection error class and ``served_model(answer)``
(the model name an answer gives, or None); a request is
``await endpoints.call(lambda client, post_url: ...)``. With one URL a provider does not use this
module at all.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable, TypeVar

from rmbench.config import split_base_url
from rmbench.errors import UserError
from rmbench.judges.base import latency_summary
from rmbench.judges.providers._api import LoopClient, check_url, public_url

T = TypeVar("T")

BACKOFF_START = 1.0   # seconds a replica stays out after its first connection failure
BACKOFF_MAX = 60.0


def parse_urls(raw: str, flag: str) -> list[str]:
    """The endpoints of ``--base-url`` (already expanded from ``@FILE`` by RunConfig.validate),
    each an http(s) URL, none twice."""
    urls = split_base_url(raw)
    seen: set[str] = set()
    for u in urls:
        check_url(u, flag)
        if any(c.isspace() for c in u):
            raise UserError(f"{flag} {public_url(u)!r} is not one URL (separate several with commas)")
        if u.rstrip("/") in seen:
            raise UserError(f"{flag} lists {public_url(u)} twice")
        seen.add(u.rstrip("/"))
    return urls


# timeouts that mean the replica is slow, not gone (the SDKs wrap them in their connection error)
SLOW = ("ReadTimeout", "WriteTimeout", "PoolTimeout")


def connection_failed(exc: BaseException, connection_error: type | tuple[type, ...]) -> bool:
    """Whether no answer came back because the replica could not be reached: refused, reset,
    closed, unreachable, or no connection in time. The SDKs raise their connection error for all
    of these (the openai SDK's aiohttp transport calls each a ConnectTimeout); a read timeout
    inside it means a slow replica and is not one."""
    if isinstance(exc, ConnectionError):
        return True
    if not isinstance(exc, connection_error):
        return False
    seen = 0
    cause: BaseException | None = exc
    while cause is not None and seen < 8:
        if type(cause).__name__ in SLOW:
            return False
        cause, seen = cause.__cause__ or cause.__context__, seen + 1
    return True



class Endpoint:
    """One replica: its client (one per event loop) and what happened to its requests."""

    def __init__(self, index: int, url: str, make_client: Callable[[str], tuple[Any, str]]):
        self.index = index
        self.url = url                    # as given: may carry credentials, never written anywhere
        self.public = public_url(url)
        self.post_url = ""

        def factory() -> Any:
            client, self.post_url = make_client(url)
            return client

        self.clients = LoopClient(factory)
        self.outstanding = 0
        self.requests = 0
        self.ok = 0
        self.errors = 0
        self.connection_errors = 0
        self.cancelled = 0
        self.taken_out = 0
        self.put_back = 0
        self.down_until: float | None = None   # None: in the rotation
        self.backoff = 0.0
        self.probing = False
        self.latencies: list[float] = []
        self.models: dict[str, int] = {}    # model name an answer gave -> answers

    def stats(self) -> dict[str, Any]:
        return {"endpoint": self.public, "index": self.index, "requests": self.requests, "ok": self.ok,
                "errors": self.errors, "connection_errors": self.connection_errors, "cancelled": self.cancelled,
                "taken_out": self.taken_out, "put_back": self.put_back, "in_rotation": self.down_until is None,
                "models": dict(sorted(self.models.items())),
                "latency_seconds": latency_summary(self.latencies, mean=True)}


class Endpoints:
    """Least-outstanding-requests routing over replicas, with health checks by backoff and probe."""

    def __init__(self, urls: list[str], make_client: Callable[[str], tuple[Any, str]],
                 connection_error: type | tuple[type, ...], clock: Callable[[], float] = time.monotonic,
                 served_model: Callable[[Any], str | None] | None = None):
        self.endpoints = [Endpoint(i, u, make_client) for i, u in enumerate(urls)]
        self.connection_error = connection_error
        self.clock = clock
        self.served_model = served_model
        # the model name answers must give, and the replica that gave it first (None: an earlier
        # invocation of the run, whose run.json recorded it as ``served_model``)
        self.first_model: tuple[str, Endpoint | None] | None = None

    @property
    def primary(self) -> str:
        """The URL that names the replica set (cache and run identity)."""
        return self.endpoints[0].url

    # -- routing ----------------------------------------------------------------------------------
    def pick(self, exclude: set[int] | frozenset[int] = frozenset(), probe: bool = True) -> tuple[Endpoint, bool]:
        """(the replica for the next request, whether the request is its probe): a replica due
        for its probe (its backoff is over), else the one in the rotation with the fewest
        outstanding requests, else (every candidate is out) the one whose backoff ends first."""
        now = self.clock()
        candidates = [e for e in self.endpoints if e.index not in exclude]
        if probe:
            due = [e for e in candidates if e.down_until is not None and not e.probing and now >= e.down_until]
            if due:
                e = min(due, key=lambda e: (e.down_until, e.index))
                e.probing = True
                return e, True
        live = [e for e in candidates if e.down_until is None]
        if live:
            return min(live, key=lambda e: (e.outstanding, e.requests, e.index)), False
        return min(candidates, key=lambda e: (e.down_until, e.outstanding, e.index)), False

    def _take_out(self, ep: Endpoint) -> None:
        if ep.down_until is None:
            ep.taken_out += 1
            ep.backoff = BACKOFF_START
        else:
            ep.backoff = min(BACKOFF_MAX, max(BACKOFF_START, ep.backoff * 2))
        ep.down_until = self.clock() + ep.backoff

    def _check_model(self, ep: Endpoint, answer: Any) -> None:
        """Count the model name ``answer`` gives; one other than the first answer's is a
        UserError (two models behind one judge would mix their verdicts in one run)."""
        if self.served_model is None:
            return
        name = self.served_model(answer)
        if not isinstance(name, str) or not name:
            return
        if self.first_model is None:
            self.first_model = (name, ep)
        first, by = self.first_model
        if name != first:   # not an answer this run keeps, so not counted
            who = (f"the run's earlier answers came from '{first}', {ep.public} answers as" if by is None else
                   f"{by.public} answered as '{first}'" + (", then as" if by is ep else f", {ep.public} as"))
            raise UserError(f"--base-url replicas serve different models: {who} '{name}'; list replicas of one "
                            f"model only (what was judged so far, all as '{first}', is kept)")
        ep.models[name] = ep.models.get(name, 0) + 1

    @staticmethod
    def _answered(ep: Endpoint) -> None:
        if ep.down_until is not None:
            ep.down_until = None
            ep.backoff = 0.0
            ep.put_back += 1

    # -- one request --------------------------------------------------------------------------------
    async def call(self, send: Callable[[Any, str], Awaitable[T]]) -> T:
        """``send(client, post_url)`` on the chosen replica; on a connection failure, at once on
        another, until every replica has failed (then the last error is raised)."""
        tried: set[int] = set()
        while True:
            ep, was_probe = self.pick(tried, probe=not tried)
            ep.outstanding += 1
            ep.requests += 1
            t0 = time.perf_counter()
            try:
                client = ep.clients.get()
                out = await send(client, ep.post_url)
            except asyncio.CancelledError:   # the Judge's timeout or the run ending: says nothing about health
                ep.cancelled += 1
                raise
            except BaseException as e:
                if not connection_failed(e, self.connection_error):
                    ep.errors += 1
                    self._answered(ep)   # an HTTP error is an answer: the server is up
                    raise
                ep.connection_errors += 1
                self._take_out(ep)
                tried.add(ep.index)
                if len(tried) >= len(self.endpoints):
                    raise
                continue
            finally:
                ep.outstanding -= 1
                if was_probe:
                    ep.probing = False
            self._answered(ep)
            self._check_model(ep, out)   # before counting it: a refused answer is not one the run keeps
            ep.ok += 1
            ep.latencies.append(time.perf_counter() - t0)
            return out

    def stats(self) -> list[dict[str, Any]]:
        return [e.stats() for e in self.endpoints]

    async def aclose(self) -> None:
        for e in self.endpoints:
            await e.clients.aclose()
