"""rmbench plot --curves and --calibration: the figures hold the summary's numbers, and a
run's calibration appears once its records carry verdict probabilities (then ``rescore``)."""

from __future__ import annotations

import json

import pytest

from rmbench.cli.main import main
from rmbench.config import RunConfig
from rmbench.errors import UserError
from rmbench.reports.curves_plot import plot_calibration, plot_curves
from rmbench.runner import rescore
from rmbench.store.rundir import load_run
from tests.scoring.diag_standins import Scripted, Upsets, rb_rows, run_standin
from tests.tournament.standins import bon_rows

pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install 'rmbench[plot]')")

SCRIPT = {0: {True: "WWL", False: "WLW"}, 1: {True: "LLW", False: "WWW"}, 2: {True: "WWW", False: "LLL"},
          3: {True: "LWL", False: "WLL"}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("curve-runs")
    try:
        votes = run_standin(Scripted("judge", RunConfig(model="s/j", tasks=["rewardbench"]), SCRIPT), mp, tmp,
                            "rewardbench", rb_rows(4), "votes", samples=3)
        rr = run_standin(Upsets("judge", RunConfig(model="s/j", tasks=["bon"])), mp, tmp, "bon", bon_rows(6, 4),
                         "rr", aggregate="wins")
    finally:
        mp.undo()
    return votes, rr


def test_curves_figure_holds_the_summaries_numbers(runs, tmp_path, capsys):
    votes, rr = runs
    fig = plot_curves([load_run(votes), load_run(rr)], tmp_path / "figs" / "c")
    png, svg = fig.files
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and svg.read_text().lstrip().startswith("<?xml")
    vsum = json.loads((votes / "summary.json").read_text())["tasks"]["rewardbench"]["compute_curves"]["votes"]
    got = {(series, x): y for run, _, curve, series, x, y in fig.rows if curve == "votes"}
    for name in ("all", "Chat", "Chat Hard"):
        for p in vsum[name]:
            assert got[(name, p["k"])] == pytest.approx(100 * p["accuracy"])
    csum = json.loads((rr / "summary.json").read_text())["tasks"]["bon"]["compute_curves"]["candidates"]
    got = sorted((series, x, round(y, 9)) for _, _, curve, series, x, y in fig.rows if curve == "candidates")
    assert got == sorted((p["aggregator"], p["judge_calls"], round(100 * p["accuracy"], 9)) for p in csum)
    # the CLI prints the same rows
    assert main(["plot", str(votes), "--curves", "-o", str(tmp_path / "cli")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "run\ttask\tcurve\tseries\tx\ty_%" and any(line.startswith("votes\trewardbench\tvotes\tall\t3")
                                                              for line in out)
    assert (tmp_path / "cli.png").exists() and (tmp_path / "cli.svg").exists()


def test_calibration_appears_after_probabilities_are_recorded_and_rescored(runs, tmp_path, capsys):
    votes, _ = runs
    with pytest.raises(UserError, match="logprobs"):
        plot_calibration([load_run(votes)], tmp_path / "none")
    # give every judgment the probabilities a logprobs run would record: 0.8 on its own verdict
    lines = []
    for line in (votes / "records.jsonl").read_text().splitlines():
        rec = json.loads(line)
        for p in rec["pairs"]:
            for d in p["judgments"]:
                other = "B" if d["label"] == "A" else "A"
                d["p_labels"] = {d["label"]: 0.8, other: 0.2}
        lines.append(json.dumps(rec))
    (votes / "records.jsonl").write_text("\n".join(lines) + "\n")
    summ = rescore(votes)["tasks"]["rewardbench"]
    cal = summ["diagnostics"]["calibration"]
    assert cal["n"] == 4 * 2 * 3 and cal["soft_accuracy"] == pytest.approx(
        sum(0.8 if c == "W" else 0.2 for per in SCRIPT.values() for col in per.values() for c in col) / 24)
    fig = plot_calibration([load_run(votes)], tmp_path / "cal")
    bins = [b for b in cal["bins"] if b["n"]]
    assert sorted((round(x, 9), round(y, 9)) for *_, x, y in fig.rows) == \
        sorted((round(b["mean_p"], 9), round(100 * b["frac_positive"], 9)) for b in bins)
    assert "| calibration" in (votes / "summary.md").read_text()
    assert main(["plot", str(votes), "--calibration", "-o", str(tmp_path / "cal2")]) == 0
    assert (tmp_path / "cal2.svg").exists()


def test_no_curves_is_a_one_line_error(tmp_path):
    from rmbench.runner import run
    from tests import rb_fixture
    from tests.helpers import write_json

    data = write_json(tmp_path / "rb.json", rb_fixture.rows())
    path = run(RunConfig(model="baseline/longest", tasks=["rewardbench"], data_path=str(data),
                         output_dir=str(tmp_path / "out"), run_name="b"), argv=["rmbench"], show_progress=False)
    assert main(["plot", str(path), "--curves"]) == 2


def test_the_html_leaderboard_shows_the_curves(runs, tmp_path):
    """A task whose runs recorded curves gets line charts under its table, one point per
    summary point (its tooltip holds the value); a task without curves gets none."""
    import re

    votes, rr = runs
    out = tmp_path / "board.html"
    assert main(["leaderboard", str(votes), str(rr), "-o", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    sections = {m.group(1): m.group(0)
                for m in re.finditer(r'<section id="([^"]+)".*?(?=<section id=|</main>)', page, re.S)}
    rb, bon = sections["task-rewardbench"], sections["task-bon"]
    assert "Test-time compute" not in sections["overview"]
    vsum = json.loads((votes / "summary.json").read_text())["tasks"]["rewardbench"]["compute_curves"]["votes"]["all"]
    for p in vsum:
        assert f"k = {p['k']}: {100 * p['accuracy']:.1f}" in rb
    assert rb.count('<polyline class="line"') == 1 and "Test-time compute" in rb
    csum = json.loads((rr / "summary.json").read_text())["tasks"]["bon"]["compute_curves"]["candidates"]
    assert bon.count("<circle ") == len([p for p in csum if p.get("accuracy") is not None])
    assert bon.count('<polyline class="line"') == len({p["aggregator"] for p in csum})
    for p in csum:
        assert f"{p['aggregator']}, n = {p['n']}: {100 * p['accuracy']:.1f} at {p['judge_calls']:g} calls" in bon


def test_a_curve_point_without_its_judge_calls_is_refused(runs, tmp_path, capsys):
    """Charts plot each candidates point at its judge calls: a bare summary.json whose point lacks
    them is one line naming the file and the field (it was a crash in the HTML page)."""
    _, rr = runs
    summary = json.loads((rr / "summary.json").read_text())
    summary["tasks"]["bon"]["compute_curves"]["candidates"][0]["judge_calls"] = None
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(summary))
    assert main(["leaderboard", str(bare), "--format", "html"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "bare.json" in err and "judge_calls" in err, err
