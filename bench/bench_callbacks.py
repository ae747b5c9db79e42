"""Callback overhead: dlwork's `fit` against a bare fastai `fit_one_cycle` (the named baseline), measured in one run.

Both train the same image model (`SimpleCNN` on the digits, 1,797 8×8 images) from the same initial weights for the
same epochs at the same learning rate, without progress bars. dlwork's `fit` adds its epoch log, best-weights tracker
with early stopping, over-fitting warning, NaN guard, atomic per-epoch checkpoint, and the saved history (CSV, JSON and
seaborn plot). One warm-up run of each first, then the median of `--repeats` alternating runs.

Prints `ratio fit_vs_fit_one_cycle VALUE` (dlwork time / fastai time).
Run: python bench/bench_callbacks.py [--epochs 5] [--repeats 3]
"""
import argparse
import copy
import statistics
import tempfile
import time
import warnings

warnings.filterwarnings('ignore')


from dlwork.model import learner_for
from dlwork.prep import prepare
from dlwork.problem import load_example
from dlwork.train import fit


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--epochs', type=int, default=5)
    ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--arch', default='cnn')
    args = ap.parse_args()
    digits = load_example('digits')
    prepared = prepare(digits.problem(), digits.data)
    learn = learner_for(prepared, args.arch, seed=0)
    start = copy.deepcopy(learn.model.state_dict())
    lr = 3e-3

    def bare():
        learn.model.load_state_dict(start)
        learn.opt = None
        t = time.perf_counter()
        with learn.no_bar(), learn.no_logging():
            learn.fit_one_cycle(args.epochs, lr)
        return time.perf_counter() - t, float(learn.recorder.values[-1][2])

    def ours():
        learn.model.load_state_dict(start)
        learn.opt = None
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            h = fit(learn, args.epochs, lr=lr, run_dir=d, progress=False, patience=args.epochs)
            return time.perf_counter() - t, float(h.frame['accuracy'].iloc[-1])

    bare(), ours()  # warm-up: imports, first-call costs
    fa, dl = [], []
    for _ in range(args.repeats):
        fa.append(bare())
        dl.append(ours())
    f, d = statistics.median(t for t, _ in fa), statistics.median(t for t, _ in dl)
    print(f"{args.arch} on digits, {args.epochs} epochs, {len(prepared.dls.train)} batches/epoch: fastai fit_one_cycle "
          f"{f:.2f} s (accuracy {fa[-1][1]:.4f}), dlwork fit {d:.2f} s (accuracy {dl[-1][1]:.4f}); "
          f"medians of {args.repeats}")
    print(f"ratio fit_vs_fit_one_cycle {d / f:.3f}")


if __name__ == '__main__':
    main()
