#!/usr/bin/env bash
# Issue 24 figure: ml-100k (RecBole's atomic files, titles + genres as item text), leave-one-out, full
# ranking (every item ranked, history not masked): SASRec on IDs vs MISSRec from scratch vs MISSRec
# pre-trained on Games-6k titles, then fine-tuned. The commands are those of docs/cli.md's worked example,
# with epochs capped to fit a 2-core machine (see benchmarks/missrec/README.md, "ml-100k").
#
# Data (not downloaded by default; never committed): RecBole's dataset/ml-100k files.
#   ml-100k.inter  RUCAIBox/RecBole 7b02be5ec80a88310f2d04a27a82adfcbb5dc211 (same blob 7345003d at
#                  6af995d83513ebf16777fedf35bfa830680f5d88, where the files were added)
#                  sha256 4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff
#   ml-100k.item   RUCAIBox/RecBole 7b02be5ec80a88310f2d04a27a82adfcbb5dc211 (blob a0c66069, header
#                  `item_id:token movie_title:token_seq release_year:token class:token_seq`, since c3bf3a89
#                  "FIX: field name error"; at 6af995d the id column is still `movie_id:token`, which
#                  `featurize --format atomic-item` rejects: it needs `item_id:token`)
#                  sha256 51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532
#   e.g.  git clone https://github.com/RUCAIBox/RecBole && git -C RecBole checkout 7b02be5ec80a \
#         && cp RecBole/dataset/ml-100k/ml-100k.{inter,item} DIR/
#   or    FETCH=1 benchmarks/missrec/run_ml100k.sh DIR   (curl from raw.githubusercontent.com, pinned commit)
#   Games-6k: /work/shared/data/games (METAREC_DATA/games, see /work/shared/data/README.md).
#
# Usage: benchmarks/missrec/run_ml100k.sh ML100K_DIR [THREADS]
# Env: METAREC_DATA (shared data, default ../shared/data), TOOL (build-release/tools/metarec/metarec),
#      OUT (benchmarks/missrec/runs/ml100k), SEEDS ("1 2 3", fine-tuning / training seeds),
#      PRETRAIN_EPOCHS (4; validation on Games at the end), PRETRAIN_SEED (1: one pre-training, fine-tuned
#      with every seed), FINETUNE_EPOCHS (15, MISSRec cap), FINETUNE_BATCH (64: with the default 512, ml-100k's
#      943 users make 2 Adam steps per epoch and MISSRec was at valid NDCG@10 .013 after 5 epochs),
#      SASREC_EPOCHS (200, `train` defaults otherwise), PATIENCE (10),
#      RUNS (default "featurize sasrec scratch pretrain pre summary"; sasrec/scratch/pre run every seed;
#            also scratch_transductive, pre_transductive: the same with --transductive (text + IDs);
#            two instances with disjoint RUNS can run side by side once featurize is done).
# A run whose result.json exists is skipped, so the script resumes. Each run's log is OUT/<run>.log.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ml="${1:?usage: run_ml100k.sh ML100K_DIR [THREADS]}"
threads="${2:-1}"
data="${METAREC_DATA:-$PWD/../shared/data}"
tool="${TOOL:-build-release/tools/metarec/metarec}"
out="${OUT:-benchmarks/missrec/runs/ml100k}"
seeds="${SEEDS:-1 2 3}"
pre_epochs="${PRETRAIN_EPOCHS:-4}"
pre_seed="${PRETRAIN_SEED:-1}"
ft_epochs="${FINETUNE_EPOCHS:-15}"
ft_batch="${FINETUNE_BATCH:-64}"
sas_epochs="${SASREC_EPOCHS:-200}"
patience="${PATIENCE:-10}"
runs="${RUNS:-featurize sasrec scratch pretrain pre summary}"
commit=7b02be5ec80a88310f2d04a27a82adfcbb5dc211
mkdir -p "$ml" "$out/feat"
if [[ "${FETCH:-0}" == 1 ]]; then
  for f in ml-100k.inter ml-100k.item; do
    [[ -f "$ml/$f" ]] || curl -fsSL -o "$ml/$f" "https://raw.githubusercontent.com/RUCAIBox/RecBole/$commit/dataset/ml-100k/$f"
  done
fi
(cd "$ml" && sha256sum -c - <<'EOF'
4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff  ml-100k.inter
51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532  ml-100k.item
EOF
)
inter="$ml/ml-100k.inter"
feat_ml="$out/feat/ml-100k.npy"
feat_games="$out/feat/Games-6k.title.npy"
pre_dir="$out/pretrain_games_s$pre_seed"
ml_args=(--data "$inter" --format atomic)
timed() { local log="$1"; shift; /usr/bin/time -f "wall %e s, user %U s, max RSS %M KB" -a -o "$log" nice -n 10 "$@" >> "$log" 2>&1; }
set -x
for run in $runs; do
  case "$run" in
    featurize)  # one joint TF-IDF vocabulary + SVD basis for both corpora (docs/cli.md)
      [[ -f "$feat_ml" && -f "$feat_games" ]] && continue
      timed "$out/featurize.log" "$tool" featurize --dim 256 --threads 1 \
        --text "$data/games/Games-6k.item" --format games-item --out "$feat_games" \
        --text "$ml/ml-100k.item" --format atomic-item --fields movie_title,class --items-from "$inter" --out "$feat_ml"
      nice -n 10 "$tool" stats "$inter" --format atomic --items-out "$out/feat/ml-100k.item2index" > "$out/stats.log" ;;
    sasrec)
      for s in $seeds; do
        [[ -f "$out/sasrec_s$s/result.json" ]] && continue
        timed "$out/sasrec_s$s.log" "$tool" train "${ml_args[@]}" --backbone sasrec --seed "$s" \
          --epochs "$sas_epochs" --patience "$patience" --threads "$threads" --out "$out/sasrec_s$s"
      done ;;
    scratch)
      for s in $seeds; do
        [[ -f "$out/missrec_scratch_s$s/result.json" ]] && continue
        timed "$out/missrec_scratch_s$s.log" "$tool" finetune "${ml_args[@]}" --features "$feat_ml" --seed "$s" \
          --epochs "$ft_epochs" --batch-size "$ft_batch" --patience "$patience" --threads "$threads" --out "$out/missrec_scratch_s$s"
      done ;;
    pretrain)
      [[ -f "$pre_dir/result.json" ]] && continue
      timed "$pre_dir.log" "$tool" pretrain --data "$data/games/Games-6k.test.inter" --format inter \
        --features "$feat_games" --epochs "$pre_epochs" --eval-every "$pre_epochs" --seed "$pre_seed" --threads "$threads" \
        --out "$pre_dir" ;;
    pre)
      for s in $seeds; do
        [[ -f "$out/missrec_pre_s$s/result.json" ]] && continue
        timed "$out/missrec_pre_s$s.log" "$tool" finetune "${ml_args[@]}" --features "$feat_ml" \
          --from "$pre_dir/model.ckpt" --seed "$s" --epochs "$ft_epochs" --batch-size "$ft_batch" --patience "$patience" \
          --threads "$threads" --out "$out/missrec_pre_s$s"
      done ;;
    scratch_transductive | pre_transductive)  # text + ID embeddings (--transductive); not in the default RUNS
      from=(); [[ "$run" == pre_* ]] && from=(--from "$pre_dir/model.ckpt")
      for s in $seeds; do
        d="$out/missrec_${run%%_*}_trans_s$s"; [[ -f "$d/result.json" ]] && continue
        timed "$d.log" "$tool" finetune "${ml_args[@]}" --features "$feat_ml" "${from[@]}" --transductive --seed "$s" \
          --epochs "$ft_epochs" --batch-size "$ft_batch" --patience "$patience" --threads "$threads" --out "$d"
      done ;;
    summary)  # compact record of every result.json + mean/std table (population std over seeds, ddof 0)
      /usr/bin/python3 - "$out" <<'EOF' | tee "$out/summary.md"
import json, os, statistics, sys
out = sys.argv[1]
def load(name):
    p = os.path.join(out, name, "result.json")
    return json.load(open(p)) if os.path.exists(p) else None
rows, record = [], {
    "data": {"repo": "RUCAIBox/RecBole", "commit": "7b02be5ec80a88310f2d04a27a82adfcbb5dc211",
             "files": {"dataset/ml-100k/ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
                       "dataset/ml-100k/ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532"},
             "source_domain": "Games-6k (/work/shared/data/games, RUCAIBox/LLMRank 5ec1154cb74c)"},
    "protocol": "leave-one-out, full ranking over all items, history not masked; test metrics at the best valid NDCG@10 epoch; "
                "std = population std over seeds",
    "features": "featurize --dim 256 (joint TF-IDF + SVD): Games-6k titles + ml-100k movie_title,class",
    "runs": {}}
for key, label in [("sasrec", "SASRec, IDs only"), ("missrec_scratch", "MISSRec from scratch (text, inductive)"),
                   ("missrec_pre", "MISSRec pre-trained on Games-6k, fine-tuned (text, inductive, full)"),
                   ("missrec_scratch_trans", "MISSRec from scratch, transductive (text + IDs)"),
                   ("missrec_pre_trans", "MISSRec pre-trained on Games-6k, transductive (text + IDs), full")]:
    per = []
    for s in (1, 2, 3):
        r = load(f"{key}_s{s}")
        if r is None: continue
        h = r["history"]
        rec = {"seed": s, "config": r["config"].get("trainer"), "test": {k: round(r["test"][k], 4) for k in ("HR@10", "NDCG@10", "HR@50", "NDCG@50")},
               "valid_NDCG@10": round(r["valid"]["NDCG@10"], 4), "best_epoch": r["best_epoch"],
               "epochs_run": r["epochs_run"], "early_stopped": r["early_stopped"],
               "train_seconds": round(r["timing"]["train_seconds"], 1),
               "s_per_epoch": round(sum(e["seconds"] for e in h) / len(h), 2),
               "valid_NDCG@10_curve": [round(e["valid"]["NDCG@10"], 4) for e in h if "valid" in e]}
        per.append(rec)
    if not per: continue
    m = lambda k: (statistics.fmean(p["test"][k] for p in per), statistics.pstdev(p["test"][k] for p in per))
    record["runs"][key] = {"label": label, "seeds": per,
                           "mean": {k: [round(v, 4) for v in m(k)] for k in ("HR@10", "NDCG@10")}}
    (r10, r10s), (n10, n10s) = m("HR@10"), m("NDCG@10")
    seeds = ", ".join(f"{p['test']['HR@10']:.4f} / {p['test']['NDCG@10']:.4f}" for p in per)
    eps = ", ".join(f"{p['best_epoch']}/{p['epochs_run']}" for p in per)
    rows.append(f"| {label} | {seeds} | {r10:.4f} +- {r10s:.4f} | {n10:.4f} +- {n10s:.4f} | {eps} |")
pre = [d for d in sorted(os.listdir(out)) if d.startswith("pretrain_games_s")]
for d in pre:
    r = load(d)
    if r: record["pretrain"] = {"dir": d, "config": r.get("config"), "history": r.get("history"), "timing": r.get("timing")}
print("| run | per seed (Recall@10 / NDCG@10) | Recall@10 | NDCG@10 | best epoch / run |")
print("|---|---|---|---|---|")
print("\n".join(rows))
json.dump(record, open(os.path.join(out, "results.json"), "w"), indent=1)
EOF
      ;;
    *) echo "unknown run '$run'" >&2; exit 2 ;;
  esac
done
