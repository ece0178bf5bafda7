"""The one module that composes the pipeline: tasks -> protocol -> judges -> scoring, and where
the results go.

- ``prepare(config)`` loads and checks everything a run needs before any work is done or any
  file written: the judge, its templates rendered once on a real example, the data, the
  aggregation plan, and the run's identity (the settings that change results, the data).
- ``execute(plan, sink)`` judges what the sink does not hold yet, with a sliding window of
  examples in flight; each example's record goes to the sink the moment it completes (a run
  directory on disk, or a list in memory), so a crash or Ctrl-C loses nothing already judged.
- ``finish(plan, records)`` puts the records in dataset order and computes the summary from them
  alone, with ``summarize``: the same function ``rescore`` and ``merge`` use.

``run_plan`` strings the three together for both kinds of sink; ``run`` (the CLI) and
``rmbench.evaluate`` (the Python API) are thin callers. Nothing else composes the pipeline.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import functools
import json
import platform
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple

from rmbench import __version__
from rmbench.config import RunConfig
from rmbench.errors import UserError
from rmbench.judges.base import latency_summary
from rmbench.redaction import redact
from rmbench.scoring import get_scorer, record_checker
from rmbench.scoring.aggregation import aggregation_summary
from rmbench.scoring.diagnostics import record_facts, task_diagnostics
from rmbench.scoring.intervals import add_intervals
from rmbench.scoring.judging import failure_counts, position_bias
from rmbench.store.cost import cost_summary, cost_usd
from rmbench.tasks import TaskData, data_key, get_spec, load_task, memory_task, select
from rmbench.tasks.spec import apply_task_args
from rmbench.types import API_ERROR, Example

VERSIONED = ("rmbench", "datasets", "pandas", "numpy", "jinja2", "openai", "anthropic", "transformers",
             "torch", "vllm", "tokenizers", "llama_cpp_python")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def package_versions() -> dict[str, str]:
    return dict(_installed_versions())


@functools.lru_cache(maxsize=1)
def _installed_versions() -> tuple[tuple[str, str], ...]:
    """Read once per process (each lookup walks sys.path): the versions a process runs are the
    ones it imported, which an install made later in the same process does not change."""
    out = [("python", platform.python_version())]
    for name in VERSIONED:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            pass
    return tuple(out)


# -- hooks ----------------------------------------------------------------------------------------

class Hooks:
    """Points in a run where an observer may act; the default does nothing. The test suite
    installs its own (``tests/robustness/crash_entry.py`` kills the process at one of them, as
    ``kill -9`` would) by setting ``rmbench.runner.HOOKS``; nothing in rmbench reads any
    environment variable for it."""

    def appended(self, sink: Any, record: dict) -> None:
        """After a record reached the sink."""

    def at(self, stage: str) -> None:
        """At ``judged`` (all judged, before the records are reordered), ``finalized`` (reordered,
        before the summary) and ``summary`` (summary written, before run.json says complete)."""


HOOKS = Hooks()


# -- preparing --------------------------------------------------------------------------------------

def resolve_data_paths(config: RunConfig) -> dict[str, str | None]:
    """``--data-path PATH`` for one task, or ``task=PATH,task2=PATH2`` for several."""
    paths: dict[str, str | None] = {t: None for t in config.tasks}
    if not config.data_path:
        return paths
    if "=" in config.data_path and not Path(config.data_path).exists():
        for part in config.data_path.split(","):
            if "=" not in part:
                raise UserError(f"--data-path: expected TASK=PATH, got '{part}'")
            task, path = part.split("=", 1)
            if task not in paths:
                raise UserError(f"--data-path names task '{task}', which is not in --task")
            paths[task] = path
        return paths
    if len(config.tasks) > 1:
        raise UserError("--data-path with several tasks must be TASK=PATH,TASK2=PATH2")
    paths[config.tasks[0]] = config.data_path
    return paths


def task_args_for(config: RunConfig, options: dict) -> dict[str, Any]:
    """The ``--task-args`` that apply to one task: all of them for a single-task run (so a
    misspelt option is an error), else those the task declares (each key must be declared by
    some task of the run: checked in ``load_tasks``)."""
    if len(config.tasks) == 1:
        return dict(config.task_args)
    return {k: v for k, v in config.task_args.items() if k in options}


def load_tasks(config: RunConfig, examples: dict[str, list[Example]] | None = None,
               demo: bool = False) -> list[TaskData]:
    """Each task's data: in-memory examples (the Python API), the embedded demo sample, local
    files (``--data-path``) or the hub, with the task's options resolved from its YAML and
    ``--task-args``."""
    if examples is not None:
        return [memory_task(name, exs, dict(config.task_args)) for name, exs in examples.items()]
    paths = resolve_data_paths(config)
    if len(config.tasks) > 1 and config.task_args:
        declared = {k for name in config.tasks for k in get_spec(name).options}
        unknown = sorted(set(config.task_args) - declared)
        if unknown:
            raise UserError(f"--task-args {', '.join(unknown)}: no task in this run has such an option")
    out = []
    for name in config.tasks:
        spec = get_spec(name)
        apply_task_args(spec, task_args_for(config, spec.options))
        out.append(load_task(spec, paths[name], demo=demo, seed=config.seed))
    return out


class TaskScoring(NamedTuple):
    """What scoring a task needs: its scoring module, version and resolved options, and the data
    notes counted while loading it. Recorded in run.json, so a run is scored again with the
    options it was made with, never with today's YAML."""

    name: str
    scoring: str
    version: int
    options: dict
    notes: dict
    protocol: dict          # the task YAML's protocol block (rmbench/protocol/official.py reads it)


@dataclass
class Plan:
    config: RunConfig
    judge: Any                         # rmbench.judges.Judge
    tasks: list[TaskData]
    selected: dict[str, list[Example]]
    aggregation: dict[str, Any]
    identity: dict
    identity_hash: str
    scorers: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)   # per task: rmbench/protocol/official.py TaskSettings
    owns_provider: bool = True   # False when the caller handed in the provider (it closes it)

    @property
    def provenance(self) -> dict[str, dict]:
        return {td.spec.name: td.provenance for td in self.tasks}

    def scoring(self) -> list[TaskScoring]:
        return [TaskScoring(td.spec.name, td.spec.scoring, td.spec.version, td.spec.options, td.notes,
                            td.spec.protocol) for td in self.tasks]

    def task_info(self) -> dict[str, dict]:
        """run.json's ``tasks``: per task the scoring, the resolved options and the examples judged."""
        from rmbench.store.schema import ids_sha256

        return {td.spec.name: {"scoring": td.spec.scoring, "version": td.spec.version, "options": td.spec.options,
                               "protocol": td.spec.protocol,
                               "selection": {"n": len(self.selected[td.spec.name]),
                                             "ids_sha256": ids_sha256([e.id for e in self.selected[td.spec.name]])}}
                for td in self.tasks}

    def keys(self) -> list[tuple[str, str]]:
        """Every (task, example id) of the run, in canonical order."""
        return [(td.spec.name, ex.id) for td in self.tasks for ex in self.selected[td.spec.name]]


def prepare(config: RunConfig, *, judge: Any = None, examples: dict[str, list[Example]] | None = None,
            demo: bool = False) -> Plan:
    """Everything a run needs, checked before any work: a bad flag, model, template or row is a
    one-line error here, before anything is written. ``judge`` may be a provider or a Judge
    object (the Python API); ``examples`` in-memory tasks by name."""
    from rmbench.judges import as_judge
    from rmbench.protocol.aggregate import check_method

    config.validate()
    check_method(config.aggregate)                 # a bad --aggregate fails before any work
    owns_provider = judge is None
    judge = as_judge(config, judge)                # missing keys, unknown models: before any work
    try:
        plan = _plan(config, judge, examples, demo)
    except BaseException:
        judge.discard(owns_provider)   # a notebook that retries after a bad row must not pile up open caches
        raise
    plan.owns_provider = owns_provider
    return plan


def _plan(config: RunConfig, judge: Any, examples: dict[str, list[Example]] | None, demo: bool) -> Plan:
    from rmbench.protocol.aggregate import plan as aggregation_plan
    from rmbench.protocol.official import prepare as prepare_protocol
    from rmbench.store.schema import identity_hash

    tasks = load_tasks(config, examples=examples, demo=demo)
    selected = {td.spec.name: select(td.examples, config.limit, config.shard) for td in tasks}
    # per task: judge mode, policy, the task's own templates, truncation (before the identity: it
    # includes the judge's templates)
    settings = prepare_protocol(config, judge, tasks)
    judge.check_templates([ex for td in tasks for ex in td.examples[:1]])
    aggregation = {td.spec.name: aggregation_plan(config.aggregate, td.spec.protocol, td.spec.name) for td in tasks}
    # the settings that change results, what the data is (not where it lies), how each task is scored
    # (so a task YAML edited between two invocations refuses to mix), the judge; as it reads back
    # from run.json (tuples become lists), so that a rerun compares equal and resumes
    scoring = {td.spec.name: {"scoring": td.spec.scoring, "version": td.spec.version, "options": td.spec.options,
                              "protocol": td.spec.protocol} for td in tasks}
    identity = json.loads(json.dumps({**redact(config.identity()), "data": {td.spec.name: data_key(td.provenance)
                                                                          for td in tasks},
                                      "scoring": scoring, "judge": judge.describe()}))
    return Plan(config, judge, tasks, selected, aggregation, identity, identity_hash(identity),
                {td.spec.name: get_scorer(td.spec.scoring) for td in tasks}, settings)


# -- executing --------------------------------------------------------------------------------------

def comparisons_of(plan: Plan) -> Iterator[tuple[Example, tuple[int, int], Any, tuple[dict, ...], Any]]:
    """Every comparison a pairwise judge is asked for the plan's examples, rendered: (example,
    pair, comparison, chat messages, template). For protocols fixed in advance (no tournament),
    e.g. to export the judgments to another harness (rmbench lm-eval-tasks)."""
    from rmbench.protocol import Policy, comparisons, default_pairs

    config, judge = plan.config, plan.judge
    policy = Policy(orders=config.orders, samples=config.samples, seed=config.seed, on_failure=config.on_failure)
    for td in plan.tasks:
        scorer = plan.scorers[td.spec.name]
        for ex in plan.selected[td.spec.name]:
            tmpl = judge.template_for(ex)
            for pair in scorer.pairs(ex) if hasattr(scorer, "pairs") else default_pairs(ex):
                for cmp in comparisons(ex, [pair], policy):
                    msgs = tmpl.render(ex.messages, (ex.candidates[cmp.first], ex.candidates[cmp.second]))
                    yield ex, pair, cmp, msgs, tmpl


def example_result(scorer: Any, example: Example, judgments: dict, policy: Any) -> dict:
    """A scorer's per-example result from pairwise judgments gathered elsewhere (lm-eval's)."""
    from rmbench.protocol import Outcome

    return scorer.example_result(example, Outcome(example, policy, judgments=judgments))


def make_record(identity_hash: str, example: Example, outcome, result: dict) -> dict:
    rec: dict[str, Any] = {"run_identity": identity_hash, "task": example.task, "id": example.id,
                           "subset": example.subset}
    if example.labels:
        rec["labels"] = dict(example.labels)
    if example.meta:  # what the scorer reads besides the candidates (a gold label, conflict pairs): a
        rec["meta"] = dict(example.meta)   # record holds all a rescore or a curve needs
    rec["result"] = result
    rec["failures"] = outcome.failures()
    rec.update(outcome.to_json())
    return rec


class MemorySink:
    """Records kept in a list (the Python API without an output directory)."""

    def __init__(self) -> None:
        self.records: list[dict] = []

    def append(self, record: dict) -> None:
        self.records.append(record)

    def sync(self) -> None:
        return None


def _window(judge, config: RunConfig) -> int:
    if getattr(judge, "batch_api", False):  # a batch API gets every request the run has, in one wave
        return 1 << 62
    if judge.provider.batched:
        return max(256, judge.provider.max_batch())
    return max(32, 4 * config.concurrency)


async def execute(plan: Plan, sink: Any, done: set[tuple[str, str]], progress: Any = None,
                  hooks: Hooks | None = None) -> int:
    """Judge every example of the plan not in ``done``; each record goes to ``sink.append`` as
    soon as its example is complete. Returns how many examples were judged."""
    from rmbench.protocol.aggregate import evaluate_aggregated

    hooks = hooks or HOOKS
    config, judge = plan.config, plan.judge
    todo = [(ex, plan.scorers[td.spec.name]) for td in plan.tasks for ex in plan.selected[td.spec.name]
            if (td.spec.name, ex.id) not in done]
    window = _window(judge, config)

    async def one(example, scorer):
        pairs = scorer.pairs(example) if hasattr(scorer, "pairs") else None
        s = plan.settings[example.task]  # rmbench/protocol/official.py: the task's mode and policy
        outcome, tournament = await evaluate_aggregated(example, s.mode_for(example), s.policy, judge.compare,
                                                        judge.score, plan.aggregation.get(example.task), pairs=pairs,
                                                        pick=judge.pick)
        record = make_record(plan.identity_hash, example, outcome, scorer.example_result(example, outcome))
        record.update(record_facts(example, getattr(judge.provider, "tokenizer", None)))  # diagnostics
        if tournament is not None:
            record["tournament"] = tournament
        sink.append(record)
        hooks.appended(sink, record)
        if progress is not None:
            progress.update(1)  # the postfix is refreshed by _tick, not per example

    pending: set[asyncio.Task] = set()
    it = iter(todo)
    exhausted = False

    async def shutdown(quiet: bool) -> None:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        try:
            sink.sync()
        except Exception:
            if not quiet:  # never let a second write error hide the first one
                raise
        finally:
            await judge.aclose(plan.owns_provider)

    ticker = asyncio.ensure_future(_tick(progress, judge)) if progress is not None else None
    try:
        while True:
            while not exhausted and len(pending) < window:
                try:
                    example, scorer = next(it)
                except StopIteration:
                    exhausted = True
                    break
                pending.add(asyncio.ensure_future(one(example, scorer)))
            if not pending:
                break
            finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            # retrieve every failure (an unretrieved one is logged as a traceback), raise the first
            errors = [t.exception() for t in finished if not t.cancelled()]
            errors = [e for e in errors if e is not None]
            if errors:
                raise errors[0]
    except BaseException:
        if ticker is not None:
            ticker.cancel()
        await shutdown(quiet=True)
        raise
    if ticker is not None:
        ticker.cancel()
        progress.set_postfix(progress_postfix(judge.stats), refresh=False)
    await shutdown(quiet=False)
    return len(todo)


def short_count(n: int) -> str:
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.1f}{suffix}"
    return str(n)


def progress_postfix(stats) -> dict[str, Any]:
    """What the progress bar shows beside done/total: cache hits, failures, the tokens of this
    invocation's requests (input/output) and, with --batch, how far the batch has got."""
    d: dict[str, Any] = {"cached": stats.cache_hits, "failed": sum(stats.failures.values())}
    if stats.tokens:
        d["tokens"] = (f"{short_count(stats.tokens.get('input_tokens', 0))} in/"
                       f"{short_count(stats.tokens.get('output_tokens', 0))} out")
    if stats.batch:
        d["batch"] = f"{stats.batch.get('done', 0)}/{stats.batch.get('submitted', 0)}"
    return d


async def _tick(progress, judge, every: float = 0.5) -> None:
    while True:
        await asyncio.sleep(every)
        progress.set_postfix(progress_postfix(judge.stats), refresh=True)


# -- summarizing ------------------------------------------------------------------------------------

def usage_totals(records: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}

    def add(u):
        for k, v in (u or {}).items():
            if isinstance(v, (int, float)):
                out[k] = out.get(k, 0) + int(v)

    for r in records:
        for p in r.get("pairs") or []:
            for jd in p["judgments"]:
                add(jd.get("usage"))
        for per in r.get("scores") or []:
            for s in per:
                add(s.get("usage"))
        for pk in r.get("picks") or []:
            add(pk.get("usage"))
    return dict(sorted(out.items()))


def summarize(config: RunConfig, judge_desc: dict, tasks: list[TaskScoring], records: list[dict],
              identity_hash: str | None) -> dict:
    """The summary of a run from its records alone (run, rescore and merge all call this).
    ``identity_hash`` ties it to its run.json (a summary swapped in from another run is refused)."""
    from rmbench.judges.logprobs import summary_note as p_labels_note
    from rmbench.protocol.official import resolve
    from rmbench.scoring.judging import tie_rates

    by_task: dict[str, list[dict]] = {}
    for r in records:
        by_task.setdefault(r["task"], []).append(r)
    out: dict[str, Any] = {"rmbench_version": __version__, "run_identity": identity_hash, "model": config.model,
                           "seed": config.seed, "protocol": config.protocol,
                           "judge": judge_desc, "orders": config.orders, "samples": config.samples,
                           "on_failure": config.on_failure, "limit": config.limit,
                           "shard": list(config.shard) if config.shard else None, "tasks": {}}
    for ts in tasks:
        recs = by_task.get(ts.name, [])
        scorer = get_scorer(ts.scoring)
        summ = scorer.aggregate(recs, ts.options) if recs else {"score": None, "n": 0}
        if recs:  # 95% bootstrap intervals, seeded by the run seed (rmbench/scoring/intervals.py)
            add_intervals(summ, recs, scorer.aggregate, ts.options, seed=config.seed, task=ts.name)
        settings = resolve(config, ts, judge_desc)   # what the task was judged and scored with
        judging: dict[str, Any] = {"failures": failure_counts(recs), "on_failure": settings.policy.on_failure,
                                   **tie_rates(recs)}
        pb = position_bias(recs)
        if pb:
            judging["position_bias"] = pb
        judging.update(p_labels_note(config.gen, recs))  # --gen logprobs: verdicts with p_labels
        summ["judging"] = judging
        usage = usage_totals(recs)
        if usage:
            summ["usage"] = usage
            if config.price:
                summ["cost_usd"] = cost_usd(usage.get("input_tokens", 0), usage.get("output_tokens", 0),
                                            config.price, config.batch)
        if ts.notes:
            summ["data_notes"] = ts.notes
        agg = aggregation_summary(recs)
        if agg is not None:
            summ["aggregation"] = agg
        try:  # what else the records tell; a defect there must not cost the run its official scores
            summ.update(task_diagnostics(recs, scorer=scorer, options=ts.options, task=ts.name, judge=judge_desc,
                                         policy=settings.policy))
        except Exception as e:
            summ.setdefault("notes", []).append(f"diagnostics could not be computed ({type(e).__name__}: {e})"[:300])
        summ["protocol"] = settings.to_json()
        summ["version"] = ts.version
        out["tasks"][ts.name] = summ
    # cross-task figures (e.g. RewardBench's score with its prior sets run as a second task)
    for ts in tasks:
        combine = getattr(get_scorer(ts.scoring), "combine", None)
        if combine is not None and ts.name in out["tasks"]:
            combine(ts.name, out["tasks"], ts.options)
    if config.price:  # deterministic: a function of the records' token totals and the prices
        totals: dict[str, int] = {}
        for t in out["tasks"].values():
            for k, v in (t.get("usage") or {}).items():
                totals[k] = totals.get(k, 0) + v
        out["cost"] = cost_summary(totals, config.price, config.batch)
    return out


def finish(plan: Plan, records: dict[tuple[str, str], dict]) -> tuple[list[dict], dict]:
    """The records in canonical order (tasks as given, examples in dataset order) and the summary."""
    ordered = [records[k] for k in plan.keys() if k in records]
    missing = len(plan.keys()) - len(ordered)
    if missing:
        raise UserError(f"{missing} examples have no record after judging; rerun to resume")
    return ordered, summarize(plan.config, plan.judge.describe(), plan.scoring(), ordered, plan.identity_hash)


def config_of(run_info: dict, where: str) -> RunConfig:
    """The config a run.json recorded, validated and checked against the identity beside it (whose
    fingerprint every record carries): an edited seed or setting is refused, not used."""
    config = RunConfig.from_json(run_info["config"])
    want = {k: v for k, v in run_info["identity"].items() if k not in ("data", "scoring", "judge")}
    got = json.loads(json.dumps(redact(config.identity())))
    if got != want:
        diff = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
        raise UserError(f"{where}: its config and its identity disagree ({', '.join(diff)}); the file was "
                        "edited after the run")
    return config


def scoring_from_run(run_info: dict) -> list[TaskScoring]:
    """The tasks' scoring as recorded in a run's run.json (never today's YAML)."""
    notes = run_info.get("data_notes") or {}
    return [TaskScoring(name, info["scoring"], info["version"], info["options"], dict(notes.get(name) or {}),
                        dict(info.get("protocol") or {}))
            for name, info in (run_info.get("tasks") or {}).items()]


# -- running ----------------------------------------------------------------------------------------

@dataclass
class RunOutput:
    summary: dict
    records: list[dict]
    path: Path | None
    run_info: dict | None


def _progress_bar(total: int, mode: bool | str | None):
    """A progress bar on stderr: ``mode`` None shows one on a terminal; "auto" also in Jupyter."""
    if not total or mode is False:
        return None
    if mode == "auto":
        from tqdm.auto import tqdm

        if not (sys.stderr.isatty() or _in_notebook()):
            return None
    else:
        from tqdm import tqdm

        if mode is None and not sys.stderr.isatty():
            return None
    return tqdm(total=total, desc="judging", unit="ex", file=sys.stderr, mininterval=0.5, dynamic_ncols=True)


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    try:
        ip = shell.get_ipython() if shell is not None else None  # type: ignore[union-attr]
    except Exception:
        return False
    return ip is not None and "IPKernelApp" in getattr(ip, "config", {})


async def run_plan(plan: Plan, *, command: list[str] | None = None, progress: bool | str | None = None,
                   log: Callable[[str], None] | None = None, hooks: Hooks | None = None) -> RunOutput:
    """Run a prepared plan into a run directory (``config.output_dir`` set) or into memory. The
    judge is released at the end, whatever happens (a plan runs once)."""
    try:
        return await _run_plan(plan, command, progress, log, hooks)
    finally:
        plan.judge.discard(plan.owns_provider)


async def _run_plan(plan: Plan, command: list[str] | None, progress: bool | str | None,
                    log: Callable[[str], None] | None, hooks: Hooks | None) -> RunOutput:
    from rmbench.reports.markdown import summary_markdown

    hooks = hooks or HOOKS
    config, judge = plan.config, plan.judge
    say = log or (lambda line: print(line, file=sys.stderr))
    if config.output_dir is None:
        sink = MemorySink()
        bar = _progress_bar(len(plan.keys()), progress)
        if bar is not None:
            judge.log = bar.write
        try:
            await execute(plan, sink, set(), bar, hooks)
        finally:
            if bar is not None:
                bar.close()
        ordered, summary = finish(plan, {(r["task"], r["id"]): r for r in sink.records})
        return RunOutput(summary, ordered, None, None)

    from rmbench.store.rundir import RunDir, default_run_name

    run_name = config.run_name or default_run_name(config.model, config.tasks)
    if config.shard and not config.run_name:  # shards of one job array must not share a directory
        run_name += f"--shard{config.shard[0]}of{config.shard[1]}"
    rd = RunDir.create(config.output_dir, run_name, plan.identity, plan.identity_hash, overwrite=config.overwrite)
    try:
        done = rd.completed(note=say)
        check, keys = record_checker(plan.task_info()), set(plan.keys())
        for key, r in list(done.items()):
            why = check(r) if key in keys else None
            if why:  # a record damaged in a way only its scorer notices: judged again, like a torn line
                say(f"note: records.jsonl: the record of example '{key[1]}' of task {key[0]}: {why}; "
                    "it will be judged again")
                del done[key]
        retry = None
        if config.retry_failed:
            retry = "every failed judgment is asked again (--retry-failed)"
            kept = [r for r in done.values() if not r.get("failures")]
        elif (rd.previous or {}).get("status") == "stopped":
            retry = "the examples whose requests failed when the last run stopped are asked again"
            kept = [r for r in done.values() if API_ERROR not in (r.get("failures") or {})]
        dropped = 0
        if retry is not None:
            dropped = len(done) - len(kept)
            done = {(r["task"], r["id"]): r for r in kept}
        provider = judge.provider
        run_info: dict[str, Any] = {
            "rmbench_version": __version__, "status": "running", "command": command,
            "config": redact(config.to_json()), "identity": plan.identity, "identity_hash": plan.identity_hash,
            "judge": judge.describe(), "tasks": plan.task_info(), "datasets": plan.provenance,
            "protocol": {name: st.to_json() for name, st in plan.settings.items()},
            "data_notes": {td.spec.name: td.notes for td in plan.tasks if td.notes},
            "env_vars_used": sorted(getattr(provider, "env_vars_used", [])),
            "versions": package_versions(), "started": _now(), "resumed_records": len(done)}
        # the order keeps the directory honest at every step: first run.json says "running" (so
        # no reader takes the old summary for this run's), then the old summary goes, and only
        # then do records change
        rd.write_run_json(run_info)
        rd.invalidate_summary()
        if dropped:
            rd.drop_records(list(done.values()))
            say(f"note: {dropped} examples to judge again: {retry}")
        todo = len(plan.keys()) - len([k for k in plan.keys() if k in done])
        bar = _progress_bar(todo, progress)
        judge.run_dir = rd.path  # --batch keeps its batch ids there (batches.json)
        quiet = progress is False
        if not quiet:
            judge.log = bar.write if bar is not None else say
            if todo and not config.batch:
                from rmbench.judges.batching import unfinished_batches

                n = unfinished_batches(rd.path, provider.cache_identity())
                if n:
                    judge.log(f"note: {n} batch(es) submitted by an earlier --batch run of this directory were "
                              "never collected; add --batch to use their answers instead of asking again")

        class _Collect:
            path = rd.path

            def append(self, record: dict) -> None:
                rd.append(record)
                done[(record["task"], record["id"])] = record

            def sync(self) -> None:
                rd.sync()

        # replicas of one served model (--base-url A,B): a resumed run holds to the model name the
        # records were judged by (rmbench/judges/endpoints.py); recorded whenever run.json is written
        served = (rd.previous or {}).get("served_model")
        if served and hasattr(provider, "served_model"):
            provider.served_model = served

        def note_served_model() -> None:
            name = getattr(provider, "served_model", None) or served
            if name:
                run_info["served_model"] = name

        def mark(status: str, reason: str | None = None) -> None:
            """Say in run.json why the run ended early; a second failure (the disk that is full)
            must not hide the first one."""
            run_info.update(status=status, stopped=_now(), **({"reason": reason[:500]} if reason else {}))
            note_served_model()
            try:
                rd.write_run_json(run_info)
            except UserError:
                pass

        t0, c0 = time.perf_counter(), time.process_time()
        try:
            judged = await execute(plan, _Collect(), set(done), bar, hooks)
        except (KeyboardInterrupt, asyncio.CancelledError):
            mark("interrupted")
            raise
        except UserError as e:
            mark("stopped", str(e))
            raise
        except BaseException as e:
            mark("failed", f"{type(e).__name__}: {e}")
            raise
        finally:
            if bar is not None:
                bar.close()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        hooks.at("judged")
        try:
            ordered, summary = finish(plan, done)
            rd.finalize_records(ordered)
            hooks.at("finalized")
            digest = rd.write_summary(summary, summary_markdown(summary))
        except UserError as e:
            mark("stopped", str(e))
            raise
        except Exception as e:  # run.json must say the run did not finish, and why
            mark("failed", f"{type(e).__name__}: {e}")
            raise
        hooks.at("summary")
        s = judge.stats
        run_info.update(status="complete", finished=_now(), summary_sha256=digest, stats={
            "examples": len(ordered), "judged_now": judged, "wall_seconds": round(wall, 3),
            "cpu_seconds": round(cpu, 3),
            "requests": s.requests, "cache_hits": s.cache_hits, "retries": s.retries, "failures_now": s.failures,
            "tokens_now": dict(sorted(s.tokens.items())), "latency_seconds": latency_summary(s.latencies)})
        provider_stats = getattr(provider, "run_stats", None)
        if provider_stats is not None:  # e.g. inputs a local model truncated or found too long
            run_info["stats"]["provider"] = provider_stats()
        scale_stats = getattr(provider, "scale_stats", None)  # stats.endpoints / stats.ray (docs/scale-out.md)
        if scale_stats is not None:
            run_info["stats"].update(scale_stats())
        note_served_model()
        if config.price:
            run_info["cost_usd"] = summary["cost"]["usd"]  # every judgment in the run (also in summary.json)
            run_info["cost_usd_spent"] = cost_usd(s.tokens.get("input_tokens", 0), s.tokens.get("output_tokens", 0),
                                                  config.price, config.batch)  # this invocation's requests
        rd.write_run_json(run_info)
        return RunOutput(summary, ordered, rd.path, run_info)
    finally:
        rd.close()


def run(config: RunConfig, demo: bool = False, argv: list[str] | None = None,
        show_progress: bool | None = None) -> Path:
    """The command line's run: into ``config.output_dir``; returns the run directory."""
    from rmbench.redaction import redact_argv

    plan = prepare(config, demo=demo)
    out = asyncio.run(run_plan(plan, command=redact_argv(argv if argv is not None else sys.argv),
                               progress=show_progress))
    assert out.path is not None
    return out.path


# -- a dry run ----------------------------------------------------------------------------------------

class _ReadOnlyCache:
    """A cache a dry run may read (answers already paid for are not asked again) but never writes."""

    def __init__(self, cache: Any):
        self._cache = cache

    def get(self, key: str) -> dict | None:
        return self._cache.get(key)

    def put(self, key: str, value: dict) -> None:
        return None

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self._cache.close()


def _output_per_request(config: RunConfig, like: str | None) -> tuple[float | None, str | None]:
    """The output tokens expected per request: measured on an earlier run of the same model
    (``--like RUN_DIR``), else ``max_tokens`` or the provider's own default for it (an upper
    bound), else unknown."""
    if like:
        from rmbench.store.rundir import load_complete

        run = load_complete(like, need_summary=False, checker=record_checker)
        model = (run["run"].get("config") or {}).get("model")
        if model != config.model:
            raise UserError(f"--like {like}: that run judged with {model}, not {config.model}")
        outs = [u.get("output_tokens") for r in run["records"] for u in _usages(r)]
        outs = [o for o in outs if isinstance(o, (int, float))]
        if not outs:
            raise UserError(f"--like {like}: its records hold no output token counts")
        return sum(outs) / len(outs), f"mean of {len(outs)} judgments of {model} in {like}"
    if config.gen.max_tokens:
        return float(config.gen.max_tokens), f"max_tokens={config.gen.max_tokens} per request (an upper bound)"
    from rmbench import registry

    default = getattr(registry.provider_module(registry.split_model(config.model)[0]), "DEFAULT_MAX_TOKENS", None)
    if default:   # what the provider asks for without --gen max_tokens (anthropic/ adds the thinking budget)
        default += config.gen.thinking_budget or 0
        return float(default), f"the provider's default max_tokens={default} per request (an upper bound)"
    return None, None


def _usages(record: dict) -> list[dict]:
    out = [j.get("usage") for p in record.get("pairs") or [] for j in p["judgments"]]
    out += [s.get("usage") for per in record.get("scores") or [] for s in per]
    out += [pk.get("usage") for pk in record.get("picks") or []]
    return [u for u in out if isinstance(u, dict)]


def dry_run(config: RunConfig, *, like: str | None = None, demo: bool = False) -> dict:
    """What a run would ask, without asking: the data is loaded and every prompt rendered through
    the run's own pipeline (orders, samples, tournament rounds), answered by a stand-in that sends
    nothing (rmbench/judges/dry.py). Nothing is written."""
    import dataclasses
    import os

    from rmbench.judges.cache import default_cache_path
    from rmbench.judges.dry import dry_provider

    cache = config.cache or str(default_cache_path())
    use_cache = not config.no_cache and os.path.isfile(cache)
    dry_config = dataclasses.replace(config, output_dir=None, batch=False, no_cache=not use_cache,
                                     cache=cache if use_cache else None, overwrite=False)
    provider = dry_provider(dry_config, batch=config.batch)   # --batch checked as a run would
    per_request, source = _output_per_request(config, like)
    plan = prepare(dry_config, judge=provider, demo=demo)
    if plan.judge.cache is not None:
        plan.judge.cache = _ReadOnlyCache(plan.judge.cache)
    asyncio.run(run_plan(plan, progress=False, log=lambda line: None))
    scalar = provider.judge_kind == "scalar"

    def block(requests: int, input_tokens: int) -> dict:
        tokens = input_tokens
        out_tokens = 0 if scalar or provider.prefix == "baseline" else \
            (None if per_request is None else int(round(per_request * requests)))
        usd = None
        if config.price:
            usd = cost_usd(tokens, out_tokens or 0, config.price, config.batch)
        return {"requests": requests, "input_tokens": tokens, "output_tokens_estimate": out_tokens,
                "usd_estimate": usd}

    result: dict[str, Any] = block(provider.requests, provider.input_tokens)
    result["cached"] = plan.judge.stats.cache_hits if use_cache else None
    result["by_task"] = {td.spec.name: block(**provider.by_task.get(td.spec.name, {"requests": 0, "input_tokens": 0}))
                         for td in plan.tasks}
    result["examples"] = {td.spec.name: len(plan.selected[td.spec.name]) for td in plan.tasks}
    result["input_tokens_counted_with"] = provider.how
    notes = []
    if source:
        result["output_tokens_from"] = source
    elif not scalar and provider.prefix != "baseline":
        notes.append("no output estimate: pass --gen max_tokens=N, or --like RUN_DIR (an earlier run of this model)")
    if config.price and result["output_tokens_estimate"] is None and not scalar:
        notes.append("usd_estimate covers the input tokens only")
    if not use_cache:
        notes.append("the judgment cache was not consulted (none found, or --no-cache)")
    if notes:
        result["notes"] = notes
    return result


# -- re-scoring and merging -------------------------------------------------------------------------

def rescore(run_dir: str | Path) -> dict:
    """Recompute a finished run's summary from its records (no model calls), with the task
    options and scoring recorded in its run.json. Every artifact is validated first; a damaged
    run is refused and its summary left as it was."""
    from rmbench.reports.markdown import summary_markdown
    from rmbench.store.rundir import RunDir, load_complete, run_path, write_summary

    p = run_path(run_dir)
    rd = RunDir(p)
    rd.lock()
    try:
        run = load_complete(p, need_summary=False, checker=record_checker)
        info = run["run"]
        config = config_of(info, str(p / "run.json"))
        summary = summarize(config, info.get("judge") or {}, scoring_from_run(info), run["records"],
                            info.get("identity_hash"))
        info["summary_sha256"] = write_summary(p, summary, summary_markdown(summary))
        rd.write_run_json(info)
        return summary
    finally:
        rd.close()


def merge(paths: list[str | Path], out: str | Path | None = None, *, overwrite: bool = False,
          command: list[str] | None = None) -> Path:
    """Combine the shard runs of a job array into one run equal to the unsharded run."""
    from rmbench.reports.markdown import summary_markdown
    from rmbench.store.merge import plan_merge, write_merged

    mp = plan_merge(paths, checker=record_checker)
    config = config_of({"config": mp.config, "identity": mp.identity}, "the merged run")
    summary = summarize(config, mp.judge, scoring_from_run({"tasks": mp.tasks, "data_notes": mp.data_notes}),
                        mp.records, mp.identity_hash)
    return write_merged(mp, out, summary, summary_markdown(summary), command, overwrite)
