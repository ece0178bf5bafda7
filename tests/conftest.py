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
