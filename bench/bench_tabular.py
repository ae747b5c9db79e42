"""Tabular training speed: dlwork's path against a plain PyTorch loop (the named baseline), measured in one run.

One epoch = one pass over the training rows (shuffled, with backward and optimiser step) plus one pass over the
validation rows (loss and accuracy). All variants train the same network (`dlwork.model.MLP`) on the same generated
50,000-row mixed-type table, with AdamW and a one-cycle learning rate; medians of `--repeats` epochs.

  plain     : a plain PyTorch loop over tensors built once (the baseline)
  fastai    : fastai's default TabularDataLoaders (pandas rows per batch) and a fastai Learner
  dlwork    : dlwork's path: `prepare` (TensorTabDataLoader) and `learner_for` + `fit` (fastai Learner, dlwork callbacks)

Prints `ratio NAME VALUE` lines (variant time / plain time) and the validation accuracy of each variant.
Run: python bench/bench_tabular.py [--rows 50000] [--repeats 3] [--bs 256 1024]
"""
import argparse
import statistics
import tempfile
import time
import warnings

warnings.filterwarnings('ignore')

import numpy as np
import pandas as pd
import torch
from fastai.tabular.core import TabDataLoader
from fastai.data.core import DataLoaders

from dlwork.model import MLP, learner_for
from dlwork.prep import prepare
from dlwork.problem import Problem
from dlwork.train import fit


def make_table(n: int, seed: int = 0) -> pd.DataFrame:
    "A mixed-type table: 6 numeric columns (some missing), 3 categorical (3, 12 and 40 levels), a 3-class target."
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({f'x{i}': rng.normal(size=n) for i in range(6)})
    df['colour'] = rng.choice(['red', 'green', 'blue'], n)
    df['month'] = rng.choice([f'm{i}' for i in range(12)], n)
    df['shop'] = rng.choice([f'shop{i}' for i in range(40)], n)
    score = df.x0 + 0.5 * df.x1 ** 2 - df.x2 + (df.colour == 'red') + 0.1 * df.month.str[1:].astype(int)
    df['label'] = pd.cut(score + rng.normal(0, 0.5, n), 3, labels=['low', 'mid', 'high']).astype(str)
    df.loc[rng.random(n) < 0.05, 'x3'] = np.nan
    return df


def plain_epochs(tensors, model, bs, epochs, lr):
    "The baseline: plain PyTorch over tensors built once; returns per-epoch seconds and the last valid accuracy."
    (xc, xn, y), (vc, vn, vy) = tensors
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    steps = len(y) // bs
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps * epochs, pct_start=0.25)
    loss_fn = torch.nn.CrossEntropyLoss()
    times, acc = [], None
    for _ in range(epochs):
        t = time.perf_counter()
        model.train()
        perm = torch.randperm(len(y))
        for i in range(steps):
            idx = perm[i * bs:(i + 1) * bs]
            loss = loss_fn(model(xc[idx], xn[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        correct, total_loss = 0, 0.0
        with torch.no_grad():
            for i in range(0, len(vy), bs):
                out = model(vc[i:i + bs], vn[i:i + bs])
                total_loss += loss_fn(out, vy[i:i + bs]).item() * len(out)
                correct += (out.argmax(1) == vy[i:i + bs]).sum().item()
        acc = correct / len(vy)
        times.append(time.perf_counter() - t)
    return times, acc


def learner_epochs(learn, epochs, lr, use_fit):
    "Per-epoch seconds of a fastai Learner (dlwork's `fit`, or fastai's `fit_one_cycle`) and the last accuracy."
    with tempfile.TemporaryDirectory() as d:
        if use_fit:
            h = fit(learn, epochs, lr=lr, run_dir=d, progress=False, gap_patience=None)
            return list(h.frame['seconds']), float(h.frame['accuracy'].iloc[-1])
        from dlwork.train import EpochLog
        log = EpochLog()
        with learn.no_bar(), learn.no_logging():
            learn.fit_one_cycle(epochs, lr, cbs=[log])
        return list(log.frame['seconds']), float(log.frame['accuracy'].iloc[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--rows', type=int, default=50_000)
    ap.add_argument('--repeats', type=int, default=5, help="epochs timed per variant (median reported)")
    ap.add_argument('--bs', type=int, nargs='+', default=[256, 1024])
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    df = make_table(args.rows)
    problem = Problem.infer(df, 'label')
    print(f"table: {len(df)} rows, {df.shape[1] - 1} features; torch threads {torch.get_num_threads()}")
    for bs in args.bs:
        prepared = prepare(problem, df, bs=bs, onehot=3)
        dls = prepared.dls
        cards = [len(dls.train_ds.classes[c]) for c in dls.cat_names]
        train_t = dls.train._tensors()
        valid_t = dls.valid._tensors()
        tensors = ((train_t[0], train_t[1], train_t[2].view(-1).long()), (valid_t[0], valid_t[1], valid_t[2].view(-1).long()))
        lr = 3e-3
        torch.manual_seed(0)
        plain_t, plain_acc = plain_epochs(tensors, MLP(len(dls.cont_names), cards, 3), bs, args.repeats, lr)
        # fastai's default tabular loaders: the same TabularPandas, fastai's TabDataLoader
        slow = DataLoaders(*[TabDataLoader(dl.dataset, bs=bs, shuffle=dl.shuffle, drop_last=dl.drop_last,
                                           device=dl.device) for dl in dls.loaders])
        torch.manual_seed(0)
        learn = learner_for(prepared, seed=0)
        learn.dls = slow
        fastai_t, fastai_acc = learner_epochs(learn, args.repeats, lr, use_fit=False)
        learn = learner_for(prepared, seed=0)
        dlwork_t, dlwork_acc = learner_epochs(learn, args.repeats, lr, use_fit=True)
        base = statistics.median(plain_t)
        print(f"bs {bs}: epoch seconds (median of {args.repeats}) plain {base:.3f}, fastai default "
              f"{statistics.median(fastai_t):.3f}, dlwork {statistics.median(dlwork_t):.3f}; "
              f"valid accuracy plain {plain_acc:.4f}, fastai {fastai_acc:.4f}, dlwork {dlwork_acc:.4f}")
        print(f"ratio fastai_default_vs_plain_bs{bs} {statistics.median(fastai_t) / base:.3f}")
        print(f"ratio dlwork_vs_plain_bs{bs} {statistics.median(dlwork_t) / base:.3f}")


if __name__ == '__main__':
    main()
