"""Hypothesis profiles for the suite; pick one with ``HYPOTHESIS_PROFILE`` (tests/conftest.py
loads it before any test module is imported).

- ``default`` (``make test``, a developer's run): every property test runs the example count
  written on it; the whole suite stays within its time budget.
- ``ci`` (.ci/run): thorough, four times as many examples, and a failure prints the blob that
  reproduces it (``@reproduce_failure``). CI has minutes to spare; a laptop loop does not.
- ``dev``: a quick look while editing, a fifth of the examples (at least 5 per test).

A property test states its count as it would under Hypothesis' own default of 100 examples,
``@settings(max_examples=examples(50))``: 50 under ``default``, 200 under ``ci``, 10 under
``dev``. ``RMBENCH_FUZZ_SCALE=N`` multiplies on top of the profile for a longer hunt.
Every profile has no deadline: run times on a shared 2-core machine vary too much for one.
"""

from __future__ import annotations

import os

from hypothesis import settings

BASE = 100  # Hypothesis' own default max_examples: the scale counts are written against

settings.register_profile("default", max_examples=BASE, deadline=None)
settings.register_profile("ci", max_examples=4 * BASE, deadline=None, print_blob=True)
settings.register_profile("dev", max_examples=BASE // 5, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def examples(n: int) -> int:
    """``n`` examples as written for the default profile, scaled to the loaded profile (and by
    RMBENCH_FUZZ_SCALE)."""
    scale = settings().max_examples / BASE * int(os.environ.get("RMBENCH_FUZZ_SCALE", "1"))
    return max(min(n, 5), round(n * scale))
