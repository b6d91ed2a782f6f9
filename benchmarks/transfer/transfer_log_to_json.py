#!/usr/bin/env python3
"""Rebuilds a transfer.json (runs + summary, no per-iteration weights) from the
stderr log of `metarec transfer`, for runs stopped before the tool wrote its
JSON (tools older than the per-run rewrite). Std is the sample std, as in the tool.

Usage: transfer_log_to_json.py LOG OUT.json
"""
import json
import re
import statistics
import sys

HEAD = re.compile(r"^== (\S+) seed (\d+): .* -> (\S+) \((\d+) of (\d+) target users train\)")
USAGE = re.compile(r"codebook usage (\S+): perplexity ([\d.]+), codes used ([\d.]+), collisions ([\d.]+)")
TEST = re.compile(r"^\s+test (.*)\(n=\d+\)\s+\((\d+) s\)")


def main(src, dst):
    config, runs, cur = None, [], None
    for line in open(src):
        if line.startswith("effective config: "):
            config = json.loads(line[len("effective config: "):])
        elif m := HEAD.match(line):
            cur = {"method": m.group(1), "seed": int(m.group(2)), "target": m.group(3),
                   "target_train_users": int(m.group(4)), "codebook_usage": {}}
        elif cur and (m := USAGE.search(line)):
            cur["codebook_usage"][m.group(1)] = {"perplexity": float(m.group(2)), "used_fraction": float(m.group(3)),
                                                "collision_rate": float(m.group(4))}
        elif cur and (m := TEST.match(line)):
            cur["test"] = {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
            cur["wall_seconds"] = float(m.group(2))
            runs.append(cur)
            cur = None
    summary = {}
    for method in dict.fromkeys(r["method"] for r in runs):
        rs = [r for r in runs if r["method"] == method]
        summary[method] = {}
        for key in ["HR@10", "NDCG@10", "HR@20", "NDCG@20", "MRR"]:
            v = [r["test"][key] for r in rs]
            summary[method][key] = {"mean": statistics.fmean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0}
        w = [r["wall_seconds"] for r in rs]
        summary[method]["seconds"] = {"mean": statistics.fmean(w), "std": statistics.stdev(w) if len(w) > 1 else 0.0}
        for r in rs:
            r["iterations"] = []
    config["seeds"] = sorted({r["seed"] for r in runs})
    config["methods"] = list(summary)
    with open(dst, "w") as f:
        json.dump({"config": config, "finished": True, "rebuilt_from_log": src.split("/")[-1],
                   "summary": summary, "runs": runs}, f, indent=1)
    print(f"{dst}: {len(runs)} runs, methods {list(summary)}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
