#!/usr/bin/env python3
"""Tabulates benchmarks/missrec/run_missrec_scientific.sh output (Markdown on stdout).

Usage: summarize_missrec.py DIR
"""
import json
import os
import statistics
import sys

RUNS = [("sasrec_ids", "SASRec (IDs only)"),
        ("scratch_inductive", "MISSRec from scratch, inductive (text only)"),
        ("scratch_transductive", "MISSRec from scratch, transductive (text + IDs)"),
        ("pre_inductive_peft", "MISSRec pre-trained on Games, inductive, efficient"),
        ("pre_inductive_full", "MISSRec pre-trained on Games, inductive, full"),
        ("pre_transductive_peft", "MISSRec pre-trained on Games, transductive, efficient"),
        ("pre_transductive_full", "MISSRec pre-trained on Games, transductive, full"),
        ("pre_fresh_adaptors_inductive_full", "MISSRec pre-trained on Games, adaptors not carried (`--fresh-adaptors`), inductive, full"),
        ("pre_supervised_inductive_full", "MISSRec trained on Games with full-softmax CE (`finetune`), inductive, full")]


def main(root):
    print("| run | Recall@10 | NDCG@10 | Recall@50 | NDCG@50 | best epoch / run | train s/epoch |")
    print("|---|---|---|---|---|---|---|")
    for name, label in RUNS:
        path = os.path.join(root, name, "result.json")
        if not os.path.exists(path):
            continue
        r = json.load(open(path))
        t = r["test"]
        sec = r["timing"]["train_seconds"] / max(1, r["epochs_run"])
        print(f"| {label} | {t['HR@10']:.4f} | {t['NDCG@10']:.4f} | {t['HR@50']:.4f} | {t['NDCG@50']:.4f} "
              f"| {r['best_epoch']} / {r['epochs_run']} | {sec:.1f} |")
    print("| published MISSRec, IDs, no pre-training (CLIP text+image) | .1282 | .0711 | .2376 | .0946 | | |")
    print("| published MISSRec, IDs + pre-training (CLIP text+image) | .1360 | .0753 | .2431 | .0983 | | |")
    seeds(root)
    pre = os.path.join(root, "pretrain_games", "result.json")
    if os.path.exists(pre):
        r = json.load(open(pre))
        h = r.get("history", [])
        if h:
            sec = [e["seconds"] for e in h]
            seq = [e["sequences_per_s"] for e in h]
            print(f"\nPre-training on Games-6k: {len(h)} epochs, {sum(sec) / len(sec):.1f} s/epoch "
                  f"(min {min(sec):.1f}, max {max(sec):.1f}), {sum(seq) / len(seq):.0f} seq/s, "
                  f"loss {h[0]['loss']:.4f} -> {h[-1]['loss']:.4f}")
            for e in h:  # `metarec pretrain --eval-every`: full-ranking validation on the source itself
                for dom, m in e.get("valid", {}).items():
                    print(f"- epoch {e['epoch']}: valid {dom} HR@10 {m['HR@10']:.4f} NDCG@10 {m['NDCG@10']:.4f}")
        else:
            print(f"\nPre-training on Games-6k: {json.dumps(r.get('timing', {}))}")


def seeds(root):
    """Runs repeated with other fine-tuning seeds in ROOT/seedN/RUN (the root's own run is seed 1)."""
    dirs = sorted(d for d in os.listdir(root) if d.startswith("seed") and os.path.isdir(os.path.join(root, d)))
    if not dirs:
        return
    print("\nFine-tuning seeds (seed 1 = the run above; test Recall@10 / NDCG@10, mean +- std over seeds):\n")
    print("| run | per seed | mean Recall@10 | mean NDCG@10 |")
    print("|---|---|---|---|")
    for name, label in RUNS:
        paths = [os.path.join(root, name, "result.json")] + [os.path.join(root, d, name, "result.json") for d in dirs]
        tests = [json.load(open(p))["test"] for p in paths if os.path.exists(p)]
        if len(tests) < 2:
            continue
        hr = [t["HR@10"] for t in tests]
        nd = [t["NDCG@10"] for t in tests]
        per = ", ".join(f"{h:.4f} / {n:.4f}" for h, n in zip(hr, nd))
        print(f"| {label} | {per} | {statistics.mean(hr):.4f} +- {statistics.stdev(hr):.4f} "
              f"| {statistics.mean(nd):.4f} +- {statistics.stdev(nd):.4f} |")


if __name__ == "__main__":
    main(sys.argv[1])
