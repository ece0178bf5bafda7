"""LaTeX for papers: one booktabs table per benchmark, the best value of each column in bold,
values whose interval overlaps the best one's underlined, the rule in the caption; the demo's
tables compile with pdflatex when a TeX engine is installed (CI: texlive-latex-base and
texlive-latex-recommended for booktabs)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from rmbench.reports.formats import render
from rmbench.reports.layouts import build_leaderboard
from rmbench.reports.leaderboard import find_runs
from tests.reports.runs import summary_run, task


def test_bold_best_and_underlined_overlaps(tmp_path):
    # Chat: best 80 [75, 85]; 78 [72, 84] overlaps it; 60 [55, 65] does not; 70 has no interval
    for name, chat in (("a", (0.80, [0.75, 0.85], 100)), ("b", (0.78, [0.72, 0.84], 100)),
                       ("c", (0.60, [0.55, 0.65], 100)), ("d", (0.70, None, 100))):
        summary_run(tmp_path, name, f"m/{name}", {"rewardbench": task(chat[0], chat[1], 100, Chat=chat)})
    tex = render(build_leaderboard(find_runs([str(tmp_path)])).sort(), "latex", ci="none")
    rows = {ln.split(" & ")[0]: ln.split(" & ")[1:3] for ln in tex.splitlines() if ln.startswith("m/")}
    assert rows == {"m/a": [r"\textbf{80.0}", r"\textbf{80.0}"], "m/b": [r"\underline{78.0}", r"\underline{78.0}"],
                    "m/c": ["60.0", "60.0"], "m/d": ["70.0", "70.0"]}
    assert "Underlined: a value whose 95\\% interval overlaps the best value's interval" in tex
    assert tex.count(r"\toprule") == tex.count(r"\midrule") == tex.count(r"\bottomrule") == 1
    assert r"\begin{tabular}{lrrrrr}" in tex and r"Model & Score & Chat & Chat Hard & Safety & Reasoning \\" in tex
    assert r"\label{tab:rmbench-rewardbench}" in tex and "No run here reports Chat Hard, Safety, Reasoning." in tex
    pm = render(build_leaderboard(find_runs([str(tmp_path)])).sort(), "latex")
    assert r"\textbf{80.0}\,{\scriptsize $\pm$5.0}" in pm and "$\\pm$ is half the width" in pm
    bounds = render(build_leaderboard(find_runs([str(tmp_path)])).sort(), "latex", ci="bounds")
    assert r"\underline{78.0}\,{\scriptsize [72.0, 84.0]}" in bounds


def test_one_table_per_benchmark_overview_first(demo):
    tex = render(build_leaderboard(find_runs([str(demo.root)])).sort(), "latex")
    labels = re.findall(r"\\label\{([^}]*)\}", tex)
    assert labels == ["tab:rmbench-overview", "tab:rmbench-bon", "tab:rmbench-judgebench", "tab:rmbench-pandalm",
                      "tab:rmbench-ppe-correctness", "tab:rmbench-rewardbench",
                      "tab:rmbench-rewardbench2", "tab:rmbench-rm-bench", "tab:rmbench-rmb-bon",
                      "tab:rmbench-rmb-pairwise", "tab:rmbench-rmb"]
    for env in ("table", "tabular"):
        assert tex.count(f"\\begin{{{env}}}") == tex.count(f"\\end{{{env}}}") == len(labels)
    assert tex.startswith("% rmbench leaderboard") and "\\usepackage{graphicx}" in tex.splitlines()[0]
    assert tex.count(r"\toprule") == tex.count(r"\midrule") == tex.count(r"\bottomrule") == len(labels)
    # every row has as many cells as its table has columns
    for block in tex.split(r"\begin{tabular}")[1:]:
        spec = re.match(r"\{(l r*)\}".replace(" ", ""), block).group(1)
        body = block.split(r"\midrule")[1].split(r"\bottomrule")[0].strip().splitlines()
        assert body and all(ln.count(" & ") == len(spec) - 1 for ln in body)


def _tex_engine() -> str:
    exe = shutil.which("pdflatex")
    if not exe:
        pytest.skip("no TeX engine (Debian: apt-get install texlive-latex-base texlive-latex-recommended)")
    kpse = shutil.which("kpsewhich")
    if kpse and not subprocess.run([kpse, "booktabs.sty"], capture_output=True, text=True).stdout.strip():
        pytest.skip("booktabs is not installed (Debian: texlive-latex-recommended)")
    return exe


def test_demo_tables_compile(demo, tmp_path):
    exe = _tex_engine()
    tex = render(build_leaderboard(find_runs([str(demo.root)])).sort(), "latex")
    (tmp_path / "tables.tex").write_text(tex, encoding="utf-8")
    (tmp_path / "paper.tex").write_text("\\documentclass{article}\n\\usepackage[utf8]{inputenc}\n"
                                        "\\usepackage{booktabs}\n\\usepackage{graphicx}\n\\begin{document}\n\\input{tables}\n"
                                        "\\end{document}\n", encoding="utf-8")
    res = subprocess.run([exe, "-interaction=nonstopmode", "-halt-on-error", "paper.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-3000:]
    assert (tmp_path / "paper.pdf").stat().st_size > 5000
    log = (tmp_path / "paper.log").read_text(errors="replace")
    assert "Undefined control sequence" not in log and "Missing" not in log
    assert "Overfull \\hbox" not in log  # wide tables shrink to the text width
