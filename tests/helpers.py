"""Import helpers for tests: ``from tests.helpers import run_cli`` works from any test file."""

from tests.conftest import REPO, SHARED_DATA, run_cli, run_cli_process, write_json, write_jsonl  # noqa: F401
