"""RRM's multi-candidate setting on PPE: ``--aggregate knockout --task-args k=8`` in real runs.

A stand-in pairwise judge of known strength reads the ``(quality N)`` tags of the two answers it
is shown and prefers the higher one, except between neighbours (qualities one apart), where it
prefers the lower: a non-transitive judge, so the champion depends on the bracket and each item's
pick can be checked against a bracket run by hand from the record.
"""

from __future__ import annotations

import json
import random
import re

import pytest

import rmbench.judges
from rmbench.config import RunConfig
from rmbench.judges.base import BaseProvider, GenOutput
from rmbench.runner import run
from tests.helpers import write_json

QUALITY = re.compile(r"\(quality (\d+)\)")
GOOD = 25                 # an answer of quality >= 25 is the correct kind: 8 of the 32


def a_wins(a: int, b: int) -> bool:
    return (a > b) != (abs(a - b) == 1)


class Quirky(BaseProvider):
    batched = True

    def __init__(self, config):
        super().__init__("quirky", config)
        self.calls = 0

    def generate_batch(self, reqs):
        out = []
        for req in reqs:
            a, b = (int(x) for x in QUALITY.findall(req.messages[-1]["content"])[:2])
            self.calls += 1
            out.append(GenOutput(text=f"Weighed both.\n[[{'A' if a_wins(a, b) else 'B'}]]", finish_reason="stop"))
        return out


def ppe_rows(items: int, seed: int = 3) -> tuple[list[dict], dict[str, list[int]]]:
    rng = random.Random(seed)
    rows, quality = [], {}
    for n in range(items):
        q = list(range(1, 33))
        rng.shuffle(q)
        qid = f"q{n}"
        quality[f"math/{qid}"] = q
        row = {"subset": "math", "question_id": qid, "prompt": f"Question {n}: what is the answer?",
               "scores": [v >= GOOD for v in q]}
        row.update({f"response_{i + 1}": f"(quality {v}) answer {i + 1} to question {n}" for i, v in enumerate(q)})
        rows.append(row)
    return rows, quality


def hand_bracket(bracket: list[int], q: list[int]) -> int:
    """The champion of a knockout over ``bracket`` (8 players: no byes), neighbours paired, the
    winner keeping its pair's first slot."""
    alive = list(bracket)
    while len(alive) > 1:
        alive = [i if a_wins(q[i], q[j]) else j for i, j in zip(alive[0::2], alive[1::2])]
    return alive[0]


def _records(path):
    return {r["id"]: r for r in map(json.loads, (path / "records.jsonl").open())}


def _config(tmp_path, data, name, **kw):
    return RunConfig(model="stand-in/quirky", tasks=["ppe-correctness"], data_path=str(data),
                     output_dir=str(tmp_path / "out"), run_name=name, no_cache=True, task_args={"k": 8}, **kw)


@pytest.mark.parametrize("samples", [1, 2])
def test_knockout_over_8_of_32_answers(monkeypatch, tmp_path, samples):
    rows, quality = ppe_rows(6)
    data = write_json(tmp_path / "ppe.json", rows)
    # a scoring judge first, same seed: it must see the very same 8 answers per question
    base = run(RunConfig(model="baseline/longest", tasks=["ppe-correctness"], data_path=str(data),
                         output_dir=str(tmp_path / "out"), run_name="longest", seed=11, task_args={"k": 8}),
               argv=["rmbench"], show_progress=False)
    provider = Quirky(RunConfig(model="stand-in/quirky", tasks=[]))
    monkeypatch.setattr(rmbench.judges, "build_provider", lambda config: provider)
    path = run(_config(tmp_path, data, "quirky", seed=11, aggregate="knockout", samples=samples),
               argv=["rmbench"], show_progress=False)
    recs, base_recs = _records(path), _records(base)
    per_match = 2 * samples                                   # both orders x samples
    assert provider.calls == 6 * 7 * per_match
    expected = []
    for ident, r in recs.items():
        kept = r["result"]["responses"]
        assert len(kept) == 8 and r["result"]["of"] == 32
        assert base_recs[ident]["result"]["responses"] == kept       # identical subsample across judges
        q = [quality[ident][n - 1] for n in kept]
        t = r["tournament"]
        assert t["method"] == "knockout" and t["by"] == "matches"
        assert t["n_matches"] == len(t["matches"]) == 7 and t["judge_calls"] == 7 * per_match
        assert len(r["pairs"]) == 7 and all(len(p["judgments"]) == per_match for p in r["pairs"])
        champion = hand_bracket(t["bracket"], q)
        assert t["best"] == champion and t["top"] == [champion]
        assert r["result"]["correct"] == (1.0 if q[champion] >= GOOD else 0.0)
        assert r["result"]["chance"] == sum(v >= GOOD for v in q) / 8
        expected.append(r["result"]["correct"])
    summ = json.loads((path / "summary.json").read_text())["tasks"]["ppe-correctness"]
    assert summ["score"] == pytest.approx(sum(expected) / 6)
    assert summ["subsample"] == {"k": 8, "questions": 6}
    agg = summ["aggregation"]
    assert agg["matches"] == {"total": 42, "per_item": 7.0}
    assert agg["judge_calls"] == {"total": 42 * per_match, "per_item": 7.0 * per_match}
    # the quirk matters: some pick is not the best of its 8 (else the test would not need brackets)
    assert any(quality[i][r["result"]["responses"][r["tournament"]["best"]] - 1] !=
               max(quality[i][n - 1] for n in r["result"]["responses"]) for i, r in recs.items())


def test_another_seed_draws_other_answers(tmp_path):
    rows, _ = ppe_rows(4)
    data = write_json(tmp_path / "ppe.json", rows)
    paths = [run(RunConfig(model="baseline/random", tasks=["ppe-correctness"], data_path=str(data),
                           output_dir=str(tmp_path / "out"), run_name=f"s{seed}", seed=seed, task_args={"k": 8}),
                 argv=["rmbench"], show_progress=False) for seed in (1, 1, 2)]
    kept = [{i: r["result"]["responses"] for i, r in _records(p).items()} for p in paths]
    assert kept[0] == kept[1] and kept[0] != kept[2]
