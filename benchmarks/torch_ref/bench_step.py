#!/usr/bin/python3
"""Time one SASRec training step (forward + backward + Adam) in PyTorch.

Two variants, both batch 256, d 64, 2 layers, 2 heads, FFN 256, dropout 0.5, float32:
  full: length 50 untrimmed, every one of the 256*50 positions real (random item ids),
        full-catalogue CE at all 12,800 positions: the naive padded cost;
  real: Beauty's real training batches exactly as train.py builds them (seeded shuffle,
        trimmed to the longest row, CE only at real positions).
Usage: benchmarks/torch_ref/run.sh benchmarks/torch_ref/bench_step.py --threads T [--out FILE]
Prints one JSON object (ms/step, sequences/s, positions scored, GFLOP/s of the CE GEMMs).
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from torch_ref.threads import pin_threads, warn_if_reference_blas  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default="/work/shared/data/amazon-s3rec/Beauty.txt")
    ap.add_argument("--reps", type=int, default=10, help="timed steps per variant")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--max-len", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    torch = pin_threads(a.threads)
    blas = warn_if_reference_blas()
    import numpy as np
    from torch_ref import data, models

    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    seqs, n_items = data.load_s3rec(a.data)
    split = data.Split(seqs, n_items)
    inputs, targets = data.next_item_samples(split.train, a.max_len)
    model = models.build("sasrec", n_items, max_len=a.max_len)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(x, y):
        h = model(x)
        loss = models.ce_loss(model, h, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def timed(batches):
        for x, y in batches[:a.warmup]:
            step(x, y)
        times = []
        for x, y in batches[a.warmup:]:
            t0 = time.perf_counter()
            step(x, y)
            times.append(time.perf_counter() - t0)
        return times

    def summary(times, batches):
        n = len(times)
        positions = sum(int((y != 0).sum()) for _, y in batches[a.warmup:]) / n
        mean = sum(times) / n
        ce_flop = 3 * 2.0 * positions * n_items * model.candidates().shape[1]
        return dict(ms_per_step_mean=1e3 * mean, ms_per_step_median=1e3 * statistics.median(times),
                    ms_per_step_best=1e3 * min(times), sequences_per_s=a.batch / mean,
                    positions_scored_per_step=positions,
                    width_mean=sum(x.shape[1] for x, _ in batches[a.warmup:]) / n,
                    ce_gemm_gflop_per_step=ce_flop / 1e9, steps=n)

    n = a.warmup + a.reps
    full = []
    for _ in range(n):
        s = torch.randint(1, n_items + 1, (a.batch, a.max_len + 1))
        full.append((s[:, :-1].contiguous(), s[:, 1:].contiguous()))
    order = rng.permutation(split.n_users)
    real = []
    for i in range(n):
        idx = order[i * a.batch:(i + 1) * a.batch]
        x, y = data.trim(inputs[idx], targets[idx])
        real.append((torch.from_numpy(np.ascontiguousarray(x)),
                     torch.from_numpy(np.ascontiguousarray(y))))

    res = dict(threads=a.threads, torch=torch.__version__, blas=blas, n_items=n_items,
               batch=a.batch, max_len=a.max_len, load_avg_before=os.getloadavg()[0])
    res["full"] = summary(timed(full), full)
    res["real"] = summary(timed(real), real)
    res["load_avg_after"] = os.getloadavg()[0]
    print(json.dumps(res, indent=1), flush=True)
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
