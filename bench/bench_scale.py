"""Scale-out on one machine: how batch scoring (Dask) and tuning (Optuna workers on one study) speed up from 1 to 2 workers.

Both use existing engines, the same code that runs on a cluster:
- batch scoring: `dlwork.deploy.predict_dask` over CSV files read lazily by `dask.dataframe`, on a `LocalCluster` of 1 and
  then 2 worker processes (one thread each, ONNX Runtime on one thread), written to Parquet; rows per second, the median
  of `--repeats` alternated runs; the same code on a `dask.distributed` cluster of several machines;
- tuning: `dlwork tune --workers 1` and `--workers 2` on the digits CNN (random search, no pruning, so that both do the
  same work), each worker a process on one SQLite study; trials per second from the study's own trial timestamps (first
  start to last finish), so process start-up and data preparation do not count.

Prints `ratio batch_scoring_2_vs_1_workers VALUE` and `ratio tuning_2_vs_1_workers VALUE` (throughput with 2 workers over
throughput with 1; at most 2 on 2 cores). Run: python bench/bench_scale.py [--rows 1000000] [--trials 8] [--only tuning]
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings('ignore')


def scoring(rows: int, files: int, repeats: int) -> float:
    import dask.dataframe as dd
    from dask.distributed import Client, LocalCluster
    from dlwork.deploy import export_bundle, predict_dask
    from dlwork.model import learner_for
    from dlwork.prep import prepare
    from dlwork.problem import load_example
    from dlwork.train import fit
    tmp = Path(tempfile.mkdtemp())
    example = load_example('penguins')
    prepared = prepare(example.problem(), example.data)
    learn = learner_for(prepared, seed=0, path=tmp)
    fit(learn, 3, seed=0, progress=False, checkpoint=False)
    bundle = export_bundle(learn, prepared, tmp / 'bundle', quantize=False)
    features = example.data.drop(columns='species')
    for i in range(files):
        features.sample(rows // files, replace=True, random_state=i).to_csv(tmp / f'rows-{i:02d}.csv', index=False)
    print(f'scoring {rows:,} rows in {files} CSV files with the penguins bundle')
    times = {1: [], 2: []}
    for _ in range(repeats):
        for workers in (1, 2):
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                    Client(cluster):
                data = dd.read_csv(str(tmp / 'rows-*.csv'), blocksize=None)
                started = time.perf_counter()
                predict_dask(bundle, data).to_parquet(tmp / f'out-{workers}', overwrite=True)
                times[workers].append(time.perf_counter() - started)
    for workers in (1, 2):
        t = statistics.median(times[workers])
        print(f'  {workers} worker(s): {t:.2f} s, {rows / t:,.0f} rows/s (runs: {", ".join(f"{v:.2f}" for v in times[workers])})')
    return statistics.median(times[1]) / statistics.median(times[2])


def tuning(trials: int, epochs: int) -> float:
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tmp = Path(tempfile.mkdtemp())
    rate = {}
    for workers in (1, 2):
        out = tmp / f'w{workers}'
        command = [sys.executable, '-c', 'import sys; from dlwork.cli import main; sys.exit(main())', 'tune', '--example', 'digits', '--trials', str(trials), '--epochs',
                   str(epochs), '--method', 'random', '--pruner', 'none', '--no-defaults', '--workers', str(workers),
                   '--out', str(out), '--quiet']
        subprocess.run(command, check=True, capture_output=True)
        study = optuna.load_study(study_name='dlwork', storage=f'sqlite:///{out / "tune" / "study.db"}')
        done = [t for t in study.trials if t.datetime_complete is not None]
        span = (max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)).total_seconds()
        rate[workers] = len(done) / span
        print(f'  tuning, {workers} worker(s): {len(done)} trials in {span:.1f} s, {rate[workers]:.3f} trials/s')
    return rate[2] / rate[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rows', type=int, default=1_000_000)
    parser.add_argument('--files', type=int, default=8)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--trials', type=int, default=8)
    parser.add_argument('--epochs', type=int, default=3)
    parser.add_argument('--only', choices=['scoring', 'tuning'], help='measure one of the two')
    args = parser.parse_args()
    if args.only != 'tuning':
        print(f'ratio batch_scoring_2_vs_1_workers {scoring(args.rows, args.files, args.repeats):.3f}')
    if args.only != 'scoring':
        print(f'ratio tuning_2_vs_1_workers {tuning(args.trials, args.epochs):.3f}')


if __name__ == '__main__':
    main()
