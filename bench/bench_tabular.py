"""Tabular training speed: dlwork's path against a plain PyTorch loop (the named baseline), measured in one run.

One epoch = one pass over the training rows (shuffled, with backward and optimiser step) plus one pass over the
validation rows (loss and accuracy). All variants train the same network (`dlwork.model.MLP`) on the same generated
50,000-row mixed-type table, with AdamW and a one-cycle learning rate. The variants take turns, one epoch each,
`--epochs` times (so that a slow spell of the machine hits all three); each variant's time is the median of its epochs.

  plain     : a plain PyTorch loop over tensors built once (the baseline)
  fastai    : fastai's default TabDataLoader (pandas rows per batch) and fastai's own Learner, `fit_one_cycle`
  dlwork    : dlwork's path: `prepare` (TensorTabDataLoader), `learner_for` (a FastLearner) and `fit` with its callbacks

Prints `ratio NAME VALUE` lines (variant time / plain time) and the validation accuracy of each variant.
Run: python bench/bench_tabular.py [--rows 50000] [--epochs 8] [--bs 256 1024]
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
from fastai.learner import Learner

from dlwork.model import MLP, learner_for
from dlwork.prep import prepare
from dlwork.problem import Problem
from dlwork.train import EpochLog, fit


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


class PlainLoop:
    "The baseline: plain PyTorch over tensors built once, AdamW and a one-cycle schedule over `epochs` epochs."

    def __init__(self, tensors, model, bs, lr, epochs):
        (self.xc, self.xn, self.y), (self.vc, self.vn, self.vy) = tensors
        self.model, self.bs = model, bs
        self.opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
        self.steps = len(self.y) // bs
        self.sched = torch.optim.lr_scheduler.OneCycleLR(self.opt, lr, total_steps=self.steps * epochs, pct_start=0.25)
        self.loss_fn = torch.nn.CrossEntropyLoss()

    def epoch(self):
        "One epoch (train pass + validation pass): (seconds, validation accuracy)."
        t = time.perf_counter()
        self.model.train()
        perm, bs = torch.randperm(len(self.y)), self.bs
        for i in range(self.steps):
            idx = perm[i * bs:(i + 1) * bs]
            loss = self.loss_fn(self.model(self.xc[idx], self.xn[idx]), self.y[idx])
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            self.sched.step()
        self.model.eval()
        correct, total_loss = 0, 0.0
        with torch.no_grad():
            for i in range(0, len(self.vy), bs):
                out = self.model(self.vc[i:i + bs], self.vn[i:i + bs])
                total_loss += self.loss_fn(out, self.vy[i:i + bs]).item() * len(out)
                correct += (out.argmax(1) == self.vy[i:i + bs]).sum().item()
        return time.perf_counter() - t, correct / len(self.vy)


def fastai_epoch(learn, lr):
    "One epoch of fastai's own `fit_one_cycle`: (seconds, validation accuracy)."
    log = EpochLog()
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(1, lr, cbs=[log])
    return log.rows[-1]['seconds'], log.rows[-1]['accuracy']


def dlwork_epoch(learn, lr, run_dir):
    "One epoch of dlwork's `fit` (all its callbacks, checkpoint included): (seconds, validation accuracy)."
    h = fit(learn, 1, lr=lr, run_dir=run_dir, progress=False, gap_patience=None)
    return h.frame['seconds'].iloc[-1], h.frame['accuracy'].iloc[-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--rows', type=int, default=50_000)
    ap.add_argument('--epochs', type=int, default=8, help='epochs timed per variant, interleaved')
    ap.add_argument('--bs', type=int, nargs='+', default=[256, 1024])
    args = ap.parse_args()
    df = make_table(args.rows)
    problem = Problem.infer(df, 'label')
    print(f"table: {len(df)} rows, {df.shape[1] - 1} features; torch threads {torch.get_num_threads()}; "
          f"{args.epochs} epochs per variant, one of each in turn; medians")
    for bs in args.bs:
        prepared = prepare(problem, df, bs=bs, onehot=3)
        dls = prepared.dls
        cards = [len(dls.train_ds.classes[c]) for c in dls.cat_names]
        train_t, valid_t = dls.train._tensors(), dls.valid._tensors()
        tensors = ((train_t[0], train_t[1], train_t[2].view(-1).long()),
                   (valid_t[0], valid_t[1], valid_t[2].view(-1).long()))
        # fastai's default tabular loaders over the same TabularPandas, in fastai's own Learner
        slow = DataLoaders(*[TabDataLoader(dl.dataset, bs=bs, shuffle=dl.shuffle, drop_last=dl.drop_last,
                                           device=dl.device) for dl in dls.loaders])
        lr, times, accs, n = 3e-3, {'plain': [], 'fastai': [], 'dlwork': []}, {}, args.epochs
        torch.manual_seed(0)
        plain = PlainLoop(tensors, MLP(len(dls.cont_names), cards, 3), bs, lr, n)
        ours = learner_for(prepared, seed=0)
        theirs = learner_for(prepared, seed=0)
        fastai_learn = Learner(slow, theirs.model, loss_func=theirs.loss_func, opt_func=theirs.opt_func, lr=lr,
                               wd=theirs.wd, metrics=theirs.metrics)
        with tempfile.TemporaryDirectory() as run_dir:
            for _ in range(n):  # one epoch of each in turn, so that a slow spell of the machine hits all three
                for name, step in [('plain', plain.epoch), ('fastai', lambda: fastai_epoch(fastai_learn, lr)),
                                   ('dlwork', lambda: dlwork_epoch(ours, lr, run_dir))]:
                    seconds, accs[name] = step()
                    times[name].append(seconds)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"bs {bs}: epoch seconds plain {med['plain']:.3f}, fastai default {med['fastai']:.3f}, dlwork "
              f"{med['dlwork']:.3f}; valid accuracy plain {accs['plain']:.4f}, fastai {accs['fastai']:.4f}, "
              f"dlwork {accs['dlwork']:.4f}")
        print(f"ratio fastai_default_vs_plain_bs{bs} {med['fastai'] / med['plain']:.3f}")
        print(f"ratio dlwork_vs_plain_bs{bs} {med['dlwork'] / med['plain']:.3f}")


if __name__ == '__main__':
    main()
