"""Full-ranking leave-one-out evaluation over items 1..N, no history masking.

rank = #items scoring strictly higher + #items scoring equal with a lower id (0-based);
HR@K = [rank < K], NDCG@K = [rank < K] / log2(rank + 2), MRR = 1 / (rank + 1).
"""
import time

import numpy as np
import torch

from . import data

KS = (5, 10, 20, 50)


def ranks(model, inputs, targets, batch=512):
    """0-based rank of each target; `inputs` are left-padded [U, max_len] histories."""
    out = np.empty(len(targets), dtype=np.int64)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        cand = model.candidates()
        dev = cand.device
        ids_all = torch.arange(cand.shape[0], device=dev)
        for i in range(0, len(targets), batch):
            (ids,) = data.trim(inputs[i:i + batch])
            h = model(torch.from_numpy(np.ascontiguousarray(ids)).to(dev))[:, -1]
            scores = h @ cand.t()
            t = torch.from_numpy(targets[i:i + batch] - 1).to(dev)
            ts = scores.gather(1, t[:, None])
            higher = (scores > ts).sum(1)
            ties_before = ((scores == ts) & (ids_all[None] < t[:, None])).sum(1)
            out[i:i + batch] = (higher + ties_before).cpu().numpy()
    model.train(was_training)
    return out


def metrics(rank):
    res = {}
    for k in KS:
        hit = rank < k
        res[f"HR@{k}"] = float(hit.mean())
        res[f"NDCG@{k}"] = float((hit / np.log2(rank + 2.0)).mean())
    res["MRR"] = float((1.0 / (rank + 1.0)).mean())
    return res


def evaluate(model, inputs, targets, batch=512):
    """-> (metrics dict, seconds)."""
    t0 = time.perf_counter()
    r = ranks(model, inputs, targets, batch)
    return metrics(r), time.perf_counter() - t0
