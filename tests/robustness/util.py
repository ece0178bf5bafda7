"""Shared helpers for the robustness suite: fixture data, CLI runs, run-directory checks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests import rb_fixture
from tests.helpers import REPO, run_cli, write_json  # noqa: F401

CRASH_ENV = "RMBENCH_TEST_CRASH_AT"


def rb_rows(n: int) -> list[dict]:
    return rb_fixture.many(n)


def rb_data(tmp_path: Path, n: int = 36, name: str = "rb.json") -> Path:
    return write_json(tmp_path / name, rb_rows(n))


def run_args(model: str, data: Path, out: Path, name: str, *extra: str, task: str = "rewardbench") -> list[str]:
    return ["run", "--model", model, "--task", task, "--data-path", str(data), "--output-dir", str(out),
            "--run-name", name, "--quiet", *extra]


def child_env(env: dict | None = None) -> dict:
    """This process's environment for a child rmbench, without the crash hook; ``env`` entries
    set to None are removed."""
    full = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    for k, v in (env or {}).items():
        if v is None:
            full.pop(k, None)
        else:
            full[k] = v
    full["PYTHONPATH"] = str(REPO) + os.pathsep + full.get("PYTHONPATH", "")
    return full


def cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``rmbench ARGS`` in this interpreter (tests/cli_harness.py), without the crash hook;
    ``env`` entries set to None are removed."""
    return run_cli(*args, env={CRASH_ENV: None, **(env or {})}, timeout=timeout)


def _entry(env: dict | None) -> str:
    """rmbench's own entry point, or the test-only one that installs the crash hook."""
    return "tests.robustness.crash_entry" if (env or {}).get(CRASH_ENV) else "rmbench.cli.main"


def cli_process(*args: str, env: dict | None = None, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """``rmbench ARGS`` in a fresh interpreter: for runs that kill themselves (``CRASH_ENV``: the
    test-only entry point tests/robustness/crash_entry.py installs the hook), hold a lock against
    another process, or need per-process settings (``preexec_fn``)."""
    return subprocess.run([sys.executable, "-m", _entry(env), *args], cwd=REPO, env=child_env(env),
                          capture_output=True, text=True, timeout=timeout, **kw)


def ctrl_c_reaches_it() -> None:
    """For a child the test will Ctrl-C: SIGINT back to its default. A test run started in the
    background of a script has SIGINT ignored, and a child would inherit that and never see it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def popen(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", _entry(env), *args], cwd=REPO, env=child_env(env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_reaches_it)


def killed_by_sigkill(res: subprocess.CompletedProcess | subprocess.Popen) -> bool:
    return res.returncode == -signal.SIGKILL


def assert_one_line_error(res: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit 2, one line on stderr starting 'rmbench: error:', no traceback."""
    err = res.stderr.strip()
    assert res.returncode == 2, (res.returncode, res.stderr[-3000:])
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    assert len(err.splitlines()) == 1, err[-3000:]
    assert err.startswith("rmbench: error: "), err
    for n in needles:
        assert n in err, err
    return err


def record_lines(run_dir: Path) -> tuple[list[dict], bytes]:
    """The complete records in records.jsonl and whatever torn tail follows them."""
    data = (run_dir / "records.jsonl").read_bytes() if (run_dir / "records.jsonl").exists() else b""
    body, _, tail = data.rpartition(b"\n")
    lines = [json.loads(x) for x in body.split(b"\n") if x.strip()] if body else []
    return lines, tail


def run_json(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text(encoding="utf-8"))


def all_files(*roots: Path) -> list[Path]:
    out = []
    for root in roots:
        root = Path(root)
        if root.is_file():
            out.append(root)
        elif root.is_dir():
            out += [p for p in sorted(root.rglob("*")) if p.is_file()]
    return out


def _mount(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True)


def mount_tmpfs(path: Path, size: str, readonly: bool = False) -> bool:
    """Mount a small tmpfs at ``path`` (needs root and mount rights); False when not possible."""
    import shutil

    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if readonly else "")
    return _mount("-t", "tmpfs", "-o", opts, "tmpfs", str(path)).returncode == 0


def remount(path: Path, opts: str) -> bool:
    return _mount("-o", f"remount,{opts}", str(path)).returncode == 0


def umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill_disk(path: Path) -> Path:
    """Write a filler file until the file system at ``path`` is full."""
    filler = path / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler
