"""Evaluation from the command line and the run registry under a hard kill: `dlwork train` then `dlwork evaluate --run`
in fresh processes; a registry writer killed with SIGKILL mid-write leaves a readable registry with only whole
evaluations; importing dlwork.evaluate stays light."""
import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np

from conftest import ROOT


def test_train_then_evaluate(dlwork, tmp_path):
    "The console script end to end: train, evaluate the run, a second look counted; bad input exits with status 2."
    train = dlwork('train', '--example', 'breast_cancer', '--epochs', '3', '--quiet')
    assert train.returncode == 0, train.stderr
    first = dlwork('evaluate', '--run', 'runs/breast_cancer', '--resamples', '300')
    assert first.returncode == 0, first.stderr
    assert 'logistic regression' in first.stdout and 'HistGradientBoosting' in first.stdout
    assert 'recorded as evaluation 1 in runs/registry.db' in first.stdout
    out = tmp_path / 'runs' / 'breast_cancer' / 'evaluate'
    info = json.loads((out / 'metrics.json').read_text())
    assert info['looks'] == 1 and set(info['intervals']) >= {'accuracy', 'roc_auc', 'log_loss', 'brier'}
    html = (out / 'report.html').read_text()
    assert html.count('data:image/png;base64') >= 4 and 'src="http' not in html
    second = dlwork('evaluate', '--run', 'runs/breast_cancer', '--no-baselines', '--max-looks', '1')
    assert second.returncode == 0, second.stderr
    assert 'looked at 2 times' in second.stdout and 'TestSetOveruse' in second.stderr
    bad = dlwork('evaluate', '--run', 'runs/breast_cancer', '--metric', 'r2')
    assert bad.returncode == 2 and bad.stderr.startswith("dlwork evaluate: error: metric 'r2' does not fit a binary task")
    with sqlite3.connect(tmp_path / 'runs' / 'registry.db') as db:
        assert db.execute('SELECT COUNT(*) FROM evaluations').fetchone()[0] == 2


WRITER = textwrap.dedent("""
    import sys, types
    import numpy as np
    from dlwork.evaluate import Registry
    registry = Registry(sys.argv[1])
    rng = np.random.default_rng(int(sys.argv[2]))
    truth = rng.integers(0, 3, 200_000)
    print('ready', flush=True)
    i = 0
    while True:   # whole evaluations of a large test set, one after another, until killed
        outputs = rng.dirichlet(np.ones(3), len(truth))
        report = types.SimpleNamespace(run=f'run{i}', model='mlp', task='multiclass', fingerprint='f' * 16, truth=truth,
                                       outputs=outputs, metric='accuracy', metrics={'accuracy': float(i)}, config={'i': i})
        registry.record(report)
        i += 1
""")


def test_registry_survives_kill(tmp_path):
    "Kill writers at random moments: the registry stays readable, and every evaluation in it is whole, with its look."
    path = tmp_path / 'registry.db'
    script = tmp_path / 'writer.py'
    script.write_text(WRITER)
    rng = np.random.default_rng(0)
    for round_ in range(4):
        proc = subprocess.Popen([sys.executable, str(script), str(path), str(round_)], stdout=subprocess.PIPE, text=True,
                                cwd=ROOT)
        assert proc.stdout.readline().strip() == 'ready'
        time.sleep(float(rng.uniform(0.3, 1.5)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with sqlite3.connect(path) as db:
            assert db.execute('PRAGMA integrity_check').fetchone()[0] == 'ok'
    from dlwork.evaluate import Registry
    registry = Registry(path)
    frame = registry.frame()
    assert len(frame) >= 2, 'the writers were killed before writing anything: lengthen the sleep'
    assert registry.looks('f' * 16) == len(frame)      # an evaluation and its look are written together or not at all
    for id_ in frame.index:
        d = registry.get(id_)
        assert d['truth'].shape == (200_000,) and d['outputs'].shape == (200_000, 3)
        np.testing.assert_allclose(d['outputs'].sum(1), 1, atol=1e-9)


def test_import_is_light():
    "Importing dlwork.evaluate (the registry, the tests, the report) imports neither torch, fastai nor scikit-learn."
    code = ("import sys, dlwork.evaluate; heavy = [m for m in ('torch', 'fastai', 'sklearn', 'matplotlib') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == '', f'dlwork.evaluate imported {out.stdout.strip()}'
