"""``openai/<model>``: chat completions on the OpenAI API or any OpenAI-compatible server (vLLM,
SGLang, llama.cpp, ...) through the official SDK's ``AsyncOpenAI``.

- Endpoint: ``--base-url``, else ``OPENAI_BASE_URL``, else https://api.openai.com/v1. The key
  comes only from ``OPENAI_API_KEY`` and never leaves the client (not in run.json, the cache
  key, or error messages).
- Retries: the SDK's own are switched off; the Judge retries every provider in one place, from
  what ``classify_error`` says (429/5xx/connection/timeout: yes, with Retry-After; other 4xx: no).
- Settings sent: temperature, top_p, seed, stop, reasoning_effort as given; max_tokens as
  ``max_completion_tokens`` on api.openai.com and as ``max_tokens`` elsewhere (override with
  ``--model-args max_tokens_param=...``); enable_thinking as ``chat_template_kwargs`` to
  compatible servers. Settings the endpoint has no field for are left out and listed in
  run.json under ``ignored_settings``.
- The request goes through the SDK client's generic ``post`` (its auth, headers, timeout and
  error classes) with a body built here, and the reply is read from the raw JSON: this skips
  the SDK's typed parameter and response models, which cost most of its CPU per request (see
  bench/RESULTS.md). Read back: the text, the finish reason ("refusal" when the model refused),
  token usage (input, output, cached, reasoning) and any separate reasoning text a server
  returns (``reasoning_content`` or ``reasoning``).

``--batch``: the OpenAI Batch API. The requests go up as one JSONL file (``files``, purpose
"batch"; one line per request, ``custom_id`` = the cache key, the same body as a live request),
then one batch against ``/v1/chat/completions`` with a 24 h window; when it ends the output and
error files are read back line by line. Per-request errors keep their HTTP status and message;
requests the batch did not reach before it expired or was cancelled become ``api_error`` saying
so. A batch holds at most 50,000 requests and 200 MB, larger runs are split.

``--model-args``: ``max_tokens_param`` (max_tokens | max_completion_tokens), ``http_client``
(aiohttp | httpx; aiohttp when installed), ``batch_poll`` (seconds between batch status checks,
default 30), ``batch_size`` (requests per batch).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from rmbench.errors import UserError
from rmbench.judges.base import GenOutput, GenRequest, ProviderError
from rmbench.judges.logprobs import TOP_LOGPROBS, from_openai
from rmbench.judges.providers import _api

OFFICIAL_URL = "https://api.openai.com/v1"
KEY_ENV = "OPENAI_API_KEY"
URL_ENV = "OPENAI_BASE_URL"
BATCH_ENDPOINT = "/v1/chat/completions"
BATCH_ENDED = ("completed", "failed", "expired", "cancelled")
MAX_TOKENS_PARAMS = ("max_tokens", "max_completion_tokens")


class Provider(_api.HTTPProvider):
    env_vars = (KEY_ENV, URL_ENV)
    gives_logprobs = True
    api = _api.APISpec("openai", "AsyncOpenAI", "/chat/completions", OFFICIAL_URL, KEY_ENV, URL_ENV,
                       batch_max_requests=50_000, batch_max_bytes=190 * 1024 * 1024,  # the API's limit: 200 MB
                       model_args=("max_tokens_param", "http_client", "batch_poll", "batch_size"))

    def __init__(self, name: str, config):
        super().__init__(name, config)
        self.official = (urlsplit(self.base_url).hostname or "") == "api.openai.com"
        param = self.model_args.get("max_tokens_param") or ("max_completion_tokens" if self.official else "max_tokens")
        if param not in MAX_TOKENS_PARAMS:
            raise UserError(f"--model-args max_tokens_param must be one of {', '.join(MAX_TOKENS_PARAMS)}")
        self.max_tokens_param = param
        gen = config.gen.set_fields()
        self.ignored = [k for k in ("thinking_budget",) if k in gen]
        if self.official and "enable_thinking" in gen:
            self.ignored.append("enable_thinking")

    def describe_extra(self) -> dict[str, Any]:
        return {"max_tokens_param": self.max_tokens_param}

    # -- the request ------------------------------------------------------------------------
    def request_body(self, req: GenRequest) -> dict[str, Any]:
        """The chat-completions body for one request (also what a batch file line carries)."""
        g = req.gen.set_fields()
        body: dict[str, Any] = {"model": self.name,
                                "messages": [{"role": m["role"], "content": m["content"]} for m in req.messages]}
        for k in ("temperature", "top_p", "seed", "stop", "reasoning_effort"):
            if k in g:
                body[k] = g[k]
        if "max_tokens" in g:
            body[self.max_tokens_param] = g["max_tokens"]
        if "enable_thinking" in g and not self.official:
            body["chat_template_kwargs"] = {"enable_thinking": g["enable_thinking"]}
        if g.get("logprobs"):
            body["logprobs"] = True
            body["top_logprobs"] = TOP_LOGPROBS
        return body

    def parse_response(self, data: Any) -> GenOutput:
        return parse_completion(data)

    # -- the Batch API (--batch) ------------------------------------------------------------
    def batch_entry(self, req: GenRequest) -> dict[str, Any]:
        return {"custom_id": req.key, "method": "POST", "url": BATCH_ENDPOINT, "body": self.request_body(req)}

    async def batch_submit(self, reqs: list[GenRequest]) -> dict[str, Any]:
        data = b"\n".join(self.batch_line(r) for r in reqs) + b"\n"

        async def submit(client):
            f = await client.files.create(file=("rmbench-batch.jsonl", data, "application/jsonl"), purpose="batch")
            b = await client.batches.create(input_file_id=f.id, endpoint=BATCH_ENDPOINT, completion_window="24h",
                                            metadata={"source": "rmbench"})
            return {"id": b.id, "input_file_id": f.id}

        return await self.sdk_call(submit)

    async def batch_status(self, handle: dict[str, Any]):
        from rmbench.judges.batching import BatchStatus

        b = await self.sdk_call(lambda client: client.batches.retrieve(handle["id"]))
        counts = b.request_counts
        done = (counts.completed + counts.failed) if counts else 0
        detail = None
        errors = getattr(getattr(b, "errors", None), "data", None) or []
        if errors:
            detail = "; ".join(str(getattr(e, "message", e)) for e in errors[:3])
        elif b.status in ("expired", "cancelled"):
            detail = f"the batch {b.status} before this request ran"
        return BatchStatus(state=b.status, ended=b.status in BATCH_ENDED, done=done,
                           failed=counts.failed if counts else 0, total=counts.total if counts else 0, detail=detail)

    async def batch_results(self, handle: dict[str, Any]) -> dict[str, Any]:
        b = await self.sdk_call(lambda client: client.batches.retrieve(handle["id"]))
        out: dict[str, Any] = {}

        async def read(client):
            for fid in (b.output_file_id, b.error_file_id):
                if not fid:
                    continue
                async with client.files.with_streaming_response.content(fid) as resp:
                    async for line in resp.iter_lines():
                        if line.strip():
                            key, res = batch_line_result(json.loads(line))
                            if key:
                                out[key] = res

        await self.sdk_call(read)
        return out


def batch_line_result(d: dict[str, Any]) -> tuple[str | None, Any]:
    """(custom_id, GenOutput or Failure) for one line of a batch output or error file."""
    key = d.get("custom_id")
    resp = d.get("response") or {}
    err = d.get("error")
    code = resp.get("status_code")
    if err:  # e.g. {"code": "batch_expired", "message": "..."}: the request never ran
        if not isinstance(err, dict):
            return key, _api.batch_failure(None, str(err))
        code_word, what = err.get("code"), err.get("message") or "no message"
        return key, _api.batch_failure(None, f"{code_word}: {what}" if code_word else what)
    if code == 200:
        try:
            return key, parse_completion(resp.get("body"))
        except ProviderError as e:
            return key, _api.batch_failure(None, str(e))
    msg = _api._error_message(resp.get("body")) or "no answer in the batch output"
    return key, _api.batch_failure(code, msg)


def parse_completion(data: Any) -> GenOutput:
    """A GenOutput from a chat-completion JSON body (live or from a batch output file)."""
    try:
        choice = data["choices"][0]
        msg = choice.get("message") or {}
    except (KeyError, IndexError, TypeError, AttributeError):
        err = data.get("error") if isinstance(data, dict) else None
        detail = _api._error_message({"error": err}) if err else "no choices in the response"
        raise ProviderError(f"malformed completion: {detail}", retryable=True) from None
    text = msg.get("content")
    if not isinstance(text, str):
        # content parts: only the text ones are the answer (not e.g. a reasoning part's text)
        text = "".join(p["text"] for p in text if isinstance(p, dict) and p.get("type", "text") == "text"
                       and isinstance(p.get("text"), str)) if isinstance(text, list) else ""
    finish = choice.get("finish_reason")
    if msg.get("refusal"):
        finish = "refusal"
    reasoning = msg.get("reasoning_content") or msg.get("reasoning")
    if not isinstance(reasoning, str):
        reasoning = None
    usage = data.get("usage") or {}
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    logprobs = from_openai((choice.get("logprobs") or {}).get("content")) if choice.get("logprobs") else None
    return GenOutput(text=text, finish_reason=finish, reasoning=reasoning, logprobs=logprobs, usage=_api.clean_usage({
        "input_tokens": _api.int_or_none(usage.get("prompt_tokens")),
        "output_tokens": _api.int_or_none(usage.get("completion_tokens")),
        "cached_tokens": _api.int_or_none(prompt_details.get("cached_tokens")),
        "reasoning_tokens": _api.int_or_none(completion_details.get("reasoning_tokens")),
    }))
