"""Exact McNemar p-values at scale (issue 14): the log-space sum in rmbench.reports.compare
against the big-integer sum it replaced, at up to 20,000 discordant pairs (RMB has 18k items).

The old sum is timed at OLD_MAX pairs and below only (default 16,800, where it took 12 s on the
first measurement; set OLD_MAX=0 to skip it). Each new p-value is also checked against the exact
rational value where that is computed.
"""

from __future__ import annotations

import math
import os
import platform
import sys
import time
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rmbench.reports.compare import mcnemar_exact  # noqa: E402

OLD_MAX = int(os.environ.get("OLD_MAX", "16800"))


def big_integer(b: int, c: int) -> Fraction:
    n, k = b + c, min(b, c)
    return min(Fraction(1), Fraction(2 * sum(math.comb(n, i) for i in range(k + 1)), 2**n))


def timed(fn, *args, repeat: int = 1):
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t)
    return out, best


if __name__ == "__main__":
    print(f"# {platform.processor() or platform.machine()}, CPython {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d')}")
    print("| discordant pairs (b, c) | p (log space) | log-space s | big-integer s | relative error |")
    print("|---|---|---|---|---|")
    for b, c in ((480, 520), (4_900, 5_100), (8_000, 8_800), (9_900, 10_100), (9_000, 11_000)):
        p, t_new = timed(mcnemar_exact, b, c, repeat=5)
        if b + c <= OLD_MAX:
            exact, t_old = timed(big_integer, b, c)
            rel = abs(p - float(exact)) / float(exact) if exact else abs(p)
            old, err = f"{t_old:.3f}", f"{rel:.1e}"
        else:
            old, err = "(skipped)", "—"
        print(f"| {b + c:,} ({b:,}, {c:,}) | {p:.6g} | {t_new:.4f} | {old} | {err} |")
