"""Segmentation on the generated shapes (1,000 scenes of 64×64, 2 CPU cores): the quality bar and the deployed speed.

Quality: the default U-Net (`learner_for` on `prepare`'s defaults: width 16, three halvings, batch 16, cross-entropy),
trained `--epochs` epochs at lr 1e-2 with one-cycle for each of `--seeds` seeds, evaluated on the held-out test scenes by
`dlwork.evaluate.evaluate`: test mean IoU with its bootstrap interval over images, against the two baselines on the same
images (majority class; gradient-boosted trees on each pixel's colour and position), with the paired bootstrap over
images. The bar: mean IoU ≥ 0.90, above the trees with the paired interval's low end above 0.

Speed: the torch-free `Predictor` (JSON recipe + ONNX Runtime) against `learn.get_preds(dl=learn.dls.test_dl(images))`
(fastai's path, the same trained weights), both from raw 64×64 images to masks, medians of `--repeats` runs on
`--images` images. Prints `ratio seg_predictor_vs_get_preds` (images per second of the Predictor / of get_preds).
Run: python bench/bench_segmentation.py [--epochs 30] [--seeds 0 1 2] [--images 600]
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

from dlwork.deploy import Predictor, export_bundle
from dlwork.evaluate import evaluate
from dlwork.model import learner_for
from dlwork.prep import prepare
from dlwork.problem import load_example
from dlwork.train import fit


def median_time(f, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--epochs', type=int, default=30)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--images', type=int, default=600, help='images scored in the speed comparison')
    parser.add_argument('--repeats', type=int, default=3)
    args = parser.parse_args()
    shapes = load_example('shapes')
    prepared = prepare(shapes.problem(), shapes.data)
    runs = Path(tempfile.mkdtemp())
    rows, learn = [], None
    for seed in args.seeds:
        learn = learner_for(prepared, seed=seed, path=runs / f'seed{seed}')
        started = time.perf_counter()
        fit(learn, args.epochs, lr=1e-2, seed=seed, progress=False)
        seconds = time.perf_counter() - started
        report = evaluate(learn, prepared, registry=None, seed=seed)
        trees = report.paired['trees on colour + position']
        board = report.leaderboard
        rows.append({'seed': seed, 'mean_iou': report.metrics['mean_iou'], 'low': report.intervals.loc['mean_iou', 'low'],
                     'high': report.intervals.loc['mean_iou', 'high'], 'dice': report.metrics['dice'],
                     'trees': board.loc['baseline: trees on colour + position', 'mean_iou'],
                     'majority': board.loc['baseline: majority class', 'mean_iou'],
                     'gap_low': trees['low'], 'p': trees['p_value'], 'train_s': seconds})
        print(pd.DataFrame(rows).round(4).to_string(index=False), flush=True)
    table = pd.DataFrame(rows)
    iou = table['mean_iou']
    print(f"test mean IoU over {len(table)} seeds: median {iou.median():.4f} (min {iou.min():.4f}, max {iou.max():.4f}); "
          f"trees on colour + position median {table['trees'].median():.4f}; majority {table['majority'].median():.4f}")
    met = bool((iou >= 0.90).all() and (table['gap_low'] > 0).all())
    print(f"bar (every seed: mean IoU >= 0.90 and significantly above the trees): {'met' if met else 'NOT met'}")

    bundle = export_bundle(learn, prepared, runs / 'bundle', quantize=False)
    predictor = Predictor.load(bundle)
    images = pd.DataFrame({'image': list(shapes.data['image'].iloc[:args.images])})

    def fastai_path():
        with learn.no_bar(), learn.no_logging():
            return learn.get_preds(dl=learn.dls.test_dl(images))[0].argmax(1).numpy()
    assert (predictor.masks(images) == fastai_path()).all(), 'the Predictor must give the learner’s masks'
    t_fastai = median_time(fastai_path, args.repeats)
    t_predictor = median_time(lambda: predictor.masks(images), args.repeats)
    print(f"{len(images)} images → masks: get_preds {t_fastai:.3f} s ({len(images) / t_fastai:.0f} images/s), "
          f"Predictor {t_predictor:.3f} s ({len(images) / t_predictor:.0f} images/s)")
    print(f"ratio seg_predictor_vs_get_preds {t_fastai / t_predictor:.3f}")


if __name__ == '__main__':
    main()
