#!/usr/bin/python3
"""Quick checks of the reference (a few seconds, 1 thread): padding invariance of the
three encoders, no NaN on fully padded rows, rank/tie rule, cloze and negative sampling."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from torch_ref.threads import pin_threads  # noqa: E402

torch = pin_threads(1)
import numpy as np  # noqa: E402
import torch.nn as nn  # noqa: E402
from torch_ref import data, evaluate, models  # noqa: E402


def padding_invariance(name):
    torch.manual_seed(0)
    m = models.build(name, 30, d=8, heads=2, dropout=0.5, max_len=12).eval()
    seqs = [np.array([3, 5, 7]), np.array([1]), np.arange(1, 13) % 29 + 1]
    wide = torch.from_numpy(data.left_pad(seqs, 12))
    (narrow,) = data.trim(data.left_pad(seqs[:2], 12))
    narrow = torch.from_numpy(np.ascontiguousarray(narrow))
    with torch.no_grad():
        hw, hn = m(wide), m(narrow)
    assert narrow.shape[1] == 3
    assert torch.isfinite(hw).all(), name
    # real positions do not depend on how much left padding the batch carries
    assert torch.allclose(hw[:2, -3:][wide[:2, -3:] != 0], hn[narrow != 0], atol=1e-5), name
    return m, seqs, hw


def gru_matches_unpadded():
    m, seqs, hw = padding_invariance("gru4rec")
    with torch.no_grad():
        for r, s in enumerate(seqs):
            out, _ = m.gru(m.item_emb(torch.from_numpy(s))[None])
            assert torch.allclose(m.dense(out)[0, -1], hw[r, -1], atol=1e-5)


def attention_fully_masked():
    torch.manual_seed(0)
    att = models.MultiHeadAttention(8, 2, 0.0)
    x = torch.randn(2, 4, 8, requires_grad=True)
    allowed = torch.zeros(2, 4, 4, dtype=torch.bool)
    allowed[0] = True
    y = att(x, allowed)
    y.sum().backward()
    assert torch.isfinite(x.grad).all()
    assert torch.allclose(y[1], att.out.bias.expand(4, 8))  # zero context + out bias


def ranks_and_ties():
    class Fixed(nn.Module):
        def __init__(self, scores):
            super().__init__()
            self.w = torch.tensor(scores)[:, None]

        def forward(self, ids):
            return torch.ones(ids.shape[0], ids.shape[1], 1)

        def candidates(self):
            return self.w

    m = Fixed([0.5, 0.9, 0.5, 0.1, 0.5])
    inputs = np.ones((5, 3), dtype=np.int64)
    r = evaluate.ranks(m, inputs, np.array([1, 2, 3, 4, 5]), batch=2)
    assert r.tolist() == [1, 0, 2, 4, 3], r
    met = evaluate.metrics(np.array([0, 4, 9, 60]))
    assert abs(met["HR@5"] - 0.5) < 1e-12 and abs(met["HR@10"] - 0.75) < 1e-12
    assert abs(met["NDCG@5"] - (1 + 1 / np.log2(6)) / 4) < 1e-12


def cloze_and_negatives():
    rng = np.random.default_rng(0)
    ids = data.left_pad([np.array([4, 5]), np.array([1, 2, 3, 4, 5, 6]), np.array([7])], 6)
    for _ in range(200):
        x, y = data.apply_cloze(ids, 99, 0.2, rng)
        assert ((y != 0).sum(1) >= 1).all()
        assert ((x == 99) == (y != 0)).all() and (y[y != 0] == ids[y != 0]).all()
        assert (x[ids == 0] == 0).all()
    train = [np.array([1, 2, 3]), np.array([4])]
    s = data.NegativeSampler(train, 5)
    neg = s.sample(np.array([0, 1]), (2, 50), rng)
    assert set(neg[0]) <= {4, 5} and set(neg[1]) <= {1, 2, 3, 5}
    assert set(neg[1]) == {1, 2, 3, 5}


def splits():
    seqs = [np.array([1, 2, 3, 4, 5, 6])]
    sp = data.Split(seqs, 6)
    x, y = data.next_item_samples(sp.train, 3)
    assert x.tolist() == [[1, 2, 3]] and y.tolist() == [[2, 3, 4]]
    assert sp.valid_target.tolist() == [5] and sp.test_target.tolist() == [6]
    assert data.eval_inputs(sp.test_hist, 3, mask_token=7).tolist() == [[4, 5, 7]]
    assert data.eval_inputs(sp.valid_hist, 6).tolist() == [[0, 0, 1, 2, 3, 4]]


if __name__ == "__main__":
    for name in ("sasrec", "bert4rec"):
        padding_invariance(name)
    gru_matches_unpadded()
    attention_fully_masked()
    ranks_and_ties()
    cloze_and_negatives()
    splits()
    print("selftest ok")
