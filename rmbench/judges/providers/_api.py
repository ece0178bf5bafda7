"""What the HTTP API providers (openai, anthropic) share: ``HTTPProvider`` (model-args check,
endpoint and key handling, one SDK client per event loop, the generic POST of a body the
provider builds, the error classification the Judge's retry loop reads, the batch-API plumbing),
and the helpers behind it.

Nothing here imports an SDK at module level; ``HTTPProvider`` imports the one its subclass names.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import re
import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

from rmbench.errors import UserError
from rmbench.judges.base import BaseProvider, GenOutput, GenRequest, ProviderError
from rmbench.types import TOO_LONG

MAX_RETRY_AFTER = 300.0  # seconds; a longer Retry-After is capped (the next answer says more)
RETRYABLE_STATUS = (408, 409, 429)
HTTP_CLIENTS = ("aiohttp", "httpx")

# How the APIs (and compatible servers) say a prompt does not fit the model's context window.
_TOO_LONG = re.compile(r"context[_ ]length|context window|maximum context|prompt is too long|too many (input )?tokens"
                       r"|input is too long|reduce the length", re.I)

# Key-shaped tokens (OpenAI "sk-...", "sk-proj-...", Anthropic "sk-ant-..."), masked or not.
_KEYLIKE = re.compile(r"\bsk-[A-Za-z0-9_\-*.]{6,}")


def import_sdk(name: str):
    """The SDK module (a core dependency, but an environment may still lack it)."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        raise UserError(f"the {name} provider needs the '{name}' package: pip install {name}") from None


def api_key(env_var: str, provider: str) -> str:
    key = os.environ.get(env_var, "").strip()
    if not key:
        raise UserError(f"{provider} needs an API key: set {env_var} (for a local server that takes none, "
                        f"set {env_var}=EMPTY)")
    return key


def _reported_model(answer: Any) -> str | None:
    """The model name an OpenAI or Anthropic reply gives (its top-level ``model``)."""
    return answer.get("model") if isinstance(answer, dict) else None


def public_url(url: str) -> str:
    """The endpoint without user info, query or fragment (safe for run.json and cache keys)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def check_url(url: str, flag: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"{flag} {public_url(url) or url!r} is not an http(s) URL")
    return url


def scrub(text: str, secret: str | None) -> str:
    if secret:
        text = text.replace(secret, "***")
    return _KEYLIKE.sub("sk-***", text)


def parse_retry_after(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms``, ``retry-after`` (seconds or an HTTP date)."""
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return min(MAX_RETRY_AFTER, max(0.0, float(ms) / 1000.0))
        raw = headers.get("retry-after")
    except Exception:
        return None
    if raw is None:
        return None
    try:
        return min(MAX_RETRY_AFTER, max(0.0, float(raw)))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return min(MAX_RETRY_AFTER, max(0.0, when.timestamp() - time.time()))


def _error_message(body: Any) -> str | None:
    """The human message inside an OpenAI- or Anthropic-shaped error body."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(inner, str):
            return inner
    return None


def to_provider_error(exc: BaseException, sdk: Any, secret: str | None, key_env: str) -> ProviderError:
    """Turn an SDK or transport exception into a ProviderError with a short, key-free message
    and the retry decision: 408/409/429/5xx, connection errors, timeouts and broken response
    bodies are retried (honouring Retry-After and x-should-retry); other 4xx are not. A prompt
    past the context window (400 saying so, or 413) gets the status ``too_long``."""
    if isinstance(exc, ProviderError):
        return exc
    status_cls = getattr(sdk, "APIStatusError", ())
    conn_cls = getattr(sdk, "APIConnectionError", ())
    if status_cls and isinstance(exc, status_cls):
        status = int(getattr(exc, "status_code", 0) or 0)
        headers = getattr(getattr(exc, "response", None), "headers", None)
        detail = _error_message(getattr(exc, "body", None)) or str(exc)
        msg = f"HTTP {status}: {detail}"
        if status in (401, 403):
            msg += f" (check {key_env})"
        should = (headers.get("x-should-retry") if headers is not None else None) or ""
        if should.lower() == "false":
            retryable = False
        else:
            retryable = should.lower() == "true" or status in RETRYABLE_STATUS or status >= 500
        after = parse_retry_after(headers) if retryable else None
        code = str(getattr(exc, "code", "") or "")
        too_long = status == 413 or (status == 400 and (code == "context_length_exceeded" or _TOO_LONG.search(detail)))
        err = ProviderError(scrub(msg, secret)[:500], retryable=retryable, retry_after=after,
                            status=TOO_LONG if too_long else None)
        err.http_status = status  # the Judge stops a run on a streak of identical 401/403/404s
        return err
    if conn_cls and isinstance(exc, conn_cls):
        cause = exc.__cause__ or exc.__context__
        why = f"{type(cause).__name__}: {cause}" if cause is not None and str(cause) else type(exc).__name__
        label = "timed out" if "Timeout" in type(exc).__name__ else "connection error"
        return ProviderError(scrub(f"{label} ({why})", secret)[:500], retryable=True)
    if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):
        return ProviderError(f"malformed response body: {exc}"[:500], retryable=True)
    if isinstance(exc, (asyncio.TimeoutError, ConnectionError)):
        return ProviderError(scrub(f"{type(exc).__name__}: {exc}", secret)[:500], retryable=True)
    return ProviderError(scrub(f"{type(exc).__name__}: {exc}", secret)[:500], retryable=False)


class LoopClient:
    """One SDK client per event loop: the HTTP connection pool belongs to the loop that made
    it, and the runner may run several loops in turn over one provider."""

    def __init__(self, factory: Callable[[], Any]):
        self._factory = factory
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = self._factory()  # a client bound to a finished loop is simply dropped
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        client, self._client, self._loop = self._client, None, None
        if client is not None:
            try:
                await client.close()
            except Exception:
                pass


def http_client(sdk: Any, choice: str, timeout: float) -> Any:
    """The SDK's own aiohttp-backed client (less CPU per request) or None for its default
    (httpx). Either keeps the SDK's connection limits; never shrink the pool to --concurrency."""
    if choice not in HTTP_CLIENTS:
        raise UserError(f"--model-args http_client must be one of {', '.join(HTTP_CLIENTS)}, not '{choice}'")
    if choice == "httpx":
        return None
    return sdk.DefaultAioHttpClient(timeout=timeout)


def aiohttp_transport(sdk_name: str) -> bool:
    """Whether the SDK can run on aiohttp here: aiohttp is installed and the SDK carries its
    aiohttp transport (vendored in current SDKs; the ``httpx_aiohttp`` package for older ones).
    Checked without importing either."""
    import importlib.util

    def found(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            return False

    return found("aiohttp") and (found(f"{sdk_name}._vendor.httpx_aiohttp") or found("httpx_aiohttp"))


def int_or_none(v: Any) -> int | None:
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def clean_usage(d: dict[str, Any]) -> dict[str, int] | None:
    out = {k: int(v) for k, v in d.items() if v is not None}
    return out or None


# -- batch APIs (--batch; see judges/batching.py) ------------------------------------------------
DEFAULT_BATCH_POLL = 30.0  # seconds between status checks


def batch_settings(model_args: dict[str, Any], max_requests: int) -> tuple[float, int]:
    """(seconds between status checks, requests per batch) from ``--model-args batch_poll=S,
    batch_size=N``; the size never exceeds the API's own limit."""
    try:
        poll = float(model_args.get("batch_poll", DEFAULT_BATCH_POLL))
        size = int(model_args.get("batch_size", max_requests))
    except (TypeError, ValueError):
        raise UserError("--model-args batch_poll must be seconds and batch_size a whole number") from None
    if poll < 0 or size < 1:
        raise UserError("--model-args batch_poll must be >= 0 and batch_size >= 1")
    return poll, min(size, max_requests)


def split_batches(items: list[tuple[Any, bytes]], max_requests: int, max_bytes: int) -> list[list[tuple[Any, bytes]]]:
    """Consecutive chunks of (request, serialized line) under both limits of one batch."""
    chunks: list[list[tuple[Any, bytes]]] = []
    cur: list[tuple[Any, bytes]] = []
    size = 0
    for item in items:
        n = len(item[1]) + 1
        if cur and (len(cur) >= max_requests or size + n > max_bytes):
            chunks.append(cur)
            cur, size = [], 0
        cur.append(item)
        size += n
    if cur:
        chunks.append(cur)
    return chunks


def batch_failure(http_status: int | None, message: str):
    """A Failure for one request a batch could not answer (too_long when the prompt did not fit)."""
    from rmbench.judges.base import Failure
    from rmbench.types import API_ERROR

    too_long = http_status == 413 or (http_status in (400, None) and bool(_TOO_LONG.search(message)))
    prefix = f"HTTP {http_status}: " if http_status else ""
    return Failure(TOO_LONG if too_long else API_ERROR, (prefix + message)[:500])


# -- the provider base ---------------------------------------------------------------------------
@dataclass(frozen=True)
class APISpec:
    """What tells one HTTP API provider from another (see ``HTTPProvider``)."""

    prefix: str              # the model prefix, also the SDK's module name
    client_class: str        # the SDK's async client, e.g. "AsyncOpenAI"
    post_path: str           # appended to the client's base URL for live requests
    official_url: str
    key_env: str
    url_env: str
    batch_max_requests: int
    batch_max_bytes: int
    model_args: tuple[str, ...] = ("http_client", "batch_poll", "batch_size")


class HTTPProvider(BaseProvider):
    """A chat provider behind an HTTP API reached through its official SDK.

    A subclass sets ``api`` (an ``APISpec``) and writes three things: ``request_body`` (the
    JSON body of one request, live or in a batch), ``parse_response`` (a GenOutput from the
    reply's JSON) and the batch API calls (``batch_entry``, ``batch_submit``, ``batch_status``,
    ``batch_results``). Everything else is here: the ``--model-args`` check, the endpoint
    (``--base-url``, the URL variable, the official URL), the key (read once, never written
    anywhere), the HTTP transport, one SDK client per event loop, the POST itself, and the
    error classification the Judge's retries read."""

    batch_api = True  # --batch: see judges/batching.py
    api: APISpec

    def __init__(self, name: str, config):
        super().__init__(name, config)
        unknown = sorted(set(self.model_args) - set(self.api.model_args))
        if unknown:
            raise UserError(f"unknown --model-args for {self.api.prefix}/: {', '.join(unknown)} "
                            f"(known: {', '.join(self.api.model_args)})")
        from rmbench.judges import endpoints

        self.env_vars_used = [self.api.key_env]
        if config.base_url:
            urls = endpoints.parse_urls(config.base_url, "--base-url")
        elif os.environ.get(self.api.url_env):
            urls = endpoints.parse_urls(os.environ[self.api.url_env], self.api.url_env)
            self.env_vars_used.append(self.api.url_env)
        else:
            urls = [self.api.official_url]
        self.base_url = urls[0]  # with several replicas, the first names them (cache identity)
        self._key = api_key(self.api.key_env, f"{self.api.prefix}/")
        default_client = "aiohttp" if aiohttp_transport(self.api.prefix) else "httpx"
        self.http_client = self.model_args.get("http_client") or default_client
        if self.http_client not in HTTP_CLIENTS:
            raise UserError(f"--model-args http_client must be one of {', '.join(HTTP_CLIENTS)}")
        self.batch_poll, self.batch_size = batch_settings(self.model_args, self.api.batch_max_requests)
        self._sdk = import_sdk(self.api.prefix)
        self.ignored: list[str] = []
        self._post_url = ""
        self._clients = LoopClient(self._make_client)
        # several --base-url replicas (rmbench/judges/endpoints.py): routing, health, stats.endpoints
        self._replicas: Any = None
        if len(urls) > 1:
            if config.batch:
                raise UserError("--batch sends a run to one endpoint's batch API: give one --base-url")
            self._replicas = endpoints.Endpoints(urls, self._client_for, self._sdk.APIConnectionError,
                                                 served_model=_reported_model)

    # -- identity ---------------------------------------------------------------------------
    def cache_identity(self) -> dict[str, Any]:
        return {"provider": self.api.prefix, "model": self.name, "endpoint": public_url(self.base_url)}

    def describe(self) -> dict[str, Any]:
        d = {**self.cache_identity(), **self.describe_extra(), "http_client": self.http_client}
        if self.ignored:
            d["ignored_settings"] = self.ignored
        return d

    def describe_extra(self) -> dict[str, Any]:
        return {}

    # -- the request ------------------------------------------------------------------------
    def _make_client(self):
        client, self._post_url = self._client_for(self.base_url)
        return client

    def _client_for(self, url: str) -> tuple[Any, str]:
        """(an SDK client for one endpoint, the absolute URL live requests are posted to)."""
        timeout = float(self.config.timeout)
        cls = getattr(self._sdk, self.api.client_class)
        client = cls(api_key=self._key, base_url=url, max_retries=0, timeout=timeout,
                     http_client=http_client(self._sdk, self.http_client, timeout))
        # The request URL resolved once per client, as the SDK would merge it with base_url:
        # posting an absolute URL saves the SDK a URL parse and copy on every request.
        return client, str(client.base_url).rstrip("/") + self.api.post_path

    def request_body(self, req: GenRequest) -> dict[str, Any]:
        raise NotImplementedError

    def parse_response(self, data: Any) -> GenOutput:
        raise NotImplementedError

    async def post_json(self, url: str | None, body: dict[str, Any]) -> Any:
        """The SDK's generic POST (its auth, headers, timeouts and error classes) of a body built
        here, the reply read as plain JSON: the SDK's typed parameter and response models cost
        most of its CPU per request (see bench/RESULTS.md). ``url`` None: the live endpoint."""
        try:
            if url is None and self._replicas is not None:  # several replicas: least outstanding first, failover
                async def send(client: Any, post_url: str) -> Any:
                    return json.loads(await client.post(post_url, cast_to=bytes, body=body))
                return await self._replicas.call(send)
            raw = await self._clients.get().post(url or self._post_url, cast_to=bytes, body=body)
            return json.loads(raw)
        except UserError:   # replicas that answer as different models: the run must stop
            raise
        except Exception as e:
            raise self.error(e) from None

    async def agenerate(self, req: GenRequest) -> GenOutput:
        return self.parse_response(await self.post_json(None, self.request_body(req)))

    def error(self, exc: BaseException) -> ProviderError:
        return to_provider_error(exc, self._sdk, self._key, self.api.key_env)

    def classify_error(self, exc: BaseException) -> tuple[bool, float | None]:
        err = self.error(exc)
        return err.retryable, err.retry_after

    def scale_stats(self) -> dict[str, Any]:
        """run.json ``stats.endpoints`` with several replicas (rmbench/judges/endpoints.py)."""
        return {"endpoints": self._replicas.stats()} if self._replicas is not None else {}

    @property
    def served_model(self) -> str | None:
        """With several replicas: the model name their answers give (run.json ``served_model``). Set
        it to what an earlier invocation of the run recorded, and a resumed run holds to it."""
        first = self._replicas.first_model if self._replicas is not None else None
        return first[0] if first else None

    @served_model.setter
    def served_model(self, name: str) -> None:
        if self._replicas is not None and self._replicas.first_model is None:
            self._replicas.first_model = (name, None)

    async def aclose(self) -> None:
        await self._clients.aclose()
        if self._replicas is not None:
            await self._replicas.aclose()

    # -- batch APIs (--batch) ---------------------------------------------------------------
    def batch_poll_seconds(self) -> float:
        return self.batch_poll

    def batch_entry(self, req: GenRequest) -> dict[str, Any]:
        """One request as the batch API's input carries it."""
        raise NotImplementedError

    def batch_line(self, req: GenRequest) -> bytes:
        return json.dumps(self.batch_entry(req), ensure_ascii=False).encode("utf-8")

    def batch_chunks(self, reqs: list[GenRequest]) -> list[list[GenRequest]]:
        lines = [(r, self.batch_line(r)) for r in reqs]
        return [[r for r, _ in chunk] for chunk in split_batches(lines, self.batch_size, self.api.batch_max_bytes)]

    async def sdk_call(self, fn: Callable[[Any], Any]) -> Any:
        """``await fn(client)`` with the SDK's errors turned into ProviderErrors."""
        try:
            return await fn(self._clients.get())
        except Exception as e:
            raise self.error(e) from None
