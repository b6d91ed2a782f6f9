#!/usr/bin/env python3
"""RecBole's SASRec / GRU4Rec / BERT4Rec on the same S3-Rec file and protocol as
`metarec train`: leave-one-out by chronological order (valid = second-to-last
item, test = last), full ranking over every item, HR/NDCG@10, CE loss, d 64,
2 layers (GRU4Rec 1), 2 heads, FFN 256, dropout 0.5, max_len 50, batch 256,
Adam 1e-3, early stopping on valid NDCG@10 with patience 10.

Usage (in the venv of benchmarks/torch_ref/setup_venv.sh):
  build-torchref/venv/bin/python benchmarks/recbole_ref/run_recbole.py --data ../shared/data/amazon-s3rec/Beauty.txt \
      --model SASRec --threads 2 --epochs 200 --out benchmarks/recbole_ref/runs/recbole_sasrec_beauty.json
Writes the converted atomic file under build-torchref/recbole/<name>/ (position in the
sequence as the timestamp, so RecBole's time ordering is the file's order).
"""
import argparse
import json
import os
import time


def convert(src, root):
    name = os.path.splitext(os.path.basename(src))[0]
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    dst = os.path.join(d, f"{name}.inter")
    if not os.path.exists(dst):
        with open(src) as f, open(dst + ".tmp", "w") as out:
            out.write("user_id:token\titem_id:token\ttimestamp:float\n")
            for line in f:
                parts = line.split()
                if not parts:
                    continue
                for t, item in enumerate(parts[1:]):
                    out.write(f"{parts[0]}\t{item}\t{t}\n")
        os.replace(dst + ".tmp", dst)
    return name


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", choices=["SASRec", "GRU4Rec", "BERT4Rec"], default="SASRec")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--patience", type=int, default=10)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--work", default="build-torchref/recbole")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    a.work = os.path.abspath(a.work)
    a.out = os.path.abspath(a.out) if a.out else None
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(a.threads)
    import torch
    torch.set_num_threads(a.threads)
    # RecBole 1.2 reloads its own best-model file with torch.load, whose default
    # became weights_only=True in torch 2.6 and rejects RecBole's pickle.
    _load = torch.load
    torch.load = lambda *args, **kw: _load(*args, **{**kw, "weights_only": False})
    from recbole.quick_start import run_recbole

    name = convert(a.data, a.work)
    cfg = {
        "data_path": a.work, "dataset": name, "seed": a.seed, "reproducibility": True,
        "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "TIME_FIELD": "timestamp",
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "MAX_ITEM_LIST_LENGTH": 50, "hidden_size": 64, "embedding_size": 64, "inner_size": 256,
        "n_layers": 1 if a.model == "GRU4Rec" else 2, "n_heads": 2, "num_layers": 1,
        "hidden_dropout_prob": 0.5, "attn_dropout_prob": 0.5, "dropout_prob": 0.5,
        "hidden_act": "gelu", "layer_norm_eps": 1e-12, "initializer_range": 0.02, "mask_ratio": 0.2,
        "loss_type": "CE", "train_neg_sample_args": None,
        "epochs": a.epochs, "train_batch_size": 256, "eval_batch_size": 512, "learner": "adam",
        "learning_rate": 1e-3, "stopping_step": a.patience, "eval_step": 1,
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full", "group_by": "user"},
        "metrics": ["Hit", "NDCG", "MRR"], "topk": [10, 20], "valid_metric": "NDCG@10",
        "device": "cpu", "use_gpu": False, "show_progress": False, "checkpoint_dir": os.path.join(a.work, "saved"),
    }
    # RecBole writes log/ and log_tensorboard/ into the working directory: keep them in the work folder.
    os.chdir(a.work)
    t0 = time.perf_counter()
    res = run_recbole(model=a.model, config_dict=cfg)
    wall = time.perf_counter() - t0
    record = {"model": a.model, "data": a.data, "threads": a.threads, "torch": torch.__version__,
              "wall_seconds": wall, "best_valid": dict(res["best_valid_result"]),
              "test": dict(res["test_result"])}
    print("record " + json.dumps(record), flush=True)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(record, f, indent=1)


if __name__ == "__main__":
    main()
