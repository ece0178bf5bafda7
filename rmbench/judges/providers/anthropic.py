"""``anthropic/<model>``: the Anthropic Messages API through the official SDK's ``AsyncAnthropic``.

- Endpoint: ``--base-url``, else ``ANTHROPIC_BASE_URL``, else https://api.anthropic.com. The
  key comes only from ``ANTHROPIC_API_KEY`` (passed explicitly, so the SDK consults no profile
  or other credential source) and never reaches run.json, the cache or error messages.
- The template's system message goes in ``system=``; the rest are the chat messages.
- ``max_tokens`` is required by the API: it defaults to 4096, or to the thinking budget + 4096.
- ``thinking_budget`` N enables extended thinking (``{"type": "enabled", "budget_tokens": N}``);
  ``enable_thinking=true`` without a budget asks for adaptive thinking, ``false`` disables it;
  ``reasoning_effort`` becomes ``output_config.effort``; ``stop`` becomes ``stop_sequences``.
  temperature and top_p are sent only with SDKs older than 2.0 (whose API version still
  accepts them); seed has no counterpart. What is not sent is listed in run.json under
  ``ignored_settings``.
- The verdict is read from the text blocks only; thinking blocks become the output's
  ``reasoning``. stop_reason ``max_tokens`` (or a full context window) maps to finish reason
  "length" (-> truncated), ``refusal`` to "refusal" (-> refused).
- Usage: ``input_tokens`` counts every input token (fresh + cache reads + cache writes, as
  OpenAI's prompt_tokens does), ``cached_tokens`` the cache reads, ``reasoning_tokens`` the
  thinking tokens when reported.

``--batch``: Message Batches. One batch holds the whole wave (``custom_id`` = the cache key,
``params`` = the same body as a live request; at most 100,000 requests and 256 MB, larger runs
are split); its results are streamed back through the SDK when it has ended. ``errored``
results keep the API's error type and message; ``expired`` and ``canceled`` ones become
``api_error`` saying so.

``--model-args``: ``http_client`` (aiohttp | httpx; aiohttp when installed), ``batch_poll``
(seconds between batch status checks, default 30), ``batch_size`` (requests per batch).
"""

from __future__ import annotations

import json
import os
from typing import Any

from rmbench.errors import UserError
from rmbench.judges import endpoints
from rmbench.judges.base import BaseProvider, GenOutput, GenRequest, ProviderError
from rmbench.judges.providers import _api

OFFICIAL_URL = "https://api.anthropic.com"
KEY_ENV = "ANTHROPIC_API_KEY"
URL_ENV = "ANTHROPIC_BASE_URL"
MODEL_ARGS = ("http_client", "batch_poll", "batch_size")
BATCH_MAX_REQUESTS = 100_000
BATCH_MAX_BYTES = 240 * 1024 * 1024  # the API's limit is 256 MB per batch
DEFAULT_MAX_TOKENS = 4096
MIN_THINKING_BUDGET = 1024
STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "tool_use": "stop", "pause_turn": "stop",
                "max_tokens": "length", "model_context_window_exceeded": "length", "refusal": "refusal"}


def _sdk_major(sdk: Any) -> int:
    try:
        return int(str(getattr(sdk, "__version__", "0")).split(".")[0])
    except ValueError:
        return 0


class Provider(BaseProvider):
    env_vars = (KEY_ENV, URL_ENV)
    batch_api = True  # --batch: see judges/batching.py

    def __init__(self, name: str, config):
        super().__init__(name, config)
        unknown = sorted(set(self.model_args) - set(MODEL_ARGS))
        if unknown:
            raise UserError(f"unknown --model-args for anthropic/: {', '.join(unknown)} (known: {', '.join(MODEL_ARGS)})")
        self.env_vars_used = [KEY_ENV]
        if config.base_url:
            urls = endpoints.parse_urls(config.base_url, "--base-url")
        elif os.environ.get(URL_ENV):
            urls = endpoints.parse_urls(os.environ[URL_ENV], URL_ENV)
            self.env_vars_used.append(URL_ENV)
        else:
            urls = [OFFICIAL_URL]
        self.base_url = urls[0]  # with several replicas, the first names them (cache identity)
        self._key = _api.api_key(KEY_ENV, "anthropic/")
        default_client = "aiohttp" if _api.aiohttp_transport("anthropic") else "httpx"
        self.http_client = self.model_args.get("http_client") or default_client
        if self.http_client not in _api.HTTP_CLIENTS:
            raise UserError(f"--model-args http_client must be one of {', '.join(_api.HTTP_CLIENTS)}")
        self.batch_poll, self.batch_size = _api.batch_settings(self.model_args, BATCH_MAX_REQUESTS)
        self._sdk = _api.import_sdk("anthropic")
        self.sampling_params = _sdk_major(self._sdk) < 2
        gen = config.gen.set_fields()
        self._check_thinking(gen)
        self.ignored = [k for k in ("seed",) if k in gen]
        if not self.sampling_params:
            self.ignored += [k for k in ("temperature", "top_p") if k in gen]
        self._post_url = ""
        self._clients = _api.LoopClient(self._make_client)
        # -- several --base-url replicas (rmbench/judges/endpoints.py): routing, health, stats --
        self._replicas: endpoints.Endpoints | None = None
        if len(urls) > 1:
            if config.batch:
                raise UserError("--batch sends a run to one endpoint's batch API: give one --base-url")
            self._replicas = endpoints.Endpoints(urls, self._client_for, self._sdk.APIConnectionError)

    @staticmethod
    def _check_thinking(gen: dict[str, Any]) -> None:
        budget = gen.get("thinking_budget")
        if budget is None:
            return
        if gen.get("enable_thinking") is False:
            raise UserError("--gen thinking_budget cannot be combined with enable_thinking=false")
        if budget < MIN_THINKING_BUDGET:
            raise UserError(f"--gen thinking_budget must be at least {MIN_THINKING_BUDGET} for anthropic/ models")
        if "max_tokens" in gen and gen["max_tokens"] <= budget:
            raise UserError(f"--gen max_tokens ({gen['max_tokens']}) must exceed thinking_budget ({budget}): "
                            "it counts thinking and answer together")

    # -- identity ---------------------------------------------------------------------------
    def cache_identity(self) -> dict[str, Any]:
        return {"provider": "anthropic", "model": self.name, "endpoint": _api.public_url(self.base_url)}

    def describe(self) -> dict[str, Any]:
        d = {**self.cache_identity(), "http_client": self.http_client}
        if self.ignored:
            d["ignored_settings"] = self.ignored
        return d

    # -- the request ------------------------------------------------------------------------
    def _make_client(self):
        client, self._post_url = self._client_for(self.base_url)
        return client

    def _client_for(self, url: str):
        """(SDK client for one endpoint, the absolute URL requests are posted to)."""
        timeout = float(self.config.timeout)
        client = self._sdk.AsyncAnthropic(api_key=self._key, base_url=url, max_retries=0, timeout=timeout,
                                          http_client=_api.http_client(self._sdk, self.http_client, timeout))
        # The request URL resolved once per client, as the SDK would merge it with base_url:
        # posting an absolute URL saves the SDK a URL parse and copy on every request.
        return client, str(client.base_url).rstrip("/") + "/v1/messages"

    def scale_stats(self) -> dict[str, Any]:
        """run.json ``stats.endpoints`` with several replicas (see rmbench/judges/endpoints.py)."""
        return {"endpoints": self._replicas.stats()} if self._replicas is not None else {}

    def request_body(self, req: GenRequest) -> dict[str, Any]:
        """The Messages API body for one request (also what a batch request carries)."""
        g = req.gen.set_fields()
        system = "\n\n".join(m["content"] for m in req.messages if m.get("role") == "system")
        body: dict[str, Any] = {"model": self.name,
                                "messages": [{"role": m["role"], "content": m["content"]}
                                             for m in req.messages if m.get("role") != "system"]}
        if system:
            body["system"] = system
        budget = g.get("thinking_budget")
        body["max_tokens"] = g.get("max_tokens") or (budget + DEFAULT_MAX_TOKENS if budget else DEFAULT_MAX_TOKENS)
        if budget:
            body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        elif "enable_thinking" in g:
            body["thinking"] = {"type": "adaptive" if g["enable_thinking"] else "disabled"}
        if "reasoning_effort" in g:
            body["output_config"] = {"effort": g["reasoning_effort"]}
        if "stop" in g:
            body["stop_sequences"] = g["stop"]
        if self.sampling_params:
            for k in ("temperature", "top_p"):
                if k in g:
                    body[k] = g[k]
        return body

    async def agenerate(self, req: GenRequest) -> GenOutput:
        body = self.request_body(req)
        try:
            # The SDK's generic POST (auth, version header, timeout, error classes) with the body
            # built here and the reply read as plain JSON: no typed models on the hot path.
            if self._replicas is not None:  # several replicas: least outstanding first, failover
                raw = await self._replicas.call(lambda client, url: client.post(url, cast_to=bytes, body=body))
            else:
                raw = await self._clients.get().post(self._post_url, cast_to=bytes, body=body)
            data = json.loads(raw)
        except Exception as e:
            raise _api.to_provider_error(e, self._sdk, self._key, KEY_ENV) from None
        return parse_message(data)

    def classify_error(self, exc: BaseException) -> tuple[bool, float | None]:
        err = _api.to_provider_error(exc, self._sdk, self._key, KEY_ENV)
        return err.retryable, err.retry_after

    async def aclose(self) -> None:
        await self._clients.aclose()
        if self._replicas is not None:
            await self._replicas.aclose()

    # -- Message Batches (--batch) ----------------------------------------------------------
    def batch_poll_seconds(self) -> float:
        return self.batch_poll

    def _batch_entry(self, req: GenRequest) -> dict[str, Any]:
        return {"custom_id": req.key, "params": self.request_body(req)}

    def batch_chunks(self, reqs: list[GenRequest]) -> list[list[GenRequest]]:
        sized = [(r, json.dumps(self._batch_entry(r), ensure_ascii=False).encode("utf-8")) for r in reqs]
        return [[r for r, _ in chunk] for chunk in _api.split_batches(sized, self.batch_size, BATCH_MAX_BYTES)]

    def _error(self, exc: BaseException) -> ProviderError:
        return _api.to_provider_error(exc, self._sdk, self._key, KEY_ENV)

    async def batch_submit(self, reqs: list[GenRequest]) -> dict[str, Any]:
        body = {"requests": [self._batch_entry(r) for r in reqs]}
        try:
            # the generic POST, as for live requests: the typed path would transform every request
            data = json.loads(await self._clients.get().post("/v1/messages/batches", cast_to=bytes, body=body))
        except Exception as e:
            raise self._error(e) from None
        return {"id": data["id"]}

    async def batch_status(self, handle: dict[str, Any]):
        from rmbench.judges.batching import BatchStatus

        try:
            b = await self._clients.get().messages.batches.retrieve(handle["id"])
        except Exception as e:
            raise self._error(e) from None
        c = b.request_counts
        failed = c.errored + c.canceled + c.expired
        return BatchStatus(state=b.processing_status, ended=b.processing_status == "ended",
                           done=c.succeeded + failed, failed=failed, total=c.processing + c.succeeded + failed)

    async def batch_results(self, handle: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        try:
            async for entry in await self._clients.get().messages.batches.results(handle["id"]):
                d = entry.to_dict()
                out[d.get("custom_id")] = batch_result(d.get("result") or {})
        except Exception as e:
            raise self._error(e) from None
        return out


def batch_result(result: dict[str, Any]) -> Any:
    """GenOutput or Failure for one Message Batches result."""
    kind = result.get("type")
    if kind == "succeeded":
        try:
            return parse_message(result.get("message"))
        except ProviderError as e:
            return _api.batch_failure(None, str(e))
    if kind == "errored":
        err = (result.get("error") or {}).get("error") or result.get("error") or {}
        etype, msg = err.get("type"), err.get("message") or "no message"
        return _api.batch_failure(None, f"{etype}: {msg}" if etype else msg)
    if kind == "expired":
        return _api.batch_failure(None, "expired: the batch ended (24 h) before this request ran")
    if kind == "canceled":
        return _api.batch_failure(None, "canceled: the batch was cancelled before this request ran")
    return _api.batch_failure(None, f"unknown batch result type {kind!r}")


def parse_message(data: Any) -> GenOutput:
    """A GenOutput from a Messages API JSON body (live or from a batch result)."""
    if not isinstance(data, dict) or not isinstance(data.get("content"), list):
        detail = _api._error_message(data) if isinstance(data, dict) else None
        raise ProviderError(f"malformed message: {detail or 'no content in the response'}", retryable=True)
    texts, thoughts = [], []
    for block in data["content"]:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif block.get("type") == "thinking" and isinstance(block.get("thinking"), str):
            thoughts.append(block["thinking"])
    stop = data.get("stop_reason")
    finish = STOP_REASONS.get(stop, stop)
    usage = data.get("usage") or {}
    fresh = _api.int_or_none(usage.get("input_tokens"))
    read = _api.int_or_none(usage.get("cache_read_input_tokens"))
    written = _api.int_or_none(usage.get("cache_creation_input_tokens"))
    total_in = None if fresh is None else fresh + (read or 0) + (written or 0)
    details = usage.get("output_tokens_details") or {}
    return GenOutput(text="".join(texts), finish_reason=finish, reasoning="\n\n".join(thoughts) or None,
                     usage=_api.clean_usage({
                         "input_tokens": total_in,
                         "output_tokens": _api.int_or_none(usage.get("output_tokens")),
                         "cached_tokens": read,
                         "reasoning_tokens": _api.int_or_none(details.get("thinking_tokens")),
                     }))
