"""Shared test setup: offline hub, a private cache per test session, and helpers to run the
real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

REPO = Path(__file__).resolve().parents[1]
# the shared/ folder beside the checkout (RMBENCH_SHARED_DATA points elsewhere, e.g. from a worktree)
SHARED_DATA = Path(os.environ.get("RMBENCH_SHARED_DATA") or REPO.parent / "shared" / "data")


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    d = tmp_path_factory.mktemp("rmbench-cache")
    os.environ["RMBENCH_CACHE_DIR"] = str(d)
    os.environ.setdefault("HF_DATASETS_CACHE", str(tmp_path_factory.mktemp("hf-datasets")))
    yield d


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real benchmark data not found at {SHARED_DATA} (the shared/ folder beside the repo)")
    return SHARED_DATA


def run_cli(*args: str, cwd: str | os.PathLike | None = None, env: dict | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``rmbench ARGS`` in a fresh interpreter, as a user would."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = str(REPO) + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "rmbench.cli.main", *args], cwd=cwd or REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


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
