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
#: the judge sees every candidate in one message and names the best one (a candidate label)
LISTWISE = "listwise"
JUDGE_MODES = (POINTWISE, PAIRWISE, LISTWISE)

# -- what a failed judgment is worth (config -> protocol -> scoring) -----------------------------
LOSS = "loss"
HALF = "half"
EXCLUDE = "exclude"
#: what a uniform random pick earns: 1 / number of candidates (1/2 for a pair, 1/4 for best-of-4)
CHANCE = "chance"
FAILURE_POLICIES = (LOSS, HALF, EXCLUDE, CHANCE)
_FAILURE_VALUES = {LOSS: 0.0, HALF: 0.5, EXCLUDE: None}


def failure_value(policy: str, n_candidates: int) -> float | None:
    """The value a failed judgment (or an example that could not be decided) scores under
    ``--on-failure POLICY`` when it had to choose among ``n_candidates`` (2 for a pair); None
    means the example is left out."""
    if policy == CHANCE:
        if n_candidates < 1:
            raise ValueError(f"chance needs at least one candidate, not {n_candidates}")
        return 1.0 / n_candidates
    return _FAILURE_VALUES[policy]


# -- protocols (config -> protocol -> scoring/reports) -------------------------------------------
#: rmbench's own defaults: both presentation orders, explicit failures (see docs/benchmarks.md)
RMBENCH = "rmbench"
#: what each benchmark's official script does (rmbench/protocol/official.py resolves it per task)
OFFICIAL = "official"
PROTOCOLS = (RMBENCH, OFFICIAL)

# -- bootstrap clusters (tasks -> scoring) -------------------------------------------------------
#: a record label naming the cluster a record belongs to: records of one cluster are resampled
#: together (e.g. the ref and tied forms of one RewardBench 2 Ties prompt)
CLUSTER = "cluster"


# -- the record's tournament block (protocol -> scoring -> reports) -----------------------------
TOURNAMENT = "tournament"        # the record key
BY_MATCHES = "matches"           # ranked by a tournament of pairwise matches
BY_SCORES = "scores"             # ranked by per-candidate scores
BY_PAIRS = "pairs"               # the task's own pairs, nothing picked


def ranked_by(record: dict) -> str | None:
    """How a record's best-of-N item was ranked (``BY_*``), or None when it was not aggregated."""
    block = record.get(TOURNAMENT)
    return block.get("by") if isinstance(block, dict) else None
