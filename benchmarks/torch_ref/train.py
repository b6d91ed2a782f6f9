#!/usr/bin/python3
"""PyTorch reference for `metarec train`: same data, models, loss and protocol.

Usage (Debian's python3, torch 1.13 + OpenBLAS):
  benchmarks/torch_ref/run.sh benchmarks/torch_ref/train.py --data /work/shared/data/amazon-s3rec/Beauty.txt \
      --model sasrec --threads 2 --epochs 200 --patience 10 --out benchmarks/accuracy/runs/torch_sasrec_beauty_ce.json

Writes one JSON record (config, best_epoch, valid, test, timing, history); while the
run is going the same file holds the record so far with "finished": false.
"""
import argparse
import copy
import json
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from torch_ref.threads import pin_threads, warn_if_reference_blas  # noqa: E402


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="S3-Rec file: `user item item ...` per line")
    ap.add_argument("--model", choices=["sasrec", "bert4rec", "gru4rec"], default="sasrec")
    ap.add_argument("--loss", choices=["ce", "bce", "sampled-softmax", "gbce"], default="ce")
    ap.add_argument("--negatives", type=int, default=256, help="K shared negatives (sampled-softmax, gbce)")
    ap.add_argument("--negatives-per", choices=["batch", "sequence"], default="batch",
                    help="K draws shared by the batch, or K per sequence")
    ap.add_argument("--gbce-t", type=float, default=0.75)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--layers", type=int, default=None, help="default 2 (transformers), 1 (GRU)")
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--inner", type=int, default=None, help="FFN size, default 4*dim")
    ap.add_argument("--dropout", type=float, default=0.5)
    ap.add_argument("--max-len", type=int, default=50)
    ap.add_argument("--mask-prob", type=float, default=0.2, help="BERT4Rec cloze probability")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--eval-batch", type=int, default=512)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--patience", type=int, default=10)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="torch device: cpu or cuda (benchmarks/gpu/run.sh)")
    ap.add_argument("--limit-users", type=int, default=None, help="first N users only (smoke tests)")
    ap.add_argument("--out", default=None, help="JSON record path")
    a = ap.parse_args(argv)
    if a.loss != "ce" and a.model == "bert4rec":
        ap.error(f"--loss {a.loss} is for next-item models (sasrec, gru4rec)")
    return a


def main(argv=None):
    a = parse_args(argv)
    torch = pin_threads(a.threads)
    blas = warn_if_reference_blas()
    import numpy as np
    from torch_ref import data, models, evaluate

    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    seqs, n_items = data.load_s3rec(a.data, a.limit_users)
    split = data.Split(seqs, n_items)
    dev = torch.device(a.device)
    model = models.build(a.model, n_items, a.dim, a.layers, a.heads, a.inner, a.dropout, a.max_len).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr, betas=(0.9, 0.999), weight_decay=0.0)
    cloze = a.model == "bert4rec"
    if cloze:
        train_x, train_y = data.cloze_samples(split.train, a.max_len), None
    else:
        train_x, train_y = data.next_item_samples(split.train, a.max_len)
    sampler = data.NegativeSampler(split.train, n_items) if a.loss == "bce" else None
    valid_x = data.eval_inputs(split.valid_hist, a.max_len, model.mask_token)
    test_x = data.eval_inputs(split.test_hist, a.max_len, model.mask_token)
    U = split.n_users

    layers = model.gru.num_layers if hasattr(model, "gru") else len(model.blocks)
    config = dict(vars(a), layers=layers, inner=None if a.model == "gru4rec" else (a.inner or 4 * a.dim),
                  n_users=U, n_items=n_items, n_parameters=sum(p.numel() for p in model.parameters()),
                  torch=torch.__version__, python=platform.python_version(),
                  torch_threads=torch.get_num_threads(),
                  OPENBLAS_NUM_THREADS=os.environ.get("OPENBLAS_NUM_THREADS"), blas=blas)
    print("config " + json.dumps(config), flush=True)

    def step(idx):
        def draw():
            return models.shared_negatives(n_items, a.negatives, sequences=len(idx) if a.negatives_per == "sequence" else None)

        if cloze:
            (ids,) = data.trim(train_x[idx])
            x, y = data.apply_cloze(ids, model.mask_token, a.mask_prob, rng)
        else:
            x, y = data.trim(train_x[idx], train_y[idx])
        x, y = torch.from_numpy(np.ascontiguousarray(x)).to(dev), torch.from_numpy(np.ascontiguousarray(y)).to(dev)
        h = model(x)
        if a.loss == "ce":
            loss = models.ce_loss(model, h, y)
        elif a.loss == "sampled-softmax":
            loss = models.sampled_softmax_loss(model, h, y, draw().to(dev), n_items)
        elif a.loss == "gbce":
            loss = models.gbce_loss(model, h, y, draw().to(dev), n_items, a.gbce_t)
        else:
            neg = torch.from_numpy(sampler.sample(idx, tuple(y.shape), rng)).to(dev)
            loss = models.bce_loss(model, h, y, neg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss)

    record = dict(config=config, finished=False, history=[])
    best, best_epoch, best_state, bad = -1.0, 0, None, 0
    train_s = eval_s = 0.0
    eval_users = 0
    for epoch in range(1, a.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        order = rng.permutation(U)
        losses = [step(order[i:i + a.batch]) for i in range(0, U, a.batch)]
        dt = time.perf_counter() - t0
        train_s += dt
        valid, dv = evaluate.evaluate(model, valid_x, split.valid_target, a.eval_batch)
        eval_s += dv
        eval_users += U
        ndcg = valid["NDCG@10"]
        if ndcg > best:
            best, best_epoch, bad = ndcg, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad += 1
        loss = float(np.mean(losses))
        record["history"].append(dict(epoch=epoch, loss=loss, valid_HR10=valid["HR@10"],
                                      valid_NDCG10=ndcg, train_s=dt, eval_s=dv))
        print(f"epoch {epoch:3d} loss {loss:.4f} valid HR@10 {valid['HR@10']:.4f} "
              f"NDCG@10 {ndcg:.4f} | train {dt:.1f}s ({U / dt:.0f} seq/s) eval {dv:.1f}s "
              f"({U / dv:.0f} users/s){' *' if bad == 0 else ''}", flush=True)
        record.update(best_epoch=best_epoch, epochs_run=epoch,
                      timing=dict(train_sequences_per_s=U * epoch / train_s,
                                  eval_users_per_s=eval_users / eval_s, train_seconds=train_s))
        if a.out:
            _write(a.out, record)
        if bad >= a.patience:
            break

    model.load_state_dict(best_state)
    valid, dv = evaluate.evaluate(model, valid_x, split.valid_target, a.eval_batch)
    test, dt = evaluate.evaluate(model, test_x, split.test_target, a.eval_batch)
    eval_s += dv + dt
    eval_users += 2 * U
    if dev.type == "cuda":
        record["peak_device_bytes"] = torch.cuda.max_memory_allocated(dev)
    record.update(finished=True, valid=valid, test=test,
                  timing=dict(train_sequences_per_s=U * record["epochs_run"] / train_s,
                              eval_users_per_s=eval_users / eval_s, train_seconds=train_s,
                              eval_seconds=eval_s))
    print(f"best epoch {best_epoch}: test HR@10 {test['HR@10']:.4f} NDCG@10 {test['NDCG@10']:.4f} "
          f"| valid HR@10 {valid['HR@10']:.4f} NDCG@10 {valid['NDCG@10']:.4f}", flush=True)
    print("record " + json.dumps({k: v for k, v in record.items() if k != "history"}), flush=True)
    if a.out:
        _write(a.out, record)
    return record


def _write(path, record):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(record, f, indent=1)
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
