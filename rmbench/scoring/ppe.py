"""PPE correctness (best-of-K): how often the answer a judge picks among a question's sampled
answers is a correct one, next to what a perfect and a random picker get; for scoring judges
also PPE's other correctness measures.

Per question (one record), from per-candidate values (a scalar model's or a rating prompt's
scores, or the values a tournament of pairwise judgments produces, rmbench/protocol/aggregate.py):

- ``correct``: the share of the top-valued answers that are correct (1 or 0 without a tie, 1/k
  for a k-way tie at the top; a failed value never counts; no value at all: the failure policy);
- ``solvable`` (at least one correct answer: the oracle pick) and ``chance`` (the share of correct
  answers: the expected value of a random pick), from the data alone;
- with a scoring judge only (the values are real scores, not tournament results):
  ``pair_hits``/``pair_n``, the pairwise accuracy over the question's ``sampled_conflict_pairs``
  (every correct/incorrect pair where the data has none; a scalar tie is a loss); ``bok``, the
  best-of-K curve: for K = 1..N the expected correctness of the judge's pick among K answers drawn
  uniformly without replacement from the N (computed exactly over all K-subsets; a tie at the top
  of a subset is shared as above); ``pearson``, the Pearson correlation of the scores with the
  correctness labels (undefined when either is constant).

With the ``pairwise`` aggregator a pairwise judge is asked the conflict pairs themselves
(``pairs``) and nothing is picked: the item carries ``pair_hits``/``pair_n`` and the score becomes
the pairwise accuracy (noted in the summary).

Summary: one section per subset (``mmlu-pro``, ``math``, ``gpqa``, ``ifeval``, ``mbpp-plus``)
with its best-of-K accuracy (micro over questions) and baselines; ``score`` and every entry of
``metrics`` are unweighted means over the subsets present (PPE reports per benchmark and their
mean; the RRM paper averages MMLU-Pro, MATH and GPQA: ``--task-args subsets=mmlu-pro+math+gpqa``).
"""

from __future__ import annotations

from math import comb

import numpy as np

from rmbench.contracts import failure_value
from rmbench.scoring.common import accuracy_block, grouped, mean

SUBSET_ORDER = ("mmlu-pro", "math", "gpqa", "ifeval", "mbpp-plus")


def pairs(example) -> list[tuple[int, int]]:
    """The pairs a pairwise judge is asked when nothing is aggregated: the question's sampled
    conflict pairs (correct answer first), or every correct/incorrect pair when it has none."""
    conflict = example.meta.get("conflict_pairs")
    if conflict is not None:
        return [(int(i), int(j)) for i, j in conflict]
    return [(p, r) for p in example.preferred for r in example.rejected]


def best_of_k_curve(scores: list[float], correct: list[bool]) -> list[float]:
    """E[correctness of the top-scored answer among K drawn uniformly from the N], K = 1..N.

    The top of a K-subset lies in one score level L when the subset holds none of the answers
    scored above L and at least one scored L: P = (C(n - above, K) - C(n - above - size, K)) / C(n, K).
    By symmetry the answers of L it holds are a uniform draw from L, so the expected share of
    correct ones among them (the tie rule) is L's share of correct answers."""
    n = len(scores)
    levels: dict[float, list[bool]] = {}
    for s, c in zip(scores, correct):
        levels.setdefault(s, []).append(c)
    ordered = [levels[s] for s in sorted(levels, reverse=True)]
    curve = []
    for k in range(1, n + 1):
        total, above, value = comb(n, k), 0, 0.0
        for members in ordered:
            size = len(members)
            p = (comb(n - above, k) - comb(n - above - size, k)) / total
            value += p * sum(members) / size
            above += size
        curve.append(value)
    return curve


def pearson(x: list[float], y: list[float]) -> float | None:
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx <= 0 or syy <= 0:
        return None
    return sxy / (sxx * syy) ** 0.5


def _pick(example, outcome) -> float | None:
    preferred = set(example.preferred)
    scores = [outcome.score_of(i) for i in range(len(example.candidates))]
    present = [s for s in scores if s is not None]
    if not present:
        return failure_value(outcome.policy.on_failure, len(example.candidates))
    high = max(present)
    top = [i for i, s in enumerate(scores) if s is not None and s == high]
    return sum(1 for i in top if i in preferred) / len(top)


def _pair_counts(example, outcome) -> dict:
    values = [outcome.beats(i, j) for i, j in pairs(example)]
    kept = [v for v in values if v is not None]
    out = {"pair_hits": float(sum(kept)), "pair_n": len(kept)}
    if len(kept) < len(values):
        out["pair_excluded"] = len(values) - len(kept)
    return out


def example_result(example, outcome) -> dict:
    n, preferred = len(example.candidates), set(example.preferred)
    out: dict = {"n": n, "n_correct": len(preferred), "solvable": 1.0 if preferred else 0.0,
                 "chance": len(preferred) / n}
    if "responses" in example.meta:       # the k answers kept (response_<number>) out of "of"
        out["responses"] = list(example.meta["responses"])
        out["of"] = example.meta.get("of")
    if outcome.scores is None:            # the pairwise reading: the conflict pairs, nothing picked
        counts = _pair_counts(example, outcome)
        correct = counts["pair_hits"] / counts["pair_n"] if counts["pair_n"] else None
        return {"correct": correct, **out, **counts, "pairwise": True}
    out["correct"] = _pick(example, outcome)
    if outcome.judgments:                 # tournament values (rounds, ratings), not scores
        return out
    out.update(_pair_counts(example, outcome))
    scores = [outcome.score_of(i) for i in range(n)]
    if all(s is not None for s in scores):
        flags = [i in preferred for i in range(n)]
        out["bok"] = best_of_k_curve(scores, flags)
        out["pearson"] = pearson(scores, [float(f) for f in flags])
    return out


def _mean_curve(curves: list[list[float]]) -> list[float]:
    """The mean curve at each K over the items that have that many answers."""
    by_len: dict[int, list[list[float]]] = {}
    for c in curves:
        by_len.setdefault(len(c), []).append(c)
    width = max(by_len)
    total, count = np.zeros(width), np.zeros(width)
    for length, group in by_len.items():
        total[:length] += np.asarray(group, dtype=float).sum(axis=0)
        count[:length] += len(group)
    return [float(v) for v in total / count]


def _block(records: list[dict]) -> dict:
    res = [r["result"] for r in records]
    pairwise = any(x.get("pairwise") for x in res)
    hits = sum(x.get("pair_hits", 0.0) for x in res)
    pair_n = sum(x.get("pair_n", 0) for x in res)
    pair_acc = hits / pair_n if pair_n else None
    if pairwise:
        block: dict = {"score": pair_acc, "n": len(res), "pairs": pair_n}
        excluded = sum(x.get("pair_excluded", 0) for x in res)
        if excluded:
            block["excluded_pairs"] = excluded
        return block
    block = accuracy_block((x["correct"] for x in res), oracle=mean(x["solvable"] for x in res),
                           random=mean(x["chance"] for x in res), candidates=mean(x["n"] for x in res))
    if any("pair_n" in x for x in res):
        block["pairwise_accuracy"] = pair_acc
        block["pairs"] = pair_n
    curves = [x["bok"] for x in res if x.get("bok")]
    if curves:
        curve = _mean_curve(curves)
        best = max(range(len(curve)), key=lambda i: (curve[i], -i))
        block["best_of_k"] = {"max": curve[best], "max_at_k": best + 1, "curve": curve}
    rs = [x["pearson"] for x in res if x.get("pearson") is not None]
    if rs:
        block["row_pearson"] = mean(rs)
        block["row_pearson_n"] = len(rs)
    return block


def aggregate(records: list[dict], options: dict) -> dict:
    sections = {s: _block(recs) for s, recs in grouped(records, SUBSET_ORDER).items()}
    out: dict = {"score": mean(sec["score"] for sec in sections.values()),
                 "n": sum(sec["n"] for sec in sections.values())}
    pairwise = any(r["result"].get("pairwise") for r in records)
    if pairwise:
        out["notes"] = ["pairwise reading: nothing was picked; the score is PPE's pairwise accuracy over each "
                        "question's sampled conflict pairs (use a tournament aggregator or a scoring judge for "
                        "best-of-K picks)"]
    else:
        metrics = {"oracle": mean(sec["oracle"] for sec in sections.values()),
                   "random": mean(sec["random"] for sec in sections.values())}
        for key in ("pairwise_accuracy", "row_pearson"):
            vals = [sec.get(key) for sec in sections.values() if sec.get(key) is not None]
            if vals:
                metrics[key] = mean(vals)
        maxes = [sec["best_of_k"]["max"] for sec in sections.values() if "best_of_k" in sec]
        if maxes:
            metrics["best_of_k_max"] = mean(maxes)
        out["metrics"] = metrics
        out["candidates_per_item"] = mean(r["result"]["n"] for r in records)
        excluded = sum(sec.get("excluded", 0) for sec in sections.values())
        if excluded:
            out["excluded"] = excluded
    subsampled = [r["result"] for r in records if "responses" in r["result"]]
    if subsampled:
        out["subsample"] = {"k": max(len(x["responses"]) for x in subsampled), "questions": len(subsampled)}
    out["sections"] = sections
    return out
