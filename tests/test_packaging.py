"""Packaging and startup: the wheel carries tasks/ and prompts/; light commands import no
heavy libraries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig

import pytest

from tests.helpers import REPO, run_cli

HEAVY = ("torch", "vllm", "transformers", "datasets", "pandas", "openai", "anthropic", "ray")


@pytest.mark.parametrize("argv", [["--help"], ["tasks"], ["run", "--help"]])
def test_light_commands_import_no_heavy_library(argv):
    code = ("import sys, io, contextlib\nfrom rmbench.cli.main import main\n"
            "buf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf):\n"
            "    try:\n        main(%r)\n    except SystemExit:\n        pass\n"
            "print(sorted(m for m in %r if m in sys.modules))\n") % (argv, HEAVY)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.slow
def test_wheel_carries_tasks_and_prompts(tmp_path):
    """Build the wheel, install it into a fresh venv, list tasks from another directory."""
    wheel_dir = tmp_path / "wheel"
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                          "-w", str(wheel_dir), str(REPO)], capture_output=True, text=True)
    if res.returncode != 0 and "No module named 'hatchling'" in res.stderr:
        pytest.skip("hatchling is not installed in the test environment")
    assert res.returncode == 0, res.stderr
    wheel = next(wheel_dir.glob("rmbench-*.whl"))
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "rmbench/_resources/tasks/rewardbench.yaml" in names
    assert "rmbench/_resources/prompts/pairwise.j2" in names
    assert "rmbench/demo/rewardbench.json" in names
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    vpy = venv / "bin" / "python"
    site = subprocess.run([str(vpy), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", site, str(wheel)],
                   check=True)
    # dependencies come from the test environment's site-packages (a plain path: its .pth files,
    # including the editable install of this checkout, are not processed)
    with open(os.path.join(site, "deps.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([str(vpy), "-c", "import rmbench, sys; from rmbench.cli.main import main; "
                          "print(rmbench.__file__, file=sys.stderr); sys.exit(main(['tasks', '--format', 'json']))"],
                         capture_output=True, text=True, cwd=elsewhere, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip().startswith(site)
    listed = {t["task"] for t in json.loads(out.stdout)}
    assert {p.stem for p in (REPO / "tasks").glob("*.yaml")} == listed
    demo = subprocess.run([str(vpy), "-m", "rmbench.cli.main", "demo", "--output-dir", str(elsewhere / "res"),
                           "--task", "rewardbench"], capture_output=True, text=True, cwd=elsewhere, env=env)
    assert demo.returncode == 0, demo.stderr


def test_version_flag():
    res = run_cli("--version")
    assert res.returncode == 0 and res.stdout.startswith("rmbench ")
