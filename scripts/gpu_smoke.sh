#!/usr/bin/env bash
# The real vLLM path, on a GPU machine (the unit tests use a stand-in engine; see docs/vllm.md).
# Needs nothing from the internet: the models are tiny random Llamas built on the spot with
# transformers, the data is the packaged demo sample, and the hub is kept offline.
#
#   pip install -e '.[vllm,hf]'      # once, where vLLM's wheels can be reached
#   scripts/gpu_smoke.sh             # from the repository root; about 3-5 minutes on one GPU
#
# Prints one line per check (PASS/FAIL name: detail) and exits 0 when every check passed, 1 when
# one failed, 77 when it cannot run here (no NVIDIA GPU, or vllm/torch/transformers missing).
# PYTHON=... picks the interpreter, WORK=... keeps the models and runs (default: a temp dir),
# HF_DEVICE=... the device of the hf/ comparison runs (default cuda). docs/vllm.md has more.
#
#   build                  a tiny LlamaForCausalLM and a one-label LlamaForSequenceClassification
#   scalar-*               rmbench run vllm/<rm> (LLM.classify) and hf/<rm> on the GPU, both float32:
#                          every score within 1e-3 of the other
#   generative-*           rmbench run vllm/<lm> (LLM.generate) and hf/<lm>: both finish with a
#                          record per example and no engine errors (the random model's verdicts
#                          mostly do not parse; that is expected)
#   engine checks          what the test stand-in claims about vLLM, on the real engine: token-id
#                          prompts, logprobs, the renderer's and the engine's length errors,
#                          SamplingParams validation, isolating one refused prompt, classify
set -uo pipefail

PY=${PYTHON:-python}
WORK=${WORK:-$(mktemp -d)}
OUT="$WORK/out"
DATA=rmbench/demo/rewardbench.json
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
export VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1
CHECKS=scripts/gpu_smoke_checks.py
HF_DEVICE=${HF_DEVICE:-cuda}  # the hf/ runs' device (cuda; cpu works too, slower)
FAILED=0

if [ ! -f "$DATA" ] || [ ! -f "$CHECKS" ]; then
  echo "gpu_smoke: run it from the repository root"; exit 77
fi
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "SKIP gpu_smoke: no NVIDIA GPU here"; exit 77
fi
if ! "$PY" -c "import vllm, torch, transformers; vllm.LLM" >/dev/null 2>&1; then
  echo "SKIP gpu_smoke: vllm, torch and transformers must import (pip install -e '.[vllm,hf]')"; exit 77
fi
nvidia-smi -L | head -1
"$PY" -c "import vllm, torch, transformers; print('vllm', vllm.__version__, 'torch', torch.__version__, 'transformers', transformers.__version__)"

run_checks() {  # the checks script prints its own PASS/FAIL lines
  "$PY" "$CHECKS" "$@" || FAILED=1
}

rmb() {  # rmbench run NAME MODEL [args]: a FAIL line when it does not finish
  local name=$1 model=$2; shift 2
  if "$PY" -m rmbench.cli.main run --model "$model" --task rewardbench --data-path "$DATA" --output-dir "$OUT" \
       --run-name "$name" --quiet --no-cache "$@" >"$WORK/$name.log" 2>&1; then
    return 0
  fi
  echo "FAIL run-$name: rmbench run exited non-zero: $(tail -n 1 "$WORK/$name.log")"
  FAILED=1
  return 1
}

run_checks build "$WORK/models" || { echo "gpu_smoke: failed ($WORK)"; exit 1; }
N=$("$PY" -c "import json; print(len(json.load(open('$DATA'))))")
VLLM_ARGS=dtype=float32,enforce_eager=true,gpu_memory_utilization=0.3

# scalar: the same reward model through vLLM's pooling runner and through transformers
rmb scalar-vllm "vllm/$WORK/models/rm" --model-args "$VLLM_ARGS" \
  && rmb scalar-hf "hf/$WORK/models/rm" --model-args dtype=float32,device="$HF_DEVICE" \
  && run_checks compare-scalar "$OUT" scalar-vllm scalar-hf

# generative: the same causal LM through LLM.generate and through transformers
rmb gen-vllm "vllm/$WORK/models/lm" --gen max_tokens=16 --max-length 2048 --model-args "$VLLM_ARGS" \
  && run_checks check-generative "$OUT" gen-vllm "$N"
rmb gen-hf "hf/$WORK/models/lm" --gen max_tokens=16 --max-length 2048 --model-args dtype=float32,device="$HF_DEVICE" \
  && run_checks check-generative "$OUT" gen-hf "$N"

# the stand-in's claims, one engine at a time
run_checks engine-generate "$WORK/models"
run_checks engine-pooling "$WORK/models"

if [ "$FAILED" -ne 0 ]; then
  echo "gpu_smoke: FAILED ($WORK)"; exit 1
fi
echo "gpu_smoke: all checks passed ($WORK)"
