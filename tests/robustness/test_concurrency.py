"""Two runs at once. Same run name and output dir: one holds the directory's lock and the other
stops with one line, before writing anything; whatever the timing, the finished directory is
exactly what a single run writes. (Two API runs sharing one --cache file:
test_crash_resume_api.py.)"""

from __future__ import annotations

import json

import pytest

from rmbench.cli.main import main as cli_main
from rmbench.store.rundir import RunDir
from tests.robustness.util import (
    assert_one_line_error,
    cli_process,
    popen,
    rb_data,
    record_lines,
    run_args,
    run_json,
)

MODEL = "baseline/random"


def test_a_locked_run_directory_is_refused_with_one_line(tmp_path):
    data = rb_data(tmp_path, 24)
    out = tmp_path / "out"
    assert cli_main(run_args(MODEL, data, out, "r", "--limit", "6")) == 0   # a run that later resumes
    before = {p.name: p.read_bytes() for p in (out / "r").iterdir()}
    holder = RunDir(out / "r")
    holder.lock()                                  # what a live run holds for its whole life
    try:  # another process contends for the lock (kept a process: locks between live processes)
        res = cli_process(*run_args(MODEL, data, out, "r", "--limit", "6"))
        assert_one_line_error(res, "another rmbench run is using", "locked")
        res = cli_process(*run_args(MODEL, data, out, "r", "--limit", "6", "--overwrite"))
        assert_one_line_error(res, "locked")        # --overwrite cannot clobber a live run either
    finally:
        holder.close()
    assert {p.name: p.read_bytes() for p in (out / "r").iterdir()} == before
    assert cli_main(run_args(MODEL, data, out, "r", "--limit", "6")) == 0    # free again


@pytest.mark.slow
def test_three_simultaneous_runs_with_one_name_never_interleave(tmp_path):
    data = rb_data(tmp_path, 240)
    out = tmp_path / "out"
    assert cli_main(run_args(MODEL, data, out, "ref")) == 0
    procs = [popen(*run_args(MODEL, data, out, "same")) for _ in range(3)]
    results = [(p.wait(120), p.stderr.read()) for p in procs]
    for code, err in results:
        assert code in (0, 2), err
        if code == 2:   # lost the race for the lock
            assert "another rmbench run is using" in err and len(err.strip().splitlines()) == 1
    assert any(code == 0 for code, _ in results)
    lines, tail = record_lines(out / "same")
    assert tail == b"" and len(lines) == 240 and len({r["id"] for r in lines}) == 240
    for name in ("records.jsonl", "summary.json"):
        assert (out / "same" / name).read_bytes() == (out / "ref" / name).read_bytes()
    info = run_json(out / "same")
    assert info["status"] == "complete"
    # the winners judged every example exactly once between them
    assert json.loads((out / "same" / "summary.json").read_text())["tasks"]["rewardbench"]["n"] == 240
