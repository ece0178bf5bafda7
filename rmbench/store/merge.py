"""Merging shard runs (``rmbench run ... --shard i/n``) into one run.

``--shard i/n`` judges ``examples[i::n]`` of each task's selection, and each shard writes its
records in that order. So the unsharded order is recovered exactly, without loading any data:
position ``k`` of a task is record ``k // n`` of shard ``k % n``. The merged summary is then
computed from the merged records by the same code as a normal run, so it equals the summary
of the unsharded run (the data notes, counted over the whole dataset by every shard, are
taken from the shards' summaries).

Refused, with a one-line reason: incomplete runs, runs that are not shards, runs whose
identity (model, judge, data, seed, orders, limit, ...) differs in anything but the shard,
shards given twice, missing shards, and record counts that do not fit the shard layout.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from rmbench.errors import UserError
from rmbench.store.rundir import RECORDS, RUN_JSON, SUMMARY_JSON, RunDir, read_records

SHARD_SUFFIX = re.compile(r"--shard\d+of\d+$")


@dataclass
class Shard:
    path: Path
    run: dict
    summary: dict
    records: list[dict]

    @property
    def index(self) -> tuple[int, int]:
        i, n = self.run["config"]["shard"]
        return int(i), int(n)


@dataclass
class MergePlan:
    shards: list[Shard]            # sorted by shard index
    records: list[dict]            # in the unsharded run's order
    config: dict                   # run.json "config" with shard = None
    identity: dict                 # the unsharded run's identity
    judge: dict
    data_notes: dict[str, Any] = field(default_factory=dict)


def _load(path: str | Path) -> Shard:
    p = Path(path)
    if not (p / RUN_JSON).is_file() or not (p / RECORDS).is_file():
        raise UserError(f"{path}: not a run directory (needs run.json and records.jsonl)")
    try:
        run = json.loads((p / RUN_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: unreadable run.json: {e}") from None
    if run.get("status") != "complete" or not (p / SUMMARY_JSON).is_file():
        raise UserError(f"{path}: the run is not complete (status: {run.get('status', 'unknown')}); "
                        "rerun its command to finish it before merging")
    if not (run.get("config") or {}).get("shard"):
        raise UserError(f"{path}: not a shard run (it was run without --shard)")
    try:
        summary = json.loads((p / SUMMARY_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: unreadable summary.json: {e}") from None
    return Shard(p, run, summary, list(read_records(p / RECORDS)))


def _without_shard(d: dict) -> dict:
    return {k: v for k, v in d.items() if k != "shard"}


def plan_merge(paths: list[str | Path]) -> MergePlan:
    if not paths:
        raise UserError("give the shard run directories to merge")
    shards = [_load(p) for p in paths]
    resolved = [s.path.resolve() for s in shards]
    if len(set(resolved)) != len(resolved):
        dup = next(p for p in resolved if resolved.count(p) > 1)
        raise UserError(f"{dup} is given twice")
    first = shards[0]
    n = first.index[1]
    ident = _without_shard(first.run.get("identity") or {})
    by_index: dict[int, Shard] = {}
    for s in shards:
        i, m = s.index
        if m != n:
            raise UserError(f"{s.path} is shard {i}/{m} but {first.path} is shard {first.index[0]}/{n}: "
                            "the runs come from different job arrays")
        other = _without_shard(s.run.get("identity") or {})
        if other != ident:
            diff = sorted(k for k in set(ident) | set(other) if ident.get(k) != other.get(k))
            raise UserError(f"{s.path} and {first.path} differ in {', '.join(diff)}; only the shard may differ")
        if i in by_index:
            raise UserError(f"shard {i}/{n} is given twice ({by_index[i].path} and {s.path})")
        by_index[i] = s
    missing = [f"{i}/{n}" for i in range(n) if i not in by_index]
    if missing:
        raise UserError(f"missing shard{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                        f"(have {', '.join(f'{i}/{n}' for i in sorted(by_index))})")
    ordered = [by_index[i] for i in range(n)]
    config = {**first.run["config"], "shard": None}
    records = _interleave(ordered, list(config.get("tasks") or []))
    notes = {}
    for task, summ in (first.summary.get("tasks") or {}).items():
        if "data_notes" in summ:
            notes[task] = summ["data_notes"]
    return MergePlan(shards=ordered, records=records, config=config, identity={**ident, "shard": None},
                     judge=first.run.get("judge") or {}, data_notes=notes)


def _interleave(shards: list[Shard], tasks: list[str]) -> list[dict]:
    n = len(shards)
    per_shard: list[dict[str, list[dict]]] = []
    seen: set[tuple[str, str]] = set()
    for s in shards:
        groups: dict[str, list[dict]] = {}
        for r in s.records:
            key = (r.get("task"), r.get("id"))
            if key in seen:
                raise UserError(f"{s.path}: example {key[1]} of task {key[0]} also appears in another shard")
            seen.add(key)
            if r.get("task") not in tasks:
                raise UserError(f"{s.path}: a record for task '{r.get('task')}', which the run does not list")
            groups.setdefault(r["task"], []).append(r)
        per_shard.append(groups)
    merged: list[dict] = []
    for task in tasks:
        counts = [len(g.get(task, [])) for g in per_shard]
        total = sum(counts)
        for i, c in enumerate(counts):
            want = len(range(i, total, n))
            if c != want:
                raise UserError(f"{shards[i].path} has {c} records of task {task}; shard {i}/{n} of "
                                f"{total} examples should have {want}")
        merged.extend(per_shard[k % n][task][k // n] for k in range(total))
    return merged


def default_output(plan: MergePlan) -> Path:
    p = plan.shards[0].path.resolve()
    base = SHARD_SUFFIX.sub("", p.name)
    return p.parent / (base if base != p.name else f"{p.name}--merged")


def _sum_stats(shards: list[Shard]) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def add(dst: dict, src: dict) -> None:
        for k, v in src.items():
            if isinstance(v, bool):
                continue
            if isinstance(v, (int, float)):
                dst[k] = round(dst.get(k, 0) + v, 6)
            elif isinstance(v, dict) and k != "latency_seconds":
                add(dst.setdefault(k, {}), v)

    for s in shards:
        add(out, s.run.get("stats") or {})
    return out


def merged_run_json(plan: MergePlan, argv: list[str] | None) -> dict[str, Any]:
    first = plan.shards[0].run
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    env_vars = sorted({v for s in plan.shards for v in s.run.get("env_vars_used") or []})
    return {
        "rmbench_version": first.get("rmbench_version"), "status": "complete", "command": argv,
        "config": plan.config, "identity": plan.identity, "judge": plan.judge,
        "datasets": first.get("datasets"), "data_notes": plan.data_notes, "env_vars_used": env_vars, "versions": first.get("versions"),
        "merged": {"at": now, "shards": [
            {"shard": list(s.index), "path": str(s.path.resolve()), "records": len(s.records),
             "started": s.run.get("started"), "finished": s.run.get("finished"),
             "versions": s.run.get("versions"), "command": s.run.get("command")} for s in plan.shards]},
        "stats": _sum_stats(plan.shards),
    }


def write_merged(plan: MergePlan, out: Path, summary: dict, markdown: str, argv: list[str] | None = None,
                 overwrite: bool = False) -> Path:
    out = Path(out).resolve()
    if any(out == s.path.resolve() for s in plan.shards):
        raise UserError(f"-o {out} is one of the shard runs; merge into a new directory")
    existing = out / RUN_JSON
    if existing.is_file() and not overwrite:
        try:
            previous = json.loads(existing.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = {}
        if "merged" not in previous:  # never replace a run that was judged there
            raise UserError(f"{out} already holds a run; choose another -o or pass --overwrite")
    rd = RunDir.create(str(out.parent), out.name, plan.identity, overwrite=overwrite)
    try:
        rd.finalize_records(plan.records)
        rd.write_summary(summary, markdown)
        rd.write_run_json(merged_run_json(plan, argv))
    finally:
        rd.close()
    return out


def merge_runs(paths: list[str | Path], out: str | Path | None, summarize: Callable[[MergePlan], dict],
               markdown: Callable[[dict], str], argv: list[str] | None = None, overwrite: bool = False) -> Path:
    """Validate, merge and write; ``summarize`` computes the summary from the plan (the
    runner's code, passed in so that reports does not import the runner)."""
    plan = plan_merge(paths)
    summary = summarize(plan)
    return write_merged(plan, Path(out) if out else default_output(plan), summary, markdown(summary), argv,
                        overwrite)
