"""The checks behind scripts/gpu_smoke.sh (run that, not this). Each subcommand prints one line
per check, ``PASS name: ...`` or ``FAIL name: ...``, and exits 1 if any failed.

  build DIR                      tiny random Llama models in DIR/lm and DIR/rm (no download)
  compare-scalar OUT A B         scalar scores of runs A and B agree within 1e-3
  check-generative OUT RUN N     a generative run finished with N records and no engine errors
  engine-generate DIR            vllm/ on DIR/lm: real vLLM behaves as the test stand-in says
  engine-pooling DIR             vllm/ on DIR/rm: the same for LLM.classify
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

FAILED: list[str] = []


def check(name: str, ok: bool, detail: str) -> None:
    print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)
    if not ok:
        FAILED.append(name)


def build(root: Path) -> None:
    import transformers

    transformers.utils.logging.disable_progress_bar()
    from tests.judges.tiny_models import build_causal_lm, build_seq_cls, build_tokenizer

    tok = build_tokenizer(root / "tok", vocab_size=1000)
    # head size 64 (256 / 4): every vLLM attention backend supports it
    build_causal_lm(root / "lm", tok, seed=1, kind="llama", hidden=256, layers=2, heads=4, max_positions=2048)
    build_seq_cls(root / "rm", tok, seed=3, kind="llama", hidden=256, layers=2, heads=4, max_positions=2048)
    arch = json.loads((root / "rm" / "config.json").read_text())["architectures"]
    check("build", arch == ["LlamaForSequenceClassification"], f"tiny LlamaForCausalLM and {arch} in {root}")


def _records(out: Path, run: str) -> list[dict]:
    return [json.loads(x) for x in (out / run / "records.jsonl").read_text().splitlines()]


def compare_scalar(out: Path, a: str, b: str) -> None:
    def scores(run):
        return {(r["id"], i): s[0]["value"] for r in _records(out, run) for i, s in enumerate(r["scores"])}

    sa, sb = scores(a), scores(b)
    missing = [k for k, v in sa.items() if v is None] + [k for k, v in sb.items() if v is None]
    same_keys = sa.keys() == sb.keys()
    check("scalar-complete", same_keys and not missing, f"{len(sa)} scores from {a}, {len(sb)} from {b}, "
          f"{len(missing)} missing")
    if same_keys and not missing:
        diff = max(abs(sa[k] - sb[k]) for k in sa)
        check("scalar-agree", diff <= 1e-3, f"max |{a} - {b}| = {diff:.2e} over {len(sa)} scores (bound 1e-3)")


def check_generative(out: Path, run: str, n: int) -> None:
    recs = _records(out, run)
    statuses: dict[str, int] = {}
    for r in recs:
        for p in r["pairs"]:
            for j in p["judgments"]:
                statuses[j["status"]] = statuses.get(j["status"], 0) + 1
    stats = json.loads((out / run / "run.json").read_text())["stats"]
    bad = {k: v for k, v in statuses.items() if k in ("api_error", "too_long")}
    check(f"generative-{run}", len(recs) == n and not bad,
          f"{len(recs)}/{n} records, judgments {statuses}, provider stats {stats.get('provider')}")


def _provider(model: Path, judge_type: str, **cfg):
    from rmbench.config import RunConfig
    from rmbench.judges.providers.vllm import Provider

    args = {"dtype": "float32", "enforce_eager": True, "gpu_memory_utilization": 0.3}
    return Provider(str(model), RunConfig(model=f"vllm/{model}", tasks=["x"], judge_type=judge_type,
                                          model_args=args, **cfg))


def _raises(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the check reports whatever vLLM raised
        return e
    return None


def engine_generate(root: Path) -> None:
    from rmbench.config import GenConfig
    from rmbench.judges.base import Failure, GenRequest
    from rmbench.judges.providers import vllm as provider_mod

    prov = _provider(root / "lm", "generative", max_length=256, gen=GenConfig(max_tokens=8, logprobs=True))
    llm, vllm = prov.llm, prov.vllm
    check("engine-versions", True, f"vllm {getattr(vllm, '__version__', '?')}, renderer {type(llm.renderer).__name__}, "
          f"render={prov.render}, max_model_len={prov.max_model_len}")
    msgs = ({"role": "user", "content": "Which is better, A or B?"},)
    _, ids = prov._tokens(msgs, True, {})
    outs = llm.generate([{"prompt_token_ids": ids}], vllm.SamplingParams(max_tokens=4, temperature=0.0),
                        use_tqdm=False)
    check("tokens-prompt", list(outs[0].prompt_token_ids) == ids,
          f"{{'prompt_token_ids': ...}} reaches the engine as sent ({len(ids)} tokens)")

    reqs = [GenRequest(messages=({"role": "user", "content": f"question {k}"},), gen=prov.config.gen, key=str(k))
            for k in range(4)]
    gens = prov.generate_batch(reqs)
    shapes = [(g.usage["output_tokens"], len(g.logprobs or []), max(len(d) for d in g.logprobs))
              for g in gens if not isinstance(g, Failure)]
    ok = len(shapes) == 4 and all(n == m and 1 <= k <= prov.top_logprobs + 1 for n, m, k in shapes)
    vals_ok = all(v <= 0.0 for g in gens if not isinstance(g, Failure) for d in g.logprobs for v in d.values())
    check("logprobs", ok and vals_ok, f"(output tokens, logprob positions, most alternatives) = {shapes}")

    limit = prov.max_model_len
    e = _raises(lambda: llm.generate([{"prompt_token_ids": [ids[-1]] * (limit + 1)}],
                                     vllm.SamplingParams(max_tokens=1), use_tqdm=False))
    check("renderer-length-error", e is not None and provider_mod.is_length_error(e)
          and "maximum context length" in str(e) and getattr(e, "parameter", None) == "input_tokens",
          f"{type(e).__name__}: {e}")
    e = _raises(lambda: llm.generate([{"prompt_token_ids": [ids[-1]] * limit}], vllm.SamplingParams(max_tokens=1),
                                     use_tqdm=False))
    check("engine-length-error", e is not None and provider_mod.is_length_error(e)
          and "longer than the maximum model length" in str(e), f"{type(e).__name__}: {e}")
    e = _raises(lambda: vllm.SamplingParams(temperature=3.0))
    check("sampling-validation", e is not None and "temperature must be in [0, 2]" in str(e)
          and provider_mod.is_request_error(e), f"{type(e).__name__}: {e}")

    # one prompt vLLM refuses in a chat batch: only it fails (the isolating split)
    items = [(k, {"prompt_token_ids": ids if k != 2 else [ids[-1]] * (limit + 1)},
              vllm.SamplingParams(max_tokens=2, temperature=0.0)) for k in range(5)]
    res = prov._isolating(prov._generate, items)
    failed = [k for k, r in enumerate(res) if isinstance(r, Failure)]
    check("isolation", failed == [2] and res[2].status == "too_long", f"failures at {failed}: {res[2]}")


def engine_pooling(root: Path) -> None:
    from rmbench.judges.base import Failure, ScoreItem

    prov = _provider(root / "rm", "scalar", max_length=128)
    check("pooling-task", prov.pooling_task == "classify" and "classify" in prov.llm.supported_tasks,
          f"pooling task {prov.pooling_task}, supported {prov.llm.supported_tasks}")
    items = [ScoreItem("a", k, ({"role": "user", "content": f"question {k}"},), "an answer " * (1 + 150 * (k == 1)))
             for k in range(3)]
    scores = prov.score_batch(items)
    check("pooling-scores", isinstance(scores[0], float) and isinstance(scores[2], float)
          and isinstance(scores[1], Failure) and scores[1].status == "too_long", f"{scores}")
    text, _ = prov._tokens([{"role": "user", "content": "x " * 300}, {"role": "assistant", "content": "y"}],
                           False, {})
    e = _raises(lambda: prov.llm.classify([text], pooling_params=prov.vllm.PoolingParams(use_activation=False),
                                          use_tqdm=False, tokenization_kwargs={"add_special_tokens": False}))
    from rmbench.judges.providers import vllm as provider_mod

    check("pooling-length-error", e is not None and provider_mod.is_length_error(e), f"{type(e).__name__}: {e}")


def main(argv: list[str]) -> int:
    cmd, args = argv[0], argv[1:]
    if cmd == "build":
        build(Path(args[0]))
    elif cmd == "compare-scalar":
        compare_scalar(Path(args[0]), args[1], args[2])
    elif cmd == "check-generative":
        check_generative(Path(args[0]), args[1], int(args[2]))
    elif cmd == "engine-generate":
        engine_generate(Path(args[0]))
    elif cmd == "engine-pooling":
        engine_pooling(Path(args[0]))
    else:
        raise SystemExit(f"unknown check {cmd}")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
