"""The Python API: ``evaluate`` / ``evaluate_async`` run a judge on tasks (in memory, or into a
run directory like the command line), ``rescore``, ``compare``, ``gate`` and ``leaderboard`` work
on finished runs. Every function goes through the same pipeline as the CLI (``rmbench.runner``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from rmbench.config import GenConfig, RunConfig
from rmbench.errors import UserError
from rmbench.types import Example

_SETTINGS = {f.name for f in dataclasses.fields(RunConfig)} - {"model", "tasks", "gen", "output_dir"}


@dataclass
class Result:
    """What a run produced: the summary (as summary.json), the records (as records.jsonl, in
    dataset order), the run directory (None for an in-memory run) and run.json's content."""

    summary: dict
    records: list[dict]
    path: Path | None = None
    run: dict | None = None

    def score(self, task: str | None = None) -> float | None:
        """A task's headline score (the only task's when the run has one)."""
        tasks = self.summary["tasks"]
        if task is None:
            if len(tasks) != 1:
                raise UserError(f"the run has {len(tasks)} tasks; name one: {', '.join(tasks)}")
            task = next(iter(tasks))
        if task not in tasks:
            raise UserError(f"no task '{task}' in this run (tasks: {', '.join(tasks)})")
        return tasks[task].get("score")

    def to_pandas(self):
        """One row per judge answer: task, subset, id, ``kind`` (``pair``, ``score`` or
        ``pick``), the candidates compared (``first``/``second`` as shown to the judge), scored
        (``candidate``) or listed (``order``), sample, status, verdict (``winner``/``label``) or
        ``value``, ``judgment_correct`` (the verdict named a preferred candidate over one that is
        not; None where it cannot say: a failed answer, a pair of two preferred or two rejected
        candidates, a record that does not say which are preferred, a score), the example's
        ``correct`` as the task scores it, and the raw output."""
        import pandas as pd

        from rmbench.scoring.replay import preferred_of

        columns = ["task", "subset", "id", "kind", "first", "second", "candidate", "order", "sample", "status",
                   "winner", "label", "value", "judgment_correct", "correct", "raw"]
        rows: list[dict] = []
        for r in self.records:
            base = dict.fromkeys(columns)
            base.update(task=r["task"], subset=r["subset"], id=r["id"], correct=r["result"].get("correct"))
            pref = preferred_of(r)
            preferred = None if pref is None else set(pref)
            for p in r.get("pairs") or []:
                decisive = preferred is not None and ((p["i"] in preferred) != (p["j"] in preferred))
                for j in p["judgments"]:
                    right = (j.get("winner") in preferred) if decisive and j["status"] == "ok" else None
                    rows.append({**base, "kind": "pair", "first": j["first"], "second": j["second"],
                                 "sample": j.get("sample", 0), "status": j["status"], "winner": j.get("winner"),
                                 "label": j.get("label"), "judgment_correct": right, "raw": j.get("raw")})
            for per in r.get("scores") or []:
                for s in per:
                    rows.append({**base, "kind": "score", "candidate": s["index"], "sample": s.get("sample", 0),
                                 "status": s["status"], "value": s.get("value"), "raw": s.get("raw")})
            for k in r.get("picks") or []:
                decisive = preferred is not None and 0 < len(preferred & set(k["order"])) < len(k["order"])
                right = (k.get("winner") in preferred) if decisive and k["status"] == "ok" else None
                rows.append({**base, "kind": "pick", "order": list(k["order"]), "sample": k.get("sample", 0),
                             "status": k["status"], "winner": k.get("winner"), "label": k.get("label"),
                             "judgment_correct": right, "raw": k.get("raw")})
        return pd.DataFrame(rows, columns=columns)

    def __repr__(self) -> str:
        scores = ", ".join(f"{t}={s.get('score'):.4f}" if isinstance(s.get("score"), float) else f"{t}=None"
                           for t, s in self.summary["tasks"].items())
        where = f", path={str(self.path)!r}" if self.path else ""
        return f"Result(model={self.summary.get('model')!r}, {scores}, records={len(self.records)}{where})"


def _model_label(model: Any) -> str:
    if isinstance(model, str):
        return model
    from rmbench.judges import Judge
    from rmbench.judges.base import BaseProvider

    provider = model.provider if isinstance(model, Judge) else model
    if not isinstance(provider, BaseProvider):
        raise UserError(f"model must be a 'provider/name' string, a provider object or a Judge, "
                        f"not {type(model).__name__}")
    prefix = type(provider).__module__.rsplit(".", 1)[-1]
    return getattr(provider, "model_spec", None) or f"{prefix}/{provider.name}"


def _config(model: Any, tasks: Any, gen: Any, output_dir: Any, settings: dict) -> tuple[RunConfig, dict | None]:
    unknown = sorted(set(settings) - _SETTINGS)
    if unknown:
        raise UserError(f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                        f"(known: {', '.join(sorted(_SETTINGS | {'gen', 'output_dir'}))})")
    examples = None
    if isinstance(tasks, str):
        names = [t.strip() for t in tasks.split(",") if t.strip()]
    elif isinstance(tasks, Mapping):
        examples = {str(k): list(v) if not isinstance(v, (str, bytes)) and isinstance(v, Iterable) else v
                    for k, v in tasks.items()}
        names = list(examples)
    elif isinstance(tasks, Sequence):
        names = [str(t) for t in tasks]
    else:
        raise UserError("tasks must be task names or a {name: [rmbench.Example, ...]} mapping")
    if gen is None:
        gen_config = GenConfig()
    elif isinstance(gen, GenConfig):
        gen_config = gen
    elif isinstance(gen, Mapping):
        known = {f.name for f in dataclasses.fields(GenConfig)}
        bad = sorted(set(gen) - known)
        if bad:
            raise UserError(f"unknown gen setting {', '.join(bad)} (known: {', '.join(sorted(known))})")
        gen_config = GenConfig(**{k: tuple(v) if k == "stop" and isinstance(v, list) else v for k, v in gen.items()})
    else:
        raise UserError("gen must be a dict of generation settings or a GenConfig")
    kw = dict(settings)
    for key in ("model_args", "task_args"):
        if kw.get(key) is None:
            kw.pop(key, None)
    for key in ("price", "shard"):
        if isinstance(kw.get(key), list):
            kw[key] = tuple(kw[key])
    config = RunConfig(model=_model_label(model), tasks=names, gen=gen_config,
                       output_dir=str(output_dir) if output_dir is not None else None, **kw)
    return config, examples


async def evaluate_async(model: Any, tasks: Any, *, gen: Mapping[str, Any] | GenConfig | None = None,
                         output_dir: str | Path | None = None, progress: bool | None = None,
                         demo: bool = False, **settings: Any) -> Result:
    """Judge ``tasks`` with ``model`` inside a running event loop (``await`` it).

    - ``model``: ``"provider/name"`` (``openai/gpt-4o-mini``, ``hf/./my-rm``, ``baseline/longest``),
      or a provider object (a ``rmbench.judges.base.BaseProvider``), or a ``Judge``.
    - ``tasks``: task names (``["rewardbench"]`` or ``"rm-bench"``), or ``{name: [Example, ...]}`` for
      in-memory examples, scored as best-of-N accuracy (a pair is best-of-2) under a name that is
      not a registered task's (rows for a registered task go through ``data_path``).
    - ``gen``: generation settings (``{"temperature": 0, "max_tokens": 512}``).
    - ``output_dir``: None (default) keeps the run in memory (no run directory, no lock; generative
      judges still read and write the judgment cache unless ``no_cache=True``); a folder writes a
      run directory there exactly as ``rmbench run`` does (and resumes one).
    - every other ``rmbench run`` setting by its name: ``limit``, ``seed``, ``prompt``, ``orders``,
      ``samples``, ``on_failure``, ``aggregate``, ``data_path``, ``model_args``, ``task_args``,
      ``run_name``, ``concurrency``, ``cache``, ``no_cache``, ``price``, ...
    - ``progress``: None shows a bar on a terminal or in Jupyter (``tqdm.auto``), True always, False never.
    - ``demo``: judge each task's small embedded demo sample instead of its data (no network).
    """
    from rmbench.runner import prepare, run_plan

    config, examples = _config(model, tasks, gen, output_dir, settings)
    judge = None if isinstance(model, str) else model
    # loading data and a local model takes seconds to minutes: off the event loop, so that the
    # caller's other tasks (a trainer's, a notebook's) keep running meanwhile
    plan = await asyncio.to_thread(prepare, config, judge=judge, examples=examples, demo=demo)
    out = await run_plan(plan, command=None, progress="auto" if progress is None else progress)
    return Result(out.summary, out.records, out.path, out.run_info)


def evaluate(model: Any, tasks: Any, **kwargs: Any) -> Result:
    """``evaluate_async`` for plain scripts (see it for the arguments). Inside a running event
    loop (Jupyter, an async trainer) use ``await rmbench.evaluate_async(...)`` instead."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(evaluate_async(model, tasks, **kwargs))
    raise UserError("rmbench.evaluate() was called inside a running event loop (Jupyter, an async program); "
                    "use 'await rmbench.evaluate_async(...)' there")


# -- finished runs ----------------------------------------------------------------------------------

RunLike = Any   # a run directory, a summary.json path, or a Result


def _as_run(run: RunLike, records: bool = False) -> dict:
    """A run as the report functions take it: {"path", "run", "summary"} (+ "records")."""
    if isinstance(run, Result):
        out = {"path": str(run.path) if run.path else "<memory>", "run": run.run or {}, "summary": run.summary}
        if records:
            if run.run is None:  # in memory: the settings are in the records and the summary
                raise UserError("compare and gate need runs with a run directory (evaluate(..., output_dir=...))")
            out["records"] = run.records
        return out
    if records:
        from rmbench.scoring import record_checker
        from rmbench.store.rundir import load_complete

        return load_complete(run, checker=record_checker)
    from rmbench.reports.leaderboard import load_any

    return load_any(run)


def rescore(path: str | Path) -> dict:
    """Recompute a finished run's summary from its records (no model calls); returns it."""
    from rmbench.runner import rescore as _rescore

    return _rescore(path)


def compare(a: RunLike, b: RunLike, **kwargs: Any) -> dict:
    """Per-metric changes B - A with paired bootstrap intervals and an exact McNemar test."""
    from rmbench.reports.compare import compare_runs

    return compare_runs(_as_run(a, records=True), _as_run(b, records=True), **kwargs)


def gate(baseline: RunLike, candidate: RunLike, **kwargs: Any) -> dict:
    """The CI regression gate: ``result["passed"]`` is False when a gated metric drops
    significantly by more than ``max_drop`` points."""
    from rmbench.reports.gate import has_records, run_gate

    def load(x):
        r = _as_run(x)
        return _as_run(x, records=True) if has_records(r) else r

    return run_gate(load(baseline), load(candidate), **kwargs)


def leaderboard(runs: Sequence[RunLike], format: str = "md", **kwargs: Any) -> str:
    """A leaderboard from finished runs (run directories, folders of runs, summary.json files or
    Results), rendered as markdown, csv, latex, html or json."""
    from rmbench.reports.formats import render
    from rmbench.reports.layouts import build_leaderboard
    from rmbench.reports.leaderboard import find_runs

    found: list[dict] = []
    paths = [r for r in runs if not isinstance(r, Result)]
    if paths:
        found += find_runs([str(p) for p in paths])
    found += [_as_run(r) for r in runs if isinstance(r, Result)]
    board = build_leaderboard(found, kwargs.pop("tasks", None)).sort(kwargs.pop("sort", None))
    return render(board, format, **kwargs)


__all__ = ["Example", "Result", "compare", "evaluate", "evaluate_async", "gate", "leaderboard", "rescore"]
