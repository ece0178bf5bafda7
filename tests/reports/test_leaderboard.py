"""The leaderboard command: every cell of every format for a fixture of runs, settings labels,
hostile names, sorting, templates and bad input."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re

import pytest

from rmbench.reports.formats import markdown_table, render
from rmbench.reports.layouts import build_leaderboard
from rmbench.reports.leaderboard import build_board, find_runs
from tests.helpers import run_cli
from tests.reports.runs import DATA, summary_run, task

HOSTILE = "evil|<b>x</b>\n`rm -rf`\x1b[31m"


@pytest.fixture
def results(tmp_path):
    root = tmp_path / "results"
    summary_run(root, "a-rb", "org/model-a",
                {"rewardbench": task(0.8123, [0.7923, 0.8323], 2985, Chat=(0.9, [0.85, 0.95], 358),
                                     Chat_Hard=(0.6, [0.55, 0.66], 456))})
    summary_run(root, "a-rmbench", "org/model-a", {"rm-bench": task(0.7, [0.68, 0.72], 1327)})
    summary_run(root, "b-rb", "org/model-b",
                {"rewardbench": task(0.855, [0.84, 0.87], 2985, Chat=(0.95, [0.93, 0.97], 358),
                                     Chat_Hard=(0.5, None, 456))})
    summary_run(root, "c-rb", HOSTILE, {"rewardbench": task(0.5, [0.45, 0.55], 10, Chat=(None, None, 0))})
    (root / "incomplete").mkdir()
    (root / "incomplete" / "run.json").write_text("{}")
    return root


def table_rows(md: str, k: int = 0) -> list[list[str]]:
    """The k-th markdown table of a text: its header and body rows, without the |---| rule."""
    tables: list[list[str]] = []
    last = False
    for ln in md.splitlines():
        if ln.startswith("|") and not last:
            tables.append([])
        if ln.startswith("|"):
            tables[-1].append(ln)
        last = ln.startswith("|")
    rows = [[c.strip() for c in re.split(r"(?<!\\)\|", ln)[1:-1]] for ln in tables[k]]
    return [rows[0]] + rows[2:]


def test_markdown_tables_cell_by_cell(results):
    res = run_cli("leaderboard", str(results))
    assert res.returncode == 0, res.stderr
    assert "skipping" in res.stderr and "incomplete" in res.stderr
    assert res.stdout.startswith("## Leaderboard")
    hostile = "evil\\|&lt;b&gt;x&lt;/b&gt; \\`rm -rf\\`"
    # the overview: each task's score (no mean: only RewardBench is in every row)
    assert table_rows(res.stdout, 0) == [
        ["model", "RewardBench", "RM-Bench"],
        ["org/model-b", "**85.5** ± 1.5", "—"],
        ["org/model-a", "81.2 ± 2.0", "70.0 ± 2.0"],
        [hostile, "50.0 ± 5.0", "—"],
    ]
    assert "No mean: fewer than two tasks have a score in every row." in res.stdout
    # RewardBench in its own layout; the best value of each column in bold
    assert table_rows(res.stdout, 1) == [
        ["model", "Score", "Chat", "Chat Hard", "Safety", "Reasoning"],
        ["org/model-b", "**85.5** ± 1.5", "**95.0** ± 2.0", "50.0", "—", "—"],
        ["org/model-a", "81.2 ± 2.0", "90.0 ± 5.0", "**60.0** ± 5.5", "—", "—"],
        [hostile, "50.0 ± 5.0", "—", "—", "—", "—"],
    ]
    assert "No run here reports Safety, Reasoning." in res.stdout
    assert table_rows(res.stdout, 2) == [
        ["model", "Chat", "Math", "Code", "Safety", "Easy", "Normal", "Hard", "Avg"],
        ["org/model-a", "—", "—", "—", "—", "—", "—", "—", "70.0 ± 2.0"],  # one row: nothing is best
    ]
    assert "### RewardBench (rewardbench)" in res.stdout and "### RM-Bench (rm-bench)" in res.stdout


def test_ci_styles_and_sorting(results):
    lb = build_leaderboard(find_runs([str(results)], warn=lambda m: None))
    lb.sort("rewardbench: chat hard")
    rb = lb.tables[0]
    assert [r.model for r in rb.rows] == ["org/model-a", "org/model-b", HOSTILE]
    md = render(lb, "md", ci="bounds")
    assert table_rows(md, 1)[1] == ["org/model-a", "81.2 [79.2, 83.2]", "90.0 [85.0, 95.0]", "**60.0** [55.0, 66.0]",
                                    "—", "—"]
    assert table_rows(render(lb.sort("rm-bench"), "md", ci="none"), 0)[1] == ["org/model-a", "81.2", "70.0"]
    assert [r.model for r in lb.sort("model").tables[0].rows] == [HOSTILE, "org/model-a", "org/model-b"]
    assert [r.model for r in lb.sort("rewardbench.Chat").tables[0].rows][0] == "org/model-b"
    assert [r.model for r in lb.sort("REWARDBENCH.chat_hard").tables[0].rows][0] == "org/model-a"
    # the board with every task and section as a column sorts the same way
    board = build_board(find_runs([str(results)], warn=lambda m: None))
    assert [r.model for r in board.sort("rewardbench: chat hard").rows] == ["org/model-a", "org/model-b", HOSTILE]


def test_csv_json_latex_cells(results):
    lb = build_leaderboard(find_runs([str(results)], warn=lambda m: None)).sort()
    rows = list(csv.reader(io.StringIO(render(lb, "csv"))))  # several tasks: every task and section
    assert rows[0][:7] == ["label", "model", "settings", "rewardbench", "rewardbench ci_lo", "rewardbench ci_hi",
                           "rewardbench n"]
    assert rows[1][:7] == ["org/model-b", "org/model-b", "", "0.855", "0.84", "0.87", "2985"]
    assert rows[2][3:] == ["0.8123", "0.7923", "0.8323", "2985", "0.9", "0.85", "0.95", "358", "0.6", "0.55", "0.66",
                           "456", "0.7", "0.68", "0.72", "1327"]
    # control codes and line breaks dropped (csv quotes the rest); a section without a score is empty
    assert rows[3][0] == "evil|<b>x</b> `rm -rf`" and rows[3][7:] == ["", "", "", "0"] + [""] * 8
    one = list(csv.reader(io.StringIO(render(build_leaderboard(find_runs([str(results)], warn=lambda m: None),
                                                                ["rewardbench"]).sort(), "csv"))))
    assert one[0][3::4] == ["Score", "Chat", "Chat Hard", "Safety", "Reasoning"]  # one task: its layout
    data = json.loads(render(lb, "json"))
    a = data["rows"][1]
    assert a["label"] == "org/model-a" and a["cells"]["rm-bench"] == {"score": 0.7, "ci": [0.68, 0.72], "n": 1327}
    assert sorted(r["name"] for r in a["details"]["runs"]) == ["a-rb", "a-rmbench"]
    assert [c["header"] for c in data["overview"]["columns"]] == ["RewardBench", "RM-Bench"]
    assert [t["task"] for t in data["tables"]] == ["rewardbench", "rm-bench"]
    assert data["tables"][0]["rows"][0]["cells"]["Chat"] == {"score": 0.95, "ci": [0.93, 0.97], "n": 358}
    tex = render(lb, "latex")
    assert r"org/model-a & 81.2\,{\scriptsize $\pm$2.0} & \underline{90.0}\,{\scriptsize $\pm$5.0} & " \
           r"\textbf{60.0}\,{\scriptsize $\pm$5.5} & -- & -- \\" in tex
    assert (r"evil\textbar{}\textless{}b\textgreater{}x\textless{}/b\textgreater{} `rm -rf` & "
            r"50.0\,{\scriptsize $\pm$5.0} & -- & -- & -- & -- \\") in tex


def test_csv_formula_cells_are_neutralised(tmp_path):
    summary_run(tmp_path, "r", "=HYPERLINK(\"http://x\")", {"t": task(0.5, None, 4)})
    rows = list(csv.reader(io.StringIO(render(build_leaderboard(find_runs([str(tmp_path)])), "csv"))))
    assert rows[1][0].startswith("'=HYPERLINK")


def test_runs_with_different_settings_get_labelled_rows(tmp_path):
    rb = {"rewardbench": task(0.8, [0.78, 0.82], 100)}
    summary_run(tmp_path, "1-default", "m/x", rb)
    summary_run(tmp_path, "2-rubric", "m/x", {"rewardbench": task(0.7, None, 100)}, prompt="rubric")
    summary_run(tmp_path, "3-limit", "m/x", {"rewardbench": task(0.6, None, 100)}, limit=100, seed=3)
    summary_run(tmp_path, "4-other-data", "m/x", {"rewardbench": task(0.5, None, 100)},
                data={**DATA, "files": {"rb.json": "bb" * 32}})
    summary_run(tmp_path, "5-copy", "m/x", {"rewardbench": task(0.4, None, 100)})
    summary_run(tmp_path, "6-same-path-other-dir", "m/y", rb, data={**DATA, "path": "/elsewhere/rb.json"})
    summary_run(tmp_path, "7-y", "m/y", {"other": task(0.3, None, 5)})
    board = build_board(find_runs([str(tmp_path)])).sort()

    def h(data):  # the data hash: file hashes and kind, not the path
        return hashlib.sha256(json.dumps({k: v for k, v in data.items() if k != "path"}, sort_keys=True)
                              .encode()).hexdigest()[:8]

    h1, h2 = h(DATA), h({**DATA, "files": {"rb.json": "bb" * 32}})
    assert [r.label for r in board.rows] == [
        f"m/x [data={h1}, run=1-default]", "m/y", "m/x [prompt=rubric]", "m/x [limit=100, seed=3]",
        f"m/x [data={h2}]", f"m/x [data={h1}, run=5-copy]"]
    by_label = {r.label: r for r in board.rows}
    assert by_label["m/x [prompt=rubric]"].cells["rewardbench"].value == 0.7
    assert by_label["m/x [limit=100, seed=3]"].cells["rewardbench"].value == 0.6
    # the same data in another directory is the same data: one m/y row covering both tasks
    assert by_label["m/y"].cells["other"].value == 0.3 and by_label["m/y"].cells["rewardbench"].value == 0.8
    # identical settings and data: told apart by run directory, never merged
    assert by_label[f"m/x [data={h2}]"].cells["rewardbench"].value == 0.5
    assert by_label[f"m/x [data={h1}, run=5-copy]"].cells["rewardbench"].value == 0.4


def test_markdown_table_of_runs(results):
    runs = find_runs([str(results)], warn=lambda m: None)
    table = markdown_table(runs)
    assert table_rows(table, 0)[1][0] == "org/model-b" and table_rows(table, 1)[0][1] == "Score"


def test_custom_template_is_sandboxed_and_sees_the_board(results, tmp_path):
    tpl = tmp_path / "mine.md.j2"
    tpl.write_text("{% for r in rows %}{{ r.label | md }}={{ r.text['rewardbench'] }};{% endfor %}"
                   "{% for b in boards %}[{{ b.title }}: {{ b.headers | join('/') }}]{% endfor %}\n")
    res = run_cli("leaderboard", str(results), "--template", str(tpl))
    assert res.returncode == 0, res.stderr
    # (jinja's trim_blocks eats the newline after the last tag)
    assert res.stdout == ("org/model-b=85.5 ± 1.5;org/model-a=81.2 ± 2.0;evil\\|&lt;b&gt;x&lt;/b&gt; \\`rm -rf\\`=50.0 ± 5.0;"
                          "[Overview: RewardBench/RM-Bench][RewardBench: Score/Chat/Chat Hard/Safety/Reasoning]"
                          "[RM-Bench: Chat/Math/Code/Safety/Easy/Normal/Hard/Avg]")
    evil = tmp_path / "evil.j2"
    evil.write_text("{{ rows.__class__.__mro__[1].__subclasses__() }}")
    res = run_cli("leaderboard", str(results), "--template", str(evil))
    assert res.returncode == 2 and "template error" in res.stderr and "Traceback" not in res.stderr
    html_tpl = tmp_path / "page.html.j2"
    html_tpl.write_text("{% for r in rows %}<li>{{ r.label }}</li>{% endfor %}")
    res = run_cli("leaderboard", str(results), "--template", str(html_tpl))
    assert "<li>evil|&lt;b&gt;x&lt;/b&gt;" in res.stdout


def test_output_file_and_format_from_extension(results, tmp_path):
    out = tmp_path / "board.csv"
    res = run_cli("leaderboard", str(results / "a-rb"), str(results / "b-rb" / "summary.json"), "-o", str(out))
    assert res.returncode == 0, res.stderr
    rows = list(csv.reader(out.open()))
    assert [r[0] for r in rows[1:]] == ["org/model-b", "org/model-a"]


@pytest.mark.parametrize("argv,message", [
    (["/nonexistent/dir"], "no such run directory"),
    (["{empty}"], "no finished runs"),
    (["{results}", "--sort", "nope"], "no column 'nope'"),
    (["{results}", "--template", "/nonexistent.j2"], "cannot read it"),
    (["{bad}"], "not an rmbench summary"),
])
def test_bad_input_is_one_line_and_exit_2(results, tmp_path, argv, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.json").write_text("[1, 2]")
    argv = [a.format(results=results, empty=tmp_path / "empty", bad=tmp_path / "bad.json") for a in argv]
    res = run_cli("leaderboard", *argv)
    errors = [ln for ln in res.stderr.splitlines() if not ln.startswith("rmbench: skipping")]
    assert res.returncode == 2 and len(errors) == 1 and errors[0].startswith("rmbench: error:") and message in errors[0]


def test_secret_looking_settings_never_reach_the_output(tmp_path):
    summary_run(tmp_path, "a", "m/x", {"t": task(0.5, None, 4)}, model_args={"api_key": "sk-SECRET", "dtype": "bf16"},
                gen={"max_tokens": 512})
    summary_run(tmp_path, "b", "m/x", {"t": task(0.6, None, 4)}, model_args={"auth_token": "tok-SECRET"})
    lb = build_leaderboard(find_runs([str(tmp_path)])).sort()
    for fmt in ("md", "text", "csv", "json", "html", "latex"):
        assert "SECRET" not in render(lb, fmt), fmt
    assert "max_tokens" in lb.tables[0].rows[1].label and "512" in lb.tables[0].rows[1].label


def test_same_run_name_in_two_results_folders(tmp_path):
    for folder in ("old", "new"):
        summary_run(tmp_path / folder, "demo--x", "m/x", {"t": task(0.5 if folder == "old" else 0.6, None, 4)})
    labels = sorted(r.label for r in build_board(find_runs([str(tmp_path)])).rows)
    assert labels == ["m/x [run=new/demo--x]", "m/x [run=old/demo--x]"]


def test_real_runs_of_one_model_on_different_tasks_share_a_row(tmp_path):
    """Each run records the options of its own tasks; those tell rows apart only where both ran
    the task, so one model's runs on two tasks make one row with the model's plain name, and a
    run of the same task with other task options gets a row named by the option."""
    from tests.conftest import REPO

    demo = REPO / "rmbench" / "demo"
    out = tmp_path / "results"
    for name, task_name, extra in (("rb", "rewardbench", []), ("rmb", "rm-bench", []),
                                   ("rb-w", "rewardbench", ["--task-args", "prior_weights=1+1+1+1+1"])):
        r = run_cli("run", "--model", "baseline/longest", "--task", task_name, "--data-path",
                    str(demo / f"{task_name}.json"), "--output-dir", str(out), "--run-name", name, *extra)
        assert r.returncode == 0, r.stderr
    lb = build_leaderboard([*find_runs([out])])
    labels = sorted(r.label for r in lb.rows)
    assert labels[0] == "baseline/longest", labels
    assert len(labels) == 2 and "prior_weights" in labels[1], labels
    plain = next(r for r in lb.rows if r.label == "baseline/longest")
    assert set(plain.tasks) == {"rewardbench", "rm-bench"}


def test_rows_alike_but_for_a_tasks_recorded_options_are_named_by_them(tmp_path):
    """Two runs with the same flags whose task options differ (the task YAML was edited between
    them, as run.json records) get rows named by the option, not by the run directory."""
    from tests.conftest import REPO

    out = tmp_path / "results"
    for name in ("old", "new"):
        r = run_cli("run", "--model", "baseline/longest", "--task", "rewardbench", "--data-path",
                    str(REPO / "rmbench" / "demo" / "rewardbench.json"), "--output-dir", str(out), "--run-name", name)
        assert r.returncode == 0, r.stderr
    runs = sorted(find_runs([out]), key=lambda r: r["path"])       # new, old
    runs[0]["run"]["identity"]["scoring"]["rewardbench"]["options"]["prior_weights"] = [1, 1, 1, 1, 1]
    labels = sorted(r.label for r in build_leaderboard(runs).rows)
    assert labels == ["baseline/longest [scoring.rewardbench.options.prior_weights=[1, 1, 1, 1, 1]]",
                      "baseline/longest [scoring.rewardbench.options.prior_weights=[2, 2, 2, 2, 1]]"], labels


def test_task_args_and_a_tasks_own_template_do_not_split_one_models_row(tmp_path):
    """--task-args of one task (ppe-correctness's k) and the template a generative judge uses for
    one task only (RewardBench 2's best-of-n) are recorded per task; a run of another task without
    them still shares the model's row, and rows that differ in --task-args are named by them."""
    from tests.conftest import REPO

    demo = REPO / "rmbench" / "demo"
    out = tmp_path / "results"
    for name, task_name, extra in (("rb", "rewardbench", []), ("ppe", "ppe-correctness", ["--task-args", "k=2"]),
                                   ("ppe3", "ppe-correctness", ["--task-args", "k=3"]), ("rb2", "rewardbench2", [])):
        r = run_cli("run", "--model", "baseline/longest", "--task", task_name, "--data-path",
                    str(demo / f"{task_name}.json"), "--output-dir", str(out), "--run-name", name, *extra)
        assert r.returncode == 0, r.stderr
    runs = find_runs([out])
    rb2 = next(r for r in runs if r["path"].endswith("rb2"))
    rb2["run"]["identity"]["judge"].update(task_templates={"rewardbench2": {"listwise": {"template": "best-of-n"}}},
                                           task_modes={"rewardbench2": "listwise"})
    one = build_leaderboard([r for r in runs if not r["path"].endswith("ppe3")]).rows
    assert [r.label for r in one] == ["baseline/longest"]
    assert set(one[0].tasks) == {"rewardbench", "ppe-correctness", "rewardbench2"}
    labels = sorted(r.label for r in build_leaderboard(runs).rows)
    assert labels == ["baseline/longest [task_args.k=2]", "baseline/longest [task_args.k=3]"], labels


def test_shard_runs_are_labelled_as_shard_takes_them(tmp_path):
    from tests.conftest import REPO

    out = tmp_path / "results"
    for i in range(2):
        r = run_cli("run", "--model", "baseline/random", "--task", "rewardbench", "--data-path",
                    str(REPO / "rmbench" / "demo" / "rewardbench.json"), "--output-dir", str(out),
                    "--run-name", f"s{i}", "--shard", f"{i}/2")
        assert r.returncode == 0, r.stderr
    labels = sorted(r.label for r in build_leaderboard([*find_runs([out])]).rows)
    assert labels == ["baseline/random [shard=0/2]", "baseline/random [shard=1/2]"], labels


@pytest.mark.parametrize("edit, field", [
    (lambda i: i.__setitem__("scoring", ["x"]), "identity.scoring"),
    (lambda i: i["judge"].__setitem__("task_templates", ["x"]), "identity.judge.task_templates"),
    (lambda i: i.__setitem__("data", "x"), "identity.data"),
])
def test_a_run_json_whose_identity_parts_have_the_wrong_shape_is_one_line(tmp_path, edit, field):
    """Parts of the identity the leaderboard takes apart (a task's options, its own template, its
    data) are checked for shape whether or not run.json lists its tasks (an older run.json)."""
    from tests.conftest import REPO

    out = tmp_path / "results"
    r = run_cli("run", "--model", "baseline/longest", "--task", "rewardbench", "--data-path",
                str(REPO / "rmbench" / "demo" / "rewardbench.json"), "--output-dir", str(out), "--run-name", "r")
    assert r.returncode == 0, r.stderr
    path = out / "r" / "run.json"
    info = json.loads(path.read_text())
    info.pop("tasks")
    edit(info["identity"])
    path.write_text(json.dumps(info))
    res = run_cli("leaderboard", str(out))
    assert res.returncode == 2, (res.returncode, res.stderr)
    line = res.stderr.strip()
    assert "\n" not in line and "run.json" in line and field in line, line
