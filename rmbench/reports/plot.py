"""Best-of-N accuracy against what it cost: one point per run, from the runs' summaries.

Each run's task summary has an ``aggregation`` block (rmbench/scoring/aggregation.py) when its
best-of-N items were aggregated. ``points`` reads them; ``plot`` draws accuracy (y) against
judge calls or matches per item (x), one panel per task, one colour and marker per
aggregation method (``scores`` for a scoring judge, which needs no matches), each point
labelled with its run's name, and the task's oracle and random
baselines as dashed lines where the task reports them (``bon``). matplotlib (the ``plot`` extra)
is imported only here, with the non-interactive Agg backend.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from rmbench.errors import UserError

X_AXES = {"calls": ("judge_calls", "judge calls per item"), "matches": ("matches", "matches per item")}
METHOD_ORDER = ("scores", "pairwise", "knockout", "elo", "bt", "wins")
LINE = 5.5          # one 8-point label line, in accuracy points on the default figure
MARKERS = {"scores": "P", "pairwise": "s", "knockout": "o", "elo": "^", "bt": "D", "wins": "v"}


@dataclass(frozen=True)
class Point:
    run: str
    task: str
    method: str
    by: str
    x: float
    accuracy: float
    items: int

    def to_json(self) -> dict:
        return asdict(self)


def points(runs: Sequence[dict], x: str = "calls", tasks: Sequence[str] | None = None) -> list[Point]:
    """One point per (run, task) with an aggregation block. ``runs`` are ``load_run`` dicts."""
    if x not in X_AXES:
        raise UserError(f"--x must be one of {', '.join(X_AXES)}, not '{x}'")
    key = X_AXES[x][0]
    out = []
    for run in runs:
        name = Path(run["path"]).name
        for task, summ in (run["summary"].get("tasks") or {}).items():
            agg = summ.get("aggregation")
            if not agg or (tasks and task not in tasks) or agg.get("accuracy") is None:
                continue
            per_item = (agg.get(key) or {}).get("per_item")
            if per_item is None:
                continue
            by = str(agg.get("by"))
            method = "scores" if by == "scores" else str(agg.get("method"))   # a scoring judge plays no matches
            out.append(Point(name, task, method, by, float(per_item), float(agg["accuracy"]),
                             int(agg.get("items") or 0)))
    if not out:
        which = f" for {', '.join(tasks)}" if tasks else ""
        raise UserError(f"no aggregation figures{which} in these runs (best-of-N tasks run with --aggregate, or the "
                        f"bon task, have them)")
    return out


def _baselines(runs: Sequence[dict], task: str) -> dict[str, float]:
    for run in runs:
        metrics = ((run["summary"].get("tasks") or {}).get(task) or {}).get("metrics") or {}
        found = {k: float(metrics[k]) for k in ("oracle", "random") if isinstance(metrics.get(k), (int, float))}
        if found:
            return found
    return {}


def _label(ax, pts: list[Point], right: float) -> None:
    """Name each point after its run. Runs on the same spot share a label; a label that would run
    into one already placed at about the same height is moved up a line."""
    spots: dict[tuple[float, float], list[str]] = {}
    for p in pts:
        spots.setdefault((p.x, 100 * p.accuracy), []).append(p.run)
    char = 0.0095 * right                    # about one 8-point character, in x data units
    placed: list[tuple[float, float, float]] = []     # (x from, x to, y) of each label
    for (x, y), names in sorted(spots.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        text = ", ".join(names)
        lo, hi = x, x + char * (len(text) + 1)
        line = 0
        while any(a < hi and lo < b and abs(py - (y + LINE * line)) < 0.85 * LINE for a, b, py in placed):
            line += 1
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(6, 5 + 11 * line), fontsize=8)
        placed.append((lo, hi, y + LINE * line))


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise UserError("rmbench plot needs matplotlib: pip install 'rmbench[plot]'") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


@dataclass
class Plotted:
    points: list[Point]
    files: list[Path]
    drawn: list[tuple[str, str, float, float]]     # (task, method, x, accuracy %) read back from the figure


def save_figure(fig, prefix: str | Path) -> list[Path]:
    """Write ``PREFIX.png`` and ``PREFIX.svg`` (the SVG without a date, so that it is the same
    bytes each time); ``-o board.png`` means the prefix ``board``."""
    prefix = Path(prefix)
    if prefix.suffix.lower() in (".png", ".svg"):
        prefix = prefix.with_suffix("")
    if prefix.parent != Path("."):
        prefix.parent.mkdir(parents=True, exist_ok=True)
    files = []
    for ext in ("png", "svg"):
        path = prefix.with_name(prefix.name + "." + ext)
        fig.savefig(path, dpi=120, **({"metadata": {"Date": None}} if ext == "svg" else {}))
        files.append(path)
    return files


def plot(runs: Sequence[dict], prefix: str | Path, x: str = "calls", tasks: Sequence[str] | None = None) -> Plotted:
    """Draw the points to ``PREFIX.png`` and ``PREFIX.svg``."""
    pts = points(runs, x, tasks)
    plt = _pyplot()
    task_names = list(dict.fromkeys(p.task for p in pts))
    methods = sorted({p.method for p in pts}, key=lambda m: (METHOD_ORDER.index(m) if m in METHOD_ORDER else 99, m))
    cmap = plt.get_cmap("tab10")                   # a method keeps its colour from plot to plot
    colours = {m: cmap(METHOD_ORDER.index(m) if m in METHOD_ORDER else len(METHOD_ORDER) + k % 4)
               for k, m in enumerate(methods)}
    fig, axes = plt.subplots(1, len(task_names), figsize=(5.5 * len(task_names), 4.2), squeeze=False)
    for ax, task in zip(axes[0], task_names):
        mine = [p for p in pts if p.task == task]
        for method in methods:
            ps = [p for p in mine if p.method == method]
            if ps:
                ax.scatter([p.x for p in ps], [100 * p.accuracy for p in ps], s=60, color=colours[method],
                           marker=MARKERS.get(method, "o"), label=method, zorder=3)
        right = max(p.x for p in mine) * 1.25 + 1
        _label(ax, mine, right)
        for name, value in sorted(_baselines(runs, task).items()):
            ax.axhline(100 * value, linestyle="--", linewidth=1, color="grey", zorder=1)
            ax.annotate(name, (0, 100 * value), xycoords=("axes fraction", "data"), textcoords="offset points",
                        xytext=(4, 3), fontsize=8, color="grey")
        ax.set_title(task)
        ax.set_xlabel(X_AXES[x][1])
        ax.set_ylabel("best-of-N accuracy (%)")
        ax.set_ylim(0, 105)
        ax.set_xlim(left=0, right=right)
        ax.grid(True, linewidth=0.5, alpha=0.5)
        ax.legend(title="aggregation", fontsize=8, loc="best")
    drawn = [(ax.get_title(), str(coll.get_label()), float(px), float(py))
             for ax in axes[0] for coll in ax.collections for px, py in coll.get_offsets()]
    fig.tight_layout()
    files = save_figure(fig, prefix)
    plt.close(fig)
    return Plotted(pts, files, drawn)
