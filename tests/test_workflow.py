"""The whole workflow, end to end, on every modality and task: `run_workflow` (what `dlwork run` calls) from raw data to a
bundle, then the bundle's torch-free predictions on rows the model never saw, against the trained learner's; the
command itself, its config and its bad input."""
import json
import os
import subprocess

import numpy as np
import pandas as pd
import pytest

from conftest import dlwork_command

# example → (epochs, fresh rows of the same kind the model never saw). Small: CI runs every one of them.
EPOCHS = {'penguins': 4, 'breast_cancer': 3, 'diabetes': 4, 'digits': 2, 'sentiment': 2, 'seaice': 2, 'shapes': 2}
PREPARE = {'shapes': {'size': 32}}  # the 1,000 scenes at 32×32: the same path as 64×64, a quarter of the pixels


def _jittered(rows: pd.DataFrame, rng, scale: float = 0.02) -> pd.DataFrame:
    "Rows like `rows`, with every number moved by a few percent: new rows, in the training distribution."
    out = rows.copy()
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col] * (1 + rng.normal(0, scale, len(out)))
    return out


def _fresh(name: str, run) -> pd.DataFrame | list:
    rng = np.random.default_rng(1)
    prepared = run.results['prepared']
    target = prepared.problem.targets
    if name == 'digits':
        images = [np.clip(img.astype(float) + rng.normal(0, 1.0, img.shape), 0, 16).astype(img.dtype)
                  for img in prepared.test['image'].iloc[:40]]
        return pd.DataFrame({'image': images})
    if name == 'shapes':  # scenes with a little more noise
        return pd.DataFrame({'image': [np.clip(img.astype(float) + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
                                       for img in prepared.test['image'].iloc[:12]]})
    if name == 'sentiment':
        return pd.DataFrame({'sentence': ['The waiter was friendly and the soup superb.', 'Terrible phone, it broke in a week.',
                                          'Not bad at all, I would come back.', 'Worst service I have ever had.',
                                          'Great value, works as described!']})
    if name == 'seaice':  # a history the model never saw: the test period, a little off
        history = prepared.data.iloc[-400:].reset_index()
        history['Extent'] = history['Extent'] * (1 + rng.normal(0, 0.01, len(history)))
        return history
    return _jittered(prepared.test.drop(columns=target), rng)


def _learner_outputs(learn, fresh) -> np.ndarray:
    with learn.no_bar(), learn.no_logging():
        return learn.get_preds(dl=learn.dls.test_dl(fresh))[0].float().numpy()


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
    folder = tmp_path_factory.mktemp('workflow')
    old = os.getcwd()
    os.chdir(folder)
    yield folder
    os.chdir(old)


@pytest.mark.parametrize('name', list(EPOCHS))
def test_every_modality_runs_end_to_end_and_its_bundle_predicts_what_the_learner_does(workdir, name):
    from dlwork.deploy import Predictor
    from dlwork.workflow import RUN_FILES, run_workflow
    run = run_workflow(data={'example': name}, prepare=PREPARE.get(name, {}), train={'epochs': EPOCHS[name]},
                       evaluate={'resamples': 100}, progress=False)
    for f in RUN_FILES:
        assert (run.path / f).exists(), f
    assert not [p for p in run.path.parent.iterdir() if p.name.startswith('.')], 'a temporary folder was left in runs/'
    report, task = run.report, run.results['problem'].task
    assert len(report.leaderboard) >= 2, 'the network must be shown next to at least one baseline'
    predictor = Predictor.load(run.bundle)
    fresh = _fresh(name, run)
    expected = _learner_outputs(run.learn, fresh)
    got = predictor.raw(fresh, every_window=True) if name == 'seaice' else predictor.raw(fresh)
    assert got.shape[0] == expected.shape[0] > 0
    np.testing.assert_allclose(got.reshape(expected.shape), expected, atol=1e-4, rtol=1e-4)  # float32: relative above 1
    if task == 'segmentation':  # a mask per image, the learner's argmax pixel for pixel
        assert (predictor.masks(fresh) == expected.argmax(1)).all()
    if task in ('binary', 'multiclass'):
        labels = predictor.predict(fresh)['prediction']
        assert list(labels.astype(str)) == [str(report.labels[i]) for i in expected.argmax(1)]
    page = (run.path / 'report.html').read_text()
    assert report.model in page and 'Evaluation on the held-out test set' in page


def test_dlwork_run_repeats_itself_from_its_saved_config(tmp_path):
    "The effective config saved in the run reproduces it: same seeds, same metrics (through the command)."
    command = dlwork_command()
    env = dict(os.environ, MPLBACKEND='Agg')
    first = subprocess.run([command, 'run', '--example', 'diabetes', '--epochs', '3', '--resamples', '100', '--seed-model', '3'],
                           cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    assert '[1/7] problem' in first.stdout and 'serve it: dlwork serve runs/diabetes/bundle' in first.stdout
    assert 'epoch 3/3' in first.stdout  # one line per epoch into a pipe
    again = subprocess.run([command, 'run', '--config', 'runs/diabetes/config.yaml', '--name', 'again', '--quiet'],
                           cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout == ''
    metrics = [json.loads((tmp_path / 'runs' / r / 'evaluate' / 'metrics.json').read_text())['metrics'] for r in ('diabetes', 'again')]
    assert metrics[0] == metrics[1]
    assert 'seed: 3' in (tmp_path / 'runs' / 'again' / 'config.yaml').read_text()


BAD = {
    'a path that does not exist': (['run', 'missing.csv', '--target', 'y'], "no file or folder at 'missing.csv'"),
    'a target that is not a column': (['run', 'table.csv', '--target', 'specie'], "target column 'specie' is not in the data (did you mean 'species'?)"),
    'a folder with no images': (['run', 'empty', '--target', 'label'], "found no images in sub-folders of 'empty'"),
    'a config with an unknown key': (['run', '--config', 'unknown.yaml'], "unknown key 'train.epoch' (did you mean 'epochs'?)"),
    'a config with a wrong type': (['run', '--config', 'wrong.yaml'], "key 'prepare.valid': input should be a valid number"),
    'an unknown example': (['run', '--example', 'pengiuns'], "there is no example called 'pengiuns' (did you mean 'penguins'?)"),
}


@pytest.mark.parametrize('case', list(BAD))
def test_bad_input_to_dlwork_run_is_one_line_exit_2_and_nothing_written(tmp_path, dlwork, case):
    from dlwork.problem import load_example
    load_example('penguins').data.to_csv(tmp_path / 'table.csv', index=False)
    (tmp_path / 'empty' / 'cats').mkdir(parents=True)
    (tmp_path / 'unknown.yaml').write_text('data:\n  example: penguins\ntrain:\n  epoch: 3\n')
    (tmp_path / 'wrong.yaml').write_text('data:\n  example: penguins\nprepare:\n  valid: a fifth\n')
    argv, message = BAD[case]
    done = dlwork(*argv)
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if 'Warning' not in line and not line.startswith('  warnings.warn')]
    assert errors == [errors[0]] and errors[0].startswith('dlwork run: error: ') and message in errors[0], done.stderr
    assert 'Traceback' not in done.stderr
    assert not (tmp_path / 'runs').exists() or not any((tmp_path / 'runs').iterdir()), list((tmp_path / 'runs').iterdir())


def test_a_run_killed_midway_leaves_nothing_and_the_next_run_cleans_up(tmp_path):
    "SIGKILL during training: no half-written run in runs/; the leftover temporary folder goes with the next run."
    import signal
    import time
    env = dict(os.environ, MPLBACKEND='Agg')
    proc = subprocess.Popen([dlwork_command(), 'run', '--example', 'digits', '--epochs', '30', '--resamples', '100'],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    for line in proc.stdout:
        if line.startswith('epoch 1/'):
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    runs = tmp_path / 'runs'
    assert not (runs / 'digits').exists()
    leftovers = [p.name for p in runs.iterdir() if p.name.startswith('.digits.partial-')]
    assert leftovers, 'the killed run should have been writing into a temporary folder'
    done = subprocess.run([dlwork_command(), 'run', '--example', 'digits', '--epochs', '1', '--resamples', '100', '--quiet'],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in runs.iterdir()) == ['digits', 'registry.db']


def test_dlwork_run_on_a_file_and_on_a_folder_of_images(tmp_path, dlwork):
    "DATA as a user has it: a CSV file with --target, and a folder with one sub-folder of PNG images per class."
    from PIL import Image
    from dlwork.problem import load_example
    load_example('breast_cancer').data.to_csv(tmp_path / 'cells.csv', index=False)
    done = dlwork('run', 'cells.csv', '--target', 'diagnosis', '--epochs', '2', '--resamples', '100', '--quiet', timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / 'runs' / 'cells' / 'report.html').exists()
    digits = load_example('digits').data.groupby('label').head(40)
    for i, row in enumerate(digits.itertuples()):
        folder = tmp_path / 'digits' / str(row.label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((row.image * 15).astype('uint8')).save(folder / f'{i}.png')
    done = dlwork('run', 'digits', '--target', 'label', '--epochs', '2', '--resamples', '100', '--quiet', timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((tmp_path / 'runs' / 'digits' / 'evaluate' / 'metrics.json').read_text())
    assert metrics['task'] == 'multiclass' and metrics['rows'] >= 50


def test_run_workflow_with_tuning_trains_evaluates_and_exports_the_best_configuration(workdir):
    "`--tune N`: the study in tune/, the best configuration retrained into train/ (with a checkpoint), evaluated and exported."
    from dlwork.workflow import run_workflow
    run = run_workflow(data={'example': 'penguins'}, name='penguins-tuned', tune={'trials': 3, 'epochs': 2},
                       evaluate={'resamples': 100}, progress=False)
    tuning = run.results['tuning']
    assert len(tuning.trials) == 3 and (run.path / 'tune' / 'study.db').exists()
    assert (run.path / 'train' / 'checkpoint.pth').exists()
    design = json.loads((run.path / 'train' / 'training.json').read_text())['design']
    for key, value in tuning.best_params.items():
        if key in design:
            assert design[key] == value, key
    assert 'Tuning' in (run.path / 'report.html').read_text()
    assert json.loads((run.path / 'bundle' / 'metadata.json').read_text())['model']['arch'] == design['arch']
