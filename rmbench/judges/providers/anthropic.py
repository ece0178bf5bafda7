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

from typing import Any

from rmbench.errors import UserError
from rmbench.judges.base import GenOutput, GenRequest, ProviderError
from rmbench.judges.providers import _api

OFFICIAL_URL = "https://api.anthropic.com"
KEY_ENV = "ANTHROPIC_API_KEY"
URL_ENV = "ANTHROPIC_BASE_URL"
DEFAULT_MAX_TOKENS = 4096
MIN_THINKING_BUDGET = 1024
STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "tool_use": "stop", "pause_turn": "stop",
                "max_tokens": "length", "model_context_window_exceeded": "length", "refusal": "refusal"}


def _sdk_major(sdk: Any) -> int:
    try:
        return int(str(getattr(sdk, "__version__", "0")).split(".")[0])
    except ValueError:
        return 0


class Provider(_api.HTTPProvider):
    env_vars = (KEY_ENV, URL_ENV)
    api = _api.APISpec("anthropic", "AsyncAnthropic", "/v1/messages", OFFICIAL_URL, KEY_ENV, URL_ENV,
                       batch_max_requests=100_000, batch_max_bytes=240 * 1024 * 1024)  # the API's limit: 256 MB

    def __init__(self, name: str, config):
        super().__init__(name, config)
        self.sampling_params = _sdk_major(self._sdk) < 2
        gen = config.gen.set_fields()
        self._check_thinking(gen)
        # the Messages API has no seed and no token log-probabilities
        self.ignored = [k for k in ("seed", "logprobs") if k in gen]
        if not self.sampling_params:
            self.ignored += [k for k in ("temperature", "top_p") if k in gen]

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

    # -- the request ------------------------------------------------------------------------
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

    def parse_response(self, data: Any) -> GenOutput:
        return parse_message(data)

    # -- Message Batches (--batch) ----------------------------------------------------------
    def batch_entry(self, req: GenRequest) -> dict[str, Any]:
        return {"custom_id": req.key, "params": self.request_body(req)}

    async def batch_submit(self, reqs: list[GenRequest]) -> dict[str, Any]:
        # the generic POST, as for live requests: the typed path would transform every request
        data = await self.post_json("/v1/messages/batches", {"requests": [self.batch_entry(r) for r in reqs]})
        return {"id": data["id"]}

    async def batch_status(self, handle: dict[str, Any]):
        from rmbench.judges.batching import BatchStatus

        b = await self.sdk_call(lambda client: client.messages.batches.retrieve(handle["id"]))
        c = b.request_counts
        failed = c.errored + c.canceled + c.expired
        return BatchStatus(state=b.processing_status, ended=b.processing_status == "ended",
                           done=c.succeeded + failed, failed=failed, total=c.processing + c.succeeded + failed)

    async def batch_results(self, handle: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}

        async def read(client):
            async for entry in await client.messages.batches.results(handle["id"]):
                d = entry.to_dict()
                out[d.get("custom_id")] = batch_result(d.get("result") or {})

        await self.sdk_call(read)
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
