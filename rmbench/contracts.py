"""Values that two layers share, named once. Bottom layer: imports nothing from rmbench.

A layer that passes one of these to another uses the name, never the bare string, so that a
grep finds every place that depends on it.
"""

from __future__ import annotations

# -- how a judge answers (judges -> protocol) ----------------------------------------------------
#: the judge scores each candidate on its own (a scalar model, a baseline, a rating prompt)
POINTWISE = "pointwise"
#: the judge compares two candidates and names the better one
PAIRWISE = "pairwise"
JUDGE_MODES = (POINTWISE, PAIRWISE)

# -- what a failed judgment is worth (config -> protocol -> scoring) -----------------------------
LOSS = "loss"
HALF = "half"
EXCLUDE = "exclude"
FAILURE_POLICIES = (LOSS, HALF, EXCLUDE)
_FAILURE_VALUES = {LOSS: 0.0, HALF: 0.5, EXCLUDE: None}


def failure_value(policy: str) -> float | None:
    """The value a failed judgment (or an example that could not be decided) scores under
    ``--on-failure POLICY``; None means the example is left out."""
    return _FAILURE_VALUES[policy]


# -- the record's tournament block (protocol -> scoring -> reports) -----------------------------
TOURNAMENT = "tournament"        # the record key
BY_MATCHES = "matches"           # ranked by a tournament of pairwise matches
BY_SCORES = "scores"             # ranked by per-candidate scores
BY_PAIRS = "pairs"               # the task's own pairs, nothing picked


def ranked_by(record: dict) -> str | None:
    """How a record's best-of-N item was ranked (``BY_*``), or None when it was not aggregated."""
    block = record.get(TOURNAMENT)
    return block.get("by") if isinstance(block, dict) else None
