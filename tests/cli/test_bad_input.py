"""Every kind of bad input ends in one line naming the problem and exit code 2."""

from __future__ import annotations

import pytest

from tests import rb_fixture
from tests.helpers import run_cli, write_json, write_jsonl


def _check(res, *needles):
    assert res.returncode == 2, (res.returncode, res.stderr)
    err = res.stderr.strip()
    assert "Traceback" not in res.stderr
    assert len(err.splitlines()) == 1, err
    assert err.startswith("rmbench: error: ")
    for n in needles:
        assert n in err, err


@pytest.fixture
def data(tmp_path):
    return write_json(tmp_path / "rb.json", rb_fixture.rows())


def _run(tmp_path, data, *args):
    return run_cli("run", "--output-dir", str(tmp_path / "out"), "--quiet", "--data-path", str(data), *args)


def test_unknown_task(tmp_path, data):
    _check(_run(tmp_path, data, "--model", "baseline/longest", "--task", "rewardbenhc"), "unknown task 'rewardbenhc'",
           "did you mean 'rewardbench'")


def test_unknown_provider(tmp_path, data):
    _check(_run(tmp_path, data, "--model", "basline/longest", "--task", "rewardbench"),
           "unknown model provider 'basline'", "did you mean 'baseline'")


def test_malformed_model_name(tmp_path, data):
    _check(_run(tmp_path, data, "--model", "gpt-4o", "--task", "rewardbench"), "PROVIDER/NAME")


def test_unknown_baseline(tmp_path, data):
    _check(_run(tmp_path, data, "--model", "baseline/tallest", "--task", "rewardbench"), "unknown baseline")


def test_missing_dataset_column(tmp_path):
    rows = [{k: v for k, v in r.items() if k != "rejected"} for r in rb_fixture.rows()]
    bad = write_json(tmp_path / "bad.json", rows)
    _check(_run(tmp_path, bad, "--model", "baseline/longest", "--task", "rewardbench"), "missing column 'rejected'")


def test_wrong_column_type(tmp_path):
    rows = rb_fixture.rows()
    for r in rows:
        r["chosen"] = 5
    bad = write_json(tmp_path / "bad.json", rows)
    _check(_run(tmp_path, bad, "--model", "baseline/longest", "--task", "rewardbench"), "'chosen' must be text")


def test_empty_dataset(tmp_path):
    empty = write_jsonl(tmp_path / "empty.jsonl", [])
    res = _run(tmp_path, empty, "--model", "baseline/longest", "--task", "rewardbench")
    _check(res, "empty.jsonl", "no examples")


def test_missing_data_path(tmp_path):
    _check(_run(tmp_path, tmp_path / "nope.json", "--model", "baseline/longest", "--task", "rewardbench"),
           "no such file")


def test_unreadable_data_file(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_bytes(b"{this is not json\xff\xfe")
    _check(_run(tmp_path, bad, "--model", "baseline/longest", "--task", "rewardbench"), "could not read broken.json")


def test_unsupported_file_type(tmp_path):
    bad = tmp_path / "data.csv"
    bad.write_text("a,b\n")
    _check(_run(tmp_path, bad, "--model", "baseline/longest", "--task", "rewardbench"), "unsupported file type")


def test_unwritable_output_dir(tmp_path, data):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    res = run_cli("run", "--model", "baseline/longest", "--task", "rewardbench", "--data-path", str(data),
                  "--output-dir", str(blocker / "sub"), "--quiet")
    _check(res, "cannot create output directory")


def test_run_name_cannot_escape_output_root(tmp_path, data):
    for name in ("../escape", "/tmp/abs", "a/../../b"):
        _check(_run(tmp_path, data, "--model", "baseline/longest", "--task", "rewardbench", "--run-name", name),
               "--run-name")
    assert not (tmp_path / "escape").exists()


def test_bad_options(tmp_path, data):
    base = ("--model", "baseline/longest", "--task", "rewardbench")
    _check(_run(tmp_path, data, *base, "--orders", "sideways"), "--orders")
    _check(_run(tmp_path, data, *base, "--shard", "3"), "--shard")
    _check(_run(tmp_path, data, *base, "--model-args", "oops"), "key=value")
    _check(_run(tmp_path, data, *base, "--gen", "temprature=0"), "unknown --gen setting")


def test_debug_shows_the_traceback(tmp_path, data):
    res = run_cli("--debug", "run", "--model", "baseline/longest", "--task", "nope", "--data-path", str(data),
                  "--output-dir", str(tmp_path / "out"))
    assert res.returncode != 0 and "Traceback" in res.stderr


def test_task_args_are_checked_against_the_task(tmp_path, data):
    base = ("--model", "baseline/longest", "--task", "rewardbench")
    _check(_run(tmp_path, data, *base, "--task-args", "averge=macro"), "has no option 'averge'")
    _check(_run(tmp_path, data, *base, "--task-args", "sections=foo"), "cannot be set from the command line")
    _check(_run(tmp_path, data, *base, "--rmb-average", "macro"), "has no option 'average'")


def test_numeric_limits_are_checked(tmp_path, data):
    base = ("--model", "baseline/longest", "--task", "rewardbench")
    _check(_run(tmp_path, data, *base, "--timeout", "0"), "--timeout")
    _check(_run(tmp_path, data, *base, "--max-retries", "-1"), "--max-retries")
    _check(_run(tmp_path, data, *base, "--max-length", "-5"), "--max-length")


def test_rescore_refuses_an_unfinished_or_broken_run(tmp_path, data):
    import json

    res = _run(tmp_path, data, "--model", "baseline/longest", "--task", "rewardbench", "--run-name", "r")
    assert res.returncode == 0, res.stderr
    run_dir = tmp_path / "out" / "r"
    info = json.loads((run_dir / "run.json").read_text())
    info["status"] = "interrupted"
    (run_dir / "run.json").write_text(json.dumps(info))
    _check(run_cli("rescore", str(run_dir)), "not complete")
    (run_dir / "run.json").write_text("{broken")
    _check(run_cli("rescore", str(run_dir)), "run.json is not valid JSON")


def test_show_refuses_a_summary_of_the_wrong_shape(tmp_path):
    d = tmp_path / "fake"
    d.mkdir()
    (d / "summary.json").write_text("[1, 2]")
    _check(run_cli("show", str(d)), "not an rmbench summary")
