#!/usr/bin/env python3
"""Builds the seed corpus (fuzz/corpus/<target>/) from small slices of the
shared datasets (../shared/data; provenance in its README). Standard library
only. Usage: python3 fuzz/make_corpus.py [shared/data] [fuzz/corpus]"""
import os, struct, sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "corpus")


def lines(path, n, skip=0):
    with open(os.path.join(root, path), encoding="utf-8") as f:
        return [l for i, l in zip(range(n + skip), f)][skip:]


def put(target, name, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


# Per-user sequence files.
put("sequences", "beauty", "".join(lines("amazon-s3rec/Beauty.txt", 12)))
put("sequences", "lastfm", "".join(lines("amazon-s3rec/LastFM.txt", 2)))
put("sequences", "toys_crlf", "".join(lines("amazon-s3rec/Toys_and_Games.txt", 6)).replace("\n", "\r\n"))
# Pair files: the same users written one interaction per line.
pairs = [f"{l.split()[0]} {i}\n" for l in lines("amazon-s3rec/Sports_and_Outdoors.txt", 8) for i in l.split()[1:]]
put("pairs", "sports", "".join(pairs))
put("pairs", "sample", "".join(lines("amazon-s3rec/LastFM_sample.txt", 1)).replace(" ", "\n1 ", 20))
# RecBole atomic .inter: Scientific test rows as (user, item, rating, timestamp).
atomic = ["user_id:token\titem_id:token\trating:float\ttimestamp:float\n"]
for l in lines("scientific/Scientific.test.inter", 8, skip=1):
    u, hist, tgt = l.rstrip("\n").split("\t")
    for t, i in enumerate(hist.split() + [tgt]):
        atomic.append(f"{u}\t{i}\t5.0\t{1500000000 + 7 * t}\n")
put("atomic", "scientific", "".join(atomic))
put("atomic", "reordered", "timestamp:float\tuser_id:token\titem_id:token\n3\tA\tx\n1\tA\ty\n1\tB\tx\n")
# UniSRec split files: train \f valid \f test, the first users of Scientific.
users = {str(u) for u in range(6)}
parts = []
for kind in ("train", "valid", "test"):
    rows = lines(f"scientific/Scientific.{kind}.inter", 200000 if kind == "train" else 7)
    parts.append(rows[0] + "".join(r for r in rows[1:] if r.split("\t")[0] in users))
put("unisrec", "scientific", "\f".join(parts))
put("unisrec", "games", "\f".join([lines("games/Games-6k.test.inter", 1)[0]] * 2 + ["".join(lines("games/Games-6k.test.inter", 6))]))
# Item text and item2index.
put("text", "scientific", "".join(lines("scientific/Scientific.text", 8)))
put("text", "games", "".join(lines("games/Games-6k.item", 8)))
put("text", "item2index", "".join(lines("scientific/Scientific.item2index", 8)))
# Attribute maps: the first entries of the S3-Rec JSON objects, closed.
for name in ("Beauty", "LastFM"):
    with open(os.path.join(root, f"amazon-s3rec/{name}_item2attributes.json"), encoding="utf-8") as f:
        head = f.read(600)
    put("attributes", name.lower(), head[: head.rfind("]") + 1] + "}\n")
put("attributes", "escapes", '{"\\u0031": [1], "2": [],\n "3": [0, 7]}')


def npy(descr, fortran, shape, payload):
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)
    d += " " * ((64 - (10 + len(d) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(d)) + d.encode() + payload


vals = [0.5, -1.0, 2.25, 3.0, 4.5, -0.125]
put("npy", "f4", npy("<f4", "False", "(3, 2)", struct.pack("<6f", *vals)))
put("npy", "f8_fortran", npy("<f8", "True", "(2, 3)", struct.pack("<6d", *vals)))
put("npy", "f2", npy("<f2", "False", "(2, 3)", struct.pack("<6e", *vals)))
put("npy", "f4_big", npy(">f4", "False", "(2, 3)", struct.pack(">6f", *vals)))
put("feat", "dim3", bytes([2]) + struct.pack("<6f", *vals))
put("feat", "dim1", bytes([0]) + struct.pack("<3f", *vals[:3]))
