#!/usr/bin/env python3
"""Tabulates benchmarks/speed/run_backbone_speed.sh output (Markdown on stdout).

Usage: summarize_speed.py DIR
"""
import glob
import json
import os
import re
import sys


def peak_mib(path):
    try:
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(path).read())
        return int(m.group(1)) / 1024 if m else None
    except OSError:
        return None


def load(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return None


def fmt(x, nd=0):
    return "-" if x is None else f"{x:,.{nd}f}"


def ratio(a, b):
    return "-" if not a or not b else f"{a / b:.1f}x"


def sasrec_epoch_flops(rec):
    """Arithmetic of one SASRec training epoch (forward + backward = 3x forward):
    the full-catalogue CE GEMM (positions x items x d) plus the Transformer blocks."""
    m = rec["config"]["model"]
    blocks = m.get("backbone", m)  # the backbone's own settings (older records: flat)
    d, inner, layers = m["d"], blocks["inner"], blocks["layers"]
    ds = rec["dataset"]
    # Leave-one-out: a user with n items trains on n - 2, i.e. n - 3 next-item targets.
    positions, items = ds["interactions"] - 3 * ds["users"], ds["items"]
    per_pos = 2 * (items + 1) * d + layers * 2 * (4 * d * d + 2 * d * inner)
    return 3 * per_pos * positions


def main(root):
    rows = []
    for f in sorted(glob.glob(os.path.join(root, "ours_*_t*"))):
        if not os.path.isdir(f):
            continue
        m = re.match(r"ours_(\w+)_t(\d+)$", os.path.basename(f))
        b, t = m.group(1), int(m.group(2))
        ours = load(os.path.join(f, "result.json"))
        torch = load(os.path.join(root, f"torch_{b}_t{t}.json"))
        wheel = load(os.path.join(root, f"wheel_{b}_t{t}.json"))
        rows.append((t, b, ours, torch, wheel, peak_mib(f + ".time"),
                     peak_mib(os.path.join(root, f"torch_{b}_t{t}.time")),
                     peak_mib(os.path.join(root, f"wheel_{b}_t{t}.time"))))
    print("PyTorch A = Debian python3-torch (OpenBLAS); PyTorch B = official PyPI wheel (MKL + oneDNN).\n")
    print("| threads | backbone | train seq/s ours | A | B | ours/A | ours/B | eval users/s ours | A | B "
          "| ours/A | ours/B | peak RSS MiB ours | A | B |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for t, b, ours, torch, wheel, mo, mt, mw in sorted(rows, key=lambda r: (r[0], r[1])):
        to = ours["timing"] if ours else {}
        ta = torch["timing"] if torch else {}
        tb = wheel["timing"] if wheel else {}
        tr, ev = "train_sequences_per_s", "eval_users_per_s"
        print(f"| {t} | {b} | {fmt(to.get(tr))} | {fmt(ta.get(tr))} | {fmt(tb.get(tr))} "
              f"| {ratio(to.get(tr), ta.get(tr))} | {ratio(to.get(tr), tb.get(tr))} "
              f"| {fmt(to.get(ev))} | {fmt(ta.get(ev))} | {fmt(tb.get(ev))} "
              f"| {ratio(to.get(ev), ta.get(ev))} | {ratio(to.get(ev), tb.get(ev))} | {fmt(mo)} | {fmt(mt)} | {fmt(mw)} |")
    for t, b, ours, *_ in sorted(rows, key=lambda r: (r[0], r[1])):
        if b == "sasrec" and ours:
            flops = sasrec_epoch_flops(ours)
            if flops:
                sec = ours["timing"]["train_seconds"] / ours["epochs_run"]
                print(f"\nSASRec, {t} thread(s): ~{flops / 1e9:.0f} GFLOP per epoch in {sec:.1f} s = "
                      f"{flops / sec / 1e9:.0f} GFLOP/s sustained over the whole epoch.")
    scale = []
    for name in ["scale_items_x1", "scale_items_x2", "scale_items_x4", "scale_len_100", "scale_len_200"]:
        rec = load(os.path.join(root, name, "result.json"))
        if rec:
            scale.append((name, rec["timing"]["train_seconds"] / rec["epochs_run"],
                          rec["timing"]["eval_users_per_s"], peak_mib(os.path.join(root, name + ".time"))))
    if scale:
        print("\n| SASRec run | train s/epoch | eval users/s | peak RSS MiB |")
        print("|---|---|---|---|")
        for name, sec, ev, mem in scale:
            label = name.replace("scale_items_x1", "items x1, max_len 50").replace("scale_items_", "items ") \
                        .replace("scale_len_", "max_len ")
            print(f"| {label} | {sec:.2f} | {fmt(ev)} | {fmt(mem)} |")


if __name__ == "__main__":
    main(sys.argv[1])
