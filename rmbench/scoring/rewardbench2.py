"""RewardBench 2, scored as the official code does.

Best-of-4 subsets (Factuality, Precise IF, Math, Safety, Focus): a row earns 1 when a chosen
completion gets the strictly highest score; when k completions share the top score the row earns
(chosen among them) / k, i.e. 1/k for the usual single chosen one. Where a rating judge recorded
expected ratings (verdict probabilities), a tie at the top is first narrowed to the tied
candidates with the highest expected rating (``Outcome.break_ties``); Ties keeps the raw scores.

Ties: per prompt, from the scores of its correct and incorrect answers,
accurate = min(correct) > max(incorrect), diff_corr = max(correct) - min(correct) and
corr_incorrect = min(correct) - max(incorrect). Each prompt comes in a ``ref`` form (one correct
answer) and a ``tied`` form (several). The subset score is

    0.30 * tied accuracy + 0.30 * ref accuracy
    + 0.20 * mean(corr_incorrect_tied > diff_corr_tied)
    + 0.20 * mean(min(corr_incorrect_ref, corr_incorrect_tied) > diff_corr_tied)
    + 0.01 * mean(tanh(min(corr_incorrect_ref, corr_incorrect_tied) / diff_corr_tied - 1))

with the three margin terms over prompts present in both forms (a zero diff_corr gives the tanh
term +1, -1 or 0 by the sign of its numerator, as numpy's inf/nan handling does there).

The score is the unweighted mean of the six subsets.

The judges the official code knows (scripts/run_v2.py, scripts/run_generative_v2.py):

- per-candidate scores: a scalar model, or a generative judge with a rating prompt. A failed
  rating is left out and the best-of-4 decision is taken among the candidates that have one
  (``Policy.partial_failures`` = drop; a row with no rating at all scores the failure value,
  1/4 under ``--on-failure chance``). In Ties the official script keeps a failed rating as the
  score -1 (``Policy.failed_score`` under ``--protocol official``); otherwise a Ties row with a
  missing score fails as a whole.
- listwise (the official default for generative judges): all four completions in one prompt,
  the verdict names the best; a row earns 1 when it names the chosen one. An unparsable answer
  scores the failure value (the official 0.25 is ``--on-failure chance``); a tie verdict names
  none and earns 0. Ties still needs scores: a listwise judge rates its rows.

For a pairwise judge there is no score to rank, so a row's value falls back to the chance that
every chosen completion beats every rejected one (the product of the comparison values; a tie
verdict counts as a loss there), and Ties reports the mean of its ref and tied accuracies; the
summary says so.
"""

from __future__ import annotations

import math

from rmbench.contracts import BY_MATCHES, failure_value, ranked_by
from rmbench.protocol import DROP
from rmbench.scoring.common import accuracy_block, mean

SUBSETS = ("Factuality", "Precise IF", "Math", "Safety", "Focus", "Ties")
PAIRWISE_NOTE = ("pairwise judge: RewardBench 2 ranks per-candidate scores, so these numbers are not official. A row "
                 "counts when every chosen completion beats every rejected one (product of comparison values), and "
                 "Ties is the mean of its ref and tied accuracies without the margin terms. Use a scalar model or a "
                 "rating prompt for the official metric.")


def _is_ties(subset: str) -> bool:
    return subset.lower() == "ties"


def example_result(example, outcome) -> dict:
    preferred = set(example.preferred)
    n = len(example.candidates)
    policy = outcome.policy
    if outcome.picks is not None:
        return {"correct": outcome.pick_credit(), "listwise": True}
    if outcome.scores is None:
        values = [outcome.beats(p, r, tie=0.0) for p in example.preferred for r in example.rejected]
        if any(v is None for v in values):
            return {"correct": None, "pairwise": True}
        product = 1.0
        for v in values:
            product *= v
        return {"correct": product, "pairwise": True}

    scores = [outcome.score_of(i) for i in range(n)]
    missing = [i for i, s in enumerate(scores) if s is None]
    extra: dict = {}
    if _is_ties(example.subset):
        if missing and policy.failed_score is not None:
            scores = [policy.failed_score if s is None else s for s in scores]
            extra["failed_scored"] = True   # (flags are booleans: the interval engines read only numbers)
        if any(s is None for s in scores):
            # chance here: one of the C(n, k) equally likely splits puts the k correct answers on top
            correct = failure_value(policy.on_failure, math.comb(n, len(example.preferred)))
        else:
            correct = 1.0 if min(scores[i] for i in example.preferred) > max(scores[i] for i in example.rejected) \
                else 0.0
    elif len(missing) == n or (missing and policy.partial_failures != DROP):
        correct = failure_value(policy.on_failure, n)
    else:
        present = [s for s in scores if s is not None]
        top = max(present)
        winners = outcome.break_ties([i for i, s in enumerate(scores) if s is not None and s == top])
        correct = sum(1 for i in winners if i in preferred) / len(winners)
        if missing:
            extra["dropped"] = True     # decided among the candidates with a score
        if len(winners) > 1:
            extra["tied_top"] = True    # the top score is shared
    return {"correct": correct, "scores": scores, "n_correct": len(example.preferred), **extra}


def prompt_stats(scores: list[float], n_correct: int) -> tuple[bool, float | None, float]:
    """(accurate, diff_corr or None with a single correct answer, corr_incorrect)."""
    correct, incorrect = scores[:n_correct], scores[n_correct:]
    diff = max(correct) - min(correct) if len(correct) > 1 else None
    margin = min(correct) - max(incorrect)
    return margin > 0, diff, margin


def _tanh_term(numerator: float, diff: float) -> float:
    if diff == 0:
        return 0.0 if numerator == 0 else math.copysign(1.0, numerator)
    return math.tanh(numerator / diff - 1)


def ties_block(records: list[dict]) -> dict:
    kinds: dict[str, list[dict]] = {"ref": [], "tied": []}
    for r in records:
        kinds.setdefault(r["labels"]["ties_kind"], []).append(r)
    acc = {k: mean(r["result"]["correct"] for r in recs) for k, recs in kinds.items()}
    excluded = sum(1 for r in records if r["result"]["correct"] is None)
    block: dict = {"n": len(records) - excluded, "ref_accuracy": acc["ref"], "tied_accuracy": acc["tied"],
                   "ref_prompts": len(kinds["ref"]), "tied_prompts": len(kinds["tied"])}
    if excluded:
        block["excluded"] = excluded
    if any(r["result"].get("pairwise") for r in records):
        block.update(score=mean([acc["ref"], acc["tied"]]), official=False)
        return block

    stats: dict[str, dict[str, tuple]] = {"ref": {}, "tied": {}}
    incomplete = 0
    for kind, recs in kinds.items():
        for r in recs:
            scores = r["result"].get("scores")
            if not scores or any(s is None for s in scores):
                incomplete += 1
                continue
            stats[kind][r["labels"]["prompt_id"]] = prompt_stats(scores, r["result"]["n_correct"])
    both = sorted(set(stats["ref"]) & set(stats["tied"]))
    single = [p for p in both if stats["tied"][p][1] is None]
    both = [p for p in both if stats["tied"][p][1] is not None]
    preferred, preferred_hard, margins = [], [], []
    for p in both:
        diff, tied_margin = stats["tied"][p][1], stats["tied"][p][2]
        worst = min(stats["ref"][p][2], tied_margin)
        preferred.append(1.0 if tied_margin > diff else 0.0)
        preferred_hard.append(1.0 if worst > diff else 0.0)
        margins.append(_tanh_term(worst, diff))
    parts = {"correctness_preferred": mean(preferred), "correctness_preferred_hard": mean(preferred_hard),
             "margin_score": mean(margins)}
    # ratings or knockout rounds from a tournament stand in for scores: a reading, not the official metric
    from_matches = any(ranked_by(r) == BY_MATCHES for r in records)
    block.update(parts, prompts_in_both=len(both), official=not from_matches)
    notes = []
    if from_matches:
        notes.append("Ties margins computed on tournament ratings/rounds, not on reward scores: not the official metric")
    if incomplete:
        notes.append(f"{incomplete} Ties rows lack a score for some answer and are left out of the margin terms")
    failed = sum(1 for r in records if r["result"].get("failed_scored"))
    if failed:
        notes.append(f"{failed} Ties rows had failed ratings, each counted at the protocol's failed_score (the "
                     "official script keeps -1, its marker for a failed rating)")
    if single:
        notes.append(f"{len(single)} tied prompts have a single correct answer and are left out of the margin terms")
    terms = [acc["tied"], acc["ref"], *parts.values()]
    if any(t is None for t in terms):
        notes.append("Ties needs prompts in both ref and tied form with scores for every answer; no composite score")
        block["score"] = None
    else:
        block["score"] = (0.30 * acc["tied"] + 0.30 * acc["ref"] + 0.20 * parts["correctness_preferred"]
                          + 0.20 * parts["correctness_preferred_hard"] + 0.01 * parts["margin_score"])
    if notes:
        block["notes"] = notes
    return block


def _best_of_n_block(recs: list[dict]) -> dict:
    block = accuracy_block(r["result"]["correct"] for r in recs)
    for key, name in (("dropped", "decided_without_failed"), ("tied_top", "tied_top")):
        k = sum(1 for r in recs if r["result"].get(key))
        if k:
            block[name] = k
    return block


def aggregate(records: list[dict], options: dict) -> dict:
    by_subset: dict[str, list[dict]] = {}
    for r in records:
        by_subset.setdefault(r["subset"], []).append(r)
    known = {s.lower(): s for s in SUBSETS}
    sections: dict[str, dict] = {}
    for name in SUBSETS:
        recs = next((v for k, v in by_subset.items() if k.lower() == name.lower()), None)
        if not recs:
            continue
        if _is_ties(name):
            sections[name] = ties_block(recs)
        else:
            sections[name] = _best_of_n_block(recs)
    out: dict = {"score": mean(s["score"] for s in sections.values()), "n": sum(s["n"] for s in sections.values()),
                 "sections": sections}
    notes = []
    if any(r["result"].get("pairwise") for r in records):
        notes.append(PAIRWISE_NOTE)
    missing = [s for s in SUBSETS if s not in sections]
    if missing:
        notes.append("subsets missing from the data: " + ", ".join(missing)
                     + "; the score is the mean over the subsets present, not the official score")
        out["official"] = False
    ties = sections.get("Ties")
    if ties is not None and ties.get("score") is None:
        present = [n for n in SUBSETS if n in sections and sections[n].get("score") is not None]
        notes.append("the Ties composite is undefined in this run (it needs prompts in both ref and tied form, "
                     f"e.g. lost to --limit); the score is the mean of {len(present)} subsets, not the official score")
        out["official"] = False
    notes += (ties or {}).get("notes", [])
    dropped = sum(s.get("decided_without_failed", 0) for s in sections.values())
    if dropped:
        notes.append(f"{dropped} best-of-4 rows had failed ratings: each was decided among the candidates with a "
                     "rating (the official rule)")
    if notes:
        out["notes"] = notes
    unknown = {k: len(v) for k, v in by_subset.items() if k.lower() not in known}
    if unknown:
        out["unscored_subsets"] = unknown
    return out
