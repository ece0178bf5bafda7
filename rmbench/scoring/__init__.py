"""Scoring: per-example outcomes -> official metrics.

One module per benchmark (named by the task YAML's ``scoring`` key) with two functions:

- ``example_result(example, outcome) -> dict``: stored in the example's record; always has
  ``correct`` (a float in [0, 1], or None when the failure policy excluded the example);
- ``aggregate(records, options) -> dict``: the task's summary from records alone (so a run can
  be re-scored offline), shaped ``{"score", "n", "sections": {name: {"score", "n", "subsets": {...}}}}``.
"""

from __future__ import annotations

import importlib
import json

from rmbench.errors import UserError


def get_scorer(name: str):
    try:
        mod = importlib.import_module(f"rmbench.scoring.{name}")
    except ModuleNotFoundError:
        raise UserError(f"unknown scoring '{name}'") from None
    for fn in ("example_result", "aggregate"):
        if not hasattr(mod, fn):
            raise UserError(f"scoring module '{name}' lacks {fn}()")
    return mod


def record_checker(tasks: dict[str, dict]):
    """A check of one record against its task's scorer, for records read back from disk: the
    record schema (store/schema.py) checks the shape every record shares; what each scorer reads
    in ``result`` and ``labels`` is checked by scoring the record alone. ``tasks`` is run.json's
    ``tasks`` block ({name: {"scoring", "options"}}). The check returns None, or why not."""
    scorers = {name: (get_scorer(info["scoring"]), info["scoring"], info["options"]) for name, info in tasks.items()}

    def check(record: dict) -> str | None:
        found = scorers.get(record.get("task"))
        if found is None:
            return f"task '{record.get('task')}' is not part of this run"
        scorer, name, options = found
        try:
            out = scorer.aggregate([record], options)
            # a label of the wrong type shows as a summary that JSON cannot carry as it is
            if json.loads(json.dumps(out)) != out:
                raise ValueError("its labels or result give a summary JSON cannot hold")
        except Exception as e:  # a KeyError, TypeError ... from a result of the wrong shape
            return f"the record does not fit the {name} scorer ({type(e).__name__}: {e})"[:300]
        return None

    return check
