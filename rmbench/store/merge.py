"""Merging shard runs (``rmbench run ... --shard i/n``) into one run.

``--shard i/n`` judges ``examples[i::n]`` of each task's selection, and each shard writes its
records in that order. So the unsharded order is recovered exactly, without loading any data:
position ``k`` of a task is record ``k // n`` of shard ``k % n``. The merged summary is then
computed by the runner's own ``summarize`` (``rmbench.runner.merge``), so it equals the summary
of the unsharded run.

Each shard is read through the validated reader of finished runs (``load_complete``): its
records must be exactly the examples its run.json says it judged, each once, in order, all
written by its configuration. Refused, with a one-line reason: incomplete or damaged runs, runs
that are not shards, runs whose identity (model, judge, data, seed, orders, limit, ...) differs
in anything but the shard, shards given twice, and missing shards.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rmbench.errors import UserError
from rmbench.store import files
from rmbench.store.rundir import RECORDS, RUN_JSON, RunDir, load_complete
from rmbench.store.schema import identity_hash, ids_sha256, read_run_json

SHARD_SUFFIX = re.compile(r"--shard\d+of\d+$")


@dataclass
class Shard:
    path: Path
    run: dict
    records: list[dict]

    @property
    def index(self) -> tuple[int, int]:
        i, n = self.run["config"]["shard"]
        return int(i), int(n)


@dataclass
class MergePlan:
    shards: list[Shard]            # sorted by shard index
    records: list[dict]            # in the unsharded run's order, stamped with the merged identity
    config: dict                   # run.json "config" with shard = None
    identity: dict                 # the unsharded run's identity
    identity_hash: str
    judge: dict
    tasks: dict[str, dict]         # run.json "tasks" of the unsharded run
    data_notes: dict[str, Any] = field(default_factory=dict)


def _load(path: str | Path, checker=None) -> Shard:
    run = load_complete(path, need_summary=False, checker=checker)
    if not (run["run"].get("config") or {}).get("shard"):
        raise UserError(f"{path}: not a shard run (it was run without --shard)")
    shard = run["run"]["config"]["shard"]
    if not (isinstance(shard, list) and len(shard) == 2 and all(isinstance(x, int) for x in shard)
            and 0 <= shard[0] < shard[1]):
        raise UserError(f"{path}: run.json's config.shard is not I/N")
    return Shard(Path(run["path"]), run["run"], run["records"])


def _without_shard(d: dict) -> dict:
    return {k: v for k, v in d.items() if k != "shard"}


def plan_merge(paths: list[str | Path], checker=None) -> MergePlan:
    """Validate the shards (``checker``: ``load_complete``'s per-record check) and interleave them."""
    if not paths:
        raise UserError("give the shard run directories to merge")
    shards = [_load(p, checker) for p in paths]
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
    identity = {**ident, "shard": None}
    ihash = identity_hash(identity)
    task_info = first.run["tasks"]
    records: list[dict] = []
    merged_tasks: dict[str, dict] = {}
    for task, info in task_info.items():
        per = [[r for r in s.records if r["task"] == task] for s in ordered]
        total = sum(len(p) for p in per)
        for i, p in enumerate(per):  # each shard was checked against its own example list
            if len(p) != len(range(i, total, n)):
                raise UserError(f"{ordered[i].path} has {len(p)} records of task {task}; shard {i}/{n} of "
                                f"{total} examples should have {len(range(i, total, n))}")
        mine = [{**per[k % n][k // n], "run_identity": ihash} for k in range(total)]
        records.extend(mine)
        merged_tasks[task] = {**info, "selection": {"n": total, "ids_sha256": ids_sha256([r["id"] for r in mine])}}
    return MergePlan(shards=ordered, records=records, config={**first.run["config"], "shard": None},
                     identity=identity, identity_hash=ihash, judge=first.run.get("judge") or {},
                     tasks=merged_tasks, data_notes=dict(first.run.get("data_notes") or {}))


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


def merged_run_json(plan: MergePlan, summary: dict, command: list[str] | None) -> dict[str, Any]:
    first = plan.shards[0].run
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    env_vars = sorted({v for s in plan.shards for v in s.run.get("env_vars_used") or []})
    out = {
        "rmbench_version": first.get("rmbench_version"), "status": "complete", "command": command,
        "config": plan.config, "identity": plan.identity, "identity_hash": plan.identity_hash, "judge": plan.judge,
        "tasks": plan.tasks, "datasets": first.get("datasets"), "data_notes": plan.data_notes,
        "env_vars_used": env_vars, "versions": first.get("versions"),
        "merged": {"at": now, "shards": [
            {"shard": list(s.index), "path": str(s.path.resolve()), "records": len(s.records),
             "started": s.run.get("started"), "finished": s.run.get("finished"),
             "versions": s.run.get("versions"), "command": s.run.get("command")} for s in plan.shards]},
        "stats": _sum_stats(plan.shards),
    }
    if "cost" in summary:
        out["cost_usd"] = summary["cost"]["usd"]
    return out


def write_merged(plan: MergePlan, out: str | Path | None, summary: dict, markdown: str,
                 command: list[str] | None = None, overwrite: bool = False) -> Path:
    out = Path(out).resolve() if out else default_output(plan)
    if any(out == s.path.resolve() for s in plan.shards):
        raise UserError(f"-o {out} is one of the shard runs; merge into a new directory")
    existing = out / RUN_JSON
    if not overwrite and not files.exists(existing) and files.exists(out / RECORDS):
        raise UserError(f"{out} holds records but no run.json; choose another -o or pass --overwrite")
    if files.exists(existing) and not overwrite:
        try:
            previous = read_run_json(existing)
        except UserError:
            previous = {}
        if "merged" not in previous:  # never replace a run that was judged there
            raise UserError(f"{out} already holds a run; choose another -o or pass --overwrite")
    rd = RunDir.create(str(out.parent), out.name, plan.identity, plan.identity_hash, overwrite=True)
    try:
        rd.finalize_records(plan.records)
        digest = rd.write_summary(summary, markdown)
        rd.write_run_json({**merged_run_json(plan, summary, command), "summary_sha256": digest})
    finally:
        rd.close()
    return out
