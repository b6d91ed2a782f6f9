#!/usr/bin/env python3
"""Step-time model of data-parallel SASRec training (docs/distributed.md).

Weak scaling: every rank keeps a batch of 256 sequences, so the compute of a
step is the measured single-rank step time T1, plus the gradient exchange:
  dense ring all-reduce of S bytes:   2 (N-1)/N * S / BW + 2 (N-1) * alpha
  sparse rows by ring all-gather:       (N-1)   * s / BW +   (N-1) * alpha
where s = one rank's touched-row message (row ids + rows) and S = the dense
table. alpha (per message step) is an assumption, not a measurement.
Every input other than alpha comes from a measurement (pass them as flags).
"""
import argparse

p = argparse.ArgumentParser()
p.add_argument("--t1-ce", type=float, required=True, help="s per step, 1 rank, CE (Beauty)")
p.add_argument("--t1-bce", type=float, required=True, help="s per step, 1 rank, BCE + sparse items")
p.add_argument("--dense-other", type=float, required=True, help="bytes of non-item-table gradients")
p.add_argument("--row-bytes-per-rank", type=float, required=True, help="s: touched-row bytes of a 256-row batch")
p.add_argument("--adam-beauty", type=float, required=True,
               help="s of zero_grad + dense Adam over the whole Beauty model (bench_replicated 12101)")
p.add_argument("--adam-s-per-mrow", type=float, required=True,
               help="s of zero_grad + dense Adam per million table rows, memory-bound (bench_replicated 1000000)")
p.add_argument("--d", type=int, default=64)
p.add_argument("--alpha", type=float, default=5e-6)
a = p.parse_args()

def dense_adam(items):
    # Beauty's model stays in cache (measured directly); a large table is memory-bound: linear in rows.
    return a.adam_beauty if items < 100_000 else a.adam_s_per_mrow * (items + 2) / 1e6

def ring_allreduce(N, S, bw):
    return 0.0 if N == 1 else 2 * (N - 1) / N * S / bw + 2 * (N - 1) * a.alpha

def ring_allgather(N, s, bw):
    return 0.0 if N == 1 else (N - 1) * s / bw + (N - 1) * a.alpha

cases = [("Beauty, CE (table dense)", 12101, "ce"), ("Beauty, BCE", 12101, "bce"), ("10M items, BCE", 10_000_000, "bce")]
print("| catalogue, loss | N | link | compute T1 (s) | dense: all-reduce (+ dense Adam for BCE) (s) | sparse rows + dense rest (s) | step, best exchange (s) | speed-up vs 1 rank |")
print("|---|---|---|---|---|---|---|---|")
for name, items, loss in cases:
    S_table = (items + 2) * a.d * 4
    t1 = a.t1_ce if loss == "ce" else a.t1_bce
    for N in (8, 64, 512):
        for gbps in (25, 100):
            bw = gbps * 1e9 / 8
            dense = ring_allreduce(N, S_table + a.dense_other, bw)
            if loss != "ce":  # CE's T1 already has the dense Adam
                dense += dense_adam(items)
            sparse = float("nan") if loss == "ce" else ring_allgather(N, a.row_bytes_per_rank, bw) + ring_allreduce(N, a.dense_other, bw)
            best = dense if loss == "ce" else min(dense, sparse)
            step = t1 + best
            print(f"| {name} | {N} | {gbps} Gb/s | {t1:.4f} | {dense:.4f} | {'-' if loss == 'ce' else f'{sparse:.4f}'} | {step:.4f} | {N * t1 / step:.1f}x |")
# Crossover: the smallest N at which the dense exchange (all-reduce of the
# table + dense Adam) is no slower than the sparse one (all-gather of rows).
# Bandwidth terms alone: (N-1) s < 2 (N-1)/N S  <=>  N < 2 S / s.
for name, items in (("Beauty", 12101), ("10M items", 10_000_000)):
    S_table = (items + 2) * a.d * 4
    for gbps in (25, 100):
        bw = gbps * 1e9 / 8
        dense = lambda N: ring_allreduce(N, S_table + a.dense_other, bw) + dense_adam(items)
        sparse = lambda N: ring_allgather(N, a.row_bytes_per_rank, bw) + ring_allreduce(N, a.dense_other, bw)
        N = 2
        while N < 10**6 and sparse(N) < dense(N):
            N += 1
        print(f"{name}, {gbps} Gb/s: sparse rows are faster up to N = {N - 1} ranks "
              f"(bandwidth terms alone: N < 2 S / s = {2 * S_table / a.row_bytes_per_rank:.0f}; "
              f"S = {S_table / 1e6:.1f} MB, s = {a.row_bytes_per_rank / 1e6:.2f} MB)")
