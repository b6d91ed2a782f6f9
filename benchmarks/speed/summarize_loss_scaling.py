#!/usr/bin/env python3
"""Table of run_loss_scaling.sh: training seconds of one epoch per loss and
catalogue size, and each loss's growth from x1. Writes DIR/summary.md and
DIR/summary.json.

Usage: summarize_loss_scaling.py DIR
"""
import json
import pathlib
import re
import sys


def main(folder):
    root = pathlib.Path(folder)
    runs = {}
    for f in sorted(root.glob("x*_*/result.json")):
        scale, loss = re.match(r"x(\d+)_(.+)", f.parent.name).groups()
        r = json.loads(f.read_text())
        runs.setdefault(loss, {})[int(scale)] = {
            "items": r["dataset"]["items"],
            "train_seconds": round(r["timing"]["train_seconds"], 2),
            "sequences_per_s": round(r["timing"]["train_sequences_per_s"], 1),
        }
    scales = sorted({s for v in runs.values() for s in v})
    items = {s: next(v[s]["items"] for v in runs.values() if s in v) for s in scales}
    # Replicas of users saturate (a replica only holds the items its users saw): the catalogue grows less than x.
    head = ("| loss | " + " | ".join(f"x{s}: {items[s]:,} items ({items[s] / items[scales[0]]:.1f}x)" for s in scales)
            + f" | time x{scales[-1]} / x{scales[0]} |")
    lines = [head, "|" + "---|" * (len(scales) + 2)]
    summary = {"items": {f"x{s}": items[s] for s in scales}, "losses": {}}
    for loss, v in runs.items():
        cells = [f"{v[s]['train_seconds']:.1f} s" if s in v else "-" for s in scales]
        ratio = v[scales[-1]]["train_seconds"] / v[scales[0]]["train_seconds"] if scales[0] in v and scales[-1] in v else None
        lines.append(f"| {loss} | " + " | ".join(cells) + (f" | {ratio:.2f}x |" if ratio else " | - |"))
        summary["losses"][loss] = {"train_seconds": {f"x{s}": v[s]["train_seconds"] for s in v},
                                   "growth": round(ratio, 2) if ratio else None}
    text = "\n".join(lines) + "\n"
    (root / "summary.md").write_text(text)
    (root / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(text)


if __name__ == "__main__":
    main(sys.argv[1])
