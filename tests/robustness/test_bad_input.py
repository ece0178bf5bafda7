"""A corpus of bad input, generated: missing and extra columns, wrong types, nulls, empty and
200,000-character strings, message lists with odd roles, invalid JSON lines, bytes that are
not UTF-8, unknown subsets, and folders of mixed files.

The promise checked for each: the loader either yields well-formed examples or raises a
``UserError``; the CLI either scores exactly what a hand computation gives or prints one line
and exits 2, with no summary.json. Never a traceback, never exit 1."""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rmbench.cli.main import main as cli_main
from rmbench.errors import UserError
from rmbench.tasks import get_spec, load_task
from rmbench.tasks.schemas._common import ROLES
from tests.hypothesis_profiles import examples
from tests.robustness.util import assert_one_line_error, cli, rb_rows, run_args, write_json

SPEC = get_spec("rewardbench")
KNOWN_SUBSETS = sorted({s for w in SPEC.options["sections"].values() for s in w})
HUGE = "long " * 40_000  # 200,000 characters

short_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=24)
texts = st.one_of(short_text, st.sampled_from(["", " ", "\n\t", "é😀\u200b", "a\x00b", "{{ 7*7 }}", "[[A]]", "| x |"]))
rare_huge = st.one_of(texts, texts, texts, st.just(HUGE))
messages = st.lists(st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "system", "human", "gpt", "wizard", "USER"]),
     "content": st.one_of(texts, st.none())}), max_size=3)
anything = st.one_of(texts, st.none(), st.integers(-3, 2**70), st.floats(allow_nan=True, allow_infinity=True),
                     st.booleans(), st.lists(st.integers(0, 3), max_size=2), messages,
                     st.dictionaries(short_text, st.integers(0, 3), max_size=2))
subsets = st.one_of(st.sampled_from(KNOWN_SUBSETS + ["not-a-subset", "a|b", "<b>x</b>"]), anything)
col_names = st.one_of(st.sampled_from(["extra", "chosen_model", "notes", "Prompt", ""]), short_text)

good_messages = st.lists(st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "system", "human", "gpt"]), "content": texts}), min_size=1, max_size=3)
good_row = st.fixed_dictionaries(
    {"prompt": st.one_of(texts, good_messages), "chosen": rare_huge, "rejected": rare_huge},
    optional={"subset": st.sampled_from(KNOWN_SUBSETS + ["not-a-subset", "a|b", "<b>x</b>"]),
              "id": st.sampled_from(["index", "index", "dup", None]), "chosen_model": texts},
).flatmap(lambda r: st.dictionaries(col_names, anything, max_size=2).map(lambda extra: {**extra, **r}))


@st.composite
def bad_row(draw):
    """A good row with one or two faults: a column dropped, or set to a value of any type."""
    r = dict(draw(good_row))
    for _ in range(draw(st.integers(1, 2))):
        key = draw(st.sampled_from(["prompt", "chosen", "rejected", "subset", "id"]))
        if draw(st.booleans()):
            r.pop(key, None)
        else:
            r[key] = draw(subsets if key == "subset" else anything)
    return r


def _with_ids(rs: list[dict]) -> list[dict]:
    out = []
    for i, r in enumerate(rs):
        r = dict(r)
        if r.get("id") == "index":
            r["id"] = i
        elif r.get("id") == "dup":
            r["id"] = 0
        out.append(r)
    return out


rows = st.lists(st.one_of(good_row, good_row, good_row, bad_row()), min_size=0, max_size=6).map(_with_ids)
corruptions = st.sampled_from([None, None, "invalid_line", "non_utf8", "blank_lines", "bom", "truncated"])


def write_file(folder: Path, data: list[dict], fmt: str, corruption: str | None) -> Path:
    path = folder / f"data.{fmt}"
    if fmt == "json":
        blob = json.dumps(data, ensure_ascii=False, allow_nan=True).encode("utf-8")
    else:
        blob = b"".join(json.dumps(r, ensure_ascii=False, allow_nan=True).encode("utf-8") + b"\n" for r in data)
    if corruption == "invalid_line":
        blob = blob + b"{not json\n" if fmt == "jsonl" else blob[:-1] + b",{not json]"
    elif corruption == "non_utf8":
        blob = blob.replace(b'"', b'"\xff\xfe', 1) if b'"' in blob else blob + b"\xff"
    elif corruption == "blank_lines" and fmt == "jsonl":
        blob = b"\n\n" + blob.replace(b"\n", b"\n  \n")
    elif corruption == "bom":
        blob = b"\xef\xbb\xbf" + blob
    elif corruption == "truncated":
        blob = blob[: len(blob) * 2 // 3]
    path.write_bytes(blob)
    return path


def is_plain_row(r: dict) -> bool:
    return all(isinstance(r.get(k), str) for k in ("prompt", "chosen", "rejected"))


@settings(max_examples=examples(50), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=rows, fmt=st.sampled_from(["json", "jsonl"]), corruption=corruptions)
def test_loader_yields_valid_examples_or_one_user_error(data, fmt, corruption):
    with tempfile.TemporaryDirectory() as d:
        path = write_file(Path(d), data, fmt, corruption)
        try:
            td = load_task(SPEC, str(path))
        except UserError as e:
            assert str(e).strip()
            event(f"user error: {str(e).split(':')[0][:40]}")
            return
    event("loaded")
    ids = [ex.id for ex in td.examples]
    assert len(ids) == len(set(ids))
    for ex in td.examples:
        assert len(ex.candidates) == 2 and all(isinstance(c, str) for c in ex.candidates)
        assert isinstance(ex.subset, str) and ex.subset
        assert ex.messages and all(m["role"] in ROLES and isinstance(m["content"], str) for m in ex.messages)
    if corruption is None and data and all(is_plain_row(r) for r in data):
        # text is carried through the file and `datasets` unchanged, byte for byte
        assert [ex.candidates for ex in td.examples] == [(r["chosen"], r["rejected"]) for r in data]
        assert [ex.prompt for ex in td.examples] == [r["prompt"] for r in data]


def _cli_in_process(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli_main(argv)
    return code, err.getvalue()


def expected_summary(examples) -> dict:
    """baseline/longest by hand: correct iff chosen is strictly longer; per-subset means,
    sections weighted by the official counts, the score the mean of the sections present."""
    by_subset: dict[str, list[float]] = {}
    for ex in examples:
        by_subset.setdefault(ex.subset, []).append(1.0 if len(ex.candidates[0]) > len(ex.candidates[1]) else 0.0)
    acc = {s: sum(v) / len(v) for s, v in by_subset.items()}
    sections = {}
    for name, weights in SPEC.options["sections"].items():
        present = {s: w for s, w in weights.items() if s in acc}
        if present:
            sections[name] = sum(acc[s] * w for s, w in present.items()) / sum(present.values())
    score = sum(sections.values()) / len(sections) if sections else None
    unknown = sorted(s for s in acc if s not in KNOWN_SUBSETS)
    return {"acc": acc, "sections": sections, "score": score, "unknown": unknown}


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=rows, fmt=st.sampled_from(["json", "jsonl"]), corruption=st.sampled_from([None, None, None, "non_utf8"]))
def test_cli_scores_exactly_or_fails_with_one_line(data, fmt, corruption):
    with tempfile.TemporaryDirectory() as d:
        path = write_file(Path(d), data, fmt, corruption)
        out = Path(d) / "out"
        code, err = _cli_in_process(run_args("baseline/longest", path, out, "r"))
        event(f"exit {code}")
        if code != 0:
            assert code == 2, err
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("rmbench: error: "), err
            assert not (out / "r" / "summary.json").exists()
            with pytest.raises(UserError):  # the same input, in-process, is the same user error
                load_task(SPEC, str(path))
            return
        examples = load_task(SPEC, str(path)).examples
        summary = json.loads((out / "r" / "summary.json").read_text(encoding="utf-8"))["tasks"]["rewardbench"]
        records = [json.loads(x) for x in (out / "r" / "records.jsonl").read_text(encoding="utf-8").split("\n") if x]
    want = expected_summary(examples)
    assert summary["n"] == len(examples) == len(records)
    for ex, rec in zip(examples, records):
        assert rec["id"] == ex.id and rec["subset"] == ex.subset
        assert rec["result"]["correct"] == (1.0 if len(ex.candidates[0]) > len(ex.candidates[1]) else 0.0)
    for name, value in want["sections"].items():
        assert summary["sections"][name]["score"] == pytest.approx(value)
    assert set(summary["sections"]) == set(want["sections"])
    assert summary["score"] == pytest.approx(want["score"]) if want["score"] is not None else summary["score"] is None
    assert sorted(summary.get("unscored_subsets", {})) == want["unknown"]


# -- a few cases through the real command line ---------------------------------------------------

def test_cli_non_utf8_bytes(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"prompt":"p","chosen":"a\xff\xfe","rejected":"b","subset":"math-prm","id":1}\n')
    assert_one_line_error(cli(*run_args("baseline/longest", bad, tmp_path / "out", "r")), "bad.jsonl", "UTF-8")
    assert not (tmp_path / "out" / "r").exists()


def test_cli_lone_surrogate_escape(tmp_path):
    """JSON may escape a lone surrogate ("\\ud800"): it is not text, and once crashed a run with a
    cached judge mid-way (UnicodeEncodeError hashing the prompt)."""
    rows = rb_rows(2)
    rows[1]["chosen"] += "\ud800"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(rows))     # ASCII, the surrogate escaped
    assert_one_line_error(cli(*run_args("baseline/longest", bad, tmp_path / "out", "r")), "bad.json", "row 1",
                          "not valid Unicode")
    assert not (tmp_path / "out" / "r").exists()
    pair = json.dumps(rb_rows(1)[0]).replace('"id": 0', '"id": 5').replace('"rejected": "', '"rejected": "\\ud83d\\ude00')
    ok = tmp_path / "ok.jsonl"
    ok.write_text(pair + "\n")          # an escaped surrogate pair is one character: read as written
    assert cli(*run_args("baseline/longest", ok, tmp_path / "out", "s")).returncode == 0


def test_cli_invalid_json_line(tmp_path):
    good = json.dumps(rb_rows(1)[0])
    bad = tmp_path / "bad.jsonl"
    bad.write_text(good + "\n{\"prompt\": \"half\n" + good.replace('"id": 0', '"id": 1') + "\n")
    assert_one_line_error(cli(*run_args("baseline/longest", bad, tmp_path / "out", "r")), "could not read bad.jsonl")


def test_cli_column_name_with_escape_codes_stays_one_clean_line(tmp_path):
    bad = write_json(tmp_path / "bad.json", [{"prompt": "p", "chosen": "a", "\x1b[2J\x1b[31mevil\nname": "x"}])
    err = assert_one_line_error(cli(*run_args("baseline/longest", bad, tmp_path / "out", "r")), "missing column 'rejected'")
    assert "\x1b" not in err and "evil name" in err


def test_folder_of_mixed_files(tmp_path):
    """A folder mixing JSON and parquet is refused; one mixing .json, .jsonl and unrelated files
    (README, CSV, hidden editor files) reads every JSON file, recursively, and nothing else."""
    import pandas as pd

    rows = rb_rows(12)
    mixed = tmp_path / "mixed"
    (mixed / "sub").mkdir(parents=True)
    write_json(mixed / "a.json", rows[:5])
    (mixed / "sub" / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[5:]))
    (mixed / "README.md").write_text("# notes\n")
    (mixed / "scores.csv").write_text("a,b\n1,2\n")
    (mixed / ".~lock.a.json#").write_text("lock")
    code, err = _cli_in_process(run_args("baseline/longest", mixed, tmp_path / "out", "mixed"))
    assert code == 0, err
    summary = json.loads((tmp_path / "out" / "mixed" / "summary.json").read_text())
    assert summary["tasks"]["rewardbench"]["n"] == 12
    from tests import rb_fixture

    assert summary["tasks"]["rewardbench"]["score"] == pytest.approx(rb_fixture.SCORE)

    pd.DataFrame(rows[:3]).to_parquet(mixed / "c.parquet")
    res = cli(*run_args("baseline/longest", mixed, tmp_path / "out", "mixed2"))
    assert_one_line_error(res, "mixes parquet and JSON")

    empty = tmp_path / "nothing"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    code, err = _cli_in_process(run_args("baseline/longest", empty, tmp_path / "out", "e"))
    assert code == 2 and "no .json, .jsonl or .parquet files" in err


def test_unknown_subsets_are_listed_not_scored(tmp_path):
    rows = rb_rows(12)
    for r in rows[:4]:
        r["subset"] = "my-own-subset"
    code, err = _cli_in_process(run_args("baseline/longest", write_json(tmp_path / "d.json", rows), tmp_path / "o", "r"))
    assert code == 0, err
    t = json.loads((tmp_path / "o" / "r" / "summary.json").read_text())["tasks"]["rewardbench"]
    assert t["unscored_subsets"]["my-own-subset"]["n"] == 4
    assert sum(s["n"] for s in t["sections"].values()) == 8

    for r in rows:
        r["subset"] = "nothing-known"
    code, err = _cli_in_process(run_args("baseline/longest", write_json(tmp_path / "d2.json", rows), tmp_path / "o", "r2"))
    assert code == 0, err
    t = json.loads((tmp_path / "o" / "r2" / "summary.json").read_text())["tasks"]["rewardbench"]
    assert t["score"] is None and t["sections"] == {} and "sections missing" in t["notes"][0]
    md = (tmp_path / "o" / "r2" / "summary.md").read_text()
    assert "Score: —" in md and "sections missing" in md


def test_column_type_change_between_blocks_does_not_kill_the_process(tmp_path):
    """pyarrow's JSON reader (25.x, 26.x) segfaults when a column changes type (int, then bool)
    between two blocks of one read; datasets' default block is 320 KiB, so this 0.8 MB file
    (found by the property test above) used to die with SIGSEGV and no message at all."""
    rows = rb_rows(4)
    for r in rows:
        r["chosen"] = HUGE
    rows[-1]["id"] = True
    data = tmp_path / "big.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = cli(*run_args("baseline/longest", data, tmp_path / "out", "r"))
    assert res.returncode in (0, 2), (res.returncode, res.stderr[-2000:])
    if res.returncode == 2:
        assert_one_line_error(res)
    else:
        assert json.loads((tmp_path / "out" / "r" / "summary.json").read_text())["tasks"]["rewardbench"]["n"] == 4


# -- every schema: the embedded demo rows, mutated ---------------------------------------------

def _demo_files(task: str) -> list[tuple[str, list]]:
    """(path relative to the demo root, rows) for each file of a task's demo sample."""
    from rmbench.resources import demo_dir
    from rmbench.tasks.sources import local_files

    spec = get_spec(task)
    root = demo_dir() / spec.demo
    base = root if root.is_dir() else root.parent
    return [(str(f.relative_to(base)), json.loads(f.read_text(encoding="utf-8"))) for f in local_files(root)]


def _demo_tasks() -> list[str]:
    from rmbench.tasks.spec import all_specs

    return [s.name for s in all_specs() if s.demo]


@st.composite
def mutated(draw, value):
    """``value`` with one fault somewhere inside it: a key dropped, a value replaced, a list
    emptied or an element swapped, a string made huge or empty."""
    if isinstance(value, dict) and value and draw(st.integers(0, 3)):
        key = draw(st.sampled_from(sorted(value)))
        out = dict(value)
        choice = draw(st.integers(0, 2))
        if choice == 0:
            del out[key]
        elif choice == 1:
            out[key] = draw(anything)
        else:
            out[key] = draw(mutated(value[key]))
        return out
    if isinstance(value, list) and value and draw(st.integers(0, 3)):
        choice = draw(st.integers(0, 2))
        if choice == 0:
            return []
        k = draw(st.integers(0, len(value) - 1))
        out = list(value)
        out[k] = draw(mutated(value[k])) if choice == 1 else draw(anything)
        return out
    if isinstance(value, str):
        return draw(st.sampled_from([HUGE, "", value + "\x00", None, 0]))
    return draw(anything)


@pytest.mark.parametrize("task", _demo_tasks())
@settings(max_examples=examples(20), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_every_schema_survives_mutated_demo_rows(task, data):
    spec = get_spec(task)
    files = _demo_files(task)
    with tempfile.TemporaryDirectory() as d:
        root = Path(d) / "data"
        for rel, rows in files:
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if rows and data.draw(st.booleans(), label=f"mutate {rel}"):
                k = data.draw(st.integers(0, len(rows) - 1), label="row")
                rows = rows[:k] + [data.draw(mutated(rows[k]), label="mutated row")] + rows[k + 1:]
            target.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
        path = root if len(files) > 1 or (get_spec(task).demo or "").find(".") < 0 else root / files[0][0]
        try:
            td = load_task(spec, str(path))
        except UserError as e:
            assert str(e).strip()
            event(f"{task}: user error")
            return
    event(f"{task}: loaded")
    ids = [ex.id for ex in td.examples]
    assert len(ids) == len(set(ids))
    for ex in td.examples:
        assert len(ex.candidates) >= 2 and all(isinstance(c, str) for c in ex.candidates)
        assert ex.preferred and all(0 <= i < len(ex.candidates) for i in ex.preferred)
        assert ex.messages and all(isinstance(m["content"], str) for m in ex.messages)
