"""Soft verdicts and their calibration, from the verdict probabilities a run recorded
(``--gen logprobs=true``).

What a record may carry:

- a pairwise judgment: ``p_labels``, the probability mass on each verdict label at the verdict
  position (e.g. ``{"A": 0.8, "B": 0.15}``, summing to at most 1);
- a rating score: ``p_labels`` keyed by the rating values written as strings, and ``expected``,
  the probability-weighted rating.

Pairwise judges. Which label names the response shown first is read off the run itself: a
judgment whose sampled verdict made ``first`` the winner says its label is the first position's,
one that made ``second`` the winner names the second position's, and a ``tie`` verdict names
the tie label (a label seen in two roles makes the figures unavailable, with a note). A
judgment's soft verdict is p(first wins) = (m_first + m_tie / 2) / (m_first + m_second + m_tie),
the mass on the known labels renormalised (mass outside the verdict labels is left out). Every
judgment of a pair of a preferred and a rejected candidate that has such a mass is one binary
forecast: "the response shown first is the better one", with probability p(first wins) and
outcome y = 1 when the first is the preferred one. Both orders of a pair give both outcomes, so
the ROC AUC is defined.

Rating judges. A candidate's rating distribution is its samples' ``p_labels`` over the numeric
rating labels, renormalised and averaged over samples. For a pair of a preferred candidate p and
a rejected r, q = P(X_p > X_r) + P(X_p = X_r) / 2 with independent ratings; each pair is read
both ways, (q, y = 1) and (1 - q, y = 0), so calibration and AUC describe "P(a beats b)" as a
forecast.

Figures (``calibration``): ``n`` forecasts; ``soft_accuracy``, the mean probability put on the
right answer (the expected correctness of the soft verdict); ``brier``, the mean squared error
of the probability against y; ``ece``, the expected calibration error over 10 equal-width bins
of the probability, sum over bins of (bin size / n) * |mean probability - share of y = 1|;
``auc``, the ROC AUC of the probability against y (ties count one half); ``bins``, the
reliability diagram (per bin its bounds, count, mean probability and share of positives).
"""

from __future__ import annotations

from typing import Iterable

from rmbench.scoring import replay
from rmbench.types import OK

BINS = 10
FIRST, SECOND, TIE = "first", "second", "tie"


def forecast_metrics(items: Iterable[tuple[float, int]], bins: int = BINS) -> dict | None:
    """Soft accuracy, Brier score, ECE, ROC AUC and reliability bins of (probability, outcome)
    pairs; None without any."""
    items = [(min(1.0, max(0.0, float(p))), int(y)) for p, y in items]
    n = len(items)
    if not n:
        return None
    soft = sum(p if y else 1.0 - p for p, y in items) / n
    brier = sum((p - y) ** 2 for p, y in items) / n
    table = []
    ece = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        members = [(p, y) for p, y in items if (lo <= p < hi) or (b == bins - 1 and p == 1.0)]
        row = {"lo": lo, "hi": hi, "n": len(members), "mean_p": None, "frac_positive": None}
        if members:
            mp = sum(p for p, _ in members) / len(members)
            fy = sum(y for _, y in members) / len(members)
            row.update(mean_p=mp, frac_positive=fy)
            ece += len(members) / n * abs(mp - fy)
        table.append(row)
    return {"n": n, "soft_accuracy": soft, "brier": brier, "ece": ece, "auc": roc_auc(items), "bins": table}


def roc_auc(items: list[tuple[float, int]]) -> float | None:
    """P(a positive's probability > a negative's), ties counting one half (Mann-Whitney U with
    average ranks); None unless both outcomes occur."""
    pos = sum(1 for _, y in items if y)
    neg = len(items) - pos
    if not pos or not neg:
        return None
    order = sorted(range(len(items)), key=lambda t: items[t][0])
    ranks = [0.0] * len(items)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and items[order[end + 1]][0] == items[order[start]][0]:
            end += 1
        avg = (start + end) / 2 + 1
        for t in range(start, end + 1):
            ranks[order[t]] = avg
        start = end + 1
    rank_sum = sum(r for r, (_, y) in zip(ranks, items) if y)
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


# -- pairwise judges ----------------------------------------------------------------------------

def label_roles(records: list[dict]) -> tuple[dict[str, str] | None, str | None]:
    """Which verdict label names the first response, the second, or a tie, read off the sampled
    verdicts; (None, reason) when a label plays two roles."""
    roles: dict[str, set[str]] = {}
    for r in records:
        for p in r.get("pairs") or []:
            for d in p["judgments"]:
                label = d.get("label")
                if label is None:
                    continue
                if d.get("status") == replay.TIE:
                    role = TIE
                elif d.get("status") == OK and d.get("winner") is not None:
                    role = FIRST if d["winner"] == d["first"] else SECOND
                else:
                    continue
                roles.setdefault(str(label), set()).add(role)
    mixed = sorted(k for k, v in roles.items() if len(v) > 1)
    if mixed:
        return None, f"calibration: verdict label(s) {', '.join(mixed)} named different positions in different judgments"
    return {k: next(iter(v)) for k, v in roles.items()}, None


def p_first(p_labels: dict, roles: dict[str, str]) -> float | None:
    mass = {FIRST: 0.0, SECOND: 0.0, TIE: 0.0}
    for label, p in p_labels.items():
        role = roles.get(str(label))
        if role is not None and isinstance(p, (int, float)):
            mass[role] += float(p)
    total = sum(mass.values())
    if total <= 0:
        return None
    return (mass[FIRST] + mass[TIE] / 2) / total


def pairwise_forecasts(records: list[dict], roles: dict[str, str]) -> list[tuple[float, int]]:
    items = []
    for r in records:
        pref = replay.preferred_of(r)
        n = replay.candidate_count(r)
        if pref is None or n is None:
            continue
        pset = set(pref)
        for p in r.get("pairs") or []:
            if (p["i"] in pset) == (p["j"] in pset):
                continue          # two preferred (or two rejected) candidates: no right answer
            for d in p["judgments"]:
                pl = d.get("p_labels")
                if not isinstance(pl, dict):
                    continue
                q = p_first(pl, roles)
                if q is not None:
                    items.append((q, 1 if d["first"] in pset else 0))
    return items


# -- rating judges -------------------------------------------------------------------------------

def rating_distribution(samples: list[dict]) -> dict[float, float] | None:
    """The candidate's rating distribution: per sample the mass on numeric labels, renormalised,
    averaged over the samples that have one."""
    dists = []
    for d in samples:
        pl = d.get("p_labels")
        if not isinstance(pl, dict):
            continue
        num = {}
        for k, v in pl.items():
            try:
                num[float(k)] = num.get(float(k), 0.0) + float(v)
            except (TypeError, ValueError):
                continue
        total = sum(num.values())
        if total > 0:
            dists.append({k: v / total for k, v in num.items()})
    if not dists:
        return None
    out: dict[float, float] = {}
    for d in dists:
        for k, v in d.items():
            out[k] = out.get(k, 0.0) + v / len(dists)
    return out


def p_beats(a: dict[float, float], b: dict[float, float]) -> float:
    """P(X_a > X_b) + P(X_a = X_b) / 2 for independent ratings."""
    return sum(pa * pb * (1.0 if x > y else 0.5 if x == y else 0.0) for x, pa in a.items() for y, pb in b.items())


def rating_forecasts(records: list[dict]) -> list[tuple[float, int]]:
    items = []
    for r in records:
        scores, pref = r.get("scores"), replay.preferred_of(r)
        if scores is None or pref is None:
            continue
        dists = [rating_distribution(per) for per in scores]
        for p in pref:
            for c in range(len(scores)):
                if c in pref or dists[p] is None or dists[c] is None:
                    continue
                q = p_beats(dists[p], dists[c])
                items += [(q, 1), (1.0 - q, 0)]
    return items


def calibration(records: list[dict], roles: dict[str, str] | None = None) -> dict | None:
    """The calibration block for records that carry verdict probabilities, else None. ``roles``
    (the label roles of the whole task) may be given; otherwise they are read off ``records``."""
    if any(r.get("scores") is not None for r in records):
        out = forecast_metrics(rating_forecasts(records))
        return None if out is None else {"framing": "rating pairs, both ways", **out}
    if roles is None:
        roles, _ = label_roles(records)
        if roles is None:
            return None
    out = forecast_metrics(pairwise_forecasts(records, roles))
    return None if out is None else {"framing": "first position wins", **out}


def has_probabilities(records: list[dict]) -> bool:
    for r in records:
        for p in r.get("pairs") or []:
            if any(isinstance(d.get("p_labels"), dict) for d in p["judgments"]):
                return True
        for per in r.get("scores") or []:
            if any(isinstance(d.get("p_labels"), dict) for d in per):
                return True
    return False
