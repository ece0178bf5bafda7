"""Leaderboards in a terminal: `rmbench demo` prints lines of at most 120 characters; text tables
fit a given width without ever breaking a number; stdout on a terminal gets the fitted text."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import pytest

from rmbench.reports.formats import render
from rmbench.reports.layouts import build_leaderboard
from rmbench.reports.leaderboard import find_runs
from rmbench.reports.tables import display_width, fit_text_table
from tests.helpers import REPO

NUMBER = re.compile(r"-?\d+\.\d")


def test_demo_prints_the_overview_and_a_compact_table_per_task(demo):
    lines = demo.stdout.splitlines()
    too_long = [ln for ln in lines if display_width(ln) > 120]
    assert not too_long, too_long
    titles = ["Overview", "bon", "JudgeBench (judgebench)", "PandaLM (pandalm)",
              "PPE best-of-K (ppe-correctness)", "RewardBench (rewardbench)",
              "RewardBench 2 (rewardbench2)", "RM-Bench (rm-bench)", "RMB best-of-N (rmb-bon)",
              "RMB pairwise (rmb-pairwise)", "RMB (rmb)"]
    at = [lines.index(t) for t in titles]
    assert at == sorted(at) and all(lines[i + 1].startswith("===") for i in at)
    # the overview's header (task titles wrap between words on narrow terminals), its last column the mean
    head = lines[at[0] + 2: lines.index(next(ln for ln in lines[at[0] + 2:] if ln.startswith("---")))]
    assert "model" in head[-1].split() and "bon" in head[-1].split()
    overview_block = "\n".join(lines[at[0]: at[1]])
    assert "Mean" in overview_block and "RewardBench" in overview_block
    for model in ("baseline/longest", "baseline/shortest", "baseline/random"):
        # a row in every table (more when a wide table is split into column groups)
        assert sum(ln.startswith(model + " ") or ln.startswith(model.split("/")[0] + "/ ") for ln in lines) \
            >= len(titles)


def _wide() -> tuple[list[str], list[str], list[list[tuple[str, str]]]]:
    headers = ["Helpfulness BoN", "Helpfulness Pairwise", "Harmlessness BoN", "Harmlessness Pairwise", "Overall",
               "Extra One", "Extra Two"]
    labels = ["org/a-rather-long-model-name [prompt=rubric]", "org/b", "org/c"]
    cells = [[(f"{10 * i + j + 0.5:.1f}", f"± {j + 1.25:.1f}") for j in range(len(headers))] for i in range(3)]
    cells[2][1] = ("—", "")
    return headers, labels, cells


def _numbers(lines: list[str]) -> list[str]:
    return [m for ln in lines for m in NUMBER.findall(ln)]


@pytest.mark.parametrize("width,mode", [(None, "inline"), (200, "inline"), (150, "wrapped"), (110, "split"),
                                        (95, "split"), (80, "groups"), (30, "groups")])
def test_text_tables_fit_the_width_without_breaking_numbers(width, mode):
    headers, labels, cells = _wide()
    lines, notes = fit_text_table(headers, labels, cells, width)
    if width is not None:
        assert max(display_width(ln) for ln in lines) <= width
    values = [v for row in cells for v, _ in row if v != "—"]
    # every value is printed whole, once per row and column; never cut between lines
    groups = 1 if mode != "groups" else int(re.search(r"split over (\d+) tables", " ".join(notes)).group(1))
    assert sorted(v for v in _numbers(lines) if v in values) == sorted(values)
    # model names are wrapped, never cut: every piece of every label is there
    text = " ".join(ln for ln in lines)
    for label in labels:
        assert all(piece in text for piece in re.split(r"(?<=[-/ ])", label) if piece.strip()), label
    intervals = sorted(ci.split()[1] for row in cells for _, ci in row if ci)
    shown = sorted(m.group(1) for ln in lines for m in re.finditer(r"± (\d+\.\d)", ln))
    if mode == "groups":  # too narrow even then: intervals left out, columns split, each with the model column
        assert shown == [] and any("intervals left out" in n for n in notes)
        assert sum(ln.startswith("model") for ln in lines) == groups >= 2
    else:
        assert shown == intervals and not notes
    if mode == "split":  # intervals on their own line under each row's values
        assert any(ln.lstrip().startswith("±") for ln in lines)
    if mode == "wrapped":  # headers broken between words, never inside one
        assert "Helpfulness" in lines[0] and "Pairwise" in lines[1]
    if width == 95:  # the long model name took three lines
        assert [ln.split("  ")[0].strip() for ln in lines[3:6]] == ["org/a-rather-long-", "model-name",
                                                                      "[prompt=rubric]"]


def test_wide_characters_count_double():
    lines, _ = fit_text_table(["得分"], ["模型甲", "b"], [[("50.0", "")], [("60.0", "")]], 40)
    assert len({display_width(ln) for ln in lines[:1] + lines[2:]}) == 1  # columns line up on screen


@pytest.mark.parametrize("ci", ["pm", "bounds", "none"])
def test_ci_styles_in_text(demo, ci):
    text = render(build_leaderboard(find_runs([str(demo.root)])).sort(), "text", ci=ci, width=100)
    assert max(display_width(ln) for ln in text.splitlines()) <= 100
    if ci == "none":
        assert "±" not in text and "[" not in text.split("Overview")[1]
    elif ci == "bounds":
        assert re.search(r"\[\d+\.\d, \d+\.\d\]", text)
    else:
        assert re.search(r"± \d+\.\d", text)


def _in_a_terminal(args: list[str], columns: int) -> str:
    """Run rmbench with stdout on a pseudo-terminal of the given width; return what it showed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("COLUMNS", None)
    proc = subprocess.Popen([sys.executable, "-m", "rmbench.cli.main", *args], stdout=slave,
                            stderr=subprocess.DEVNULL, env=env, cwd=REPO)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        out += chunk
    proc.wait(60)
    os.close(master)
    assert proc.returncode == 0
    return out.decode("utf-8").replace("\r\n", "\n")


def test_stdout_on_a_terminal_gets_tables_fitted_to_its_width(demo):
    text = _in_a_terminal(["leaderboard", str(demo.root)], 90)
    assert not text.startswith("## Leaderboard") and "Overview\n========" in text  # text, not markdown
    assert max(display_width(ln) for ln in text.splitlines()) <= 90
    assert "RM-Bench (rm-bench)" in text
    wide = _in_a_terminal(["leaderboard", str(demo.root), "--ci", "none"], 200)
    assert max(display_width(ln) for ln in wide.splitlines()) <= 200 and "±" not in wide
    piped = subprocess.run([sys.executable, "-m", "rmbench.cli.main", "leaderboard", str(demo.root)],
                           capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO)
    assert piped.stdout.startswith("## Leaderboard")  # not a terminal: markdown, as before
