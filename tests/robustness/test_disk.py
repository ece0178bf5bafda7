"""Disk problems: a full disk, a file-size limit and a read-only output directory. Each stops
with one line and exit 2, keeps every completed record, and a rerun (once there is room)
resumes to the same result an untroubled run gives.

A full disk is a real small tmpfs (skipped where this user cannot mount one); the file-size
limit (RLIMIT_FSIZE, set in the child only) needs no privileges."""

from __future__ import annotations

import os
import resource

import pytest

from rmbench.cli.main import main as cli_main
from tests.robustness.util import (
    CRASH_ENV,
    assert_one_line_error,
    cli,
    cli_process,
    fill_disk,
    killed_by_sigkill,
    mount_tmpfs,
    rb_data,
    record_lines,
    remount,
    run_args,
    run_json,
    umount,
)

MODEL = "baseline/longest"
N = 240


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return rb_data(tmp_path_factory.mktemp("data"), N)


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    assert cli_main(run_args(MODEL, data, out, "r")) == 0
    return {name: (out / "r" / name).read_bytes() for name in ("summary.json", "records.jsonl")}


@pytest.fixture
def small_fs(tmp_path):
    mnt = tmp_path / "mnt"
    if not mount_tmpfs(mnt, "24k"):
        pytest.skip("cannot mount a tmpfs here (needs root with mount rights)")
    yield mnt
    umount(mnt)


def _assert_same_as_reference(run_dir, reference):
    for name, blob in reference.items():
        assert (run_dir / name).read_bytes() == blob, name


def test_disk_fills_up_mid_run_stops_cleanly_and_resumes(small_fs, data, reference):
    res = cli(*run_args(MODEL, data, small_fs, "r"))
    assert_one_line_error(res, "disk full", "records.jsonl", "rerun the same command to resume")
    run_dir = small_fs / "r"
    kept, _tail = record_lines(run_dir)
    assert 0 < len(kept) < N, "the disk was meant to fill part-way through"
    assert not (run_dir / "summary.json").exists()
    expected = {r["id"]: r for r in (__import__("json").loads(x) for x in reference["records.jsonl"].splitlines())}
    assert all(r == expected[r["id"]] for r in kept), "a kept record differs from the untroubled run"

    assert remount(small_fs, "size=4m")     # the user frees space
    assert cli_main(run_args(MODEL, data, small_fs, "r")) == 0
    info = run_json(run_dir)
    assert info["resumed_records"] == len(kept) and info["stats"]["judged_now"] == N - len(kept)
    _assert_same_as_reference(run_dir, reference)


def test_full_disk_before_resume_fails_early_and_touches_nothing(small_fs, data, reference):
    """A crashed run resumed on a disk with no room left: the first write fails with one line
    and the records already on disk are left exactly as they were."""
    res = cli_process(*run_args(MODEL, data, small_fs, "r"), env={CRASH_ENV: "records:40"})
    assert killed_by_sigkill(res)
    before = (small_fs / "r" / "records.jsonl").read_bytes()
    filler = fill_disk(small_fs)
    res = cli(*run_args(MODEL, data, small_fs, "r"))
    assert_one_line_error(res, "disk full")
    assert (small_fs / "r" / "records.jsonl").read_bytes() == before
    assert not list((small_fs / "r").glob("*.tmp"))
    filler.unlink()
    assert remount(small_fs, "size=4m")
    assert cli_main(run_args(MODEL, data, small_fs, "r")) == 0
    assert run_json(small_fs / "r")["resumed_records"] == 40
    _assert_same_as_reference(small_fs / "r", reference)


def _limit_file_size(limit: int):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_file_size_limit_stops_cleanly_and_resumes(tmp_path, data, reference):
    """RLIMIT_FSIZE (no root needed): writes past the limit fail with EFBIG part-way through
    records.jsonl, like a quota."""
    out = tmp_path / "out"
    cli_main(run_args(MODEL, data, out, "warm", "--limit", "1"))  # dataset cache built without the limit
    # a process: the limit is set in the child only (here it would bind pytest too)
    res = cli_process(*run_args(MODEL, data, out, "r"), preexec_fn=_limit_file_size(16_000))
    assert_one_line_error(res, "file size limit", "records.jsonl")
    kept, _ = record_lines(out / "r")
    assert 0 < len(kept) < N
    assert not (out / "r" / "summary.json").exists()
    assert cli_main(run_args(MODEL, data, out, "r")) == 0
    assert run_json(out / "r")["resumed_records"] == len(kept)
    _assert_same_as_reference(out / "r", reference)


def test_read_only_output_dir_fails_before_any_work(tmp_path, data):
    ro = tmp_path / "ro"
    if not mount_tmpfs(ro, "1m", readonly=True):
        if os.geteuid() == 0:
            pytest.skip("root ignores permissions and no read-only mount is possible here")
        ro.mkdir()
        ro.chmod(0o555)
    try:
        res = cli(*run_args(MODEL, data, ro, "r"))
        assert_one_line_error(res, str(ro))
        assert not (ro / "r").exists()
    finally:
        umount(ro)


def test_output_dir_turned_read_only_before_resume_keeps_records(tmp_path, data, reference):
    mnt = tmp_path / "mnt"
    if not mount_tmpfs(mnt, "4m"):
        pytest.skip("cannot mount a tmpfs here (needs root with mount rights)")
    try:
        res = cli_process(*run_args(MODEL, data, mnt, "r"), env={CRASH_ENV: "torn:30"})
        assert killed_by_sigkill(res)
        before = (mnt / "r" / "records.jsonl").read_bytes()
        assert remount(mnt, "ro")
        res = cli(*run_args(MODEL, data, mnt, "r"))
        assert_one_line_error(res, "not writable")
        assert (mnt / "r" / "records.jsonl").read_bytes() == before
        assert remount(mnt, "rw")
        assert cli_main(run_args(MODEL, data, mnt, "r")) == 0
        _assert_same_as_reference(mnt / "r", reference)
    finally:
        umount(mnt)
