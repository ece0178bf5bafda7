"""Several replicas of one served judge: ``--base-url URL1,URL2,...`` (rmbench/judges/endpoints.py),
against fake OpenAI servers on 127.0.0.1 through the official SDK and the real CLI (in-process).
The fake judge prefers the longer response, so every run here scores the same."""

from __future__ import annotations

import asyncio
import collections
import json
import threading
import time
from pathlib import Path

import pytest

from rmbench.config import GenConfig, RunConfig
from rmbench.judges import build_provider
from rmbench.judges.base import GenRequest
from tests import rb_fixture
from tests.helpers import run_cli, write_json
from tests.servers.fake_api import TEST_KEY, FakeAPI


@pytest.fixture
def servers(monkeypatch):
    """Three fake OpenAI servers of their own (one may be killed), each answering after 10 ms."""
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    started = [FakeAPI(api_key=TEST_KEY, latency=0.01).start() for _ in range(3)]
    yield started
    for s in started:
        s.stop()


def _data(tmp_path: Path, n: int) -> Path:
    rows = [rb_fixture.row(i, *rb_fixture.PLAN[i % len(rb_fixture.PLAN)]) for i in range(n)]
    return write_json(tmp_path / f"rb{n}.json", rows)


def _run(tmp_path: Path, base_url: str, data: Path, name: str = "r", *extra: str):
    return run_cli("run", "--model", "openai/fake-judge", "--base-url", base_url, "--task", "rewardbench",
                   "--data-path", str(data), "--output-dir", str(tmp_path / "out"), "--run-name", name,
                   "--cache", str(tmp_path / "cache.sqlite"), "--timeout", "10", "--quiet", *extra)


def _run_json(tmp_path: Path, name: str = "r") -> dict:
    return json.loads((tmp_path / "out" / name / "run.json").read_text())


def _urls(servers) -> str:
    return ",".join(s.openai_base_url for s in servers)


def test_three_replicas_one_killed_mid_run(servers, tmp_path):
    """The run completes; what was answered is never asked again (only requests the dead replica
    never answered go elsewhere); the healthy replicas share the work within 20% of each other."""
    n = 90
    data = _data(tmp_path, n)
    victim, healthy = servers[1], [servers[0], servers[2]]

    seen_at_kill = []

    def kill_after(total: int) -> None:   # once a third of the work is done, with requests under way
        deadline = time.monotonic() + 60
        while (sum(s.total for s in servers) < total or not victim.in_flight) and time.monotonic() < deadline:
            time.sleep(0.001)
        seen_at_kill.append(sum(s.total for s in servers))
        victim.kill()

    killer = threading.Thread(target=kill_after, args=(2 * n // 3,), daemon=True)
    killer.start()
    res = _run(tmp_path, _urls(servers), data, "r", "--concurrency", "6")
    killer.join()
    assert res.returncode == 0, res.stderr

    summary = json.loads((tmp_path / "out" / "r" / "summary.json").read_text())["tasks"]["rewardbench"]
    assert summary["n"] == n and summary["judging"]["failures"] == {}
    stats = _run_json(tmp_path)["stats"]["endpoints"]
    assert [e["endpoint"] for e in stats] == [s.openai_base_url for s in servers]
    by_url = {e["endpoint"]: e for e in stats}
    dead, alive = by_url[victim.openai_base_url], [by_url[s.openai_base_url] for s in healthy]
    # each of the 2n comparisons was answered exactly once, by some replica
    assert sum(e["ok"] for e in stats) == 2 * n
    assert 0 < dead["ok"] < victim.total and dead["connection_errors"] >= 1
    assert dead["taken_out"] == 1 and not dead["in_rotation"]
    # what a healthy replica answered was never asked anywhere again, and what the dead one
    # received but never answered was asked again exactly once
    healthy_counts = collections.Counter(r["hash"] for s in healthy for r in s.requests())
    assert max(healthy_counts.values()) == 1
    victim_hashes = [r["hash"] for r in victim.requests()]
    assert len(set(victim_hashes)) == len(victim_hashes)
    asked_again = set(victim_hashes) & set(healthy_counts)
    assert len(asked_again) == victim.total - dead["ok"]
    assert sum(s.total for s in servers) == 2 * n + len(asked_again)
    # least outstanding requests: the healthy replicas within 20% of their mean
    counts = [e["ok"] for e in alive]
    mean = sum(counts) / 2
    assert all(abs(c - mean) <= 0.2 * mean for c in counts), counts
    assert victim.total >= 0.25 * seen_at_kill[0]   # it had about its third while it lived
    # run again: everything is recorded, nothing is asked
    before = [s.total for s in healthy]
    res = _run(tmp_path, _urls(servers), data, "r", "--concurrency", "6")
    assert res.returncode == 0, res.stderr
    assert [s.total for s in healthy] == before


def test_a_slow_replica_gets_fewer_requests(servers, tmp_path):
    servers[0].latency = 0.15
    data = _data(tmp_path, 20)
    res = _run(tmp_path, _urls(servers[:2]), data, "r", "--concurrency", "4")
    assert res.returncode == 0, res.stderr
    slow, fast = _run_json(tmp_path)["stats"]["endpoints"]
    assert slow["ok"] + fast["ok"] == 40 and fast["ok"] >= 3 * slow["ok"], (slow, fast)
    assert slow["latency_seconds"]["p50"] > fast["latency_seconds"]["p50"]


def test_a_replica_is_taken_out_and_put_back_when_it_answers(servers, tmp_path):
    a, b = servers[0], servers[1]
    port = b.port
    b.kill()
    config = RunConfig(model="openai/fake-judge", tasks=["t"], base_url=f"{a.openai_base_url},{b.openai_base_url}",
                       timeout=10)
    config.validate()
    provider = build_provider(config)
    now = [0.0]
    provider._replicas.clock = lambda: now[0]

    def req(i: int) -> GenRequest:
        return GenRequest(messages=({"role": "user", "content": f"question {i}"},), gen=GenConfig())

    async def ask(first: int, last: int) -> list[str]:
        return [(await provider.agenerate(req(i))).text for i in range(first, last)]

    async def go():
        try:
            assert len(await ask(0, 4)) == 4          # b refuses: failover to a, b taken out
            stats = {e["index"]: e for e in provider._replicas.stats()}
            assert stats[1]["connection_errors"] == 1 and not stats[1]["in_rotation"]
            assert a.total == 4 and b.total == 0
            FakeAPI.start(b, port=port)               # b is back on its port
            assert len(await ask(4, 5)) == 1          # still inside its backoff: a answers
            assert a.total == 5 and b.total == 0
            now[0] = 1.0                              # the backoff is over: the next request probes b
            assert len(await ask(5, 6)) == 1
            assert b.total == 1
            assert len(await ask(6, 12)) == 6         # and b shares the work again
        finally:
            await provider.aclose()

    asyncio.run(go())
    # after the probe, b (2 requests so far against a's 5) gets the next ones until it has had as
    # many as a, then the two alternate: b answers 6, 7, 8 and 10, a 9 and 11
    stats = {e["index"]: e for e in provider._replicas.stats()}
    assert stats[1] | {"latency_seconds": None} == {
        "endpoint": b.openai_base_url, "index": 1, "requests": 6, "ok": 5, "errors": 0, "connection_errors": 1,
        "cancelled": 0, "taken_out": 1, "put_back": 1, "in_rotation": True, "models": {"fake-judge": 5},
        "latency_seconds": None}
    assert a.total == 7 and b.total == 5


def test_replicas_that_answer_as_different_models_stop_the_run(servers, tmp_path):
    """Two models behind one judge would mix their verdicts in one run, silently: the first
    answer under another model name than the first answer's stops the run (exit 2, one line
    naming both replicas). No such answer is recorded or cached, and a rerun with the list put
    right resumes."""
    import sqlite3

    a, b = servers[0], servers[1]
    b.served_model = "another-judge"
    a.latency, b.latency = 0.05, 0.5   # a answers first (well before): its name is the run's
    data = _data(tmp_path, 40)
    res = _run(tmp_path, f"{a.openai_base_url},{b.openai_base_url}", data, "r", "--concurrency", "2")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "--base-url replicas serve different models" in lines[0], res.stderr
    assert f"{a.openai_base_url} answered as 'fake-judge', {b.openai_base_url} as 'another-judge'" in lines[0]
    info = _run_json(tmp_path)
    assert info["status"] == "stopped" and "different models" in info["reason"]
    assert info["served_model"] == "fake-judge"
    rec_path = tmp_path / "out" / "r" / "records.jsonl"
    recorded = [json.loads(ln) for ln in rec_path.read_text().splitlines()] if rec_path.exists() else []
    assert len(recorded) < 40
    with sqlite3.connect(tmp_path / "cache.sqlite") as db:
        cached = db.execute("SELECT COUNT(*) FROM outputs").fetchone()[0]
    assert cached <= a.total   # only a's answers
    # the same list again, b now the quicker: the rerun holds to the model the records came from
    a.latency, b.latency = 2.0, 0.01
    res = _run(tmp_path, f"{a.openai_base_url},{b.openai_base_url}", data, "r", "--concurrency", "2")
    assert res.returncode == 2 and "the run's earlier answers came from 'fake-judge'" in res.stderr, res.stderr
    again = [json.loads(ln) for ln in rec_path.read_text().splitlines()] if rec_path.exists() else []
    assert len(again) >= len(recorded)
    with sqlite3.connect(tmp_path / "cache.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM outputs").fetchone()[0] <= a.total   # still only a's answers
    a.latency = 0.0
    # the list put right: the run resumes and asks only what was never answered by a
    with sqlite3.connect(tmp_path / "cache.sqlite") as db:
        cached = db.execute("SELECT COUNT(*) FROM outputs").fetchone()[0]
    before = a.total
    res = _run(tmp_path, a.openai_base_url, data, "r")
    assert res.returncode == 0, res.stderr
    assert a.total - before == 80 - cached
    assert _run_json(tmp_path)["status"] == "complete"
    assert json.loads((tmp_path / "out" / "r" / "summary.json").read_text())["tasks"]["rewardbench"]["n"] == 40


def test_one_replica_whose_model_changes_mid_run_stops_it_too():
    from rmbench.judges.endpoints import Endpoints

    eps = Endpoints(["http://127.0.0.1:9/v1"], lambda url: (None, url), OSError,
                    served_model=lambda answer: answer.get("model"))

    async def answer(model):
        return await eps.call(lambda client, url: asyncio.sleep(0, {"model": model}))

    assert asyncio.run(answer("m1")) == {"model": "m1"}
    assert asyncio.run(answer(None)) == {"model": None}   # no name given: nothing to compare
    from rmbench.errors import UserError

    with pytest.raises(UserError, match=r"127.0.0.1:9/v1 answered as 'm1', then as 'm2'"):
        asyncio.run(answer("m2"))
    stats = eps.stats()
    assert sum(e["models"].get("m1", 0) for e in stats) == 1 and not any("m2" in e["models"] for e in stats)


def test_one_url_is_unchanged_and_replicas_share_the_cache(servers, tmp_path):
    data = _data(tmp_path, 12)
    a = servers[0]
    assert _run(tmp_path, a.openai_base_url, data, "one").returncode == 0
    assert a.total == 24
    one = _run_json(tmp_path, "one")
    assert "endpoints" not in one["stats"] and one["config"]["base_url"] == a.openai_base_url
    # the same judge on three replicas (listed in a file): the first names them, so every
    # answer comes from the cache and the run has the same identity and summary
    listing = tmp_path / "replicas.txt"
    listing.write_text(f"# replicas of fake-judge\n{a.openai_base_url}\n\n{servers[1].openai_base_url}\n"
                       f"{servers[2].openai_base_url}\n")
    res = _run(tmp_path, f"@{listing}", data, "three")
    assert res.returncode == 0, res.stderr
    assert sum(s.total for s in servers) == 24
    three = _run_json(tmp_path, "three")
    assert three["config"]["base_url"] == _urls(servers)
    assert three["identity_hash"] == one["identity_hash"] and three["judge"] == one["judge"]
    assert (tmp_path / "out" / "three" / "summary.json").read_bytes() == \
        (tmp_path / "out" / "one" / "summary.json").read_bytes()
    assert [e["requests"] for e in three["stats"]["endpoints"]] == [0, 0, 0]


def test_endpoint_urls_never_show_their_credentials(servers, tmp_path):
    secret = "s3cr3t-replica-pass"
    urls = f"http://user:{secret}@127.0.0.1:9/v1,http://127.0.0.1:{servers[0].port}/v1?api_key={secret}"
    config = RunConfig(model="openai/fake-judge", tasks=["t"], base_url=urls)
    config.validate()
    provider = build_provider(config)
    from rmbench.redaction import redact

    shown = json.dumps([provider.describe(), provider.cache_identity(), provider.scale_stats(),
                        redact(config.identity())["base_url"], redact(config.to_json())["base_url"]])
    assert secret not in shown
    assert [e["endpoint"] for e in provider.scale_stats()["endpoints"]] == \
        ["http://127.0.0.1:9/v1", f"http://127.0.0.1:{servers[0].port}/v1"]
    assert redact(config.to_json())["base_url"] == \
        f"http://<redacted>@127.0.0.1:9/v1,http://127.0.0.1:{servers[0].port}/v1?api_key=<redacted>"


@pytest.mark.parametrize("base_url, message", [
    ("{a},{a}", "lists http://127.0.0.1:{port}/v1 twice"),
    ("{a},ftp://x/v1", "'ftp://x/v1' is not an http(s) URL"),
    ("@{missing}", "cannot read the endpoint list"),
    ("@{empty}", "the file lists no URL"),
])
def test_bad_endpoint_lists_are_one_line_errors(servers, tmp_path, base_url, message):
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    fmt = {"a": servers[0].openai_base_url, "port": servers[0].port, "missing": tmp_path / "nope.txt",
           "empty": tmp_path / "empty.txt"}
    res = _run(tmp_path, base_url.format(**fmt), _data(tmp_path, 2))
    assert res.returncode == 2 and message.format(**fmt) in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_batch_api_takes_one_endpoint(servers, tmp_path):
    res = _run(tmp_path, _urls(servers[:2]), _data(tmp_path, 2), "r", "--batch")
    assert res.returncode == 2 and "--batch" in res.stderr and "one --base-url" in res.stderr


def test_anthropic_spreads_over_replicas_too(servers, tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", TEST_KEY)
    urls = ",".join(s.anthropic_base_url for s in servers[:2])
    res = run_cli("run", "--model", "anthropic/fake-judge", "--base-url", urls, "--task", "rewardbench",
                  "--data-path", str(_data(tmp_path, 12)), "--output-dir", str(tmp_path / "out"), "--run-name", "r",
                  "--cache", str(tmp_path / "cache.sqlite"), "--quiet", "--concurrency", "4")
    assert res.returncode == 0, res.stderr
    stats = _run_json(tmp_path)["stats"]["endpoints"]
    assert [e["ok"] for e in stats] == [s.count(path="/v1/messages") for s in servers[:2]]
    assert sum(e["ok"] for e in stats) == 24 and min(e["ok"] for e in stats) >= 8
