"""How long the whole test suite takes (goal: `make test` under 3 minutes on a 2-core machine).

Runs pytest over tests/ in this interpreter (as `make test` does, offline) and prints the wall
time, the CPU time (this process and every child it waited for: the rmbench processes the
process-level tests start, lm-eval, pip), the load average before and after (the wall time is
only meaningful on an otherwise idle machine; the CPU time much less depends on other jobs), and
the tests that took the most wall and CPU time.

    .venv/bin/python bench/test_suite.py [PYTEST ARGS...]      # e.g. -m "not slow", -x
    TOP=25 .venv/bin/python bench/test_suite.py
"""

from __future__ import annotations

import os
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOP = int(os.environ.get("TOP", "15"))


def _cpu() -> tuple[float, float]:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def _plugin():
    """A pytest plugin recording each test's wall and CPU seconds (setup and teardown included)."""
    import pytest

    rows: list[tuple[float, float, str]] = []

    class Plugin:
        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_protocol(self, item, nextitem):  # noqa: ARG002
            c0, w0 = sum(_cpu()), time.perf_counter()
            yield
            rows.append((time.perf_counter() - w0, sum(_cpu()) - c0, item.nodeid))

    return Plugin(), rows


def main(argv: list[str]) -> int:
    import pytest

    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ.setdefault(var, "1")
    os.chdir(REPO)
    plugin, rows = _plugin()
    load0 = os.getloadavg()
    w0, (s0, k0) = time.perf_counter(), _cpu()
    code = pytest.main(["-q", "-p", "no:cacheprovider", *argv], plugins=[plugin])
    wall = time.perf_counter() - w0
    s1, k1 = _cpu()
    load1 = os.getloadavg()
    print(f"\nwhole suite: wall {wall:.1f} s; CPU {s1 - s0 + k1 - k0:.1f} s "
          f"(pytest process {s1 - s0:.1f} s, child processes {k1 - k0:.1f} s); {len(rows)} tests; "
          f"load average {load0[0]:.1f} before, {load1[0]:.1f} after; {os.cpu_count()} CPUs")
    for title, key in (("wall", 0), ("CPU", 1)):
        print(f"\nslowest {TOP} by {title} (s): wall, CPU, test")
        for w, c, nodeid in sorted(rows, key=lambda r: -r[key])[:TOP]:
            print(f"  {w:6.2f} {c:6.2f}  {nodeid}")
    return int(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
