"""Tournaments inside real runs: the runner's window, the Judge engine, the task's scorer.

The first tests run ``rmbench.runner.run`` in-process with stand-in providers (the real Judge
wraps them: templates, parsing, batching, concurrency) to watch how comparisons reach the judge:
a batched provider gets one call per knockout round across all items, an async provider starts
an item's next round as soon as that item's own round is back. The end-to-end tests drive the
real CLI against the fake OpenAI server (tests/servers): its judge follows ``(quality N)`` tags,
so every winner and count below is known in advance.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import run_cli, write_json, write_jsonl
from tests.tournament.standins import Batched, Slow, bon_rows, run_with


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in (path / "records.jsonl").open()]


def test_a_batched_engine_gets_one_call_per_knockout_round(tmp_path):
    """50 items x 8 candidates, both orders: rounds of 4, 2 and 1 matches per item, i.e. three
    generate_batch calls of 400, 200 and 100 prompts when the window holds every item."""
    provider = Batched("judge")
    path = run_with(provider, tmp_path, bon_rows(50, 8), aggregate="knockout")
    assert provider.sizes == [400, 200, 100]
    summ = json.loads((path / "summary.json").read_text())["tasks"]["bon"]
    assert summ["score"] == 1.0              # the judge always prefers the higher quality
    agg = summ["aggregation"]
    assert agg["matches"] == {"total": 350, "per_item": 7.0}
    assert agg["judge_calls"] == {"total": 700, "per_item": 14.0}
    recs = _records(path)
    assert all(r["tournament"]["credit"] == 1.0 and len(r["tournament"]["matches"]) == 7 for r in recs)


def test_a_batched_engine_gets_one_call_for_a_whole_round_robin(tmp_path):
    provider = Batched("judge")
    run_with(provider, tmp_path, bon_rows(20, 6), aggregate="bt")
    assert provider.sizes == [20 * 15 * 2]


def test_an_item_never_waits_for_a_slower_item(tmp_path):
    """Ten items, each slower than the one before. Each item starts its next round as soon as
    its own round is back: the fastest item has finished its whole bracket before the slowest
    item's first round returns, and no item waits between its rounds."""

    def latency(item):
        return 0.02 + 0.05 * item

    provider = Slow("judge", latency=latency)
    path = run_with(provider, tmp_path, bon_rows(10, 8, seed=1), aggregate="knockout",
                     concurrency=512)
    by_item: dict[int, list[tuple[float, float]]] = {}
    for item, t0, t1 in provider.log:
        by_item.setdefault(item, []).append((t0, t1))
    assert sorted(by_item) == list(range(10))
    rounds = {}
    for item, calls in by_item.items():
        calls.sort()
        assert len(calls) == 14
        rounds[item] = [calls[:8], calls[8:12], calls[12:]]     # 4, 2 and 1 matches, two orders each
    fastest_done = max(t1 for _, t1 in by_item[0])
    slowest_first_round = max(t1 for _, t1 in rounds[9][0])
    assert fastest_done < slowest_first_round
    for rs in rounds.values():
        for before, after in zip(rs, rs[1:]):
            back = max(t1 for _, t1 in before)
            start = min(t0 for t0, _ in after)
            assert start >= back                    # a round needs the previous one's winners ...
            assert start - back < latency(0)        # ... and starts without waiting for anyone else
    assert json.loads((path / "summary.json").read_text())["tasks"]["bon"]["score"] == 1.0


# -- end to end through the CLI and the fake OpenAI server ------------------------------------

def _cli(fake, tmp_path, task, data, *extra, name="r"):
    return run_cli("run", "--model", "openai/fake-judge", "--base-url", fake.openai_base_url, "--task", task,
                   "--data-path", str(data), "--output-dir", str(tmp_path / "out"), "--run-name", name,
                   "--cache", str(tmp_path / "cache.sqlite"), "--max-retries", "1", "--quiet", *extra)


def _load(tmp_path, name, task):
    run_dir = tmp_path / "out" / name
    summ = json.loads((run_dir / "summary.json").read_text())["tasks"][task]
    return summ, _records(run_dir)


def _answer(q: int, text: str) -> dict:
    return {"llm_name": f"m{q}", "answer": f"(quality {q}) {text}"}


def rmb_bon_folder(root: Path) -> tuple[Path, dict]:
    """A small RMB BoN_set: per list, the qualities of bon_best and its losers. In two lists a
    loser outranks the labelled best, so the fake judge gets those wrong."""
    lists = {"h1": (9, [3, 5]), "h2": (8, [2, 7, 4, 1]), "h3": (4, [6, 2, 3]),            # h3: a loser wins
             "s1": (7, [1, 2, 3, 4, 5, 6]), "s2": (3, [9, 1]), "s3": (6, [2, 5, 1, 4, 3])}  # s2: a loser wins
    for keys, rel in ((("h1", "h2", "h3"), "Helpfulness/Chat/Discussion.json"),
                      (("s1", "s2", "s3"), "Harmlessness/S1.json")):
        rows = []
        for k in keys:
            best, losers = lists[k]
            rows.append({"bon_uid": k, "category_path": f"BoN_set/{rel[:-5]}",
                         "conversation_input": [{"role": "user", "content": f"Request {k}?", "language": "English"}],
                         "bon_best": _answer(best, f"best answer for {k}"),
                         "loser_list": [_answer(q, f"answer {n} for {k}") for n, q in enumerate(losers)]})
        path = root / "BoN_set" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, rows)
    return root, lists


@pytest.mark.parametrize("method", ["knockout", "wins"])
def test_rmb_bon_tournaments_pick_the_known_winners(fake_api, tmp_path, method):
    data, lists = rmb_bon_folder(tmp_path / "rmb")
    res = _cli(fake_api, tmp_path, "rmb-bon", data, "--aggregate", method, name=method)
    assert res.returncode == 0, res.stderr
    summ, recs = _load(tmp_path, method, "rmb-bon")
    # the two wrong lists are one per goal: 2/3 in each, and 2/3 overall
    assert summ["sections"]["Helpfulness BoN"]["score"] == pytest.approx(2 / 3)
    assert summ["sections"]["Harmlessness BoN"]["score"] == pytest.approx(2 / 3)
    assert summ["score"] == pytest.approx(2 / 3)
    total_matches = 0
    for r in recs:
        best, losers = lists[r["id"].split("/", 1)[1]]
        q = [best, *losers]
        n = len(q)
        t = r["tournament"]
        assert t["best"] == q.index(max(q)) and t["top"] == [t["best"]]
        assert r["result"]["correct"] == (1.0 if max(q) == best else 0.0) == t["credit"]
        want = n - 1 if method == "knockout" else n * (n - 1) // 2
        assert t["n_matches"] == len(t["matches"]) == want and t["judge_calls"] == 2 * want
        # every match is in the record: its two judgments (both orders) under "pairs"
        assert [(p["i"], p["j"]) for p in r["pairs"]] == [(m["i"], m["j"]) for m in t["matches"]]
        assert all(len(p["judgments"]) == 2 for p in r["pairs"])
        for m in t["matches"]:
            assert m["winner"] == (m["i"] if q[m["i"]] > q[m["j"]] else m["j"]) and m["settled"] == "verdict"
        if method == "knockout":
            assert sorted(t["bracket"]) == list(range(n))
            assert t["reached"][t["best"]] == max(t["reached"])
        else:
            assert t["ratings"] == [sum(q[c] > q[o] for o in range(n)) for c in range(n)]   # Copeland points
        total_matches += want
    agg = summ["aggregation"]
    assert agg["method"] == method and agg["by"] == "matches" and agg["items"] == 6
    assert agg["accuracy"] == pytest.approx(2 / 3) and agg["credit"] == pytest.approx(2 / 3)
    assert agg["matches"]["total"] == total_matches and agg["judge_calls"]["total"] == 2 * total_matches
    assert fake_api.total == 2 * total_matches


def test_rmb_bon_default_stays_the_official_best_against_each_loser(fake_api, tmp_path):
    data, lists = rmb_bon_folder(tmp_path / "rmb")
    for name, extra in (("default", ()), ("pairwise", ("--aggregate", "pairwise"))):
        res = _cli(fake_api, tmp_path, "rmb-bon", data, *extra, name=name)
        assert res.returncode == 0, res.stderr
    default, recs = _load(tmp_path, "default", "rmb-bon")
    pairwise, precs = _load(tmp_path, "pairwise", "rmb-bon")
    assert "aggregation" not in default and all("tournament" not in r for r in recs)
    assert default["score"] == pairwise["score"] == pytest.approx(2 / 3)
    losers = sum(len(v[1]) for v in lists.values())
    assert pairwise["aggregation"]["matches"]["total"] == losers
    assert pairwise["aggregation"]["judge_calls"]["total"] == 2 * losers
    assert [r["pairs"] for r in recs] == [r["pairs"] for r in precs]


def rb2_rows() -> list[dict]:
    def row(ident, subset, chosen, rejected):
        return {"id": ident, "subset": subset, "prompt": f"Prompt {ident}?",
                "chosen": [f"(quality {q}) correct answer {n} for {ident}" for n, q in enumerate(chosen)],
                "rejected": [f"(quality {q}) wrong answer {n} for {ident}" for n, q in enumerate(rejected)],
                "num_correct": len(chosen)}

    return [row("f1", "Factuality", [9], [1, 2, 3]), row("f2", "Factuality", [5], [8, 1, 2]),
            row("m1", "Math", [7], [6, 5, 1]), row("m2", "Math", [6], [2, 3, 4]),
            row("ref:p1", "Ties", [9], [5, 3]), row("tied:p1", "Ties", [9, 8], [5, 3]),
            row("ref:p2", "Ties", [9], [8, 1]), row("tied:p2", "Ties", [9, 4], [8, 1])]


def test_rewardbench2_best_of_4_and_ties_from_win_counts(fake_api, tmp_path):
    data = write_json(tmp_path / "rb2.json", rb2_rows())
    res = _cli(fake_api, tmp_path, "rewardbench2", data, "--aggregate", "wins", name="wins")
    assert res.returncode == 0, res.stderr
    summ, recs = _load(tmp_path, "wins", "rewardbench2")
    s = summ["sections"]
    assert s["Factuality"]["score"] == 0.5 and s["Math"]["score"] == 1.0
    # Ties on Copeland points (by hand): ref:p1 [2, 1, 0], tied:p1 [3, 2, 1, 0], ref:p2 [2, 1, 0],
    # tied:p2 [3, 1, 2, 0] (the wrong answer of quality 8 beats the correct one of quality 4).
    # Accuracy: ref 2/2, tied 1/2. p1: diff 1, tied margin 1, ref margin 1: neither margin term
    # holds, tanh(1/1 - 1) = 0. p2: diff 2, tied margin -1: 0, 0, tanh(-1/2 - 1).
    import math
    ties = s["Ties"]
    assert ties["ref_accuracy"] == 1.0 and ties["tied_accuracy"] == 0.5
    assert ties["correctness_preferred"] == 0.0 and ties["correctness_preferred_hard"] == 0.0
    assert ties["margin_score"] == pytest.approx(math.tanh(-1.5) / 2)
    assert ties["score"] == pytest.approx(0.3 * 0.5 + 0.3 * 1.0 + 0.01 * math.tanh(-1.5) / 2)
    assert ties["official"] is False and any("tournament" in n for n in ties["notes"])
    tied_p2 = next(r for r in recs if r["id"] == "tied:p2")
    assert tied_p2["result"]["scores"] == tied_p2["tournament"]["ratings"] == [3.0, 1.0, 2.0, 0.0]
    assert all(r["tournament"]["n_matches"] == len(r["result"]["scores"]) * (len(r["result"]["scores"]) - 1) // 2
               for r in recs)
    assert summ["score"] == pytest.approx((0.5 + 1.0 + ties["score"]) / 3)
    from rmbench.scoring.rewardbench2 import PAIRWISE_NOTE

    assert PAIRWISE_NOTE not in summ.get("notes", [])      # ratings are per-candidate values: no fallback
    assert summ["aggregation"]["accuracy"] == pytest.approx(sum(r["result"]["correct"] for r in recs) / len(recs))


def test_rewardbench2_knockout_counts_and_seeds(fake_api, tmp_path):
    data = write_json(tmp_path / "rb2.json", rb2_rows())
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        res = _cli(fake_api, tmp_path, "rewardbench2", data, "--aggregate", "knockout", "--seed", seed, name=name)
        assert res.returncode == 0, res.stderr
    a, ra = _load(tmp_path, "a", "rewardbench2")
    b, rb = _load(tmp_path, "b", "rewardbench2")
    c, rc = _load(tmp_path, "c", "rewardbench2")
    assert [r["tournament"] for r in ra] == [r["tournament"] for r in rb]       # same seed, same brackets
    assert (tmp_path / "out" / "a" / "records.jsonl").read_bytes() == (tmp_path / "out" / "b" / "records.jsonl").read_bytes()
    assert [r["tournament"]["bracket"] for r in ra] != [r["tournament"]["bracket"] for r in rc]
    assert a["sections"]["Factuality"]["score"] == c["sections"]["Factuality"]["score"] == 0.5
    for r in ra:
        n = r["tournament"]["candidates"]
        assert r["tournament"]["n_matches"] == n - 1 and r["tournament"]["judge_calls"] == 2 * (n - 1)
    assert a["aggregation"]["matches"]["total"] == sum(len(x["chosen"]) + len(x["rejected"]) - 1 for x in rb2_rows())


def test_bon_defaults_to_knockout_round_robins_cost_more_and_share_the_cache(fake_api, tmp_path):
    rows = bon_rows(12, 5, seed=3)
    rows[0]["correct"] = [not v for v in rows[0]["correct"]]      # the judge's favourite is now wrong
    data = write_jsonl(tmp_path / "bon.jsonl", rows)
    out, asked = {}, {}
    for name, extra in (("default", ()), ("elo", ("--aggregate", "elo")), ("bt", ("--aggregate", "bt")),
                        ("orders", ("--orders", "fixed"))):
        before = fake_api.total
        res = _cli(fake_api, tmp_path, "bon", data, *extra, name=name)
        assert res.returncode == 0, res.stderr
        out[name] = _load(tmp_path, name, "bon")[0]
        asked[name] = fake_api.total - before
    # one cache for all four runs: a round robin after the knockout pays only for the pairings the
    # knockout did not play, a second round robin for nothing
    assert asked["default"] == 12 * 4 * 2
    assert asked["elo"] == 12 * (10 - 4) * 2 and asked["bt"] == 0
    assert asked["orders"] == 0                  # one order of each pairing: judged already
    for name in ("default", "elo", "bt"):
        assert out[name]["score"] == pytest.approx(11 / 12)
        assert out[name]["metrics"] == {"oracle": 1.0, "random": pytest.approx((1 / 5 * 11 + 4 / 5) / 12)}
    assert out["default"]["aggregation"]["method"] == "knockout"
    assert out["default"]["aggregation"]["judge_calls"]["per_item"] == 2 * 4
    assert out["elo"]["aggregation"]["judge_calls"]["per_item"] == 2 * 10
    assert out["orders"]["aggregation"]["judge_calls"]["per_item"] == 4      # one order per match
    md = (tmp_path / "out" / "default" / "summary.md").read_text()
    assert "Best-of-N aggregation: knockout (by matches) over 12 items: accuracy 91.7%" in md
    assert "per item 4.0 matches, 8.0 judge calls (48 and 96 in all)" in md
