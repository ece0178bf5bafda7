"""Judge-behaviour figures that every task reports beside its official metric: failure counts
by status, tie rates and, for pairwise and listwise judges, position bias."""

from __future__ import annotations

from rmbench.contracts import BY_MATCHES, ranked_by
from rmbench.scoring import replay
from rmbench.types import OK, TIE


def tie_rates(records: list[dict]) -> dict:
    """Ties are verdicts, not failures, so they are reported apart: ``tie_verdicts`` (pairwise and
    listwise judgments whose verdict was the template's tie label, out of all judgments that gave
    a verdict) and ``equal_scores`` (pairs a scorer compared whose two scores were equal, from
    each pointwise record's ``ties`` block)."""
    verdicts = ties = 0
    compared = equal = 0
    for r in records:
        for p in r.get("pairs") or []:
            for jd in p["judgments"]:
                if jd["status"] in (OK, TIE):
                    verdicts += 1
                    ties += jd["status"] == TIE
        for pk in r.get("picks") or []:
            if pk["status"] in (OK, TIE):
                verdicts += 1
                ties += pk["status"] == TIE
        block = r.get("ties")
        if isinstance(block, dict):
            compared += int(block.get("compared") or 0)
            equal += int(block.get("equal") or 0)
    out: dict = {}
    if verdicts:
        out["tie_verdicts"] = {"n": ties, "of": verdicts, "rate": ties / verdicts}
    if compared:
        out["equal_scores"] = {"n": equal, "of": compared, "rate": equal / compared}
    return out


def pick_positions(records: list[dict]) -> dict | None:
    """Listwise judges: how often each shown position was named, over the picks that named one
    (with an unbiased judge and shuffled candidates, about 1/N each)."""
    counts: list[int] = []
    total = 0
    for r in records:
        for pk in r.get("picks") or []:
            if pk["status"] != OK or pk.get("winner") is None:
                continue
            pos = pk["order"].index(pk["winner"])
            counts += [0] * (pos + 1 - len(counts))
            counts[pos] += 1
            total += 1
    if not total:
        return None
    return {"picks_ok": total, "position_share": [c / total for c in counts]}


def failure_counts(records: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in records:
        for status, n in (r.get("failures") or {}).items():
            out[status] = out.get(status, 0) + n
    return dict(sorted(out.items()))


def position_bias(records: list[dict]) -> dict | None:
    """From pairwise records: first-position preference over ok judgments, and for pairs judged
    in both orders the consistency rate (both orders name the same winner) and the
    order-consistent accuracy (both orders name the preferred candidate: ``i``, or, when the
    record's result lists ``preferred`` candidates, one of those; a pair whose two candidates are
    both preferred or both not, such as a tie, says nothing about accuracy)."""
    ok_total = first_wins = 0
    both = consistent = consistent_correct = both_scored = 0
    for r in records:
        # tournament matches may set two preferred (or two rejected) candidates against each
        # other, so they say nothing about order-consistent accuracy
        in_tournament = ranked_by(r) == BY_MATCHES
        listed = replay.preferred_of(r)
        for p in r.get("pairs") or []:
            i = p["i"]
            preferred = {i} if listed is None else set(listed)
            decisive = (i in preferred) != (p["j"] in preferred)
            per_order: dict[tuple[int, int], list[int]] = {}
            for jd in p["judgments"]:
                if jd["status"] != OK:
                    continue
                ok_total += 1
                first_wins += jd["winner"] == jd["first"]
                per_order.setdefault((jd["first"], jd["second"]), []).append(jd["winner"])
            if len(per_order) == 2:
                winners = []
                for ws in per_order.values():
                    top = max(set(ws), key=ws.count)
                    winners.append(top if ws.count(top) * 2 > len(ws) else None)
                both += 1
                scored = decisive and not in_tournament
                if winners[0] is not None and winners[0] == winners[1]:
                    consistent += 1
                    consistent_correct += winners[0] in preferred and scored
                both_scored += scored
    if ok_total == 0 and both == 0:
        return pick_positions(records)
    out = {"judgments_ok": ok_total, "first_position_preference": first_wins / ok_total if ok_total else None}
    if both:
        out.update({"pairs_both_orders": both, "consistency_rate": consistent / both,
                    "order_consistent_accuracy": consistent_correct / both_scored if both_scored else None})
    return out
