#!/usr/bin/env python3
"""Markdown table of run_loss_speed.sh's output: summarize_loss_speed.py DIR."""
import glob, json, os, sys

root = sys.argv[1]
print("| loss | metarec seq/s | PyTorch wheel seq/s | ratio | threads | torch |")
print("|---|---|---|---|---|---|")
for d in sorted(glob.glob(os.path.join(root, "ours_*"))):
    if not os.path.isdir(d):
        continue
    loss = os.path.basename(d)[len("ours_"):]
    ours = json.load(open(os.path.join(d, "result.json")))
    try:
        wheel = json.load(open(os.path.join(root, f"wheel_{loss}.json")))
    except OSError:
        wheel = None
    a = ours["timing"]["train_sequences_per_s"]
    b = wheel["timing"]["train_sequences_per_s"] if wheel else None
    print(f"| {loss} | {a:,.0f} | {'-' if b is None else f'{b:,.0f}'} | {'-' if not b else f'{a / b:.1f}x'} "
          f"| {ours['config'].get('threads', '-')} | {wheel['config'].get('torch', '-') if wheel else '-'} |")
