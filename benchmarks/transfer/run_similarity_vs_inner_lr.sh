#!/usr/bin/env bash
# Diagnostic for issue 5: how the source-target similarity s_i = cos(theta - phi_i, G_i)
# depends on the inner learning rate alpha (SPEC 3.2), 150 meta iterations, seed 1, f0.1, lambda 0.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
d=${METAREC_DATA:-../shared/data}/amazon-s3rec
for lr in 0.1 0.01 0.001; do
  build-release/tools/metarec/metarec transfer --sources $d/Sports_and_Outdoors.txt,$d/Toys_and_Games.txt \
    --target $d/Beauty.txt --target-fraction 0.1 --backbone sasrec --quantizer vq --vq-residual \
    --meta rescaled --seeds 1 --meta-iterations 150 --inner-lr $lr --epochs 1 --threads 1 --quiet \
    --out benchmarks/transfer/runs/transfer_similarity_vs_inner_lr/alpha_$lr > benchmarks/transfer/runs/transfer_similarity_vs_inner_lr/alpha_$lr.log 2>&1
done
