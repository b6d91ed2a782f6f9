#!/usr/bin/env python3
"""Draws the transfer table and the per-source meta weights from transfer.json.

Usage: plot_transfer.py transfer.json out.png
Left: test HR@10 / NDCG@10 per method (mean +- std over seeds).
Right: MetaRec's per-source weights w_i over meta iterations (first seed).
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src, dst):
    with open(src) as f:
        rec = json.load(f)
    summary = rec["summary"]
    methods = list(summary)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.38
    for j, metric in enumerate(["HR@10", "NDCG@10"]):
        means = [summary[m][metric]["mean"] for m in methods]
        stds = [summary[m][metric]["std"] for m in methods]
        xs = [i + (j - 0.5) * width for i in range(len(methods))]
        ax1.bar(xs, means, width, yerr=stds, capsize=3, label=metric)
    ax1.set_xticks(range(len(methods)))
    ax1.set_xticklabels(methods)
    cfg = rec["config"]
    target = cfg["target"].split("/")[-1]
    ax1.set_title(f"test on {target}, target fraction {cfg['target_fraction']}")
    ax1.legend()
    runs = [r for r in rec["runs"] if r["iterations"] and r["iterations"][0].get("similarity")]
    if runs:
        run = runs[0]
        its = [it["iteration"] for it in run["iterations"]]
        for i, name in enumerate(run["sources"]):
            ax2.plot(its, [it["weight"][i] for it in run["iterations"]], label=f"w[{name}]")
        ax2.set_xlabel("meta iteration")
        ax2.set_ylabel("source weight softmax(s/T)")
        ax2.set_title(f"{run['method']} seed {run['seed']}: per-source weights")
        ax2.legend()
    else:
        ax2.axis("off")
    fig.tight_layout()
    fig.savefig(dst, dpi=110)
    print(f"wrote {dst}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
