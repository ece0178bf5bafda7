"""Running the real ``rmbench`` CLI from tests: in this interpreter (the default) or in a fresh one.

``run_cli`` calls ``rmbench.cli.main.main(argv)`` here, with stdout and stderr captured, and
returns a ``subprocess.CompletedProcess`` just like ``run_cli_process`` does, so a test reads
``returncode``, ``stdout`` and ``stderr`` the same way whichever it uses. Starting a fresh
interpreter costs 1-3 s per call (datasets, pyarrow, pandas and the SDKs are imported again); an
in-process call reuses what is already imported.

Each in-process call looks to the CLI like a fresh process as far as rmbench can tell:

- ``env``: entries are set (``None`` removes one) for the call, and the whole of ``os.environ``
  is put back afterwards, including anything the CLI itself changed;
- ``cwd`` (default: the repository root, as for the subprocess) is entered and left;
- ``sys.argv`` is what ``python -m rmbench.cli.main ARGS`` would see;
- stdout/stderr are fresh UTF-8 text streams that are not terminals (like pipes), and the text
  comes back with universal newlines, as ``subprocess.run(text=True)`` gives it; argparse wraps
  at 80 columns as on a pipe; ``stderr=`` may pass a stream to use instead (a pseudo-terminal);
- an exception that escapes ``main`` (only ``--debug`` lets one through) is printed as a
  traceback with status 1, as the interpreter does; ``SystemExit`` gives its code;
- warnings are shown on the captured stderr under a fresh interpreter's default filters (pytest
  would otherwise record them out of sight), each call starting with no "already shown" memory;
- logging: every logger's level, handlers, propagation and disabled flag are put back; handlers
  created during the call that write to the captured streams are pointed at the real ones; the
  datasets / transformers / huggingface_hub verbosity and progress-bar switches rmbench flips
  are put back (those libraries are imported before the first call, so this is the state a
  fresh import gives);
- tqdm bars left open are closed; SIGINT/SIGTERM handlers, ``sys.path`` and the global random
  states (``random``, numpy, torch: hf/ seeds torch's generator) are put back;
- ``rmbench.integrations.lm_eval``'s per-file metadata cache is cleared.

A variable a library reads once, at import (e.g. ``HF_DATASETS_CACHE``), keeps the value of the
first import: pass such variables to ``run_cli_process``.

What an in-process call cannot be, and the tests that therefore keep ``run_cli_process``: a
process that is killed (``RMBENCH_TEST_CRASH_AT`` makes rmbench SIGKILL itself, which here would
kill pytest: ``run_cli`` refuses that variable), signals and Ctrl-C sent from outside, locks
held by two live processes, per-process limits (RLIMIT), what a fresh interpreter imports (and
how fast), modules shadowed through ``PYTHONPATH`` (refused too), and the exit of a process.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import signal
import subprocess
import sys
import traceback
import warnings
from pathlib import Path
from typing import TextIO

REPO = Path(__file__).resolve().parents[1]
CRASH_ENV = "RMBENCH_TEST_CRASH_AT"
MAIN_FILE = str(REPO / "rmbench" / "cli" / "main.py")  # sys.argv[0] under `python -m rmbench.cli.main`


def _apply_env(base: dict, env: dict | None) -> dict:
    full = dict(base)
    for k, v in (env or {}).items():
        if v is None:
            full.pop(k, None)
        else:
            full[k] = str(v)
    return full


def run_cli_process(*args: str, cwd: str | os.PathLike | None = None, env: dict | None = None,
                    timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``rmbench ARGS`` in a fresh interpreter, as a user would. ``env`` entries are added to
    this process's environment (``None`` removes one); PYTHONPATH starts with the repository."""
    full_env = _apply_env(os.environ, env)
    full_env["PYTHONPATH"] = str(REPO) + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "rmbench.cli.main", *args], cwd=cwd or REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


class _Stream(io.TextIOWrapper):
    """A captured standard stream: UTF-8 text over a byte buffer, not a terminal, no file descriptor."""

    def __init__(self, errors: str):
        super().__init__(io.BytesIO(), encoding="utf-8", errors=errors, write_through=True)

    def isatty(self) -> bool:
        return False

    def text(self) -> str:
        self.flush()
        raw = self.buffer.getvalue().decode("utf-8", "replace")
        return raw.replace("\r\n", "\n").replace("\r", "\n")  # subprocess.run(text=True) does the same


def _fresh_warning_filters() -> None:
    """The filters a fresh CPython interpreter (release build, no -W / PYTHONWARNINGS) starts with."""
    warnings.resetwarnings()
    warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")
    for cat in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
        warnings.filterwarnings("ignore", category=cat, append=True)
    for opt in sys.warnoptions:  # what the interpreter was started with applies to a child too
        warnings._setoption(opt)  # type: ignore[attr-defined]


def _show_on_stderr(msg: warnings.WarningMessage) -> None:
    """What a fresh interpreter does with a warning that passes the filters (pytest records them
    instead, out of the test's sight): write it to (the captured) sys.stderr."""
    file = msg.file or sys.stderr
    with contextlib.suppress(OSError):
        file.write(warnings._formatwarnmsg(msg))  # type: ignore[attr-defined]


def _all_loggers() -> dict[str, logging.Logger]:
    out = {"": logging.getLogger()}
    for name, lg in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(lg, logging.Logger):
            out[name] = lg
    return out


def _logging_state() -> dict:
    return {name: (lg.level, list(lg.handlers), lg.propagate, lg.disabled) for name, lg in _all_loggers().items()}


def _restore_logging(before: dict, streams: tuple, real_stderr, real_stdout) -> None:
    for name, lg in _all_loggers().items():
        if name in before:
            # the attribute, not setLevel: setLevel clears the level cache of every logger, and
            # doing that once per logger (thousands once torch and transformers are imported) was
            # most of this harness's cost; the cache is cleared once below
            lg.level, handlers, lg.propagate, lg.disabled = before[name]
            lg.handlers[:] = handlers
        for h in lg.handlers:  # created during the call: must not keep writing into a finished capture
            if isinstance(h, logging.StreamHandler) and h.stream in streams:
                h.setStream(real_stdout if h.stream is streams[0] else real_stderr)
    logging.Logger.manager._clear_cache()  # type: ignore[attr-defined]


# Process-wide switches that rmbench flips in the libraries it drives (progress bars off, quieter
# loggers): (module, read the switch, set it). The modules are imported before the first call so
# that each call starts from the state a fresh import gives and is put back to it afterwards.
_SWITCHES = [
    ("datasets.utils.tqdm", lambda m: m.are_progress_bars_disabled(),
     lambda m, off: m.disable_progress_bars() if off else m.enable_progress_bars()),
    ("datasets.utils.logging", lambda m: m.get_verbosity(), lambda m, v: m.set_verbosity(v)),
    ("transformers.utils.logging", lambda m: (m.get_verbosity(), m.is_progress_bar_enabled()),
     lambda m, v: (m.set_verbosity(v[0]), m.enable_progress_bar() if v[1] else m.disable_progress_bar())),
    ("huggingface_hub.utils", lambda m: m.are_progress_bars_disabled(),
     lambda m, off: m.disable_progress_bars() if off else m.enable_progress_bars()),
]
_imported_switches = False


def _library_state() -> dict:
    global _imported_switches
    if not _imported_switches:
        import importlib

        for name, _, _ in _SWITCHES:
            with contextlib.suppress(ImportError):  # transformers is an optional extra
                importlib.import_module(name)
        _imported_switches = True
    return {name: get(sys.modules[name]) for name, get, _ in _SWITCHES if name in sys.modules}


def _restore_libraries(before: dict) -> None:
    for name, get, put in _SWITCHES:
        mod = sys.modules.get(name)
        if name in before and mod is not None and get(mod) != before[name]:
            put(mod, before[name])


def _rng_state() -> dict:
    """Global random states a run may advance (hf/ seeds torch's generator for sampling)."""
    import random

    out: dict = {"random": random.getstate()}
    if "torch" in sys.modules:
        out["torch"] = sys.modules["torch"].get_rng_state()
    if "numpy" in sys.modules:
        out["numpy"] = sys.modules["numpy"].random.get_state()
    return out


def _restore_rng(before: dict) -> None:
    import random

    random.setstate(before["random"])
    if "torch" in before:
        sys.modules["torch"].set_rng_state(before["torch"])
    if "numpy" in before:
        sys.modules["numpy"].random.set_state(before["numpy"])


def _close_stray_bars() -> None:
    tq = sys.modules.get("tqdm.std")
    if tq is None:
        return
    for bar in list(getattr(tq.tqdm, "_instances", ())):
        with contextlib.suppress(Exception):
            bar.close()


def _clear_rmbench_caches() -> None:
    lm = sys.modules.get("rmbench.integrations.lm_eval")
    if lm is not None and hasattr(lm, "_meta"):
        lm._meta.cache_clear()


def run_cli(*args: str, cwd: str | os.PathLike | None = None, env: dict | None = None,
            timeout: float = 300, stderr: TextIO | None = None) -> subprocess.CompletedProcess:
    """Run ``rmbench ARGS`` in this interpreter; the result reads like ``run_cli_process``'s.

    ``env`` entries are set for the call (``None`` removes one) on top of this process's
    environment. ``timeout`` is accepted for the same signature; pytest-timeout bounds a call.
    ``stderr``: a text stream to use as the CLI's stderr instead of capturing it (e.g. one open
    on a pseudo-terminal); the result's ``stderr`` is then empty."""
    del timeout
    full_env = _apply_env(os.environ, env)
    if full_env.get(CRASH_ENV):
        raise RuntimeError(f"{CRASH_ENV} makes rmbench SIGKILL its own process: use run_cli_process")
    startup = sorted(k for k in (env or {}) if k.startswith("PYTHON"))
    if startup:  # read by an interpreter when it starts: meaningless here
        raise RuntimeError(f"{', '.join(startup)} only acts on a fresh interpreter: use run_cli_process")

    from rmbench.cli.main import main

    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    saved_argv, saved_path = sys.argv[:], sys.path[:]
    saved_out, saved_err = sys.stdout, sys.stderr
    saved_dunder = sys.__stdout__, sys.__stderr__
    saved_signals = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    saved_libs = _library_state()  # first: imports the libraries whose loggers are saved next
    saved_logging = _logging_state()
    saved_rng = _rng_state()
    out, err = _Stream("strict"), _Stream("backslashreplace")
    code: int
    try:
        for k in set(os.environ) - set(full_env):
            del os.environ[k]
        os.environ.update(full_env)
        os.chdir(cwd or REPO)
        sys.argv = [MAIN_FILE, *args]
        sys.stdout, sys.stderr = out, (err if stderr is None else stderr)
        # what shutil.get_terminal_size (argparse's line width) looks at: not pytest's terminal
        sys.__stdout__, sys.__stderr__ = sys.stdout, sys.stderr  # type: ignore[misc]
        with warnings.catch_warnings():
            _fresh_warning_filters()
            warnings.showwarning = warnings._showwarning_orig  # type: ignore[attr-defined]
            warnings._showwarnmsg_impl = _show_on_stderr  # type: ignore[attr-defined]
            try:
                code = main(list(args))
            except SystemExit as e:  # argparse (--help, --version, usage errors) and sys.exit
                if e.code is None:
                    code = 0
                elif isinstance(e.code, int):
                    code = e.code
                else:
                    print(e.code, file=sys.stderr)
                    code = 1
            except BaseException as e:  # uncaught (only --debug lets one through): what the interpreter does
                traceback.print_exception(e, file=sys.stderr)
                code = -signal.SIGINT if isinstance(e, KeyboardInterrupt) else 1
    finally:
        sys.stdout, sys.stderr = saved_out, saved_err
        sys.__stdout__, sys.__stderr__ = saved_dunder  # type: ignore[misc]
        sys.argv = saved_argv
        sys.path[:] = saved_path
        os.chdir(saved_cwd)
        for k in set(os.environ) - set(saved_env):
            del os.environ[k]
        for k, v in saved_env.items():
            if os.environ.get(k) != v:
                os.environ[k] = v
        for s, h in saved_signals.items():
            if h is not None:
                signal.signal(s, h)
        _close_stray_bars()
        _restore_logging(saved_logging, (out, err, stderr), saved_err, saved_out)
        _restore_libraries(saved_libs)
        _restore_rng(saved_rng)
        _clear_rmbench_caches()
    return subprocess.CompletedProcess(["rmbench", *args], code, out.text(), err.text())
