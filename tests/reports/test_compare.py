"""rmbench compare: McNemar against hand computation, paired deltas, fractional correctness and
warnings for runs that are not like for like."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import pytest

from rmbench.reports.compare import binarize, mcnemar, mcnemar_exact
from tests.helpers import run_cli
from tests.reports.runs import DATA, flip, rb_records, records_run


def test_mcnemar_exact_by_hand():
    # b = 3, c = 10: p = 2 * (C(13,0) + C(13,1) + C(13,2) + C(13,3)) / 2^13 = 2 * 378 / 8192
    assert mcnemar_exact(3, 10) == pytest.approx(756 / 8192)
    assert mcnemar_exact(10, 3) == mcnemar_exact(3, 10)
    # b = 0, c = 6: 2 / 64
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    assert mcnemar_exact(5, 5) == 1.0 and mcnemar_exact(0, 0) == 1.0
    # a large case: b = 480, c = 520
    n, k = 1000, 480
    assert mcnemar_exact(k, n - k) == pytest.approx(2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)


def _exact(b: int, c: int) -> Fraction:
    """The p-value in exact rational arithmetic (big integers)."""
    n, k = b + c, min(b, c)
    return min(Fraction(1), Fraction(2 * sum(math.comb(n, i) for i in range(k + 1)), 2**n))


def test_mcnemar_log_space_matches_big_integers():
    # every split of up to 120 discordant pairs, and a few larger ones, to 1e-10 relative (the
    # exact sums get slow beyond a few thousand pairs: bench/mcnemar_speed.py times n = 20,000)
    cases = [(k, n - k) for n in range(1, 121) for k in range(n + 1)]
    cases += [(950, 1_050), (900, 1_100), (120, 400), (1, 2_000)]
    for b, c in cases:
        exact = _exact(b, c)
        got = mcnemar_exact(b, c)
        assert got == pytest.approx(float(exact), rel=1e-10, abs=1e-300), (b, c)
    # a p-value below the smallest float is 0.0, not an error or a negative number
    assert mcnemar_exact(0, 20_000) == 0.0
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


def test_fractional_correctness_is_split_at_one_half():
    assert [binarize(v) for v in (1.0, 0.75, 0.5, 0.25, 0.0, None)] == [1, 1, None, 0, 0, None]
    a = [{"result": {"correct": v}} for v in (1.0, 1.0, 0.5, 0.0, 2 / 3, None, 0.0)]
    b = [{"result": {"correct": v}} for v in (1.0, 0.0, 1.0, 1.0, 1 / 3, 1.0, 0.0)]
    m = mcnemar(a, b)
    assert (m["both"], m["a_only"], m["b_only"], m["neither"], m["left_out"]) == (1, 2, 1, 1, 2)
    assert m["p"] == pytest.approx(mcnemar_exact(2, 1))


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    base = rb_records(0.7, seed=21)
    worse = flip(flip(base, 30, 0.0, seed=22), 9, 1.0, seed=23)  # A right & B wrong 30, A wrong & B right 9
    return {"a": records_run(root, "a", "m/a", base), "b": records_run(root, "b", "m/b", worse),
            "c": records_run(root, "c", "m/c", worse[: len(worse) // 2], limit=600,
                             data={**DATA, "files": {"rb.json": "cc" * 32}}),
            "root": root}


def test_compare_counts_deltas_and_mcnemar(pair):
    res = run_cli("compare", str(pair["a"]), str(pair["b"]), "--format", "json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    t = out["tasks"]["rewardbench"]
    assert t["shared"] == t["n_a"] == t["n_b"] == 1293
    mc = t["mcnemar"]
    assert (mc["a_only"], mc["b_only"], mc["left_out"]) == (30, 9, 0)
    assert mc["p"] == pytest.approx(2 * sum(math.comb(39, i) for i in range(10)) / 2**39)
    sa = json.loads((pair["a"] / "summary.json").read_text())["tasks"]["rewardbench"]
    sb = json.loads((pair["b"] / "summary.json").read_text())["tasks"]["rewardbench"]
    overall = next(m for m in t["metrics"] if m["metric"] == "rewardbench")
    assert overall["a"] == sa["score"] and overall["b"] == sb["score"]
    assert overall["delta"] == pytest.approx(sb["score"] - sa["score"]) and overall["delta"] < 0
    assert overall["ci"][0] < overall["delta"] < overall["ci"][1] < 0  # paired: a clear drop
    # unpaired intervals of the two scores overlap; the paired one still excludes zero
    assert sa["ci"][0] < sb["ci"][1]
    assert {m["metric"] for m in t["metrics"]} == {"rewardbench", "rewardbench.Chat", "rewardbench.Chat Hard",
                                                   "rewardbench.Safety", "rewardbench.Reasoning"}
    assert out["warnings"] == [] and any(d.startswith("model:") for d in out["differences"])


def test_compare_markdown_and_same_seed_same_numbers(pair):
    one = run_cli("compare", str(pair["a"]), str(pair["b"]))
    two = run_cli("compare", str(pair["a"]), str(pair["b"]))
    assert one.returncode == 0 and one.stdout == two.stdout
    assert "McNemar (exact" in one.stdout and "A right and B wrong 30, A wrong and B right 9" in one.stdout
    assert "| rewardbench " in one.stdout


def test_compare_warns_about_data_settings_and_missing_examples(pair):
    res = run_cli("compare", str(pair["a"]), str(pair["c"]), "--format", "json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    warnings = " | ".join(out["warnings"])
    assert "different data" in warnings and "limit: null → 600" in warnings and "only 646 examples" in warnings
    assert "rmbench: warning:" in res.stderr
    assert out["tasks"]["rewardbench"]["shared"] == 646


def test_compare_needs_records(pair, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "summary.json").write_text((pair["a"] / "summary.json").read_text())
    res = run_cli("compare", str(bare), str(pair["b"]))
    assert res.returncode == 2 and "cannot be compared example by example" in res.stderr
