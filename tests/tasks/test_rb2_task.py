"""RewardBench 2 rows in the hub's exact schema: chosen and rejected lists become candidates."""

from __future__ import annotations

import pytest

from rmbench.errors import UserError
from rmbench.tasks import get_spec, load_task
from tests.helpers import write_json


def rb2_row(ident, subset, chosen, rejected, prompt="Q?"):
    return {"id": ident, "prompt": prompt, "chosen": chosen, "rejected": rejected, "num_correct": len(chosen),
            "num_incorrect": len(rejected), "total_completions": len(chosen) + len(rejected),
            "models": [f"m{i}" for i in range(len(chosen) + len(rejected))], "subset": subset,
            "additional_metadata": {"source": "test"}}


def test_rows_become_candidates_with_the_chosen_ones_preferred(tmp_path):
    rows = [rb2_row("17", "Math", ["right"], ["w1", "w2", "w3"]),
            rb2_row("ref:5", "Ties", ["red"], ["purple", "brown"]),
            rb2_row("tied:5", "Ties", ["red", "green", "blue"], ["purple", "brown"])]
    td = load_task(get_spec("rewardbench2"), str(write_json(tmp_path / "rb2.json", rows)))
    math, ref, tied = td.examples
    assert math.id == "17" and math.subset == "Math"
    assert math.candidates == ("right", "w1", "w2", "w3") and math.preferred == (0,) and math.rejected == (1, 2, 3)
    assert math.messages == ({"role": "user", "content": "Q?"},)
    assert math.meta == {"models": ["m0", "m1", "m2", "m3"]}
    # the ref and tied forms of a prompt name one bootstrap cluster
    assert ref.labels == {"ties_kind": "ref", "prompt_id": "5", "cluster": "ties:5"} and ref.preferred == (0,)
    assert tied.labels == {"ties_kind": "tied", "prompt_id": "5", "cluster": "ties:5"} and tied.preferred == (0, 1, 2)
    assert tied.rejected == (3, 4)
    assert td.notes == {}


def test_quirks_are_counted(tmp_path):
    row = rb2_row("1", "Focus", ["same"], ["same", "b", "c"])
    row["num_correct"] = 2
    td = load_task(get_spec("rewardbench2"), str(write_json(tmp_path / "rb2.json", [row, rb2_row("2", "Focus", ["a"], ["b"])])))
    assert {k: v["count"] for k, v in td.notes.items()} == {
        "rows whose num_correct differs from the chosen list": 1, "rows with repeated completions": 1,
        "best-of-4 rows without exactly 1 chosen and 3 rejected": 1}


def test_ties_ids_must_name_their_form(tmp_path):
    path = write_json(tmp_path / "rb2.json", [rb2_row("42", "Ties", ["a"], ["b"])])
    with pytest.raises(UserError, match="expected ref:<prompt_id> or tied:<prompt_id>"):
        load_task(get_spec("rewardbench2"), str(path))


def test_demo_sample_covers_every_subset():
    td = load_task(get_spec("rewardbench2"), demo=True)
    assert {e.subset for e in td.examples} == {"Factuality", "Precise IF", "Math", "Safety", "Focus", "Ties"}
