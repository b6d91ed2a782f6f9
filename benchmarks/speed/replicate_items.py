#!/usr/bin/env python3
"""Grows a catalogue K-fold for the scaling benchmark: user u's items i become
i + (u mod K) * N, so the catalogue has K*N items, every user keeps the same
sequence shape, and each replica is a copy of the domain seen by 1/K of the users.

Usage: replicate_items.py IN.txt OUT.txt K   (S3-Rec format: `user item item ...`)
"""
import sys


def main(src, dst, k):
    rows = [line.split() for line in open(src) if line.strip()]
    n = max(int(i) for r in rows for i in r[1:])
    with open(dst, "w") as out:
        for idx, r in enumerate(rows):
            off = (idx % k) * n
            out.write(" ".join([r[0]] + [str(int(i) + off) for i in r[1:]]) + "\n")
    print(f"{dst}: {len(rows)} users, {k * n} items (x{k})")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
