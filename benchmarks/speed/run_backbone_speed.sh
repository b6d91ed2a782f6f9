#!/usr/bin/env bash
# Training and full-ranking evaluation speed of the three backbones on Beauty,
# metarec vs the PyTorch reference (benchmarks/torch_ref, Debian torch on
# OpenBLAS), same data, same threads, same run; peak memory from
# /usr/bin/time -v; then how metarec's time per epoch grows with the catalogue
# (items x1, x2, x4) and max_len (50, 100, 200).
# Usage: benchmarks/speed/run_backbone_speed.sh [THREADS...]   (default: 1 2)
# Env: METAREC_DATA, OUT (default benchmarks/speed/runs/speed), SKIP_TORCH=1, SKIP_SCALING=1,
#      BACKBONES (default "sasrec gru4rec bert4rec"),
#      WHEEL_PYTHON (default build-torchref/venv/bin/python if present): a second PyTorch, the
#      official PyPI wheel (MKL + oneDNN; benchmarks/torch_ref/setup_venv.sh), run the same way.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
data="${METAREC_DATA:-$PWD/../shared/data}/amazon-s3rec"
out="${OUT:-benchmarks/speed/runs/speed}"
threads=("$@"); [[ ${#threads[@]} -gt 0 ]] || threads=(1 2)
backbones=(${BACKBONES:-sasrec gru4rec bert4rec})
tool=build-release/tools/metarec/metarec
[[ -x $tool ]] || { echo "build the tool first: cmake --preset release && cmake --build --preset release --target metarec_tool" >&2; exit 1; }
mkdir -p "$out"
wheel="${WHEEL_PYTHON:-}"
[[ -n $wheel || ! -x build-torchref/venv/bin/python ]] || wheel=build-torchref/venv/bin/python
layers_for() { [[ $1 == gru4rec ]] && echo 1 || echo 2; }

for t in "${threads[@]}"; do
  for b in "${backbones[@]}"; do
    l=$(layers_for "$b")
    echo "== metarec $b threads $t"
    /usr/bin/time -v "$tool" train --data "$data/Beauty.txt" --backbone "$b" --layers "$l" \
      --epochs 2 --patience 0 --threads "$t" --out "$out/ours_${b}_t$t" > "$out/ours_${b}_t$t.log" 2> "$out/ours_${b}_t$t.time"
    if [[ -z "${SKIP_TORCH:-}" ]]; then
      echo "== pytorch $b threads $t"
      /usr/bin/time -v benchmarks/torch_ref/run.sh benchmarks/torch_ref/train.py --data "$data/Beauty.txt" \
        --model "$b" --layers "$l" --epochs 1 --patience 1 --threads "$t" --out "$out/torch_${b}_t$t.json" \
        > "$out/torch_${b}_t$t.log" 2> "$out/torch_${b}_t$t.time"
      if [[ -n $wheel ]]; then
        echo "== pytorch (official wheel) $b threads $t"
        PYTHON="$wheel" /usr/bin/time -v benchmarks/torch_ref/run.sh benchmarks/torch_ref/train.py --data "$data/Beauty.txt" \
          --model "$b" --layers "$l" --epochs 1 --patience 1 --threads "$t" --out "$out/wheel_${b}_t$t.json" \
          > "$out/wheel_${b}_t$t.log" 2> "$out/wheel_${b}_t$t.time"
      fi
    fi
  done
done

if [[ -z "${SKIP_SCALING:-}" ]]; then
  t="${threads[-1]}"
  for k in 2 4; do
    /usr/bin/python3 benchmarks/speed/replicate_items.py "$data/Beauty.txt" "$out/Beauty_x$k.txt" "$k"
  done
  for k in 1 2 4; do
    f="$data/Beauty.txt"; [[ $k == 1 ]] || f="$out/Beauty_x$k.txt"
    echo "== scaling items x$k"
    /usr/bin/time -v "$tool" train --data "$f" --backbone sasrec --epochs 2 --patience 0 --threads "$t" \
      --out "$out/scale_items_x$k" > "$out/scale_items_x$k.log" 2> "$out/scale_items_x$k.time"
  done
  for L in 100 200; do
    echo "== scaling max_len $L"
    /usr/bin/time -v "$tool" train --data "$data/Beauty.txt" --backbone sasrec --max-len "$L" --epochs 2 --patience 0 \
      --threads "$t" --out "$out/scale_len_$L" > "$out/scale_len_$L.log" 2> "$out/scale_len_$L.time"
  done
  rm -f "$out"/Beauty_x*.txt
fi
/usr/bin/python3 benchmarks/speed/summarize_speed.py "$out" | tee "$out/summary.md"
