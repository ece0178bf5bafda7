"""The progress bar (shown on a terminal, silent otherwise), usage and the --price cost line."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import termios
import threading

import pytest

from rmbench.judges.engine import Stats
from rmbench.runner import progress_postfix
from rmbench.store.cost import cost_line, cost_summary, cost_usd
from tests import rb_fixture
from tests.helpers import run_cli, write_json

N = len(rb_fixture.PLAN)


def _args(fake, tmp_path, name, *extra):
    data = tmp_path / "rb.json"
    if not data.exists():
        write_json(data, rb_fixture.rows())
    return ["run", "--model", "openai/fake-judge", "--base-url", fake.openai_base_url, "--task", "rewardbench",
            "--data-path", str(data), "--output-dir", str(tmp_path / "out"), "--run-name", name,
            "--cache", str(tmp_path / "cache.sqlite"), *extra]


# -- cost arithmetic, by hand ------------------------------------------------------------------
def test_cost_is_tokens_times_the_price_per_million():
    assert cost_usd(1_200_000, 350_000, (2.5, 10.0)) == 6.5            # 1.2 x 2.50 + 0.35 x 10
    assert cost_usd(1_200_000, 350_000, (2.5, 10.0), batch=True) == 3.25
    assert cost_usd(123_457, 6_789, (3.0, 15.0)) == 0.472206           # 0.370371 + 0.101835
    assert cost_usd(0, 0, (3.0, 15.0)) == 0.0
    c = cost_summary({"input_tokens": 123_457, "output_tokens": 6_789, "cached_tokens": 5}, (3.0, 15.0))
    assert c == {"usd": 0.472206, "input_tokens": 123_457, "output_tokens": 6_789,
                 "usd_per_million": {"input": 3.0, "output": 15.0}}
    assert cost_line(c) == ("Cost: $0.4722 for 123,457 input and 6,789 output tokens at $3 / $15 per million")
    assert cost_line(cost_summary({"input_tokens": 40_000_000}, (2.5, 10.0), batch=True)) == (
        "Cost: $50.0000 for 40,000,000 input and 0 output tokens at $2.5 / $10 per million, batch price (0.5 x)")


def test_cost_in_summary_md_json_and_the_cli_output(fake_api, tmp_path):
    res = run_cli(*_args(fake_api, tmp_path, "a", "--price", "2.5,10"))
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "out" / "a" / "summary.json").read_text())
    usage = summary["tasks"]["rewardbench"]["usage"]
    records = [json.loads(line) for line in (tmp_path / "out" / "a" / "records.jsonl").read_text().splitlines()]
    tin = sum(jd["usage"]["input_tokens"] for r in records for p in r["pairs"] for jd in p["judgments"])
    tout = sum(jd["usage"]["output_tokens"] for r in records for p in r["pairs"] for jd in p["judgments"])
    assert (usage["input_tokens"], usage["output_tokens"]) == (tin, tout) and tin > 0 and tout > 0
    usd = round(tin * 2.5 / 1e6 + tout * 10 / 1e6, 6)
    assert summary["cost"]["usd"] == usd and summary["tasks"]["rewardbench"]["cost_usd"] == usd
    md = (tmp_path / "out" / "a" / "summary.md").read_text()
    line = f"Cost: ${usd:.4f} for {tin:,} input and {tout:,} output tokens at $2.5 / $10 per million"
    assert line in md and line in res.stdout  # the CLI prints summary.md
    assert f"Tokens: {tin:,} input" in md
    assert f"cost: ${usd:.4f} for the run's judgments, ${usd:.4f} spent by this invocation" in res.stderr
    run = json.loads((tmp_path / "out" / "a" / "run.json").read_text())
    assert run["cost_usd"] == run["cost_usd_spent"] == usd
    assert run["stats"]["tokens_now"]["input_tokens"] == tin
    # the same run from the cache: the run's cost is the same, nothing is spent, summary.json is
    # byte-identical (latency and spending stay in run.json)
    fake_api.reset()
    res = run_cli(*_args(fake_api, tmp_path, "b", "--price", "2.5,10", "--quiet"))
    assert res.returncode == 0, res.stderr
    assert fake_api.total == 0
    assert (tmp_path / "out" / "b" / "summary.json").read_bytes() == (tmp_path / "out" / "a" / "summary.json").read_bytes()
    assert f"cost: ${usd:.4f} for the run's judgments, $0.0000 spent by this invocation" in res.stderr
    assert "latency" not in (tmp_path / "out" / "b" / "summary.json").read_text()
    # rescore keeps the cost
    from rmbench.runner import rescore

    assert rescore(tmp_path / "out" / "b")["cost"]["usd"] == usd


def test_a_bad_price_is_one_line(tmp_path, fake_api):
    res = run_cli(*_args(fake_api, tmp_path, "a", "--price", "cheap"))
    assert res.returncode == 2 and "--price" in res.stderr and len(res.stderr.strip().splitlines()) == 1


# -- the progress bar ----------------------------------------------------------------------------
def test_postfix_shows_cache_hits_failures_tokens_and_batch_progress():
    s = Stats(cache_hits=7, failures={"api_error": 2, "unparsed": 1})
    assert progress_postfix(s) == {"cached": 7, "failed": 3}
    s.add_usage({"input_tokens": 1_234_567, "output_tokens": 34_000, "cached_tokens": 3})
    s.batch = {"submitted": 290, "done": 120, "failed": 4}
    assert progress_postfix(s) == {"cached": 7, "failed": 3, "tokens": "1.2M in/34.0k out", "batch": "120/290"}


def test_no_progress_bar_when_stderr_is_not_a_terminal(fake_api, tmp_path):
    res = run_cli(*_args(fake_api, tmp_path, "a"))  # not --quiet: stderr is a pipe here
    assert res.returncode == 0, res.stderr
    assert res.stderr.strip().splitlines() == [f"results: {tmp_path / 'out' / 'a'}"]
    assert "\r" not in res.stderr and "judging" not in res.stderr
    assert "# rmbench results" in res.stdout


def _run_on_a_terminal(argv: list[str]) -> tuple[int, str]:
    """Run the CLI (in-process) with stderr on a pseudo-terminal; (exit code, what the terminal
    showed)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))  # a 200-column terminal
    chunks: list[bytes] = []

    def drain():
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # the other side closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    # like a process's stderr: UTF-8, line-buffered text on the terminal (closing it ends drain())
    with open(slave, "w", encoding="utf-8", errors="backslashreplace", buffering=1) as term:
        code = run_cli(*argv, stderr=term).returncode
    reader.join(10)
    os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_progress_bar_on_a_terminal_shows_done_total_cache_failures_and_tokens(fake_api, tmp_path):
    fake_api.latency = 0.2  # long enough for the bar to refresh while judging
    fake_api.script("500", times=None, match="question 0 for")
    code, shown = _run_on_a_terminal(_args(fake_api, tmp_path, "a", "--concurrency", "4", "--max-retries", "0"))
    assert code == 0, shown
    assert "judging" in shown and f"{N}/{N}" in shown
    last = [seg for seg in shown.replace("\n", "\r").split("\r") if "judging" in seg][-1]
    assert "cached=0" in last and "failed=2" in last and " in/" in last and "out" in last, last
    # a rerun from the cache: the bar counts the hits
    fake_api.reset()
    code, shown = _run_on_a_terminal(_args(fake_api, tmp_path, "b"))
    assert code == 0, shown
    last = [seg for seg in shown.replace("\n", "\r").split("\r") if "judging" in seg][-1]
    assert f"cached={2 * N - 2}" in last, last


@pytest.mark.parametrize("quiet", [True, False])
def test_quiet_shows_nothing_even_on_a_terminal(fake_api, tmp_path, quiet):
    code, shown = _run_on_a_terminal(_args(fake_api, tmp_path, "a", *(["--quiet"] if quiet else [])))
    assert code == 0, shown
    assert ("judging" in shown) is (not quiet)
