"""RM-Bench's 3x3 style matrix, levels and totals against hand-computed values, and the
baseline judge on the real files against an independent count from the raw JSON."""

from __future__ import annotations

import json

import pytest

from rmbench.scoring import rmbench as rmb_score
from tests.helpers import run_cli
from tests.scoring.outcomes import example, pairwise, pointwise, record


def _ex(ident, domain):
    scored = "safety" if domain.startswith("safety") else domain
    return example(ident, 6, preferred=(0, 1, 2), subset=domain, labels={"domain": domain, "scored_domain": scored},
                   task="rm-bench")


def _scored(ident, domain, chosen, rejected, **kw):
    ex = _ex(ident, domain)
    return record(ex, rmb_score.example_result(ex, pointwise(ex, list(chosen) + list(rejected), **kw)))


def _all(ident, domain, value):
    """A prompt whose every chosen style beats (value 1) or loses to (0) every rejected style."""
    return _scored(ident, domain, [2, 2, 2], [1, 1, 1]) if value else _scored(ident, domain, [1, 1, 1], [2, 2, 2])


CHAT = [
    # chosen scores [5, 3, 1] against rejected [4, 2, 6]:
    #   rows (chosen style) [1,1,0] / [0,1,0] / [0,0,0]
    _scored("chat/a", "chat", [5, 3, 1], [4, 2, 6]),
    # chosen [2, 2, 9] against rejected [2, 1, 8]; 2 vs 2 is a tie, which loses:
    #   rows [0,1,0] / [0,1,0] / [1,1,1]
    _scored("chat/b", "chat", [2, 2, 9], [2, 1, 8]),
]


def test_example_matrix_and_ties():
    assert CHAT[0]["result"]["matrix"] == [[1, 1, 0], [0, 1, 0], [0, 0, 0]]
    assert CHAT[1]["result"]["matrix"] == [[0, 1, 0], [0, 1, 0], [1, 1, 1]]
    assert CHAT[0]["result"]["correct"] == pytest.approx(3 / 9)
    assert CHAT[1]["result"]["correct"] == pytest.approx(5 / 9)


def test_domain_matrix_and_levels():
    chat = rmb_score.aggregate(CHAT, {})["sections"]["chat"]
    assert chat["matrix"] == [[0.5, 1.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 0.5]]
    assert chat["hard"] == pytest.approx((1.0 + 0.0 + 0.0) / 3)     # M01, M02, M12
    assert chat["normal"] == pytest.approx((0.5 + 1.0 + 0.5) / 3)   # diagonal
    assert chat["easy"] == pytest.approx((0.0 + 0.5 + 0.5) / 3)     # M10, M20, M21
    assert chat["score"] == pytest.approx(4 / 9)
    assert chat["n"] == 2


def test_safety_pools_its_two_files_prompt_by_prompt():
    recs = [_all("safety-refuse/1", "safety-refuse", 1)] + [_all(f"safety-response/{k}", "safety-response", 0)
                                                            for k in range(3)]
    out = rmb_score.aggregate(recs, {})
    safety = out["sections"]["safety"]
    # micro: 1 winning prompt of 4 -> 0.25 in every cell (a mean of the two files would give 0.5)
    assert safety["matrix"] == [[0.25] * 3] * 3
    assert safety["score"] == pytest.approx(0.25)
    assert safety["subsets"]["safety-refuse"]["accuracy"] == 1.0
    assert safety["subsets"]["safety-response"]["accuracy"] == 0.0
    assert safety["subsets"]["safety-response"]["n"] == 3


def test_overall_levels_and_total_are_unweighted_means_over_domains():
    recs = CHAT + [_all("math/1", "math", 1), _all("code/1", "code", 0), _all("code/2", "code", 0),
                   _all("safety-refuse/1", "safety-refuse", 1)] + [_all(f"safety-response/{k}", "safety-response", 0)
                                                                   for k in range(3)]
    out = rmb_score.aggregate(recs, {})
    assert list(out["sections"]) == ["chat", "math", "code", "safety"]
    # domain scores: chat 4/9, math 1, code 0, safety 1/4 (code's two prompts do not outweigh math's one)
    assert out["score"] == pytest.approx((4 / 9 + 1 + 0 + 0.25) / 4)
    assert out["metrics"]["hard"] == pytest.approx((1 / 3 + 1 + 0 + 0.25) / 4)
    assert out["metrics"]["normal"] == pytest.approx((2 / 3 + 1 + 0 + 0.25) / 4)
    assert out["metrics"]["easy"] == pytest.approx((1 / 3 + 1 + 0 + 0.25) / 4)
    assert out["n"] == 9
    assert "notes" not in out and "official" not in out


def test_missing_domains_are_noted():
    out = rmb_score.aggregate(CHAT, {})
    assert out["score"] == pytest.approx(4 / 9)
    assert out["notes"] == ["domains missing from the data: math, code, safety; the total is the mean over the "
                            "domains present, not the official total"]
    assert out["official"] is False        # the leaderboard says so beside the number


def test_pairwise_judge_fills_all_nine_cells():
    ex = _ex("chat/p", "chat")
    winners = {(i, j): (j, j) for i in range(3) for j in range(3, 6)}  # every rejected style wins both orders...
    winners[(0, 3)] = (0, 0)       # ...except: chosen concise beats rejected concise in both orders
    winners[(0, 4)] = (0, 4)       # the first-shown response wins each time: half
    winners[(0, 5)] = (None, 0)    # one order failed to parse, the other went to the chosen one
    winners[(1, 4)] = (None, None)
    cells = rmb_score.example_result(ex, pairwise(ex, winners))["matrix"]
    assert cells == [[1.0, 0.5, 0.5], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    excl = rmb_score.example_result(ex, pairwise(ex, winners, on_failure="exclude"))["matrix"]
    assert excl == [[1.0, 0.5, 1.0], [0.0, None, 0.0], [0.0, 0.0, 0.0]]
    # an excluded cell leaves only that cell's mean
    other = _ex("chat/q", "chat")
    full = rmb_score.example_result(other, pairwise(other, {(i, j): (i, i) for i in range(3) for j in range(3, 6)}))
    out = rmb_score.aggregate([record(ex, {"correct": None, "matrix": excl}), record(other, full)], {})
    chat = out["sections"]["chat"]
    assert chat["matrix"][1][1] == 1.0 and chat["matrix"][0][2] == 1.0 and chat["matrix"][1][0] == 0.5
    assert chat["matrix_n"][1][1] == 1 and chat["matrix_n"][0][0] == 2


def _independent_matrix(files):
    """Plain-Python count of len(chosen[i]) > len(rejected[j]) (the longest baseline) per domain."""
    counts, n = {}, {}
    for path in files:
        dom = path.name.split("_")[0]
        dom = "safety" if dom.startswith("safety") else dom
        m = counts.setdefault(dom, [[0] * 3 for _ in range(3)])
        for row in json.loads(path.read_text(encoding="utf-8")):
            n[dom] = n.get(dom, 0) + 1
            for i in range(3):
                for j in range(3):
                    m[i][j] += len(row["chosen"][i]) > len(row["rejected"][j])
    return {d: [[c / n[d] for c in row] for row in m] for d, m in counts.items()}, n


def test_longest_baseline_on_the_real_files_end_to_end(shared_data, tmp_path):
    files = sorted((shared_data / "rm-bench").glob("*.json"))
    expected, n = _independent_matrix(files)
    res = run_cli("run", "--model", "baseline/longest", "--task", "rm-bench", "--data-path",
                  str(shared_data / "rm-bench"), "--output-dir", str(tmp_path), "--run-name", "r", "--quiet")
    assert res.returncode == 0, res.stderr
    t = json.loads((tmp_path / "r" / "summary.json").read_text())["tasks"]["rm-bench"]
    assert set(t["sections"]) == set(expected) == {"chat", "code", "safety"}
    scores = []
    for dom, m in expected.items():
        sec = t["sections"][dom]
        assert sec["n"] == n[dom]
        for i in range(3):
            for j in range(3):
                assert sec["matrix"][i][j] == pytest.approx(m[i][j]), (dom, i, j)
        hard = (m[0][1] + m[0][2] + m[1][2]) / 3
        normal = (m[0][0] + m[1][1] + m[2][2]) / 3
        easy = (m[1][0] + m[2][0] + m[2][1]) / 3
        assert (sec["hard"], sec["normal"], sec["easy"]) == pytest.approx((hard, normal, easy))
        scores.append((hard + normal + easy) / 3)
    assert t["score"] == pytest.approx(sum(scores) / len(scores))
    assert t["data_notes"]["identical chosen styles"]["count"] == 49
