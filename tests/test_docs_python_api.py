"""docs/python-api.md: its ```python blocks run, in order, in one namespace, in an empty folder."""

from __future__ import annotations

import re

from tests.helpers import REPO


def test_every_python_block_of_the_python_api_doc_runs(tmp_path, monkeypatch, capsys):
    text = (REPO / "docs" / "python-api.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "python_api_doc"}
    for k, block in enumerate(blocks):
        try:
            exec(compile(block, f"docs/python-api.md block {k + 1}", "exec"), namespace)
        except Exception as e:  # name the block that broke
            raise AssertionError(f"block {k + 1} failed: {type(e).__name__}: {e}\n{block}") from e
    assert (tmp_path / "results" / "longest" / "summary.json").is_file()
    assert "unknown task 'no-such-task'" in capsys.readouterr().out
