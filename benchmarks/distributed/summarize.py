#!/usr/bin/env python3
"""Markdown table of run_beauty.sh's result.json files: summarize.py OUTDIR."""
import json, sys, pathlib

root = pathlib.Path(sys.argv[1])
rows = {}
for name in ("ce_1rank", "ce_2ranks", "bce_1rank", "bce_2ranks"):
    f = root / name / "result.json"
    if f.exists():
        rows[name] = json.loads(f.read_text())
print("| run | ranks | train wall s | seq/s (wall) | wall s/step | CPU s/step (rank 0) | valid NDCG@10 | test NDCG@10 | test HR@10 | all-reduce B/step | rows sent B/step | rows received B/step |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for name, r in rows.items():
    d = r.get("distributed", {})
    st = r["step_timing"]
    print(f"| {name} | {d.get('ranks', 1)} | {r['timing']['train_seconds']:.1f} | {r['timing']['train_sequences_per_s']:.0f} "
          f"| {st['wall_seconds_per_step']:.4f} | {st['cpu_seconds_per_step']:.4f} | {r['valid']['NDCG@10']:.4f} "
          f"| {r['test']['NDCG@10']:.4f} | {r['test']['HR@10']:.4f} | {d.get('dense_payload_bytes_per_step', 0):.0f} "
          f"| {d.get('sparse_sent_bytes_per_step', 0):.0f} | {d.get('sparse_received_bytes_per_step', 0):.0f} |")
for loss in ("ce", "bce"):
    a, b = rows.get(f"{loss}_1rank"), rows.get(f"{loss}_2ranks")
    if a and b:
        wall = b["timing"]["train_sequences_per_s"] / a["timing"]["train_sequences_per_s"]
        cpu = a["step_timing"]["cpu_seconds_per_step"] / b["step_timing"]["cpu_seconds_per_step"]
        print(f"{loss}: throughput ratio 2 ranks / 1 rank: {wall:.2f}x by wall time, {cpu:.2f}x by CPU time per step")
