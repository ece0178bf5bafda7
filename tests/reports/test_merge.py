"""``rmbench merge``: shard runs combine into a run whose summary.json is byte-identical to
the unsharded run's, and every inconsistent set of shards is refused with one clear line."""

from __future__ import annotations

import json

import pytest

from tests import rb_fixture
from tests.helpers import run_cli, write_json


def _rows(n=23):
    return rb_fixture.many(n)


@pytest.fixture
def data(tmp_path):
    return write_json(tmp_path / "rb.json", _rows())


def _run(tmp_path, data, *extra, model="baseline/random"):
    res = run_cli("run", "--model", model, "--task", "rewardbench", "--data-path", str(data), "--output-dir",
                  str(tmp_path / "out"), "--quiet", "--seed", "11", *extra)
    assert res.returncode == 0, res.stderr
    return res


def _merge(*args):
    return run_cli("merge", "--quiet", *map(str, args))


def _one_line_error(res, *needles):
    assert res.returncode == 2, (res.returncode, res.stderr)
    err = res.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("rmbench: error: ")
    for n in needles:
        assert n in err, err


def test_merged_shards_equal_the_unsharded_run_byte_for_byte(tmp_path, data):
    out = tmp_path / "out"
    _run(tmp_path, data)
    for i in range(4):
        _run(tmp_path, data, "--shard", f"{i}/4")
    whole = out / "baseline__random--rewardbench"
    shards = [out / f"baseline__random--rewardbench--shard{i}of4" for i in range(4)]  # default names differ per shard
    assert all((s / "summary.json").exists() for s in shards)
    res = _merge(*reversed(shards), "-o", out / "merged")  # the order given does not matter
    assert res.returncode == 0, res.stderr
    merged = out / "merged"
    assert (merged / "summary.json").read_bytes() == (whole / "summary.json").read_bytes()
    assert (merged / "records.jsonl").read_bytes() == (whole / "records.jsonl").read_bytes()
    run = json.loads((merged / "run.json").read_text())
    assert [s["shard"] for s in run["merged"]["shards"]] == [[i, 4] for i in range(4)]
    assert [s["records"] for s in run["merged"]["shards"]] == [6, 6, 6, 5]
    assert run["config"]["shard"] is None and run["status"] == "complete"
    assert run["identity"] == json.loads((whole / "run.json").read_text())["identity"]
    assert run["stats"]["examples"] == 23
    # `rmbench show`-style reading and rescoring work on the merged run like on any other
    assert run_cli("rescore", str(merged)).returncode == 0


def test_limit_and_default_output_name(tmp_path, data):
    out = tmp_path / "out"
    _run(tmp_path, data, "--limit", "10", "--run-name", "whole")
    for i in range(3):
        _run(tmp_path, data, "--limit", "10", "--shard", f"{i}/3")
    res = _merge(*(out / f"baseline__random--rewardbench--shard{i}of3" for i in range(3)))
    assert res.returncode == 0, res.stderr
    merged = out / "baseline__random--rewardbench"  # the shards' name without the suffix
    assert (merged / "summary.json").read_bytes() == (out / "whole" / "summary.json").read_bytes()
    assert json.loads((merged / "summary.json").read_text())["tasks"]["rewardbench"]["n"] == 10
    # merging again replaces the earlier merge; a run judged there is never replaced
    assert _merge(*(out / f"baseline__random--rewardbench--shard{i}of3" for i in range(3))).returncode == 0
    _one_line_error(_merge(*(out / f"baseline__random--rewardbench--shard{i}of3" for i in range(3)),
                           "-o", out / "whole"), "already holds a run")


def test_refuses_inconsistent_shards(tmp_path, data):
    out = tmp_path / "out"
    for i in range(3):
        _run(tmp_path, data, "--shard", f"{i}/3", "--run-name", f"s{i}")
    _run(tmp_path, data, "--shard", "0/3", "--run-name", "s0-again")
    _run(tmp_path, data, "--shard", "2/3", "--seed", "12", "--run-name", "s2-seed12")
    _run(tmp_path, data, "--shard", "1/2", "--run-name", "half")
    _run(tmp_path, data, "--run-name", "whole")
    s = [out / f"s{i}" for i in range(3)]
    _one_line_error(_merge(s[0], s[1], "-o", out / "m"), "missing shard 2/3", "have 0/3, 1/3")
    _one_line_error(_merge(s[0], s[1], s[2], out / "s0-again", "-o", out / "m"), "shard 0/3 is given twice")
    _one_line_error(_merge(s[0], s[1], out / "s2-seed12", "-o", out / "m"), "differ in seed",
                    "only the shard may differ")
    _one_line_error(_merge(s[0], out / "half", "-o", out / "m"), "different job arrays")
    _one_line_error(_merge(s[0], out / "whole", "-o", out / "m"), "not a shard run")
    _one_line_error(_merge(s[0], s[0], "-o", out / "m"), "is given twice")
    _one_line_error(_merge(s[0], s[1], s[2], "-o", s[1]), "is one of the shard runs")
    _one_line_error(_merge(tmp_path / "nothing-here"), "not a run directory")
    run = json.loads((s[2] / "run.json").read_text())
    run["status"] = "interrupted"
    (s[2] / "run.json").write_text(json.dumps(run))
    _one_line_error(_merge(*s, "-o", out / "m"), "not complete")
    run["status"] = "complete"
    (s[2] / "run.json").write_text(json.dumps(run))
    lines = (s[2] / "records.jsonl").read_text().splitlines(keepends=True)
    (s[2] / "records.jsonl").write_text("".join(lines[:-1]))
    _one_line_error(_merge(*s, "-o", out / "m"), "task 'rewardbench' has 6 records", "judged 7")
    assert not (out / "m").exists()


@pytest.mark.slow
def test_hf_scalar_shards_merge_to_the_unsharded_summary(tmp_path, tmp_path_factory, data):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tests.judges.tiny_models import tiny_models_at

    rm = tiny_models_at(tmp_path_factory.getbasetemp() / "tiny-models")["rm"]
    out = tmp_path / "out"
    _run(tmp_path, data, "--run-name", "whole", model=f"hf/{rm}")
    for i in range(2):
        _run(tmp_path, data, "--shard", f"{i}/2", "--run-name", f"s{i}", "--model-args", "batch_size=3",
             model=f"hf/{rm}")
    res = _merge(out / "s1", out / "s0", "-o", out / "merged")
    assert res.returncode == 0, res.stderr
    assert (out / "merged" / "summary.json").read_bytes() == (out / "whole" / "summary.json").read_bytes()
    whole = [json.loads(x) for x in (out / "whole" / "records.jsonl").read_text().splitlines()]
    merged = [json.loads(x) for x in (out / "merged" / "records.jsonl").read_text().splitlines()]
    assert [r["id"] for r in merged] == [r["id"] for r in whole]
    for a, b in zip(whole, merged, strict=True):
        for sa, sb in zip(a["scores"], b["scores"], strict=True):
            assert abs(sa[0]["value"] - sb[0]["value"]) <= 1e-5


def test_a_merged_api_run_keeps_its_cost_block(fake_api, tmp_path, data):
    """merge builds the summary through the runner's own summarize, with the run's recorded
    settings: a priced API run merged from shards equals the unsharded one, cost block included."""
    def api_run(*extra):
        res = run_cli("run", "--model", "openai/fake-judge", "--base-url", fake_api.openai_base_url, "--task",
                      "rewardbench", "--data-path", str(data), "--output-dir", str(tmp_path / "out"), "--quiet",
                      "--price", "3,15", "--cache", str(tmp_path / "c.sqlite"), *extra)
        assert res.returncode == 0, res.stderr

    api_run("--run-name", "whole")
    for i in range(2):
        api_run("--shard", f"{i}/2", "--run-name", f"s{i}")
    out = tmp_path / "out"
    assert _merge(out / "s0", out / "s1", "-o", out / "m").returncode == 0
    whole = json.loads((out / "whole" / "summary.json").read_text())
    assert whole["cost"]["usd"] > 0
    assert (out / "m" / "summary.json").read_bytes() == (out / "whole" / "summary.json").read_bytes()
    assert json.loads((out / "m" / "run.json").read_text())["cost_usd"] == whole["cost"]["usd"]
