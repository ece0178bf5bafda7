"""rmbench plot: best-of-N accuracy against judge calls per item, drawn from real runs' summaries."""

from __future__ import annotations

import json
import os

import pytest

from rmbench.config import RunConfig
from rmbench.errors import UserError
from rmbench.reports.plot import plot, points
from rmbench.runner import run
from rmbench.store.rundir import load_run
from tests.helpers import REPO, run_cli, run_cli_process
from tests.tournament.standins import Batched, bon_rows, run_with

pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install 'rmbench[plot]')")


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """Four runs on one best-of-N set: knockout and a Bradley-Terry round robin with a pairwise
    stand-in judge, and two scoring baselines (no matches)."""
    rows = bon_rows(10, 6, seed=2)
    rows[3]["correct"] = [not v for v in rows[3]["correct"]]
    paths = []
    for method in ("knockout", "bt"):
        provider = Batched("judge")
        paths.append(run_with(provider, tmp_path, rows, name=method, aggregate=method))
        monkeypatch.undo()
    for model in ("baseline/longest", "baseline/random"):
        cfg = RunConfig(model=model, tasks=["bon"], data_path=str(tmp_path / "knockout.jsonl"),
                        output_dir=str(tmp_path / "out"), run_name=model.split("/")[1])
        paths.append(run(cfg, argv=["rmbench"], show_progress=False))
    return paths


def _expected(paths, key="judge_calls"):
    out = {}
    for p in paths:
        agg = json.loads((p / "summary.json").read_text())["tasks"]["bon"]["aggregation"]
        out[p.name] = (agg[key]["per_item"], agg["accuracy"], agg["method"], agg["by"])
    return out


def test_the_plotted_points_are_the_summaries_numbers(runs, tmp_path):
    expected = _expected(runs)
    assert expected["knockout"][:2] == (10.0, 0.9) and expected["bt"][:2] == (30.0, 0.9)
    out = plot([load_run(p) for p in runs], tmp_path / "figs" / "bon")
    assert {p.run: (p.x, p.accuracy) for p in out.points} == {k: v[:2] for k, v in expected.items()}
    assert {p.run: p.method for p in out.points} == {"knockout": "knockout", "bt": "bt", "longest": "scores",
                                                     "random": "scores"}
    # what the figure holds, read back from its artists: the same numbers, in percent
    drawn = sorted((method, x, round(y, 9)) for _, method, x, y in out.drawn)
    assert drawn == sorted((p.method, p.x, round(100 * p.accuracy, 9)) for p in out.points)
    png, svg = out.files
    assert png == tmp_path / "figs" / "bon.png" and svg == tmp_path / "figs" / "bon.svg"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert svg.read_text().lstrip().startswith("<?xml") and "<svg" in svg.read_text()
    matches = points([load_run(p) for p in runs], x="matches")
    assert {p.run: p.x for p in matches} == {k: v[0] for k, v in _expected(runs, "matches").items()}


def test_the_plot_command(runs, tmp_path):
    res = run_cli("plot", *map(str, runs), "-o", str(tmp_path / "cli"), "--x", "matches")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert lines[0] == "run\ttask\tmethod\tmatches_per_item\taccuracy_%"
    assert "knockout\tbon\tknockout\t5\t90.0" in lines and "bt\tbon\tbt\t15\t90.0" in lines
    assert (tmp_path / "cli.png").is_file() and (tmp_path / "cli.svg").is_file()


def test_one_line_errors(runs, tmp_path):
    demo = REPO / "rmbench" / "demo" / "rewardbench2.json"
    plain = run(RunConfig(model="baseline/longest", tasks=["rewardbench2"], data_path=str(demo),
                          output_dir=str(tmp_path / "out"), run_name="plain"), argv=["rmbench"], show_progress=False)
    res = run_cli("plot", str(plain), "-o", str(tmp_path / "x"))
    assert res.returncode == 2 and res.stderr.startswith("rmbench: error: no aggregation figures in these runs")
    assert len(res.stderr.strip().splitlines()) == 1
    res = run_cli("plot", str(tmp_path / "nowhere"))
    assert res.returncode == 2 and "not a run directory" in res.stderr
    with pytest.raises(UserError, match="no aggregation figures for rewardbench2 in these runs"):
        points([load_run(runs[0])], tasks=["rewardbench2"])   # nothing left to plot
    # without matplotlib: a stand-in package that fails to import, first on the path (a fresh
    # process: in this one matplotlib is already imported, and PYTHONPATH is read at start-up)
    stub = tmp_path / "stub" / "matplotlib"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('no matplotlib here')\n")
    res = run_cli_process("plot", str(runs[0]), "-o", str(tmp_path / "y"),
                          env={"PYTHONPATH": str(tmp_path / "stub") + os.pathsep + os.environ.get("PYTHONPATH", "")})
    assert res.returncode == 2
    assert res.stderr.strip() == "rmbench: error: rmbench plot needs matplotlib: pip install 'rmbench[plot]'"
    assert not (tmp_path / "y.png").exists()
