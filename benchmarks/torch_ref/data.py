"""S3-Rec per-user files, leave-one-out split and the batches of the metarec protocol.

All matrices are left-padded with 0 (item ids are 1..N), so the last column of a row is
always its most recent real item; a batch is trimmed to its longest row.
"""
import numpy as np


def load_s3rec(path, limit_users=None):
    """`user item item ...` per line -> (list of int64 arrays, n_items)."""
    seqs = []
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            items = np.asarray(parts[1:], dtype=np.int64)
            if len(items) < 3:
                raise ValueError(f"{path}:{line_no}: user has {len(items)} items, need >= 3")
            seqs.append(items)
            if limit_users is not None and len(seqs) >= limit_users:
                break
    n_items = int(max(s.max() for s in seqs))
    if min(s.min() for s in seqs) < 1:
        raise ValueError(f"{path}: item ids must start at 1")
    return seqs, n_items


def left_pad(seqs, width):
    """Last `width` items of each sequence, right-aligned in a zero matrix."""
    out = np.zeros((len(seqs), width), dtype=np.int64)
    for r, s in enumerate(seqs):
        s = s[-width:]
        if len(s):
            out[r, width - len(s):] = s
    return out


class Split:
    """Leave-one-out: train s[:-2]; valid target s[-2] | s[:-2]; test target s[-1] | s[:-1]."""

    def __init__(self, seqs, n_items):
        self.n_items = n_items
        self.train = [s[:-2] for s in seqs]
        self.valid_hist = [s[:-2] for s in seqs]
        self.valid_target = np.array([s[-2] for s in seqs], dtype=np.int64)
        self.test_hist = [s[:-1] for s in seqs]
        self.test_target = np.array([s[-1] for s in seqs], dtype=np.int64)

    @property
    def n_users(self):
        return len(self.train)


def next_item_samples(train, max_len):
    """Inputs w[:-1], targets w[1:] of the window w = last max_len+1 training items."""
    windows = [s[-(max_len + 1):] for s in train]
    inputs = left_pad([w[:-1] for w in windows], max_len)
    targets = left_pad([w[1:] for w in windows], max_len)
    return inputs, targets


def cloze_samples(train, max_len):
    """BERT4Rec: the last max_len training items, no shift."""
    return left_pad(train, max_len)


def eval_inputs(histories, max_len, mask_token=None):
    """History truncated to max_len items; with a mask token, the last max_len-1 + [MASK]."""
    if mask_token is None:
        return left_pad(histories, max_len)
    return left_pad([np.append(h[-(max_len - 1):], mask_token) for h in histories], max_len)


def trim(*mats):
    """Drop the all-padding leading columns shared by every row of the first matrix."""
    lengths = (mats[0] != 0).sum(1)
    width = max(int(lengths.max()), 1)
    return tuple(m[:, -width:] for m in mats)


def apply_cloze(ids, mask_token, prob, rng):
    """Replace each real item by [MASK] with probability `prob`, at least one per row.
    Returns (masked inputs, targets with 0 where not masked)."""
    real = ids != 0
    masked = (rng.random(ids.shape) < prob) & real
    lengths = real.sum(1)
    empty = np.flatnonzero(~masked.any(1) & (lengths > 0))
    if len(empty):
        # left padding: the real items of a row are its last `length` columns
        cols = ids.shape[1] - 1 - (rng.random(len(empty)) * lengths[empty]).astype(np.int64)
        masked[empty, cols] = True
    targets = np.where(masked, ids, 0)
    inputs = np.where(masked, mask_token, ids)
    return inputs, targets


class NegativeSampler:
    """SASRec (Kang & McAuley 2018): one negative per position, uniform over 1..N,
    rejected while it is in the user's training sequence."""

    def __init__(self, train, n_items):
        self.n_items = n_items
        keys = [u * (n_items + 1) + np.unique(s) for u, s in enumerate(train)]
        self.keys = np.sort(np.concatenate(keys))

    def _seen(self, users, items):
        k = users * (self.n_items + 1) + items
        pos = np.searchsorted(self.keys, k).clip(max=len(self.keys) - 1)
        return self.keys[pos] == k

    def sample(self, users, shape, rng):
        users = np.broadcast_to(np.asarray(users)[:, None], shape)
        neg = rng.integers(1, self.n_items + 1, size=shape)
        bad = self._seen(users, neg)
        while bad.any():
            neg[bad] = rng.integers(1, self.n_items + 1, size=int(bad.sum()))
            bad[bad] = self._seen(users[bad], neg[bad])
        return neg
