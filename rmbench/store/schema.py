"""One typed schema per persisted artifact: a record line, run.json and summary.json.

Every reader (run on resume, rescore, merge, compare, gate, leaderboard, show) validates what it
reads against these models, and a file that does not fit is refused with one line naming the
file, the line (for records.jsonl) and the field. Validation checks the structure and the types
of the keys rmbench reads; keys it does not know are allowed (so a newer writer's additions do
not break an older reader), and the dicts are used as read (nothing is coerced or rewritten).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError, model_validator

from rmbench.errors import UserError
from rmbench.types import STATUSES

RECORD_SCHEMA = 1

Finite = Annotated[float, Field(allow_inf_nan=False, strict=False)]
Unit = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False, strict=False)]
# a benchmark score: a share of examples, or a composite of shares and margins (RewardBench 2's
# Ties adds 0.01 * mean(tanh(...)) to shares, so it lies in [-0.01, 1.01]). The bounds catch what
# is surely wrong (a percentage such as 87.5 where a fraction belongs), not what is unusual.
Share = Annotated[float, Field(ge=-1.0, le=2.0, allow_inf_nan=False, strict=False)]
Count = Annotated[StrictInt, Field(ge=0)]
Index = Annotated[StrictInt, Field(ge=0)]
Status = Literal[STATUSES]  # type: ignore[valid-type]


class _Open(BaseModel):
    """Strict types for the keys we read; other keys pass through."""

    model_config = ConfigDict(extra="allow", strict=True)


# -- records.jsonl ------------------------------------------------------------------------------

class _Answer(_Open):
    """What every judge answer carries besides its verdict: the sample, the status, the raw
    output, an error message and token usage."""

    sample: Count = 0
    status: Status
    raw: Optional[StrictStr] = None
    error: Optional[StrictStr] = None
    usage: Optional[dict[StrictStr, Finite]] = None


class JudgmentRec(_Answer):
    first: Index
    second: Index
    winner: Optional[Index] = None
    label: Optional[StrictStr] = None

    @model_validator(mode="after")
    def _winner(self):
        if self.status == "ok" and self.winner not in (self.first, self.second):
            raise ValueError(f"an ok judgment's winner must be {self.first} or {self.second}, not {self.winner}")
        return self


class PairRec(_Open):
    i: Index
    j: Index
    judgments: list[JudgmentRec]


class ScoreRec(_Answer):
    index: Index
    value: Optional[Finite] = None


class PickRec(_Answer):
    """A listwise judgment: every candidate in one message, in ``order``; ``winner`` names one."""

    order: list[Index]
    winner: Optional[Index] = None
    label: Optional[StrictStr] = None

    @model_validator(mode="after")
    def _winner(self):
        if self.status == "ok" and self.winner not in self.order:
            raise ValueError(f"an ok pick's winner must be one of {self.order}, not {self.winner}")
        return self


class Lengths(_Open):
    unit: Literal["tokens", "chars"]
    counts: list[Count]


class ResultRec(_Open):
    correct: Optional[Unit]


class Record(_Open):
    run_identity: Optional[StrictStr] = None
    task: Annotated[StrictStr, Field(min_length=1)]
    id: StrictStr
    subset: StrictStr
    labels: dict[StrictStr, Any] = {}
    result: ResultRec
    failures: dict[StrictStr, Count] = {}
    meta: dict[StrictStr, Any] = {}
    preferred: Optional[list[Index]] = None
    lengths: Optional[Lengths] = None
    ties: Optional[dict[StrictStr, Count]] = None
    pairs: Optional[list[PairRec]] = None
    scores: Optional[list[list[ScoreRec]]] = None
    picks: Optional[list[PickRec]] = None
    tournament: Optional[dict[StrictStr, Any]] = None

    @model_validator(mode="after")
    def _candidates(self):
        """With the candidates' count known (``lengths``), every index must name one of them."""
        if self.lengths is None:
            return self
        n = len(self.lengths.counts)
        if self.scores is not None and len(self.scores) != n:
            raise ValueError(f"{len(self.scores)} candidates scored, {n} candidates in the example")
        idx = [x for p in self.pairs or [] for x in (p.i, p.j)] + list(self.preferred or [])
        idx += [x for pk in self.picks or [] for x in pk.order]
        if any(x >= n for x in idx):
            raise ValueError(f"a candidate index beyond the example's {n} candidates")
        return self

    @model_validator(mode="after")
    def _one_kind(self):
        kinds = [k for k in ("pairs", "scores", "picks") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a record holds exactly one of 'pairs', 'scores' or 'picks'"
                             + (f" (this one has {', '.join(kinds)})" if kinds else " (this one has none)"))
        return self


# -- summary.json -------------------------------------------------------------------------------

Interval = Annotated[list[Finite], Field(min_length=2, max_length=2)]


class _Scored(_Open):
    score: Optional[Share] = None
    n: Optional[Count] = None
    ci: Optional[Interval] = None

    @model_validator(mode="after")
    def _ordered(self):
        if self.ci is not None and self.ci[0] > self.ci[1]:
            raise ValueError(f"interval [{self.ci[0]}, {self.ci[1]}] is reversed")
        return self


class SubsetSummary(_Scored):
    accuracy: Optional[Unit] = None


class SectionSummary(_Scored):
    subsets: dict[StrictStr, SubsetSummary] = {}


# The blocks beside the scores (what the reports print: judging figures, the protocol, token
# usage, cost, data notes, diagnostics), typed where a reader uses them.
Text = Optional[StrictStr]


class Rate(_Open):
    n: Count
    of: Count
    rate: Optional[Unit] = None


class PositionBias(_Open):
    judgments_ok: Optional[Count] = None
    first_position_preference: Optional[Unit] = None
    pairs_both_orders: Optional[Count] = None
    consistency_rate: Optional[Unit] = None
    order_consistent_accuracy: Optional[Unit] = None
    picks_ok: Optional[Count] = None
    position_share: Optional[list[Unit]] = None


class Judging(_Open):
    failures: dict[StrictStr, Count] = {}
    on_failure: Text = None
    tie_verdicts: Optional[Rate] = None
    equal_scores: Optional[Rate] = None
    position_bias: Optional[PositionBias] = None


class Truncation(_Open):
    tokens: Optional[Count] = None
    side: Text = None


class TaskProtocol(_Open):
    protocol: Text = None
    judge_type: Text = None
    mode: Text = None
    orders: Text = None
    on_failure: Text = None
    prompt: Text = None
    script: Text = None
    truncate: Optional[Truncation] = None
    notes: list[StrictStr] = []


class LengthBias(_Open):
    unit: Text = None
    accuracy_longer_preferred: Optional[Unit] = None
    n_longer_preferred: Count = 0
    accuracy_shorter_preferred: Optional[Unit] = None
    n_shorter_preferred: Count = 0
    difference: Optional[Finite] = None
    length_controlled_accuracy: Optional[Unit] = None
    accuracy_equal_length: Optional[Unit] = None
    n_equal_length: Count = 0


class SelfConsistency(_Open):
    unit: Text = None
    requests: Count = 0
    all_agree: Optional[Unit] = None
    mean_agreement: Optional[Unit] = None


class VerdictTies(_Open):
    judgments: Count = 0
    share: Optional[Unit] = None


class Ratings(_Open):
    n: Count = 0
    mean: Optional[Finite] = None
    distribution: dict[StrictStr, Count] = {}
    tie_rate: Optional[Unit] = None
    tie_rate_after_expected: Optional[Unit] = None


class Calibration(_Open):
    n: Count = 0
    soft_accuracy: Optional[Unit] = None
    brier: Optional[Finite] = None
    ece: Optional[Finite] = None
    auc: Optional[Finite] = None


class DiagnosticsBlock(_Open):
    length_bias: Optional[LengthBias] = None
    self_consistency: Optional[SelfConsistency] = None
    verdict_ties: Optional[VerdictTies] = None
    ratings: Optional[Ratings] = None
    calibration: Optional[Calibration] = None
    position_bias: Optional[PositionBias] = None
    notes: list[StrictStr] = []


class Diagnostics(DiagnosticsBlock):
    sections: dict[StrictStr, DiagnosticsBlock] = {}


class VotesPoint(_Open):
    k: Count
    accuracy: Optional[Finite] = None
    ci: Optional[Interval] = None


class CandidatesPoint(_Open):
    aggregator: StrictStr
    n: Count
    accuracy: Optional[Finite] = None
    judge_calls: Finite           # always written (the mean calls spent per item): the charts plot it


class ComputeCurves(_Open):
    votes: dict[StrictStr, list[VotesPoint]] = {}
    candidates: list[CandidatesPoint] = []
    notes: list[StrictStr] = []


class CiMethod(_Open):
    level: Optional[Annotated[float, Field(gt=0.0, lt=1.0, strict=False)]] = None


class DataNote(_Open):
    count: Count


class TaskSummary(_Scored):
    sections: dict[StrictStr, SectionSummary] = {}
    metrics: dict[StrictStr, Optional[Finite]] = {}
    metrics_ci: dict[StrictStr, Interval] = {}
    score_with_prior: Optional[Share] = None
    score_with_prior_ci: Optional[Interval] = None
    notes: list[StrictStr] = []
    ci_method: Optional[CiMethod] = None
    judging: Optional[Judging] = None
    protocol: Optional[TaskProtocol] = None
    usage: dict[StrictStr, Finite] = {}
    cost_usd: Optional[Finite] = None
    data_notes: dict[StrictStr, DataNote | Count] = {}
    diagnostics: Optional[Diagnostics] = None
    compute_curves: Optional[ComputeCurves] = None
    aggregation: Optional[dict[StrictStr, Any]] = None
    version: Optional[StrictInt] = None


class CostPrice(_Open):
    input: Finite
    output: Finite


class Cost(_Open):
    usd: Finite
    input_tokens: Count
    output_tokens: Count
    usd_per_million: CostPrice
    batch_discount: Optional[Finite] = None


class JudgeSummary(_Open):
    mode: Text = None
    kind: Text = None
    provider: Text = None
    model: Text = None
    template: Text = None


class Summary(_Open):
    model: StrictStr
    seed: StrictInt
    tasks: dict[StrictStr, TaskSummary]
    protocol: Text = None
    judge: Optional[JudgeSummary] = None
    cost: Optional[Cost] = None
    orders: Text = None
    samples: Optional[Count] = None
    on_failure: Text = None
    limit: Optional[Count] = None


# -- run.json -----------------------------------------------------------------------------------

RunStatus = Literal["running", "complete", "interrupted", "stopped", "failed"]


class Selection(_Open):
    n: Count
    ids_sha256: StrictStr


class TaskInfo(_Open):
    """What a run needs to be scored again without today's task YAML: the scoring module, the
    task version, the options it used, and which examples it judged."""

    scoring: StrictStr
    version: StrictInt
    options: dict[StrictStr, Any]
    protocol: dict[StrictStr, Any] = {}
    selection: Selection


class JudgeInfo(_Open):
    task_modes: dict[StrictStr, StrictStr] = {}
    task_templates: dict[StrictStr, dict[StrictStr, dict[StrictStr, Any]]] = {}


class RunJson(_Open):
    rmbench_version: StrictStr
    status: RunStatus
    config: dict[StrictStr, Any]
    identity: dict[StrictStr, Any]
    identity_hash: Optional[StrictStr] = None
    summary_sha256: Optional[StrictStr] = None   # summary.json as the run wrote it
    served_model: Optional[StrictStr] = None     # the model name replicas' answers gave (--base-url A,B)
    judge: JudgeInfo = JudgeInfo()
    tasks: Optional[dict[StrictStr, TaskInfo]] = None
    data_notes: dict[StrictStr, dict[StrictStr, Any]] = {}
    datasets: dict[StrictStr, dict[StrictStr, Any]] = {}

    @model_validator(mode="after")
    def _identity(self):
        """A run.json that records what it judged must carry its identity's fingerprint, and the
        fingerprint must be its identity's: an edited identity would let foreign records in."""
        ident = self.identity   # the parts readers take apart (leaderboard rows, task options): their shapes
        for key in ("scoring", "judge", "data", "task_args"):
            if ident.get(key) is not None and not isinstance(ident[key], dict):
                raise ValueError(f"identity.{key} must be an object")
        judge = ident.get("judge") or {}
        for key in ("task_templates", "task_modes"):
            if judge.get(key) is not None and not isinstance(judge[key], dict):
                raise ValueError(f"identity.judge.{key} must be an object")
        if self.tasks is not None:
            if self.identity_hash is None:
                raise ValueError("identity_hash is missing")
            if identity_hash(self.identity) != self.identity_hash:
                raise ValueError("identity_hash does not match the identity recorded beside it")
            scoring = self.identity.get("scoring")
            if scoring is not None:  # rescore, compare and gate score with ``tasks``: it must be the identity's
                if not isinstance(scoring, dict) or set(scoring) != set(self.tasks):
                    raise ValueError("tasks disagree with the identity (the file was edited after the run)")
                for name, t in self.tasks.items():
                    if scoring[name] != {"scoring": t.scoring, "version": t.version, "options": t.options,
                                         "protocol": t.protocol}:
                        raise ValueError(f"tasks.{name} disagrees with the identity (its scoring, version, options "
                                         "or protocol was edited after the run)")
        return self


# -- validation ---------------------------------------------------------------------------------

def _where(loc: tuple) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def describe(err: ValidationError) -> str:
    """The first problem of a validation error, as 'field.path: what is wrong'."""
    first = err.errors(include_url=False)[0]
    msg = first.get("msg", "invalid")
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return f"{_where(tuple(first.get('loc') or ()))}: {msg}"


_WHAT = {"Summary": "summary", "RunJson": "run.json", "Record": "record"}


def check(model: type[BaseModel], data: Any, where: str) -> Any:
    """Validate ``data`` against ``model``; a one-line UserError naming ``where`` otherwise.
    Returns ``data`` itself (validated, not converted)."""
    if not isinstance(data, dict):
        found = "null" if data is None else {"list": "an array", "str": "a string"}.get(type(data).__name__, "a number")
        raise UserError(f"{where}: not an rmbench {_WHAT.get(model.__name__, model.__name__)} "
                        f"(expected a JSON object, found {found})")
    try:
        model.model_validate(data)
    except ValidationError as e:
        raise UserError(f"{where}: {describe(e)}") from None
    return data


def record_problem(data: Any) -> str | None:
    """Why a parsed line is not a valid record (None when it is)."""
    if not isinstance(data, dict):
        return f"expected a JSON object, found {'null' if data is None else type(data).__name__}"
    try:
        Record.model_validate(data)
    except ValidationError as e:
        return describe(e)
    return None


def load_json(path: Path, what: str) -> Any:
    from rmbench.store.files import read_text

    try:
        text = read_text(path)
    except FileNotFoundError:
        raise UserError(f"{path}: no {what}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: {what} is not UTF-8 text") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read {what} ({e.strerror or e})") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as e:
        raise UserError(f"{path}: {what} is not valid JSON ({e})") from None
    except RecursionError:
        raise UserError(f"{path}: {what} is not valid JSON (nested too deeply to read)") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def read_run_json(path: Path) -> dict:
    return check(RunJson, load_json(path, "run.json"), str(path))


def read_summary(path: Path) -> dict:
    return check(Summary, load_json(path, "summary.json"), str(path))


# -- identities -----------------------------------------------------------------------------------

def identity_hash(identity: dict) -> str:
    """A short fingerprint of a run's identity (the settings that change results, the data)."""
    blob = json.dumps(identity, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def ids_sha256(ids: list[str]) -> str:
    """The fingerprint of an ordered list of example ids (a task's selection), over their JSON
    form, so that no two lists share one (ids may hold any character)."""
    return hashlib.sha256(json.dumps(list(ids), ensure_ascii=False).encode("utf-8")).hexdigest()
