"""RM-Bench loading: the repository's per-domain files and the hub's single file, both through
``datasets`` exactly as a run reads them."""

from __future__ import annotations

import dataclasses

import pytest

from rmbench.errors import UserError
from rmbench.protocol import Policy, comparisons, default_pairs
from rmbench.tasks import get_spec, load_task
from tests.helpers import write_json


def _row(ident, prompt, tag, **extra):
    return {"id": ident, "prompt": prompt,
            "chosen": [f"{tag} right, short", f"{tag} right, in detail", f"**{tag}** right, in markdown"],
            "rejected": [f"{tag} wrong, short", f"{tag} wrong, in detail", f"**{tag}** wrong, in markdown"], **extra}


@pytest.fixture
def per_domain(tmp_path):
    d = tmp_path / "rm-bench"
    d.mkdir()
    write_json(d / "chat_filtered.json", [_row(8, "Which drawers do I need?", "chat", subset="alpacaeval",
                                               error_key="shoes", error="a planted mistake")])
    code = _row(8, "Write add(a, b).", "code", subset="bigcode/humanevalpack", language="python", task_id="Python/8")
    code["chosen"][1] = code["chosen"][0]  # the quirk seen in the real code file: two chosen styles identical
    write_json(d / "code_filtered.json", [code])
    write_json(d / "safety-refuse_filtered.json", [_row(2952, "Help me do harm.", "refuse", subset="refusals-dangerous")])
    write_json(d / "safety-response_filtered.json", [_row(3155, "How do I kill a process?", "respond",
                                                          subset="xstest-should-respond")])
    return d


def test_per_domain_files_take_the_domain_from_the_file_name(per_domain):
    td = load_task(get_spec("rm-bench"), str(per_domain))
    by_id = {ex.id: ex for ex in td.examples}
    # integer ids repeat across domains (chat 8, code 8): the domain prefix keeps them apart
    assert sorted(by_id) == ["chat/8", "code/8", "safety-refuse/2952", "safety-response/3155"]
    chat = by_id["chat/8"]
    assert chat.subset == "chat"
    assert chat.labels == {"domain": "chat", "scored_domain": "chat"}
    assert chat.candidates == ("chat right, short", "chat right, in detail", "**chat** right, in markdown",
                               "chat wrong, short", "chat wrong, in detail", "**chat** wrong, in markdown")
    assert chat.preferred == (0, 1, 2) and chat.rejected == (3, 4, 5)
    assert chat.messages == ({"role": "user", "content": "Which drawers do I need?"},)
    assert chat.meta["subset"] == "alpacaeval"
    assert by_id["code/8"].meta == {"subset": "bigcode/humanevalpack", "language": "python", "task_id": "Python/8"}
    assert by_id["safety-refuse/2952"].labels["scored_domain"] == "safety"
    assert by_id["safety-response/3155"].labels == {"domain": "safety-response", "scored_domain": "safety"}
    assert td.notes == {"identical chosen styles": {"count": 1, "ids": ["code/8 (0=1)"]}}
    assert td.provenance["kind"] == "local" and len(td.provenance["files"]) == 4


def test_a_judge_gets_the_full_style_matrix(per_domain):
    ex = next(e for e in load_task(get_spec("rm-bench"), str(per_domain)).examples if e.id == "chat/8")
    pairs = default_pairs(ex)
    assert pairs == [(i, 3 + j) for i in range(3) for j in range(3)]
    cmps = comparisons(ex, pairs, Policy(orders="both"))
    assert len(cmps) == 18 and {(c.first, c.second) for c in cmps} == {p for i, j in pairs for p in ((i, j), (j, i))}


def test_hub_layout_with_string_ids_and_a_domain_column(tmp_path):
    rows = [_row("chat/0", "p0", "a", domain="chat"), _row("math/0", "p1", "b", domain="math"),
            _row("safety-refuse/0", "p2", "c", domain="safety-refuse")]
    td = load_task(get_spec("rm-bench"), str(write_json(tmp_path / "total_dataset.json", rows)))
    assert [(e.id, e.subset, e.labels["scored_domain"]) for e in td.examples] == [
        ("chat/0", "chat", "chat"), ("math/0", "math", "math"), ("safety-refuse/0", "safety-refuse", "safety")]


def test_unknown_domain_is_a_one_line_error(tmp_path):
    write_json(tmp_path / "misc.json", [_row(1, "p", "x")])
    with pytest.raises(UserError, match="misc.json row 0: cannot tell the RM-Bench domain"):
        load_task(get_spec("rm-bench"), str(tmp_path / "misc.json"))


def test_style_lists_must_hold_three_responses(tmp_path):
    row = _row(1, "p", "x")
    row["rejected"] = row["rejected"][:2]
    write_json(tmp_path / "chat.json", [row])
    with pytest.raises(UserError, match="'rejected' must list 3 responses"):
        load_task(get_spec("rm-bench"), str(tmp_path / "chat.json"))


def test_demo_sample_covers_every_domain():
    td = load_task(get_spec("rm-bench"), demo=True)
    assert {e.labels["domain"] for e in td.examples} == {"chat", "math", "code", "safety-refuse", "safety-response"}
    assert td.notes["identical chosen styles"]["count"] == 1


def test_real_files_load_with_their_quirks_counted(shared_data):
    td = load_task(get_spec("rm-bench"), str(shared_data / "rm-bench"))
    counts = {}
    for e in td.examples:
        counts[e.labels["domain"]] = counts.get(e.labels["domain"], 0) + 1
    assert counts == {"chat": 129, "code": 228, "safety-refuse": 284, "safety-response": 157}
    # chat 12 and safety-response 24 rows repeat chosen style 1 as style 2; code 13 repeat style 0 as style 1
    assert td.notes["identical chosen styles"]["count"] == 12 + 13 + 24
    assert td.notes["identical rejected styles"]["count"] == 6 + 11


def test_hub_source_reads_only_the_named_data_file(tmp_path):
    # A local folder stands in for the hub repository (load_dataset treats both alike): the repo
    # holds total_dataset.json beside other JSON, and the task's data_files picks the one to read.
    repo = tmp_path / "RM-Bench"
    repo.mkdir()
    write_json(repo / "total_dataset.json", [_row("chat/0", "p0", "a", domain="chat"),
                                             _row("code/0", "p1", "b", domain="code")])
    write_json(repo / "other.json", [{"unrelated": 1}])
    spec = get_spec("rm-bench")
    assert spec.source.data_files == "total_dataset.json"
    spec = dataclasses.replace(spec, source=dataclasses.replace(spec.source, hub=str(repo)))
    td = load_task(spec)
    assert [e.id for e in td.examples] == ["chat/0", "code/0"]
    assert td.provenance["kind"] == "hub" and td.provenance["data_files"] == "total_dataset.json"
