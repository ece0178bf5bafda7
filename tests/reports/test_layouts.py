"""Per-benchmark leaderboard layouts: each benchmark's table has exactly its published columns, in
order, holding the runs' own numbers; the overview; tasks without a layout; the task YAML's
``leaderboard:`` block and its validation; --task and --sort."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rmbench.errors import UserError
from rmbench.reports.formats import render
from rmbench.reports.layouts import build_leaderboard
from rmbench.reports.leaderboard import find_runs
from rmbench.tasks.spec import all_specs, parse_spec
from tests.helpers import run_cli
from tests.reports.runs import summary_run, task

# Each benchmark's columns as its authors publish them, and where each value lives in the
# task's summary (written out here by hand, not read from the YAML under test).
EXPECTED = {
    "rewardbench": [("Score", ("score",)), ("Chat", ("sections", "Chat", "score")),
                    ("Chat Hard", ("sections", "Chat Hard", "score")), ("Safety", ("sections", "Safety", "score")),
                    ("Reasoning", ("sections", "Reasoning", "score"))],
    "rewardbench2": [("Score", ("score",))] + [(s, ("sections", s, "score")) for s in
                                               ("Factuality", "Precise IF", "Math", "Safety", "Focus", "Ties")],
    "rm-bench": [("Chat", ("sections", "chat", "score")), ("Math", ("sections", "math", "score")),
                 ("Code", ("sections", "code", "score")), ("Safety", ("sections", "safety", "score")),
                 ("Easy", ("metrics", "easy")), ("Normal", ("metrics", "normal")), ("Hard", ("metrics", "hard")),
                 ("Avg", ("score",))],
    "rmb": [("Helpfulness BoN", ("sections", "Helpfulness BoN", "score")),
            ("Helpfulness Pairwise", ("sections", "Helpfulness Pairwise", "score")),
            ("Harmlessness BoN", ("sections", "Harmlessness BoN", "score")),
            ("Harmlessness Pairwise", ("sections", "Harmlessness Pairwise", "score")),
            ("Overall", ("score",))],
    "rmb-bon": [("Helpfulness BoN", ("sections", "Helpfulness BoN", "score")),
                ("Harmlessness BoN", ("sections", "Harmlessness BoN", "score")), ("Overall", ("score",))],
    "rmb-pairwise": [("Helpfulness Pairwise", ("sections", "Helpfulness Pairwise", "score")),
                     ("Harmlessness Pairwise", ("sections", "Harmlessness Pairwise", "score")), ("Overall", ("score",))],
    # no leaderboard block: the score, then the sections
    "bon": [("Score", ("score",)), ("code", ("sections", "code", "score")), ("facts", ("sections", "facts", "score")),
            ("math", ("sections", "math", "score"))],
}

def at(summary: dict, path: tuple):
    for k in path:
        summary = summary[k]
    return summary


def ci_at(summary: dict, path: tuple):
    if path == ("score",):
        return summary.get("ci")
    if path[0] == "metrics":
        return summary["metrics_ci"][path[1]]
    return at(summary, path[:-1]).get("ci")


def two_runs(demo) -> list[dict]:
    return find_runs([str(demo.run("baseline/longest")), str(demo.run("baseline/shortest"))])


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_benchmark_has_its_columns_with_the_runs_values(demo, name):
    runs = two_runs(demo)
    lb = build_leaderboard(runs, [name])
    assert lb.overview is None and [b.task for b in lb.tables] == [name]
    board = lb.tables[0]
    assert board.headers == [h for h, _ in EXPECTED[name]]
    assert sorted(r.model for r in board.rows) == ["baseline/longest", "baseline/shortest"]
    for row in board.rows:
        summary = json.loads((Path(row.runs[0]["path"]) / "summary.json").read_text())["tasks"][name]
        for header, path in EXPECTED[name]:
            cell = row.cells[header]
            assert cell.value == at(summary, path), (name, header)
            assert [cell.lo, cell.hi] == ci_at(summary, path), (name, header)
    # the same table through the CLI, as markdown: the header row and each row's cells
    res = run_cli("leaderboard", *[r["path"] for r in runs], "--task", name, "--ci", "none")
    assert res.returncode == 0, res.stderr
    rows = [[c.strip() for c in ln.strip("|").split("|")] for ln in res.stdout.splitlines() if ln.startswith("|")]
    assert rows[0] == ["model"] + [h for h, _ in EXPECTED[name]]
    for line in rows[2:]:
        row = next(r for r in board.rows if r.label == line[0])
        assert [c.replace("*", "") for c in line[1:]] == [f"{100 * row.cells[h].value:.1f}" for h, _ in EXPECTED[name]]


def test_a_single_task_leaderboard_uses_the_layout_by_default(tmp_path):
    for name, model, v in (("a", "m/a", 0.61), ("b", "m/b", 0.72)):
        summary_run(tmp_path, name, model, {"rm-bench": {"score": v, "ci": [v - 0.02, v + 0.02], "n": 20,
                                                         "metrics": {"hard": 0.5, "normal": 0.6, "easy": 0.7},
                                                         "sections": {d: {"score": v, "n": 5}
                                                                      for d in ("chat", "math", "code", "safety")}}})
    res = run_cli("leaderboard", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "### Overview" not in res.stdout and "### RM-Bench (rm-bench)" in res.stdout
    head = next(ln for ln in res.stdout.splitlines() if ln.startswith("|"))
    assert [c.strip() for c in head.strip("|").split("|")] == ["model"] + [h for h, _ in EXPECTED["rm-bench"]]
    body = [[c.strip() for c in ln.strip("|").split("|")] for ln in res.stdout.splitlines() if ln.startswith("|")][2:]
    assert body == [["m/b", "**72.0**", "**72.0**", "**72.0**", "**72.0**", "70.0", "60.0", "50.0", "**72.0** ± 2.0"],
                    ["m/a", "61.0", "61.0", "61.0", "61.0", "70.0", "60.0", "50.0", "61.0 ± 2.0"]]  # ranked by Avg


def test_overview_one_column_per_task_and_their_mean(demo):
    lb = build_leaderboard(find_runs([str(demo.root)])).sort()
    ov = lb.overview
    tasks = ("bon", "judgebench", "pandalm", "ppe-correctness", "rewardbench", "rewardbench2", "rm-bench", "rmb-bon",
             "rmb-pairwise", "rmb")
    assert ov.headers == ["bon", "JudgeBench", "PandaLM", "PPE best-of-K", "RewardBench",
                          "RewardBench 2", "RM-Bench", "RMB best-of-N", "RMB pairwise", "RMB", "Mean"]
    assert [b.task for b in lb.tables] == list(tasks)
    for row in ov.rows:
        scores = [row.tasks[t]["score"] for t in tasks]
        assert [row.cells[h].value for h in ov.headers[:-1]] == scores
        assert row.cells["Mean"].value == pytest.approx(sum(scores) / len(scores))
        assert row.cells["Mean"].lo is None  # a mean of independent tasks' scores gets no made-up interval
    means = [r.cells["Mean"].value for r in ov.rows]
    assert means == sorted(means, reverse=True)  # ranked by the mean
    assert any("unweighted mean" in n for n in ov.notes)


def test_mean_covers_only_tasks_every_row_has(tmp_path):
    summary_run(tmp_path, "a", "m/a", {"rewardbench": task(0.8, [0.7, 0.9], 100), "rm-bench": task(0.6, None, 50),
                                       "rmb": task(0.5, None, 40)})
    summary_run(tmp_path, "b", "m/b", {"rewardbench": task(0.7, None, 100), "rm-bench": task(0.4, None, 50)})
    ov = build_leaderboard(find_runs([str(tmp_path)])).sort().overview
    assert ov.headers == ["RewardBench", "RM-Bench", "RMB", "Mean (2 of 3)"]
    assert [r.model for r in ov.rows] == ["m/a", "m/b"]
    assert ov.rows[0].cells["Mean (2 of 3)"].value == pytest.approx(0.7)
    assert ov.rows[1].cells["RMB"].value is None
    assert "RewardBench, RM-Bench (the tasks every row has)" in ov.notes[0]
    summary_run(tmp_path, "c", "m/c", {"rmb": task(0.5, None, 40)})
    ov = build_leaderboard(find_runs([str(tmp_path)])).overview
    assert "Mean" not in " ".join(ov.headers) and "No mean" in ov.notes[0]


def test_prior_sets_column_only_when_present(tmp_path):
    secs = {"Chat": (0.9, None, 10), "Chat_Hard": (0.5, None, 10), "Safety": (0.7, None, 10),
            "Reasoning": (0.8, None, 10)}
    summary_run(tmp_path, "plain", "m/a", {"rewardbench": task(0.725, None, 40, **secs)})
    assert build_leaderboard(find_runs([str(tmp_path / "plain")])).tables[0].headers == \
        ["Score", "Chat", "Chat Hard", "Safety", "Reasoning"]
    summary_run(tmp_path, "prior", "m/b", {"rewardbench": task(0.7, None, 40, **secs),
                                           "rewardbench-prior": task(0.6, None, 30, Prior_Sets=(0.6, [0.5, 0.7], 30))})
    lb = build_leaderboard(find_runs([str(tmp_path)]))
    rb = next(b for b in lb.tables if b.task == "rewardbench")
    assert rb.headers == ["Score", "Chat", "Chat Hard", "Safety", "Reasoning", "Prior Sets"]
    by = {r.model: r for r in rb.rows}
    assert by["m/b"].cells["Prior Sets"].value == 0.6 and by["m/b"].cells["Prior Sets"].hi == 0.7
    assert by["m/a"].cells["Prior Sets"].value is None


def test_a_task_without_a_layout_gets_score_and_sections(tmp_path):
    # a task this installation does not know (another helper's, or a user's own)
    summary_run(tmp_path, "a", "m/a", {"my-own-task": task(0.6, [0.55, 0.65], 500, MMLU_Pro=(0.5, None, 200),
                                                           MATH=(0.7, [0.6, 0.8], 300))})
    board = build_leaderboard(find_runs([str(tmp_path)])).tables[0]
    assert board.title == "my-own-task" and board.headers == ["Score", "MMLU Pro", "MATH"]
    assert board.rows[0].cells["MATH"].hi == 0.8


def test_a_layout_column_nobody_reports_is_kept_with_a_note(tmp_path):
    summary_run(tmp_path, "a", "m/a", {"rewardbench": task(0.8, None, 10, Chat=(0.8, None, 10))})
    board = build_leaderboard(find_runs([str(tmp_path)])).tables[0]
    assert board.headers == ["Score", "Chat", "Chat Hard", "Safety", "Reasoning"]
    assert board.rows[0].cells["Safety"].value is None
    assert board.notes == ["No run here reports Chat Hard, Safety, Reasoning."]
    md = render(build_leaderboard(find_runs([str(tmp_path)])), "md")
    assert "No run here reports Chat Hard, Safety, Reasoning." in md


def test_task_and_sort_options(demo):
    res = run_cli("leaderboard", str(demo.root), "--task", "rewardbench,rm-bench", "--sort", "Safety",
                  "--format", "json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["overview"] is None and [t["task"] for t in data["tables"]] == ["rewardbench", "rm-bench"]
    for t in data["tables"]:
        vals = [r["cells"]["Safety"]["score"] for r in t["rows"]]
        assert vals == sorted(vals, reverse=True)
    lb = build_leaderboard(find_runs([str(demo.root)])).sort("rewardbench")
    vals = [r.cells["RewardBench"].value for r in lb.overview.rows]
    assert vals == sorted(vals, reverse=True)
    rb = next(b for b in lb.tables if b.task == "rewardbench")
    assert [r.cells["Score"].value for r in rb.rows] == sorted(vals, reverse=True)
    with pytest.raises(UserError, match="no column 'nope' in any table"):
        lb.sort("nope")
    res = run_cli("leaderboard", str(demo.root), "--task", "nope")
    assert res.returncode == 2 and "--task nope: no run here has it" in res.stderr


def test_every_layout_names_metrics_the_demo_runs_report(demo):
    """A column of a task's layout that no demo run fills is a typo in the YAML (tasks added later
    with a demo sample are checked too)."""
    runs = find_runs([str(demo.root)])
    for spec in all_specs():
        if not spec.leaderboard or not spec.demo or spec.name not in runs[0]["summary"]["tasks"]:
            continue
        board = build_leaderboard(runs, [spec.name]).tables[0]
        assert not board.notes, (spec.name, board.notes)


@pytest.mark.parametrize("block,message", [
    ("leaderboard: [1, 2]", "must be a mapping"),
    ("leaderboard: {title: X}", "'columns' must be a non-empty list"),
    ("leaderboard: {columns: [{name: A, metric: score}], colour: red}", "unknown keys colour"),
    ("leaderboard: {columns: [{name: A}]}", "column 1 (A): 'metric' must be a metric name"),
    ("leaderboard: {columns: [{metric: score}]}", "column 1: 'name' must be a non-empty string"),
    ("leaderboard: {columns: [{name: A, metric: score, width: 3}]}", "column 1: unknown keys width"),
    ("leaderboard: {columns: [{name: A, metric: score}, {name: a, metric: Chat}]}", "two columns are named 'a'"),
    ("leaderboard: {columns: [{name: A, metric: 'x:'}]}", "must be NAME or TASK:NAME"),
    ("leaderboard: {columns: [{name: A, metric: score, optional: maybe}]}", "'optional' must be true or false"),
    ("leaderboard: {sort: B, columns: [{name: A, metric: score}]}", "sort 'B' names no column (A)"),
])
def test_leaderboard_block_is_validated(tmp_path, block, message):
    path = tmp_path / "mine.yaml"
    path.write_text(f"name: mine\nschema: pairwise\nscoring: rewardbench\n{block}\n")
    with pytest.raises(UserError) as e:
        parse_spec(path)
    assert "task file mine.yaml: leaderboard" in str(e.value) and message in str(e.value)


def test_leaderboard_block_is_parsed(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nschema: pairwise\nscoring: rewardbench\nleaderboard:\n  title: Mine\n  sort: Avg\n"
                    "  columns:\n    - {name: Avg, metric: score}\n"
                    "    - {name: P, metric: [Prior Sets, 'other:Prior Sets'], optional: true}\n")
    lay = parse_spec(path).leaderboard
    assert lay.title == "Mine" and lay.sort == "Avg"
    assert [(c.name, c.metrics, c.optional) for c in lay.columns] == [
        ("Avg", ((None, "score"),), False), ("P", ((None, "Prior Sets"), ("other", "Prior Sets")), True)]
