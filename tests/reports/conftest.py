"""Fixtures shared by the report tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import run_cli


@dataclass(frozen=True)
class Demo:
    root: Path      # the demo's output folder: one run directory per baseline judge
    stdout: str     # what `rmbench demo` printed

    def run(self, model: str) -> Path:
        return self.root / f"demo--{model.replace('/', '__')}"


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> Demo:
    """`rmbench demo` run once per session: three baseline judges on every task's demo sample
    (real runs: real data, real scorers and intervals), and what it printed."""
    root = tmp_path_factory.mktemp("demo") / "results"
    res = run_cli("demo", "--output-dir", str(root))
    assert res.returncode == 0, res.stderr
    return Demo(root, res.stdout)
