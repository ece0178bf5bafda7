"""Interop with a real OpenAI-compatible server that nobody here wrote: llama-cpp-python's
``llama_cpp.server`` serving SmolLM2-135M-Instruct (GGUF) on a free loopback port, judged
through ``openai/ --base-url`` with the official SDK.

One server per module (started once, stopped after the last test; the resume test kills it
and starts it again on the same port). Checked: usage tokens as the server counts them,
``finish_reason: length`` recorded as truncated, ``--gen max_tokens`` honoured, stop
sequences, more concurrent requests than the server serves at once (it queues them), a
server killed mid-run followed by a resumed run that asks only what was not answered, and
``--gen logprobs=true`` giving ``p_labels`` that sum to at most 1. Few, short requests: the
server evaluates a prompt in about a second here (bench/RESULTS.md has the times).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.judges.real_models import (
    BOXED_LABELS,
    TERSE_BOXED,
    check_p_labels,
    judgments,
    need_llama_cpp,
    records,
    smollm2_gguf,
    write_easy,
)
from tests.robustness.util import ctrl_c_reaches_it

MODEL = "openai/smollm2-135m"  # one model per server: the name is only recorded
TIMES: dict[str, float] = {}
READY_TIMEOUT = 120.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """``python -m llama_cpp.server`` on 127.0.0.1, its output in a log file."""

    def __init__(self, gguf: Path, log: Path):
        self.gguf = gguf
        self.port = _free_port()
        self.log_path = log
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "LlamaServer":
        pytest.importorskip("uvicorn", reason="llama-cpp-python[server] is not installed")
        log = open(self.log_path, "ab")
        # one thread: the server's work is one request at a time, and the test process runs beside it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(self.gguf), "--host", "127.0.0.1",
             "--port", str(self.port), "--n_ctx", "2048", "--n_threads", "1", "--n_threads_batch", "1"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited ({self.proc.returncode}): {self.log_tail()}")
            try:
                with urllib.request.urlopen(self.base_url + "/models", timeout=2) as r:
                    if r.status == 200 and json.loads(r.read()).get("data"):
                        return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"llama_cpp.server did not answer /v1/models in {READY_TIMEOUT:.0f}s: {self.log_tail()}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    need_llama_cpp()
    srv = LlamaServer(smollm2_gguf(), tmp_path_factory.mktemp("llama-server") / "server.log").start()
    yield srv
    srv.stop()


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "EMPTY")  # the server takes no key; the SDK wants one
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    return {"OPENAI_API_KEY": "EMPTY"}


def _run(server, data: Path, out: Path, name: str, *extra: str, **kw) -> subprocess.CompletedProcess:
    return run_cli("run", "--model", MODEL, "--base-url", server.base_url, "--task", "rewardbench", "--data-path",
                   str(data), "--output-dir", str(out), "--run-name", name, "--quiet", *extra, **kw)


def test_usage_verdicts_and_p_labels_from_the_real_server(server, env, tmp_path):
    data = write_easy(tmp_path / "easy.json", 2)
    t0 = time.perf_counter()
    res = _run(server, data, tmp_path, "u", "--prompt", str(TERSE_BOXED),
               "--gen", "temperature=0,max_tokens=24,logprobs=true")
    TIMES["usage + logprobs (4 requests)"] = time.perf_counter() - t0
    assert res.returncode == 0, res.stderr + server.log_tail()
    items = judgments(records(tmp_path / "u"))
    assert len(items) == 4
    # p_labels from the server's top_logprobs. It applies its default repetition penalty before
    # its greedy pick, so the written label need not hold the most raw probability: the
    # labels and the sum are checked, not the argmax.
    assert check_p_labels(items, BOXED_LABELS, greedy=False) >= 1, [j["raw"] for j in items]
    # usage as the server counts it: its prompt is the same chat template rendered in process
    from rmbench.config import GenConfig, RunConfig
    from rmbench.judges import build_provider
    from rmbench.judges.base import GenRequest
    from rmbench.judges.prompts import load_template

    local = build_provider(RunConfig(model=f"llamacpp/{server.gguf}", tasks=["rewardbench"]))
    try:
        tmpl = load_template(str(TERSE_BOXED))
        rows = json.loads(data.read_text())
        for j, (row, order) in zip(items, ((r, o) for r in rows for o in (0, 1))):
            a, b = (row["chosen"], row["rejected"]) if order == 0 else (row["rejected"], row["chosen"])
            msgs = tmpl.render(({"role": "user", "content": row["prompt"]},), (a, b))
            tokens, _ = local.prompt_tokens(GenRequest(messages=msgs, gen=GenConfig(), key="x"))
            assert j["usage"]["input_tokens"] == len(tokens)
            assert 1 <= j["usage"]["output_tokens"] <= 24
    finally:
        local.close()
    run = json.loads((tmp_path / "u" / "run.json").read_text())
    assert run["stats"]["tokens_now"]["input_tokens"] == sum(j["usage"]["input_tokens"] for j in items)


def test_length_max_tokens_and_a_queue_at_the_server(server, env, tmp_path):
    # four requests at once; the server computes one at a time and queues the rest: none fails.
    # Each stops at max_tokens, which the server reports as finish_reason "length".
    data = write_easy(tmp_path / "easy.json", 2)
    t0 = time.perf_counter()
    res = _run(server, data, tmp_path, "t", "--gen", "temperature=0,max_tokens=3", "--concurrency", "4")
    TIMES["length + queue (4 requests)"] = time.perf_counter() - t0
    assert res.returncode == 0, res.stderr
    items = judgments(records(tmp_path / "t"))
    assert {j["status"] for j in items} == {"truncated"}
    assert all(j["usage"]["output_tokens"] == 3 for j in items)
    summary = json.loads((tmp_path / "t" / "summary.json").read_text())
    assert summary["tasks"]["rewardbench"]["judging"]["failures"] == {"truncated": 4}
    run = json.loads((tmp_path / "t" / "run.json").read_text())
    assert run["stats"]["retries"] == 0 and run["stats"]["requests"] == 4
    lat = run["stats"]["latency_seconds"]
    assert lat["max"] > 2 * lat["p50"] or lat["max"] > 1.0  # the last of four waited for the others


def test_stop_sequences(server, env, tmp_path):
    data = write_easy(tmp_path / "easy.json", 2)
    # without a stop sequence these answers read "The answer is \\boxed{Assistant 2}." (see above)
    t0 = time.perf_counter()
    res = _run(server, data, tmp_path, "s", "--prompt", str(TERSE_BOXED), "--gen",
               "temperature=0,max_tokens=24,stop=boxed|Assistant 1")
    TIMES["stop (4 requests)"] = time.perf_counter() - t0
    assert res.returncode == 0, res.stderr
    items = judgments(records(tmp_path / "s"))
    for j in items:  # the text ends where a stop sequence began; the server reports a stop, not a length
        assert "boxed" not in j["raw"] and "Assistant 1" not in j["raw"] and j["status"] != "truncated", j
        assert j["usage"]["output_tokens"] < 24
    assert any(j["raw"].endswith("\\") for j in items), [j["raw"] for j in items]


def test_server_killed_mid_run_then_resumed(server, env, tmp_path):
    """The server dies after the first example is recorded; rmbench keeps retrying until it is
    interrupted. With the server back on the same address, rerunning the same command resumes:
    recorded examples are kept as they are, answers that arrived but were not yet recorded come
    from the cache, and the server is asked only what it never answered."""
    import sqlite3

    from tests.conftest import REPO

    data = write_easy(tmp_path / "easy.json", 4)
    cache = tmp_path / "cache.sqlite"  # nothing answered by earlier tests
    argv = ["run", "--model", MODEL, "--base-url", server.base_url, "--task", "rewardbench", "--data-path", str(data),
            "--output-dir", str(tmp_path), "--run-name", "k", "--quiet", "--gen", "temperature=0,max_tokens=2",
            "--concurrency", "1", "--max-retries", "100", "--cache", str(cache)]
    child_env = {**os.environ, "PYTHONPATH": str(REPO), "RMBENCH_RETRY_BASE": "0.2", "OPENAI_API_KEY": "EMPTY"}
    rec = tmp_path / "k" / "records.jsonl"
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "rmbench.cli.main", *argv], cwd=REPO, env=child_env,
                            preexec_fn=ctrl_c_reaches_it,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not (rec.exists() and rec.read_text().count("\n") >= 1):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1]
            time.sleep(0.05)
        server.kill()
        time.sleep(2.0)                       # requests now fail to connect and are retried
        assert proc.poll() is None            # ... so the run is still going
        proc.send_signal(signal.SIGINT)       # the user stops it
        _, err = proc.communicate(timeout=60)
        TIMES["kill + resume, first run"] = time.perf_counter() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
        if server.proc.poll() is not None:
            server.start()  # same port: the endpoint, and so the cache keys, stay the same
    assert proc.returncode == 130 and "interrupted" in err, err
    recorded = {r["id"]: r for r in records(tmp_path / "k")}
    assert 1 <= len(recorded) < 4
    with sqlite3.connect(cache) as db:
        answered = db.execute("SELECT COUNT(*) FROM outputs").fetchone()[0]  # every answer the server gave
    assert 2 * len(recorded) <= answered < 8
    t0 = time.perf_counter()
    res = run_cli(*argv)
    TIMES["kill + resume, resumed run"] = time.perf_counter() - t0
    assert res.returncode == 0, res.stderr
    run = json.loads((tmp_path / "k" / "run.json").read_text())
    assert run["stats"]["judged_now"] == 4 - len(recorded)
    assert run["stats"]["requests"] == 8 - answered                      # only what was never answered
    assert run["stats"]["cache_hits"] == answered - 2 * len(recorded)   # answered, not yet recorded
    final = {r["id"]: r for r in records(tmp_path / "k")}
    assert len(final) == 4 and all(j["status"] == "truncated" for j in judgments(list(final.values())))
    assert all(final[k] == r for k, r in recorded.items())


def test_print_times():
    """Not a check: the seconds each server check above took (recorded in bench/RESULTS.md)."""
    for name, secs in TIMES.items():
        print(f"{name}: {secs:.1f} s")
