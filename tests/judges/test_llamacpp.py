"""A real model in process: SmolLM2-135M-Instruct (GGUF) through ``llamacpp/`` (llama.cpp) and
through ``hf/ --model-args gguf_file=`` (transformers), on the same real RM-Bench rows, greedy.

Checked: records carry the raw outputs and per-status failures, runs repeat byte for byte
(same seed, no cache), verdict probabilities (``--gen logprobs=true``) are recorded with the
most mass on the verdict the model wrote, over-long prompts are ``too_long``, a hub-style name
resolves only from the local cache, the prefix-sharing order reuses the KV cache, and sampled
generations repeat under a seed.

Each engine's model is loaded once per module and handed to in-process CLI runs (``main(argv)``
with ``build_provider`` pointed at it): the CLI, runner, Judge and records are the real ones,
without loading the model again for every run.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

import pytest

from rmbench.config import GenConfig, RunConfig
from rmbench.judges.base import Failure, GenRequest
from tests.helpers import run_cli
from tests.judges.real_models import (
    BOXED_LABELS,
    TERSE_BOXED,
    check_p_labels,
    judgments,
    need_gguf_transformers,
    need_llama_cpp,
    records,
    rmbench_rows,
    scores,
    smollm2_gguf,
    write_easy,
)

TIMES: dict[str, float] = {}  # seconds per check, printed at the end (see bench/RESULTS.md)


@pytest.fixture(scope="module")
def gguf() -> Path:
    return smollm2_gguf()


def _config(model: str, **kw) -> RunConfig:
    return RunConfig(model=model, tasks=["rm-bench"], **kw)


@pytest.fixture(scope="module")
def llama(gguf):
    need_llama_cpp()
    from rmbench.judges import build_provider

    # one thread: llama.cpp's spinning OpenMP threads lose badly to any other busy process
    provider = build_provider(_config(f"llamacpp/{gguf}", model_args={"n_threads": 1, "n_threads_batch": 1}))
    yield provider
    provider.__class__.close(provider)


@pytest.fixture(scope="module")
def hf_gguf(gguf):
    need_gguf_transformers()
    import gguf as gguf_package

    from rmbench.judges import build_provider

    parsed = []   # the GGUF header is parsed once for the config, the tokenizer and the weights
    reader = gguf_package.GGUFReader

    def counting_reader(*args, **kw):
        parsed.append(args)
        return reader(*args, **kw)

    gguf_package.GGUFReader = counting_reader
    try:
        provider = build_provider(_config(f"hf/{gguf.parent}", model_args={"gguf_file": gguf.name}))
    finally:
        gguf_package.GGUFReader = reader
    assert len(parsed) == 1, parsed
    return provider


def run_inprocess(provider, argv: list[str], monkeypatch) -> Path:
    """``rmbench run ARGV`` in this process with ``provider`` as the judge's engine (the runner
    closes providers at the end of a run; this one is kept for the next run)."""
    import rmbench.judges
    from rmbench.cli.main import main

    monkeypatch.setattr(rmbench.judges, "build_provider", lambda config: provider)
    monkeypatch.setattr(provider, "close", lambda: None)
    code = main(["run", *argv, "--quiet"])
    assert code == 0
    i = argv.index("--output-dir")
    return Path(argv[i + 1]) / argv[argv.index("--run-name") + 1]


def _rm_args(model: str, data: Path, out: Path, name: str, *extra: str, limit: int = 2) -> list[str]:
    return ["--model", model, "--task", "rm-bench", "--data-path", str(data), "--limit", str(limit), "--prompt",
            "rating", "--gen", "max_tokens=12", "--no-cache", "--output-dir", str(out), "--run-name", name, *extra]


@pytest.fixture(scope="module")
def rm4(tmp_path_factory):
    from tests.conftest import SHARED_DATA

    if not SHARED_DATA.is_dir():
        pytest.skip(f"real benchmark data not found at {SHARED_DATA}")
    return rmbench_rows(SHARED_DATA, tmp_path_factory.mktemp("rm4"))


def _same_rows_deterministic(provider, model: str, rm4, tmp_path, monkeypatch, extra=(), limit=1) -> list[dict]:
    t0 = time.perf_counter()
    a = run_inprocess(provider, _rm_args(model, rm4, tmp_path, "a", *extra, limit=limit), monkeypatch)
    b = run_inprocess(provider, _rm_args(model, rm4, tmp_path, "b", *extra, limit=limit), monkeypatch)
    TIMES[model.split("/")[0] + " rm-bench x2"] = time.perf_counter() - t0
    # same seed, no cache: the records repeat byte for byte
    assert (a / "records.jsonl").read_bytes() == (b / "records.jsonl").read_bytes()
    recs = records(a)
    assert len(recs) == limit and all(r["task"] == "rm-bench" for r in recs)
    items = scores(recs)
    assert len(items) == limit * 6
    for s in items:  # every score has its raw output and a status; failures are counted by status
        assert s["status"] in ("ok", "unparsed", "truncated", "empty") and isinstance(s["raw"], str)
        assert s["usage"]["input_tokens"] > 100 and 1 <= s["usage"]["output_tokens"] <= 12
        assert (s["value"] is None) == (s["status"] != "ok")
    summary = json.loads((a / "summary.json").read_text())
    bad = Counter(s["status"] for s in items if s["status"] != "ok")
    assert summary["tasks"]["rm-bench"]["judging"]["failures"] == dict(sorted(bad.items()))
    return recs


@pytest.mark.slow  # one real row, judged twice (2 x 6 generations)
def test_llamacpp_on_rmbench_rows_repeats_exactly(llama, gguf, rm4, tmp_path, monkeypatch):
    recs = _same_rows_deterministic(llama, f"llamacpp/{gguf}", rm4, tmp_path, monkeypatch)
    run = json.loads((tmp_path / "a" / "run.json").read_text())
    work = run["stats"]["provider"]
    assert work["prompts"] >= 6 and work["prompt_tokens_per_second"] > 0 and work["generation_tokens_per_second"] > 0
    assert run["judge"]["provider"] == "llamacpp" and run["judge"]["file_fingerprint"]
    assert recs[0]["scores"][0][0]["raw"]


@pytest.mark.slow  # the same row through transformers (GGUF dequantized to float32)
def test_hf_gguf_on_the_same_rows_repeats_exactly(hf_gguf, gguf, rm4, tmp_path, monkeypatch):
    recs = _same_rows_deterministic(hf_gguf, f"hf/{gguf.parent}", rm4, tmp_path, monkeypatch,
                                    extra=("--model-args", f"gguf_file={gguf.name}"))
    run = json.loads((tmp_path / "a" / "run.json").read_text())
    assert run["judge"]["gguf_file"] == gguf.name and run["judge"]["dtype"] == "float32"
    assert recs[0]["scores"][0][0]["raw"]


def on_engine(engine: str, request, gguf):
    """(the provider fixture, the model name, extra flags) that judge with the GGUF on ``engine``."""
    if engine == "llamacpp":
        return request.getfixturevalue("llama"), f"llamacpp/{gguf}", []
    return request.getfixturevalue("hf_gguf"), f"hf/{gguf.parent}", ["--model-args", f"gguf_file={gguf.name}"]


@pytest.mark.parametrize("engine", ["llamacpp", "hf"])
def test_verdict_probabilities_on_the_real_model(engine, request, gguf, tmp_path, monkeypatch):
    provider, model, extra = on_engine(engine, request, gguf)
    data = write_easy(tmp_path / "easy.json", 2)
    t0 = time.perf_counter()
    out = run_inprocess(provider, ["--model", model, "--task", "rewardbench", "--data-path", str(data), "--prompt",
                                   str(TERSE_BOXED), "--gen", "max_tokens=24,logprobs=true", "--output-dir",
                                   str(tmp_path), "--run-name", "lp", *extra], monkeypatch)
    TIMES[f"{engine} logprobs"] = time.perf_counter() - t0
    items = judgments(records(out))
    assert len(items) == 4
    n_ok = check_p_labels(items, BOXED_LABELS)
    assert n_ok >= 2, [j["raw"] for j in items]
    note = json.loads((out / "summary.json").read_text())["tasks"]["rewardbench"]["judging"]["p_labels"]
    assert note["verdicts"] == n_ok and note["with_p_labels"] == n_ok


@pytest.mark.parametrize("engine", ["llamacpp", "hf"])
def test_a_dry_run_counts_the_prompt_tokens_the_engine_is_fed(engine, request, gguf, tmp_path, monkeypatch):
    # --dry-run reads the GGUF's own tokenizer and chat format, not a characters estimate
    provider, model, extra = on_engine(engine, request, gguf)
    data = write_easy(tmp_path / "easy.json", 2)
    args = ["--model", model, "--task", "rewardbench", "--data-path", str(data), "--prompt", str(TERSE_BOXED),
            "--gen", "max_tokens=1", "--no-cache", "--output-dir", str(tmp_path), "--run-name", "dry", *extra]
    res = run_cli("run", *args, "--dry-run", "--format", "json")
    assert res.returncode == 0, res.stderr
    dry = json.loads(res.stdout)
    assert not (tmp_path / "dry").exists() and dry["input_tokens_counted_with"].startswith("the model's tokenizer")
    items = judgments(records(run_inprocess(provider, args, monkeypatch)))
    assert dry["requests"] == len(items) == 4
    assert dry["input_tokens"] == sum(j["usage"]["input_tokens"] for j in items)


def test_best_of_n_tournament(llama, gguf, tmp_path, monkeypatch):
    # a knockout over three answers: pairwise judgments picked by the engine, one pick recorded
    data = tmp_path / "bon.json"
    data.write_text(json.dumps([{"id": "capital", "prompt": "What is the capital of France?",
                                 "responses": ["Lyon.", "Paris.", "Rome."], "correct": [False, True, False]}]))
    out = run_inprocess(llama, ["--model", f"llamacpp/{gguf}", "--task", "bon", "--data-path", str(data), "--prompt",
                                str(TERSE_BOXED), "--gen", "max_tokens=24", "--output-dir", str(tmp_path),
                                "--run-name", "bon"], monkeypatch)
    (rec,) = records(out)
    assert rec["tournament"]["method"] == "knockout" and 2 <= len(judgments([rec])) <= 6
    assert all(isinstance(j["raw"], str) for j in judgments([rec]))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tasks"]["bon"]["n"] == 1


def test_over_long_prompts_are_too_long(gguf, tmp_path):
    need_llama_cpp()
    data = write_easy(tmp_path / "easy.json", 2)
    res = run_cli("run", "--model", f"llamacpp/{gguf}", "--task", "rewardbench", "--data-path", str(data),
                  "--model-args", "n_ctx=64", "--output-dir", str(tmp_path), "--run-name", "tl", "--quiet")
    assert res.returncode == 0, res.stderr
    items = judgments(records(tmp_path / "tl"))
    assert {j["status"] for j in items} == {"too_long"}
    assert all("the limit is 64" in j["error"] for j in items)
    run = json.loads((tmp_path / "tl" / "run.json").read_text())
    assert run["stats"]["provider"]["too_long"] == 4 and run["judge"]["n_ctx"] == 64


def test_hub_style_names_resolve_only_from_the_local_cache(gguf, tmp_path, monkeypatch):
    need_llama_cpp()
    import huggingface_hub.constants

    from rmbench.errors import UserError
    from rmbench.judges.providers.llamacpp import resolve_gguf

    cache = tmp_path / "hub"
    # read when huggingface_hub is imported (maybe by an earlier test): set the module's value too
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    name = "SmolTests/smol-gguf/" + gguf.name
    with pytest.raises(UserError, match="never downloads"):
        resolve_gguf(name)
    # the hub cache layout: refs/main names a snapshot holding the file
    repo = cache / "models--SmolTests--smol-gguf"
    snap = repo / "snapshots" / ("0" * 40)
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    os.symlink(gguf, snap / gguf.name)
    assert resolve_gguf(name).resolve() == gguf.resolve()
    with pytest.raises(UserError, match="folder"):
        resolve_gguf(str(gguf.parent))
    with pytest.raises(UserError, match="no such file"):
        resolve_gguf(str(tmp_path / "missing.gguf"))


def test_bad_model_args_are_one_line_errors(gguf, tmp_path):
    need_llama_cpp()
    data = write_easy(tmp_path / "easy.json", 1)
    for args, words in ((("--model-args", "n_ctxx=5"), "unknown --model-args"),
                        (("--model-args", "chat_format=no-such-format"), "chat_format"),
                        (("--gen", "reasoning_effort=high"), "API models only"),
                        (("--judge-type", "scalar"), "generative")):
        res = run_cli("run", "--model", f"llamacpp/{gguf}", "--task", "rewardbench", "--data-path", str(data),
                      "--output-dir", str(tmp_path), *args)
        assert res.returncode == 2 and words in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr


def _requests(gen: GenConfig) -> list[GenRequest]:
    """Two conversations, each judged twice with the same first response."""
    from rmbench.judges.prompts import load_template

    tmpl = load_template(str(TERSE_BOXED))
    reqs = []
    for q, good, bad in (("What is 2 + 2?", "4", "5"), ("Name a colour.", "Blue.", "Table.")):
        for second in (bad, good + " Yes."):
            msgs = tmpl.render(({"role": "user", "content": q},), (good, second))
            reqs.append(GenRequest(messages=msgs, gen=gen, key=f"{q}|{good}|{second}"))
    return reqs


def test_prefix_order_reuses_the_evaluated_prompt(llama):
    # arrival alternates the conversations: consecutive prompts share only the template's start
    reqs = _requests(GenConfig(max_tokens=1))
    shuffled = [reqs[0], reqs[2], reqs[1], reqs[3]]

    def reused(order: bool) -> int:
        llama.prefix_order = order
        before = dict(llama.work)
        outs = llama.generate_batch(shuffled)
        assert not any(isinstance(o, Failure) for o in outs)
        return llama.work["prompt_tokens_reused"] - before["prompt_tokens_reused"]

    try:
        unordered, ordered = reused(False), reused(True)
    finally:
        llama.prefix_order = True
    assert ordered > unordered


def test_sampling_repeats_under_a_seed(llama):
    msgs = ({"role": "user", "content": "Tell me a story."},)

    def sample(seed: int):
        req = GenRequest(messages=msgs, gen=GenConfig(max_tokens=8, temperature=1.0, seed=seed), key="story")
        return llama.generate_batch([req])[0]

    a, b = sample(7), sample(7)
    assert a.text == b.text and a.usage == b.usage
    # at temperature 1 over 8 tokens, two other seeds cannot both give the same text
    assert {sample(8).text, sample(9).text} - {a.text}


def test_print_times():
    """Not a check: the seconds each real-model check above took (recorded in bench/RESULTS.md)."""
    for name, secs in TIMES.items():
        print(f"{name}: {secs:.1f} s")

