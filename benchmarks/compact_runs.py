#!/usr/bin/env python3
"""Condenses one benchmark family's raw output (benchmarks/<family>/runs/, not tracked) into the
compact JSON that is tracked beside its README (benchmarks/<family>/results.json), so that every
measured figure a README quotes survives without the per-seed logs and per-run JSON.

Usage: compact_runs.py RUNS_DIR OUT.json [--merge]

--merge keeps OUT.json's records for files that RUNS_DIR no longer holds (raw output is not tracked,
so a fresh checkout has only the runs made since): new files are added, rerun ones replaced.

One record per raw file, keyed by its path under RUNS_DIR, one record per line:
- `metarec transfer` JSON (transfer.json): the setting (fraction, backbone, quantizer, meta flags,
  sources) and per run method, seed, test / valid metrics, best epoch, wall and pre-training seconds,
  best meta iteration, codebook usage, and the mean similarity s_i / weight w_i per source over the
  first 10, 10-50, 50-100, 100-200 and the last third of the meta iterations;
- `metarec train|finetune|pretrain` result.json and benchmarks/torch_ref/train.py JSON: test / valid
  metrics, best epoch, epochs run, timing, the main config, and per epoch the validation NDCG@10 /
  HR@10 and the seconds (6 significant digits);
- other JSON (core_bench.json, RecBole, `metarec evaluate`): kept whole, minus per-step arrays;
- `/usr/bin/time -v` files (.time): wall seconds, user / system seconds, peak RSS in MiB;
- logs (.log, .txt) without a JSON of their own next to them: the lines that carry figures
  (metrics, throughput, timing), at most 80 per file.
"""
import json
import os
import re
import statistics as st
import sys

METRICS = ("HR@5", "HR@10", "HR@20", "HR@50", "NDCG@5", "NDCG@10", "NDCG@20", "NDCG@50", "MRR")


def r4(x):
    """Six significant digits: every figure the READMEs quote (to at most 5 digits) survives, and short."""
    if isinstance(x, float):
        return float(f"{x:.6g}")
    if isinstance(x, dict):
        return {k: r4(v) for k, v in x.items()}
    if isinstance(x, list):
        return [r4(v) for v in x]
    return x


def metrics(d):
    return {k: d[k] for k in METRICS if k in d} if isinstance(d, dict) else d


def seg_means(its, names, a, b):
    seg = its[a:b]
    if not seg or not names:
        return None
    return {n: {"s": st.mean(x["similarity"][i] for x in seg), "w": st.mean(x["weight"][i] for x in seg)}
            for i, n in enumerate(names)} | {"query_loss": st.mean(x.get("query_loss", 0.0) for x in seg)}


def compact_transfer(j):
    c = j["config"]
    meta = dict(c.get("meta", {}))
    # Records since the policies own their settings keep each learner's under meta.learners.<name>
    # and the backbone's under model.backbone; older records are flat.
    for name, lc in meta.pop("learners", {}).items():
        meta.update({("joint_epochs" if k == "epochs" and name == "joint" else k): v for k, v in lc.items()})
    model = c.get("model", {})
    out = {"kind": "transfer", "target_fraction": c.get("target_fraction"), "backbone": c.get("backbone"),
           "quantizer": c.get("quantizer"), "quantizer_config": model.get("quantizer"),
           "layers": (model.get("backbone") or {}).get("layers", model.get("layers")),
           "meta": {k: meta[k] for k in ("iterations", "inner_lr", "source_weight", "temperature", "keep_best",
                                         "eval_every", "joint_epochs") if k in meta},
           "finetune": {k: c.get("finetune", {}).get(k) for k in ("epochs", "eval_every", "patience")},
           "sources": [os.path.basename(s) for s in c.get("sources", [])], "threads": c.get("threads"),
           "finished": j.get("finished"), "runs": []}
    for r in j.get("runs", []):
        rec = {k: r[k] for k in ("method", "seed", "best_epoch", "wall_seconds", "pretrain_seconds",
                                 "best_meta_iteration", "meta_best_iteration") if k in r}
        rec["test"], rec["valid"] = metrics(r.get("test")), metrics(r.get("valid"))
        if r.get("codebook_usage"):
            rec["codebook_usage"] = r["codebook_usage"]
        its, names = r.get("iterations") or [], [os.path.basename(s) for s in r.get("sources") or []]
        if its and names and "similarity" in its[0]:
            n = len(its)
            rec["similarity_weight"] = {f"{a + 1}-{b}": seg_means(its, names, a, b)
                                        for a, b in ((0, 10), (10, 50), (50, 100), (100, 200)) if a < n}
            rec["similarity_weight"]["last_third"] = seg_means(its, names, n * 2 // 3, n)
            rec["meta_iterations_run"] = n
        if r.get("meta_valid"):
            rec["meta_valid"] = [{k: (metrics(v) if isinstance(v, dict) else v) for k, v in x.items()}
                                 if isinstance(x, dict) else x for x in r["meta_valid"]]
        out["runs"].append(rec)
    return out


def compact_trained(j):
    out = {"kind": "trained"}
    for k in ("best_epoch", "epochs_run", "early_stopped", "finished", "timing", "dataset", "datasets", "carried"):
        if k in j:
            out[k] = j[k]
    small = lambda d: {k: v for k, v in d.items() if k in ("name", "users", "items", "interactions", "interests")}
    if isinstance(out.get("dataset"), dict):
        out["dataset"] = small(out["dataset"])
    if isinstance(out.get("datasets"), list):
        out["datasets"] = [small(d) for d in out["datasets"] if isinstance(d, dict)]
    c = j.get("config", {})
    keep = ("command", "backbone", "model", "loss", "mode", "from", "threads", "quantizer", "seed", "epochs",
            "patience", "torch", "blas", "n_users", "n_items")
    out["config"] = {k: c[k] for k in keep if k in c}
    if isinstance(c.get("model"), dict):
        out["config"]["model"] = {k: v for k, v in c["model"].items()
                                  if k in ("d", "layers", "heads", "transductive", "adaptor", "max_len",
                                           "prefix_samples", "feature_dims", "interest_ratio")}
    if isinstance(c.get("trainer"), dict):
        out["config"]["trainer"] = {k: c["trainer"].get(k) for k in ("loss", "epochs", "patience", "seed", "lr",
                                                                     "batch_size", "eval_every", "mask_history")}
    if isinstance(c.get("data"), dict):
        out["config"]["data"] = os.path.basename(c["data"].get("data", ""))
    elif isinstance(c.get("data"), str):
        out["config"]["data"] = os.path.basename(c["data"])
    out["test"], out["valid"] = metrics(j.get("test")), metrics(j.get("valid"))
    for k in list(j):
        if k.startswith(("pretrain", "games_valid", "domain")) and k not in out:
            out[k] = j[k]
    h = j.get("history") or []
    if h:
        ep = {}
        keys = []
        for x in h:
            keys += [k for k in x if k not in keys]
        for k in keys:
            vals = [x.get(k) for x in h]
            if all(v is None or isinstance(v, (int, float)) for v in vals):
                ep[k] = vals
            elif all(v is None or isinstance(v, dict) for v in vals):  # per-epoch metrics, maybe per domain
                for m in ("NDCG@10", "HR@10"):
                    if any(isinstance(v, dict) and m in v for v in vals):
                        ep[f"{k}_{m}"] = [(v or {}).get(m) for v in vals]
        out["per_epoch"] = ep
    return out


def strip_arrays(x):
    """Generic JSON: drop lists of more than 32 entries (per-step / per-iteration records)."""
    if isinstance(x, dict):
        return {k: strip_arrays(v) for k, v in x.items() if not (isinstance(v, list) and len(v) > 32)}
    if isinstance(x, list):
        return [strip_arrays(v) for v in x]
    return x


def compact_json(path):
    j = json.load(open(path))
    if isinstance(j, dict) and isinstance(j.get("runs"), list) and "config" in j:
        return compact_transfer(j)
    if isinstance(j, dict) and "history" in j:
        return compact_trained(j)
    return {"kind": "json", "data": strip_arrays(j)}


def compact_time(path):
    txt = open(path, errors="replace").read()
    out = {"kind": "time"}
    m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", txt)
    if m:
        parts = [float(p) for p in m.group(1).split(":")]
        out["wall_seconds"] = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    for key, pat in (("user_seconds", r"User time \(seconds\): ([\d.]+)"),
                     ("system_seconds", r"System time \(seconds\): ([\d.]+)"),
                     ("peak_rss_mib", r"Maximum resident set size \(kbytes\): (\d+)"),
                     ("exit_status", r"Exit status: (\d+)")):
        m = re.search(pat, txt)
        if m:
            v = float(m.group(1))
            out[key] = v / 1024 if key == "peak_rss_mib" else v
    rest = [ln[:300] for ln in txt.splitlines() if not ln.startswith(("\t", "effective config"))][-20:]
    if rest:
        out["output_tail"] = rest
    return out


FIGURE = re.compile(r"(HR@|NDCG@|MRR|hit@|ndcg@|recall@|Recall@|seq/s|sequences/s|users/s|s/epoch|"
                    r"epoch\s+\d|seconds|\(\d+ s\)|GFLOP|ms|best|valid|test|codebook|similar|weight|speed-up|"
                    r"users x|impl )", re.I)


def compact_log(path):
    lines = [ln.rstrip() for ln in open(path, errors="replace")]
    keep = [ln.strip()[:400] for ln in lines if FIGURE.search(ln) and re.search(r"\d", ln)
            and not ln.lstrip().startswith(("+ ", "effective config"))]
    if len(keep) > 80:
        keep = keep[:40] + [f"... {len(keep) - 80} lines left out ..."] + keep[-40:]
    return {"kind": "log", "lines": len(lines), "figures": keep}


def has_json_twin(path):
    """A log whose run also wrote a JSON with the same figures: `X.log` next to `X/` or `X.json`."""
    stem = path[:-4]
    return os.path.isfile(stem + ".json") or os.path.isfile(os.path.join(stem, "result.json")) \
        or os.path.isfile(os.path.join(stem, "transfer.json"))


def main(runs, out_path, merge=False):
    records = {}
    if merge and os.path.isfile(out_path):
        records = {k: v for k, v in json.load(open(out_path)).items() if k != "_about"}
    for root, dirs, files in os.walk(runs):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(root, f)
            rel = os.path.relpath(p, runs)
            try:
                if f.endswith(".json"):
                    records[rel] = compact_json(p)
                elif f.endswith(".time"):
                    records[rel] = compact_time(p)
                elif f.endswith((".log", ".txt")):
                    rec = compact_log(p)
                    if has_json_twin(p):
                        rec = {"kind": "log", "lines": rec["lines"], "figures": rec["figures"][-12:]}
                    records[rel] = rec
            except (ValueError, KeyError, TypeError) as e:  # a truncated or foreign file: say so, keep going
                records[rel] = {"kind": "unreadable", "error": str(e)[:200]}
    with open(out_path, "w") as fh:
        fh.write("{\n")
        fh.write(f'"_about": {json.dumps("compact record of " + os.path.normpath(runs) + " (benchmarks/compact_runs.py); one entry per raw file")},\n')
        items = list(records.items())
        for i, (k, v) in enumerate(items):
            fh.write(f"{json.dumps(k)}: {json.dumps(r4(v), separators=(',', ':'))}{',' if i + 1 < len(items) else ''}\n")
        fh.write("}\n")
    print(f"{out_path}: {len(records)} records, {os.path.getsize(out_path)} bytes")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--merge"]
    if len(args) != 2:
        sys.exit(__doc__)
    main(args[0], args[1], merge="--merge" in sys.argv[1:])
