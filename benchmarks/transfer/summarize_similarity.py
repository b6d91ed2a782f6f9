#!/usr/bin/env python3
"""Mean similarity s_i, weight w_i and query loss per segment of meta iterations, per inner lr."""
import glob, json, statistics as st, sys, os
here = os.path.dirname(os.path.abspath(__file__))
for path in sorted(glob.glob(os.path.join(here, "runs", "transfer_similarity_vs_inner_lr", "alpha_*/transfer.json"))):
    r = json.load(open(path))["runs"][0]
    it, names = r["iterations"], r["sources"]
    print(f"inner lr {path.split('alpha_')[1].split('/')[0]}: sources {names}, test HR@10 {r['test']['HR@10']:.4f}")
    for a, b in [(0, 10), (10, 50), (50, 100), (100, 150)]:
        seg = it[a:b]
        sims = [st.mean(x["similarity"][i] for x in seg) for i in range(len(names))]
        ws = [st.mean(x["weight"][i] for x in seg) for i in range(len(names))]
        print(f"  iterations {a+1:3d}-{b:3d}: s = {', '.join(f'{v:+.3f}' for v in sims)}"
              f"  w = {', '.join(f'{v:.3f}' for v in ws)}  query loss {st.mean(x['query_loss'] for x in seg):.3f}")
