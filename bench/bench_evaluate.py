"""Evaluation speed: `evaluate` on a 10,000-row test set with 1,000 bootstrap resamples, against the bare fastai
`get_preds` on the same rows (the named baseline), measured in one run.

A generated three-class table (8 numeric columns, one categorical) is prepared with half its 20,000 rows held out as
the test set, and a default MLP is trained for one epoch. Then, alternating, `learn.get_preds(dl=test_dl)` and
`evaluate(learn, prepared, baselines=False)` (predictions, every metric, bootstrap intervals of the seven headline
metrics and the leaderboard, the registry write; no plots, which are drawn when shown or saved) run `--repeats`
times each; the ratio is the median of evaluate's times over the median of get_preds'. `evaluate` with its
baselines (logistic regression and HistGradientBoosting trained on the 10,000 training rows) is timed once too, and
the report's plots and files.

Prints `ratio evaluate_vs_get_preds VALUE` and the seconds of each step.
Run: python bench/bench_evaluate.py [--rows 20000] [--resamples 1000] [--repeats 3]
"""
import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings('ignore')

import numpy as np
import pandas as pd

from dlwork.evaluate import evaluate
from dlwork.model import learner_for
from dlwork.prep import prepare
from dlwork.problem import Problem
from dlwork.train import fit


def table(rows: int, seed: int = 0) -> pd.DataFrame:
    "Three classes from a noisy linear score of 8 numbers and a category."
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 8))
    group = rng.choice(['a', 'b', 'c', 'd'], rows)
    score = x[:, :3] @ [1.0, -0.7, 0.5] + pd.Series(group).map({'a': 0.5, 'b': 0, 'c': -0.5, 'd': 1}).to_numpy()
    score += rng.normal(0, 0.8, rows)
    y = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))
    frame = pd.DataFrame(x, columns=[f'x{i}' for i in range(8)]).assign(group=group)
    return frame.assign(label=np.array(['low', 'mid', 'high'])[y])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rows', type=int, default=20000)
    parser.add_argument('--resamples', type=int, default=1000)
    parser.add_argument('--repeats', type=int, default=3)
    args = parser.parse_args()
    data = table(args.rows)
    prepared = prepare(Problem.infer(data, 'label'), data, valid=0.1, test=0.5, bs=256)
    tmp = Path(tempfile.mkdtemp())
    learn = learner_for(prepared, seed=0, path=tmp)
    fit(learn, 1, lr=1e-2, progress=False, checkpoint=False)
    n = len(prepared.test)
    print(f'test rows {n}, classes {len(prepared.problem.classes)}, resamples {args.resamples}')
    bare, full = [], []
    for i in range(args.repeats):
        t = time.perf_counter()
        with learn.no_bar():
            learn.get_preds(dl=prepared.test_dl)
        bare.append(time.perf_counter() - t)
        t = time.perf_counter()
        report = evaluate(learn, prepared, baselines=False, resamples=args.resamples, registry=tmp / 'registry.db',
                          max_looks=10 ** 6)
        full.append(time.perf_counter() - t)
    t = time.perf_counter()
    with_baselines = evaluate(learn, prepared, resamples=args.resamples, registry=tmp / 'registry.db', max_looks=10 ** 6)
    baseline_s = time.perf_counter() - t
    t = time.perf_counter()
    with_baselines.save(tmp / 'evaluate')
    save_s = time.perf_counter() - t
    print(f'get_preds: median {statistics.median(bare):.3f} s (runs: {", ".join(f"{v:.3f}" for v in bare)})')
    print(f'evaluate, no baselines: median {statistics.median(full):.3f} s (runs: {", ".join(f"{v:.3f}" for v in full)})')
    print(f'evaluate with baselines: {baseline_s:.2f} s; plots and report files: {save_s:.2f} s')
    print(f'{report!r}')
    print(with_baselines.leaderboard.iloc[:, :3].to_string(float_format=lambda v: f'{v:.4f}'))
    print(f'target: evaluate under 5 s -> {"met" if statistics.median(full) < 5 else "NOT met"}')
    print(f'ratio evaluate_vs_get_preds {statistics.median(full) / statistics.median(bare):.2f}')


if __name__ == '__main__':
    main()
