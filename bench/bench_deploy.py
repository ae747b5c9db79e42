"""Deployed prediction speed: dlwork's `Predictor` (JSON recipe + ONNX Runtime, no torch) against fastai's own paths,
measured in one run on the penguins default network (the ensemble MLP, `tabm`) and 10,000 raw rows (2 CPU cores).

Baselines, each on the same rows and the same trained weights where they can share them:
- fastai's default tabular path: `TabularDataLoaders.from_df` with `Categorify, FillMissing, Normalize` procs and a
  `tabular_learner` (the network every fastai tutorial builds); `learn.dls.test_dl(rows)` + `get_preds`;
- dlwork's own training-side path: `learn.dls.test_dl(rows)` + `get_preds` on the dlwork Learner;
- one row: fastai's `learn.predict(row)` on the dlwork Learner, against `Predictor.predict(record)` (the dict fast path).

Batch times are medians of `--repeats` runs; single rows are timed one call at a time over `--rows-single` records,
with p50 and p99. The floor: ONNX Runtime's `session.run` alone on the same rows already turned into arrays, in one
call or in the Predictor's chunks of 4,096 rows, whichever is faster (`ratio predictor_batch_vs_onnxruntime`, target
≤ 1.5: what the Predictor adds around it).
Prints `ratio predictor_batch_vs_fastai_get_preds`, `ratio predictor_batch_vs_dlwork_get_preds`,
`ratio predictor_row_vs_learn_predict` and the quantized model's speed and accuracy against float.
Run: python bench/bench_deploy.py [--rows 10000] [--repeats 5] [--arch mlp]
"""
import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings('ignore')

import numpy as np

from dlwork.deploy import Predictor, export_bundle
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
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rows', type=int, default=10000)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--rows-single', type=int, default=300)
    parser.add_argument('--arch', default=None, help="the network (default: dlwork's default for tables, the ensemble MLP)")
    args = parser.parse_args()
    from fastai.tabular.all import Categorify, FillMissing, Normalize, TabularDataLoaders, tabular_learner
    tmp = Path(tempfile.mkdtemp())
    example = load_example('penguins')
    prepared = prepare(example.problem(), example.data)
    learn = learner_for(prepared, args.arch, seed=0, path=tmp)
    print(f"network: {learn.design['arch']}, {learn.design['parameters']:,} parameters")
    fit(learn, 5, seed=0, progress=False, checkpoint=False)
    bundle = export_bundle(learn, prepared, tmp / 'bundle')
    predictor, int8 = Predictor.load(bundle), Predictor.load(bundle, quantized=True)
    rows = prepared.data.drop(columns='species').sample(args.rows, replace=True, random_state=0).reset_index(drop=True)

    cats, conts = ['island', 'sex'], ['bill_length_mm', 'bill_depth_mm', 'flipper_length_mm', 'body_mass_g']
    train = prepared.train.reset_index(drop=True)
    fastai_dls = TabularDataLoaders.from_df(train, procs=[Categorify, FillMissing, Normalize], cat_names=cats,
                                            cont_names=conts, y_names='species', bs=64, valid_idx=list(range(20)))
    fastai_learn = tabular_learner(fastai_dls, layers=[200, 100])

    def fastai_default():
        with fastai_learn.no_bar():
            fastai_learn.get_preds(dl=fastai_learn.dls.test_dl(rows))

    def dlwork_get_preds():
        with learn.no_bar():
            learn.get_preds(dl=learn.dls.test_dl(rows))

    t_fastai = median_time(fastai_default, args.repeats)
    t_dlwork = median_time(dlwork_get_preds, args.repeats)
    t_pred = median_time(lambda: predictor.raw(rows), args.repeats)
    t_int8 = median_time(lambda: int8.raw(rows), args.repeats)
    arrays = {k: np.ascontiguousarray(x) for k, x in zip(predictor.names, predictor.inputs(rows))}
    n = len(rows)
    t_ort = min(median_time(lambda: predictor.session.run(None, arrays), args.repeats),  # the floor: ONNX Runtime alone on
                median_time(lambda: [predictor.session.run(None, {k: x[i:i + 4096] for k, x in arrays.items()})  # prepared
                                     for i in range(0, n, 4096)], args.repeats))  # arrays, in one call or in chunks, the faster
    per_row = lambda t: t / len(rows) * 1e6
    print(f'batch of {len(rows)} rows, per row: fastai default path {per_row(t_fastai):.1f} µs; dlwork test_dl+get_preds '
          f'{per_row(t_dlwork):.1f} µs; Predictor {per_row(t_pred):.2f} µs; Predictor int8 {per_row(t_int8):.2f} µs')

    records = rows.head(args.rows_single).to_dict('records')
    single = []
    for r in records:
        t = time.perf_counter()
        predictor.predict(r)
        single.append(time.perf_counter() - t)
    fastai_single = []
    with learn.no_bar(), learn.no_logging():
        for i in range(min(30, len(records))):
            t = time.perf_counter()
            learn.predict(rows.iloc[i])
            fastai_single.append(time.perf_counter() - t)
    p50, p99 = np.quantile(single, 0.5) * 1e3, np.quantile(single, 0.99) * 1e3
    f50 = np.quantile(fastai_single, 0.5) * 1e3
    print(f'one row: Predictor p50 {p50:.3f} ms, p99 {p99:.3f} ms (target p50 ≤ 0.5 ms: {"met" if p50 <= 0.5 else "NOT met"}); '
          f'learn.predict p50 {f50:.2f} ms')
    same = (predictor.raw(rows).argmax(1) == int8.raw(rows).argmax(1)).mean()
    print(f'int8 vs float on these rows: same label for {same:.4f} of rows; speed ratio {t_pred / t_int8:.2f}')
    print(f'ONNX Runtime alone on the same rows as arrays (the faster of one call and 4,096-row chunks): {per_row(t_ort):.2f} µs per row; the Predictor spends '
          f'{(t_pred - t_ort) / t_pred:.0%} of its time around it (validation, the recipe, formatting)')
    print(f'ratio predictor_batch_vs_onnxruntime {t_pred / t_ort:.2f}')
    print(f'ratio predictor_batch_vs_fastai_get_preds {t_fastai / t_pred:.1f}')
    print(f'ratio predictor_batch_vs_dlwork_get_preds {t_dlwork / t_pred:.1f}')
    print(f'ratio predictor_row_vs_learn_predict {f50 / p50:.1f}')
    print(f'ratio int8_vs_float_batch_speed {t_pred / t_int8:.2f}')


if __name__ == '__main__':
    main()
