"""`rmbench run` end to end with baseline judges: files, determinism, resume, show, demo."""

from __future__ import annotations

import json

from tests import rb_fixture
from tests.helpers import run_cli, write_json, write_jsonl


def _run(tmp_path, *extra, name="r", model="baseline/longest", data=None):
    data = data or write_json(tmp_path / "rb.json", rb_fixture.rows())
    return run_cli("run", "--model", model, "--task", "rewardbench", "--data-path", str(data),
                   "--output-dir", str(tmp_path / "out"), "--run-name", name, "--quiet", *extra)


def test_same_seed_gives_byte_identical_outputs(tmp_path):
    for name in ("a", "b"):
        res = _run(tmp_path, "--seed", "7", name=name, model="baseline/random")
        assert res.returncode == 0, res.stderr
    a, b = tmp_path / "out" / "a", tmp_path / "out" / "b"
    assert (a / "summary.json").read_bytes() == (b / "summary.json").read_bytes()
    assert (a / "records.jsonl").read_bytes() == (b / "records.jsonl").read_bytes()
    res = _run(tmp_path, "--seed", "8", name="c", model="baseline/random")
    assert res.returncode == 0
    assert (tmp_path / "out" / "c" / "records.jsonl").read_bytes() != (a / "records.jsonl").read_bytes()


def test_jsonl_and_parquet_read_through_the_same_path(tmp_path):
    import pandas as pd

    rows = rb_fixture.rows()
    jl = write_jsonl(tmp_path / "rb.jsonl", rows)
    pq = tmp_path / "rb.parquet"
    pd.DataFrame(rows).to_parquet(pq)
    scores = []
    for name, path in (("jl", jl), ("pq", pq)):
        res = _run(tmp_path, name=name, data=path)
        assert res.returncode == 0, res.stderr
        scores.append(json.loads((tmp_path / "out" / name / "summary.json").read_text())["tasks"]["rewardbench"]["score"])
    assert scores[0] == scores[1]


def test_jsonl_lines_end_at_newlines_only(tmp_path):
    """JSON allows U+2028, U+2029, U+0085 and the separators \\x1c-\\x1e unescaped in strings;
    a JSONL file holding them raw is read as written (Python's str.splitlines would cut the line
    there), and its records and scores equal those of the same rows in a JSON array."""
    rows = rb_fixture.rows()
    odd = "\u2028\u2029\x85\x1c\x1d\x1e"
    for k, r in enumerate(rows):
        r["prompt"] = f"{r['prompt']}{odd[k % len(odd)]}tail"
    jl = write_jsonl(tmp_path / "rb.jsonl", rows)
    assert odd[0] in jl.read_text(encoding="utf-8")                 # written raw, not escaped
    arr = write_json(tmp_path / "rb.json", rows)
    got = {}
    for name, path in (("jl", jl), ("arr", arr)):
        res = _run(tmp_path, name=name, data=path)
        assert res.returncode == 0, res.stderr
        got[name] = json.loads((tmp_path / "out" / name / "summary.json").read_text())["tasks"]["rewardbench"]
    assert got["jl"]["n"] == got["arr"]["n"] == len(rows) and got["jl"]["score"] == got["arr"]["score"]


def test_rerun_resumes_and_keeps_results(tmp_path):
    assert _run(tmp_path).returncode == 0
    run_dir = tmp_path / "out" / "r"
    first = (run_dir / "summary.json").read_bytes()
    # drop the last two records, as if the run had been killed, then rerun the same command
    lines = (run_dir / "records.jsonl").read_text().splitlines(keepends=True)
    (run_dir / "records.jsonl").write_text("".join(lines[:-2]) + lines[-2][:15])  # torn tail
    (run_dir / "summary.json").unlink()
    res = _run(tmp_path)
    assert res.returncode == 0, res.stderr
    assert (run_dir / "summary.json").read_bytes() == first
    run = json.loads((run_dir / "run.json").read_text())
    assert run["resumed_records"] == len(lines) - 2
    assert run["stats"]["judged_now"] == 2


def test_changed_settings_refuse_to_mix_with_an_existing_run(tmp_path):
    assert _run(tmp_path).returncode == 0
    res = _run(tmp_path, "--seed", "3")
    assert res.returncode == 2
    assert "different settings" in res.stderr and "seed" in res.stderr
    assert _run(tmp_path, "--seed", "3", "--overwrite").returncode == 0


def test_limit_keeps_evenly_spaced_examples(tmp_path):
    res = _run(tmp_path, "--limit", "4")
    assert res.returncode == 0, res.stderr
    recs = (tmp_path / "out" / "r" / "records.jsonl").read_text().splitlines()
    assert [json.loads(r)["id"] for r in recs] == ["0", "3", "6", "9"]


def test_show_prints_markdown(tmp_path):
    assert _run(tmp_path).returncode == 0
    res = run_cli("show", str(tmp_path / "out" / "r"))
    assert res.returncode == 0
    assert res.stdout.startswith("# rmbench results: baseline/longest")
    assert "| **Reasoning** |" in res.stdout


def test_demo_runs_offline_and_prints_a_leaderboard(tmp_path):
    res = run_cli("demo", "--output-dir", str(tmp_path / "demo"))
    assert res.returncode == 0, res.stderr
    assert "Overview\n========" in res.stdout and "baseline/longest" in res.stdout and "baseline/random" in res.stdout
    assert (tmp_path / "demo" / "demo--baseline__longest" / "summary.json").is_file()


def test_tasks_lists_every_task_yaml():
    from rmbench.registry import task_files

    res = run_cli("tasks")
    assert res.returncode == 0
    for name in task_files():
        assert f"| {name} " in res.stdout


def test_rescore_reproduces_the_summary_including_data_notes(tmp_path):
    rows = rb_fixture.rows()
    rows.append({**rows[0], "id": 999, "chosen": None})  # skipped and counted in the data notes
    data = write_json(tmp_path / "rb.json", rows)
    assert _run(tmp_path, data=data).returncode == 0
    run_dir = tmp_path / "out" / "r"
    before = (run_dir / "summary.json").read_bytes()
    assert json.loads(before)["tasks"]["rewardbench"]["data_notes"]
    res = run_cli("rescore", str(run_dir))
    assert res.returncode == 0, res.stderr
    assert (run_dir / "summary.json").read_bytes() == before


def test_speed_only_model_args_do_not_block_resume():
    from rmbench.config import RunConfig

    a = RunConfig(model="hf/x", tasks=["rewardbench"], model_args={"batch_size": 8, "dtype": "float32"})
    b = RunConfig(model="hf/x", tasks=["rewardbench"], model_args={"batch_size": 1, "dtype": "float32"})
    c = RunConfig(model="hf/x", tasks=["rewardbench"], model_args={"batch_size": 1, "dtype": "bfloat16"})
    assert a.identity() == b.identity() != c.identity()


def test_unknown_subsets_are_reported_not_fatal(tmp_path):
    from rmbench.resources import demo_dir

    rows = json.loads((demo_dir() / "rewardbench2.json").read_text())
    rows[0]["subset"] = "Other"
    data = write_json(tmp_path / "rb2.json", rows)
    res = run_cli("run", "--model", "baseline/longest", "--task", "rewardbench2", "--data-path", str(data),
                  "--output-dir", str(tmp_path / "out"), "--run-name", "u")
    assert res.returncode == 0, res.stderr
    assert "Unscored subsets" in res.stdout and "Other" in res.stdout
