"""Stand-in generative judges for the diagnostics tests, wrapped by the real Judge (templates,
parsing, batching): one whose every verdict is scripted per item, order and sample, and one
with a known strength order (the ``(quality N)`` tags) and a deterministic share of upsets."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import rmbench.judges
from rmbench.config import RunConfig
from rmbench.judges.base import BaseProvider, GenOutput
from rmbench.runner import run
from tests.helpers import write_json, write_jsonl
from tests.servers import fake_model

ITEM = re.compile(r"question (\d+)\b")


def _prompt(req) -> str:
    return "\n\n".join(m["content"] for m in req.messages)


class Scripted(BaseProvider):
    """``script[item][chosen_first][sample]`` is "W" when the chosen response wins that
    comparison; sample ``s`` of a request reads column ``(s + shift) % len`` (so a one-sample run
    with ``shift = s`` sees exactly the verdicts of sample s)."""

    batched = True

    def __init__(self, name, config, script, shift: int = 0):
        super().__init__(name, config)
        self.script, self.shift = script, shift
        self.calls = 0

    def generate_batch(self, reqs):
        out = []
        for r in reqs:
            self.calls += 1
            prompt = _prompt(r)
            a, _ = fake_model.extract_pair(prompt)
            chosen_first = a.startswith("good")
            item = int(ITEM.search(prompt).group(1))
            column = self.script[item][chosen_first]
            wins = column[(r.sample + self.shift) % len(column)] == "W"
            label = "A" if wins == chosen_first else "B"
            out.append(GenOutput(text=f"Verdict: [[{label}]]", finish_reason="stop"))
        return out


class Upsets(BaseProvider):
    """The higher ``(quality N)`` tag wins, except in a deterministic third of the prompts
    (by a hash of prompt and sample), where the verdict is flipped."""

    batched = True

    def __init__(self, name, config):
        super().__init__(name, config)
        self.calls = 0

    def generate_batch(self, reqs):
        out = []
        for r in reqs:
            self.calls += 1
            prompt = _prompt(r)
            text = fake_model.answer(prompt).text
            if int(hashlib.sha256(f"{prompt}\x1f{r.sample}".encode()).hexdigest(), 16) % 3 == 0:
                text = text.replace("[[A]]", "[[X]]").replace("[[B]]", "[[A]]").replace("[[X]]", "[[B]]")
            out.append(GenOutput(text=text, finish_reason="stop"))
        return out


def rb_rows(n: int, subsets=("alpacaeval-easy", "llmbar-natural")) -> list[dict]:
    return [{"prompt": f"question {i}: answer it", "chosen": f"good answer {i}", "rejected": f"bad answer {i} here",
             "chosen_model": "m", "rejected_model": "m", "subset": subsets[i % len(subsets)], "id": i}
            for i in range(n)]


def run_standin(provider, monkeypatch, tmp_path: Path, task: str, rows, name: str, **kw) -> Path:
    """``rmbench.runner.run`` in-process with ``provider`` behind the real Judge (no cache)."""
    path = tmp_path / f"{name}.{'json' if task.startswith('rewardbench') else 'jsonl'}"
    data = write_json(path, rows) if path.suffix == ".json" else write_jsonl(path, rows)
    monkeypatch.setattr(rmbench.judges, "build_provider", lambda config: provider)
    cfg = RunConfig(model="stand-in/judge", tasks=[task], data_path=str(data), output_dir=str(tmp_path / "out"),
                    run_name=name, no_cache=True, **kw)
    return run(cfg, argv=["rmbench"], show_progress=False)
