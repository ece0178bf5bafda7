"""The reusable GitHub Action .github/actions/rmbench-gate: its action.yml is a composite action
whose one step runs gate.sh with the inputs passed through the environment, and gate.sh itself
(run here as the step would run it, with GITHUB_STEP_SUMMARY and GITHUB_OUTPUT files) fails on a
significant regression, passes otherwise, and explains setup problems."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO
from tests.reports.runs import flip, rb_records, records_run

ACTION = REPO / ".github" / "actions" / "rmbench-gate"


def test_action_is_composite_and_passes_inputs_through_the_environment():
    spec = yaml.safe_load((ACTION / "action.yml").read_text())
    assert spec["runs"]["using"] == "composite"
    inputs = spec["inputs"]
    assert inputs["candidate"]["required"] is True
    steps = spec["runs"]["steps"]
    runs = [s for s in steps if "run" in s]
    assert [s["run"] for s in runs] == ['bash "$GITHUB_ACTION_PATH/gate.sh"']
    step = runs[0]
    assert step["shell"] == "bash" and step["id"] == "gate"
    # every input reaches the script as an RMBENCH_GATE_* variable, and nothing is pasted into shell code
    used = {re.fullmatch(r"\$\{\{ inputs\.([\w-]+) \}\}", v).group(1): k for k, v in step["env"].items()}
    assert set(used) == set(inputs)
    script = (ACTION / "gate.sh").read_text()
    for name, var in used.items():
        assert var == "RMBENCH_GATE_" + name.upper().replace("-", "_") and var in script
    for output in spec["outputs"].values():
        assert re.fullmatch(r"\$\{\{ steps\.gate\.outputs\.\w+ \}\}", output["value"])
    assert os.access(ACTION / "gate.sh", os.X_OK)


def test_documented_workflow_uses_the_action_with_its_inputs():
    doc = (REPO / "docs" / "ci-gating.md").read_text()
    block = re.search(r"```yaml\n(# \.github/workflows/rmbench-gate\.yml.*?)```", doc, re.S).group(1)
    workflow = yaml.safe_load(block)
    steps = workflow["jobs"]["gate"]["steps"]
    gate = next(s for s in steps if "rmbench-gate" in s.get("uses", ""))
    inputs = yaml.safe_load((ACTION / "action.yml").read_text())["inputs"]
    assert set(gate["with"]) <= set(inputs) and {"candidate", "baseline"} <= set(gate["with"])
    assert all("${{" not in s.get("run", "") for s in steps)  # expressions only through env


@pytest.fixture(scope="module")
def gate_env(tmp_path_factory):
    """Two paired runs (a clear regression), an `rmbench` on PATH that is this checkout, and
    the files GitHub Actions gives a step."""
    root = tmp_path_factory.mktemp("action")
    base = rb_records(0.75, seed=1)
    runs = {"base": records_run(root, "base", "ckpt/100", base),
            "worse": records_run(root, "worse", "ckpt/200", flip(base, 180, 0.0, seed=2))}
    bin_dir = root / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "rmbench"
    shim.write_text(f"#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -m rmbench.cli.main \"$@\"\n")
    shim.chmod(0o755)
    return root, runs, bin_dir


def run_action(gate_env, tmp_path, **inputs) -> tuple[subprocess.CompletedProcess, str, dict]:
    root, runs, bin_dir = gate_env
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    summary.touch()
    outputs.touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RMBENCH_GATE_"))}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", GITHUB_STEP_SUMMARY=str(summary),
               GITHUB_OUTPUT=str(outputs), RUNNER_TEMP=str(tmp_path), RMBENCH_GATE_INSTALL="")
    env.update({"RMBENCH_GATE_" + k.upper(): str(runs.get(v, v)) if isinstance(v, str) else v
                for k, v in inputs.items()})
    res = subprocess.run(["bash", str(ACTION / "gate.sh")], env=env, capture_output=True, text=True, timeout=300)
    outs = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    return res, summary.read_text(), outs


def test_a_regression_fails_the_step_with_the_report_in_the_summary(gate_env, tmp_path):
    res, summary, outs = run_action(gate_env, tmp_path, baseline="base", candidate="worse",
                                    metrics="rewardbench, rewardbench.Chat\nrewardbench.Safety", resamples="500")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "::error title=rmbench gate::a gated metric dropped significantly" in res.stdout
    assert summary.startswith("## rmbench gate: FAIL")
    rows = [ln for ln in summary.splitlines() if ln.startswith("| rewardbench")]
    assert [r.split("|")[1].strip() for r in rows] == ["rewardbench", "rewardbench.Chat", "rewardbench.Safety"]
    assert all("regression" in r for r in rows)
    assert outs["passed"] == "false" and Path(outs["report"]).read_text() == summary.rstrip("\n") + "\n"
    assert '"passed": false' in Path(outs["result"]).read_text()


def test_no_regression_passes(gate_env, tmp_path):
    res, summary, outs = run_action(gate_env, tmp_path, baseline="worse", candidate="base", resamples="500")
    assert res.returncode == 0, res.stdout + res.stderr
    assert summary.startswith("## rmbench gate: PASS") and outs["passed"] == "true"


def test_first_checkpoint_without_a_baseline(gate_env, tmp_path):
    res, summary, outs = run_action(gate_env, tmp_path, baseline=str(tmp_path / "none"), candidate="base",
                                    allow_missing_baseline="true")
    assert res.returncode == 0 and summary.startswith("## rmbench gate: no baseline") and outs["passed"] == "true"
    res, summary, outs = run_action(gate_env, tmp_path, baseline=str(tmp_path / "none"), candidate="base")
    assert res.returncode == 2 and "does not exist" in summary and outs["passed"] == "false"


def test_setup_problems_are_one_clear_failure(gate_env, tmp_path):
    res, summary, _ = run_action(gate_env, tmp_path, baseline="base", candidate="worse", metrics="rewardbench.Nope")
    assert res.returncode == 2 and "could not run" in summary and "not in the baseline" in summary
    res, summary, _ = run_action(gate_env, tmp_path, baseline="base", candidate="worse", allow_missing_baseline="yes")
    assert res.returncode == 2 and "must be true or false" in summary
    # installing from somewhere pip cannot reach (no index here): the step says so
    res, summary, _ = run_action(gate_env, tmp_path, baseline="base", candidate="worse",
                                 install=str(tmp_path / "no-such-package"), python=sys.executable)
    assert res.returncode == 2 and "could not pip-install rmbench" in summary
