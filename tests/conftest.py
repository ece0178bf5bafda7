"""Shared test setup: offline hub, a private cache per test session, and helpers to run the
real CLI (in-process by default, see tests/cli_harness.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import tests.hypothesis_profiles  # noqa: F401  (registers and loads the HYPOTHESIS_PROFILE profile)
from tests.cli_harness import run_cli, run_cli_process  # noqa: F401  (tests import them from here)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

REPO = Path(__file__).resolve().parents[1]
# the real RM-Bench / RMB files: ../shared/data beside the repository, or RMBENCH_TEST_DATA (a git
# worktree elsewhere points it at the shared folder; RMBENCH_SHARED_DATA is read too)
SHARED_DATA = Path(os.environ.get("RMBENCH_TEST_DATA") or os.environ.get("RMBENCH_SHARED_DATA")
                   or REPO.parent / "shared" / "data")


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    d = tmp_path_factory.mktemp("rmbench-cache")
    os.environ["RMBENCH_CACHE_DIR"] = str(d)
    os.environ.setdefault("HF_DATASETS_CACHE", str(tmp_path_factory.mktemp("hf-datasets")))
    yield d


@pytest.fixture
def fake_clock(monkeypatch):
    """Every Judge built during the test (directly or by an in-process CLI run) waits between
    retries on a fake clock that records each wait and returns at once (tests/fake_clock.py)."""
    from rmbench.judges.engine import Judge
    from tests.fake_clock import FakeClock

    clock = FakeClock()
    monkeypatch.setattr(Judge, "clock", clock)
    return clock


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real benchmark data not found at {SHARED_DATA} (the shared/ folder beside the repo, "
                    "or set RMBENCH_TEST_DATA)")
    return SHARED_DATA


def write_json(path: Path, rows) -> Path:
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return path


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


# -- the fake OpenAI/Anthropic server (tests/servers/fake_api.py) ------------------------------
@pytest.fixture(scope="session")
def fake_api_server():
    """One fake API server on 127.0.0.1 for the whole session (see ``fake_api``)."""
    from tests.servers.fake_api import TEST_KEY, FakeAPI

    server = FakeAPI(api_key=TEST_KEY).start()
    yield server
    server.stop()


@pytest.fixture
def fake_api(fake_api_server, monkeypatch):
    """The fake API server, reset (no scripts, no log, no latency), with OPENAI_API_KEY and
    ANTHROPIC_API_KEY set to the key it expects and no base-URL variables set."""
    from tests.servers.fake_api import TEST_KEY

    fake_api_server.reset()
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.setenv(var, TEST_KEY)
    for var in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    yield fake_api_server
    fake_api_server.reset()


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """The tiny random models of tests/judges/tiny_models.py, built once per session."""
    pytest.importorskip("transformers")
    import transformers

    from tests.judges.tiny_models import tiny_models_at

    transformers.utils.logging.disable_progress_bar()
    return tiny_models_at(tmp_path_factory.getbasetemp() / "tiny-models")


# -- the order of the run under pytest-xdist -------------------------------------------------------
# Modules whose fixtures are expensive to set up (a real model loaded, a server or a Ray instance
# started), with roughly the seconds each takes on the 2-core machine (bench/RESULTS.md). Under
# ``--dist worksteal`` every worker is handed one contiguous chunk of the collection, and a worker
# that runs out takes the *end* of another's chunk. Left where collection puts them, these modules
# were often cut in two by a steal, and a module split between two workers sets its fixtures up
# twice (8 s more for the GGUF through transformers, 4 s for a Ray instance): the suite took
# 2:31-2:35 or 2:50 by chance. Placed at the head of the chunks, each runs whole on one worker.
# The modules of one group start processes of their own (engines, servers, Ray actors); run side by
# side on 2 cores they oversubscribe them (tried: 2:56), so a group runs on one worker, one module
# after another, unless there are more workers than groups.
HEAVY_MODULES = {
    "tests/judges/test_ray_engine.py": 60,
    "tests/judges/test_llamacpp.py": 55,
    "tests/judges/test_llamacpp_server.py": 26,
    "tests/reports/test_lmeval.py": 10,
    "tests/scoring/test_rmb_scoring.py": 9,
}
# The last module of a group is the one a steal can still reach at the very end (when the other
# worker has run out of everything else): the llama.cpp server, whose fixture is the cheapest to
# set up again (a server start).
HEAVY_GROUPS = (
    ("tests/judges/test_ray_engine.py", "tests/judges/test_llamacpp.py", "tests/judges/test_llamacpp_server.py"),
    ("tests/reports/test_lmeval.py", "tests/scoring/test_rmb_scoring.py"),
)


def front_loaded(items: list, workers: int, heavy: dict[str, float] = HEAVY_MODULES,
                 groups: tuple[tuple[str, ...], ...] = HEAVY_GROUPS) -> list:
    """``items`` reordered: the heavy modules in units (the groups, or single modules when there are
    more workers than groups), units spread over ``workers`` bins (largest first, each to the
    lightest bin), each bin at the head of the chunk that worker is handed first (the sizes xdist's
    worksteal scheduler uses), every other item after them in collection order."""
    def module(item) -> str:
        return item.nodeid.split("::", 1)[0]

    by_module: dict[str, list] = {}
    for item in items:
        by_module.setdefault(module(item), []).append(item)
    sizes, remaining = [], len(items)
    for k in range(workers):   # what worksteal sends each worker at the start
        sizes.append(remaining // (workers - k))
        remaining -= sizes[-1]
    grouped = {m for g in groups for m in g}
    # a group runs on one worker unless there are more workers than groups, or a group would not
    # fit in a chunk (a run of a few tests: then it would spill into the next worker's chunk)
    fits = all(sum(len(by_module.get(m, ())) for m in g) <= min(sizes) for g in groups)
    units = list(groups) if workers <= len(groups) and fits else [(m,) for g in groups for m in g]
    units += [(m,) for m in heavy if m not in grouped]
    units = [tuple(m for m in u if m in by_module and m in heavy) for u in units]
    bins: list[list] = [[] for _ in range(workers)]
    load = [0.0] * workers
    for unit in sorted((u for u in units if u), key=lambda u: -sum(heavy[m] for m in u)):
        k = min(range(workers), key=lambda i: (load[i], i))
        for m in unit:
            bins[k].extend(by_module[m])
        load[k] += sum(heavy[m] for m in unit)
    placed = {m for u in units for m in u}
    light = [item for item in items if module(item) not in placed]
    out: list = []
    pos = 0
    for k, size in enumerate(sizes):
        take = max(0, size - len(bins[k]))
        out += bins[k] + light[pos:pos + take]
        pos += take
    return out + light[pos:]


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """(pytest-xdist, main process) Tell each worker the scheduler: a worker's own --dist reads "no"."""
    node.workerinput["rmbench_dist"] = node.config.getoption("dist", None)


@pytest.hookimpl(trylast=True)   # after -k, -m and --deselect: the chunks are cut from what runs
def pytest_collection_modifyitems(config, items):
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 0)
    if workers > 1 and getattr(config, "workerinput", {}).get("rmbench_dist") == "worksteal":
        items[:] = front_loaded(items, workers)
