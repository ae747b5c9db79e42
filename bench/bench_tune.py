"""Tuning: TPE with pruning against random search without pruning (the named baseline), and the machinery's overhead
per trial against a bare `fit` of the same configuration, measured in one run.

1. Search efficiency. On a fixed compute budget of `trials × epochs` epochs, random search without pruning runs
   `trials` full trials; its best validation log-loss is the target. TPE with its default pruner (successive halving from
   epoch 2, as `pruner="auto"` pairs them) then searches the same default space (same epochs per trial, same training seed) until it
   reaches that value or has spent the same budget. TPE's sampler gets another seed than random search's: TPE starts
   with a few random trials, and with the same seed they would be random search's first trials, so a best value among
   them would count as found by TPE (shared luck, not search). The ratio is the epochs TPE+pruning needed to reach
   random search's best divided by random search's epochs (inf: not reached within the budget). Neither starts from the
   defaults trial, so both begin from nothing. Medians and the spread over `--seeds` seeds.

   The same two studies also give the ratio at smaller budgets: random search's first n trials are a random search of n
   trials (the sampler's draws do not depend on the budget), and TPE's path is the same up to any point. The bench prints
   the ratio at a quarter, half, three quarters and all of `--trials` (information; the target is at `--trials`). The
   default, 32 trials of 6 epochs, so gives the ratio at 8, 16, 24 and 32 trials in one run. Read it with part 3: on
   digits random search's best value is the luckiest draw of its good configurations, and the seed alone moves a
   configuration's value by more than the good ones differ.
2. Overhead per trial. A study of `--repeats` trials of one fixed configuration (sampling, storing every epoch's
   value and the trial's attributes, heartbeats, pruning checks) against as many bare `learner_for` + `fit` runs of
   it, in three alternated blocks; the ratio is the median block's. A one-trial call, which also opens the study, is
   printed apart.
3. Seed noise (information, no target). Random search's best configuration is retrained with `--noise-seeds` other seeds
   (weights, shuffling, dropout); the spread of its validation log-loss says how much of "the best value" is that
   configuration and how much is the seed every trial of a study shares. With it, a noise-aware ratio (information, no
   target): the share of the budget after which TPE's best trial so far is a configuration whose mean over the study's
   seed and those other seeds is at most that of random search's best configuration (each new best trial of TPE's is
   retrained with the same seeds, in order, until one qualifies).

4. Pruner replay (information, no target; no training). Each random-search study's recorded learning curves are replayed,
   trial by trial in the study's order, through each of dlwork's pruners (halving, hyperband, median), as if the pruner
   had run with that study: how often it would have stopped the trial that ended best, and the share of the epochs it
   would have spent. It judges the pruners' decisions on the same trials, without the sampler's luck in the way.

Prints `ratio tpe_pruned_epochs_vs_random VALUE` and `ratio tune_overhead VALUE`.
Run: python bench/bench_tune.py [--data digits] [--trials 32] [--epochs 6] [--seeds 10] [--first-seed 0] [--jobs 2]
(`--first-seed 3 --seeds 2` adds seeds 3 and 4 to an earlier run's 0–2: a seed's studies do not depend on the others;
`--jobs N` runs N seeds at a time, in N processes of one thread each.)
"""
import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings('ignore')

from optuna.trial import TrialState

from dlwork.model import learner_for
from dlwork.prep import prepare
from dlwork.problem import load_example
from dlwork.train import fit
from dlwork.tune import FIT_KEYS, Space, default_space, pruner_for, sampler_for, tune

REPLAYED = ('halving', 'hyperband', 'median')


def epochs_used(tuning) -> list:
    "(cumulative epochs, best value so far) after each finished trial, in trial order."
    out, spent, best = [], 0, float('inf')
    for t in sorted(tuning.study.trials, key=lambda t: t.number):
        if t.state not in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL):
            continue
        spent += t.user_attrs.get('epochs') or 0
        if t.state == TrialState.COMPLETE:
            best = min(best, t.value)
        out.append((spent, best))
    return out


def budgets(trials: int) -> list:
    "The random-search budgets (in trials) the ratio is printed at: a quarter, half, three quarters and all of `trials`."
    return sorted({max(1, round(trials * q)) for q in (0.25, 0.5, 0.75, 1)})


def search(prepared, args, seed: int, folder: Path) -> dict:
    "{random-search trials n: epochs TPE+pruning needs to reach the best of random's first n trials, over n × epochs}."
    space = default_space(prepared)
    common = dict(epochs=args.epochs, seed=seed, start_from_defaults=False, progress=False)
    random = tune(prepared, space, method='random', pruner='none', trials=args.trials, run_dir=folder / f'random-{seed}', **common)
    values = [t.value if t.state == TrialState.COMPLETE else float('inf')
              for t in sorted(random.study.trials, key=lambda t: t.number)]
    targets = {n: min(values[:n]) for n in budgets(args.trials)}
    target, budget = random.best_value, args.trials * args.epochs
    trials = args.trials
    while True:
        tpe = tune(prepared, space, method=sampler_for('bayes', seed=seed + 1000), pruner=args.pruner, trials=trials,
                   run_dir=folder / f'tpe-{seed}', resume=True, **common)
        path = epochs_used(tpe)
        if any(best <= target for _, best in path) or path[-1][0] >= budget:
            break
        trials += max(2, args.trials // 4)
    ratios = {}
    for n, value in targets.items():  # TPE's path has passed every smaller target's budget (or reached it) by now
        reached = [spent for spent, best in path if best <= value]
        ratios[n] = reached[0] / (n * args.epochs) if reached and reached[0] <= budget else float('inf')
    noise = retrain(prepared, random.best_params, args) if args.noise_seeds else []
    reached = [spent for spent, best in path if best <= target]
    print(f'seed {seed}: random best log_loss {target:.4g} in {budget} epochs; TPE+pruning '
          + (f'reached it after {reached[0]} epochs ({len(tpe.study.trials)} trials run, '
             f"{sum(t.state == TrialState.PRUNED for t in tpe.study.trials)} pruned)" if reached else
             f'did not reach it in {path[-1][0]} epochs (best {path[-1][1]:.4g})')
          + '; by budget: ' + ', '.join(f'{n} trials (best {targets[n]:.4g}) {r:.3f}' for n, r in ratios.items()), flush=True)
    if noise:
        print(f'  seed noise: random search\'s best configuration retrained with {len(noise)} other seeds: '
              f'{", ".join(f"{v:.4g}" for v in noise)} (spread {min(noise):.4g}–{max(noise):.4g}, '
              f'sd {statistics.stdev(noise) if len(noise) > 1 else 0:.2g}; with the study\'s seed {target:.4g})', flush=True)
        mean = statistics.mean([target] + noise)
        ratios['noise-aware'] = noise_aware(prepared, tpe, args, mean, budget)
        print(f'  noise-aware: TPE\'s best trial was a configuration at least as good on average over '
              f'{len(noise) + 1} seeds as random search\'s best ({mean:.4g}) after '
              f'{ratios["noise-aware"]:.3f} of the budget', flush=True)
    ratios['replay'] = {name: replay(random.study, name, args.epochs) for name in REPLAYED}
    return ratios


def replay(study, pruner: str, epochs: int) -> tuple:
    """(whether `pruner` would have stopped the trial that ended best, share of the epochs it would have spent): the
    study's completed trials, in order, report their recorded values epoch by epoch to a fresh study with that pruner,
    which is asked after every epoch but the last (as `PruningCallback` does)."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # not a line per replayed study
    trials = sorted((t for t in study.trials if t.state == TrialState.COMPLETE), key=lambda t: t.number)
    best = min(trials, key=lambda t: t.value).number
    shadow = optuna.create_study(study_name=study.study_name, direction=study.direction,
                                 pruner=pruner_for(pruner, epochs))
    spent, stopped_best = 0, False
    for t in trials:
        trial, steps = shadow.ask(), sorted(t.intermediate_values)
        for step in steps:
            trial.report(t.intermediate_values[step], step)
            if step < steps[-1] and trial.should_prune():
                shadow.tell(trial, state=TrialState.PRUNED)
                stopped_best |= t.number == best
                break
        else:
            shadow.tell(trial, t.value)
        spent += step
    return stopped_best, spent / sum(len(t.intermediate_values) for t in trials)


def retrain(prepared, config: dict, args) -> list:
    "Validation log-loss of `config` retrained with `--noise-seeds` other seeds than the study's."
    config = {k: v for k, v in config.items() if k not in FIT_KEYS}  # the default spaces search no fit option
    values = []
    for i in range(args.noise_seeds):
        seed = 1000 + i
        with tempfile.TemporaryDirectory() as d:
            learn = learner_for(prepared, seed=seed, path=d, **config)
            h = fit(learn, args.epochs, lr=config.get('lr'), seed=seed, monitor='log_loss', checkpoint=False,
                    run_dir=Path(d) / 'fit', progress=False, gap_patience=None)
        values.append(h.decisions['best_value'])
    return values


def noise_aware(prepared, tpe, args, target_mean: float, budget: int) -> float:
    """Epochs until TPE's best trial so far is a configuration whose mean over the study's seed and `--noise-seeds` other
    seeds is at most `target_mean` (random search's best configuration's), over `budget`; inf if none within it."""
    spent, best = 0, float('inf')
    for t in sorted(tpe.study.trials, key=lambda t: t.number):
        if t.state not in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL):
            continue
        spent += t.user_attrs.get('epochs') or 0
        if spent > budget:
            break
        if t.state == TrialState.COMPLETE and t.value < best:
            best = t.value
            if statistics.mean([t.value] + retrain(prepared, t.user_attrs['config'], args)) <= target_mean:
                return spent / budget
    return float('inf')


def overhead(prepared, args, folder: Path) -> float:
    """The tuning machinery's cost per trial: a study of `--repeats` trials of one fixed configuration (sampling,
    storing every epoch's value and the trial's attributes, heartbeats, pruning checks), against the same number of bare
    `learner_for` + `fit` runs of it, alternated in blocks so that drift hits both alike. Opening the study once per call
    is reported apart (a one-trial call), since a search pays it once, not per trial."""
    config = {'layers': [200, 100], 'lr': 1e-2, 'bs': 64} if prepared.problem.modality == 'tabular' else {'lr': 3e-3, 'bs': 64}
    learner_args = {k: v for k, v in config.items() if k != 'lr'}

    def bare(i):
        t = time.perf_counter()
        learn = learner_for(prepared, seed=0, path=folder, lr=config['lr'], **learner_args)
        fit(learn, args.epochs, lr=config['lr'], seed=0, monitor='log_loss', checkpoint=False, run_dir=folder / f'bare-{i}',
            progress=False, gap_patience=None, plot=False)  # trials draw no history.png either: the machinery's cost alone
        return time.perf_counter() - t

    def study(name, trials):
        t = time.perf_counter()
        tune(prepared, Space(config), method='random', pruner='none', trials=trials, epochs=args.epochs,
             start_from_defaults=False, run_dir=folder / name, progress=False, save=False)
        return time.perf_counter() - t

    bare(-1)  # warm-up
    n, blocks = args.repeats, []
    for b in range(3):
        t_bare = sum(bare(i) for i in range(n))
        blocks.append((t_bare, study(f'fixed-{b}', n)))
    ratios = [t / b for b, t in blocks]
    one_call = study('one-call', 1) / statistics.median([b / n for b, _ in blocks])
    print('overhead per trial: ' + ', '.join(f'{n} trials in a study {t:.2f} s / {n} fits {b:.2f} s' for b, t in blocks)
          + f'; ratios {", ".join(f"{r:.3f}" for r in ratios)}; a one-trial call (opening the study included) '
          f'{one_call:.3f}× a fit', flush=True)
    return statistics.median(ratios)


def _prepared(data: str):
    example = load_example(data)
    return prepare(example.problem(), example.data)


def _one_thread():
    import torch
    torch.set_num_threads(1)
    warnings.filterwarnings('ignore')


def _search_seed(job) -> dict:
    "One seed's search, in a worker process (`--jobs`)."
    args, seed, folder = job
    return search(_prepared(args.data), args, seed, folder)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--data', default='digits', help='digits (the CNN) or penguins (the MLP)')
    ap.add_argument('--trials', type=int, default=32, help='random search trials (the budget is trials × epochs)')
    ap.add_argument('--epochs', type=int, default=6)
    ap.add_argument('--seeds', type=int, default=10, help='seeds (the ratio is their median: one seed alone varies widely)')
    ap.add_argument('--jobs', type=int, default=1, help='seeds run at a time, each in a process of its own')
    ap.add_argument('--first-seed', type=int, default=0, help='the seeds are first-seed … first-seed + seeds - 1 (more seeds later)')
    ap.add_argument('--repeats', type=int, default=5, help='runs of the overhead comparison')
    ap.add_argument('--pruner', default='auto', help="TPE's pruner: auto (halving), halving, hyperband, median")
    ap.add_argument('--noise-seeds', type=int, default=3, help="other seeds to retrain random search's best configuration with")
    ap.add_argument('--keep', default=None, help='a folder to keep the studies in (default: a temporary one, removed)')
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        folder = Path(args.keep or d)
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        if args.jobs > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor
            with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context('spawn'), initializer=_one_thread) as pool:
                by_seed = list(pool.map(_search_seed, [(args, seed, folder) for seed in seeds]))
        else:
            by_seed = [search(_prepared(args.data), args, seed, folder) for seed in seeds]
        cost = overhead(_prepared(args.data), args, folder)
    for n in budgets(args.trials):
        ratios = sorted(r[n] for r in by_seed)
        print(f'tpe_pruned_epochs_vs_random at {n} trials × {args.epochs} epochs over {args.seeds} seeds: '
              f'{", ".join(f"{r[n]:.3f}" for r in by_seed)} (median {statistics.median(ratios):.3f}, '
              f'spread {ratios[0]:.3f}–{ratios[-1]:.3f})')
    if args.noise_seeds:
        aware = [r['noise-aware'] for r in by_seed]
        spread = sorted(aware)
        print(f'noise-aware tpe_pruned_epochs_vs_random (information) over {args.seeds} seeds: '
              f'{", ".join(f"{r:.3f}" for r in aware)} (median {statistics.median(aware):.3f}, '
              f'spread {spread[0]:.3f}–{spread[-1]:.3f})')
    for name in REPLAYED:
        stopped = [r['replay'][name][0] for r in by_seed]
        shares = [r['replay'][name][1] for r in by_seed]
        print(f'pruner replay on random search\'s curves (information): {name} would have stopped the trial that ended '
              f'best in {sum(stopped)} of {len(stopped)} studies, spending {statistics.mean(shares):.3f} of the epochs '
              f'({", ".join(f"{s:.2f}" for s in shares)})')
    ratios = [r[args.trials] for r in by_seed]
    print(f'ratio tpe_pruned_epochs_vs_random {statistics.median(ratios):.3f}')
    print(f'ratio tune_overhead {cost:.3f}')


if __name__ == '__main__':
    main()
