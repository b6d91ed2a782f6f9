#!/usr/bin/env bash
# The main job: MetaRec transfer on real data, in a quick configuration that
# finishes in under 20 minutes on 2 cores. Sources Sports + Toys, target Beauty
# (S3-Rec files in ../shared/data), 10% of Beauty's users keep their
# training data; target-only training vs MetaRec (similarity-rescaled
# meta-gradients over the shared backbone, lambda 1), one seed, both
# fine-tuned with the same early stopping (patience 10 evaluations, one every
# 2 epochs). The quantizer is off by default: measured on this data
# (benchmarks/transfer/README.md), the multi-head VQ bottleneck costs more
# accuracy than it transfers; QUANTIZER=vq runs MetaRec with multi-head VQ
# + per-domain residual instead. Writes out/main/transfer.json and a figure
# out/main/transfer.png (table + per-source weights over iterations).
# Env: METAREC_DATA (default ../shared/data), METAREC_JOBS (default 2), QUANTIZER (none|vq).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
data="${METAREC_DATA:-$PWD/../shared/data}/amazon-s3rec"
jobs="${METAREC_JOBS:-2}"

bash scripts/setup.sh
for f in Sports_and_Outdoors Toys_and_Games Beauty; do
  [[ -f "$data/$f.txt" ]] || { echo "run_main.sh: missing $data/$f.txt (set METAREC_DATA)" >&2; exit 1; }
done
cmake --preset release -DMETAREC_UNITY_BUILD=ON >/dev/null  # a clean build: the tool as two translation units
cmake --build --preset release -j "$jobs" --target metarec_tool

quantizer=(--quantizer "${QUANTIZER:-none}")
[[ "${QUANTIZER:-none}" == vq ]] && quantizer+=(--vq-residual)
mkdir -p out/main
build-release/tools/metarec/metarec transfer \
  --sources "$data/Sports_and_Outdoors.txt,$data/Toys_and_Games.txt" \
  --target "$data/Beauty.txt" --target-fraction 0.1 \
  --backbone sasrec "${quantizer[@]}" --meta target-only,rescaled --seeds 1 \
  --meta-iterations 300 --source-weight 1 --epochs 200 --eval-every 2 --patience 10 --threads "$(nproc)" \
  --out out/main
/usr/bin/python3 scripts/plot_transfer.py out/main/transfer.json out/main/transfer.png
