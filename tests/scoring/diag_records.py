"""Hand-made records in the shape a run writes them (records.jsonl lines), for the diagnostics
and curve tests: per-sample pairwise verdicts, ratings, verdict probabilities."""

from __future__ import annotations

from rmbench.protocol import Policy
from rmbench.seeding import item_rng

W, L, F, T = "W", "L", "F", "T"     # preferred wins, preferred loses, failed (unparsed), tie verdict


def judgment(first: int, second: int, sample: int, verdict: str, pref: int = 0, **extra) -> dict:
    """One judgment dict; ``verdict`` says whether the preferred candidate ``pref`` won."""
    other = second if first == pref else first
    if verdict == F:
        d = {"first": first, "second": second, "sample": sample, "status": "unparsed", "winner": None, "label": None}
    elif verdict == T:
        d = {"first": first, "second": second, "sample": sample, "status": "tie", "winner": None, "label": "C"}
    else:
        winner = pref if verdict == W else other
        d = {"first": first, "second": second, "sample": sample, "status": "ok", "winner": winner,
             "label": "A" if winner == first else "B"}
    d.update(extra)
    return d


def pair_record(ident: str, orders: dict[tuple[int, int], str], *, task: str = "rewardbench",
                subset: str = "alpacaeval-easy", lengths=(10, 5), unit: str = "chars", labels=None) -> dict:
    """A two-candidate pairwise record, candidate 0 preferred: ``orders[(first, second)]`` is a
    string of per-sample verdicts (``W``/``L``/``F``/``T``)."""
    js = [judgment(a, b, s, v) for (a, b), seq in orders.items() for s, v in enumerate(seq)]
    rec = {"task": task, "id": ident, "subset": subset, "result": {"correct": None}, "failures": {},
           "pairs": [{"i": 0, "j": 1, "judgments": js}], "preferred": [0],
           "lengths": {"unit": unit, "counts": list(lengths)}}
    if labels:
        rec["labels"] = dict(labels)
    return rec


def coin(seed: int, task: str, ident: str, order: tuple[int, int]) -> float:
    """The run's tie-break for an even split of votes in one order, for the preferred candidate
    asking (protocol.pair_value: a seeded draw per item and order, below 0.5 means it wins)."""
    return 1.0 if item_rng(seed, task, ident, "vote", *order).random() < 0.5 else 0.0


def policy(samples: int, orders: str = "fixed", on_failure: str = "loss", seed: int = 0) -> Policy:
    return Policy(orders=orders, samples=samples, seed=seed, on_failure=on_failure)
