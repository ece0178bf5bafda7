"""The only module that composes the pipeline: tasks -> protocol -> judges -> scoring -> reports.

Work is judged with a sliding window of examples in flight; each example's record is appended to
records.jsonl the moment it completes, so a crash or Ctrl-C loses nothing already judged and a
rerun of the same command resumes. At the end the records are rewritten in dataset order and
the summary is computed from them alone (and can be recomputed offline with ``rescore``).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from rmbench import __version__
from rmbench.config import RunConfig
from rmbench.errors import UserError
from rmbench.redaction import redact, redact_argv
from rmbench.scoring import get_scorer
from rmbench.scoring.aggregation import aggregation_summary
from rmbench.scoring.intervals import add_intervals
from rmbench.scoring.judging import failure_counts, position_bias
from rmbench.store.cost import cost_summary, cost_usd
from rmbench.store.rundir import RunDir, default_run_name, read_records
from rmbench.tasks import TaskData, get_spec, load_task, select
from rmbench.tasks.spec import apply_task_args

VERSIONED = ("rmbench", "datasets", "pandas", "numpy", "jinja2", "openai", "anthropic", "transformers",
             "torch", "vllm", "tokenizers")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


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


def task_args_for(config: RunConfig, spec) -> dict[str, Any]:
    """The ``--task-args`` that apply to one task: all of them for a single-task run (so a
    misspelt option is an error), else those the task declares (each key must be declared by
    some task of the run: checked in ``load_tasks``)."""
    if len(config.tasks) == 1:
        return dict(config.task_args)
    return {k: v for k, v in config.task_args.items() if k in spec.options}


@dataclass
class Prepared:
    tasks: list[TaskData]
    selected: dict[str, list]


def load_tasks(config: RunConfig, demo: bool = False) -> Prepared:
    paths = resolve_data_paths(config)
    if len(config.tasks) > 1 and config.task_args:
        declared = {k for name in config.tasks for k in get_spec(name).options}
        unknown = sorted(set(config.task_args) - declared)
        if unknown:
            raise UserError(f"--task-args {', '.join(unknown)}: no task in this run has such an option")
    tasks, selected = [], {}
    for name in config.tasks:
        spec = get_spec(name)
        apply_task_args(spec, task_args_for(config, spec))
        td = load_task(spec, paths[name], demo=demo)
        tasks.append(td)
        selected[name] = select(td.examples, config.limit, config.shard)
    return Prepared(tasks, selected)


class CrashPoint:
    """Test-only fault injection, used by tests/robustness to prove that a killed run loses
    nothing. ``RMBENCH_TEST_CRASH_AT=STAGE`` makes the process SIGKILL itself (as ``kill -9``
    would) at one point: ``records:N`` after N records are appended; ``torn:N`` after N records
    and then half a line (the start of the Nth line again, as a write cut short leaves it);
    ``judged`` when judging is done, before records are reordered; ``finalized`` after the
    reorder, before the summary; ``summary`` after summary.json/md are written, before run.json
    says complete. Unset (the normal case) it does nothing. This is the only place the
    variable is read."""

    def __init__(self, spec: str | None = None):
        spec = os.environ.get("RMBENCH_TEST_CRASH_AT", "") if spec is None else spec
        stage, _, n = spec.partition(":")
        self.stage = stage or None
        self.n = int(n) if n.isdigit() else 0
        self.count = 0

    @staticmethod
    def _die() -> None:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)

    def appended(self, rd: RunDir, record: dict) -> None:
        if self.stage not in ("records", "torn"):
            return
        self.count += 1
        if self.count < self.n:
            return
        if self.stage == "torn":
            from rmbench.store.rundir import dumps_record

            line = (dumps_record(record) + "\n").encode("utf-8")
            rd.sync()
            with open(rd.path / "records.jsonl", "ab") as f:
                f.write(line[: max(1, len(line) // 2)])
        rd.sync()
        self._die()

    def at(self, stage: str) -> None:
        if self.stage == stage:
            self._die()


def make_record(example, outcome, result: dict) -> dict:
    rec = {"task": example.task, "id": example.id, "subset": example.subset}
    if example.labels:
        rec["labels"] = dict(example.labels)
    rec["result"] = result
    rec["failures"] = outcome.failures()
    rec.update(outcome.to_json())
    return rec


def _window(judge, config: RunConfig) -> int:
    if getattr(judge, "batch_api", False):  # a batch API gets every request the run has, in one wave
        return 1 << 62
    if judge.provider.batched:
        return max(256, judge.provider.max_batch())
    return max(32, 4 * config.concurrency)


def aggregations(config: RunConfig, tasks: list[TaskData]) -> dict:
    """Per task, how its best-of-N items are judged (``--aggregate`` or the task's default)."""
    from rmbench.protocol.aggregate import check_method, plan

    check_method(config.aggregate)
    return {td.spec.name: plan(config.aggregate, td.spec.protocol, td.spec.name) for td in tasks}


async def _judge_examples(todo: list, judge, config: RunConfig, rd: RunDir, progress,
                          crash: CrashPoint | None = None, aggregation: dict | None = None) -> None:
    from rmbench.protocol import Policy
    from rmbench.protocol.aggregate import evaluate_aggregated

    policy = Policy(orders=config.orders, samples=config.samples, seed=config.seed, on_failure=config.on_failure)
    window = _window(judge, config)
    aggregation = aggregation or {}

    async def one(example, scorer):
        pairs = scorer.pairs(example) if hasattr(scorer, "pairs") else None
        outcome, tournament = await evaluate_aggregated(example, judge.mode, policy, judge.compare, judge.score,
                                                        aggregation.get(example.task), pairs=pairs)
        result = scorer.example_result(example, outcome)
        record = make_record(example, outcome, result)
        if tournament is not None:
            record["tournament"] = tournament
        rd.append(record)
        if crash is not None:
            crash.appended(rd, record)
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
            rd.sync()
        except Exception:
            if not quiet:  # never let a second write error hide the first one
                raise
        finally:
            await judge.aclose()

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
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            # retrieve every failure (an unretrieved one is logged as a traceback), raise the first
            errors = [t.exception() for t in done if not t.cancelled()]
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


def _latency_summary(latencies: list[float]) -> dict[str, float] | None:
    if not latencies:
        return None
    xs = sorted(latencies)

    def q(p: float) -> float:
        return round(xs[min(len(xs) - 1, int(p * len(xs)))], 4)

    return {"p50": q(0.50), "p90": q(0.90), "p99": q(0.99), "max": round(xs[-1], 4)}


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
    return dict(sorted(out.items()))


def summarize(config: RunConfig, judge_desc: dict, tasks: list[TaskData], records: list[dict]) -> dict:
    from rmbench.judges.logprobs import summary_note as p_labels_note

    by_task: dict[str, list[dict]] = {}
    for r in records:
        by_task.setdefault(r["task"], []).append(r)
    out: dict[str, Any] = {"rmbench_version": __version__, "model": config.model, "seed": config.seed,
                           "judge": judge_desc, "orders": config.orders, "samples": config.samples,
                           "on_failure": config.on_failure, "limit": config.limit,
                           "shard": list(config.shard) if config.shard else None, "tasks": {}}
    for td in tasks:
        recs = by_task.get(td.spec.name, [])
        scorer = get_scorer(td.spec.scoring)
        summ = scorer.aggregate(recs, td.spec.options) if recs else {"score": None, "n": 0}
        if recs:  # 95% bootstrap intervals, seeded by the run seed (rmbench/scoring/intervals.py)
            add_intervals(summ, recs, scorer.aggregate, td.spec.options, seed=config.seed, task=td.spec.name)
        judging: dict[str, Any] = {"failures": failure_counts(recs), "on_failure": config.on_failure}
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
        if td.notes:
            summ["data_notes"] = td.notes
        agg = aggregation_summary(recs)
        if agg is not None:
            summ["aggregation"] = agg
        summ["version"] = td.spec.version
        out["tasks"][td.spec.name] = summ
    # cross-task figures (e.g. RewardBench's score with its prior sets run as a second task)
    for td in tasks:
        combine = getattr(get_scorer(td.spec.scoring), "combine", None)
        if combine is not None and td.spec.name in out["tasks"]:
            combine(td.spec.name, out["tasks"], td.spec.options)
    if config.price:  # deterministic: a function of the records' token totals and the prices
        totals: dict[str, int] = {}
        for t in out["tasks"].values():
            for k, v in (t.get("usage") or {}).items():
                totals[k] = totals.get(k, 0) + v
        out["cost"] = cost_summary(totals, config.price, config.batch)
    return out


def run(config: RunConfig, demo: bool = False, argv: list[str] | None = None, show_progress: bool | None = None) -> Path:
    from rmbench.judges import build_judge, build_provider
    from rmbench.reports.markdown import summary_markdown

    config.validate()
    aggregations(config, [])                  # a bad --aggregate fails before any work
    crash = CrashPoint()
    provider = build_provider(config)          # missing keys, unknown models: fail before any work
    judge = build_judge(config, provider)
    prepared = load_tasks(config, demo=demo)
    aggregation = aggregations(config, prepared.tasks)
    provenance = {td.spec.name: td.provenance for td in prepared.tasks}
    # as it reads back from run.json (tuples become lists), so that a rerun compares equal and resumes
    identity = json.loads(json.dumps({**redact(config.identity()), "data": provenance, "judge": judge.describe()}))
    run_name = config.run_name or default_run_name(config.model, config.tasks)
    if config.shard and not config.run_name:  # shards of one job array must not share a directory
        run_name += f"--shard{config.shard[0]}of{config.shard[1]}"
    rd = RunDir.create(config.output_dir, run_name, identity, overwrite=config.overwrite)
    try:
        done = rd.completed()
        if config.retry_failed:
            kept = [r for r in done.values() if not r.get("failures")]
            rd.drop_records(kept)
            done = {(r["task"], r["id"]): r for r in kept}
        rd.invalidate_summary()
        run_info = {"rmbench_version": __version__, "status": "running", "command": redact_argv(argv or sys.argv),
                    "config": redact(config.to_json()), "identity": identity, "judge": judge.describe(),
                    "datasets": provenance,
                    "data_notes": {td.spec.name: td.notes for td in prepared.tasks if td.notes},
                    "env_vars_used": sorted(getattr(provider, "env_vars_used", [])),
                    "versions": package_versions(), "started": _now(), "resumed_records": len(done)}
        rd.write_run_json(run_info)
        todo = [(ex, get_scorer(td.spec.scoring)) for td in prepared.tasks
                for ex in prepared.selected[td.spec.name] if (td.spec.name, ex.id) not in done]
        progress = None
        quiet = show_progress is False
        if show_progress is None:
            show_progress = sys.stderr.isatty()
        if show_progress and todo:
            from tqdm import tqdm

            progress = tqdm(total=len(todo), desc="judging", unit="ex", file=sys.stderr, mininterval=0.5,
                            dynamic_ncols=True)
        judge.run_dir = rd.path  # --batch keeps its batch ids there (batches.json)
        if not quiet:
            judge.log = progress.write if progress is not None else (lambda line: print(line, file=sys.stderr))
            if todo and not config.batch:
                from rmbench.judges.batching import unfinished_batches

                n = unfinished_batches(rd.path, judge.provider.cache_identity())
                if n:
                    judge.log(f"note: {n} batch(es) submitted by an earlier --batch run of this directory were "
                              "never collected; add --batch to use their answers instead of asking again")
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            asyncio.run(_judge_examples(todo, judge, config, rd, progress, crash, aggregation))
        except KeyboardInterrupt:
            run_info.update(status="interrupted", stopped=_now())
            rd.write_run_json(run_info)
            raise
        finally:
            if progress is not None:
                progress.close()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        # canonical order: tasks as given, examples in dataset order
        all_recs = {(r["task"], r["id"]): r for r in read_records(rd.path / "records.jsonl")}
        ordered = [all_recs[(td.spec.name, ex.id)] for td in prepared.tasks
                   for ex in prepared.selected[td.spec.name] if (td.spec.name, ex.id) in all_recs]
        missing = sum(len(v) for v in prepared.selected.values()) - len(ordered)
        if missing:
            raise UserError(f"{missing} examples have no record after judging; rerun to resume")
        crash.at("judged")
        rd.finalize_records(ordered)
        crash.at("finalized")
        summary = summarize(config, judge.describe(), prepared.tasks, ordered)
        rd.write_summary(summary, summary_markdown(summary))
        crash.at("summary")
        s = judge.stats
        run_info.update(status="complete", finished=_now(), stats={
            "examples": len(ordered), "judged_now": len(todo), "wall_seconds": round(wall, 3),
            "cpu_seconds": round(cpu, 3),
            "requests": s.requests, "cache_hits": s.cache_hits, "retries": s.retries, "failures_now": s.failures,
            "tokens_now": dict(sorted(s.tokens.items())), "latency_seconds": _latency_summary(s.latencies)})
        provider_stats = getattr(provider, "run_stats", None)
        if provider_stats is not None:  # e.g. inputs a local model truncated or found too long
            run_info["stats"]["provider"] = provider_stats()
        if config.price and summary:
            run_info["cost_usd"] = summary["cost"]["usd"]  # every judgment in the run (also in summary.json)
            run_info["cost_usd_spent"] = cost_usd(s.tokens.get("input_tokens", 0), s.tokens.get("output_tokens", 0),
                                                  config.price, config.batch)  # this invocation's requests
        rd.write_run_json(run_info)
        return rd.path
    finally:
        rd.close()
        if judge.cache is not None:
            judge.cache.close()


def rescore(run_dir: str | Path) -> dict:
    """Recompute summary.json from records.jsonl (no model calls)."""
    from rmbench.reports.markdown import summary_markdown

    p = Path(run_dir)
    try:
        run_info = json.loads((p / "run.json").read_text(encoding="utf-8"))
        cfg = run_info["config"]
        config = RunConfig(model=cfg["model"], tasks=list(cfg["tasks"]), seed=cfg["seed"], orders=cfg["orders"],
                           samples=cfg["samples"], on_failure=cfg["on_failure"], limit=cfg.get("limit"),
                           shard=tuple(cfg["shard"]) if cfg.get("shard") else None,
                           task_args=cfg.get("task_args") or {}, aggregate=cfg.get("aggregate"),
                           price=tuple(cfg["price"]) if cfg.get("price") else None, batch=bool(cfg.get("batch")))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"{run_dir}: run.json is unreadable or incomplete ({type(e).__name__}: {e})") from None
    if run_info.get("status") != "complete":
        raise UserError(f"{run_dir}: the run is not complete (status '{run_info.get('status')}'); "
                        "rerun its command to finish it before rescoring")
    tasks = []
    for name in config.tasks:
        spec = get_spec(name)
        apply_task_args(spec, task_args_for(config, spec))
        tasks.append(TaskData(spec=spec, examples=[], provenance=run_info.get("datasets", {}).get(name, {}),
                              notes=(run_info.get("data_notes") or {}).get(name, {})))
    records = list(read_records(p / "records.jsonl"))
    summary = summarize(config, run_info.get("judge", {}), tasks, records)
    from rmbench.store.rundir import write_json_atomic, write_text_atomic

    write_json_atomic(p / "summary.json", summary)
    write_text_atomic(p / "summary.md", summary_markdown(summary))
    return summary
