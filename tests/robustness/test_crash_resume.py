"""Crash and resume with a scalar judge: ``kill -9`` at each stage of a run, then rerun the same
command. The rerun judges only what was not recorded, and its records.jsonl and summary.json are
byte-identical to an uninterrupted run. (API judges: test_crash_resume_api.py.)

The kill is real (SIGKILL, delivered by the process to itself at a named point through the
test-only crash hook, tests/robustness/crash_entry.py)."""

from __future__ import annotations

import json

import pytest

from rmbench.cli.main import main as cli_main
from rmbench.store.rundir import scan_records
from tests.robustness.util import (
    CRASH_ENV,
    cli_process,
    killed_by_sigkill,
    rb_data,
    record_lines,
    run_args,
    run_json,
    write_json,
)

N = 36
MODEL = "baseline/random"  # seeded per (seed, task, id, candidate): a resumed score must match exactly


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return rb_data(tmp_path_factory.mktemp("data"), N)


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    assert cli_main(run_args(MODEL, data, out, "ref", "--seed", "3")) == 0
    d = out / "ref"
    return {"summary": (d / "summary.json").read_bytes(), "records": (d / "records.jsonl").read_bytes(),
            "md": (d / "summary.md").read_bytes()}


def _resume(data, out, name, *extra) -> dict:
    """Rerun the same command in-process; returns run.json."""
    assert cli_main(run_args(MODEL, data, out, name, "--seed", "3", *extra)) == 0
    return run_json(out / name)


def _assert_identical(run_dir, reference):
    assert (run_dir / "summary.json").read_bytes() == reference["summary"]
    assert (run_dir / "summary.md").read_bytes() == reference["md"]
    assert (run_dir / "records.jsonl").read_bytes() == reference["records"]
    assert not list(run_dir.glob("*.tmp")), "a temporary file was left behind"


@pytest.mark.parametrize("point,recorded", [("records:1", 1), ("records:20", 20), ("torn:9", 9),
                                            ("judged", N), ("finalized", N), ("summary", N)])
def test_kill_at_each_stage_then_resume_matches_uninterrupted_run(tmp_path, data, reference, point, recorded, capsys):
    out = tmp_path / "out"
    res = cli_process(*run_args(MODEL, data, out, "r", "--seed", "3"), env={CRASH_ENV: point})
    assert killed_by_sigkill(res), (res.returncode, res.stderr)
    run_dir = out / "r"

    # what a crash leaves: every completed record, whole; never a finished-looking run
    lines, tail = record_lines(run_dir)
    assert len(lines) == recorded
    assert len({r["id"] for r in lines}) == recorded
    assert run_json(run_dir)["status"] == "running"
    if point.startswith("torn"):
        assert tail, "the torn hook should leave half a line"
        with pytest.raises(json.JSONDecodeError):
            json.loads(tail)
        good, bad, torn = scan_records(run_dir / "records.jsonl")   # resume reads past the tail
        assert len(good) == recorded and not bad and torn
    else:
        assert tail == b""
    if point in ("summary",):
        assert (run_dir / "summary.json").read_bytes() == reference["summary"]
    else:
        assert not (run_dir / "summary.json").exists()
        # `rmbench show` refuses an unfinished run with one line, not a half summary
        assert cli_main(["show", str(run_dir)]) == 2
        assert "incomplete" in capsys.readouterr().err

    info = _resume(data, out, "r")
    assert info["status"] == "complete"
    assert info["resumed_records"] == recorded
    assert info["stats"]["judged_now"] == N - recorded      # nothing completed is judged again
    assert info["stats"]["examples"] == N
    _assert_identical(run_dir, reference)


def test_torn_tail_is_cut_off_on_resume(tmp_path, data, reference):
    """A tail torn mid-line is repaired (truncated to the last full line) before new records
    are appended, so the file never holds a corrupt line in the middle."""
    out = tmp_path / "out"
    res = cli_process(*run_args(MODEL, data, out, "r", "--seed", "3"), env={CRASH_ENV: "torn:4"})
    assert killed_by_sigkill(res)
    path = out / "r" / "records.jsonl"
    size_torn = path.stat().st_size
    full = path.read_bytes().rpartition(b"\n")[0] + b"\n"

    from rmbench.store.rundir import RunDir

    rd = RunDir(out / "r")
    rd.identity_hash = run_json(out / "r")["identity_hash"]
    assert len(rd.completed()) == 4          # completed() repairs the file
    assert path.read_bytes() == full and path.stat().st_size < size_torn
    # leftovers of an atomic write interrupted before its rename are ignored and replaced
    (out / "r" / "records.jsonl.tmp").write_text("{garbage")
    (out / "r" / "summary.json.tmp").write_text("{garbage")
    _resume(data, out, "r")
    _assert_identical(out / "r", reference)


def test_repeated_crashes_across_two_tasks_still_converge(tmp_path):
    """Kill, resume, kill again, resume: two tasks in one run, records in canonical order."""
    rb = rb_data(tmp_path, 24)
    prior_rows = [{"prompt": f"q{i}", "chosen": "long " * (1 + i % 3), "rejected": "x" * (i % 5), "id": f"p{i}",
                   "subset": ["anthropic_helpful", "anthropic_hhh", "shp", "summarize"][i % 4]} for i in range(16)]
    prior = write_json(tmp_path / "prior.json", prior_rows)
    paths = f"rewardbench={rb},rewardbench-prior={prior}"
    args = ["run", "--model", "baseline/longest", "--task", "rewardbench,rewardbench-prior", "--data-path", paths,
            "--output-dir", str(tmp_path / "out"), "--quiet"]
    assert cli_main([*args, "--run-name", "ref"]) == 0
    ref = tmp_path / "out" / "ref"

    r1 = cli_process(*args, "--run-name", "r", env={CRASH_ENV: "records:7"})
    r2 = cli_process(*args, "--run-name", "r", env={CRASH_ENV: "torn:11"})   # 11 more, then half a line
    assert killed_by_sigkill(r1) and killed_by_sigkill(r2)
    assert len(record_lines(tmp_path / "out" / "r")[0]) == 18
    assert cli_main([*args, "--run-name", "r"]) == 0
    info = run_json(tmp_path / "out" / "r")
    assert info["resumed_records"] == 18 and info["stats"]["judged_now"] == 40 - 18
    for name in ("summary.json", "records.jsonl"):
        assert (tmp_path / "out" / "r" / name).read_bytes() == (ref / name).read_bytes()
    summary = json.loads((ref / "summary.json").read_text())
    assert set(summary["tasks"]) == {"rewardbench", "rewardbench-prior"}
    assert "score_with_prior" in summary["tasks"]["rewardbench"]


def test_a_killed_sharded_run_resumes(tmp_path, data):
    """A --shard run killed part-way resumes (its settings used to compare unequal with what
    run.json read back, so the rerun was refused as 'different settings (shard)')."""
    out = tmp_path / "out"
    args = run_args(MODEL, data, out, "s", "--seed", "3", "--shard", "1/3")
    assert cli_main(run_args(MODEL, data, out, "ref", "--seed", "3", "--shard", "1/3")) == 0
    res = cli_process(*args, env={CRASH_ENV: "records:4"})
    assert killed_by_sigkill(res)
    assert cli_main(args) == 0
    info = run_json(out / "s")
    assert info["resumed_records"] == 4 and info["stats"]["judged_now"] == N // 3 - 4
    for name in ("summary.json", "records.jsonl"):
        assert (out / "s" / name).read_bytes() == (out / "ref" / name).read_bytes()
