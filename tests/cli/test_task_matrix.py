"""Every task with a demo, judged by a generative API judge in the settings that exercise the most
machinery (several samples: votes curves; the official protocol: listwise RewardBench 2, per-task
failure values; a rating prompt): the dry run counts exactly the requests the run then sends, the
run completes, and rescoring its records reproduces its summary."""

from __future__ import annotations

import itertools
import json

import pytest

from rmbench.resources import demo_dir
from rmbench.tasks import all_specs
from tests.helpers import run_cli

TASKS = {s.name: s.demo for s in all_specs() if s.demo}
VARIANTS = [("--samples", "2"), ("--protocol", "official", "--samples", "2"), ("--prompt", "rating")]


@pytest.mark.parametrize("task,extra", list(itertools.product(TASKS, VARIANTS)),
                         ids=[f"{t}:{'_'.join(v)}" for t, v in itertools.product(TASKS, VARIANTS)])
def test_dry_run_run_and_rescore_agree(fake_api, tmp_path, task, extra):
    args = ["run", "--model", "openai/fake-judge", "--base-url", fake_api.openai_base_url, "--task", task,
            "--data-path", str(demo_dir() / TASKS[task]), "--output-dir", str(tmp_path / "out"), "--run-name", "r",
            "--quiet", "--no-cache", *extra]
    res = run_cli(*args, "--dry-run", "--format", "json")
    assert res.returncode == 0, res.stderr[-500:]
    dry = json.loads(res.stdout)
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr[-500:]
    assert dry["requests"] == fake_api.total > 0
    summary = (tmp_path / "out" / "r" / "summary.json").read_bytes()
    assert b"diagnostics could not be computed" not in summary
    assert run_cli("rescore", str(tmp_path / "out" / "r")).returncode == 0
    assert (tmp_path / "out" / "r" / "summary.json").read_bytes() == summary
