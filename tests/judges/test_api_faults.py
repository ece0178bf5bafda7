"""API judges under faults: every comparison ends ``ok`` or with the right failure status.

Each test drives the real Judge and the official SDK (openai / anthropic) against the fake
server, which injects the fault; the server's request log shows what was really sent.
"""

from __future__ import annotations

import json

import pytest

from rmbench.judges.engine import RETRY_BASE_ENV, STOP_AFTER_SAME_ERROR
from rmbench.types import API_ERROR, EMPTY, OK, REFUSED, TOO_LONG, TRUNCATED, UNPARSED
from tests import rb_fixture
from tests.helpers import run_cli, write_json
from tests.judges.api_helpers import PROVIDERS, compare, example, judge

RETRYABLE = ["429", "500", "503", "529", "drop", "bad_json"]


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch):
    """Retries here wait 0.02 s before the first retry instead of 0.5 s (same doubling and
    jitter); test_the_backoff_base_is_configurable checks both."""
    monkeypatch.setenv(RETRY_BASE_ENV, "0.02")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_clean_request_gives_the_longer_response(fake_api, provider, tmp_path):
    ex = example()
    jd = compare(judge(fake_api, provider, tmp_path), ex, 1, 0)  # the longer (chosen) one shown second
    assert (jd.status, jd.winner, jd.label) == (OK, 0, "B")
    assert "[[B]]" in jd.raw
    assert jd.usage["input_tokens"] > 0 and jd.usage["output_tokens"] > 0
    assert fake_api.total == 1


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("kind", RETRYABLE)
def test_a_passing_fault_is_retried_and_ends_ok(fake_api, provider, kind, tmp_path):
    fake_api.script(kind, times=1, retry_after=0)
    jd = compare(judge(fake_api, provider, tmp_path), example())
    assert (jd.status, jd.winner) == (OK, 0)
    assert fake_api.total == 2


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("kind", RETRYABLE)
def test_a_lasting_fault_ends_as_api_error_after_the_retries(fake_api, provider, kind, tmp_path):
    fake_api.script(kind, times=None, retry_after=0)
    j = judge(fake_api, provider, tmp_path, max_retries=1)
    jd = compare(j, example())
    assert jd.status == API_ERROR and jd.winner is None
    assert jd.error
    assert fake_api.total == 2  # the first try and one retry
    assert j.stats.retries == 1 and j.stats.failures == {API_ERROR: 1}


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("message,status", [
    ("Invalid value for 'stop': too many sequences", API_ERROR),
    ("This model's maximum context length is 8192 tokens, however you requested 9000", TOO_LONG),
    ("prompt is too long: 210000 tokens > 200000 maximum", TOO_LONG),
])
def test_client_errors_are_not_retried(fake_api, provider, message, status, tmp_path):
    fake_api.script("400", times=None, message=message)
    j = judge(fake_api, provider, tmp_path, max_retries=3)
    jd = compare(j, example())
    assert jd.status == status
    assert jd.error == f"HTTP 400: {message}"
    assert fake_api.total == 1
    assert j.stats.failures == {status: 1}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_stall_past_the_timeout_is_cut_off_and_retried(fake_api, provider, tmp_path):
    fake_api.script("stall", times=1, seconds=10)
    j = judge(fake_api, provider, tmp_path, timeout=0.5)
    jd = compare(j, example())
    assert jd.status == OK
    assert fake_api.total == 2 and j.stats.retries == 1
    fake_api.reset()
    fake_api.script("stall", times=None, seconds=10)
    jd = compare(judge(fake_api, provider, tmp_path / "2", timeout=0.5, max_retries=1), example())
    assert jd.status == API_ERROR and "timed out" in jd.error


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("kind,status", [("empty", EMPTY), ("length", TRUNCATED), ("both", UNPARSED),
                                         ("refusal", REFUSED), ("no_verdict", UNPARSED)])
def test_bad_answers_get_their_own_status(fake_api, provider, kind, status, tmp_path):
    fake_api.script(kind, times=None)
    j = judge(fake_api, provider, tmp_path)
    jd = compare(j, example())
    assert jd.status == status and jd.winner is None and jd.label is None
    assert fake_api.total == 1  # a bad answer is an answer: not retried, and cached
    assert j.stats.failures == {status: 1}


def test_openai_content_filter_is_a_refusal(fake_api, tmp_path):
    fake_api.script("content_filter", times=None)
    assert compare(judge(fake_api, "openai", tmp_path), example()).status == REFUSED


def test_anthropic_turn_without_text_blocks_is_empty(fake_api, tmp_path):
    fake_api.script("empty", times=None, no_blocks=True)
    assert compare(judge(fake_api, "anthropic", tmp_path), example()).status == EMPTY


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_decoy_verdict_inside_think_tags_is_ignored(fake_api, provider, tmp_path):
    fake_api.script("think_tag", times=None)
    jd = compare(judge(fake_api, provider, tmp_path), example(), 1, 0)
    assert "<think>" in jd.raw and "[[A]]" in jd.raw.split("</think>")[0]
    assert (jd.status, jd.label, jd.winner) == (OK, "B", 0)


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("header", [{"retry_after": 1}, {"retry_after_ms": 1500}])
def test_retry_after_is_honoured(fake_api, provider, header, tmp_path, fake_clock):
    fake_api.script("429", times=1, **header)
    jd = compare(judge(fake_api, provider, tmp_path), example())
    assert jd.status == OK
    assert fake_api.total == 2
    wait = header.get("retry_after", header.get("retry_after_ms", 0) / 1000)
    # the Judge waits what the server asked (plus at most 25% jitter), not its own backoff
    # (0.02 s here); the wait is read off the fake clock, so it needs no slack for timing
    assert len(fake_clock.waits) == 1
    assert wait <= fake_clock.waits[0] <= wait * 1.25


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_wrong_key_is_not_retried_and_never_echoed(fake_api, provider, tmp_path, monkeypatch):
    wrong = "sk-wrong-key-0123456789abcdef"
    monkeypatch.setenv("OPENAI_API_KEY" if provider == "openai" else "ANTHROPIC_API_KEY", wrong)
    jd = compare(judge(fake_api, provider, tmp_path, max_retries=3), example())
    assert jd.status == API_ERROR
    assert "HTTP 401" in jd.error and "_API_KEY" in jd.error
    assert wrong not in jd.error and "0123456789abcdef" not in jd.error
    assert fake_api.total == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_faults_hit_only_the_matching_example_and_the_rest_stay_ok(fake_api, provider, tmp_path):
    from tests.judges.api_helpers import evaluate

    fake_api.script("500", times=None, match="pears")
    fake_api.script("length", times=None, match="plums")
    exs = [example(0, "apples"), example(1, "pears"), example(2, "plums"), example(3, "figs", chosen_long=False)]
    outs = evaluate(judge(fake_api, provider, tmp_path, max_retries=1), exs)
    statuses = [sorted({jd.status for js in o.judgments.values() for jd in js}) for o in outs]
    assert statuses == [[OK], [API_ERROR], [TRUNCATED], [OK]]
    assert [o.beats(0, 1) for o in outs] == [1.0, 0.0, 0.0, 0.0]  # failures count as losses by default
    assert outs[1].failures() == {API_ERROR: 2} and outs[2].failures() == {TRUNCATED: 2}


@pytest.mark.parametrize("base", [0.02, 0.6])
def test_the_backoff_base_is_configurable(fake_api, tmp_path, monkeypatch, base, fake_clock):
    monkeypatch.setenv(RETRY_BASE_ENV, str(base))
    fake_api.script("500", times=2)
    jd = compare(judge(fake_api, "openai", tmp_path, max_retries=2), example())
    assert jd.status == OK
    t = [r["t"] for r in fake_api.requests()]
    assert len(t) == 3
    # waits of base and 2 x base, each plus at most 25% jitter (exact: read off the fake clock)
    first, second = fake_clock.waits
    assert base <= first <= base * 1.25
    assert 2 * base <= second <= 2 * base * 1.25


def test_retries_wait_on_the_real_clock(fake_api, tmp_path, monkeypatch):
    """The Judge's own clock really waits: the gaps the server sees between a request and its
    retries are the backoff (base, then 2 x base, each plus at most 25% jitter)."""
    base = 0.05
    monkeypatch.setenv(RETRY_BASE_ENV, str(base))
    fake_api.script("500", times=2)
    jd = compare(judge(fake_api, "openai", tmp_path, max_retries=2), example())
    assert jd.status == OK
    t = [r["t"] for r in fake_api.requests()]
    assert len(t) == 3
    # some slack for the request itself
    assert base <= t[1] - t[0] <= base * 1.25 + 0.25
    assert 2 * base <= t[2] - t[1] <= 2 * base * 1.25 + 0.25


def test_a_bad_backoff_setting_is_one_line(fake_api, tmp_path, monkeypatch):
    monkeypatch.setenv(RETRY_BASE_ENV, "soon")
    res = run_cli("run", "--model", "openai/fake-judge", "--base-url", fake_api.openai_base_url, "--task",
                  "rewardbench", "--data-path", str(write_json(tmp_path / "rb.json", rb_fixture.rows())),
                  "--output-dir", str(tmp_path / "out"))
    assert res.returncode == 2 and RETRY_BASE_ENV in res.stderr and len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("kind", ["401", "404"])
def test_a_streak_of_the_same_auth_or_not_found_error_stops_the_run_and_keeps_what_was_judged(fake_api, tmp_path, kind):
    rows = [rb_fixture.row(i, subset, win) for i, (subset, win) in enumerate(rb_fixture.PLAN * 4)]  # 48 examples
    data = write_json(tmp_path / "rb.json", rows)
    args = ["run", "--model", "openai/fake-judge", "--base-url", fake_api.openai_base_url, "--task", "rewardbench",
            "--data-path", str(data), "--output-dir", str(tmp_path / "out"), "--run-name", "r",
            "--cache", str(tmp_path / "cache.sqlite"), "--concurrency", "1", "--quiet"]
    fake_api.script(kind, times=None, skip=6)  # three examples are judged, then every request fails alike
    res = run_cli(*args)
    assert res.returncode == 2
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in res.stderr
    assert f"stopped: {STOP_AFTER_SAME_ERROR} requests in a row failed" in err[0] and f"HTTP {kind}" in err[0]
    assert fake_api.total == 6 + STOP_AFTER_SAME_ERROR  # nothing was sent after the streak
    records = [json.loads(line) for line in (tmp_path / "out" / "r" / "records.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records if not r["failures"]] == ["0", "1", "2"]
    assert len(records) == 3 + (STOP_AFTER_SAME_ERROR - 2) // 2  # examples whose two requests both failed
    info = json.loads((tmp_path / "out" / "r" / "run.json").read_text())
    assert info["status"] == "stopped" and "requests in a row failed" in info["reason"]
    # fixed: the same command asks again what failed when the run stopped, and what is missing
    fake_api.reset()
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr
    assert "judge again" in res.stderr
    assert fake_api.total == 2 * (48 - 3)
    summary = json.loads((tmp_path / "out" / "r" / "summary.json").read_text())
    assert summary["tasks"]["rewardbench"]["judging"]["failures"] == {}


def test_failures_that_differ_or_are_retryable_do_not_stop_a_run(fake_api, tmp_path):
    from tests.judges.api_helpers import evaluate

    exs = [example(i, f"topic{i}") for i in range(STOP_AFTER_SAME_ERROR)]
    for i in range(len(exs)):  # 40 non-retryable 404s in a row, but no two alike
        fake_api.script("404", times=None, match=f"topic{i}?", message=f"model {i} does not exist")
    outs = evaluate(judge(fake_api, "openai", tmp_path, concurrency=1), exs)
    assert all(o.failures() == {API_ERROR: 2} for o in outs)
    fake_api.reset()
    fake_api.script("500", times=None)  # retryable: never a reason to stop
    outs = evaluate(judge(fake_api, "openai", tmp_path / "2", concurrency=4, max_retries=0), exs)
    assert all(o.failures() == {API_ERROR: 2} for o in outs)
