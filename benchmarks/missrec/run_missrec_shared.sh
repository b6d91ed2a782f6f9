#!/usr/bin/env bash
# MISSRec Games-6k -> Scientific transfer with item features in ONE space for
# both domains (issue 6: per-corpus TF-IDF+SVD bases made the pre-trained
# modality adaptor meaningless on the target). Same protocol and flags as
# benchmarks/missrec/run_missrec_scientific.sh, with
#   FEATURES=tfidf-joint  `metarec featurize` fitted jointly on Games-6k titles
#                         and Scientific texts (one IDF, one SVD basis), or
#   FEATURES=minilm       all-MiniLM-L6-v2 sentence embeddings (384-d, a fixed
#                         pretrained encoder: the same space by construction),
#                         from benchmarks/missrec/minilm_features.py in the
#                         venv of benchmarks/missrec/setup_minilm.sh.
# Usage: FEATURES=tfidf-joint|minilm benchmarks/missrec/run_missrec_shared.sh [THREADS]
# Env: METAREC_DATA, TOOL (default build-release/tools/metarec/metarec),
#      OUT (default benchmarks/missrec/runs/missrec_shared | missrec_minilm), FEAT_DIR,
#      PRETRAIN_EPOCHS (5), PRETRAIN_EVAL_EVERY (validate on Games every N epochs; default: at the
#      end only), PRETRAIN_FLAGS (more `metarec pretrain` flags, e.g. --no-prefix-samples),
#      FEAT_DIM (256, tfidf-joint only), FINETUNE_EPOCHS (200), SEED (fine-tuning seed, 1),
#      PRETRAINED (checkpoint the pre_* runs start from; default OUT/pretrain_games/model.ckpt),
#      MINILM_PYTHON (/tmp/venv-minilm/bin/python),
#      RUNS (which runs, in order; default
#            "scratch_inductive pretrain pre_inductive_full pre_transductive_full scratch_transductive
#             pre_inductive_peft pre_transductive_peft").
# A run whose result.json exists is skipped, so the script resumes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
threads="${1:-2}"
features="${FEATURES:?set FEATURES=tfidf-joint or FEATURES=minilm}"
data="${METAREC_DATA:-$PWD/../shared/data}"
tool="${TOOL:-build-release/tools/metarec/metarec}"
epochs="${PRETRAIN_EPOCHS:-5}"
ft_epochs="${FINETUNE_EPOCHS:-200}"
runs="${RUNS:-scratch_inductive pretrain pre_inductive_full pre_transductive_full scratch_transductive pre_inductive_peft pre_transductive_peft}"
case "$features" in
  tfidf-joint) out="${OUT:-benchmarks/missrec/runs/missrec_shared}" ;;
  minilm) out="${OUT:-benchmarks/missrec/runs/missrec_minilm}" ;;
  *) echo "FEATURES must be tfidf-joint or minilm, not '$features'" >&2; exit 2 ;;
esac
feat="${FEAT_DIR:-build-missrec-features/$features}"
mkdir -p "$out" "$feat"
sci_npy="$feat/Scientific.text.npy"
games_npy="$feat/Games-6k.title.npy"
set -x
if [[ ! -f "$sci_npy" || ! -f "$games_npy" ]]; then
  if [[ "$features" == tfidf-joint ]]; then
    nice "$tool" featurize --threads "$threads" --dim "${FEAT_DIM:-256}" \
      --text "$data/games/Games-6k.item" --format games-item --out "$games_npy" \
      --text "$data/scientific/Scientific.text" --item2index "$data/scientific/Scientific.item2index" --out "$sci_npy" \
      > "$out/featurize.log"
  else
    nice "${MINILM_PYTHON:-/tmp/venv-minilm/bin/python}" benchmarks/missrec/minilm_features.py --threads "$threads" \
      --corpus "$data/scientific/Scientific.text" text "$data/scientific/Scientific.item2index" "$sci_npy" \
      --corpus "$data/games/Games-6k.item" games-item - "$games_npy" > "$out/featurize.log" 2>&1
  fi
fi
sci=(--data "$data/scientific/Scientific" --format unisrec --features "$sci_npy")
pre="${PRETRAINED:-$out/pretrain_games/model.ckpt}"
sci+=(--seed "${SEED:-1}")
for run in $runs; do
  done_dir="$out/$run"; [[ "$run" == pretrain ]] && done_dir="$out/pretrain_games"
  [[ -f "$done_dir/result.json" ]] && continue
  case "$run" in
    scratch_inductive)
      nice "$tool" finetune "${sci[@]}" --epochs "$ft_epochs" --threads "$threads" --out "$out/$run" > "$out/$run.log" 2>&1 ;;
    scratch_transductive)
      nice "$tool" finetune "${sci[@]}" --transductive --epochs "$ft_epochs" --threads "$threads" --out "$out/$run" > "$out/$run.log" 2>&1 ;;
    pretrain)
      # Pre-train on Games titles (the paper: 100 epochs at batch 4096 on a GPU; scaled down here).
      nice "$tool" pretrain --data "$data/games/Games-6k.test.inter" --format inter --features "$games_npy" \
        --epochs "$epochs" --eval-every "${PRETRAIN_EVAL_EVERY:-$epochs}" ${PRETRAIN_FLAGS:-} --threads "$threads" \
        --out "$out/pretrain_games" > "$out/pretrain_games.log" 2>&1 ;;
    pre_inductive_full | pre_inductive_peft)
      nice "$tool" finetune "${sci[@]}" --from "$pre" --mode "${run##*_}" --epochs "$ft_epochs" \
        --threads "$threads" --out "$out/$run" > "$out/$run.log" 2>&1 ;;
    pre_fresh_adaptors_inductive_full)  # encoder/decoder from Games, adaptors freshly initialised
      nice "$tool" finetune "${sci[@]}" --from "$pre" --fresh-adaptors --mode full --epochs "$ft_epochs" \
        --threads "$threads" --out "$out/$run" > "$out/$run.log" 2>&1 ;;
    pre_transductive_full | pre_transductive_peft)
      nice "$tool" finetune "${sci[@]}" --from "$pre" --mode "${run##*_}" --transductive --epochs "$ft_epochs" \
        --threads "$threads" --out "$out/$run" > "$out/$run.log" 2>&1 ;;
    *) echo "unknown run '$run'" >&2; exit 2 ;;
  esac
done
/usr/bin/python3 benchmarks/missrec/summarize_missrec.py "$out" | tee "$out/summary.md"
