"""Issue 11's findings, each reproduced as it was found and asserted to end in the correct
result or one line with exit code 2, nothing lost and nothing written outside the run."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from rmbench.errors import UserError
from tests import rb_fixture
from tests.helpers import run_cli, write_json, write_jsonl


def _rows(n: int = 12) -> list[dict]:
    return rb_fixture.many(n)


@pytest.fixture
def data(tmp_path) -> Path:
    return write_json(tmp_path / "rb.json", _rows())


def run(tmp_path, data, *extra, model="baseline/longest", name="r", out="out"):
    return run_cli("run", "--model", model, "--task", "rewardbench", "--data-path", str(data),
                   "--output-dir", str(tmp_path / out), "--run-name", name, "--quiet", *extra)


def ok(res):
    assert res.returncode == 0, res.stderr
    return res


def one_line(res, *needles):
    err = res.stderr.strip()
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    assert "Traceback" not in res.stderr and len(err.splitlines()) == 1, err
    assert err.startswith("rmbench: error: "), err
    for n in needles:
        assert n in err, err
    return err


def tree_hash(root: Path, skip: Path | None = None) -> dict[str, str]:
    """Every file under ``root`` (not following links) with its content hash, except under ``skip``."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        if skip is not None and Path(dirpath).resolve() == skip.resolve():
            dirs[:] = []
            continue
        for f in files:
            p = Path(dirpath) / f
            if p.is_symlink():
                out[str(p)] = "link:" + os.readlink(p)
            else:
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


# 1 -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["records.jsonl", "run.json", "summary.json", ".lock"])
def test_1_a_file_swapped_for_a_link_is_never_followed(tmp_path, data, name):
    ok(run(tmp_path, data))
    run_dir = tmp_path / "out" / "r"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\nno newline at the end")
    (run_dir / name).unlink()
    (run_dir / name).symlink_to(victim)
    res = run(tmp_path, data)
    if name == "summary.json":   # a rerun replaces the summary: it removes the link, never writes through it
        ok(res)
        assert not (run_dir / name).is_symlink()
    else:
        one_line(res, "symbolic link", name)
    assert victim.read_text() == "precious\nno newline at the end"


def test_1_rescore_and_gate_do_not_write_through_links(tmp_path, data):
    ok(run(tmp_path, data))
    run_dir = tmp_path / "out" / "r"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (run_dir / "summary.md").unlink()
    (run_dir / "summary.md").symlink_to(victim)
    ok(run_cli("rescore", str(run_dir)))       # summary.md is replaced (the link itself), not written through
    assert victim.read_text() == "precious" and not (run_dir / "summary.md").is_symlink()
    (run_dir / "gate.md").symlink_to(victim)
    res = run_cli("gate", "--baseline", str(run_dir), "--candidate", str(run_dir))
    assert res.returncode == 0, res.stderr
    assert victim.read_text() == "precious" and not (run_dir / "gate.md").is_symlink()


# 2 -----------------------------------------------------------------------------------------------
def test_2_records_without_run_json_are_never_adopted(tmp_path, data):
    ok(run(tmp_path, data, model="baseline/shortest"))
    (tmp_path / "out" / "r" / "run.json").unlink()
    one_line(run(tmp_path, data, model="baseline/longest"), "no run.json", "--overwrite")


def test_2_records_of_another_configuration_are_detected_when_run_json_is_replaced(tmp_path, data):
    ok(run(tmp_path, data, model="baseline/shortest", name="a"))
    ok(run(tmp_path, data, model="baseline/longest", name="b"))
    a, b = tmp_path / "out" / "a", tmp_path / "out" / "b"
    (a / "run.json").write_bytes((b / "run.json").read_bytes())   # a's records under b's run.json
    one_line(run(tmp_path, data, model="baseline/longest", name="a"), "records.jsonl line 1",
             "another run configuration")
    one_line(run_cli("rescore", str(a)), "was not written by this run")


# 3 -----------------------------------------------------------------------------------------------
def test_3_merge_refuses_a_shard_missing_a_record(tmp_path):
    data = write_json(tmp_path / "rb.json", _rows(20))
    for i in range(2):
        ok(run(tmp_path, data, "--shard", f"{i}/2", name=f"s{i}"))
    shard = tmp_path / "out" / "s1" / "records.jsonl"
    lines = shard.read_text().splitlines(keepends=True)
    shard.write_text("".join(lines[:3] + lines[4:]))            # one record of ten dropped
    one_line(run_cli("merge", "--quiet", str(tmp_path / "out" / "s0"), str(tmp_path / "out" / "s1"),
                     "-o", str(tmp_path / "out" / "m")), "task 'rewardbench' has 9 records", "judged 10")
    assert not (tmp_path / "out" / "m" / "summary.json").exists()


# 4 -----------------------------------------------------------------------------------------------
def _damage_cut(lines):
    return "".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2]


def _damage_dup(lines):
    return "".join(lines + [lines[2]])


def _damage_foreign(lines):
    rec = json.loads(lines[1])
    rec["id"] = "not-in-the-run"
    return "".join(lines[:1] + [json.dumps(rec) + "\n"] + lines[2:])


@pytest.mark.parametrize("damage,needle", [(_damage_cut, "cut short"), (_damage_dup, "appears again"),
                                           (_damage_foreign, "not the run's examples")])
def test_4_rescore_refuses_damaged_records_and_keeps_the_summary(tmp_path, data, damage, needle):
    ok(run(tmp_path, data))
    run_dir = tmp_path / "out" / "r"
    before = (run_dir / "summary.json").read_bytes()
    recs = run_dir / "records.jsonl"
    recs.write_text(damage(recs.read_text().splitlines(keepends=True)))
    one_line(run_cli("rescore", str(run_dir)), needle)
    assert (run_dir / "summary.json").read_bytes() == before


# 5 -----------------------------------------------------------------------------------------------
DEEP = "[" * 100_000 + "]" * 100_000   # deeper than Python's JSON reader can go (RecursionError)


@pytest.mark.parametrize("line", ["{}", "[]", "null", "RESULTLESS", '{"a": ' + DEEP + "}"])
def test_5_a_wrong_shaped_line_is_named_by_readers_and_rejudged_by_run(tmp_path, data, line):
    ok(run(tmp_path, data))
    run_dir = tmp_path / "out" / "r"
    good = (run_dir / "summary.json").read_bytes()
    good_records = (run_dir / "records.jsonl").read_bytes()
    lines = good_records.decode().splitlines(keepends=True)
    if line == "RESULTLESS":
        rec = json.loads(lines[4])
        del rec["result"]
        line = json.dumps(rec)
    damaged = "".join(lines[:4] + [line + "\n"] + lines[5:])         # replaces record 5
    (run_dir / "records.jsonl").write_text(damaged)
    one_line(run_cli("rescore", str(run_dir)), "records.jsonl line 5")
    one_line(run_cli("compare", str(run_dir), str(run_dir)), "records.jsonl line 5")
    res = ok(run(tmp_path, data))                                   # the run re-judges that example
    assert "line 5" in res.stderr and "judged again" in res.stderr
    assert (run_dir / "summary.json").read_bytes() == good
    assert (run_dir / "records.jsonl").read_bytes() == good_records


@pytest.mark.parametrize("name", ["summary.json", "run.json"])
def test_5_a_run_file_nested_too_deeply_is_one_line(tmp_path, data, name):
    ok(run(tmp_path, data))
    run_dir = tmp_path / "out" / "r"
    (run_dir / name).write_text('{"a": ' + DEEP + "}")
    for args in (("show", str(run_dir)), ("leaderboard", str(run_dir)), ("rescore", str(run_dir)),
                 ("gate", "--baseline", str(run_dir), "--candidate", str(run_dir))):
        res = run_cli(*args)
        if res.returncode:
            one_line(res, name)
    one_line(run(tmp_path, data)) if name == "run.json" else ok(run(tmp_path, data))


# 7 -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("tag", ['{% include "x.j2" %}', '{% import "x.j2" as m %}', '{% extends "x.j2" %}',
                                 '{% from "x.j2" import m %}'])
def test_7_loading_tags_in_a_user_template_are_one_line_before_run_json(tmp_path, data, tag):
    tmpl = tmp_path / "mine.j2"
    tmpl.write_text("{#- rmbench\nmode: pairwise\n-#}\n" + tag + "\nWhich is better? {{ response_a }} {{ response_b }}")
    res = run_cli("run", "--model", "openai/x", "--task", "rewardbench", "--data-path", str(data),
                  "--output-dir", str(tmp_path / "out"), "--run-name", "t", "--prompt", str(tmpl),
                  env={"OPENAI_API_KEY": "sk-test"})
    one_line(res, "mine.j2", "cannot load other templates")
    assert not (tmp_path / "out" / "t" / "run.json").exists()


def test_7_a_template_failing_on_real_data_is_one_line_before_run_json(tmp_path, data):
    tmpl = tmp_path / "bad.j2"
    tmpl.write_text("{#- rmbench\nmode: pairwise\n-#}\n{{ response_a | no_such_filter }}")
    res = run_cli("run", "--model", "openai/x", "--task", "rewardbench", "--data-path", str(data),
                  "--output-dir", str(tmp_path / "out"), "--run-name", "t", "--prompt", str(tmpl),
                  env={"OPENAI_API_KEY": "sk-test"})
    one_line(res, "bad.j2")
    assert not (tmp_path / "out" / "t").exists() or not (tmp_path / "out" / "t" / "run.json").exists()


def test_7_a_broken_multi_turn_form_is_one_line_before_run_json_on_single_turn_data(tmp_path, data):
    """Every example here has one user turn; the multi-turn form is still rendered before work."""
    multi = tmp_path / "multi.j2"
    multi.write_text("{#- rmbench\nmode: pairwise\n-#}\n{{ no_such_variable }}")
    tmpl = tmp_path / "single.j2"
    tmpl.write_text(f"{{#- rmbench\nmode: pairwise\nmulti_turn: {multi}\n-#}}\n{{{{ response_a }}}} {{{{ response_b }}}}")
    res = run_cli("run", "--model", "openai/x", "--task", "rewardbench", "--data-path", str(data),
                  "--output-dir", str(tmp_path / "out"), "--run-name", "t", "--prompt", str(tmpl),
                  env={"OPENAI_API_KEY": "sk-test"})
    one_line(res, "multi.j2")
    assert not (tmp_path / "out" / "t" / "run.json").exists()


@pytest.mark.parametrize("tag", ['{% include "x.j2" %}', '{% extends "x.j2" %}'])
def test_7_loading_tags_in_a_leaderboard_template_are_one_line(tmp_path, data, tag):
    ok(run(tmp_path, data))
    tmpl = tmp_path / "board.md.j2"
    tmpl.write_text(tag + "\n{{ table }}")
    one_line(run_cli("leaderboard", str(tmp_path / "out"), "--template", str(tmpl)), "cannot load other templates")
    tmpl.write_text("{{ table | no_such_filter }}")
    one_line(run_cli("leaderboard", str(tmp_path / "out"), "--template", str(tmpl)), "template error")


# 8 -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["json", "jsonl", "parquet"])
def test_8_local_files_leave_nothing_in_the_datasets_cache(tmp_path, kind):
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    rows = _rows()
    if kind == "json":
        data = write_json(tmp_path / "rb.json", rows)
    elif kind == "jsonl":
        data = write_jsonl(tmp_path / "rb.jsonl", rows)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        data = tmp_path / "rb.parquet"
        pq.write_table(pa.Table.from_pylist(rows), data)
    ok(run_cli("run", "--model", "baseline/longest", "--task", "rewardbench", "--data-path", str(data),
               "--output-dir", str(tmp_path / "out"), "--quiet", env={"HF_DATASETS_CACHE": str(cache)}))
    assert not any(cache.rglob("*")), sorted(map(str, cache.rglob("*")))[:5]


# 9 -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("edit,needle", [
    (lambda t: t.__setitem__("score", "high"), "tasks.rewardbench.score"),
    (lambda t: t.__setitem__("ci", "wide"), "tasks.rewardbench.ci"),
    (lambda t: t["sections"]["Chat"].__setitem__("score", float("nan")), "NaN is not a JSON number"),
    # the blocks beside the scores are typed too: a report never trips over one
    (lambda t: t.__setitem__("judging", []), "tasks.rewardbench.judging"),
    (lambda t: t["judging"].__setitem__("failures", {"api_error": "2"}), "tasks.rewardbench.judging.failures"),
    (lambda t: t["protocol"].__setitem__("truncate", 512), "tasks.rewardbench.protocol.truncate"),
    (lambda t: t["diagnostics"]["length_bias"].__setitem__("difference", "big"), "length_bias.difference"),
    (lambda t: t.__setitem__("usage", {"input_tokens": "many"}), "tasks.rewardbench.usage"),
    (lambda t: t.__setitem__("ci_method", {"level": 95}), "tasks.rewardbench.ci_method.level"),
])
def test_9_a_bad_summary_stops_leaderboard_and_gate(tmp_path, data, edit, needle):
    ok(run(tmp_path, data, name="base"))
    ok(run(tmp_path, data, name="cand"))
    cand = tmp_path / "out" / "cand"
    summary = json.loads((cand / "summary.json").read_text())
    edit(summary["tasks"]["rewardbench"])
    (cand / "summary.json").write_text(json.dumps(summary))
    one_line(run_cli("leaderboard", str(tmp_path / "out")), "summary.json", needle)
    one_line(run_cli("gate", "--baseline", str(tmp_path / "out" / "base"), "--candidate", str(cand)),
             "summary.json")


def test_9_an_edited_score_in_a_runs_summary_is_refused_until_rescored(tmp_path, data):
    """A summary.json edited after the run (a plausible number, valid JSON) is no longer shown as
    the run's: run.json keeps the SHA-256 of the summary the run wrote. Rescore recomputes it
    from the records, and then every reader takes it again; a merge records its own."""
    ok(run(tmp_path, data, name="base"))
    ok(run(tmp_path, data, name="cand"))
    cand = tmp_path / "out" / "cand"
    good = json.loads((cand / "summary.json").read_text())
    forged = json.loads(json.dumps(good))
    forged["tasks"]["rewardbench"]["score"] = 0.9
    (cand / "summary.json").write_text(json.dumps(forged, indent=2) + "\n")
    for args in (("leaderboard", str(tmp_path / "out")), ("show", str(cand)),
                 ("gate", "--baseline", str(tmp_path / "out" / "base"), "--candidate", str(cand)),
                 ("compare", str(tmp_path / "out" / "base"), str(cand))):
        one_line(run_cli(*args), "summary.json was changed after the run", "rmbench rescore")
    ok(run_cli("rescore", str(cand)))
    assert json.loads((cand / "summary.json").read_text()) == good
    ok(run_cli("leaderboard", str(tmp_path / "out")))
    ok(run_cli("gate", "--baseline", str(tmp_path / "out" / "base"), "--candidate", str(cand)))
    ok(run(tmp_path, data, "--shard", "0/2", name="s0"))
    ok(run(tmp_path, data, "--shard", "1/2", name="s1"))
    ok(run_cli("merge", str(tmp_path / "out" / "s0"), str(tmp_path / "out" / "s1"), "-o", str(tmp_path / "merged")))
    info = json.loads((tmp_path / "merged" / "run.json").read_text())
    assert info["summary_sha256"] == hashlib.sha256((tmp_path / "merged" / "summary.json").read_bytes()).hexdigest()


def test_9_a_null_gated_metric_is_never_passed(tmp_path, data):
    ok(run(tmp_path, data, name="base"))
    ok(run(tmp_path, data, name="cand"))
    # a bare summary.json (copied out of its run: nothing to check it against but its schema)
    bare = tmp_path / "bare"
    bare.mkdir()
    summary = json.loads((tmp_path / "out" / "cand" / "summary.json").read_text())
    summary["tasks"]["rewardbench"]["score"] = None
    (bare / "summary.json").write_text(json.dumps(summary))
    one_line(run_cli("gate", "--baseline", str(tmp_path / "out" / "base"), "--candidate", str(bare / "summary.json")),
             "rewardbench", "never passes")
    # gating a metric the baseline summary lacks a value for is refused too
    base = tmp_path / "out" / "base" / "summary.json"
    one_line(run_cli("gate", "--baseline", str(bare / "summary.json"), "--candidate", str(base)),
             "no value", "--metric")


def test_9_a_section_missing_from_the_baseline_is_never_left_out_of_a_gate(tmp_path, data):
    """The default metric list comes from the baseline: a baseline summary that lost a section
    (Chat) once made the gate skip it and pass. Now the candidate's extra metric stops it."""
    ok(run(tmp_path, data, name="base"))
    ok(run(tmp_path, data, name="cand"))
    summary = json.loads((tmp_path / "out" / "base" / "summary.json").read_text())
    del summary["tasks"]["rewardbench"]["sections"]["Chat"]
    (tmp_path / "bare").mkdir()
    base = write_json(tmp_path / "bare" / "summary.json", summary)     # a bare copy: only its schema to check
    one_line(run_cli("gate", "--baseline", str(base), "--candidate", str(tmp_path / "out" / "cand" / "summary.json")),
             "rewardbench.Chat", "--metric")
    ok(run_cli("gate", "--baseline", str(base), "--candidate", str(tmp_path / "out" / "cand" / "summary.json"),
               "--metric", "rewardbench"))


def test_9_a_run_directory_without_run_json_is_not_gated_as_a_bare_summary(tmp_path, data):
    """A deleted run.json once turned a paired gate (FAIL, rc 1) into an unpaired one (PASS, rc 0):
    a directory that holds records but no run.json is a damaged run, not a committed summary."""
    ok(run(tmp_path, data, name="base"))
    ok(run(tmp_path, data, name="cand"))
    cand = tmp_path / "out" / "cand"
    (cand / "run.json").unlink()
    for args in (("gate", "--baseline", str(tmp_path / "out" / "base"), "--candidate", str(cand)),
                 ("gate", "--baseline", str(cand), "--candidate", str(tmp_path / "out" / "base")),
                 ("leaderboard", str(cand)), ("show", str(cand))):
        one_line(run_cli(*args), "no run.json", "--overwrite")
    ok(run_cli("gate", "--baseline", str(tmp_path / "out" / "base"), "--candidate", str(cand / "summary.json")))


# 10 ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args,needle", [
    (("--model-args", "="), "no key"),
    (("--model-args", "=v"), "no key"),
    (("--gen", "max_tokens=-5"), "max_tokens"),
    (("--gen", "temperature=1e999"), "temperature"),
    (("--gen", "top_p=nan"), "top_p"),
    (("--gen", "reasoning_effort=ultra"), "reasoning_effort"),
    (("--gen", "seed=-1"), "seed"),
    (("--task-args", "prior_weights=abc"), "prior_weights"),
    (("--task-args", "prior_weights=1+2"), "prior_weights"),
    (("--model-args", "x=inf"), "finite"),
    (("--run-name", "a/b"), "--run-name"),
    (("--run-name", " "), "--run-name"),
    (("--run-name", "a\x1bb"), "--run-name"),
    (("--price", "nan,1"), "--price"),
])
def test_10_malformed_values_are_one_line(tmp_path, data, args, needle):
    res = run_cli("run", "--model", "baseline/longest", "--task", "rewardbench", "--data-path", str(data),
                  "--output-dir", str(tmp_path / "out"), "--quiet", *args)
    one_line(res, needle)
    assert not list((tmp_path / "out").rglob("run.json")) if (tmp_path / "out").exists() else True


def test_10_run_json_is_strict_json(tmp_path, data):
    ok(run(tmp_path, data, "--gen", "temperature=0.5", "--model-args", "batch_size=4"))
    text = (tmp_path / "out" / "r" / "run.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"run.json holds {c}"))


# 11 ----------------------------------------------------------------------------------------------
def _rmb_tree(tmp_path: Path, s1_rows, s2_rows=None) -> Path:
    root = tmp_path / "RMB_dataset"
    d = root / "Pairwise_set" / "Harmlessness"
    d.mkdir(parents=True)
    good = {"pair_uid": "p-ok", "conversation_input": [{"role": "user", "content": "hi", "language": "en"}],
            "chosen": {"llm_name": "a", "answer": "fine"}, "reject": {"llm_name": "b", "answer": "bad"},
            "category_path": "Pairwise_set/Harmlessness/S0"}
    write_json(d / "S0.json", [good, {**good, "pair_uid": "p-ok2"}])
    write_json(d / "S1.json", s1_rows)
    if s2_rows is not None:
        write_json(d / "S2.json", s2_rows)
    return root


def test_11_a_row_error_names_the_file_and_its_row(tmp_path):
    bad = {"pair_uid": "p1", "conversation_input": [{"role": "user", "content": "hi"}],
           "chosen": "not an object", "reject": {"llm_name": "b", "answer": "x"},
           "category_path": "Pairwise_set/Harmlessness/S1"}
    root = _rmb_tree(tmp_path, [bad])
    res = run_cli("run", "--model", "baseline/longest", "--task", "rmb-pairwise", "--data-path", str(root),
                  "--output-dir", str(tmp_path / "out"), "--quiet")
    one_line(res, "Pairwise_set/Harmlessness/S1.json row 0", "chosen")


def test_11_an_empty_file_is_named_and_an_empty_array_called_so(tmp_path):
    root = _rmb_tree(tmp_path, [])
    res = run_cli("run", "--model", "baseline/longest", "--task", "rmb-pairwise", "--data-path", str(root),
                  "--output-dir", str(tmp_path / "out"), "--quiet")
    one_line(res, "Pairwise_set/Harmlessness/S1.json", "empty array")


def test_11_a_loser_list_given_as_an_object_is_rejected(tmp_path):
    root = tmp_path / "RMB_dataset"
    d = root / "BoN_set" / "Harmlessness"
    d.mkdir(parents=True)
    row = {"bon_uid": "b1", "conversation_input": [{"role": "user", "content": "hi"}],
           "bon_best": {"llm_name": "a", "answer": "best"},
           "loser_list": {"llm_name": "b", "answer": "worse"}, "category_path": "BoN_set/Harmlessness/S3"}
    write_json(d / "S3.json", [row])
    res = run_cli("run", "--model", "baseline/longest", "--task", "rmb-bon", "--data-path", str(root),
                  "--output-dir", str(tmp_path / "out"), "--quiet")
    one_line(res, "BoN_set/Harmlessness/S3.json row 0", "loser_list", "must be a list")


# 12 ----------------------------------------------------------------------------------------------
def test_12_ids_are_kept_as_written(tmp_path):
    rows = _rows(4)
    for r, ident in zip(rows, [1, 2, 3.5, 4]):
        r["id"] = ident
    data = write_json(tmp_path / "rb.json", rows)
    ok(run(tmp_path, data))
    ids = [json.loads(x)["id"] for x in (tmp_path / "out" / "r" / "records.jsonl").read_text().splitlines()]
    assert ids == ["1", "2", "3.5", "4"]
    # booleans in their JSON spelling (not Python's True); a list or object is no id
    rows = _rows(2)
    rows[0]["id"], rows[1]["id"] = True, False
    ok(run(tmp_path, write_json(tmp_path / "rb2.json", rows), name="b"))
    ids = [json.loads(x)["id"] for x in (tmp_path / "out" / "b" / "records.jsonl").read_text().splitlines()]
    assert ids == ["true", "false"]
    rows[0]["id"] = {"a": 1}
    one_line(run(tmp_path, write_json(tmp_path / "rb3.json", rows), name="c"), "row 0", "'id' must be a string or a number")


def test_12_the_same_id_in_two_subsets_is_qualified_and_twice_in_one_is_refused(tmp_path):
    """Splits that each count from 0 (the prior sets on the hub, for one): when an id stands in
    two subsets every id becomes SUBSET/ID, noted in the summary; twice in one subset is an error."""
    rows = _rows(12)
    a = rows[0]["subset"]
    b = next(r["subset"] for r in rows if r["subset"] != a)
    rows = rows[:4]
    for r, (subset, ident) in zip(rows, [(a, 0), (a, 1), (b, 0), (b, 1)]):
        r["subset"], r["id"] = subset, ident
    ok(run(tmp_path, write_json(tmp_path / "rb.json", rows)))
    ids = [json.loads(x)["id"] for x in (tmp_path / "out" / "r" / "records.jsonl").read_text().splitlines()]
    assert sorted(ids) == sorted([f"{a}/0", f"{a}/1", f"{b}/0", f"{b}/1"])
    notes = json.loads((tmp_path / "out" / "r" / "run.json").read_text())["data_notes"]["rewardbench"]
    assert notes["ids_qualified_by_subset"]["count"] == 4
    rows[1]["id"] = 0                  # now twice in subset a
    one_line(run(tmp_path, write_json(tmp_path / "rb2.json", rows), name="d"), "duplicate example id")


# task options: recorded, used by rescore and compare -----------------------------------------------
def test_rescore_uses_the_options_the_run_recorded_not_todays_yaml(tmp_path, data, monkeypatch):
    ok(run(tmp_path, data))
    run_dir = tmp_path / "out" / "r"
    before = json.loads((run_dir / "summary.json").read_text())
    info = json.loads((run_dir / "run.json").read_text())
    assert info["tasks"]["rewardbench"]["options"]["sections"]["Reasoning"]["math-prm"] == 984
    # today's YAML says something else about the weights: the old run's number must not move
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    from rmbench.resources import tasks_dir

    for f in tasks_dir().glob("*.yaml"):
        (tasks / f.name).write_text(f.read_text().replace("math-prm: 984", "math-prm: 1"))
    monkeypatch.setattr("rmbench.registry.tasks_dir", lambda: tasks)
    from rmbench.tasks import get_spec

    assert get_spec("rewardbench").options["sections"]["Reasoning"]["math-prm"] == 1  # the patch took
    from rmbench.runner import rescore

    after = rescore(run_dir)
    assert after["tasks"]["rewardbench"]["score"] == before["tasks"]["rewardbench"]["score"]


@pytest.mark.parametrize("damage", ["no matrix", "matrix text", "matrix 1x1", "domain number", "lengths number",
                                    "no scores"])
def test_5_a_record_that_fits_the_schema_but_not_its_scorer(tmp_path, damage):
    """A line of the record schema's shape whose result its scorer cannot read (RM-Bench's style
    matrix removed or mangled, a label of the wrong type): readers name the line, a rerun judges
    that example again and ends with the undamaged summary."""
    from rmbench.resources import demo_dir

    args = ["run", "--model", "baseline/longest", "--task", "rm-bench", "--data-path", str(demo_dir() / "rm-bench.json"),
            "--output-dir", str(tmp_path / "out"), "--run-name", "r", "--quiet"]
    ok(run_cli(*args))
    run_dir = tmp_path / "out" / "r"
    good, good_records = (run_dir / "summary.json").read_bytes(), (run_dir / "records.jsonl").read_bytes()
    lines = good_records.decode().splitlines(keepends=True)
    rec = json.loads(lines[1])
    if damage == "no matrix":
        del rec["result"]["matrix"]
    elif damage == "matrix text":
        rec["result"]["matrix"] = "abc"
    elif damage == "matrix 1x1":
        rec["result"]["matrix"] = [[1.0]]
    elif damage == "domain number":
        rec["labels"]["domain"] = 5
    elif damage == "lengths number":
        rec["lengths"] = 5
    else:
        rec["scores"] = []
    (run_dir / "records.jsonl").write_text("".join([lines[0], json.dumps(rec) + "\n", *lines[2:]]))
    one_line(run_cli("rescore", str(run_dir)), "records.jsonl line 2")
    one_line(run_cli("compare", str(run_dir), str(run_dir)), "records.jsonl line 2")
    assert (run_dir / "summary.json").read_bytes() == good
    ok(run_cli(*args))
    assert (run_dir / "summary.json").read_bytes() == good and (run_dir / "records.jsonl").read_bytes() == good_records


@pytest.mark.parametrize("edit,needle", [
    (lambda r: r.pop("identity_hash"), "identity_hash is missing"),
    (lambda r: r.__setitem__("identity", {}), "identity_hash does not match"),
    (lambda r: r["config"].__setitem__("seed", 5), "config and its identity disagree (seed)"),
    (lambda r: r["config"].__setitem__("price", [-100, -100]), "--price"),
    (lambda r: r["config"].__setitem__("samples", "2"), "samples"),
    (lambda r: r["config"].__setitem__("orders", "zzz"), "--orders"),
    (lambda r: r.__setitem__("data_notes", [1]), "data_notes"),
    (lambda r: r["judge"].__setitem__("task_modes", [1]), "judge.task_modes"),
    (lambda r: r["tasks"]["rewardbench"].__setitem__("protocol", [1]), "tasks.rewardbench.protocol"),
    # the options rescore scores with sit beside the identity, not in it: an edit there changed the
    # rescored number with exit code 0
    (lambda r: r["tasks"]["rewardbench"]["options"]["sections"]["Chat"].__setitem__("alpacaeval-easy", 1),
     "tasks.rewardbench disagrees with the identity"),
    (lambda r: r["tasks"]["rewardbench"]["protocol"].__setitem__("on_failure", "exclude"),
     "tasks.rewardbench disagrees with the identity"),
    (lambda r: r["tasks"]["rewardbench"].__setitem__("version", 99), "tasks.rewardbench disagrees with the identity"),
    (lambda r: r["tasks"].__setitem__("rm-bench", r["tasks"]["rewardbench"]), "tasks disagree with the identity"),
])
def test_4_an_edited_run_json_is_refused(tmp_path, data, edit, needle):
    """run.json is checked in itself (types) and against its identity fingerprint, which every
    record and the summary carry: an edited setting is refused, never used."""
    ok(run(tmp_path, data))
    run_dir = tmp_path / "out" / "r"
    info = json.loads((run_dir / "run.json").read_text())
    edit(info)
    (run_dir / "run.json").write_text(json.dumps(info))
    before = (run_dir / "summary.json").read_bytes()
    one_line(run_cli("rescore", str(run_dir)), needle)
    assert (run_dir / "summary.json").read_bytes() == before


def test_4_records_swapped_in_with_the_fingerprint_removed_are_refused(tmp_path, data):
    ok(run(tmp_path, data, model="baseline/shortest", name="s"))
    ok(run(tmp_path, data, model="baseline/longest", name="l"))
    out = tmp_path / "out"
    (out / "l" / "records.jsonl").write_bytes((out / "s" / "records.jsonl").read_bytes())
    info = json.loads((out / "l" / "run.json").read_text())
    del info["identity_hash"]
    (out / "l" / "run.json").write_text(json.dumps(info))
    one_line(run_cli("rescore", str(out / "l")), "identity_hash")


def test_10_a_task_yaml_edited_between_two_invocations_does_not_mix(tmp_path, data, monkeypatch):
    """The identity holds each task's scoring options: records judged under yesterday's YAML are
    not resumed under today's."""
    ok(run(tmp_path, data))
    info = json.loads((tmp_path / "out" / "r" / "run.json").read_text())
    info["status"] = "interrupted"
    (tmp_path / "out" / "r" / "run.json").write_text(json.dumps(info))
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    from rmbench.resources import tasks_dir

    for f in tasks_dir().glob("*.yaml"):
        (tasks / f.name).write_text(f.read_text().replace("math-prm: 984", "math-prm: 1"))
    monkeypatch.setattr("rmbench.registry.tasks_dir", lambda: tasks)
    one_line(run(tmp_path, data), "different settings", "scoring")


@pytest.mark.parametrize("kw,needle", [({"limit": "5"}, "limit"), ({"samples": "2"}, "samples"),
                                       ({"concurrency": None}, "concurrency"), ({"price": (1,)}, "price"),
                                       ({"shard": (0,)}, "shard"), ({"model_args": "x"}, "model_args"),
                                       ({"gen": {"max_tokens": "5"}}, "max_tokens"),
                                       ({"gen": {"stop": []}}, "stop")])
def test_13_python_api_settings_of_the_wrong_kind_are_user_errors(data, kw, needle):
    import rmbench

    with pytest.raises(rmbench.UserError, match=needle):
        rmbench.evaluate("baseline/longest", ["rewardbench"], data_path=str(data), **kw)


# 5 (files that are not plain files) ---------------------------------------------------------------
def test_a_hard_link_is_never_written_through(tmp_path, data):
    ok(run(tmp_path, data))
    run_dir = tmp_path / "out" / "r"
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes((run_dir / "records.jsonl").read_bytes()[:-20])   # a torn tail to repair
    (run_dir / "records.jsonl").unlink()
    os.link(outside, run_dir / "records.jsonl")
    info = json.loads((run_dir / "run.json").read_text())
    info["status"] = "interrupted"
    (run_dir / "run.json").write_text(json.dumps(info))
    before = outside.read_bytes()
    one_line(run(tmp_path, data), "hard link")
    assert outside.read_bytes() == before


@pytest.mark.parametrize("kind", ["fifo", "directory"])
@pytest.mark.parametrize("name", ["records.jsonl", "run.json", "summary.json"])
def test_a_fifo_or_directory_in_place_of_a_file_is_one_line(tmp_path, data, kind, name):
    ok(run(tmp_path, data))
    run_dir = tmp_path / "out" / "r"
    (run_dir / name).unlink()
    if kind == "fifo":
        os.mkfifo(run_dir / name)
    else:
        (run_dir / name).mkdir()
    for res in (run_cli("rescore", str(run_dir)), run_cli("show", str(run_dir)), run(tmp_path, data)):
        if res.returncode == 0:   # a command that rewrites the file may replace what was there
            continue
        one_line(res)
    one_line(run(tmp_path, data, "--overwrite")) if kind == "directory" else ok(run(tmp_path, data, "--overwrite"))


@pytest.mark.parametrize("kind", ["link", "link to a directory", "fifo", "directory"])
@pytest.mark.parametrize("name", ["records.jsonl", "run.json", ".lock"])
def test_the_advice_of_a_refusal_works(tmp_path, data, kind, name):
    """A refusal that says "start over with --overwrite" is lifted by --overwrite (a link or FIFO is
    removed itself, the lock's too); one that --overwrite cannot lift (a directory: rmbench never
    deletes a folder) does not name it."""
    ok(run(tmp_path, data))
    run_dir = tmp_path / "out" / "r"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (run_dir / name).unlink()
    if kind == "link":
        (run_dir / name).symlink_to(victim)
    elif kind == "link to a directory":
        (tmp_path / "a-folder").mkdir()
        (run_dir / name).symlink_to(tmp_path / "a-folder")
    elif kind == "fifo":
        os.mkfifo(run_dir / name)
    else:
        (run_dir / name).mkdir()
    err = one_line(run(tmp_path, data))
    res = run(tmp_path, data, "--overwrite")
    if kind == "directory":
        assert "--overwrite" not in err and "remove it" in err, err
        assert "--overwrite" not in one_line(res, "directory", "remove it")
    else:
        assert "--overwrite" in err, err
        ok(res)
        assert (run_dir / name).is_file() and not (run_dir / name).is_symlink()
    assert victim.read_text() == "precious"


def test_9_merge_never_replaces_records_without_run_json(tmp_path):
    data = write_json(tmp_path / "rb.json", _rows(10))
    for i in range(2):
        ok(run(tmp_path, data, "--shard", f"{i}/2", name=f"s{i}"))
    victim = tmp_path / "out" / "victim"
    victim.mkdir()
    (victim / "records.jsonl").write_text("precious\n")
    one_line(run_cli("merge", "--quiet", str(tmp_path / "out" / "s0"), str(tmp_path / "out" / "s1"), "-o", str(victim)),
             "holds records but no run.json")
    assert (victim / "records.jsonl").read_text() == "precious\n"


# lesser findings ------------------------------------------------------------------------------
def test_selection_fingerprints_never_collide_and_hidden_run_names_are_refused():
    from rmbench.config import check_run_name
    from rmbench.store.schema import ids_sha256

    assert ids_sha256(["a\x1eb"]) != ids_sha256(["a", "b"]) and ids_sha256([]) != ids_sha256([""])
    for name in (".hidden", ".", ".."):
        with pytest.raises(UserError):
            check_run_name(name)
    assert check_run_name("run.v2") == "run.v2"


def test_a_retry_drops_records_only_after_run_json_says_running(tmp_path, data, monkeypatch):
    """--retry-failed rewrites records.jsonl; a crash at that moment must find run.json already
    'running' and the old summary gone, never a 'complete' run whose summary counts other records."""
    ok(run(tmp_path, data))
    run_dir = tmp_path / "out" / "r"
    from rmbench.store import rundir

    seen = {}

    def spy(self, records):
        seen["status"] = json.loads((self.path / "run.json").read_text())["status"]
        seen["summary"] = (self.path / "summary.json").exists()
        raise KeyboardInterrupt   # the crash
    lines = (run_dir / "records.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["failures"] = {"unparsed": 1}
    (run_dir / "records.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    monkeypatch.setattr(rundir.RunDir, "drop_records", spy)
    run(tmp_path, data, "--retry-failed")
    assert seen == {"status": "running", "summary": False}


def test_ppe_and_rmb_ids_are_spelled_as_every_schema_spells_them(tmp_path):
    """PPE's question_id and RMB's pair/bon uid go through the same id rule as the other schemas:
    a boolean in its JSON spelling, an object refused in one line naming the row."""
    import shutil

    from tests.conftest import REPO

    ppe = json.loads((REPO / "rmbench" / "demo" / "ppe-correctness.json").read_text())
    ppe[0]["question_id"] = True
    res = run_cli("run", "--model", "baseline/longest", "--task", "ppe-correctness", "--data-path",
                  str(write_json(tmp_path / "ppe.json", ppe)), "--output-dir", str(tmp_path / "out"), "--run-name", "p")
    ok(res)
    ids = [json.loads(x)["id"] for x in (tmp_path / "out" / "p" / "records.jsonl").read_text().splitlines()]
    assert any(i.endswith("/true") for i in ids) and not any(i.endswith("/True") for i in ids), ids
    ppe[0]["question_id"] = {"a": [1]}
    one_line(run_cli("run", "--model", "baseline/longest", "--task", "ppe-correctness", "--data-path",
                     str(write_json(tmp_path / "ppe2.json", ppe)), "--output-dir", str(tmp_path / "out"),
                     "--run-name", "p2"), "row 0", "'question_id' must be a string or a number")
    rmb = tmp_path / "rmb"
    shutil.copytree(REPO / "rmbench" / "demo" / "rmb", rmb)
    s1 = rmb / "BoN_set" / "Harmlessness" / "S1.json"
    rows = json.loads(s1.read_text())
    rows[0]["bon_uid"] = {"a": 1}
    s1.write_text(json.dumps(rows))
    one_line(run_cli("run", "--model", "baseline/longest", "--task", "rmb", "--data-path", str(rmb),
                     "--output-dir", str(tmp_path / "out"), "--run-name", "m"), "'bon_uid' must be a string or a number")
