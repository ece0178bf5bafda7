#!/usr/bin/env bash
# The rmbench-gate action's step: install rmbench, run `rmbench gate`, put the report in the job
# summary, set the step's outputs, and exit with the gate's code (0 pass, 1 regression, 2 the
# gate could not run). Settings come from RMBENCH_GATE_* variables (see action.yml); outside
# GitHub Actions the summary and outputs go to stdout.
set -euo pipefail

candidate=${RMBENCH_GATE_CANDIDATE:-}
baseline=${RMBENCH_GATE_BASELINE:-}
metrics=${RMBENCH_GATE_METRICS:-}
max_drop=${RMBENCH_GATE_MAX_DROP:-1}
alpha=${RMBENCH_GATE_ALPHA:-0.05}
correction=${RMBENCH_GATE_CORRECTION:-holm}
resamples=${RMBENCH_GATE_RESAMPLES:-2000}
seed=${RMBENCH_GATE_SEED:-0}
allow_missing=${RMBENCH_GATE_ALLOW_MISSING_BASELINE:-false}
install=${RMBENCH_GATE_INSTALL-rmbench}
python=${RMBENCH_GATE_PYTHON:-python3}
out_dir=${RMBENCH_GATE_OUT_DIR:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}/rmbench-gate}

output() {  # a step output (name=value; values here never hold a newline)
  if [ -n "${GITHUB_OUTPUT:-}" ]; then printf '%s=%s\n' "$1" "$2" >> "$GITHUB_OUTPUT"; else printf '%s=%s\n' "$1" "$2"; fi
}
summary() {  # append stdin to the job summary
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then cat >> "$GITHUB_STEP_SUMMARY"; else cat; fi
}
fail() {  # a setup problem: an annotation, a line in the summary, exit 2
  echo "::error title=rmbench gate::$1"
  printf '## rmbench gate: could not run\n\n%s\n' "$1" | summary
  output passed false
  exit 2
}

case "$allow_missing" in true|false) ;; *) fail "allow-missing-baseline must be true or false, not '$allow_missing'" ;; esac
[ -n "$candidate" ] || fail "the candidate input is required (a run directory or summary.json)"

if [ -n "$install" ]; then
  echo "Installing rmbench from: $install"
  "$python" -m pip install --quiet --disable-pip-version-check "$install" || fail "could not pip-install rmbench from '$install'"
fi
command -v rmbench >/dev/null 2>&1 || fail "rmbench is not on PATH (set the install input, or install it in an earlier step)"

[ -e "$candidate" ] || fail "candidate '$candidate' does not exist"
if [ -z "$baseline" ] || [ ! -e "$baseline" ]; then
  if [ "$allow_missing" = true ]; then
    printf '## rmbench gate: no baseline\n\nNo baseline run at `%s`; nothing to compare with, so the candidate passes (it can become the first baseline).\n' \
      "${baseline:-(none given)}" | summary
    output passed true
    exit 0
  fi
  fail "baseline '${baseline:-(none given)}' does not exist (set allow-missing-baseline: true to pass the first checkpoint)"
fi

mkdir -p "$out_dir"
report="$out_dir/gate.md"
result="$out_dir/gate.json"
args=(gate --baseline "$baseline" --candidate "$candidate" --max-drop "$max_drop" --alpha "$alpha"
      --correction "$correction" --resamples "$resamples" --seed "$seed" -o "$report" --json)
names=()
while IFS= read -r name; do
  name=$(printf '%s' "$name" | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//')
  [ -n "$name" ] && names+=("$name")
done < <(printf '%s\n' "$metrics" | tr ',' '\n')
if [ "${#names[@]}" -gt 0 ]; then args+=(--metric "${names[@]}"); fi

# rmbench gate appends its report to $GITHUB_STEP_SUMMARY itself when that is set
set +e
rmbench "${args[@]}" > "$result" 2> "$out_dir/stderr.txt"
code=$?
set -e
cat "$out_dir/stderr.txt" >&2
case $code in
  0) output passed true ;;
  1) output passed false
     echo "::error title=rmbench gate::a gated metric dropped significantly; see the job summary" ;;
  *) fail "rmbench gate exited with $code: $(grep -v '^gate report:' "$out_dir/stderr.txt" | tail -n 1)" ;;
esac
if [ -z "${GITHUB_STEP_SUMMARY:-}" ]; then cat "$report"; fi
output report "$report"
output result "$result"
exit $code
