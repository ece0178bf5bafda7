"""rmbench gate: exit codes for a clear regression, a drop within noise and an improvement (paired
runs and a committed summary.json baseline), the report files, and usage errors."""

from __future__ import annotations

import hashlib
import json
import math
import random
import shutil

import pytest

from rmbench.reports.gate import _z, holm
from tests.helpers import run_cli
from tests.reports.runs import flip, rb_records, records_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("gate")
    base = rb_records(0.75, seed=1)
    paths = {
        "base": records_run(root, "base", "ckpt/100", base),
        # 180 of 1293 examples go from right to wrong: about 14 points on every section
        "regressed": records_run(root, "regressed", "ckpt/200", flip(base, 180, 0.0, seed=2)),
        # 60 right->wrong and 40 wrong->right: a net drop above the 1-point allowance, but
        # 100 discordant examples cannot tell a 20-example difference from chance
        "noise": records_run(root, "noise", "ckpt/300", flip(flip(base, 60, 0.0, seed=3), 40, 1.0, seed=4)),
        "improved": records_run(root, "improved", "ckpt/400", flip(base, 120, 1.0, seed=5)),
    }
    # a small independent rerun that scores a few points lower by chance
    small = rb_records(0.75, seed=11)[::8]
    paths["small_base"] = records_run(root, "small_base", "ckpt/s1", small)
    paths["small_cand"] = records_run(root, "small_cand", "ckpt/s2", flip(small, 4, 0.0, seed=12))
    committed = root / "committed"
    committed.mkdir()
    shutil.copy(paths["base"] / "summary.json", committed / "baseline-summary.json")
    paths["committed"] = committed / "baseline-summary.json"
    return paths


def gate(runs, cand, base="base", *extra, env=None):
    return run_cli("gate", "--baseline", str(runs[base]), "--candidate", str(runs[cand]), "--json", *extra, env=env)


def score(path, section=None):
    t = json.loads((path / "summary.json").read_text())["tasks"]["rewardbench"]
    return t["score"] if section is None else t["sections"][section]["score"]


def test_clear_regression_fails(runs):
    res = gate(runs, "regressed")
    assert res.returncode == 1, res.stderr
    out = json.loads(res.stdout)
    assert out["mode"] == "paired bootstrap" and not out["passed"]
    assert all(m["failed"] and m["verdict"] == "regression" for m in out["metrics"])
    overall = next(m for m in out["metrics"] if m["metric"] == "rewardbench")
    assert overall["drop"] == pytest.approx(score(runs["base"]) - score(runs["regressed"]))
    assert overall["drop"] > 0.10 and overall["ci"][1] < -0.05
    report = (runs["regressed"] / "gate.md").read_text()
    assert report.startswith("## rmbench gate: FAIL") and "regression" in report


def test_drop_within_noise_passes(runs):
    for base, cand in (("base", "noise"), ("small_base", "small_cand")):
        res = gate(runs, cand, base)
        assert res.returncode == 0, res.stdout + res.stderr
        out = json.loads(res.stdout)
        overall = next(m for m in out["metrics"] if m["metric"] == "rewardbench")
        # it drops by more than the allowance, which the data cannot tell from noise
        assert overall["drop"] > 0.01 and overall["verdict"] == "drop within noise", (cand, overall)
        assert overall["p_adjusted"] >= 0.05 and not overall["failed"]


def test_allowance_covers_a_known_drop(runs):
    res = gate(runs, "regressed", "base", "--max-drop", "25")
    assert res.returncode == 0
    assert {m["verdict"] for m in json.loads(res.stdout)["metrics"]} == {"drop within allowance"}


def test_improvement_passes(runs):
    res = gate(runs, "improved")
    assert res.returncode == 0
    out = json.loads(res.stdout)
    assert out["passed"] and all(m["drop"] < 0 and m["verdict"] == "no drop" for m in out["metrics"])


def test_committed_summary_baseline_uses_the_unpaired_test(runs, tmp_path):
    step = tmp_path / "step-summary.md"
    step.write_text("earlier step\n")
    res = run_cli("gate", "--baseline", str(runs["committed"]), "--candidate", str(runs["regressed"]),
                  "--metric", "rewardbench", "rewardbench.Chat", "-o", str(tmp_path / "g.md"),
                  env={"GITHUB_STEP_SUMMARY": str(step)})
    assert res.returncode == 1, res.stderr
    assert "unpaired" in res.stdout and "FAIL" in res.stdout
    assert step.read_text().startswith("earlier step\n## rmbench gate: FAIL")
    assert (tmp_path / "g.md").read_text() == res.stdout
    for cand, code in (("noise", 0), ("improved", 0)):
        assert run_cli("gate", "--baseline", str(runs["committed"]), "--candidate", str(runs[cand])).returncode == code


def test_unpaired_test_by_hand(runs):
    """z = (drop - allowance) / sqrt(se_b^2 + se_c^2), se = CI half-width / 1.96, one-sided."""
    res = run_cli("gate", "--baseline", str(runs["committed"]), "--candidate", str(runs["small_base"] / "summary.json"),
                  "--metric", "rewardbench", "--json")
    out = json.loads(res.stdout)
    tb = json.loads(runs["committed"].read_text())["tasks"]["rewardbench"]
    tc = json.loads((runs["small_base"] / "summary.json").read_text())["tasks"]["rewardbench"]
    se = math.hypot((tb["ci"][1] - tb["ci"][0]) / (2 * 1.959964), (tc["ci"][1] - tc["ci"][0]) / (2 * 1.959964))
    z = (tb["score"] - tc["score"] - 0.01) / se
    assert out["mode"] == "unpaired normal"
    assert out["metrics"][0]["p"] == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)), rel=1e-4)


def test_normal_quantile_and_holm():
    assert _z(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert _z(0.90) == pytest.approx(1.644854, abs=1e-6)
    # Holm by hand: sorted p 0.01, 0.02, 0.04 -> 0.03, 0.04, 0.04
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])


@pytest.mark.parametrize("extra,message", [
    (["--metric", "rewardbench.Nope"], "not in the baseline"),
    (["--alpha", "1.5"], "--alpha"),
    (["--max-drop", "-1"], "--max-drop"),
    (["--resamples", "5"], "--resamples"),
])
def test_usage_errors_exit_2(runs, extra, message):
    res = gate(runs, "noise", "base", *extra)
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr


def test_missing_runs_exit_2(runs, tmp_path):
    res = run_cli("gate", "--baseline", str(tmp_path / "nope"), "--candidate", str(runs["noise"]))
    assert res.returncode == 2 and "not a run directory" in res.stderr
    res = run_cli("gate", "--baseline", str(runs["base"]))
    assert res.returncode == 2  # argparse: --candidate is required


def _paired(rng, n, right_to_wrong, wrong_to_right):
    base, cand = [], []
    for k in range(n):
        u = rng.random()
        b, c = ((1.0, 0.0) if u < right_to_wrong else (0.0, 1.0) if u < right_to_wrong + wrong_to_right
                else (1.0, 1.0) if rng.random() < 0.7 else (0.0, 0.0))
        base.append({"id": str(k), "subset": "s", "result": {"correct": b}})
        cand.append({"id": str(k), "subset": "s", "result": {"correct": c}})
    return base, cand


@pytest.mark.parametrize("n", [20, 200])
def test_paired_test_false_alarm_rate_and_power(n):
    """Simulated pairs with no true change: the one-sided test at alpha 0.05 (allowance 0) fires
    at most about 5% of the time; with a true 10-point drop it fires most of the time at n=200."""
    from rmbench.reports.gate import paired_drop_test
    from rmbench.scoring import rewardbench

    opts = {"sections": {"A": {"s": 1}}}
    rng = random.Random(n)
    sims = 150
    alarms = sum(paired_drop_test(*_paired(rng, n, 0.1, 0.1), rewardbench.aggregate, opts, [("score",)], 0.0,
                                  seed=t, resamples=500)[0][0] < 0.05 for t in range(sims))
    assert alarms / sims <= 0.08
    if n == 200:
        hits = sum(paired_drop_test(*_paired(rng, n, 0.15, 0.05), rewardbench.aggregate, opts, [("score",)], 0.0,
                                    seed=t, resamples=500)[0][0] < 0.05 for t in range(50))
        assert hits / 50 >= 0.8


def test_metrics_on_too_few_examples_are_reported_not_tested(tmp_path):
    base = rb_records(0.9, seed=41)[:3] + rb_records(0.9, seed=41)[200:400]  # 3 examples of alpacaeval-easy
    b = records_run(tmp_path, "b", "m/b", base)
    c = records_run(tmp_path, "c", "m/c", [{**r, "result": {"correct": 0.0}} if r["subset"] == "alpacaeval-easy"
                                           else r for r in base])
    res = run_cli("gate", "--baseline", str(b), "--candidate", str(c), "--json", "--metric", "rewardbench.chat",
                  "--metric", "rewardbench")
    out = json.loads(res.stdout)
    assert out["metrics"][0]["verdict"] == "too few examples" and out["metrics"][0]["p"] is None
    assert out["metrics"][0]["drop"] > 0.5 and "not tested" in res.stderr
    assert out["metrics"][1]["p"] is not None and res.returncode == (1 if out["metrics"][1]["failed"] else 0)
    # nothing testable is a broken gate, never a pass
    res = run_cli("gate", "--baseline", str(b), "--candidate", str(c), "--metric", "rewardbench.chat")
    assert res.returncode == 2 and res.stdout == ""
    assert "none of the gated metrics could be tested" in res.stderr and "rewardbench.Chat: only 3" in res.stderr


def test_metrics_the_records_cannot_give_are_refused_on_run_directories(tmp_path):
    base = rb_records(0.9, seed=41)[:300]
    b = records_run(tmp_path, "b", "m/b", base)
    c = records_run(tmp_path, "c", "m/c", base)
    # the prior-weighted score comes from combining two tasks' summaries, not from rewardbench's
    # records (here written into both summaries, as a run of both tasks would)
    for d in (b, c):
        summ = json.loads((d / "summary.json").read_text())
        summ["tasks"]["rewardbench"]["score_with_prior"] = 0.5
        (d / "summary.json").write_text(json.dumps(summ))
        info = json.loads((d / "run.json").read_text())     # as the run would have recorded that summary
        info["summary_sha256"] = hashlib.sha256((d / "summary.json").read_bytes()).hexdigest()
        (d / "run.json").write_text(json.dumps(info))
    res = run_cli("gate", "--baseline", str(b), "--candidate", str(c), "--metric", "rewardbench.score_with_prior")
    assert res.returncode == 2 and "do not give it a value" in res.stderr, res.stderr
