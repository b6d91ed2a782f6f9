#!/usr/bin/env bash
# MISSRec headline (SPEC 4, issue 6) scaled to 2 cores: text features from
# `metarec featurize` (TF-IDF + randomized SVD), pre-training on Games-6k
# titles, fine-tuning on Scientific (shipped leave-one-out split), against
# SASRec on IDs and MISSRec from scratch. Full ranking; Recall@K = HR@K here.
# Usage: benchmarks/missrec/run_missrec_scientific.sh [THREADS]
# Env: METAREC_DATA, OUT (default benchmarks/missrec/runs/missrec), PRETRAIN_EPOCHS (default 5), FEAT_DIM (default 256),
#      FINETUNE_EPOCHS (cap for the fine-tunes from the pre-trained checkpoint, default 200).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
threads="${1:-2}"
data="${METAREC_DATA:-$PWD/../shared/data}"
out="${OUT:-benchmarks/missrec/runs/missrec}"
epochs="${PRETRAIN_EPOCHS:-5}"
dim="${FEAT_DIM:-256}"
tool=build-release/tools/metarec/metarec
feat=build-release/missrec_features
mkdir -p "$out" "$feat"
set -x
"$tool" featurize --text "$data/scientific/Scientific.text" --item2index "$data/scientific/Scientific.item2index" \
  --dim "$dim" --out "$feat/Scientific.text.npy" > "$out/featurize_scientific.log"
"$tool" featurize --text "$data/games/Games-6k.item" --format games-item --dim "$dim" \
  --out "$feat/Games-6k.title.npy" > "$out/featurize_games.log"
sci=(--data "$data/scientific/Scientific" --format unisrec --features "$feat/Scientific.text.npy")

# Baselines on Scientific alone.
"$tool" train --data "$data/scientific/Scientific" --format unisrec --backbone sasrec --threads "$threads" \
  --out "$out/sasrec_ids" > "$out/sasrec_ids.log" 2>&1
"$tool" finetune "${sci[@]}" --transductive --threads "$threads" --out "$out/scratch_transductive" \
  > "$out/scratch_transductive.log" 2>&1
"$tool" finetune "${sci[@]}" --threads "$threads" --out "$out/scratch_inductive" > "$out/scratch_inductive.log" 2>&1

# Pre-train on Games titles (the paper: 100 epochs at batch 4096 on a GPU; scaled down here).
"$tool" pretrain --data "$data/games/Games-6k.test.inter" --format inter --features "$feat/Games-6k.title.npy" \
  --epochs "$epochs" --threads "$threads" --out "$out/pretrain_games" > "$out/pretrain_games.log" 2>&1
for mode in full peft; do
  "$tool" finetune "${sci[@]}" --from "$out/pretrain_games/model.ckpt" --mode "$mode" --epochs "${FINETUNE_EPOCHS:-200}" \
    --threads "$threads" --out "$out/pre_inductive_$mode" > "$out/pre_inductive_$mode.log" 2>&1
  "$tool" finetune "${sci[@]}" --from "$out/pretrain_games/model.ckpt" --mode "$mode" --transductive \
    --epochs "${FINETUNE_EPOCHS:-200}" --threads "$threads" --out "$out/pre_transductive_$mode" \
    > "$out/pre_transductive_$mode.log" 2>&1
done
/usr/bin/python3 benchmarks/missrec/summarize_missrec.py "$out" | tee "$out/summary.md"
