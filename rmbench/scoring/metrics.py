"""The one walker over a task summary's metrics.

A task summary (``aggregate()``'s output, as stored under ``summary.json``'s ``tasks``) holds its
numbers in a few fixed places. Every reader that needs "the metrics of a task" (the bootstrap,
the leaderboard, ``compare``, ``gate``, the lm-eval export) walks them here, so they agree on
what a metric is, what it is called, and where its interval and example count live:

=====================  ===========================================  ====================  ==================
path                   name (``rmbench gate --metric TASK.NAME``)   interval              n
=====================  ===========================================  ====================  ==================
score                  ``score`` (the task itself: ``TASK``)        ``ci``                the task's
score_with_prior       ``score_with_prior``                         ``score_with_prior_ci``  the task's
metrics.K              ``K``                                        ``metrics_ci.K``      the task's
sections.S.score       ``S``                                        the section's ``ci``  the section's
sections.S.subsets.U   ``S.U`` (its ``accuracy``, else ``score``)   the subset's ``ci``   the subset's
=====================  ===========================================  ====================  ==================

Walk order is the order above, each section followed by its subsets; when two places give the
same name (a section named like an extra metric), looking a name up finds the first in that order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

Path = tuple[str, ...]

SCORE: Path = ("score",)
WITH_PRIOR: Path = ("score_with_prior",)

# kinds of metric
TASK_SCORE, PRIOR, EXTRA, SECTION, SUBSET = "score", "score_with_prior", "metric", "section", "subset"


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@dataclass(frozen=True)
class Metric:
    path: Path
    name: str                       # relative to the task: score, K, S, S.U
    kind: str
    value: float | None
    ci: tuple[float, float] | None
    n: int | None

    def full_name(self, task: str) -> str:
        return full_name(task, self.path)


def get_path(summary: Any, path: Path) -> float | None:
    """The number at ``path`` in a task summary, or None (missing or not a number)."""
    cur: Any = summary
    for key in path:
        if not isinstance(cur, dict) or key not in cur:
            return None
        cur = cur[key]
    return float(cur) if is_number(cur) else None


def name_of(path: Path) -> str:
    """A metric's name within its task (see the table in this module's docstring)."""
    if path in (SCORE, WITH_PRIOR):
        return path[0]
    if path[0] == "metrics" and len(path) == 2:
        return path[1]
    if path[0] == "sections" and len(path) == 3:
        return path[1]
    if path[0] == "sections" and len(path) == 5:
        return f"{path[1]}.{path[3]}"
    return ".".join(str(p) for p in path)


def full_name(task: str, path: Path) -> str:
    """``task`` for the task's score, else ``task.NAME``: what ``compare`` shows and ``gate`` takes."""
    return task if path == SCORE else f"{task}.{name_of(path)}"


def _interval(value: Any) -> tuple[float, float] | None:
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(is_number(v) for v in value):
        return float(value[0]), float(value[1])
    return None


def ci_of(summary: dict, path: Path) -> tuple[float, float] | None:
    """The interval stored for the metric at ``path`` (None when there is none)."""
    if path == SCORE:
        return _interval(summary.get("ci"))
    if path == WITH_PRIOR:
        return _interval(summary.get("score_with_prior_ci"))
    if path[0] == "metrics":
        ci = summary.get("metrics_ci")
        return _interval(ci.get(path[1])) if isinstance(ci, dict) else None
    node: Any = summary
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    return _interval(node.get("ci")) if isinstance(node, dict) else None


def n_of(summary: dict, path: Path) -> int | None:
    """How many examples a metric rests on: its section's or subset's n, else the task's."""
    node: Any = summary
    if path[0] == "sections":
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
    n = node.get("n") if isinstance(node, dict) else None
    return int(n) if is_number(n) else None


def _subset_key(v: dict) -> str:
    return "accuracy" if "accuracy" in v else "score"


def _places(summary: dict, min_subset_n: int) -> Iterator[tuple[Path, str]]:
    yield SCORE, TASK_SCORE
    yield WITH_PRIOR, PRIOR
    metrics = summary.get("metrics")
    if isinstance(metrics, dict):
        for k in metrics:
            yield ("metrics", str(k)), EXTRA
    sections = summary.get("sections")
    if not isinstance(sections, dict):
        return
    for sname, sec in sections.items():
        if not isinstance(sec, dict):
            continue
        yield ("sections", str(sname), "score"), SECTION
        subsets = sec.get("subsets")
        if not isinstance(subsets, dict):
            continue
        for sub, v in subsets.items():
            if isinstance(v, dict) and (v.get("n") or 0) >= min_subset_n:
                yield ("sections", str(sname), "subsets", str(sub), _subset_key(v)), SUBSET


def walk(summary: dict, *, min_subset_n: int = 0, numeric: bool = True) -> list[Metric]:
    """Every metric of a task summary, in walk order. ``numeric``: only those with a number
    (else also places present but holding None, which the task summary declares without a value).
    Subsets with fewer than ``min_subset_n`` examples are left out."""
    out: list[Metric] = []
    for path, kind in _places(summary, min_subset_n):
        value = get_path(summary, path)
        if value is None and (numeric or not _present(summary, path)):
            continue
        out.append(Metric(path, name_of(path), kind, value, ci_of(summary, path), n_of(summary, path)))
    return out


def _present(summary: dict, path: Path) -> bool:
    cur: Any = summary
    for key in path:
        if not isinstance(cur, dict) or key not in cur:
            return False
        cur = cur[key]
    return True


def metric_paths(summary: dict, min_subset_n: int) -> list[Path]:
    """The paths of the numeric metrics (subsets with at least ``min_subset_n`` examples)."""
    return [m.path for m in walk(summary, min_subset_n=min_subset_n)]


def find(summary: dict, name: str) -> Metric | None:
    """The metric a name refers to (exact, else ignoring case), with or without a value."""
    metrics = walk(summary, numeric=False)
    for m in metrics:
        if m.name == name:
            return m
    low = name.strip().lower()
    return next((m for m in metrics if m.name.lower() == low), None)


def catalog(task: str, summary: dict) -> dict[str, Path]:
    """Full names (``task``, ``task.NAME``) -> paths, for every metric place the summary has
    (a name two places share goes to the first in walk order)."""
    out: dict[str, Path] = {}
    for m in walk(summary, numeric=False):
        out.setdefault(m.full_name(task), m.path)
    return out
