"""``rmbench run --batch``: the OpenAI Batch API and Anthropic Message Batches, end to end through
the real CLI and the official SDKs against the fake server (tests/servers/fake_batches.py).

The fake processes a batch the first time it is polled at least ``batch_delay`` seconds after
creation, running every request through the same deterministic judge and fault scripts as a
live request, and counts batch creations."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests import rb_fixture
from tests.helpers import REPO, run_cli, write_json
from tests.judges.test_api_cli import SCORE
from tests.servers.fake_api import TEST_KEY

N = len(rb_fixture.PLAN)
PROVIDERS = ("openai", "anthropic")


def _args(fake, tmp_path, provider, name, *extra):
    base = fake.openai_base_url if provider == "openai" else fake.anthropic_base_url
    data = tmp_path / "rb.json"
    if not data.exists():
        write_json(data, rb_fixture.rows())
    return ["run", "--model", f"{provider}/fake-judge", "--base-url", base, "--task", "rewardbench",
            "--data-path", str(data), "--output-dir", str(tmp_path / "out"), "--run-name", name,
            "--cache", str(tmp_path / "cache.sqlite"), "--max-retries", "1", *extra]


def _batch(fake, tmp_path, provider, name="b", *extra):
    return run_cli(*_args(fake, tmp_path, provider, name, "--batch", "--model-args", "batch_poll=0.05", *extra))


def _summary(tmp_path, name):
    return json.loads((tmp_path / "out" / name / "summary.json").read_text())["tasks"]["rewardbench"]


def _judgments(tmp_path, name):
    out = {}
    for line in (tmp_path / "out" / name / "records.jsonl").read_text().splitlines():
        rec = json.loads(line)
        out[int(rec["id"])] = [jd for p in rec["pairs"] for jd in p["judgments"]]
    return out


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_batch_run_scores_like_a_live_run_and_a_later_live_run_is_free(fake_api, provider, tmp_path):
    fake_api.batch_delay = 0.3  # polled a few times before it ends
    res = _batch(fake_api, tmp_path, provider)
    assert res.returncode == 0, res.stderr
    st = fake_api.stats()
    assert st["batch_creations"] == 1  # one wave: every request of the run in one batch
    assert st["total"] == 2 * N and st["max_per_prompt"] == 1
    assert all(r["batch"] for r in fake_api.requests())
    assert _summary(tmp_path, "b")["score"] == pytest.approx(SCORE)
    run_dir = tmp_path / "out" / "b"
    state = json.loads((run_dir / "batches.json").read_text())
    [entry] = state["batches"]
    assert entry["requests"] == 2 * N and entry["collected"] is True and entry["answered"] == 2 * N
    assert entry["judge"]["provider"] == provider
    assert f"batch {entry['id']} submitted: {2 * N} requests" in res.stderr
    run = json.loads((run_dir / "run.json").read_text())
    assert run["stats"]["requests"] == 2 * N
    for f in [*run_dir.iterdir(), *tmp_path.glob("cache.sqlite*")]:
        assert TEST_KEY.encode() not in f.read_bytes(), f.name
    # the batch's answers went through the cache: the same judgments live cost nothing
    fake_api.reset()
    res = run_cli(*_args(fake_api, tmp_path, provider, "live", "--quiet"))
    assert res.returncode == 0, res.stderr
    assert fake_api.total == 0
    assert _summary(tmp_path, "live")["score"] == pytest.approx(SCORE)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_errored_and_expired_requests_end_as_api_error_with_the_reason(fake_api, provider, tmp_path):
    fake_api.script("500", times=None, match="question 0 for")     # errored inside the batch
    fake_api.script("expire", times=None, match="question 1 for")  # the batch expired before it ran
    fake_api.script("both", times=None, match="question 2 for")    # answered without a clear verdict
    fake_api.script("400", times=None, match="question 3 for", message="prompt is too long: 300000 tokens > 200000")
    res = _batch(fake_api, tmp_path, provider)
    assert res.returncode == 0, res.stderr
    js = _judgments(tmp_path, "b")
    assert {jd["status"] for jd in js[0]} == {"api_error"}
    assert all("scripted fault 500" in jd["error"] for jd in js[0])
    assert {jd["status"] for jd in js[1]} == {"api_error"}
    assert all("expired" in jd["error"] for jd in js[1])
    assert {jd["status"] for jd in js[2]} == {"unparsed"}
    assert {jd["status"] for jd in js[3]} == {"too_long"}
    assert all({jd["status"] for jd in js[i]} == {"ok"} for i in range(4, N))
    summ = _summary(tmp_path, "b")
    assert summ["judging"]["failures"] == {"api_error": 4, "too_long": 2, "unparsed": 2}
    entry = json.loads((tmp_path / "out" / "b" / "batches.json").read_text())["batches"][0]
    assert (entry["answered"], entry["failed"]) == (2 * N - 6, 6)  # "both" is an answer
    # --retry-failed --batch asks again only what failed, in one new batch
    fake_api.reset()
    res = _batch(fake_api, tmp_path, provider, "b", "--retry-failed")
    assert res.returncode == 0, res.stderr
    assert fake_api.stats()["batch_creations"] == 1
    assert fake_api.total == 8
    assert _summary(tmp_path, "b")["score"] == pytest.approx(SCORE)


@pytest.mark.slow
@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_run_killed_while_polling_resumes_the_same_batch(fake_api, provider, tmp_path):
    fake_api.batch_delay = 3600  # the batch stays in progress while the first process polls it
    argv = _args(fake_api, tmp_path, provider, "b", "--batch", "--model-args", "batch_poll=0.05", "--quiet")
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "rmbench.cli.main", *argv], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    state = tmp_path / "out" / "b" / "batches.json"
    deadline = time.monotonic() + 120
    try:
        while not state.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert state.exists(), proc.stderr.read().decode() if proc.poll() is not None else "no batches.json"
        time.sleep(0.3)  # a few polls
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    [entry] = json.loads(state.read_text())["batches"]
    assert entry["collected"] is False
    assert fake_api.stats()["batch_creations"] == 1 and fake_api.total == 0
    assert not (tmp_path / "out" / "b" / "records.jsonl").exists() or \
        not (tmp_path / "out" / "b" / "records.jsonl").read_text().strip()
    # the same command again: it polls the batch it finds instead of paying for a second one
    fake_api.batch_delay = 0
    res = run_cli(*argv[:-1])  # without --quiet: the resume is reported
    assert res.returncode == 0, res.stderr
    assert f"batch {entry['id']}" in res.stderr and "resuming" in res.stderr
    st = fake_api.stats()
    assert st["batch_creations"] == 1
    assert st["total"] == 2 * N and st["max_per_prompt"] == 1
    assert _summary(tmp_path, "b")["score"] == pytest.approx(SCORE)
    [after] = json.loads(state.read_text())["batches"]
    assert after["id"] == entry["id"] and after["collected"] is True


def test_batch_is_refused_for_providers_without_a_batch_api(tmp_path):
    data = write_json(tmp_path / "rb.json", rb_fixture.rows())
    res = run_cli("run", "--model", "baseline/longest", "--task", "rewardbench", "--data-path", str(data),
                  "--batch", "--output-dir", str(tmp_path))
    assert res.returncode == 2
    assert "--batch" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_wrong_key_stops_a_batch_run_with_one_line(fake_api, provider, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY" if provider == "openai" else "ANTHROPIC_API_KEY", "sk-wrong-000000000000")
    res = _batch(fake_api, tmp_path, provider)
    assert res.returncode == 2
    assert "HTTP 401" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert fake_api.stats()["batch_creations"] == 0


def test_large_waves_are_split_into_several_batches(fake_api, tmp_path):
    res = run_cli(*_args(fake_api, tmp_path, "openai", "b", "--batch", "--model-args", "batch_poll=0.05,batch_size=10",
                         "--quiet"))
    assert res.returncode == 0, res.stderr
    entries = json.loads((tmp_path / "out" / "b" / "batches.json").read_text())["batches"]
    assert [e["requests"] for e in entries] == [10, 10, 2 * N - 20]
    assert fake_api.stats()["batch_creations"] == 3 and fake_api.total == 2 * N
    assert _summary(tmp_path, "b")["score"] == pytest.approx(SCORE)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_protocol_that_asks_in_rounds_sends_one_batch_per_round(fake_api, provider, tmp_path):
    """A later question that depends on an earlier verdict waits for the first batch, then goes
    out in a second one; the Judge (no runner) keeps batches.json where it is told to."""
    import asyncio

    from rmbench.types import Comparison
    from tests.judges.api_helpers import example, judge

    j = judge(fake_api, provider, tmp_path, batch=True, model_args={"batch_poll": 0.05})
    j.run_dir = tmp_path
    lines: list[str] = []
    j.log = lines.append
    exs = [example(i, topic) for i, topic in enumerate(["apples", "pears", "plums"])]

    async def go():
        try:
            first = await asyncio.gather(*(j.compare(ex, Comparison(ex.id, 0, 1)) for ex in exs))
            again = await asyncio.gather(*(j.compare(ex, Comparison(ex.id, jd.winner ^ 1, jd.winner))
                                           for ex, jd in zip(exs, first)))
            return first, again
        finally:
            await j.aclose()

    first, again = asyncio.run(go())
    assert [jd.winner for jd in first] == [0, 0, 0] and [jd.winner for jd in again] == [0, 0, 0]
    entries = json.loads((tmp_path / "batches.json").read_text())["batches"]
    assert [e["requests"] for e in entries] == [3, 3] and all(e["collected"] for e in entries)
    assert fake_api.stats()["batch_creations"] == 2 and fake_api.total == 6
    assert j.stats.requests == 6 and j.stats.batch == {"submitted": 6, "done": 6, "failed": 0}
    assert sum("submitted" in line for line in lines) == 2


def test_unfinished_batches_are_counted_per_judge(tmp_path):
    from rmbench.judges.batching import BATCHES_JSON, unfinished_batches

    mine = {"provider": "openai", "model": "m", "endpoint": "http://127.0.0.1:1/v1"}
    other = {**mine, "model": "other"}
    (tmp_path / BATCHES_JSON).write_text(json.dumps({"version": 1, "batches": [
        {"id": "b1", "judge": mine, "collected": False}, {"id": "b2", "judge": mine, "collected": True},
        {"id": "b3", "judge": other, "collected": False}]}))
    assert unfinished_batches(tmp_path, mine) == 1 and unfinished_batches(tmp_path, other) == 1
    assert unfinished_batches(tmp_path / "nowhere", mine) == 0
    (tmp_path / BATCHES_JSON).write_text("{ torn")
    assert unfinished_batches(tmp_path, mine) == 0


@pytest.mark.parametrize("content", ["[]", '{"batches": [1]}', '"x"', "[" * 100_000 + "]" * 100_000])
def test_a_damaged_batches_json_is_one_line(fake_api, tmp_path, content):
    """batches.json of the wrong shape ended in 'internal error: AttributeError' (rc 1)."""
    res = _batch(fake_api, tmp_path, "openai")
    assert res.returncode == 0, res.stderr
    run_dir = tmp_path / "out" / "b"
    (run_dir / "batches.json").write_text(content)
    lines = (run_dir / "records.jsonl").read_text().splitlines(keepends=True)
    (run_dir / "records.jsonl").write_text("".join(lines[:-1]))   # one example left to judge
    res = _batch(fake_api, tmp_path, "openai", "b", "--quiet", "--no-cache")
    err = res.stderr.strip()
    assert res.returncode == 2 and len(err.splitlines()) == 1 and "batches.json" in err, res.stderr
    assert (run_dir / "batches.json").read_text() == content
