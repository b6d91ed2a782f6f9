#!/usr/bin/env python3
"""Summarises `metarec transfer` JSON files (any number, merged by fraction,
backbone and method): test HR@10 / NDCG@10 and validation NDCG@10 (the
selection metric) mean +- std over seeds, wall and
pre-training seconds, mean source similarities and weights over the last
third of the meta iterations, and codebook usage per domain (perplexity,
fraction of codes used, code-tuple collision rate), as Markdown.

Usage: summarize_transfer.py transfer.json [transfer.json ...]
"""
import json
import os
import statistics as st
import sys
from collections import defaultdict

ORDER = ["target-only", "joint", "fomaml", "reptile", "rescaled"]
LABEL = {"rescaled": "MetaRec", "fomaml": "FO-MAML", "joint": "joint pre-train + fine-tune",
         "target-only": "target-only", "reptile": "Reptile"}


def mean_std(xs):
    return (st.mean(xs), st.stdev(xs) if len(xs) > 1 else 0.0)


def fmt(xs, digits=4):
    m, s = mean_std(xs)
    return f"{m:.{digits}f} +- {s:.{digits}f}"


def quantizer_of(cfg):
    """The quantizer of a transfer config: "vq" plus "+residual" / "+skip" when VQ keeps per-domain
    residuals / adds the item's own embedding ("+stopgrad": no straight-through gradient into the item table),
    and the VQ loss weight when it is not 1."""
    q = cfg.get("quantizer", "vq")
    if q != "vq":
        return q
    vq = cfg.get("model", {}).get("quantizer", {})
    return (q + ("+residual" if vq.get("residual") else "") + ("+skip" if vq.get("skip") else "")
            + ("+stopgrad" if vq.get("stop_table_gradient") else "")
            + ("+input-only" if vq.get("input_only") else "")
            + (f" lw{vq['loss_weight']:g}" if vq.get("loss_weight", 1.0) != 1.0 else ""))


def variant_of(cfg):
    """What sets a run apart from the headline's methods: other sources (named), inner lr 0 (the
    sources cannot move the shared parameters: a source-free control of the meta schedule), and
    --meta-keep-best. Empty for the headline settings."""
    meta = cfg.get("meta", {})
    names = sorted(os.path.splitext(os.path.basename(s))[0] for s in cfg.get("sources", []))
    parts = []
    if names and names != ["Sports_and_Outdoors", "Toys_and_Games"]:
        parts.append("sources " + "+".join(names))
    if meta.get("inner_lr", 0.1) == 0:
        parts.append("inner lr 0")
    if meta.get("keep_best"):
        parts.append("keep-best")
    return ", ".join(parts)


def label(k):
    """The method of a summary key as printed, with its variant in brackets."""
    return LABEL.get(k[2], k[2]) + (f" ({k[5]})" if k[5] else "")


def with_field(keys, groups, field):
    """(key, runs) for each setting whose runs logged `field` (older JSONs may lack it)."""
    for k in keys:
        rs = [r for r in groups[k] if r.get(field)]
        if rs:
            yield k, rs


def main(paths):
    groups = defaultdict(list)  # (fraction, backbone, method, source_weight) -> runs
    for p in paths:
        rec = json.load(open(p))
        c = rec["config"]
        lam = c.get("meta", {}).get("source_weight", 0.0)
        for r in rec["runs"]:
            m = r["method"]
            variant = variant_of(c) if m != "target-only" else ""
            key = (c["target_fraction"], c["backbone"], m, lam if m in ("rescaled", "fomaml") else None, quantizer_of(c),
                   variant)
            groups[key].append(r)
    keys = sorted(groups, key=lambda k: (k[1], k[4], k[0], ORDER.index(k[2]) if k[2] in ORDER else 99, k[3] or 0, k[5]))
    print("| fraction | backbone | quantizer | method | lambda | seeds | HR@10 | NDCG@10 | valid NDCG@10 | wall s "
          "| pre-train s | best epoch |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for k in keys:
        rs = groups[k]
        seeds = ",".join(str(r["seed"]) for r in rs)
        print(f"| {k[0]} | {k[1]} | {k[4]} | {label(k)} | {'' if k[3] is None else k[3]} | {seeds} "
              f"| {fmt([r['test']['HR@10'] for r in rs])} | {fmt([r['test']['NDCG@10'] for r in rs])} "
              f"| {fmt([r['valid']['NDCG@10'] for r in rs])} "
              f"| {st.mean(r['wall_seconds'] for r in rs):.0f} | {st.mean(r.get('pretrain_seconds', 0) for r in rs):.0f} "
              f"| {', '.join(str(r['best_epoch']) for r in rs)} |")
    print()
    print("Meta iterations (last third, mean over iterations and seeds): similarity s_i and weight w_i per source.")
    print()
    for k, rs in with_field(keys, groups, "iterations"):
        names = rs[0]["sources"]
        sims, ws = defaultdict(list), defaultdict(list)
        for r in rs:
            it = r["iterations"]
            for x in it[len(it) * 2 // 3:]:
                for i, n in enumerate(names):
                    sims[n].append(x["similarity"][i])
                    ws[n].append(x["weight"][i])
        parts = [f"{n}: s {st.mean(sims[n]):+.3f}, w {st.mean(ws[n]):.3f}" for n in names]
        print(f"- {k[0]} {k[1]} {k[4]} {label(k)} (lambda {k[3]}): " + "; ".join(parts))
    print()
    print("Codebook usage at the end of each run (mean over seeds): perplexity / fraction of codes used / collision rate.")
    print()
    for k, rs in with_field(keys, groups, "codebook_usage"):
        doms = sorted({d for r in rs for d in r["codebook_usage"]})
        parts = []
        for d in doms:
            us = [r["codebook_usage"][d] for r in rs if d in r["codebook_usage"]]
            parts.append(f"{d} {st.mean(u['perplexity'] for u in us):.1f} / {st.mean(u['used_fraction'] for u in us):.2f}"
                         f" / {st.mean(u['collision_rate'] for u in us):.3f}")
        print(f"- {k[0]} {k[1]} {k[4]} {label(k)}: " + "; ".join(parts))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
