"""Crash and resume with an API judge (the official openai SDK against the local fake server,
which counts every request it receives), and two API runs at once.

``kill -9`` at each stage; the rerun finishes with the same records.jsonl and summary.json as an
uninterrupted run, never asks again for a judgment that belongs to a recorded example, and
(with the cache) asks again only for requests that were in flight at the moment of the kill."""

from __future__ import annotations

import os
import signal
import time

import pytest

from rmbench.cli.main import main as cli_main
from tests.robustness.api_util import api_args, api_env, api_environ, fake  # noqa: F401
from tests.robustness.util import (
    CRASH_ENV,
    assert_one_line_error,
    cli,
    cli_process,
    killed_by_sigkill,
    popen,
    rb_data,
    rb_rows,
    record_lines,
    run_json,
)

N = 24
REQUESTS = 2 * N            # one pair per example, both presentation orders
PROMPTS = {str(r["id"]): r["prompt"] for r in rb_rows(N)}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return rb_data(tmp_path_factory.mktemp("data"), N)


@pytest.fixture(scope="module")
def reference(fake, data, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("ref")
    fake.reset()
    with api_environ():
        assert cli_main(api_args(fake, data, out, "ref", out / "cache.sqlite")) == 0
    assert fake.total == REQUESTS and fake.stats()["max_per_prompt"] == 1
    return {name: (out / "ref" / name).read_bytes() for name in ("summary.json", "records.jsonl")}


def _same_as_reference(run_dir, reference):
    for name, blob in reference.items():
        assert (run_dir / name).read_bytes() == blob, name


def _without_usage(value):
    if isinstance(value, dict):
        return {k: _without_usage(v) for k, v in value.items() if k != "usage"}
    if isinstance(value, list):
        return [_without_usage(v) for v in value]
    return value


def _same_results(run_dir, reference):
    """Equal up to token usage: a provider may report cached prompt tokens when two runs ask the
    same prompt at once, which is true usage, not a different result."""
    import json

    got = json.loads((run_dir / "summary.json").read_text())
    assert _without_usage(got) == _without_usage(json.loads(reference["summary.json"]))
    recs = [_without_usage(json.loads(x)) for x in (run_dir / "records.jsonl").read_text().splitlines()]
    assert recs == [_without_usage(json.loads(x)) for x in reference["records.jsonl"].splitlines()]


def _asked_again(fake, ids) -> int:  # noqa: F811
    return sum(fake.count(match=PROMPTS[i]) for i in ids)


@pytest.mark.parametrize("point", ["records:5", "torn:9", "judged"])
def test_api_kill_at_each_stage_then_resume(fake, data, reference, tmp_path, point):  # noqa: F811
    out, cache = tmp_path / "out", tmp_path / "cache.sqlite"
    fake.reset()
    res = cli_process(*api_args(fake, data, out, "r", cache), env={**api_env(), CRASH_ENV: point})
    assert killed_by_sigkill(res), (res.returncode, res.stderr[-2000:])
    first = fake.total
    recorded = {r["id"] for r in record_lines(out / "r")[0]}
    fake.reset()
    with api_environ():
        assert cli_main(api_args(fake, data, out, "r", cache)) == 0
    assert _asked_again(fake, recorded) == 0                  # completed work is never asked for again
    # repeats come only from unrecorded examples: requests in flight at the kill, plus answers the
    # cache writer thread had not committed yet (the cache is written off the event loop; see
    # docs/api-judges.md) - never from recorded work
    assert first + fake.total - REQUESTS <= first - len(recorded) * (REQUESTS // N)
    if point in ("judged", "summary"):
        assert fake.total == 0
    info = run_json(out / "r")
    assert info["resumed_records"] == len(recorded) and info["stats"]["judged_now"] == N - len(recorded)
    _same_as_reference(out / "r", reference)


def test_api_kill_without_cache_reasks_exactly_the_unrecorded_examples(fake, data, reference, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    fake.reset()
    res = cli_process(*api_args(fake, data, out, "r", None), env={**api_env(), CRASH_ENV: "records:10"})
    assert killed_by_sigkill(res)
    assert len(record_lines(out / "r")[0]) == 10
    fake.reset()
    with api_environ():
        assert cli_main(api_args(fake, data, out, "r", None)) == 0
    assert fake.total == 2 * (N - 10)
    _same_as_reference(out / "r", reference)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_api_real_sigkill_mid_flight(fake, data, reference, tmp_path, sig):  # noqa: F811
    """An outside ``kill -9`` (or a plain ``kill``: SIGTERM ends the process just as abruptly)
    while requests are in flight (slow server), not at a hook."""
    out, cache = tmp_path / "out", tmp_path / "cache.sqlite"
    fake.reset()
    fake.latency = 0.05
    proc = popen(*api_args(fake, data, out, "r", cache), env=api_env())
    deadline = time.monotonic() + 60
    while fake.total < REQUESTS // 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, sig)
    assert proc.wait(30) == -sig
    first = fake.total
    assert first < REQUESTS, "the run finished before it could be killed"
    recorded = {r["id"] for r in record_lines(out / "r")[0]}
    fake.reset()
    with api_environ():
        assert cli_main(api_args(fake, data, out, "r", cache)) == 0
    assert _asked_again(fake, recorded) == 0
    assert first + fake.total - REQUESTS <= first - len(recorded) * (REQUESTS // N)  # repeats: unrecorded work only
    _same_as_reference(out / "r", reference)


@pytest.mark.slow
def test_second_run_with_the_same_name_is_refused_while_the_first_is_live(fake, data, reference, tmp_path):  # noqa: F811
    out, cache = tmp_path / "out", tmp_path / "cache.sqlite"
    fake.reset()
    fake.latency = 1.0                                         # slow while the second run starts
    first = popen(*api_args(fake, data, out, "r", cache), env=api_env())
    deadline = time.monotonic() + 60
    while fake.total < 1 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)                                       # the first run holds the lock and is judging
    second = cli(*api_args(fake, data, out, "r", cache), env=api_env())  # in-process: the lock is another process's
    fake.latency = 0.0
    assert_one_line_error(second, "another rmbench run is using")
    assert first.wait(120) == 0, first.stderr.read()
    assert fake.total == REQUESTS and fake.stats()["max_per_prompt"] == 1
    _same_as_reference(out / "r", reference)


@pytest.mark.slow
def test_two_runs_sharing_one_cache_file_both_finish_correctly(fake, data, reference, tmp_path):  # noqa: F811
    out, cache = tmp_path / "out", tmp_path / "shared.sqlite"
    fake.reset()
    fake.latency = 0.02
    procs = [popen(*api_args(fake, data, out, name, cache), env=api_env()) for name in ("a", "b")]
    for p in procs:
        assert p.wait(120) == 0, p.stderr.read()
    for name in ("a", "b"):
        _same_results(out / name, reference)
    assert fake.total <= 2 * REQUESTS and fake.stats()["max_per_prompt"] <= 2
    import sqlite3

    db = sqlite3.connect(cache)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT COUNT(*) FROM outputs").fetchone()[0] == REQUESTS
    db.close()
    fake.reset()
    with api_environ():                                        # a third run is served from the shared cache
        assert cli_main(api_args(fake, data, out, "c", cache)) == 0
    assert fake.total == 0
    _same_results(out / "c", reference)


def test_ctrl_c_stops_with_one_line_and_resumes(fake, data, reference, tmp_path):  # noqa: F811
    """SIGINT (Ctrl-C) mid-flight: exit 130 with one line, run.json says 'interrupted', and the
    same command finishes the run."""
    out, cache = tmp_path / "out", tmp_path / "cache.sqlite"
    fake.reset()
    fake.latency = 0.05
    # the second half is much slower (2 s a request), so the run is surely mid-flight when Ctrl-C
    # comes: with 0.05 s a request throughout, a busy machine let it finish before the signal
    fake.script("stall", times=None, seconds=2, skip=REQUESTS // 2)
    proc = popen(*api_args(fake, data, out, "r", cache), env=api_env())
    deadline = time.monotonic() + 60
    while fake.total < REQUESTS // 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 130
    err = proc.stderr.read().strip()
    assert err.splitlines() == ["rmbench: interrupted; everything judged so far is saved, rerun the same command "
                                "to resume"], err
    assert run_json(out / "r")["status"] == "interrupted"
    assert not (out / "r" / "summary.json").exists()
    recorded = {r["id"] for r in record_lines(out / "r")[0]}
    fake.latency = 0.0
    first = fake.total
    fake.reset()
    with api_environ():
        assert cli_main(api_args(fake, data, out, "r", cache)) == 0
    assert _asked_again(fake, recorded) == 0 and first + fake.total - REQUESTS <= first - len(recorded) * (REQUESTS // N)
    _same_as_reference(out / "r", reference)
