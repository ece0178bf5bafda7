"""``--protocol official|rmbench``: the effective settings of each task, decided in one place.

``resolve(config, spec, judge)`` is a pure function of the run's settings, the task spec and
the judge's description (its kind and mode, as ``Judge.describe()`` records them), so a run, a
rescore and a merge all arrive at the same settings. ``prepare(config, judge, tasks)`` resolves
every task of a run and installs what the settings need in the live judge: a task's own
template (RewardBench 2's best-of-n prompt, the rating prompt for its Ties subset) and, for
scalar models under the official protocol, input truncation.

What each benchmark's official script does lives in the task YAML (``protocol.official``), with
the script's file and function; docs/benchmarks.md has the table. This module imports no
judge: ``prepare`` works through the ``Judge`` it is handed (``adopt``, ``adopt_rating``,
``provider.truncate_inputs``) and ``resolve`` reads only the judge's description. Keys of a task's ``protocol``:

- ``prompt``: the template a generative judge uses for this task when ``--prompt`` is not given
  (and no tournament ``--aggregate`` asks for pairwise matches);
- ``listwise``: whether the task can be judged by a best-of-n prompt (its scorer reads picks);
- ``scored_subsets``: subsets that need a score per candidate: a listwise judge rates their
  candidates with its rating template (RewardBench 2 Ties);
- ``official``: ``script`` (where the rules come from), ``orders``, ``on_failure`` (one value, or
  one per judge type: ``pairwise``, ``rating``, ``listwise``, ``scalar``), ``failed_score`` (what a
  failed rating counts as where every candidate needs a score), ``truncate`` (``tokens`` and
  ``side``: ``left`` keeps the last tokens, ``right`` the first, ``tokenizer`` whatever side the
  model's tokenizer is configured to cut).

Rules that hold under both protocols (they follow the official scripts and cost nothing in
measurement quality): equal scores from a generative rating judge are worth 0.5 in a pairwise
comparison (scalar and DPO judges keep the strict ``>``); a tie verdict is worth 0.5 in pairwise
accuracy and nothing in a best-of-N list; a best-of-N row whose generative ratings partly failed
is decided among the candidates that have one. What differs: presentation orders (both by
default; one seeded random order officially), the failure value, and truncation of scalar
inputs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from rmbench.contracts import (
    FAILURE_POLICIES,
    LISTWISE,
    LOSS,
    OFFICIAL,
    PAIRWISE,
    POINTWISE,
    PROTOCOLS,
    RMBENCH,
)
from rmbench.errors import UserError
from rmbench.protocol import DROP, FAIL_ROW, Policy
from rmbench.types import Example

SCALAR = "scalar"           # judge kinds, as Judge.describe() records them
GENERATIVE = "generative"
RATING = "rating"           # a generative judge in pointwise mode
JUDGE_TYPES = (PAIRWISE, RATING, LISTWISE, SCALAR)
TRUNCATE_SIDES = ("left", "right", "tokenizer")
DEFAULT_ORDERS = "both"
DEFAULT_ON_FAILURE = LOSS
GENERATIVE_EQUAL_SCORES = 0.5   # RewardBench v1 run_generative.py: equal ratings are "error" -> 0.5
SCALAR_EQUAL_SCORES = 0.0       # every official scalar script: chosen > rejected, strictly
TIE_VALUE = 0.5


@dataclass(frozen=True)
class TaskSettings:
    """What a task's items are judged and scored with (``to_json`` goes into run.json and the
    task's summary as ``protocol``)."""

    task: str
    protocol: str
    judge_type: str                    # pairwise | rating | listwise | scalar
    mode: str                          # the judge mode of the task's items (POINTWISE, PAIRWISE, LISTWISE)
    policy: Policy
    prompt: str | None = None          # the task's own template (None: the run's)
    scored_subsets: tuple[str, ...] = ()
    truncate: dict[str, Any] | None = None
    script: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def mode_for(self, example: Example) -> str:
        """The judge mode for one item: pointwise for a scored subset under a listwise judge."""
        if self.mode == LISTWISE and example.subset in self.scored_subsets:
            return POINTWISE
        return self.mode

    def to_json(self) -> dict[str, Any]:
        p = self.policy
        d: dict[str, Any] = {"protocol": self.protocol, "judge_type": self.judge_type, "mode": self.mode,
                             "orders": p.orders, "on_failure": p.on_failure, "equal_scores": p.equal_scores,
                             "tie": p.tie, "partial_failures": p.partial_failures}
        if p.failed_score is not None:
            d["failed_score"] = p.failed_score
        if not p.expected_ties:
            d["expected_ties"] = False
        if self.prompt:
            d["prompt"] = self.prompt
        if self.scored_subsets and self.mode == LISTWISE:
            d["scored_subsets"] = list(self.scored_subsets)
        if self.truncate:
            d["truncate"] = dict(self.truncate)
        if self.script:
            d["script"] = self.script
        if self.notes:
            d["notes"] = list(self.notes)
        return d


def check_protocol(name: str) -> str:
    if name not in PROTOCOLS:
        raise UserError(f"--protocol must be one of {', '.join(PROTOCOLS)}, not '{name}'")
    return name


def _judge_type(kind: str | None, mode: str) -> str:
    if kind == SCALAR:
        return SCALAR
    return {POINTWISE: RATING, LISTWISE: LISTWISE}.get(mode, PAIRWISE)


def _mode(judge_type: str) -> str:
    return {SCALAR: POINTWISE, RATING: POINTWISE, LISTWISE: LISTWISE}.get(judge_type, PAIRWISE)


def _official_block(spec) -> Mapping[str, Any] | None:
    block = (spec.protocol or {}).get("official")
    if block is None:
        return None
    if not isinstance(block, Mapping):
        raise UserError(f"task '{spec.name}': protocol.official must be a mapping")
    return block


def _official_failure(spec, block: Mapping[str, Any], judge_type: str) -> str:
    raw = block.get("on_failure", DEFAULT_ON_FAILURE)
    value = raw.get(judge_type, DEFAULT_ON_FAILURE) if isinstance(raw, Mapping) else raw
    if value not in FAILURE_POLICIES:
        raise UserError(f"task '{spec.name}': protocol.official.on_failure '{value}' is not one of "
                        f"{', '.join(FAILURE_POLICIES)}")
    return str(value)


def _truncate(spec, block: Mapping[str, Any]) -> dict[str, Any] | None:
    raw = block.get("truncate")
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or not isinstance(raw.get("tokens"), int) or raw.get("tokens") < 1 \
            or raw.get("side", "left") not in TRUNCATE_SIDES:
        raise UserError(f"task '{spec.name}': protocol.official.truncate needs tokens (a positive whole number) "
                        f"and side ({', '.join(TRUNCATE_SIDES)})")
    return {"tokens": int(raw["tokens"]), "side": str(raw.get("side", "left"))}


def default_prompt(config, spec, judge: Mapping[str, Any]) -> str | None:
    """The task's own template for a generative judge, when the run names none: the task's
    ``protocol.prompt``, unless ``--prompt`` or a tournament ``--aggregate`` was given."""
    if judge.get("kind") == SCALAR or config.prompt is not None or config.aggregate:
        return None
    name = (spec.protocol or {}).get("prompt")
    return str(name) if name else None


def resolve(config, spec, judge: Mapping[str, Any]) -> TaskSettings:
    """The effective settings of one task (see the module docstring). ``judge`` is the judge's
    description (``Judge.describe()``, also kept in run.json): its kind, its mode and the modes
    of the tasks it judges with their own template."""
    protocol = check_protocol(getattr(config, "protocol", RMBENCH) or RMBENCH)
    proto = spec.protocol or {}
    own_mode = (judge.get("task_modes") or {}).get(spec.name)
    judge_type = _judge_type(judge.get("kind"), own_mode or judge.get("mode") or PAIRWISE)
    if judge_type == LISTWISE and not proto.get("listwise"):
        raise UserError(f"task '{spec.name}' cannot be judged with a best-of-n prompt (its score needs pairwise "
                        "verdicts or ratings); use a pairwise or rating --prompt")
    prompt = None
    if own_mode:
        prompt = ((judge.get("task_templates") or {}).get(spec.name, {}).get(own_mode) or {}).get("template")
    scored = tuple(str(s) for s in proto.get("scored_subsets") or ())
    generative = judge_type != SCALAR
    policy = Policy(orders=config.orders, samples=config.samples, seed=config.seed, on_failure=config.on_failure,
                    tie=TIE_VALUE, equal_scores=GENERATIVE_EQUAL_SCORES if generative else SCALAR_EQUAL_SCORES,
                    partial_failures=DROP if generative else FAIL_ROW)
    notes: list[str] = []
    truncate = None
    script = None
    if protocol == OFFICIAL:
        block = _official_block(spec)
        if block is None:
            notes.append(f"no official script scores '{spec.name}': rmbench's settings are used")
        else:
            script = str(block["script"]) if block.get("script") else None
            orders = str(block.get("orders", DEFAULT_ORDERS))
            on_failure = _official_failure(spec, block, judge_type)
            if config.orders not in (DEFAULT_ORDERS, orders):
                raise UserError(f"--protocol official sets --orders {orders} for {spec.name}; drop --orders "
                                f"{config.orders} (or use --protocol rmbench)")
            if config.on_failure not in (DEFAULT_ON_FAILURE, on_failure):
                raise UserError(f"--protocol official sets --on-failure {on_failure} for {spec.name} with a "
                                f"{judge_type} judge; drop --on-failure {config.on_failure} (or use --protocol rmbench)")
            failed = block.get("failed_score")
            # the official scripts know no expected ratings: equal ratings stay ties (0.5, or 1/k)
            policy = dataclasses.replace(policy, orders=orders, on_failure=on_failure, expected_ties=False,
                                         failed_score=float(failed) if failed is not None and generative
                                         else None)
            if judge_type == SCALAR:
                truncate = _truncate(spec, block)
                if truncate and (judge.get("truncation") or {}).get(spec.name) != truncate:
                    notes.append("this provider cannot cut its inputs: over-long inputs stay too_long failures "
                                 f"(the official script keeps {truncate['tokens']} tokens of them)")
            unofficial = block.get("unofficial") or {}
            if isinstance(unofficial, Mapping) and unofficial.get(judge_type):
                notes.append(str(unofficial[judge_type]))
    return TaskSettings(task=spec.name, protocol=protocol, judge_type=judge_type, mode=_mode(judge_type),
                        policy=policy, prompt=prompt, scored_subsets=scored, truncate=truncate, script=script,
                        notes=tuple(notes))


def prepare(config, judge, tasks) -> dict[str, TaskSettings]:
    """Resolve every task of a run and set the live judge up for it: the task's own template
    (and, for scored subsets under a listwise judge, the rating template), and truncation of
    scalar inputs under the official protocol. Call it before the run's identity is taken
    (the identity includes the judge's templates)."""
    out: dict[str, TaskSettings] = {}
    for td in tasks:
        spec = td.spec
        name = default_prompt(config, spec, judge.describe())
        if name:
            judge.adopt(spec.name, name)
        settings = resolve(config, spec, judge.describe())
        if settings.mode == LISTWISE and settings.scored_subsets:
            judge.adopt_rating(spec.name)
        if settings.truncate:
            judge.provider.truncate_inputs(spec.name, settings.truncate["tokens"], settings.truncate["side"])
        out[spec.name] = resolve(config, spec, judge.describe())
    return out
