"""Peer default networks on the proving ground: RealMLP-TD and TabM-D from pytabkit, on dlwork's own splits.

Each table task is prepared as `dlwork run` prepares it (same data file, same problem, same seed, so the same train,
validation and test rows); the peers get the raw feature columns with the little they need (missing numbers filled
with the training median plus an indicator, categories as text, dates as days) and the validation rows for their own
early stopping, and are scored on the test rows. Results go to `bench/suite/peers.csv` with pytabkit's version;
`bench_suite.py` compares dlwork's network with them.

pytabkit brings pytorch-lightning, so it is not a dlwork requirement: `pip install pytabkit==1.7.3` (the `peers`
extra) into the environment that runs this script.

    python bench/suite_peers.py --subset quality [--resume] [--tasks a,b]
"""
import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from suite_tasks import load_tasks, write_task  # noqa: E402

PEERS_CSV = HERE / 'suite' / 'peers.csv'
PEERS = ('RealMLP-TD', 'TabM-D')


def prepared_task(task: dict, work: Path):
    "The task prepared exactly as `dlwork run` prepares it (the same splits)."
    from dlwork.problem import Problem
    from dlwork.prep import prepare
    path = write_task(task, work / 'data')
    frame = pd.read_csv(path, low_memory=False)
    options = {}
    if task['target'] in frame and pd.api.types.is_numeric_dtype(frame[task['target']]) and \
            task['task'] in ('multiclass', 'regression'):
        options['task'] = task['task']
    problem = Problem.infer(frame, task['target'], **options)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return prepare(problem, frame, drop=task['drop'] or None, groups=task['groups'] or None)


def peer_features(prepared) -> tuple:
    "(X, categorical column names): the raw features with no missing values and no booleans, as pytabkit needs."
    from dlwork.core import to_datetimes
    p = prepared.problem
    kinds = {c: p.kind_of(c) for c in p.features}
    columns = [c for c, k in kinds.items() if k in ('continuous', 'categorical', 'datetime')]
    data, train = prepared.data, prepared.splits.train
    out, cats = {}, []
    for c in columns:
        x = data[c]
        if kinds[c] == 'categorical':
            out[c] = x.astype(str).where(x.notna(), 'missing')
            cats.append(c)
            continue
        x = to_datetimes(x).astype('int64').where(to_datetimes(x).notna()) / 86400e9 if kinds[c] == 'datetime' \
            else pd.to_numeric(x, errors='coerce').astype(float)
        missing = x.isna()
        out[c] = x.fillna(x.iloc[train].median() if x.iloc[train].notna().any() else 0.0)
        if missing.any():
            out[f'{c}_missing'] = missing.astype(float)
    X = pd.DataFrame(out, index=data.index)
    for c in cats:
        X[c] = X[c].astype('category')
    return X, cats


def run_peer(name: str, task: dict, prepared, seed: int = 0) -> dict:
    "Fit one peer on the training rows (validation rows for its early stopping); score it on the test rows."
    import pytabkit
    from sklearn.metrics import accuracy_score, mean_squared_error, r2_score
    X, cats = peer_features(prepared)
    target = prepared.problem.targets[0]
    y = prepared.data[target]
    regression = prepared.problem.task == 'regression'
    y = y.astype(float) if regression else y.astype(str)
    s = prepared.splits
    kind = 'Regressor' if regression else 'Classifier'
    cls = getattr(pytabkit, {'RealMLP-TD': f'RealMLP_TD_{kind}', 'TabM-D': f'TabM_D_{kind}'}[name])
    model = cls(random_state=seed, device='cpu', verbosity=0, n_threads=2)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model.fit(X.iloc[s.train], y.iloc[s.train], X_val=X.iloc[s.valid], y_val=y.iloc[s.valid], cat_col_names=cats)
        pred = model.predict(X.iloc[s.test])
    seconds = time.perf_counter() - started
    truth = y.iloc[s.test]
    row = {'task': task['name'], 'peer': name, 'seconds': round(seconds, 1), 'train_rows': len(s.train),
           'pytabkit': pytabkit.__version__ if hasattr(pytabkit, '__version__') else _version('pytabkit')}
    if regression:
        row.update(rmse=float(np.sqrt(mean_squared_error(truth, pred))), r2=float(r2_score(truth, pred)))
    else:
        row.update(accuracy=float(accuracy_score(truth.astype(str), np.asarray(pred).astype(str))))
    return row


def _version(package: str) -> str:
    from importlib.metadata import version
    return version(package)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--tasks', help='comma-separated task names')
    parser.add_argument('--subset', default='quality', help='a subset of the task table (default quality)')
    parser.add_argument('--peers', default=','.join(PEERS), help='which peers (default both)')
    parser.add_argument('--resume', action='store_true', help='skip task/peer pairs already in the CSV')
    parser.add_argument('--results', default=str(PEERS_CSV))
    parser.add_argument('--work', default=str(HERE / 'suite' / '.work'))
    parser.add_argument('--timeout', type=int, default=900, help='seconds for one task (both peers) before it counts as not finished')
    parser.add_argument('--shared-cpu', action='store_true',
                        help='other work shares the CPU: the rows are marked, and their seconds are not used as timings')
    parser.add_argument('--one', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    work, results = Path(args.work), Path(args.results)
    if args.one:  # one task, every peer asked for, in this process
        task = load_tasks(names=[args.one])[0]
        prepared = prepared_task(task, work)
        rows = []
        for peer in args.peers.split(','):
            try:
                rows.append(run_peer(peer, task, prepared))
            except Exception as e:  # a peer that fails is a finding, not the end of the run
                rows.append({'task': args.one, 'peer': peer, 'error': f'{type(e).__name__}: {e}'[:300]})
        print('ROWS ' + json.dumps(rows), flush=True)
        return 0
    tasks = [t for t in load_tasks(subset=args.subset, names=args.tasks.split(',') if args.tasks else None)
             if t['task'] != 'forecast']
    old = pd.read_csv(results) if results.exists() else pd.DataFrame({'task': [], 'peer': []})
    for i, task in enumerate(tasks, 1):
        peers = [p for p in args.peers.split(',')
                 if not (args.resume and ((old['task'] == task['name']) & (old['peer'] == p)).any())]
        if not peers:
            continue
        try:
            proc = subprocess.run([sys.executable, __file__, '--one', task['name'], '--peers', ','.join(peers),
                                   '--work', str(work)], capture_output=True, text=True, timeout=args.timeout)
            lines = [l for l in proc.stdout.splitlines() if l.startswith('ROWS ')]
            rows = json.loads(lines[-1][5:]) if lines else [
                {'task': task['name'], 'peer': p, 'error': (proc.stderr.strip().splitlines() or ['crash'])[-1][:300]}
                for p in peers]
        except subprocess.TimeoutExpired:
            rows = [{'task': task['name'], 'peer': p, 'error': f'no result after {args.timeout} s (both peers together)'}
                    for p in peers]
        for row in rows:
            row['measured'] = time.strftime('%Y-%m-%d')
            row['cpu_shared'] = bool(args.shared_cpu)
            old = pd.concat([old[~((old['task'] == row['task']) & (old['peer'] == row['peer']))], pd.DataFrame([row])],
                            ignore_index=True)
            score = row.get('accuracy', row.get('rmse'))
            print(f"[{i}/{len(tasks)}] {row['task']} {row['peer']}: "
                  + (f"{score:.4g} in {row['seconds']} s" if score is not None else row.get('error', '')), flush=True)
        results.parent.mkdir(parents=True, exist_ok=True)
        old.sort_values(['task', 'peer']).to_csv(results, index=False)
    return 0


if __name__ == '__main__':
    sys.exit(main())
