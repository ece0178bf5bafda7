"""The Python API (rmbench.evaluate / evaluate_async and the functions on finished runs): the
same pipeline as the command line, in a plain script, inside a running event loop and in a
Jupyter kernel."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap

import pytest

import rmbench
from rmbench.errors import UserError
from rmbench.judges.base import SCALAR, BaseProvider, GenOutput
from tests.helpers import REPO, run_cli, write_json
from tests.reports.test_merge import _rows


@pytest.fixture
def data(tmp_path):
    return write_json(tmp_path / "rb.json", _rows(16))


def test_evaluate_in_memory_equals_the_cli_run(tmp_path, data):
    res = rmbench.evaluate("baseline/longest", ["rewardbench"], data_path=str(data), seed=3)
    assert res.path is None and res.run is None
    assert not (tmp_path / "results").exists() and not (REPO / "results" / "baseline__longest--rewardbench").exists()
    cli = run_cli("run", "--model", "baseline/longest", "--task", "rewardbench", "--data-path", str(data),
                  "--seed", "3", "--output-dir", str(tmp_path / "out"), "--run-name", "r", "--quiet")
    assert cli.returncode == 0, cli.stderr
    run_dir = tmp_path / "out" / "r"
    assert json.dumps(res.summary, indent=2, ensure_ascii=False) + "\n" == (run_dir / "summary.json").read_text()
    on_disk = [json.loads(x) for x in (run_dir / "records.jsonl").read_text().splitlines()]
    assert res.records == on_disk
    assert res.score() == res.summary["tasks"]["rewardbench"]["score"]


def test_evaluate_into_a_run_directory_resumes_and_feeds_the_other_functions(tmp_path, data):
    a = rmbench.evaluate("baseline/longest", "rewardbench", data_path=str(data), output_dir=tmp_path / "out",
                         run_name="a")
    assert (a.path / "summary.json").is_file() and a.run["status"] == "complete"
    assert a.run["command"] is None          # not the interpreter's argv
    again = rmbench.evaluate("baseline/longest", "rewardbench", data_path=str(data), output_dir=tmp_path / "out",
                             run_name="a")
    assert again.run["stats"]["judged_now"] == 0 and again.summary == a.summary
    b = rmbench.evaluate("baseline/shortest", "rewardbench", data_path=str(data), output_dir=tmp_path / "out",
                         run_name="b")
    assert rmbench.rescore(a.path) == a.summary
    cmp = rmbench.compare(a, b)
    assert cmp["tasks"]["rewardbench"]["shared"] == 16
    assert cmp == rmbench.compare(a.path, b.path)
    gate = rmbench.gate(a.path, b.path, max_drop=100.0)
    assert gate["passed"] and gate["mode"] == "paired bootstrap"
    board = rmbench.leaderboard([a, b.path], format="json")
    assert len(json.loads(board)["rows"]) == 2


def test_to_pandas_has_a_row_per_judgment(data):
    class Judge(BaseProvider):
        """Generative stand-in: always says the first response is better."""

        async def agenerate(self, req):
            return GenOutput(text="Verdict: [[A]]", finish_reason="stop")

    res = rmbench.evaluate(Judge("always-a"), ["rewardbench"], data_path=str(data), no_cache=True)
    df = res.to_pandas()
    assert len(df) == 16 * 2                          # a pair each, both orders
    assert list(df.columns[:4]) == ["task", "subset", "id", "kind"]
    assert set(df["status"]) == {"ok"} and set(df["kind"]) == {"pair"}
    # always A: right when the chosen response was shown first, wrong otherwise
    assert (df["judgment_correct"] == (df["first"] == 0)).all()
    assert (df["correct"] == 0.5).all()               # one order right, one wrong, for every example
    assert df["raw"].eq("Verdict: [[A]]").all()


def test_to_pandas_rows_for_picks_and_preferred_pairs(tmp_path):
    class AlwaysA(BaseProvider):
        async def agenerate(self, req):
            return GenOutput(text="Response A is best.\n[[A]]", finish_reason="stop")

    res = rmbench.evaluate(AlwaysA("always-a"), ["rewardbench2"], demo=True, protocol="official", no_cache=True)
    df = res.to_pandas()
    picks = df[df["kind"] == "pick"]
    assert len(picks) and set(picks["status"]) == {"ok"}
    # the chosen completion (index 0) is preferred: A is right exactly where it was shown first
    assert (picks["judgment_correct"] == picks["order"].map(lambda o: o[0] == 0)).all()
    assert (picks["winner"] == picks["order"].map(lambda o: o[0])).all()
    # a pair of two preferred candidates says nothing about the judgment
    rec = {"task": "t", "subset": "s", "id": "x", "result": {"correct": 1.0}, "preferred": [0, 1],
           "pairs": [{"i": 0, "j": 1, "judgments": [{"first": 0, "second": 1, "status": "ok", "winner": 0}]},
                     {"i": 0, "j": 2, "judgments": [{"first": 2, "second": 0, "status": "ok", "winner": 2}]}]}
    df = rmbench.Result(summary={"tasks": {}}, records=[rec]).to_pandas()
    assert df["judgment_correct"].tolist() == [None, False]


def test_in_memory_examples_and_a_provider_object():
    class Longer(BaseProvider):
        kind = SCALAR
        batched = True

        def score_batch(self, items):
            return [float(len(it.response)) for it in items]

    exs = [rmbench.Example.pair("a", "q?", chosen="long answer", rejected="no"),
           rmbench.Example.pair("b", "q?", chosen="no", rejected="long answer"),
           rmbench.Example(id="c", messages=({"role": "user", "content": "q"},), candidates=("x", "xx", "xxx"),
                           preferred=(2,))]
    res = rmbench.evaluate(Longer("len"), {"mine": exs})
    assert res.summary["model"] == "test_api/len"
    assert res.summary["tasks"]["mine"]["score"] == pytest.approx(2 / 3)
    assert [r["id"] for r in res.records] == ["a", "b", "c"]


@pytest.mark.parametrize("bad,needle", [
    ({"mine": []}, "non-empty list"),
    ({"mine": ["not an example"]}, "not an rmbench.Example"),
    ({"mine": [rmbench.Example(id="x", messages=({"role": "user", "content": "q"},), candidates=("a",),
                               preferred=(0,))]}, "two or more"),
    ({"mine": [rmbench.Example.pair("x", "q", "a", "b"), rmbench.Example.pair("x", "q", "a", "b")]}, "duplicate"),
    # nothing to get right or wrong
    ({"mine": [rmbench.Example(id="x", messages=({"role": "user", "content": "q"},), candidates=("a", "b"),
                               preferred=())]}, "at least one candidate and leave at least one out"),
    ({"mine": [rmbench.Example(id="x", messages=({"role": "user", "content": "q"},), candidates=("a", "b"),
                               preferred=(0, 1))]}, "at least one candidate and leave at least one out"),
    ({"mine": [rmbench.Example.pair("x", "q", "a", "b", subset=3)]}, "subset must be a string"),
    ({"mine": [rmbench.Example.pair("x", "q", "a", "b", labels=["domain"])]}, "labels must be a mapping"),
    ({"mine": [rmbench.Example.pair("x", "q", "a", "b", meta={"when": object()})]}, "meta must hold JSON values"),
    ({"mine": [rmbench.Example.pair("x", "q", "a", "b", meta={"w": float("nan")})]}, "meta must hold JSON values"),
    # a lone surrogate cannot be written as UTF-8 (records, cache keys): refused, not a traceback mid-run
    ({"mine": [rmbench.Example.pair("x", "q\ud800", "a", "b")]}, "not valid Unicode"),
    ({"mine": [rmbench.Example.pair("x", "q", "a\udcff", "b")]}, "not valid Unicode"),
    # a registered task's scoring reads its own rows' labels and layout: never hand-made examples
    ({"rewardbench": [rmbench.Example.pair("x", "q", "a", "b")]}, "registered task .* data_path="),
])
def test_bad_in_memory_examples_are_one_line_errors(bad, needle):
    with pytest.raises(UserError, match=needle) as err:
        rmbench.evaluate("baseline/longest", bad)
    assert "\n" not in str(err.value)


def test_in_memory_examples_take_no_task_args_and_meta_is_part_of_the_data():
    exs = [rmbench.Example.pair("a", "q?", chosen="long answer", rejected="no", meta={"src": 1})]
    with pytest.raises(UserError, match="task_args apply to registered tasks"):
        rmbench.evaluate("baseline/longest", {"mine": exs}, task_args={"subsets": ["x"]})
    a = rmbench.evaluate("baseline/longest", {"mine": exs}).summary["run_identity"]
    b = rmbench.evaluate("baseline/longest", {"mine": [rmbench.Example.pair("a", "q?", chosen="long answer",
                                                                           rejected="no", meta={"src": 2})]})
    assert a != b.summary["run_identity"]


def test_unknown_settings_and_tasks_are_user_errors():
    with pytest.raises(UserError, match="unknown setting"):
        rmbench.evaluate("baseline/longest", ["rewardbench"], temprature=0)
    with pytest.raises(UserError, match="unknown task 'rewardbnech'.*did you mean 'rewardbench'"):
        rmbench.evaluate("baseline/longest", ["rewardbnech"])
    with pytest.raises(UserError, match="model must be"):
        rmbench.evaluate(42, ["rewardbench"])


def test_evaluate_async_inside_a_running_loop_and_evaluate_refuses_there(data):
    async def main():
        with pytest.raises(UserError, match="evaluate_async"):
            rmbench.evaluate("baseline/longest", ["rewardbench"], data_path=str(data))
        return await rmbench.evaluate_async("baseline/longest", ["rewardbench"], data_path=str(data))

    res = asyncio.run(main())
    assert res.summary == rmbench.evaluate("baseline/longest", ["rewardbench"], data_path=str(data)).summary


SNIPPET = """
import asyncio, json, sys
import rmbench
data = sys.argv[1]
res = rmbench.evaluate(model="baseline/longest", tasks=["rewardbench"], data_path=data, limit=8, prompt=None,
                       gen={{}}, output_dir=None)
res.summary["tasks"]["rewardbench"]["score"]; res.records; res.path; res.to_pandas()
async def main():
    return await rmbench.evaluate_async(model="baseline/longest", tasks=["rewardbench"], data_path=data, limit=8)
res2 = asyncio.run(main())
assert res2.summary == res.summary
print(json.dumps(res.summary, sort_keys=True))
"""


def test_the_issue_snippet_runs_as_a_script(tmp_path, data):
    script = tmp_path / "snippet.py"
    script.write_text(SNIPPET.format())
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, str(script), str(data)], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=120)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["tasks"]["rewardbench"]["n"] == 8
    assert not (tmp_path / "results").exists()


def test_in_a_jupyter_kernel(tmp_path, data):
    nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (pip install 'rmbench[dev]')")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (pip install 'rmbench[dev]')")
    pytest.importorskip("ipykernel", reason="ipykernel is not installed (pip install 'rmbench[dev]')")
    cells = [
        f"import sys; sys.path.insert(0, {str(REPO)!r})\nimport rmbench\ndata = {str(data)!r}",
        textwrap.dedent("""
            try:
                rmbench.evaluate("baseline/longest", ["rewardbench"], data_path=data)
            except rmbench.UserError as e:
                refused = str(e)
            assert "evaluate_async" in refused
        """),
        # the kernel runs an event loop: top-level await
        "res = await rmbench.evaluate_async('baseline/longest', ['rewardbench'], data_path=data)\n"
        "print(round(res.summary['tasks']['rewardbench']['score'], 6))",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    out = nb.cells[2].outputs
    printed = "".join(o.get("text", "") for o in out if o.get("output_type") == "stream" and o.get("name") == "stdout")
    assert any("judging" in o.get("text", "") for o in out if o.get("name") == "stderr")   # tqdm.auto progress
    expected = rmbench.evaluate("baseline/longest", ["rewardbench"], data_path=str(data)).summary
    assert float(printed.strip().splitlines()[-1]) == round(expected["tasks"]["rewardbench"]["score"], 6)


def test_failed_and_finished_runs_release_the_cache(tmp_path, data, monkeypatch):
    """A notebook that retries after a bad row, or evaluates every checkpoint, must not pile up
    open cache files: the judge is released when prepare fails and when a run ends."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    bad = write_json(tmp_path / "bad.json", [{"prompt": "q", "chosen": 1, "rejected": "b", "subset": "s", "id": 0}])

    def open_files() -> int:
        return len(os.listdir("/proc/self/fd"))

    rmbench.evaluate("baseline/longest", ["rewardbench"], data_path=str(data))   # warm up imports
    before = open_files()
    for _ in range(5):
        with pytest.raises(UserError, match="row 0"):
            rmbench.evaluate("openai/x", ["rewardbench"], data_path=str(bad), cache=str(tmp_path / "c.sqlite"))

    class Judge(BaseProvider):
        async def agenerate(self, req):
            return GenOutput(text="[[A]]", finish_reason="stop")

    for _ in range(3):
        rmbench.evaluate(Judge("a"), ["rewardbench"], data_path=str(data), cache=str(tmp_path / "c.sqlite"))
    assert open_files() <= before + 1


def test_two_provider_classes_with_one_name_never_share_answers(data, tmp_path):
    """A provider object of the user's own is named by its class in full, and is not cached at
    all unless it says what determines its answers (cache_identity)."""
    class SaysA(BaseProvider):
        async def agenerate(self, req):
            return GenOutput(text="[[A]]", finish_reason="stop")

    class SaysB(BaseProvider):
        async def agenerate(self, req):
            return GenOutput(text="[[B]]", finish_reason="stop")

    cache = str(tmp_path / "c.sqlite")
    a = rmbench.evaluate(SaysA("judge"), ["rewardbench"], data_path=str(data), cache=cache)
    b = rmbench.evaluate(SaysB("judge"), ["rewardbench"], data_path=str(data), cache=cache)
    assert {j["raw"] for r in b.records for p in r["pairs"] for j in p["judgments"]} == {"[[B]]"}
    assert a.summary["judge"]["provider"] != b.summary["judge"]["provider"]

    class Cached(SaysA):
        def cache_identity(self):
            return {"provider": "mine", "model": self.name, "checkpoint": 7}

    calls = []

    class Counting(Cached):
        async def agenerate(self, req):
            calls.append(1)
            return await super().agenerate(req)

    rmbench.evaluate(Counting("judge"), ["rewardbench"], data_path=str(data), cache=cache)
    n = len(calls)
    rmbench.evaluate(Counting("judge"), ["rewardbench"], data_path=str(data), cache=cache)
    assert n == 2 * 16 and len(calls) == n          # the second run is served from the cache


def test_a_provider_built_with_other_settings_is_refused(data):
    from rmbench.config import RunConfig
    from rmbench.judges.providers import baseline

    p = baseline.Provider("random", RunConfig(model="baseline/random", tasks=["rewardbench"], seed=0))
    with pytest.raises(UserError, match="seed: 0 vs 1"):
        rmbench.evaluate(p, ["rewardbench"], data_path=str(data), seed=1)
    for seed in (0, 1):   # built with the run's settings: the same numbers as the model named by a string
        own = baseline.Provider("random", RunConfig(model="baseline/random", tasks=["rewardbench"], seed=seed))
        got = rmbench.evaluate(own, ["rewardbench"], data_path=str(data), seed=seed).summary["tasks"]["rewardbench"]
        want = rmbench.evaluate("baseline/random", ["rewardbench"], data_path=str(data), seed=seed).summary
        assert got["score"] == want["tasks"]["rewardbench"]["score"]


@pytest.mark.parametrize("what, value, why", [("cache_identity", "openai/x", "not str"), ("describe", ["x"], "not list"),
                                              ("cache_identity", {1: "x"}, "a key that is no string"),
                                              ("cache_identity", {"x": {1, 2}}, "JSON cannot hold it"),
                                              ("describe", {"t": float("nan")}, "JSON cannot hold it")])
def test_a_provider_whose_identity_is_no_dict_is_a_user_error(data, what, value, why):
    from rmbench.config import RunConfig
    from rmbench.judges.providers import baseline

    class Odd(baseline.Provider):
        pass

    setattr(Odd, what, lambda self: value)
    p = Odd("random", RunConfig(model="baseline/random", tasks=["rewardbench"], seed=0))
    with pytest.raises(UserError, match=f"Odd.{what}\\(\\) must return a dict with string keys.*{why}"):
        rmbench.evaluate(p, ["rewardbench"], data_path=str(data))
    from rmbench.judges import Judge

    judge = Judge(p, RunConfig(model="baseline/random", tasks=["rewardbench"]), None)
    with pytest.raises(UserError, match=f"Odd.{what}\\(\\) must return a dict"):   # a Judge around it too
        rmbench.evaluate(judge, ["rewardbench"], data_path=str(data))
