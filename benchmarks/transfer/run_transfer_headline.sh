#!/usr/bin/env bash
# The headline experiment of SPEC 3.3 for one target fraction: sources Sports
# + Toys, target Beauty, SASRec (or BACKBONE), multi-head VQ with the
# per-domain residual, 3 seeds, target-only / joint / FO-MAML / MetaRec.
# Usage: benchmarks/transfer/run_transfer_headline.sh FRACTION [THREADS] [extra transfer flags...]
# Env: METAREC_DATA (default ../shared/data), BACKBONE (default sasrec),
#      METHODS (default target-only,joint,fomaml,rescaled), SEEDS (default 1,2,3),
#      QUANTIZER (vq: multi-head VQ with the per-domain residual; vq-skip: VQ with the item's own
#      embedding added to its quantized representation; vq-input: quantized items feed the encoder,
#      items are scored against their own embeddings; none; pq needs item features),
#      OUT (default benchmarks/transfer/runs/transfer_<backbone>_f<FRACTION>_fair), EPOCHS (200),
#      EVAL_EVERY (2), PATIENCE (10), META_ITERATIONS (600), SOURCE_WEIGHT (1),
#      SOURCE_FILES (comma-separated; default Sports and Toys).
# The defaults are the "fair" schedule: every method fine-tunes on the target
# until validation NDCG@10 has not improved for 10 evaluations (20 epochs), so
# target-only is not cut short (with patience 5 and evaluation every epoch it
# stopped before converging at fraction 0.1: .0088 vs .0232 HR@10).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
fraction="${1:?usage: run_transfer_headline.sh FRACTION [THREADS] [flags...]}"
threads="${2:-2}"
shift $(( $# >= 2 ? 2 : 1 ))
data="${METAREC_DATA:-$PWD/../shared/data}/amazon-s3rec"
backbone="${BACKBONE:-sasrec}"
methods="${METHODS:-target-only,joint,fomaml,rescaled}"
seeds="${SEEDS:-1,2,3}"
case "${QUANTIZER:-vq}" in
  vq) quantizer=(--quantizer vq --vq-residual) ;;
  vq-skip) quantizer=(--quantizer vq --vq-skip) ;;
  vq-input) quantizer=(--quantizer vq --vq-input-only) ;;
  *) quantizer=(--quantizer "$QUANTIZER") ;;
esac
out="${OUT:-benchmarks/transfer/runs/transfer_${backbone}_f${fraction}_fair}"
mkdir -p "$out"
set -x
build-release/tools/metarec/metarec transfer \
  --sources "${SOURCE_FILES:-$data/Sports_and_Outdoors.txt,$data/Toys_and_Games.txt}" \
  --target "$data/Beauty.txt" --target-fraction "$fraction" \
  --backbone "$backbone" "${quantizer[@]}" --meta "$methods" --seeds "$seeds" \
  --meta-iterations "${META_ITERATIONS:-600}" --source-weight "${SOURCE_WEIGHT:-1}" \
  --epochs "${EPOCHS:-200}" --eval-every "${EVAL_EVERY:-2}" --patience "${PATIENCE:-10}" --threads "$threads" --quiet \
  --out "$out" "$@"
