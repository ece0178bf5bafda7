"""A local fake of the OpenAI and Anthropic HTTP APIs, for tests and benchmarks.

It speaks enough of both wire formats for the official SDKs to work unmodified:

- OpenAI: ``POST /v1/chat/completions``; files and batches (``/v1/files``,
  ``/v1/files/{id}/content``, ``/v1/batches``);
- Anthropic: ``POST /v1/messages`` (thinking blocks when thinking is requested) and message
  batches (``/v1/messages/batches``, results as JSONL).

The "model" is ``fake_model.answer``: deterministic, read from the prompt. Requests are
counted (in total and per prompt hash) so tests can assert that cached work is never asked
for again. Faults are scripted per test, from Python (``FakeAPI.script``) or over HTTP
(``POST /_control/script``); each request takes the first script whose ``match`` substring is
in its prompt (a script with ``skip=N`` lets its first N matching requests through). Kinds:

- HTTP: ``429`` (``retry_after`` seconds or ``retry_after_ms``), ``500``, ``503``, ``529``,
  ``400``, ``401``, ``403``, ``404`` (not retryable), ``stall`` (answers after ``seconds``), ``drop`` (closes the
  connection), ``bad_json`` (a 200 with a broken body);
- content: ``empty``, ``length``, ``both`` (a verdict naming both labels), ``refusal``,
  ``content_filter``, ``think_tag`` (a decoy verdict inside ``<think>...</think>``),
  ``no_verdict``, ``text`` (reply ``text`` verbatim);
- batches only: ``expire`` (the batch ends before the request runs: OpenAI reports
  ``batch_expired`` in the error file and the batch as expired, Anthropic an ``expired`` result).

``batch_creations`` counts batches created (both APIs), so tests can check a resumed batch
run did not submit again.

It binds 127.0.0.1 only, caps body size, stall time and the request log, and runs in a
background thread (``FakeAPI().start()``) or as a process (``python -m tests.servers.fake_api``,
which prints ``PORT <n>``).
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from aiohttp import web

from tests.servers import fake_model
from tests.servers.fake_batches import add_batch_routes

HOST = "127.0.0.1"
# The key tests hand the SDKs (shaped like a real one, so scrubbing is tested for real).
TEST_KEY = "sk-test-rmbench-9f2c4e1a7b3d5f60"
MAX_BODY = 64 * 1024 * 1024
MAX_STALL = 60.0
MAX_LOG = 200_000
HTTP_KINDS = ("429", "500", "503", "529", "400", "401", "403", "404", "stall", "drop", "bad_json")
CONTENT_KINDS = ("empty", "length", "both", "refusal", "content_filter", "think_tag", "no_verdict", "text")
BATCH_KINDS = ("expire",)
OPENAI_KEYS = {"messages", "model", "temperature", "top_p", "max_tokens", "max_completion_tokens", "seed", "stop",
               "reasoning_effort", "n", "stream", "chat_template_kwargs", "logprobs", "top_logprobs", "user",
               "metadata", "store", "service_tier"}
ANTHROPIC_KEYS = {"model", "messages", "system", "max_tokens", "stop_sequences", "thinking", "output_config",
                  "metadata", "service_tier", "stream"}


@dataclass
class Script:
    kind: str
    times: int | None = 1          # None: every matching request
    match: str | None = None       # substring of the prompt; None matches every request
    params: dict[str, Any] = field(default_factory=dict)
    used: int = 0
    skipped: int = 0


def prompt_hash(prompt: str, model: str) -> str:
    return hashlib.sha256(f"{model}\x1f{prompt}".encode("utf-8")).hexdigest()


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def openai_prompt(body: dict) -> str:
    return "\n\n".join(f"{m.get('role')}: {_text_of(m.get('content'))}" for m in body.get("messages") or [])


def anthropic_prompt(body: dict) -> str:
    parts = []
    if body.get("system"):
        parts.append(f"system: {_text_of(body['system'])}")
    parts += [f"{m.get('role')}: {_text_of(m.get('content'))}" for m in body.get("messages") or []]
    return "\n\n".join(parts)


def _tokens(text: str | None) -> int:
    return len((text or "").split())


class FakeAPI:
    def __init__(self, api_key: str | None = None, latency: float = 0.0, batch_delay: float = 0.0):
        self.api_key = api_key
        self.latency = latency
        self.served_model: str | None = None   # the model name answers report (None: the request's)
        self.batch_delay = batch_delay
        self.rule: Callable[[str, dict], fake_model.Reply] | None = None
        self._lock = threading.Lock()
        self._scripts: list[Script] = []
        self.log: collections.deque[dict] = collections.deque(maxlen=MAX_LOG)
        self.hash_counts: collections.Counter[str] = collections.Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.files: dict[str, dict] = {}
        self.batches: dict[str, dict] = {}
        self.batch_creations = 0
        self._ids = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self, port: int = 0) -> "FakeAPI":
        """Serve from a daemon thread with its own event loop; returns once listening."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run():
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._runner = loop.run_until_complete(_serve(self, port))
            except BaseException as e:  # reported to the starting thread
                failure.append(e)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-api", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
            self._loop = self._thread = None

    def kill(self) -> None:
        """Die as a killed process does: stop listening and reset every open connection at once
        (requests under way get no answer), then stop serving. ``start(port=...)`` revives it."""
        loop, runner = self._loop, self._runner
        if loop is None or runner is None:
            return
        done = threading.Event()

        def die() -> None:
            try:
                for site in list(runner.sites):
                    server = getattr(site, "_server", None)   # the asyncio server: stop accepting
                    if server is not None:
                        server.close()
                for handler in list(runner.server.connections if runner.server is not None else []):
                    if handler.transport is not None:
                        handler.transport.abort()
            finally:
                done.set()

        loop.call_soon_threadsafe(die)
        done.wait(10)
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    # -- control (any thread) ---------------------------------------------------------------
    def script(self, kind: str, times: int | None = 1, match: str | None = None, **params: Any) -> Script:
        if kind not in HTTP_KINDS + CONTENT_KINDS + BATCH_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        s = Script(kind, times, match, params)
        with self._lock:
            self._scripts.append(s)
        return s

    def reset(self) -> None:
        with self._lock:
            self._scripts.clear()
            self.log.clear()
            self.hash_counts.clear()
            self.files.clear()
            self.batches.clear()
            self.batch_creations = 0
            self.in_flight = self.max_in_flight = 0
        self.rule = None
        self.latency = 0.0
        self.batch_delay = 0.0
        self.served_model = None

    @property
    def total(self) -> int:
        return len(self.log)

    def count(self, match: str | None = None, path: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.log if (match is None or match in r["prompt"])
                       and (path is None or r["path"] == path))

    def requests(self, match: str | None = None) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self.log if match is None or match in r["prompt"]]

    def stats(self) -> dict:
        with self._lock:
            return {"total": len(self.log), "max_in_flight": self.max_in_flight,
                    "max_per_prompt": max(self.hash_counts.values(), default=0),
                    "distinct_prompts": len(self.hash_counts), "batch_creations": self.batch_creations,
                    "scripts_left": sum(1 for s in self._scripts if s.times is None or s.used < s.times)}

    def _take(self, prompt: str) -> Script | None:
        with self._lock:
            for s in self._scripts:
                if (s.times is None or s.used < s.times) and (s.match is None or s.match in prompt):
                    if s.skipped < int(s.params.get("skip", 0)):
                        s.skipped += 1
                        continue
                    s.used += 1
                    return s
        return None

    def next_id(self, prefix: str) -> str:
        with self._lock:
            self._ids += 1
            return f"{prefix}{self._ids:06d}"

    def record(self, path: str, model: str, prompt: str, body: dict, batch: bool = False) -> bool:
        """Log one generation request; returns whether this prompt was seen before."""
        h = prompt_hash(prompt, model)
        with self._lock:
            seen = self.hash_counts[h] > 0
            self.hash_counts[h] += 1
            self.log.append({"path": path, "model": model, "hash": h, "prompt": prompt[:65536], "t": time.monotonic(),
                             "seed": body.get("seed"), "batch": batch,
                             "params": {k: v for k, v in body.items() if k not in ("messages", "system")},
                             "roles": [m.get("role") for m in body.get("messages") or []],
                             "system": _text_of(body.get("system"))})
        return seen

    # -- the model, with content-level scripts applied -----------------------------------------
    def reply(self, prompt: str, body: dict, script: Script | None, thinking: bool) -> fake_model.Reply:
        rep = self.rule(prompt, body) if self.rule else fake_model.answer(prompt, thinking=thinking)
        kind = script.kind if script else None
        if kind == "empty":
            rep = fake_model.Reply(text="", reasoning=rep.reasoning)
        elif kind == "length":
            rep = fake_model.Reply(text=rep.text[: max(1, len(rep.text) // 3)], finish_reason="length",
                                   reasoning=rep.reasoning)
        elif kind == "both":
            rep = fake_model.Reply(text=fake_model.both_labels(prompt), reasoning=rep.reasoning)
        elif kind == "refusal":
            rep = fake_model.Reply(text="", finish_reason="refusal", refusal="I can't help with that request.")
        elif kind == "content_filter":
            rep = fake_model.Reply(text="", finish_reason="content_filter")
        elif kind == "think_tag":
            decoy = fake_model.other_label_text(prompt)
            rep = fake_model.Reply(text=f"<think>At first I lean to {decoy}.</think>\n{rep.text}", reasoning=rep.reasoning)
        elif kind == "no_verdict":
            rep = fake_model.Reply(text="Both responses have strengths; I will not choose.")
        elif kind == "text":
            rep = fake_model.Reply(text=str(script.params.get("text", "")), finish_reason=script.params.get("finish", "stop"))
        return rep

    # -- wire formats ---------------------------------------------------------------------------
    def openai_completion(self, body: dict, prompt: str, script: Script | None, seen: bool) -> dict:
        thinking = bool(body.get("reasoning_effort"))
        rep = self.reply(prompt, body, script, thinking)
        finish = "stop" if rep.finish_reason == "refusal" else rep.finish_reason
        msg: dict[str, Any] = {"role": "assistant", "content": None if rep.refusal else rep.text,
                               "refusal": rep.refusal}
        if rep.reasoning:
            msg["reasoning_content"] = rep.reasoning
        p_tok, c_tok, r_tok = _tokens(prompt), _tokens(rep.text), _tokens(rep.reasoning)
        return {"id": self.next_id("chatcmpl-"), "object": "chat.completion", "created": int(time.time()),
                "model": self.served_model or body.get("model", ""), "system_fingerprint": "fake",
                "choices": [{"index": 0, "message": msg, "finish_reason": finish, "logprobs": None}],
                "usage": {"prompt_tokens": p_tok, "completion_tokens": c_tok + r_tok, "total_tokens": p_tok + c_tok + r_tok,
                          "prompt_tokens_details": {"cached_tokens": p_tok // 2 if seen else 0},
                          "completion_tokens_details": {"reasoning_tokens": r_tok}}}

    def anthropic_message(self, body: dict, prompt: str, script: Script | None, seen: bool) -> dict:
        thinking = (body.get("thinking") or {}).get("type") in ("enabled", "adaptive")
        rep = self.reply(prompt, body, script, thinking)
        content: list[dict] = []
        if rep.reasoning:
            content.append({"type": "thinking", "thinking": rep.reasoning + " " + fake_model.other_label_text(prompt),
                            "signature": "fake-signature"})
        if rep.text or not (script and script.kind == "empty" and script.params.get("no_blocks")):
            if not (script and script.kind == "refusal"):
                content.append({"type": "text", "text": rep.text, "citations": None})
        stop = {"stop": "end_turn", "length": "max_tokens", "refusal": "refusal",
                "content_filter": "refusal"}.get(rep.finish_reason, "end_turn")
        p_tok, c_tok, r_tok = _tokens(prompt), _tokens(rep.text), _tokens(rep.reasoning)
        read = p_tok // 2 if seen else 0  # Anthropic counts cache reads apart from input_tokens
        usage: dict[str, Any] = {"input_tokens": p_tok - read, "output_tokens": c_tok + r_tok,
                                 "cache_read_input_tokens": read, "cache_creation_input_tokens": 0}
        if r_tok:
            usage["output_tokens_details"] = {"thinking_tokens": r_tok}
        return {"id": self.next_id("msg_"), "type": "message", "role": "assistant",
                "model": self.served_model or body.get("model", ""),
                "content": content, "stop_reason": stop, "stop_sequence": None, "usage": usage}

    # -- request validation (what the real APIs reject) ----------------------------------------
    @staticmethod
    def openai_invalid(body: dict) -> str | None:
        extra = sorted(set(body) - OPENAI_KEYS)
        if extra:
            return f"Unrecognized request argument supplied: {', '.join(extra)}"
        if not body.get("messages") or not body.get("model"):
            return "model and messages are required"
        if "max_tokens" in body and "max_completion_tokens" in body:
            return "max_tokens and max_completion_tokens cannot both be set"
        return None

    @staticmethod
    def anthropic_invalid(body: dict) -> str | None:
        extra = sorted(set(body) - ANTHROPIC_KEYS)
        if extra:
            return f"{extra[0]}: Extra inputs are not permitted"
        if not isinstance(body.get("max_tokens"), int):
            return "max_tokens: Field required"
        if not body.get("messages") or not body.get("model"):
            return "model and messages are required"
        if any(m.get("role") not in ("user", "assistant") for m in body["messages"]):
            return "messages: roles must be user or assistant (use the top-level system parameter)"
        th = body.get("thinking") or {}
        if th.get("type") == "enabled":
            budget = th.get("budget_tokens")
            if not isinstance(budget, int) or budget < 1024 or budget >= body["max_tokens"]:
                return "thinking.budget_tokens: must be >= 1024 and less than max_tokens"
        return None


# -- HTTP layer --------------------------------------------------------------------------------
def _openai_error(status: int, message: str, etype: str = "server_error", headers: dict | None = None) -> web.Response:
    return web.json_response({"error": {"message": message, "type": etype, "param": None, "code": None}},
                             status=status, headers=headers)


def _anthropic_error(status: int, message: str, etype: str = "api_error", headers: dict | None = None) -> web.Response:
    return web.json_response({"type": "error", "error": {"type": etype, "message": message}}, status=status,
                             headers=headers)


def _authorized(fake: FakeAPI, request: web.Request) -> bool:
    if not fake.api_key:
        return True
    bearer = request.headers.get("Authorization", "")
    return bearer == f"Bearer {fake.api_key}" or request.headers.get("x-api-key") == fake.api_key


async def _http_fault(fake: FakeAPI, request: web.Request, script: Script | None, err) -> web.StreamResponse | None:
    """Carry out an HTTP-level fault; None when the request should be answered normally."""
    if script is None or script.kind not in HTTP_KINDS:
        return None
    kind = script.kind
    if kind == "429":
        headers = {}
        if "retry_after_ms" in script.params:
            headers["retry-after-ms"] = str(script.params["retry_after_ms"])
        else:
            headers["Retry-After"] = str(script.params.get("retry_after", 1))
        return err(429, "Rate limit reached for requests", "rate_limit_error", headers)
    if kind in ("500", "503", "529"):
        etype = "overloaded_error" if kind == "529" else "api_error"
        return err(int(kind), "The server had an error while processing your request", etype)
    if kind == "400":
        return err(400, script.params.get("message", "This model's maximum context length is exceeded"),
                   "invalid_request_error")
    if kind in ("401", "403", "404"):
        etype, default = {"401": ("authentication_error", "Invalid authentication"),
                          "403": ("permission_error", "Your key may not use this model"),
                          "404": ("not_found_error", "The model does not exist")}[kind]
        return err(int(kind), script.params.get("message", default), etype)
    if kind == "stall":
        await asyncio.sleep(min(float(script.params.get("seconds", 30)), MAX_STALL))
        return None
    if kind == "drop":
        # Close the socket mid-request; the handler is then cancelled (handler_cancellation).
        if request.transport is not None:
            request.transport.close()
        await asyncio.sleep(MAX_STALL)
        return web.Response(status=500)
    if kind == "bad_json":
        return web.Response(status=200, body=b'{"id": "broken", "choices": [{"message": {"content": "[[A',
                            content_type="application/json")
    return None


async def _generate(fake: FakeAPI, request: web.Request, api: str) -> web.StreamResponse:
    err = _openai_error if api == "openai" else _anthropic_error
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return err(400, "We could not parse the JSON body of your request.", "invalid_request_error")
    if not isinstance(body, dict):
        return err(400, "The body must be a JSON object.", "invalid_request_error")
    problem = fake.openai_invalid(body) if api == "openai" else fake.anthropic_invalid(body)
    prompt = openai_prompt(body) if api == "openai" else anthropic_prompt(body)
    seen = fake.record(request.path, str(body.get("model", "")), prompt, body)
    if not _authorized(fake, request):
        # like the real services, the message quotes the key it was given
        given = request.headers.get("Authorization", "").removeprefix("Bearer ") or request.headers.get("x-api-key", "")
        return err(401, f"Incorrect API key provided: {given}", "authentication_error")
    if problem:
        return err(400, problem, "invalid_request_error")
    with fake._lock:
        fake.in_flight += 1
        fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
    try:
        if fake.latency:
            await asyncio.sleep(fake.latency)
        script = fake._take(prompt)
        faulted = await _http_fault(fake, request, script, err)
        if faulted is not None:
            return faulted
        if api == "openai":
            return web.json_response(fake.openai_completion(body, prompt, script, seen))
        return web.json_response(fake.anthropic_message(body, prompt, script, seen))
    finally:
        with fake._lock:
            fake.in_flight -= 1


def build_app(fake: FakeAPI) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)

    async def chat(request):
        return await _generate(fake, request, "openai")

    async def messages(request):
        return await _generate(fake, request, "anthropic")

    async def control_script(request):
        d = await request.json()
        s = fake.script(d.pop("kind"), d.pop("times", 1), d.pop("match", None), **d)
        return web.json_response({"kind": s.kind})

    async def control_reset(request):
        fake.reset()
        return web.json_response({"ok": True})

    async def control_stats(request):
        return web.json_response(fake.stats())

    async def control_latency(request):
        fake.latency = float((await request.json())["latency"])
        return web.json_response({"latency": fake.latency})

    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/_control/script", control_script)
    app.router.add_post("/_control/reset", control_reset)
    app.router.add_post("/_control/latency", control_latency)
    app.router.add_get("/_control/stats", control_stats)
    add_batch_routes(app, fake)
    return app


# -- running it --------------------------------------------------------------------------------
async def _serve(fake: FakeAPI, port: int) -> web.AppRunner:
    runner = web.AppRunner(build_app(fake), handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, port, backlog=1024)
    await site.start()
    fake.port = runner.addresses[0][1]
    return runner


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Run the fake OpenAI/Anthropic API on 127.0.0.1.")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    ap.add_argument("--api-key", default=None, help="require this key (default: accept any)")
    args = ap.parse_args(argv)
    fake = FakeAPI(api_key=args.api_key, latency=args.latency)

    async def forever():
        runner = await _serve(fake, args.port)
        print(f"PORT {fake.port}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(forever())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
