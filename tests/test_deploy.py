"""Bundles under a hard kill: an export killed at random moments never damages the bundle already in place."""
import json
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np

from conftest import ROOT

EXPORTER = textwrap.dedent("""
    import sys, warnings
    warnings.filterwarnings('ignore')
    from dlwork.problem import load_example
    from dlwork.prep import prepare
    from dlwork.model import learner_for
    from dlwork.train import fit
    from dlwork.deploy import export_bundle
    example = load_example('penguins')
    prepared = prepare(example.problem(), example.data)
    learn = learner_for(prepared, seed=0, path=sys.argv[2])
    fit(learn, 1, seed=0, progress=False, checkpoint=False)
    export_bundle(learn, prepared, sys.argv[1])          # the bundle that must survive
    print('ready', flush=True)
    while True:                                          # exports over it, until killed
        fit(learn, 1, lr=1e-3, seed=0, progress=False, checkpoint=False)
        export_bundle(learn, prepared, sys.argv[1])
""")


def _snapshot(bundle):
    return {f.name: f.read_bytes() for f in bundle.iterdir()}


def test_killed_exports_leave_a_whole_bundle(tmp_path):
    from dlwork.deploy import Predictor, verify_bundle
    bundle = tmp_path / 'bundle'
    script = tmp_path / 'exporter.py'
    script.write_text(EXPORTER)
    rng = np.random.default_rng(0)
    rows, mid_write = None, 0
    for round_ in range(3):
        proc = subprocess.Popen([sys.executable, str(script), str(bundle), str(tmp_path)], stdout=subprocess.PIPE,
                                text=True, cwd=ROOT)
        assert proc.stdout.readline().strip() == 'ready'
        deadline = time.time() + 60
        while not list(tmp_path.glob('.bundle.tmp-*')) and time.time() < deadline:   # the next export has begun
            time.sleep(0.05)
        time.sleep(float(rng.uniform(0.0, 1.5)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        mid_write += bool(list(tmp_path.glob('.bundle.tmp-*')))
        old = tmp_path / '.bundle.old'
        if not bundle.exists():                         # killed between the two renames: the previous bundle is whole
            assert old.is_dir()
            verify_bundle(old)
            continue
        meta = verify_bundle(bundle)                    # every file matches its hash: nothing half-written
        predictor = Predictor.load(bundle)
        if rows is None:
            from dlwork.problem import load_example
            rows = load_example('penguins').data.drop(columns='species').head(20)
        out = predictor.predict(rows)
        assert len(out) == 20 and set(out['prediction']) <= set(meta['problem']['classes'])
    assert mid_write, 'no export was interrupted mid-write: shorten the waits'


def test_retrain_from_the_command_line(dlwork, tmp_path):
    "dlwork retrain on a deliberately weak champion: the challenger wins, is written as v2 and served as the latest."
    import pandas as pd
    from dlwork.problem import load_example
    data = load_example('penguins').data
    old = data.sample(frac=0.5, random_state=0)
    old.to_csv(tmp_path / 'old.csv', index=False)
    data.drop(old.index).to_csv(tmp_path / 'new.csv', index=False)
    assert dlwork('train', 'old.csv', '--target', 'species', '--epochs', '1', '--lr', '0.0001', '--quiet').returncode == 0
    exported = dlwork('export', 'runs/old', '--no-quantize', '--quiet')
    assert exported.returncode == 0, exported.stderr
    done = dlwork('retrain', 'runs/old/bundle', 'new.csv', '--old', 'old.csv', '--epochs', '8', timeout=400)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith('accepted as version 2: challenger − champion v1: better'), done.stdout
    versions = json.loads((tmp_path / 'runs' / 'old' / 'bundle-versions' / 'versions.json').read_text())['versions']
    assert [(v['version'], v['accepted']) for v in versions] == [(1, True), (2, True)]
    bad = dlwork('retrain', 'runs/old/bundle-versions', 'new.csv', '--old', 'old.csv', '--policy', 'always')
    assert bad.returncode == 2 and 'invalid choice' in bad.stderr
    from dlwork.deploy import Predictor
    assert Predictor.load(tmp_path / 'runs' / 'old' / 'bundle-versions').path.name == 'v2'
    no_old = dlwork('retrain', 'runs/old/bundle-versions', 'new.csv')
    assert no_old.returncode != 0 and '--old (the rows the champion was trained on) is needed' in no_old.stderr, no_old.stderr
    tuned = dlwork('retrain', 'runs/old/bundle-versions', 'new.csv', '--fine-tune', '--epochs', '2', '--policy', 'not_worse',
                   timeout=400)                        # v2 fine-tuned on the new rows alone, kept unless significantly worse
    assert tuned.returncode == 0, tuned.stderr
    versions = json.loads((tmp_path / 'runs' / 'old' / 'bundle-versions' / 'versions.json').read_text())['versions']
    assert versions[-1]['version'] == 3 and versions[-1]['start'] == 'champion weights' and versions[-1]['champion'] == 2
