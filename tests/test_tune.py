"""Tuning studies shared and killed the hard way: two worker processes on one study, a study killed with SIGKILL and
resumed, and a worker killed mid-trial whose trial is failed by its stopped heartbeat and run again."""
import json
import os
import signal
import subprocess
import time
import warnings

import optuna
from optuna.trial import TrialState

from conftest import dlwork_command

# penguins, an MLP of ten epochs: about half a second per trial on two CPU cores
TUNE = ['tune', '--example', 'penguins', '--epochs', '10', '--heartbeat', '1', '--no-defaults']
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def _trials(run) -> list:
    "The trials of the run's study ([] while it does not exist yet)."
    db = run / 'tune' / 'study.db'
    if not db.exists():
        return []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            return optuna.load_study(study_name='dlwork', storage=f'sqlite:///{db}').get_trials(deepcopy=False)
    except Exception:  # the study is being created
        return []


def _start(tmp_path, *args):
    env = dict(os.environ, MPLBACKEND='Agg')
    return subprocess.Popen([dlwork_command(), *map(str, args)], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env)


def _wait_for(condition, proc, seconds=240):
    deadline = time.time() + seconds
    while not condition() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, f'the tuning ended before the moment to kill it: {proc.stderr.read()}'


def _retried(trials) -> dict:
    """Failed trial number → its retry. A retry's `retry_history` ends with the trial it replaced; its `failed_trial`
    names the first of the chain (Optuna copies it from a failed trial that was itself a retry), so it cannot be used."""
    return {t.system_attrs['retry_history'][-1]: t for t in trials if t.system_attrs.get('retry_history')}


def _shown(trials) -> str:
    "The trials' numbers, states and retry chains, for a failing assertion."
    return '; '.join(f"{t.number} {t.state.name} {t.system_attrs.get('retry_history', '')}" for t in trials)


def test_two_workers_share_one_study(dlwork, tmp_path):
    space = {'lr': {'type': 'choice', 'values': [0.003, 0.01, 0.03, 0.1]},
             'layers': {'type': 'choice', 'values': [[64], [128], [128, 64], [256, 128]]},
             'bs': {'type': 'fixed', 'value': 32}}
    (tmp_path / 'grid.json').write_text(json.dumps(space))
    run = tmp_path / 'p'
    # 60 epochs a trial (about 1.4 s here): the second worker needs about 5 s to start (Python, torch, the data), and
    # with 10-epoch trials (0.25 s) the first had finished all 16 before it joined
    done = dlwork(*TUNE, '--epochs', '60', '--method', 'grid', '--space', tmp_path / 'grid.json', '--pruner', 'none',
                  '--workers', '2', '--out', run, timeout=400)
    assert done.returncode == 0, done.stderr
    trials = _trials(run)
    assert len(trials) == 16 and all(t.state == TrialState.COMPLETE for t in trials)
    combinations = [(t.params['lr'], t.params['layers']) for t in trials]
    assert len(set(combinations)) == 16                                  # every grid point once, none twice
    workers = {t.user_attrs['worker'] for t in trials}
    assert len(workers) == 2, workers                                    # both processes did trials
    assert len(open(run / 'tune' / 'trials.csv').read().splitlines()) == 17


def test_a_killed_study_resumes_and_keeps_its_trials(dlwork, tmp_path):
    run = tmp_path / 'p'
    proc = _start(tmp_path, *TUNE, '--trials', '12', '--out', run, '--quiet')
    _wait_for(lambda: sum(t.state in FINISHED for t in _trials(run)) >= 4, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {t.number: (t.state, t.value, t.params) for t in _trials(run) if t.state in FINISHED}
    assert 4 <= len(before) < 12

    done = dlwork(*TUNE, '--trials', '12', '--out', run, '--resume', '--quiet', timeout=400)
    assert done.returncode == 0, done.stderr
    after = _trials(run)
    assert {t.number: (t.state, t.value, t.params) for t in after if t.number in before} == before   # nothing lost or changed
    retried = _retried(after)
    finished = [t for t in after if t.state in FINISHED or (t.state == TrialState.FAIL and t.number not in retried)]
    assert len(finished) == 12
    assert not [t for t in after if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    for t in after:
        if t.state == TrialState.FAIL:                                   # the trial running when the process was killed
            assert t.number in retried and retried[t.number].state in FINISHED


def test_a_worker_killed_mid_trial_is_failed_and_retried(tmp_path):
    run = tmp_path / 'p'
    # 40-epoch trials, none pruned (about 1 s each): the second worker starts about 5 s after the first, and with
    # 10-epoch trials the first had run 28 of the 30 by then, leaving almost nothing to kill the second in
    main = _start(tmp_path, *TUNE, '--epochs', '40', '--pruner', 'none', '--trials', '30', '--workers', '2', '--out', run,
                  '--quiet')
    mine = f':{main.pid}'
    other = lambda: [t for t in _trials(run) if t.state == TrialState.RUNNING
                     and not t.user_attrs.get('worker', mine).endswith(mine)]
    while True:   # stop the second worker, check that it is mid-trial (it may have just finished one), then kill it
        _wait_for(lambda: bool(other()), main)
        found = other()
        if not found:
            continue
        pid = int(found[0].user_attrs['worker'].rsplit(':', 1)[1])
        os.kill(pid, signal.SIGSTOP)
        running = [t for t in _trials(run) if t.state == TrialState.RUNNING
                   and t.user_attrs.get('worker', '').endswith(f':{pid}')]
        if running:
            victim = running[0]
            os.kill(pid, signal.SIGKILL)
            break
        os.kill(pid, signal.SIGCONT)
    main.wait(timeout=400)
    assert main.returncode == 0, main.stderr.read()
    trials = _trials(run)
    killed = next(t for t in trials if t.number == victim.number)
    assert killed.state == TrialState.FAIL                              # failed by its stopped heartbeat
    assert victim.number in _retried(trials), f'trial {victim.number} was not retried: {_shown(trials)}'
    retry = _retried(trials)[victim.number]
    assert retry.state in FINISHED and retry.params == killed.params    # and run again, by the surviving worker
    retried = _retried(trials)
    assert sum(t.state in FINISHED or (t.state == TrialState.FAIL and t.number not in retried) for t in trials) == 30


def test_a_trial_whose_worker_died_before_it_began_is_failed_and_retried(tmp_path):
    "Killed between creating a trial and its first heartbeat, a worker leaves a trial Optuna never sees as stale; resume fails and retries it."
    import datetime
    import sqlite3
    from dlwork.prep import prepare
    from dlwork.problem import load_example
    from dlwork.tune import open_storage, tune
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    example = load_example('penguins')
    prepared = prepare(example.problem(), example.data)
    options = dict(epochs=2, run_dir=tmp_path, progress=False, heartbeat=1, start_from_defaults=False)
    tune(prepared, trials=2, **options)
    orphan = optuna.load_study(study_name='dlwork', storage=open_storage(None, tmp_path, heartbeat=1)).ask()
    with sqlite3.connect(tmp_path / 'study.db') as db:   # it began a minute ago, and never sent a heartbeat
        db.execute('UPDATE trials SET datetime_start = ? WHERE trial_id = ?',
                   ((datetime.datetime.now() - datetime.timedelta(minutes=1)).isoformat(' '), orphan._trial_id))
    started = time.time()
    result = tune(prepared, trials=4, resume=True, **options)
    assert time.time() - started < 60
    trials = result.study.trials
    dead = trials[orphan.number]
    assert dead.state == TrialState.FAIL and dead.user_attrs['reason'] == 'its worker died before the trial began'
    assert _retried(trials)[orphan.number].state in FINISHED
    assert result.counts()['running'] == 0



def _open_at(path, barrier, errors):
    "Open the study storage at `path` the moment every process is ready; put the error (if any) on `errors`."
    from dlwork.tune import open_storage
    barrier.wait()
    try:
        open_storage(path, heartbeat=None)
    except Exception as e:
        errors.put(str(e))


def test_workers_creating_one_storage_at_once(tmp_path):
    "Workers (or a dashboard) starting together on a new SQLite file race to create its tables; none of them fails."
    import multiprocessing
    ctx = multiprocessing.get_context('spawn')
    barrier, errors = ctx.Barrier(5), ctx.Queue()
    procs = [ctx.Process(target=_open_at, args=(tmp_path / 'study.db', barrier, errors)) for _ in range(5)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    found = [errors.get() for _ in range(errors.qsize())]
    assert not found, found
    assert all(p.exitcode == 0 for p in procs)
