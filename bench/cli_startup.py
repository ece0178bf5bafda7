"""How fast the CLI answers: `rmbench --help` and `rmbench tasks` (goal: --help under 0.5 s).

Runs each command N times in fresh interpreters and prints the median and worst wall time, plus
the heavy modules (if any) that each command imported.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
N = int(os.environ.get("N", "15"))
HEAVY = ("torch", "vllm", "transformers", "datasets", "pandas", "openai", "anthropic", "ray")


def timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rmbench.cli.main", *argv], cwd=REPO, capture_output=True, check=True,
                   env={**os.environ, "PYTHONPATH": str(REPO)})
    return time.perf_counter() - t0


def heavy_imports(argv: list[str]) -> list[str]:
    code = (f"import sys, io, contextlib\nfrom rmbench.cli.main import main\nbuf=io.StringIO()\n"
            f"with contextlib.redirect_stdout(buf):\n    try: main({argv!r})\n    except SystemExit: pass\n"
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}).stdout.strip()
    return [m for m in out.split(",") if m]


def main() -> None:
    base = [timed(["--version"]) for _ in range(3)]  # warm the page cache
    print(f"| command | median s | max s | heavy imports | (python startup alone: {statistics.median([timed_py() for _ in range(5)]):.3f} s) |")
    print("|---|---|---|---|---|")
    for argv in (["--help"], ["tasks"], ["run", "--help"]):
        ts = [timed(argv) for _ in range(N)]
        print(f"| rmbench {' '.join(argv)} | {statistics.median(ts):.3f} | {max(ts):.3f} | "
              f"{', '.join(heavy_imports(argv)) or 'none'} | |")
    del base


def timed_py() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
