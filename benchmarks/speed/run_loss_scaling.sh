#!/usr/bin/env bash
# Seconds per training epoch against catalogue size for full CE and the
# shared-negative losses (sampled softmax, gBCE; K negatives per batch or per sequence):
# Beauty with its items replicated x1, x4, x16 (replicate_items.py: user u's
# items shift to replica u mod X, so sequences keep their shape), SASRec
# defaults, one epoch each, all in one run at one thread. The epoch's training
# time is result.json's timing.train_seconds (the full-ranking evaluation after
# it is not counted). Summary: summarize_loss_scaling.py.
# Usage: benchmarks/speed/run_loss_scaling.sh   Env: METAREC_DATA, OUT (default benchmarks/speed/runs/loss_scaling),
#        SCALES (default "1 4 16"), LOSSES (default "ce sampled-softmax gbce sampled-softmax+sparse gbce+sparse";
#        "+sparse" adds --sparse-items: lazy updates of the touched item rows; "+seq" adds --negatives-per sequence:
#        K draws per sequence instead of per batch), NEGATIVES (default 256), THREADS (default 1)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
data="${METAREC_DATA:-$PWD/../shared/data}/amazon-s3rec"
out="${OUT:-benchmarks/speed/runs/loss_scaling}"
scales=(${SCALES:-1 4 16})
losses=(${LOSSES:-ce sampled-softmax gbce sampled-softmax+sparse gbce+sparse})
tool=build-release/tools/metarec/metarec
[[ -x $tool ]] || { echo "build the tool first: cmake --build build-release --target metarec_tool" >&2; exit 1; }
mkdir -p "$out"
for x in "${scales[@]}"; do
  [[ -f $out/Beauty_x$x.txt ]] || python3 benchmarks/speed/replicate_items.py "$data/Beauty.txt" "$out/Beauty_x$x.txt" "$x"
done
# Losses innermost, so every loss sees the same machine load at each scale.
for x in "${scales[@]}"; do
  for variant in "${losses[@]}"; do
    loss="${variant%%+*}"
    extra=()
    [[ $variant == *+sparse* ]] && extra+=(--sparse-items)
    [[ $variant == *+seq* ]] && extra+=(--negatives-per sequence)
    run="$out/x${x}_$variant"
    echo "== x$x $variant"
    "$tool" train --data "$out/Beauty_x$x.txt" --loss "$loss" --negatives "${NEGATIVES:-256}" "${extra[@]}" \
      --epochs 1 --patience 0 --seed 1 --threads "${THREADS:-1}" --out "$run" > "$run.log" 2>&1
  done
done
python3 benchmarks/speed/summarize_loss_scaling.py "$out"
