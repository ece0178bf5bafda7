"""The one seeding scheme. Every random choice in rmbench (presentation orders, sample
tie-breaks, brackets, Elo match order, bootstrap resamples, baseline draws, per-request seeds
of local engines) draws from the run seed and the identity of what it is for, so reruns, shards
and resumed runs make the same choices. Bottom layer: imports nothing from rmbench."""

from __future__ import annotations

import hashlib
import random


def item_seed(seed: int, *parts: object) -> int:
    """A 64-bit seed from the run seed and any identifying parts (task, id, purpose, ...)."""
    digest = hashlib.sha256("\x1f".join(map(str, (seed, *parts))).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def item_rng(seed: int, *parts: object) -> random.Random:
    return random.Random(item_seed(seed, *parts))


def uniform(seed: int, *parts: object) -> float:
    """A reproducible draw in [0, 1) for these parts."""
    return item_seed(seed, *parts) / 2**64


def request_seed(seed: int, key: str) -> int:
    """The generation seed a local engine uses for one request (fits a signed 32-bit int)."""
    return item_seed(seed, "request", key) % 2**31
