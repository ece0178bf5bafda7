"""The in-process CLI runner (tests/cli_harness.py): it gives what a fresh ``rmbench`` process
gives, and one call leaves nothing behind for the next."""

from __future__ import annotations

import logging
import os
import random
import sys
import warnings

import pytest

import rmbench.cli.main
from tests.cli_harness import CRASH_ENV, REPO, run_cli, run_cli_process


@pytest.mark.parametrize("argv", [
    ["--version"],
    ["tasks"],
    ["run", "--model", "baseline/longest", "--task", "nope"],              # one-line error, exit 2
    ["--debug", "run", "--model", "baseline/longest", "--task", "nope"],   # a traceback, exit 1
    ["run", "--task", "rewardbench"],                                      # argparse: usage, exit 2
    [],                                                                    # help, exit 2
])
def test_in_process_matches_a_fresh_process(argv):
    here, there = run_cli(*argv), run_cli_process(*argv)
    assert here.returncode == there.returncode
    assert here.stdout == there.stdout
    if "--debug" in argv:  # the same exception ends both; frames differ (runpy vs this test)
        assert here.stderr.splitlines()[0] == there.stderr.splitlines()[0] == "Traceback (most recent call last):"
        assert here.stderr.splitlines()[-1] == there.stderr.splitlines()[-1]
    else:
        assert here.stderr == there.stderr


def test_a_call_leaves_no_state_behind(monkeypatch, tmp_path):
    import importlib

    ds_logging = importlib.import_module("datasets.utils.logging")
    ds_tqdm = importlib.import_module("datasets.utils.tqdm")  # the module (datasets.utils.tqdm is also a class)

    monkeypatch.setenv("RMBENCH_KEEP", "kept")
    monkeypatch.setenv("RMBENCH_DROP", "present")
    seen = {}

    def fake_main(argv):
        seen.update(argv=list(argv), sys_argv=list(sys.argv), cwd=os.getcwd(), env=dict(os.environ),
                    tty=sys.stderr.isatty())
        os.environ["RMBENCH_LEAK"] = "1"
        os.environ["RMBENCH_KEEP"] = "changed"
        os.chdir(tmp_path / "elsewhere")
        sys.argv.append("--leak")
        logging.getLogger("datasets").setLevel(logging.CRITICAL)
        logging.getLogger("rmbench.harness.new").addHandler(logging.StreamHandler())  # bound to the capture
        ds_tqdm.disable_progress_bars()
        ds_logging.set_verbosity(logging.ERROR)
        warnings.warn("shown like a fresh interpreter shows it", UserWarning, stacklevel=1)
        random.seed(99)
        print("out: ünïcode")
        print("err line\r\nnext", file=sys.stderr)
        return 3

    (tmp_path / "elsewhere").mkdir()
    monkeypatch.setattr(rmbench.cli.main, "main", fake_main)
    level_before = logging.getLogger("datasets").level
    bars_before, verbosity_before = ds_tqdm.are_progress_bars_disabled(), ds_logging.get_verbosity()
    cwd, argv, rng = os.getcwd(), list(sys.argv), random.getstate()

    res = run_cli("a", "b", env={"RMBENCH_SET": "yes", "RMBENCH_DROP": None}, cwd=tmp_path)

    assert res.returncode == 3 and res.stdout == "out: ünïcode\n"
    assert res.stderr.endswith("\nerr line\nnext\n")                  # universal newlines, as text=True
    assert "UserWarning: shown like a fresh interpreter shows it" in res.stderr
    assert seen["argv"] == ["a", "b"] and seen["sys_argv"][1:] == ["a", "b"]
    assert seen["sys_argv"][0].endswith(os.path.join("rmbench", "cli", "main.py"))
    assert seen["cwd"] == str(tmp_path) and seen["tty"] is False
    assert seen["env"]["RMBENCH_SET"] == "yes" and "RMBENCH_DROP" not in seen["env"]
    # all put back
    assert os.environ["RMBENCH_KEEP"] == "kept" and os.environ["RMBENCH_DROP"] == "present"
    assert "RMBENCH_SET" not in os.environ and "RMBENCH_LEAK" not in os.environ
    assert os.getcwd() == cwd and sys.argv == argv and random.getstate() == rng
    assert logging.getLogger("datasets").level == level_before
    assert ds_tqdm.are_progress_bars_disabled() == bars_before and ds_logging.get_verbosity() == verbosity_before
    handler = logging.getLogger("rmbench.harness.new").handlers[0]
    assert handler.stream is sys.stderr                                # no longer the finished capture
    logging.getLogger("rmbench.harness.new").removeHandler(handler)


def test_loggers_below_a_restored_level_forget_what_they_decided_in_the_call(monkeypatch):
    """Levels are put back as attributes (setLevel would clear every logger's cache, once per
    logger); the cache is then cleared once, so a child logger does not keep the answer it
    cached under the call's level."""
    parent, child = logging.getLogger("rmbench.harness.quiet"), logging.getLogger("rmbench.harness.quiet.child")
    parent.setLevel(logging.DEBUG)
    seen = {}

    def fake_main(argv):
        parent.setLevel(logging.CRITICAL)
        seen["warns"] = child.isEnabledFor(logging.WARNING)   # cached by the child
        return 0

    monkeypatch.setattr(rmbench.cli.main, "main", fake_main)
    try:
        assert run_cli().returncode == 0 and seen["warns"] is False
        assert parent.level == logging.DEBUG and child.isEnabledFor(logging.WARNING)
    finally:
        parent.setLevel(logging.NOTSET)


def test_default_cwd_is_the_repository(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(rmbench.cli.main, "main", lambda argv: print(os.getcwd()) or 0)
    assert run_cli().stdout.strip() == str(REPO)


def test_what_only_a_process_can_do_is_refused():
    with pytest.raises(RuntimeError, match="run_cli_process"):
        run_cli("run", env={CRASH_ENV: "records:1"})
    with pytest.raises(RuntimeError, match="run_cli_process"):
        run_cli("run", env={"PYTHONPATH": "/nowhere"})
