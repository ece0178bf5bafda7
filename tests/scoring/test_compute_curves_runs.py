"""Compute curves inside real runs: stand-in judges behind the real Judge and runner, the task's
own scorer, and ``rescore`` recomputing everything from the records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rmbench.protocol import Policy
from rmbench.runner import rescore
from rmbench.scoring import curves
from tests.scoring.diag_standins import Scripted, Upsets, rb_rows, run_standin
from tests.tournament.standins import bon_rows

K = 5
# per item: verdicts of the 5 samples with the chosen response shown first, then shown second
SCRIPT = {0: {True: "WWWLL", False: "WWWWW"}, 1: {True: "WLWLL", False: "LLWLW"}, 2: {True: "LLLLL", False: "LWLLL"},
          3: {True: "WWWWW", False: "WWLWW"}, 4: {True: "WLLLW", False: "WWLWL"}, 5: {True: "LWLWW", False: "WLWLW"}}


def _summary(path: Path, task: str) -> dict:
    return json.loads((path / "summary.json").read_text())["tasks"][task]


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in (path / "records.jsonl").open()]


def test_votes_curve_ends_at_the_runs_score_and_starts_at_the_mean_single_sample_score(monkeypatch, tmp_path):
    from rmbench.config import RunConfig

    cfg = RunConfig(model="stand-in/judge", tasks=["rewardbench"])
    rows = rb_rows(len(SCRIPT))
    path = run_standin(Scripted("judge", cfg, SCRIPT), monkeypatch, tmp_path, "rewardbench", rows, "k5", samples=K)
    summ = _summary(path, "rewardbench")
    votes = summ["compute_curves"]["votes"]
    assert [p["k"] for p in votes["all"]] == [1, 2, 3, 4, 5]
    assert votes["all"][-1]["accuracy"] == pytest.approx(summ["score"], abs=1e-12)
    for section in ("Chat", "Chat Hard"):
        assert votes[section][-1]["accuracy"] == pytest.approx(summ["sections"][section]["score"], abs=1e-12)
    singles = []
    for s in range(K):      # five real one-sample runs, each seeing one column of the script
        one = run_standin(Scripted("judge", cfg, SCRIPT, shift=s), monkeypatch, tmp_path, "rewardbench", rows,
                          f"s{s}", samples=1)
        singles.append(_summary(one, "rewardbench")["score"])
    assert votes["all"][0]["accuracy"] == pytest.approx(sum(singles) / K, abs=1e-12)
    # the run reports how often all five samples agreed: per (item, order) column, by hand
    cols = [c for per in SCRIPT.values() for c in per.values()]
    sc = summ["diagnostics"]["self_consistency"]
    assert sc["requests"] == len(cols) and sc["all_agree"] == pytest.approx(
        sum(len(set(c)) == 1 for c in cols) / len(cols))
    # rescore recomputes the same figures from the records alone
    before = json.loads((path / "summary.json").read_text())
    after = rescore(path)
    assert after["tasks"]["rewardbench"]["compute_curves"] == before["tasks"]["rewardbench"]["compute_curves"]
    assert after["tasks"]["rewardbench"]["diagnostics"] == before["tasks"]["rewardbench"]["diagnostics"]
    md = (path / "summary.md").read_text()
    assert "| diagnostic" in md and "accuracy by votes" in md and "self-consistency" in md


@pytest.fixture(scope="module")
def tournaments(tmp_path_factory):
    """The same 12 best-of-6 items judged by a round robin and by a knockout (same seed, same
    upset-prone judge)."""
    from rmbench.config import RunConfig

    mp = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("tournaments")
    rows = bon_rows(12, 6, seed=3)
    cfg = RunConfig(model="stand-in/judge", tasks=["bon"])
    out = {}
    try:
        for method in ("bt", "knockout"):
            provider = Upsets("judge", cfg)
            out[method] = (run_standin(provider, mp, tmp, "bon", rows, method, aggregate=method, seed=7), provider)
    finally:
        mp.undo()
    return out


def test_knockout_replayed_on_a_round_robin_picks_what_a_knockout_run_picked(tournaments):
    rr_path, rr_provider = tournaments["bt"]
    ko_path, _ = tournaments["knockout"]
    assert rr_provider.calls == 12 * 15 * 2          # the round robin, and nothing more for the curves
    policy = Policy(orders="both", samples=1, seed=7, on_failure="loss")
    ko = {r["id"]: r["tournament"] for r in _records(ko_path)}
    differs = 0
    for rec in _records(rr_path):
        picks = curves.replay_picks(rec, policy)
        assert picks["knockout"]["best"] == ko[rec["id"]]["best"]
        assert picks["knockout"]["judge_calls"] == ko[rec["id"]]["judge_calls"] == 10
        assert picks["bt"]["best"] == rec["tournament"]["best"]
        differs += picks["knockout"]["best"] != picks["bt"]["best"]
    assert differs > 0                               # the upsets make the bracket matter
    summ = _summary(rr_path, "bon")
    points = {(p["aggregator"], p["n"]): p for p in summ["compute_curves"]["candidates"]}
    assert points[("bt", 6)]["accuracy"] == pytest.approx(summ["aggregation"]["credit"])
    assert points[("knockout", 6)]["accuracy"] == pytest.approx(_summary(ko_path, "bon")["aggregation"]["credit"])
    assert points[("knockout", 6)]["judge_calls"] == 10 and points[("elo", 6)]["judge_calls"] == 30
    assert points[("wins", 1)]["accuracy"] == pytest.approx(1 / 6) and points[("wins", 1)]["judge_calls"] == 0
    # C(6, 3) = 20 subsets is more than the 16 a small task uses per size: those are drawn
    assert [n for n in range(1, 7) if not points[("bt", n)]["exact"]] == [3]
    assert points[("bt", 2)]["oracle"] == pytest.approx(5 / 15) and points[("bt", 5)]["oracle"] == pytest.approx(5 / 6)
    ko_notes = _summary(ko_path, "bon")["compute_curves"]["notes"]
    assert any("needs a full round robin" in n for n in ko_notes)


def test_candidates_curve_on_subsets_by_hand(tournaments):
    """n = 2: every pair of candidates; knockout and the ratings all pick the pair's winner, so
    the accuracy is the share of (preferred, other) pairs the preferred candidate wins, over all
    15 pairs of the item (pairs without the preferred candidate earn 0)."""
    rr_path, _ = tournaments["bt"]
    policy = Policy(orders="both", samples=1, seed=7, on_failure="loss")
    per_item = []
    for rec in _records(rr_path):
        best = rec["preferred"][0]
        credit = []
        for i in range(6):
            for j in range(i + 1, 6):
                picks = curves.replay_picks(rec, policy, members=[i, j], methods=["wins"])
                credit.append(picks["wins"]["credit"])
                if best not in (i, j):
                    assert credit[-1] == 0.0
        per_item.append(sum(credit) / len(credit))
    points = {(p["aggregator"], p["n"]): p for p in _summary(rr_path, "bon")["compute_curves"]["candidates"]}
    assert points[("wins", 2)]["accuracy"] == pytest.approx(sum(per_item) / len(per_item))
