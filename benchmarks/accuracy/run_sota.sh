#!/usr/bin/env bash
# Three seeds of one committed configuration on one dataset, full ranking:
# each seed trains with `metarec train --config CONFIG` (early stopping on
# the validation NDCG@10 of the config's protocol; configs/ mask the history,
# as the published S3-Rec / RecTools figures do), then the kept checkpoint is
# evaluated again without history masking, so both protocols come from the
# same model. Summary (mean +- std over seeds): summarize_sota.py.
# Usage: benchmarks/accuracy/run_sota.sh CONFIG DATA NAME [SEEDS...]   (default seeds 1 2 3)
# Env: OUT (default benchmarks/accuracy/runs/sota), THREADS (default 1), EXTRA (more train options), TOOL (the binary)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
config=${1:?CONFIG}; data=${2:?DATA}; name=${3:?NAME}; shift 3
seeds=("$@"); [[ ${#seeds[@]} -gt 0 ]] || seeds=(1 2 3)
out="${OUT:-benchmarks/accuracy/runs/sota}"; threads="${THREADS:-1}"
tool="${TOOL:-build-release/tools/metarec/metarec}"
[[ -x $tool ]] || { echo "build the tool first: cmake --build --preset release --target metarec_tool" >&2; exit 1; }
mkdir -p "$out"
for s in "${seeds[@]}"; do
  run="$out/${name}_s$s"
  echo "== $name seed $s"
  if [[ ! -f $run/result.json ]]; then
    "$tool" train --config "$config" --data "$data" --seed "$s" --threads "$threads" ${EXTRA:-} --out "$run" \
      > "$run.log" 2>&1
  fi
  grep '^test:' "$run.log" | tail -1
  "$tool" evaluate --checkpoint "$run/model.ckpt" --data "$data" --threads "$threads" > "$run/evaluate_unmasked.json" 2>/dev/null
done
