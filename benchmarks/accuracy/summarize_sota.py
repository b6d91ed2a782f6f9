#!/usr/bin/env python3
"""Mean +- std over seeds of run_sota.sh's runs: summarize_sota.py DIR [--json OUT [--merge]].

Groups DIR/<name>_s<seed>/ by name; 'masked' is result.json's test metrics
(the protocol the run trained and selected with), 'unmasked' the same
checkpoint's evaluate_unmasked.json. --merge keeps OUT's groups that DIR no longer
holds (runs/ is not tracked: a fresh checkout has only the runs made since)."""
import glob, json, os, re, statistics, sys

root = sys.argv[1]
groups = {}
for d in sorted(glob.glob(os.path.join(root, "*_s*"))):
    m = re.match(r"(.+)_s(\d+)$", os.path.basename(d))
    if not m or not os.path.isfile(os.path.join(d, "result.json")):
        continue
    r = json.load(open(os.path.join(d, "result.json")))
    u = os.path.join(d, "evaluate_unmasked.json")
    un = json.load(open(u))["test"] if os.path.isfile(u) and os.path.getsize(u) else None
    groups.setdefault(m.group(1), []).append(dict(seed=int(m.group(2)), masked=r["test"], unmasked=un,
                                                  best_epoch=r.get("best_epoch"), protocol=r.get("protocol"),
                                                  train_s=r.get("timing", {}).get("train_seconds")))


def ms(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None, None
    return statistics.mean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def cell(xs):
    m, s = ms(xs)
    return "-" if m is None else f"{m:.4f} +- {s:.4f}"


summary = {}
print("| run | seeds | masked HR@10 | masked NDCG@10 | unmasked HR@10 | unmasked NDCG@10 | best epochs |")
print("|---|---|---|---|---|---|---|")
for name, runs in groups.items():
    col = lambda proto, k: [r[proto][k] if r[proto] else None for r in runs]
    print(f"| {name} | {','.join(str(r['seed']) for r in runs)} | {cell(col('masked', 'HR@10'))} | "
          f"{cell(col('masked', 'NDCG@10'))} | {cell(col('unmasked', 'HR@10'))} | {cell(col('unmasked', 'NDCG@10'))} | "
          f"{','.join(str(r['best_epoch']) for r in runs)} |")
    summary[name] = dict(runs=runs, **{f"{p}_{k}_mean_std": ms(col(p, k)) for p in ("masked", "unmasked")
                                       for k in ("HR@10", "NDCG@10")})
if "--json" in sys.argv:
    out = sys.argv[sys.argv.index("--json") + 1]
    if "--merge" in sys.argv and os.path.isfile(out):
        summary = json.load(open(out)) | summary
    json.dump(summary, open(out, "w"), indent=1)
