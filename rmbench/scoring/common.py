"""Small helpers shared by the benchmark scorers."""

from __future__ import annotations

from typing import Iterable


def mean(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def accuracy_block(values: Iterable[float | None], **extra) -> dict:
    """``{"score", "n", **extra, "excluded"}``: the mean of the values that are not None, how many
    those are, the caller's extra keys, and how many were None (only when some were)."""
    vals = list(values)
    kept = [v for v in vals if v is not None]
    block: dict = {"score": mean(kept), "n": len(kept), **extra}
    if len(kept) < len(vals):
        block["excluded"] = len(vals) - len(kept)
    return block


def grouped(records: list[dict], order: Iterable[str] = (), key: str = "subset") -> dict[str, list[dict]]:
    """The records by ``key``: the names of ``order`` that occur first, in that order, then the
    others sorted."""
    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(r[key], []).append(r)
    first = [g for g in order if g in groups]
    return {g: groups[g] for g in first + sorted(g for g in groups if g not in first)}


def subset_table(records: list[dict], key: str = "subset") -> dict[str, dict]:
    """Accuracy per subset: {"accuracy", "n", "excluded"}; keys in first-seen order."""
    groups: dict[str, list[float | None]] = {}
    for r in records:
        groups.setdefault(r[key], []).append(r["result"]["correct"])
    out = {}
    for name, vals in groups.items():
        kept = [v for v in vals if v is not None]
        out[name] = {"accuracy": (sum(kept) / len(kept)) if kept else None, "n": len(kept),
                     "excluded": len(vals) - len(kept)}
    return out


def weighted(parts: list[tuple[float | None, float]]) -> float | None:
    """Weighted mean over the parts that have a value."""
    num = sum(v * w for v, w in parts if v is not None)
    den = sum(w for v, w in parts if v is not None)
    return num / den if den else None
