"""Property: whatever damage is done to a finished run directory (a file truncated, a line
duplicated, a foreign or wrong-shaped line inserted, a file deleted or replaced, a link swapped in),
every command that reads it either reproduces what it gave on the undamaged run exactly or exits
with code 2 and one line, and nothing outside the run directory changes."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rmbench.cli.main import main as cli_main
from tests import rb_fixture
from tests.helpers import write_json

FILES = ["run.json", "records.jsonl", "summary.json", "summary.md"]
EXAMPLES = int(os.environ.get("RMBENCH_FUZZ_SCALE", "1")) * 12


def call(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli_main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def tree(root: Path, skip: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirs, files in os.walk(root):
        if Path(dirpath) == skip:
            dirs[:] = []
            continue
        dirs[:] = [d for d in dirs if Path(dirpath, d) != skip]
        for f in files:
            p = Path(dirpath) / f
            out[str(p)] = os.readlink(p) if p.is_symlink() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("damage")
    data = write_json(root / "rb.json", rb_fixture.many(24))
    args = ["run", "--model", "baseline/longest", "--task", "rewardbench", "--data-path", str(data),
            "--output-dir", str(root / "ref"), "--run-name", "r", "--quiet", "--seed", "5"]
    assert call(*args)[0] == 0
    ref = root / "ref" / "r"
    other = root / "other"   # a run of another judge, whose files can be swapped in
    assert call(*[a if a != "baseline/longest" else "baseline/shortest" for a in args[:-5]],
                "--output-dir", str(other), "--run-name", "o", "--quiet", "--seed", "5")[0] == 0
    expected = {"summary": (ref / "summary.json").read_bytes(), "show": call("show", ref)[1],
                "compare": call("compare", ref, ref, "--format", "json")[1]}
    return {"root": root, "ref": ref, "args": args, "other": other / "o", "expected": expected}


def damage(run_dir: Path, other: Path, outside: Path, kind: str, name: str, draw) -> None:
    path = run_dir / name
    if kind == "delete":
        path.unlink()
    elif kind == "replace-other":
        path.write_bytes((other / name).read_bytes())
    elif kind == "replace-garbage":
        path.write_bytes(draw(st.binary(max_size=40)))
    elif kind == "link":
        path.unlink()
        path.symlink_to(outside)
    elif kind == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: draw(st.integers(0, max(0, len(data) - 1)))])
    else:   # line-level damage to records.jsonl
        lines = (run_dir / "records.jsonl").read_text().splitlines(keepends=True)
        at = draw(st.integers(0, len(lines)))
        if kind == "duplicate":
            k = draw(st.integers(0, len(lines) - 1))
            lines.insert(at, lines[k])
        elif kind == "foreign":
            rec = json.loads(lines[draw(st.integers(0, len(lines) - 1))])
            rec[draw(st.sampled_from(["id", "task", "run_identity"]))] = "someone-else"
            lines.insert(at, json.dumps(rec) + "\n")
        elif kind == "wrong-shape":
            lines.insert(at, draw(st.sampled_from(["{}", "[]", "null", "7", '"x"', '{"task": "rewardbench"}',
                                                   "{bad json"])) + "\n")
        elif kind == "drop":
            lines.pop(draw(st.integers(0, len(lines) - 1)))
        (run_dir / "records.jsonl").write_text("".join(lines))


def check(rc: int, out: str, err: str, expected: str | None, what: str) -> None:
    if rc == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("rmbench: error: "), (what, err)
        return
    assert rc == 0, (what, rc, err)
    if expected is not None:
        assert out == expected, what


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_any_damage_gives_the_same_result_or_one_line(world, data):
    kind = data.draw(st.sampled_from(["delete", "replace-other", "replace-garbage", "link", "truncate",
                                      "duplicate", "foreign", "wrong-shape", "drop"]), label="kind")
    name = "records.jsonl" if kind in ("duplicate", "foreign", "wrong-shape", "drop") else \
        data.draw(st.sampled_from(FILES), label="file")
    root, ref = world["root"], world["ref"]
    case = Path(tempfile.mkdtemp(prefix="case-", dir=root))
    damaged = case / "r"
    shutil.copytree(ref, damaged, symlinks=True)
    outside = case / "outside.txt"
    outside.write_text("a file outside the run\nwithout a final newline")
    damage(damaged, world["other"], outside, kind, name, data.draw)
    # each command on its own copy of the damaged run (run and rescore repair or rewrite it)
    for cmd in ("run", "rescore", "show", "leaderboard", "compare", "gate"):
        work = case / f"w-{cmd}"
        shutil.copytree(damaged, work / "r", symlinks=True)
        before = tree(root, work / "r")
        run_dir = work / "r"
        if cmd == "run":
            args = list(world["args"])
            args[args.index("--output-dir") + 1] = str(work)
            rc, out, err = call(*args)
            check(rc, out, err, None, f"{kind} {name}: run")
            if rc == 0:
                assert (run_dir / "summary.json").read_bytes() == world["expected"]["summary"], (kind, name)
        elif cmd == "rescore":
            rc, out, err = call("rescore", run_dir)
            check(rc, out, err, None, f"{kind} {name}: rescore")
            if rc == 0:
                assert (run_dir / "summary.json").read_bytes() == world["expected"]["summary"], (kind, name)
        elif cmd == "show":
            check(*call("show", run_dir), world["expected"]["show"], f"{kind} {name}: show")
        elif cmd == "leaderboard":
            rc, out, err = call("leaderboard", run_dir, "--format", "json")
            check(rc, out, err, None, f"{kind} {name}: leaderboard")
            if rc == 0:
                board = json.loads(out)
                ref_board = json.loads(call("leaderboard", ref, "--format", "json")[1])
                assert _cells(board) == _cells(ref_board), (kind, name)
        elif cmd == "compare":
            rc, out, err = call("compare", run_dir, ref, "--format", "json")
            check(rc, out, err, None, f"{kind} {name}: compare")
            if rc == 0:
                assert _numbers(out) == _numbers(world["expected"]["compare"]), (kind, name)
        else:
            rc, out, err = call("gate", "--baseline", ref, "--candidate", run_dir, "-o", work / "gate.md")
            check(rc, out, err, None, f"{kind} {name}: gate")
            assert rc in (0, 2), (kind, name, rc)
        after = tree(root, work / "r")
        after.pop(str(work / "gate.md"), None)
        assert after == before, f"{kind} {name}: {cmd} changed files outside the run directory"
        assert outside.read_text() == "a file outside the run\nwithout a final newline"


def _cells(board: dict) -> list:
    return [[c for k, c in sorted(row.items()) if k not in ("details", "runs", "label", "path")]
            for row in board.get("rows", [])]


def _numbers(text: str) -> list:
    res = json.loads(text)
    return [(t, [(m["metric"], m["a"], m["b"], m["ci"]) for m in v["metrics"]], v["mcnemar"])
            for t, v in res["tasks"].items()]
