"""Reference judges that need no model: ``baseline/longest``, ``baseline/shortest`` and
``baseline/random``.

They score each response like a scalar reward model would: the length in characters (negated
for ``shortest``) or a seeded uniform draw, so a tie is a loss exactly as in official scalar
scoring. ``random`` is reproducible: the draw depends only on the run seed, the task, the
example id and the candidate index.
"""

from __future__ import annotations

from typing import Sequence

from rmbench.errors import UserError
from rmbench.judges.base import SCALAR, BaseProvider, ScoreItem
from rmbench.seeding import uniform

KINDS = ("longest", "shortest", "random")



class Provider(BaseProvider):
    kind = SCALAR
    batched = True

    def __init__(self, name: str, config):
        super().__init__(name, config)
        if name not in KINDS:
            raise UserError(f"unknown baseline '{name}' (choose from {', '.join('baseline/' + k for k in KINDS)})")
        if config.judge_type and config.judge_type != SCALAR:
            raise UserError(f"baseline/{name} is a scalar judge; --judge-type {config.judge_type} does not apply")

    def score_batch(self, items: Sequence[ScoreItem]) -> list[float]:
        if self.name == "longest":
            return [float(len(it.response)) for it in items]
        if self.name == "shortest":
            return [-float(len(it.response)) for it in items]
        seed = self.config.seed
        return [uniform(seed, it.task, it.example_id, it.index) for it in items]
