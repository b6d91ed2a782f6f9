#!/usr/bin/python3
"""PyTorch reference for benchmarks/bench_full_ce.cpp: fwd+bwd of a full-catalog
softmax cross-entropy with tied item weights (logits = h @ E.T; F.cross_entropy;
backward), float32. GFLOP/s counts 3 GEMMs of 2*N*n*d each, like the C++ side.

Usage: OPENBLAS_NUM_THREADS=T /usr/bin/python3 bench_full_ce_torch.py --threads T
(the script also sets torch.set_num_threads(T); run it with the same T as the C++ run).
"""
import argparse
import os
import time

import torch
import torch.nn.functional as F


def bench(n_rows, n_items, d, first_item, reps, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = (torch.randn(n_rows, d, generator=g) * 0.5).requires_grad_()
    table = (torch.randn(n_items, d, generator=g) * 0.1).requires_grad_()
    targets = torch.randint(first_item, n_items, (n_rows,), generator=g)

    def step():
        h.grad = None
        table.grad = None
        logits = h @ table[first_item:].t()  # padding row 0 is not a candidate
        loss = F.cross_entropy(logits, targets - first_item)
        loss.backward()
        return loss

    for _ in range(2):
        step()
    times, cpu = [], []  # wall and process CPU seconds (the machine may be shared)
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        loss = step()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    best = min(times)
    med = sorted(times)[len(times) // 2]
    flops = 3 * 2.0 * n_rows * (n_items - first_item) * d
    return best, med, flops / best / 1e9, min(cpu), flops / min(cpu) / 1e9, float(loss)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--items", type=int, default=12101)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--rows", type=int, nargs="*", default=[2000, 12800])
    a = ap.parse_args()
    env = os.environ.get("OPENBLAS_NUM_THREADS")
    if env is not None and int(env) != a.threads:
        print(f"warning: OPENBLAS_NUM_THREADS={env} differs from --threads {a.threads}")
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    for n_rows in a.rows:
        best, med, gflops, cpu, cpu_gflops, loss = bench(n_rows, a.items, a.dim, 1, a.reps)
        print(f"torch N={n_rows} n_items={a.items} d={a.dim} threads={a.threads}: "
              f"best {best * 1e3:.2f} ms, median {med * 1e3:.2f} ms, {gflops:.1f} GFLOP/s; "
              f"best CPU time {cpu * 1e3:.2f} ms ({cpu_gflops:.1f} GFLOP per CPU-second); loss {loss:.5f}")


if __name__ == "__main__":
    main()
