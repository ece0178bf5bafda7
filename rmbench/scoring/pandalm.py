"""PandaLM test set, scored as the PandaLM authors score it: accuracy and macro precision, recall
and F1 of a three-way label (1 = response 1 better, 2 = response 2 better, 0 = tie) against the
annotators' majority.

The authors' figures (README table, gpt-3.5-turbo 71.07 / 58.79 / 57.36 / 57.55 and PandaLM-7B
66.77 / 57.38 / 57.50 / 57.43 for accuracy / precision / recall / F1, from the predictions they
publish in ``data/*-testset-v1.json``) are reproduced exactly by:

- macro averaging in scikit-learn's way: precision, recall and F1 per class, then their plain mean;
  the classes are those that occur among the gold labels or the predictions, and a class never
  predicted has precision 0 (a class with no gold items recall 0), so F1 0;
- a verdict that could not be read counting as a tie prediction: PandaLM's own parser
  (``pandalm/utils/pandalm_inference.py``, ``parse_pandalm_response``) maps anything but "1"/"2"
  to 0, and the published gpt-3.5 figures need its 25 "garbage" outputs counted as ties.

So a judge that cannot say "tie" still faces the 105 tie items: it never predicts class 0, whose
precision, recall and F1 are 0, which caps its macro F1 at 2/3 (its accuracy at 894/999). Option
``unparsed_as_tie: false`` instead leaves failed verdicts to ``--on-failure`` (loss: a wrong
prediction of no class, which lowers accuracy and its gold class's recall; half: accuracy credit
0.5, otherwise as loss; exclude: the item is left out). ``decisive_accuracy`` (rmbench's own) is
the accuracy over the items whose gold label is not a tie.

How a judge's answers become one prediction per item:

- a pairwise judge: each judgment votes +1 (response 1 won), -1 (response 2 won) or 0 (a tie
  verdict, ``status == "tie"``; or a failure read as a tie). Per order the samples' plurality vote
  (0 when no vote has a plurality); the orders' votes summed, > 0 -> 1, < 0 -> 2, 0 -> tie. With
  one order (``--orders fixed``: response 1 shown first, as the authors ran their judges) that is
  the verdict itself; with both orders (rmbench's default) agreement keeps the verdict, a
  preference against a tie keeps the preference, and two opposite preferences make a tie (the same
  combination JudgeBench uses, see rmbench/scoring/judgebench.py);
- a scoring judge: response 1's score above response 2's -> 1, below -> 2, equal -> tie.
"""

from __future__ import annotations

from rmbench.contracts import EXCLUDE, HALF
from rmbench.scoring.common import mean
from rmbench.scoring.judgebench import order_vote
from rmbench.types import OK, TIE

CLASSES = (0, 1, 2)
CLASS_NAMES = {0: "tie", 1: "response 1", 2: "response 2"}
NO_CLASS = -1        # a failed prediction under --on-failure loss/half: wrong, and no class's prediction


def pairs(example) -> list[tuple[int, int]]:
    """Response 1 against response 2, response 1 shown first in a single order."""
    return [(0, 1)]


def _vote(jd, as_tie: bool) -> int | None:
    if jd.status == OK:
        return 1 if jd.winner == 0 else -1
    if jd.status == TIE or as_tie:
        return 0
    return None


def combine_votes(votes_by_order: list[list[int | None]]) -> int | None:
    """Votes per order (one per sample; None for a failure left to the policy) -> the predicted
    class, or None when no order has a vote. Each order votes its samples' plurality (0 without
    one), as JudgeBench's scorer does, and the orders' votes are summed."""
    votes = [order_vote(v) for v in votes_by_order]
    if all(v is None for v in votes):
        return None
    total = sum(v for v in votes if v is not None)
    return 1 if total > 0 else 2 if total < 0 else 0


def predict(outcome, as_tie: bool) -> int | None:
    if outcome.scores is not None:
        s1, s2 = outcome.score_of(0), outcome.score_of(1)
        if s1 is None or s2 is None:
            return 0 if as_tie else None
        return 1 if s1 > s2 else 2 if s1 < s2 else 0
    by_order: dict[tuple[int, int], list[int | None]] = {}
    for js in outcome.judgments.values():
        for jd in js:
            by_order.setdefault((jd.first, jd.second), []).append(_vote(jd, as_tie))
    return combine_votes([by_order[k] for k in sorted(by_order)])


def example_result(example, outcome) -> dict:
    gold = int(example.meta["gold"])
    as_tie = bool(example.meta.get("unparsed_as_tie", True))   # the task option, set by the schema
    pred = predict(outcome, as_tie)
    out = {"gold": gold, "annotators": list(example.meta.get("annotators") or []),
           "preferred": list(example.preferred)}
    if pred is not None:
        return {"correct": 1.0 if pred == gold else 0.0, "pred": pred, **out}
    policy = outcome.policy.on_failure
    if policy == EXCLUDE:
        return {"correct": None, "pred": None, **out}
    return {"correct": 0.5 if policy == HALF else 0.0, "pred": NO_CLASS, **out}


def class_table(golds: list[int], preds: list[int]) -> dict[int, dict]:
    """Per class: precision, recall, F1 and support, scikit-learn style (0 where undefined), over
    the classes present among the gold labels or the predictions."""
    present = [c for c in CLASSES if c in golds or c in preds]
    table = {}
    for c in present:
        tp = sum(1 for g, p in zip(golds, preds) if g == c and p == c)
        predicted = sum(1 for p in preds if p == c)
        support = sum(1 for g in golds if g == c)
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        table[c] = {"precision": precision, "recall": recall, "f1": f1, "support": support, "predicted": predicted}
    return table


def aggregate(records: list[dict], options: dict) -> dict:
    kept = [r["result"] for r in records if r["result"].get("pred") is not None]
    golds = [x["gold"] for x in kept]
    preds = [x["pred"] for x in kept]
    table = class_table(golds, preds)
    precision = mean(t["precision"] for t in table.values())
    recall = mean(t["recall"] for t in table.values())
    f1 = mean(t["f1"] for t in table.values())
    accuracy = mean(x["correct"] for x in kept)
    decisive = [x["correct"] for x in kept if x["gold"] != 0]
    metrics = {"accuracy": accuracy, "precision": precision, "recall": recall, "f1": f1,
               "decisive_accuracy": mean(decisive),
               "tie_rate": (sum(1 for p in preds if p == 0) / len(preds)) if preds else None}
    out: dict = {"score": f1, "n": len(kept), "metrics": metrics,
                 "sections": {CLASS_NAMES[c]: {"score": t["f1"], "n": t["support"], **t} for c, t in table.items()}}
    excluded = len(records) - len(kept)
    if excluded:
        out["excluded"] = excluded
    failed = sum(1 for p in preds if p == NO_CLASS)
    if failed:
        out["notes"] = [f"{failed} items had no readable verdict and count as wrong predictions of no class "
                        "(--on-failure; the authors' rule, unparsed_as_tie, reads them as ties)"]
    if kept and not any(p == 0 for p in preds) and 0 in golds:
        out.setdefault("notes", []).append(
            "the judge never predicted a tie: the tie class scores precision, recall and F1 0 in the macro "
            "averages, as in the authors' scoring (decisive_accuracy leaves the tie items out)")
    return out
