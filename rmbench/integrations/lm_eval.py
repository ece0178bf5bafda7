"""lm-eval interop: rmbench tasks as lm-eval YAML tasks for pairwise generative judging.

``rmbench lm-eval-tasks`` writes, into one directory that ``lm_eval --include_path`` reads:

- ``rmbench_<task>.yaml``: a ``generate_until`` task over a local JSONL file;
- ``data/rmbench_<task>.jsonl``: one document per judgment rmbench would ask (every comparison
  the task's protocol needs, in both presentation orders by default), with the judge prompt
  already rendered from an rmbench template (dataset text only ever enters as a variable);
- ``data/rmbench_<task>.meta.json``: the task's scoring options and metric layout;
- ``utils.py``: thin hooks that call back into this module.

lm-eval generates the verdicts; the hooks parse them with rmbench's own parser (a failure
scores as a loss) and score them with rmbench's own scorer, so ``score`` and each section come
out exactly as ``rmbench run`` would report them for the same verdicts. ``judgment_acc`` is the
plain share of judgments that picked the preferred response.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from rmbench.errors import UserError

PREFIX = "rmbench_"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "x"


def default_dir() -> Path:
    root = os.environ.get("RMBENCH_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "rmbench")
    return Path(root) / "lm_eval_tasks"


# -- writing the tasks --------------------------------------------------------------------------

def _metric_keys(summary: dict) -> dict[str, list]:
    """lm-eval metric name -> path in rmbench's task summary (score, extra metrics, sections)."""
    from rmbench.scoring.metrics import walk

    out: dict[str, list] = {}
    for m in walk(summary, min_subset_n=10**12):
        base = slug(m.name)
        key, n = base, 2
        while key in out or key == "judgment_acc":
            key, n = f"{base}_{n}", n + 1
        out[key] = list(m.path)
    return out


def _perfect_summary(plan, scorer, spec, policy) -> dict:
    """The task summary a judge that always prefers the preferred response would get: used only
    to learn which metrics and sections the data has."""
    from rmbench.protocol import default_pairs
    from rmbench.runner import example_result
    from rmbench.types import OK, Judgment

    records = []
    for ex in plan.selected[spec.name]:
        pairs = scorer.pairs(ex) if hasattr(scorer, "pairs") else default_pairs(ex)
        judgments = {(i, j): [Judgment(i, j, 0, OK, winner=i if i in ex.preferred else j)] for i, j in pairs}
        records.append({"task": ex.task, "id": ex.id, "subset": ex.subset, "labels": dict(ex.labels),
                        "result": example_result(scorer, ex, judgments, policy)})
    return scorer.aggregate(records, spec.options)


def write_task(out_dir: Path, name: str, *, data_path: str | None = None, demo: bool = False, prompt: str = "pairwise",
               orders: str = "both", seed: int = 0, limit: int | None = None, task_args: dict | None = None,
               max_gen_toks: int = 2048) -> str:
    from rmbench import __version__
    from rmbench.config import RunConfig
    from rmbench.judges.base import BaseProvider
    from rmbench.judges.prompts import PAIRWISE
    from rmbench.protocol import Policy
    from rmbench.runner import comparisons_of, prepare

    class Export(BaseProvider):
        """The judge of an export: its template renders the prompts; nothing is ever asked."""

    config = RunConfig(model="lm-eval/export", tasks=[name], data_path=data_path, prompt=prompt, orders=orders,
                       seed=seed, limit=limit, task_args=dict(task_args or {}), no_cache=True, output_dir=None)
    plan = prepare(config, judge=Export("export"), demo=demo)
    td = plan.tasks[0]
    spec, template = td.spec, plan.judge.template
    if template.mode != PAIRWISE:
        raise UserError(f"--prompt {prompt}: lm-eval tasks need a pairwise template, not a {template.mode} one")
    scorer = plan.scorers[name]
    policy = Policy(orders=orders, samples=1, seed=seed, on_failure="loss")
    examples = plan.selected[name]

    task_name = PREFIX + slug(name)
    data_dir = out_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    docs_path = data_dir / f"{task_name}.jsonl"
    with open(docs_path, "w", encoding="utf-8") as f:
        for ex, (i, j), cmp, msgs, tpl in comparisons_of(plan):
            first, second = cmp.first, cmp.second
            # labels travel as a JSON string: a column of empty dicts is not something Arrow can hold
            doc = {"doc_id": f"{ex.id}|{i}|{j}|{first}", "task": name, "id": str(ex.id),
                   "subset": str(ex.subset), "labels": json.dumps(dict(ex.labels), ensure_ascii=False),
                   "meta": json.dumps(dict(ex.meta), ensure_ascii=False, default=list),
                   "preferred": list(ex.preferred), "n": len(ex.candidates),
                   "i": i, "j": j, "first": first, "second": second,
                   "system": next((m["content"] for m in msgs if m["role"] == "system"), ""),
                   "user": next(m["content"] for m in msgs if m["role"] == "user"),
                   "parser": tpl.parser, "verdict_labels": list(tpl.labels),
                   "target": tpl.labels[0] if first == i else tpl.labels[1]}
            f.write(json.dumps(doc, ensure_ascii=False) + "\n")
    metrics = _metric_keys(_perfect_summary(plan, scorer, spec, policy))
    meta = {"task": name, "scoring": spec.scoring, "options": spec.options, "metrics": metrics, "orders": orders,
            "seed": seed, "template": template.identity(), "data": td.provenance, "examples": len(examples),
            "rmbench_version": __version__}
    meta_path = data_dir / f"{task_name}.meta.json"
    meta_path.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    j = json.dumps  # YAML reads JSON scalars, so every value written below is quoted safely
    lines = [f"# Written by `rmbench lm-eval-tasks` (rmbench {__version__}): {name}, {len(examples)} examples,",
             f"# prompt {template.name}, orders {orders}. Scored by rmbench's parser and scorer (see utils.py).",
             f"task: {task_name}", "tag:", "  - rmbench",
             "dataset_path: json", "dataset_kwargs:", "  data_files:", f"    test: {j(str(docs_path.resolve()))}",
             "test_split: test", "output_type: generate_until",
             "description: system", "doc_to_text: user", "doc_to_target: target",
             f"process_results: !function utils.process_{task_name}",
             "generation_kwargs:", "  until: []", "  do_sample: false", "  temperature: 0.0",
             f"  max_gen_toks: {int(max_gen_toks)}",
             "metric_list:", "  - metric: judgment_acc", "    aggregation: mean", "    higher_is_better: true"]
    for key in metrics:
        lines += [f"  - metric: {key}", f"    aggregation: !function utils.agg_{task_name}__{key}",
                  "    higher_is_better: true"]
    plan.judge.discard()
    lines += ["metadata:", f"  version: {float(spec.version)}"]
    (out_dir / f"{task_name}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return task_name


def write_utils(out_dir: Path, tasks: list[str]) -> None:
    lines = ['"""Written by `rmbench lm-eval-tasks`: lm-eval hooks that parse and score with rmbench."""', "",
             "from rmbench.integrations.lm_eval import aggregation, results_processor", ""]
    for task_name in tasks:
        meta_path = (out_dir / "data" / f"{task_name}.meta.json").resolve()
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        lines.append(f"process_{task_name} = results_processor({str(meta_path)!r})")
        for key in meta["metrics"]:
            lines.append(f"agg_{task_name}__{key} = aggregation({str(meta_path)!r}, {key!r})")
        lines.append("")
    (out_dir / "utils.py").write_text("\n".join(lines), encoding="utf-8")


def write_tasks(out_dir: Path, tasks: list[str], **kwargs: Any) -> list[str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [write_task(out_dir, t, **kwargs) for t in tasks]
    # utils.py covers every task in the directory, also those written by an earlier call
    present = sorted(p.name[: -len(".meta.json")] for p in (out_dir / "data").glob(f"{PREFIX}*.meta.json"))
    write_utils(out_dir, present)
    return names


# -- the hooks lm-eval calls --------------------------------------------------------------------

@lru_cache(maxsize=None)
def _meta(path: str) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def results_processor(meta_path: str) -> Callable[[dict, list], dict]:
    def process_results(doc: dict, results: list) -> dict:
        from rmbench.judges.parsers import get_parser
        from rmbench.types import OK

        text = results[0] if results else ""
        labels = tuple(doc["verdict_labels"])
        label, status = get_parser(doc["parser"])(text or "", labels)
        winner = None
        if status == OK:
            winner = doc["first"] if label == labels[0] else doc["second"]
        item = {k: doc[k] for k in ("task", "id", "subset", "labels", "preferred", "n", "i", "j", "first", "second")}
        item["meta"] = doc.get("meta") or "{}"   # what a scorer reads besides the candidates (e.g. a gold label)
        item.update(status=status, winner=winner)
        out: dict[str, Any] = {"judgment_acc": 1.0 if winner == doc["i"] else 0.0}
        for key in _meta(meta_path)["metrics"]:
            out[key] = item
        return out

    return process_results


def score_items(meta: dict, items: list[dict]) -> dict:
    """rmbench's task summary from lm-eval's per-judgment items."""
    from rmbench.protocol import Policy
    from rmbench.runner import example_result
    from rmbench.scoring import get_scorer
    from rmbench.types import Example, Judgment

    scorer = get_scorer(meta["scoring"])
    policy = Policy(orders=meta["orders"], samples=1, seed=meta["seed"], on_failure="loss")
    by_id: dict[str, list[dict]] = {}
    for it in items:
        by_id.setdefault(str(it["id"]), []).append(it)
    records = []
    for ex_id, its in by_id.items():
        first = its[0]
        ex = Example(id=ex_id, task=first["task"], subset=first["subset"], messages=(), candidates=("",) * first["n"],
                     preferred=tuple(first["preferred"]), labels=json.loads(first["labels"] or "{}"),
                     meta=json.loads(first.get("meta") or "{}"))
        judgments: dict[tuple[int, int], list] = {}
        for it in its:
            judgments.setdefault((it["i"], it["j"]), []).append(
                Judgment(it["first"], it["second"], 0, it["status"], winner=it["winner"]))
        try:
            result = example_result(scorer, ex, judgments, policy)
        except KeyError:
            continue  # a comparison this example needs was not run (lm_eval --limit): leave it out
        records.append({"task": ex.task, "id": ex.id, "subset": ex.subset, "labels": dict(ex.labels), "result": result})
    return scorer.aggregate(records, meta["options"]) if records else {"score": None}


def aggregation(meta_path: str, key: str) -> Callable[[list], float]:
    def aggregate(items: list) -> float:
        from rmbench.scoring.metrics import get_path

        meta = _meta(meta_path)
        value = get_path(score_items(meta, list(items)), tuple(meta["metrics"][key]))
        return float("nan") if value is None else value

    return aggregate
