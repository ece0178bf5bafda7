"""JudgeBench, scored as the official script scores it (ScalerLab/JudgeBench ``utils/metrics.py``,
``compute_final_metrics``; ``run_judge.py``, ``main``).

Each pair is judged in both orders by default (the official protocol: ``judge_pairs`` asks
(A, B) and then (B, A) unless ``--single_game``). Each of the two decisions, read in the pair's own
terms, counts +1 when it names the labelled winner, -1 when it names the other response, and 0
when it names neither (a tie such as ``A=B``, or no decision at all: a failed judgment is recorded
as None and counted so). The pair is correct when the sum is positive; a sum of zero (two opposite
verdicts, two ties, or nothing) and a negative sum are not. So agreement on the winner counts, a
tie against the right winner counts, a tie against the wrong winner does not, and a contradiction
does not. The score of a group is correct pairs / all pairs (the script prints it in percent).

With one order per pair (``--orders fixed``, response A first: the official ``--single_game``, or
``random``) the same sum reduces to the official single-game rule: the decision must equal the label.
With several samples per order the plurality verdict of that order votes (none when no verdict
has a plurality). A pair with no decision at all follows ``--on-failure`` (``loss``, the default,
is the official outcome: not correct).

A scoring judge is a single game, as the official reward-model judges are run (``--single_game``):
the decision is ``A>B`` when A's score is higher, else ``B>A``; so equal scores decide ``B>A``
(``utils/judges.py``, e.g. ``SkyworkReward.get_judgment``), counted in the summary.

Groups: overall (every pair) and the four categories, mapped from ``source`` by prefix
(rmbench/tasks/schemas/judgebench.py). The score is the overall accuracy.
"""

from __future__ import annotations

from collections import Counter

from rmbench.contracts import failure_value
from rmbench.scoring.common import accuracy_block, grouped
from rmbench.types import OK, TIE

CATEGORY_ORDER = ("knowledge", "reasoning", "math", "coding", "other")


def pairs(example) -> list[tuple[int, int]]:
    """Response A against response B; A is shown first when a single order is judged."""
    return [(0, 1)]


def _vote(jd, winner: int) -> int | None:
    """+1 for the labelled winner, -1 for the other response, 0 for a tie verdict, None for a failure."""
    if jd.status == OK:
        return 1 if jd.winner == winner else -1
    if jd.status == TIE:
        return 0
    return None


def order_vote(votes: list[int | None]) -> int | None:
    """One order's vote from its samples: the plurality (0 without one); None when all failed."""
    kept = [v for v in votes if v is not None]
    if not kept:
        return None
    ranked = Counter(kept).most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return 0
    return ranked[0][0]


def example_result(example, outcome) -> dict:
    winner = example.preferred[0]
    out: dict = {"label": example.meta.get("label"), "source": example.meta.get("source"),
                 "preferred": list(example.preferred)}
    if outcome.scores is not None:
        sa, sb = outcome.score_of(0), outcome.score_of(1)
        if sa is None or sb is None:
            return {"correct": failure_value(outcome.policy.on_failure, 2), **out, "decided": False}
        decided_a = sa > sb                       # official: "A>B" if score_A > score_B else "B>A"
        out["correct"] = 1.0 if decided_a == (winner == 0) else 0.0
        if sa == sb:
            out["scalar_tie"] = True
        return out
    by_order: dict[tuple[int, int], list[int | None]] = {}
    for js in outcome.judgments.values():
        for jd in js:
            by_order.setdefault((jd.first, jd.second), []).append(_vote(jd, winner))
    votes = [order_vote(by_order[k]) for k in sorted(by_order)]
    if all(v is None for v in votes):
        # the official script counts such a pair as a tie (sum 0); its score follows --on-failure
        return {"correct": failure_value(outcome.policy.on_failure, 2), **out, "votes": votes, "sum": 0,
                "decided": False}
    total = sum(v for v in votes if v is not None)
    return {"correct": 1.0 if total > 0 else 0.0, **out, "votes": votes, "sum": total}


def _block(records: list[dict]) -> dict:
    return accuracy_block(r["result"]["correct"] for r in records)


def aggregate(records: list[dict], options: dict) -> dict:
    overall = _block(records)
    out: dict = {"score": overall["score"], "n": overall["n"],
                 "sections": {c: _block(recs) for c, recs in grouped(records, CATEGORY_ORDER).items()}}
    if "excluded" in overall:
        out["excluded"] = overall["excluded"]
    sums = Counter(r["result"].get("sum") for r in records if "sum" in r["result"])
    if sums:   # the official script's three outcomes of the two-order sum
        out["pairs"] = {"correct": sum(n for s, n in sums.items() if s > 0), "tie": sums.get(0, 0),
                        "incorrect": sum(n for s, n in sums.items() if s < 0)}
    notes = []
    ties = sum(1 for r in records if r["result"].get("scalar_tie"))
    if ties:
        notes.append(f"{ties} pairs got equal scores for A and B: decided B>A, as the official reward-model judges do")
    undecided = sum(1 for r in records if r["result"].get("decided") is False)
    if undecided:
        notes.append(f"{undecided} pairs had no decision at all and scored by --on-failure")
    if notes:
        out["notes"] = notes
    return out
