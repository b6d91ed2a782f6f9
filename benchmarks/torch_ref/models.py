"""SASRec, BERT4Rec and GRU4Rec as metarec defines them (SPEC.md section 2).

Every model maps left-padded ids [B, L] (0 = padding, L <= max_len) to hidden states
[B, L, d]; the score of item j is <h_t, E_j> with the tied input table, candidates are
rows 1..N (padding row 0 and BERT4Rec's [MASK] row N+1 excluded).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

LN_EPS = 1e-12


def init_weights(model):
    """normal(0, 0.02) embeddings and Linear weights, zero biases, LayerNorm 1/0;
    GRU weights xavier-uniform (as RecBole's GRU4Rec), GRU biases zero."""
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.padding_idx is not None:
                with torch.no_grad():
                    m.weight[m.padding_idx].zero_()
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.GRU):
            for name, p in m.named_parameters():
                (nn.init.xavier_uniform_ if name.startswith("weight") else nn.init.zeros_)(p)


class MultiHeadAttention(nn.Module):
    def __init__(self, d, heads, dropout):
        super().__init__()
        if d % heads:
            raise ValueError(f"d={d} is not divisible by heads={heads}")
        self.heads, self.head_dim = heads, d // heads
        self.q, self.k, self.v, self.out = (nn.Linear(d, d) for _ in range(4))
        self.attn_drop = nn.Dropout(dropout)

    def forward(self, x, allowed):
        """allowed: bool [B, L, L] (query, key). A query with no allowed key outputs 0."""
        B, L, d = x.shape
        split = lambda t: t.view(B, L, self.heads, self.head_dim).transpose(1, 2)
        q = split(self.q(x)) * (1.0 / math.sqrt(self.head_dim))
        k, v = split(self.k(x)), split(self.v(x))
        allowed = allowed[:, None]
        scores = (q @ k.transpose(-1, -2)).masked_fill(~allowed, torch.finfo(x.dtype).min)
        probs = torch.softmax(scores, -1).masked_fill(~allowed.any(-1, keepdim=True), 0.0)
        ctx = (self.attn_drop(probs) @ v).transpose(1, 2).reshape(B, L, d)
        return self.out(ctx)


class TransformerBlock(nn.Module):
    """Post-LN: x = LN(x + Drop(MHA(x))); x = LN(x + Drop(FFN(x))),
    FFN = Linear(d, inner) -> GELU (exact) -> Dropout -> Linear(inner, d)."""

    def __init__(self, d, heads, inner, dropout):
        super().__init__()
        self.attn = MultiHeadAttention(d, heads, dropout)
        self.ln1 = nn.LayerNorm(d, eps=LN_EPS)
        self.ffn = nn.Sequential(nn.Linear(d, inner), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(inner, d))
        self.ln2 = nn.LayerNorm(d, eps=LN_EPS)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, allowed):
        x = self.ln1(x + self.drop(self.attn(x, allowed)))
        return self.ln2(x + self.drop(self.ffn(x)))


class TransformerRec(nn.Module):
    """SASRec (Kang & McAuley 2018, causal) and BERT4Rec (Sun et al. 2019, bidirectional,
    [MASK] = N+1). Positions: a window of length L uses rows [max_len-L, max_len)."""

    def __init__(self, n_items, d=64, layers=2, heads=2, inner=256, dropout=0.5, max_len=50,
                 causal=True):
        super().__init__()
        self.n_items, self.max_len, self.causal = n_items, max_len, causal
        self.mask_token = None if causal else n_items + 1
        self.item_emb = nn.Embedding(n_items + (1 if causal else 2), d, padding_idx=0)
        self.pos_emb = nn.Embedding(max_len, d)
        self.ln = nn.LayerNorm(d, eps=LN_EPS)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(TransformerBlock(d, heads, inner, dropout)
                                    for _ in range(layers))
        init_weights(self)

    def forward(self, ids):
        B, L = ids.shape
        x = self.item_emb(ids) + self.pos_emb.weight[self.max_len - L:]
        x = self.drop(self.ln(x))
        allowed = (ids != 0)[:, None, :].expand(B, L, L)
        if self.causal:
            allowed = allowed & torch.ones(L, L, dtype=torch.bool, device=ids.device).tril()
        for blk in self.blocks:
            x = blk(x, allowed)
        return x

    def candidates(self):
        return self.item_emb.weight[1:self.n_items + 1]


class GRU4Rec(nn.Module):
    """GRU4Rec (Hidasi et al. 2016): emb -> Dropout -> GRU -> Linear(hidden, d).
    Padding steps never touch the hidden state: rows are right-aligned and packed."""

    def __init__(self, n_items, d=64, layers=1, hidden=None, dropout=0.5, max_len=50):
        super().__init__()
        hidden = hidden or d
        self.n_items, self.max_len, self.mask_token = n_items, max_len, None
        self.item_emb = nn.Embedding(n_items + 1, d, padding_idx=0)
        self.drop = nn.Dropout(dropout)
        self.gru = nn.GRU(d, hidden, layers, batch_first=True,
                          dropout=dropout if layers > 1 else 0.0)
        self.dense = nn.Linear(hidden, d)
        init_weights(self)

    def forward(self, ids):
        B, L = ids.shape
        lengths = (ids != 0).sum(1)
        shift = (L - lengths)[:, None]
        cols = torch.arange(L, device=ids.device)[None]
        x = self.drop(self.item_emb(ids))
        gather = lambda t, idx: t.gather(1, idx[..., None].expand(-1, -1, t.shape[-1]))
        x = gather(x, (cols + shift).clamp(max=L - 1))  # left- -> right-padded
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        out, _ = self.gru(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=L)
        out = gather(out, (cols - shift).clamp(min=0))  # back to left-padded
        return self.dense(out)

    def candidates(self):
        return self.item_emb.weight[1:self.n_items + 1]


def build(name, n_items, d=64, layers=None, heads=2, inner=None, dropout=0.5, max_len=50):
    inner = inner or 4 * d
    if name == "sasrec":
        return TransformerRec(n_items, d, layers or 2, heads, inner, dropout, max_len, True)
    if name == "bert4rec":
        return TransformerRec(n_items, d, layers or 2, heads, inner, dropout, max_len, False)
    if name == "gru4rec":
        return GRU4Rec(n_items, d, layers or 1, None, dropout, max_len)
    raise ValueError(f"unknown model '{name}' (sasrec|bert4rec|gru4rec)")


def ce_loss(model, hidden, targets):
    """Full-softmax CE over items 1..N at the positions whose target is non-zero."""
    real = targets != 0
    logits = hidden[real] @ model.candidates().t()
    return F.cross_entropy(logits, targets[real] - 1)


def bce_loss(model, hidden, targets, negatives):
    """SASRec's loss: -log s(<h,e+>) - log(1 - s(<h,e->)), mean over real positions."""
    real = targets != 0
    h = hidden[real]
    table = model.item_emb.weight
    pos = (h * table[targets[real]]).sum(-1)
    neg = (h * table[negatives[real]]).sum(-1)
    return (F.softplus(-pos) + F.softplus(neg)).mean()


def shared_negatives(n_items, k, generator=None, sequences=None):
    """K uniform item ids in 1..N drawn once per batch, shared by every position (as metarec's op),
    or, with sequences=B, [B, K]: K per sequence, shared by its positions (--negatives-per sequence)."""
    shape = (k,) if sequences is None else (sequences, k)
    return torch.randint(1, n_items + 1, shape, generator=generator)


def _shared_scores(model, hidden, targets, negatives):
    real = targets != 0
    h, y = hidden[real], targets[real]
    table = model.item_emb.weight
    pos = (h * table[y]).sum(-1)
    if negatives.dim() == 1:
        neg = h @ table[negatives].t()                  # [N, K]: one GEMM against the shared rows
        hit = y.unsqueeze(1) == negatives.unsqueeze(0)  # accidental hits are left out of their row
    else:                                               # [B, K]: a batched GEMM, each sequence its own rows
        neg = torch.bmm(hidden, table[negatives].transpose(1, 2))[real]
        hit = y.unsqueeze(1) == negatives.unsqueeze(1).expand(-1, targets.shape[1], -1)[real]
    return pos, neg, hit


def sampled_softmax_loss(model, hidden, targets, negatives, n_items):
    """Softmax CE over {positive} + K shared uniform negatives, each corrected by log(K Q(j)) = log(K / N)."""
    pos, neg, hit = _shared_scores(model, hidden, targets, negatives)
    neg = neg - math.log(negatives.shape[-1] / n_items)
    neg = neg.masked_fill(hit, float("-inf"))
    logits = torch.cat([pos.unsqueeze(1), neg], dim=1)
    return (torch.logsumexp(logits, dim=1) - pos).mean()


def gbce_loss(model, hidden, targets, negatives, n_items, t=0.75):
    """gSASRec's gBCE (Petrov & Macdonald, RecSys 2023): -1/(K+1) (beta log s(s+) + sum_j log(1 - s(s_j)))."""
    pos, neg, hit = _shared_scores(model, hidden, targets, negatives)
    k = negatives.shape[-1]
    alpha = min(1.0, k / (n_items - 1))
    beta = alpha * (t * (1 - 1 / alpha) + 1 / alpha)
    neg_term = F.softplus(neg).masked_fill(hit, 0.0).sum(1)
    return ((beta * F.softplus(-pos) + neg_term) / (k + 1)).mean()
