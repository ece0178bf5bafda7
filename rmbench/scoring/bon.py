"""Best-of-N accuracy for the generic ``bon`` task: how often the response the judge picks is a
correct one.

Per item, from per-candidate values (a scalar model's or a rating prompt's scores, or the values
a tournament of pairwise judgments produces, see rmbench/protocol/aggregate.py): the candidates
with the highest value form the top (a failed value never counts); the item earns the share of
the top that is correct, so 1 or 0 without a tie and 1/k for a k-way tie holding the one correct
response. An item with no correct response earns 0. No value at all: the failure policy. A rating
judge run with verdict probabilities records expected ratings; a tie at the top is then narrowed
to the tied candidates with the highest expected rating (``Outcome.break_ties``).

With the ``pairwise`` aggregator (or from lm-eval's pairwise export) no candidate is picked: the
item earns the chance that every correct response beats every incorrect one (the product of the
comparison values; a tie verdict is a loss there), the same reading as RewardBench 2's pairwise
fallback. A listwise judge (a best-of-n prompt) names its pick directly.

Reported next to the accuracy, from the data alone:

- ``oracle``: the share of items with at least one correct response (what a perfect picker gets);
- ``random``: the mean share of correct responses per item (what a uniform random pick gets on
  average).

``score`` is the accuracy over all items (micro); ``sections`` give it per subset.
"""

from __future__ import annotations

from rmbench.contracts import failure_value
from rmbench.scoring.common import accuracy_block, grouped, mean


def example_result(example, outcome) -> dict:
    n, preferred = len(example.candidates), set(example.preferred)
    # the baselines' per-item parts are stored as values so that their means are plain averages
    out = {"n": n, "n_correct": len(preferred), "solvable": 1.0 if preferred else 0.0,
           "chance": len(preferred) / n}
    if outcome.picks is not None:
        return {"correct": outcome.pick_credit(), **out, "listwise": True}
    if outcome.scores is None:
        values = [outcome.beats(p, r, tie=0.0) for p in example.preferred for r in example.rejected]
        if any(v is None for v in values):
            return {"correct": None, **out, "pairwise": True}
        product = 1.0 if preferred else 0.0
        for v in values:
            product *= v
        return {"correct": product, **out, "pairwise": True}
    scores = [outcome.score_of(i) for i in range(n)]
    present = [s for s in scores if s is not None]
    if not present:
        return {"correct": failure_value(outcome.policy.on_failure, n), **out}
    high = max(present)
    top = outcome.break_ties([i for i, s in enumerate(scores) if s is not None and s == high])
    return {"correct": sum(1 for i in top if i in preferred) / len(top), **out}


def _block(records: list[dict]) -> dict:
    return accuracy_block((r["result"]["correct"] for r in records),
                          oracle=mean(r["result"]["solvable"] for r in records),
                          random=mean(r["result"]["chance"] for r in records),
                          candidates=mean(r["result"]["n"] for r in records))


def aggregate(records: list[dict], options: dict) -> dict:
    overall = _block(records)
    out: dict = {"score": overall["score"], "n": overall["n"],
                 "metrics": {"oracle": overall["oracle"], "random": overall["random"]},
                 "candidates_per_item": overall["candidates"],
                 "sections": {name: _block(recs) for name, recs in grouped(records).items()}}
    if "excluded" in overall:
        out["excluded"] = overall["excluded"]
    if any(r["result"].get("pairwise") for r in records):
        out["notes"] = ["pairwise reading: nothing was picked; an item counts when every correct response beats "
                        "every incorrect one (use a tournament aggregator or a scoring judge for best-of-N picks)"]
    return out
