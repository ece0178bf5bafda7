"""Test-only entry point: ``python -m tests.robustness.crash_entry ARGS`` runs ``rmbench ARGS``
with a hook that kills the process with SIGKILL (as ``kill -9`` would) at the point named by the
``RMBENCH_TEST_CRASH_AT`` environment variable, to prove that a killed run loses nothing.

Points: ``records:N`` after N records are appended; ``torn:N`` after N records and then half a
line (the start of the Nth line again, as a write cut short leaves it); ``judged`` when judging is
done, before the records are reordered; ``finalized`` after the reorder, before the summary;
``summary`` after summary.json/md are written, before run.json says complete.

rmbench itself never reads the variable: the hook is installed here, through ``rmbench.runner.HOOKS``.
"""

from __future__ import annotations

import os
import signal
import sys

from rmbench import runner
from rmbench.cli.main import main
from rmbench.store.rundir import RECORDS, dumps_record

CRASH_ENV = "RMBENCH_TEST_CRASH_AT"


class CrashHooks(runner.Hooks):
    def __init__(self, spec: str):
        stage, _, n = spec.partition(":")
        self.stage = stage or None
        self.n = int(n) if n.isdigit() else 0
        self.count = 0

    @staticmethod
    def _die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    def appended(self, sink, record: dict) -> None:
        if self.stage not in ("records", "torn"):
            return
        self.count += 1
        if self.count < self.n:
            return
        sink.sync()
        if self.stage == "torn":
            line = (dumps_record(record) + "\n").encode("utf-8")
            with open(sink.path / RECORDS, "ab") as f:
                f.write(line[: max(1, len(line) // 2)])
                f.flush()
                os.fsync(f.fileno())
        self._die()

    def at(self, stage: str) -> None:
        if self.stage == stage:
            self._die()


if __name__ == "__main__":
    runner.HOOKS = CrashHooks(os.environ.get(CRASH_ENV, ""))
    sys.exit(main(sys.argv[1:]))
