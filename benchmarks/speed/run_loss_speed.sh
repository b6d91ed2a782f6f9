#!/usr/bin/env bash
# Training throughput per loss, metarec against the official PyTorch wheel
# (benchmarks/torch_ref/train.py under build-torchref/venv, setup_venv.sh):
# SASRec defaults (d 64, 2 blocks, 2 heads, dropout 0.5, batch 256) on Beauty,
# the same loss, negatives and threads, both in this one run; metarec 2 epochs,
# PyTorch 1 epoch (its first epoch is as fast as its later ones). Throughput is
# each record's timing.train_sequences_per_s (training only; evaluation is
# timed apart). Summary: summarize_loss_speed.py.
# Usage: benchmarks/speed/run_loss_speed.sh   Env: METAREC_DATA, OUT (default benchmarks/speed/runs/loss_speed),
#        LOSSES (default "ce sampled-softmax gbce bce"), NEGATIVES (default 256), THREADS (default 2),
#        NEGATIVES_PER (batch or sequence, for sampled-softmax and gbce; default batch),
#        WHEEL_PYTHON (default build-torchref/venv/bin/python)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
data="${METAREC_DATA:-$PWD/../shared/data}/amazon-s3rec/Beauty.txt"
out="${OUT:-benchmarks/speed/runs/loss_speed}"
losses=(${LOSSES:-ce sampled-softmax gbce bce})
threads="${THREADS:-2}"; k="${NEGATIVES:-256}"; per="${NEGATIVES_PER:-batch}"
wheel="${WHEEL_PYTHON:-build-torchref/venv/bin/python}"
tool=build-release/tools/metarec/metarec
[[ -x $tool ]] || { echo "build the tool first: cmake --build --preset release --target metarec_tool" >&2; exit 1; }
[[ -x $wheel ]] || { echo "no PyTorch wheel at $wheel: run benchmarks/torch_ref/setup_venv.sh" >&2; exit 1; }
mkdir -p "$out"
for loss in "${losses[@]}"; do
  scope=(); tag=$loss
  if [[ $per == sequence && ( $loss == sampled-softmax || $loss == gbce ) ]]; then
    scope=(--negatives-per sequence); tag=$loss-per-sequence
  fi
  echo "== metarec $tag, $threads threads"
  "$tool" train --data "$data" --loss "$loss" --negatives "$k" "${scope[@]}" --epochs 2 --patience 0 --seed 1 \
    --threads "$threads" --out "$out/ours_$tag" > "$out/ours_$tag.log" 2>&1
  echo "== pytorch wheel $tag, $threads threads"
  PYTHON="$wheel" benchmarks/torch_ref/run.sh benchmarks/torch_ref/train.py --data "$data" --model sasrec \
    --loss "$loss" --negatives "$k" "${scope[@]}" --epochs 1 --patience 1 --threads "$threads" \
    --out "$out/wheel_$tag.json" > "$out/wheel_$tag.log" 2>&1
done
python3 benchmarks/speed/summarize_loss_speed.py "$out" | tee "$out/summary.md"
