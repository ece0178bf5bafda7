"""Figures of one run's test-time-compute curves and calibration, from its summary alone.

- ``plot_curves``: per run and task, accuracy against votes (``compute_curves.votes``: the whole
  task with its 95% band, and each section as a thin line) and best-of-N accuracy against judge
  calls per item for each aggregator (``compute_curves.candidates``: one line per aggregator
  through n = 1..N candidates, each point marked with its n).
- ``plot_calibration``: per run and task, the reliability diagram of the soft verdicts
  (``diagnostics.calibration.bins``): mean predicted probability against the observed share of
  positives per bin (marker area by bin size), the diagonal of perfect calibration, and the ECE,
  Brier score and AUC in the corner.

Both write PREFIX.png and PREFIX.svg; matplotlib (the ``plot`` extra) is imported only when a
figure is drawn, with the non-interactive Agg backend (``rmbench.reports.plot._pyplot``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from rmbench.errors import UserError
from rmbench.reports.plot import MARKERS, METHOD_ORDER, _pyplot, save_figure


@dataclass
class Figure:
    files: list[Path]
    rows: list[tuple[str, str, str, str, float, float]]     # (run, task, curve, series, x, y %) read off the figure


SKIP = ("perfect calibration",)


def _read_back(axes: list[tuple[object, str, str, str]]) -> list[tuple[str, str, str, str, float, float]]:
    """Every labelled line of every panel, as (run, task, curve, series, x, y)."""
    rows = []
    for ax, run, task, curve in axes:
        for line in ax.get_lines():
            label = str(line.get_label())
            if label.startswith("_") or label in SKIP:
                continue
            rows += [(run, task, curve, label, float(x), float(y)) for x, y in line.get_xydata()]
    return rows


def _panels(runs: Sequence[dict], key: str, tasks: Sequence[str] | None) -> list[tuple[str, str, dict]]:
    out = []
    for run in runs:
        name = Path(run["path"]).name
        for task, summ in (run["summary"].get("tasks") or {}).items():
            if tasks and task not in tasks:
                continue
            block = summ.get(key) if key == "compute_curves" else (summ.get("diagnostics") or {}).get("calibration")
            if block:
                out.append((name, task, block))
    return out


def plot_curves(runs: Sequence[dict], prefix: str | Path, tasks: Sequence[str] | None = None) -> Figure:
    panels = _panels(runs, "compute_curves", tasks)
    panels = [(r, t, b) for r, t, b in panels if b.get("votes") or b.get("candidates")]
    if not panels:
        raise UserError("no test-time-compute curves in these runs (a run with --samples K > 1 has a votes curve; "
                        "a best-of-N task run with --aggregate elo, bt or wins has a candidates curve)")
    plt = _pyplot()
    cols = 2 if any(b.get("votes") for _, _, b in panels) and any(b.get("candidates") for _, _, b in panels) else 1
    fig, axes = plt.subplots(len(panels), cols, figsize=(5.5 * cols, 4.0 * len(panels)), squeeze=False)
    drawn: list[tuple[object, str, str, str]] = []
    for (run, task, block), ax_row in zip(panels, axes):
        slots = list(ax_row)
        votes, cands = block.get("votes"), block.get("candidates")
        if votes:
            ax = slots.pop(0)
            drawn.append((ax, run, task, "votes"))
            whole = [(p["k"], p.get("accuracy")) for p in votes.get("all") or []]
            for name, pts in sorted(votes.items(), key=lambda kv: (kv[0] != "all", kv[0])):
                if name != "all" and [(p["k"], p.get("accuracy")) for p in pts] == whole:
                    continue          # a section that is the whole task
                pts = [p for p in pts if p.get("accuracy") is not None]
                if not pts:
                    continue
                xs, ys = [p["k"] for p in pts], [100 * p["accuracy"] for p in pts]
                main = name == "all"
                ax.plot(xs, ys, marker="o" if main else None, linewidth=2.2 if main else 1.0,
                        color="black" if main else None, alpha=1.0 if main else 0.7, label=name, zorder=3 if main else 2)
                band = [p for p in pts if p.get("ci")]
                if main and band:
                    ax.fill_between([p["k"] for p in band], [100 * p["ci"][0] for p in band],
                                    [100 * p["ci"][1] for p in band], color="grey", alpha=0.25, linewidth=0,
                                    label="95% CI")
            ax.set_xlabel("votes per request (k)")
            ax.set_ylabel("accuracy (%)")
            ax.set_xticks(sorted({p["k"] for pts in votes.values() for p in pts}))
            ax.set_title(f"{run}: {task}, accuracy by votes", fontsize=10)
            ax.grid(True, linewidth=0.5, alpha=0.5)
            ax.legend(fontsize=7, loc="best")
        if cands:
            ax = slots.pop(0)
            drawn.append((ax, run, task, "candidates"))
            methods = sorted({p["aggregator"] for p in cands},
                             key=lambda m: METHOD_ORDER.index(m) if m in METHOD_ORDER else 99)
            cmap = plt.get_cmap("tab10")
            for m in methods:
                pts = sorted((p for p in cands if p["aggregator"] == m and p.get("accuracy") is not None),
                             key=lambda p: p["n"])
                if not pts:
                    continue
                xs, ys = [p["judge_calls"] for p in pts], [100 * p["accuracy"] for p in pts]
                colour = cmap(METHOD_ORDER.index(m) if m in METHOD_ORDER else 9)
                ax.plot(xs, ys, marker=MARKERS.get(m, "o"), color=colour, label=m)
                for p, x, y in zip(pts, xs, ys):
                    ax.annotate(f"n={p['n']}", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=6,
                                color=colour)
            oracle = sorted({(p["n"], p.get("oracle")) for p in cands if p.get("oracle") is not None})
            if oracle:
                ax.axhline(100 * oracle[-1][1], linestyle="--", linewidth=1, color="grey")
            ax.set_xlabel("judge calls per item")
            ax.set_ylabel("best-of-N accuracy (%)")
            ax.set_title(f"{run}: {task}, accuracy by candidates", fontsize=10)
            ax.set_ylim(0, 105)
            ax.grid(True, linewidth=0.5, alpha=0.5)
            ax.legend(title="aggregator", fontsize=7, loc="best")
        for ax in slots:
            ax.set_visible(False)
    fig.tight_layout()
    rows = _read_back(drawn)
    files = save_figure(fig, prefix)
    plt.close(fig)
    return Figure(files, rows)


def plot_calibration(runs: Sequence[dict], prefix: str | Path, tasks: Sequence[str] | None = None) -> Figure:
    panels = _panels(runs, "calibration", tasks)
    if not panels:
        raise UserError("no calibration figures in these runs (they need verdict probabilities: run with "
                        "--gen logprobs=true)")
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.4), squeeze=False)
    drawn: list[tuple[object, str, str, str]] = []
    for (run, task, cal), ax in zip(panels, axes[0]):
        drawn.append((ax, run, task, "calibration"))
        bins = [b for b in cal.get("bins") or [] if b.get("n")]
        xs = [b["mean_p"] for b in bins]
        ys = [b["frac_positive"] for b in bins]
        total = max(1, sum(b["n"] for b in bins))
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect calibration")
        ax.plot(xs, ys, color="tab:blue", linewidth=1.2, label="bins")
        ax.scatter(xs, ys, s=[20 + 400 * b["n"] / total for b in bins], color="tab:blue", zorder=3)
        auc = cal.get("auc")
        ax.text(0.03, 0.97, f"n {cal.get('n', 0)}\nECE {cal.get('ece', 0):.3f}\nBrier {cal.get('brier', 0):.3f}\n"
                            f"AUC {'—' if auc is None else f'{auc:.3f}'}", transform=ax.transAxes, va="top",
                fontsize=8, family="monospace")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.set_xlabel("predicted probability" + (" (first response wins)" if cal.get("framing") == "first position wins"
                                                  else " (a beats b)"))
        ax.set_ylabel("observed share")
        ax.set_title(f"{run}: {task}", fontsize=10)
        ax.grid(True, linewidth=0.5, alpha=0.5)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    rows = [(run, task, curve, series, x, 100 * y) for run, task, curve, series, x, y in _read_back(drawn)]
    files = save_figure(fig, prefix)
    plt.close(fig)
    return Figure(files, rows)
