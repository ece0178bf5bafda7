"""How a judge's accuracy depends on length, position, sampling and compute, from a run's records.

``task_diagnostics`` is the one call ``runner.summarize`` makes per task. It returns two summary
keys, both recomputed by ``rmbench rescore`` since they read nothing but the records:

- ``compute_curves``: ``{"votes": {section or "all": [{k, accuracy, ci}]}, "candidates":
  [{aggregator, n, accuracy, judge_calls, ...}], "notes": [...]}`` (see ``scoring.curves``),
  present when the run has samples to vote over or round-robin items to replay;
- ``diagnostics``: the figures below for the whole task, and the same per section under
  ``sections`` (a record's section is the one the task's own ``aggregate`` puts it in).

Figures (each left out where it does not apply):

- ``length_bias``: over every (preferred, rejected) pair that has a value, the pair's value as
  the run's rule gives it (``Outcome.beats``: a score comparison, or the pair's judgments folded
  over samples and orders; a tie verdict is worth what the protocol makes it), split by whether
  the preferred response is the longer or the shorter one: ``accuracy_longer_preferred``,
  ``accuracy_shorter_preferred``, their ``difference`` (longer - shorter: positive when the judge
  does better where the right answer is also the longer one) and ``length_controlled_accuracy``,
  their mean (what the judge would score on data where the preferred response is longer half the
  time). Pairs of equal length are counted apart (``n_equal_length``). Lengths are tokens of the
  judge's own tokenizer when it has one (local models), else characters: ``unit`` says which.
- ``position_bias`` (per section; the task's is in ``judging``): see ``scoring.judging``.
- ``self_consistency`` (``--samples K > 1``): per request (a pair in one order, or one candidate's
  rating) the verdicts of its samples that did not fail; ``all_agree`` is the share of requests
  with at least two such verdicts that all name the same winner (a tie verdict is a verdict of
  its own, so a tie and a win disagree), ``mean_agreement`` the mean share of a request's
  verdicts that agree with its most common one, ``with_failures`` the requests where some sample
  failed (their remaining verdicts are still compared).
- ``verdict_ties``: for judges that may answer "tie", how many judgments did, and their share of
  the judgments with a verdict (a tie is not a failure).
- ``ratings`` (rating judges): the distribution of the ratings given (all samples), their mean,
  and over (preferred, rejected) pairs the ``tie_rate`` (equal mean ratings) and, where the run
  recorded expected ratings, ``tie_rate_after_expected`` (ties the expected ratings could not
  break: the protocol breaks a tie in sampled ratings by the expected ones).
- ``calibration``: soft-verdict figures where verdict probabilities were recorded (see
  ``scoring.calibration``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable

from rmbench.contracts import POINTWISE
from rmbench.protocol import Policy
from rmbench.scoring import calibration as calib
from rmbench.scoring import curves, replay
from rmbench.scoring.intervals import stratum_of
from rmbench.scoring.judging import position_bias
from rmbench.types import OK, Example

TOKENS, CHARS = "tokens", "chars"


# -- what the runner adds to each record ----------------------------------------------------------

def token_counter(tokenizer: Any) -> Callable[[str], int] | None:
    """A token counter from a Hugging Face style tokenizer (``tokenizer(text)["input_ids"]``)."""
    if tokenizer is None or not callable(tokenizer):
        return None

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    return count


def record_facts(example: Example, tokenizer: Any = None) -> dict:
    """The record keys the diagnostics read: ``preferred`` (list of int) and ``lengths``
    (``{"unit": "tokens" | "chars", "counts": [int per candidate]}``), tokens when the judge has
    a tokenizer, else characters."""
    counter = token_counter(tokenizer)
    counts = None
    if counter is not None:
        try:
            counts = [int(counter(c)) for c in example.candidates]
        except Exception:    # a tokenizer that cannot take plain text: fall back to characters
            counts = None
    unit = TOKENS if counts is not None else CHARS
    if counts is None:
        counts = [len(c) for c in example.candidates]
    return {replay.PREFERRED: list(example.preferred), replay.LENGTHS: {"unit": unit, "counts": counts}}


# -- sections --------------------------------------------------------------------------------------

def sections_of(records: list[dict], aggregate, options: dict) -> dict[str, list[dict]]:
    """Records grouped by the section the task's ``aggregate`` puts them in (found by scoring one
    record of each stratum on its own); records of no single section are left out."""
    where: dict[tuple, str | None] = {}
    out: dict[str, list[dict]] = {}
    for r in records:
        key = stratum_of(r)
        if key not in where:
            try:
                names = list((aggregate([r], options).get("sections") or {}))
            except Exception:
                names = []
            where[key] = names[0] if len(names) == 1 else None
        if where[key] is not None:
            out.setdefault(where[key], []).append(r)
    return out


# -- the figures -----------------------------------------------------------------------------------

def _replayed(records: list[dict], policy: Policy):
    for r in records:
        ex = replay.stub_example(r)
        if ex is not None:
            yield r, ex, replay.outcome_of(r, ex, policy)


def _rate(hits: list[float]) -> float | None:
    return sum(hits) / len(hits) if hits else None


def length_sides(record: dict, policy: Policy) -> list[tuple[str, float]] | None:
    """(side, value) of every (preferred, rejected) pair of a record that has a value: side is
    ``longer``, ``shorter`` or ``equal`` (the preferred response against the rejected one)."""
    counts = (record.get(replay.LENGTHS) or {}).get("counts")
    ex = replay.stub_example(record)
    if ex is None or not isinstance(counts, list) or len(counts) != len(ex.candidates):
        return None
    outcome = replay.outcome_of(record, ex, policy)
    out = []
    for p, q in replay.scoring_pairs(ex):
        try:
            v = outcome.beats(p, q)
        except KeyError:        # a tournament that never set these two against each other
            continue
        if v is not None:
            out.append(("longer" if counts[p] > counts[q] else "shorter" if counts[p] < counts[q] else "equal", v))
    return out


def length_bias(records: list[dict], policy: Policy, sides: dict[int, list] | None = None
                ) -> tuple[dict | None, str | None]:
    """The ``length_bias`` block (see the module docstring) and a note when it cannot be had.
    ``sides`` may hold ``length_sides`` per record (keyed by ``id(record)``) already."""
    if not records:
        return None, None
    units = {(r.get(replay.LENGTHS) or {}).get("unit") for r in records}
    if None in units:
        return None, "length bias: records lack candidate lengths (written by an older rmbench)"
    if len(units) > 1:
        return None, "length bias: records mix length units (" + ", ".join(sorted(units)) + ")"
    buckets: dict[str, list[float]] = {"longer": [], "shorter": [], "equal": []}
    for r in records:
        got = sides[id(r)] if sides is not None and id(r) in sides else length_sides(r, policy)
        for side, v in got or ():
            buckets[side].append(v)
    if not any(buckets.values()):
        return None, None
    longer, shorter = _rate(buckets["longer"]), _rate(buckets["shorter"])
    both = longer is not None and shorter is not None
    return {"unit": units.pop(), "accuracy_longer_preferred": longer, "n_longer_preferred": len(buckets["longer"]),
            "accuracy_shorter_preferred": shorter, "n_shorter_preferred": len(buckets["shorter"]),
            "difference": longer - shorter if both else None,
            "length_controlled_accuracy": (longer + shorter) / 2 if both else None,
            "accuracy_equal_length": _rate(buckets["equal"]), "n_equal_length": len(buckets["equal"])}, None


def _verdict(d: dict) -> Any:
    if d.get("status") == replay.TIE:
        return replay.TIE
    if d.get("status") == OK:
        return d.get("winner") if "winner" in d else d.get("value")
    return None


def self_consistency(records: list[dict]) -> dict | None:
    requests: list[list[dict]] = []
    for r in records:
        for p in r.get("pairs") or []:
            by_order: dict[tuple, list[dict]] = {}
            for d in p["judgments"]:
                by_order.setdefault((d["first"], d["second"]), []).append(d)
            requests += by_order.values()
        for per in r.get("scores") or []:
            requests.append([{**d, "winner": d.get("value")} for d in per])
    agree, shares, with_failures = [], [], 0
    for req in requests:
        if len(req) < 2:
            continue
        verdicts = [_verdict(d) for d in req]
        ok = [v for v in verdicts if v is not None]
        with_failures += len(ok) < len(verdicts)
        if len(ok) < 2:
            continue
        top = Counter(ok).most_common(1)[0][1]
        agree.append(1.0 if top == len(ok) else 0.0)
        shares.append(top / len(ok))
    if not agree:
        return None
    unit = "rating" if any(r.get("scores") is not None for r in records) else "comparison"
    return {"unit": unit, "requests": len(agree), "all_agree": _rate(agree), "mean_agreement": _rate(shares),
            "with_failures": with_failures}


def verdict_ties(records: list[dict]) -> dict | None:
    ties = verdicts = 0
    for r in records:
        for p in r.get("pairs") or []:
            for d in p["judgments"]:
                ties += d.get("status") == replay.TIE
                verdicts += d.get("status") in (OK, replay.TIE)
    if not ties:
        return None
    return {"judgments": ties, "share": ties / verdicts}


def _label(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def ratings(records: list[dict], policy: Policy) -> dict | None:
    values: list[float] = []
    for r in records:
        for per in r.get("scores") or []:
            values += [float(d["value"]) for d in per if d.get("status") == OK and d.get("value") is not None]
    if not values:
        return None
    dist: dict[float, int] = {}
    for v in values:
        dist[v] = dist.get(v, 0) + 1
    pairs = ties = unbroken = 0
    for _, ex, outcome in _replayed(records, policy):
        for p, q in replay.scoring_pairs(ex):
            sp, sq = outcome.score_of(p), outcome.score_of(q)
            if sp is None or sq is None:
                continue
            pairs += 1
            if sp == sq:
                ties += 1
                ep, eq = _expected_of(outcome.scores[p]), _expected_of(outcome.scores[q])
                unbroken += not (ep is not None and eq is not None and ep != eq)
    out = {"n": len(values), "mean": sum(values) / len(values),
           "distribution": {_label(k): dist[k] for k in sorted(dist)},
           "pairs": pairs, "tie_rate": ties / pairs if pairs else None}
    if any("expected" in d for r in records for per in r.get("scores") or [] for d in per):
        out["tie_rate_after_expected"] = unbroken / pairs if pairs else None
    return out


def _expected_of(scores) -> float | None:
    vals = [getattr(s, "expected", None) for s in scores if s.status == OK]
    if not vals or any(v is None for v in vals):
        return None
    return sum(vals) / len(vals)


# -- the hook ----------------------------------------------------------------------------------

def _block(records: list[dict], policy: Policy, rating_judge: bool, roles, sides) -> tuple[dict, list[str]]:
    out: dict[str, Any] = {}
    notes: list[str] = []
    lb, note = length_bias(records, policy, sides)
    if lb:
        out["length_bias"] = lb
    if note:
        notes.append(note)
    if policy.samples > 1:
        sc = self_consistency(records)
        if sc:
            out["self_consistency"] = sc
    vt = verdict_ties(records)
    if vt:
        out["verdict_ties"] = vt
    if rating_judge:
        rt = ratings(records, policy)
        if rt:
            out["ratings"] = rt
    if roles is not None:
        cal = calib.calibration(records, roles)
        if cal:
            out["calibration"] = cal
    return out, notes


def task_diagnostics(records: list[dict], *, scorer, options: dict, policy: Policy, task: str,
                     judge: dict | None = None) -> dict:
    """``{"compute_curves": ..., "diagnostics": ...}`` for one task's records (keys left out when
    empty); the summary takes both as they are."""
    if not records:
        return {}
    judge = judge or {}
    rating_judge = judge.get("mode") == POINTWISE and judge.get("kind") == "generative"
    notes: list[str] = []
    roles = None
    if calib.has_probabilities(records):
        if any(r.get("scores") is not None for r in records):
            roles = {}
        else:
            roles, why = calib.label_roles(records)
            if why:
                notes.append(why)
    sides = {id(r): length_sides(r, policy) for r in records}
    diag, more = _block(records, policy, rating_judge, roles, sides)
    notes += more
    sections = {}
    groups = sections_of(records, scorer.aggregate, options)
    if len(groups) > 1 or (groups and sum(map(len, groups.values())) < len(records)):
        for name, recs in groups.items():
            block, _ = _block(recs, policy, rating_judge, roles, sides)
            pb = position_bias(recs)
            if pb:
                block["position_bias"] = pb
            if block:
                sections[name] = block
    if sections:
        diag["sections"] = sections
    out: dict[str, Any] = {}
    compute: dict[str, Any] = {}
    votes, vnotes = curves.votes_curve(records, scorer, options, policy, task)
    if votes:
        compute["votes"] = votes
    cands, cnotes = curves.candidates_curve(records, policy, task)
    if cands:
        compute["candidates"] = cands
    if vnotes or cnotes:
        compute["notes"] = vnotes + cnotes
    if compute:
        out["compute_curves"] = compute
    if notes:
        diag["notes"] = notes
    if diag:
        out["diagnostics"] = diag
    return out


def policy_for(orders: str, samples: int, seed: int, on_failure: str) -> Policy:
    return Policy(orders=orders, samples=samples, seed=seed, on_failure=on_failure)

