#!/usr/bin/env python3
"""Draws the headline transfer experiment (SPEC 3.3) from several transfer.json
files (one per target fraction) and writes a Markdown table.

Usage: plot_headline.py OUT.png OUT.md transfer_f0.1.json transfer_f0.25.json ...
(files with the same fraction, backbone and quantizer are merged; summaries recomputed from the runs)
Top: test NDCG@10 and HR@10 (mean +- std over seeds) per method and fraction.
Bottom: MetaRec's per-source weights over meta iterations (every seed, first fraction).
"""
import json
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from summarize_transfer import quantizer_of  # noqa: E402  (one labelling of settings for table and figure)

ORDER = ["target-only", "joint", "fomaml", "reptile", "rescaled"]
LABEL = {"rescaled": "MetaRec", "fomaml": "FO-MAML", "joint": "joint", "target-only": "target-only",
         "reptile": "Reptile"}


def mean_std(xs):
    m = statistics.mean(xs)
    return {"mean": m, "std": statistics.stdev(xs) if len(xs) > 1 else 0.0}


def load(paths):
    """One record per (fraction, backbone, quantizer): files of the same setting
    (methods or seeds run as separate invocations) are merged, and the summary
    is recomputed from the merged runs (mean, sample std over seeds)."""
    merged = {}
    for p in paths:
        r = json.load(open(p))
        c = r["config"]
        key = (c["target_fraction"], c["backbone"], quantizer_of(c))
        if key in merged:
            merged[key]["runs"].extend(r["runs"])
        else:
            merged[key] = {"config": c, "runs": list(r["runs"])}
    for rec in merged.values():
        by_method = {}
        for run in rec["runs"]:
            by_method.setdefault(run["method"], []).append(run)
        rec["summary"] = {m: {**{k: mean_std([run["test"][k] for run in rs]) for k in ("HR@10", "NDCG@10")},
                              "seconds": mean_std([run["wall_seconds"] for run in rs]), "seeds": len(rs)}
                          for m, rs in by_method.items()}
    return [merged[k] for k in sorted(merged, key=lambda k: (k[1] != "sasrec", k[2], k[0]))]


def label(r):
    c = r["config"]
    return f"{c['target_fraction']} {c['backbone']}\n{quantizer_of(c)}"


def table(recs):
    lines = ["| fraction | backbone | quantizer | method | HR@10 | NDCG@10 | wall s (mean) | seeds |",
             "|---|---|---|---|---|---|---|---|"]
    for r in recs:
        s = r["summary"]
        for m in [m for m in ORDER if m in s]:
            hr, nd, sec = s[m]["HR@10"], s[m]["NDCG@10"], s[m]["seconds"]
            seeds = s[m]["seeds"]
            lines.append(f"| {r['config']['target_fraction']} | {r['config']['backbone']} | {quantizer_of(r['config'])} | {LABEL[m]} "
                         f"| {hr['mean']:.4f} +- {hr['std']:.4f} | {nd['mean']:.4f} +- {nd['std']:.4f} "
                         f"| {sec['mean']:.0f} | {seeds} |")
    return "\n".join(lines) + "\n"


def main(png, md, paths):
    recs = load(paths)
    with open(md, "w") as f:
        f.write(table(recs))
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    for ax, metric in zip(axes[0], ["NDCG@10", "HR@10"]):
        methods = [m for m in ORDER if any(m in r["summary"] for r in recs)]
        width = 0.8 / max(1, len(methods))
        for j, m in enumerate(methods):
            xs, ys, es = [], [], []
            for i, r in enumerate(recs):
                if m in r["summary"]:
                    xs.append(i + (j - (len(methods) - 1) / 2) * width)
                    ys.append(r["summary"][m][metric]["mean"])
                    es.append(r["summary"][m][metric]["std"])
            ax.bar(xs, ys, width, yerr=es, capsize=2, label=LABEL[m])
        ax.set_xticks(range(len(recs)))
        ax.set_xticklabels([label(r) for r in recs], fontsize=8)
        ax.set_xlabel("target fraction, backbone, quantizer")
        ax.set_title(f"Sports + Toys -> Beauty: test {metric}")
        ax.legend(fontsize=8)
    # Weights come from the first setting whose MetaRec runs logged them (JSONs
    # rebuilt from a log by transfer_log_to_json.py have no per-iteration record).
    logged = [r for r in recs if any(run["method"] == "rescaled" and run.get("iterations") for run in r["runs"])]
    shown = logged[0] if logged else recs[0]
    runs = [run for run in shown["runs"] if run["method"] == "rescaled" and run.get("iterations")]
    source_names = [s.rsplit("/", 1)[-1].split(".")[0] for s in shown["config"].get("sources", [])]
    for ax, which in zip(axes[1], ["weight", "similarity"]):
        for run in runs:
            its = [it["iteration"] for it in run["iterations"]]
            for i, name in enumerate(run.get("sources", source_names)):
                ax.plot(its, [it[which][i] for it in run["iterations"]], lw=0.8,
                        label=f"{name.split('_')[0]} seed {run['seed']}")
        ax.set_xlabel("meta iteration")
        ax.set_ylabel("w_i = softmax(s/T)" if which == "weight" else "s_i = cos(g_i, G_i)")
        ax.set_title(f"MetaRec per-source {which}, {label(shown).replace(chr(10), ' ')}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    print(f"wrote {png} and {md}")


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
