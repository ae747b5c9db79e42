"The `dlwork` command, run as a user runs it: a separate process, from a working directory of its own."
import hashlib
import json

import numpy as np
import pandas as pd
from PIL import Image

from dlwork.problem import load_example


def _digests(folder):
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob('*')) if p.is_file()}


def test_help_lists_the_subcommands(dlwork):
    done = dlwork('--help')
    assert done.returncode == 0
    assert 'explore' in done.stdout and 'examples' in done.stdout and 'prepare' in done.stdout and 'train' in done.stdout
    train = dlwork('train', '--help').stdout
    for option in ['--epochs', '--arch', '--option', '--loss', '--opt', '--lr', '--wd', '--policy', '--monitor',
                   '--patience', '--clip', '--seed-model', '--resume', '--bs', '--split', '--out']:
        assert f'{option} ' in train, option
    options = dlwork('explore', '--help').stdout
    for option in ['--example', '--target', '--task', '--modality', '--time', '--text', '--other', '--out', '--name']:
        assert f'{option} ' in options, option


def test_version(dlwork):
    import dlwork as package
    assert dlwork('--version').stdout.strip() == f'dlwork {package.__version__}'


def test_examples_lists_the_built_in_data(dlwork):
    out = dlwork('examples').stdout
    for name in ['penguins', 'digits', 'breast_cancer', 'diabetes', 'sentiment', 'seaice']:
        assert name in out


def test_explore_example_writes_the_run_directory(dlwork, tmp_path):
    done = dlwork('explore', '--example', 'penguins')
    assert done.returncode == 0, done.stderr
    run = tmp_path / 'runs' / 'penguins'
    problem = json.loads((run / 'problem.json').read_text())
    assert (problem['task'], problem['target'], problem['classes']) == ('multiclass', 'species', ['Adelie', 'Chinstrap', 'Gentoo'])
    eda = run / 'eda'
    for name in ['report.html', 'report.md', 'summary.csv', 'findings.csv', 'target.png', 'features.png',
                 'correlations.png', 'feature_target.png']:
        assert (eda / name).stat().st_size > 0, name
    assert (eda / 'report.html').read_text().count('data:image/png;base64,') == 4
    assert (eda / 'target.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    findings = pd.read_csv(eda / 'findings.csv')
    assert findings.query("check == 'missing' and columns == 'sex'")['count'].item() == 11
    assert "[low] 'sex' is missing in 11 rows (3.2%)" in done.stdout


def test_explore_a_csv_against_another(dlwork, tmp_path):
    df = load_example('penguins').data
    df[df['island'] == 'Biscoe'].to_csv(tmp_path / 'biscoe.csv', index=False)
    df[df['island'] != 'Biscoe'].to_csv(tmp_path / 'others.csv', index=False)
    done = dlwork('explore', 'biscoe.csv', '--target', 'species', '--other', 'others.csv', '--quiet')
    assert done.returncode == 0, done.stderr
    assert done.stdout == ''
    shift = pd.read_csv(tmp_path / 'runs' / 'biscoe' / 'eda' / 'shift.csv', index_col=0)
    assert shift.loc['(all features)', 'shifted']


def test_explore_an_image_folder(dlwork, tmp_path):
    digits = load_example('digits').data
    for label, group in digits.groupby('label'):
        (tmp_path / 'digits' / str(label)).mkdir(parents=True)
        for i, img in enumerate(group['image'][:4]):
            Image.fromarray((img * 15).astype(np.uint8)).save(tmp_path / 'digits' / str(label) / f'{i}.png')
    (tmp_path / 'digits' / '7' / 'corrupt.png').write_bytes(b'\x89PNG but not really')
    done = dlwork('explore', 'digits', '--target', 'label')
    assert done.returncode == 0, done.stderr
    problem = json.loads((tmp_path / 'runs' / 'digits' / 'problem.json').read_text())
    assert (problem['modality'], problem['task'], len(problem['classes'])) == ('image', 'multiclass', 10)
    assert '[high] 1 of the 41 images checked cannot be read' in done.stdout
    assert (tmp_path / 'runs' / 'digits' / 'eda' / 'samples.png').exists()


def test_explore_a_time_series(dlwork, tmp_path):
    load_example('seaice').data.to_csv(tmp_path / 'ice.csv', index=False)
    done = dlwork('explore', 'ice.csv', '--target', 'Extent', '--time', 'Date', '--out', 'ice_run')
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / 'ice_run' / 'problem.json').read_text())['modality'] == 'sequence'
    assert 'a gap longer than 5× the usual step, the longest 42 days ending 1988-01-13' in done.stdout


def test_bad_input_gets_a_clear_error_and_status_2(dlwork, tmp_path):
    def error(*args):
        done = dlwork(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert 'Traceback' not in done.stderr
        return done.stderr.strip()

    assert "there is no example called 'pengiuns' (did you mean 'penguins'?)" in error('explore', '--example', 'pengiuns')
    assert error('explore', 'missing.csv', '--target', 'y') == "dlwork explore: error: no file at 'missing.csv'"
    (tmp_path / 'empty.csv').write_text('')
    assert "'empty.csv' is empty" in error('explore', 'empty.csv', '--target', 'y')
    (tmp_path / 'broken.parquet').write_bytes(b'PAR1 definitely not parquet')
    assert "could not read 'broken.parquet' as Parquet" in error('explore', 'broken.parquet', '--target', 'y')
    load_example('penguins').data.to_csv(tmp_path / 'p.csv', index=False)
    assert "target column 'specie' is not in the data (did you mean 'species'?)" in error('explore', 'p.csv', '--target', 'specie')
    assert 'give the column to predict with --target' in error('explore', 'p.csv')
    assert 'not both or neither' in error('explore', 'p.csv', '--example', 'penguins')
    assert "unknown task 'regresion'" in error('explore', 'p.csv', '--target', 'species', '--task', 'regresion')
    only_adelie = load_example('penguins').data.query("species == 'Adelie'")
    only_adelie.to_csv(tmp_path / 'adelie.csv', index=False)
    assert "single class, 'Adelie'" in error('explore', 'adelie.csv', '--target', 'species')
    assert dlwork('explore').returncode == 2


def test_a_failed_run_leaves_an_earlier_report_untouched(dlwork, tmp_path):
    load_example('penguins').data.to_csv(tmp_path / 'p.csv', index=False)
    assert dlwork('explore', 'p.csv', '--target', 'species', '--out', 'run').returncode == 0
    before = _digests(tmp_path / 'run')
    assert dlwork('explore', 'p.csv', '--target', 'nothing', '--out', 'run').returncode == 2
    assert _digests(tmp_path / 'run') == before


def test_prepare_uses_the_explored_problem_and_writes_the_preparation(dlwork, tmp_path):
    assert dlwork('explore', '--example', 'penguins', '--quiet').returncode == 0
    run = tmp_path / 'runs' / 'penguins'
    problem = json.loads((run / 'problem.json').read_text())
    problem['columns']['categorical'].remove('sex')           # a decision edited by hand after exploring ...
    problem['columns']['ignored'] = ['sex']
    (run / 'problem.json').write_text(json.dumps(problem))
    done = dlwork('prepare', '--example', 'penguins', '--outliers', 'clip')
    assert done.returncode == 0, done.stderr
    assert 'split integrity' in done.stdout and 'wrote runs/penguins/prep/' in done.stdout
    recipe = json.loads((run / 'prep' / 'recipe.json').read_text())
    assert recipe['inputs'] == ['island', 'bill_length_mm', 'bill_depth_mm', 'flipper_length_mm', 'body_mass_g']  # ... is kept
    assert [s['name'] for s in recipe['steps']] == ['invalid', 'onehot', 'clip', 'impute', 'categorify', 'zscore']
    splits = pd.read_csv(run / 'prep' / 'splits.csv', index_col=0)['split'].value_counts().to_dict()
    assert splits == {'train': 240, 'valid': 52, 'test': 52}


def test_prepare_an_image_folder_skips_and_lists_a_broken_file(dlwork, tmp_path):
    digits = load_example('digits').data
    for i, (image, label) in enumerate(zip(digits['image'][:60], digits['label'][:60])):
        (tmp_path / 'imgs' / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray((image * 16).clip(0, 255).astype(np.uint8)).save(tmp_path / 'imgs' / str(label) / f'{i}.png')
    (tmp_path / 'imgs' / '4' / 'broken.png').write_bytes(b'not a png')
    done = dlwork('prepare', 'imgs', '--target', 'label', '--augment', 'off')
    assert 'Warning' not in done.stderr
    assert done.returncode == 0, done.stderr
    steps = json.loads((tmp_path / 'runs' / 'imgs' / 'prep' / 'steps.json').read_text())
    assert steps[0]['step'] == 'unreadable images' and steps[0]['files'][0].endswith('broken.png')
    assert not any(s['step'] == 'augmentation' for s in steps)


def test_prepare_stops_on_a_leak_and_keeps_the_earlier_preparation(dlwork, tmp_path):
    data = load_example('penguins').data.dropna().sample(120, random_state=0).reset_index(drop=True)
    data['fold'] = np.where(np.arange(len(data)) % 5 == 0, 'valid', np.where(np.arange(len(data)) % 5 == 1, 'test', 'train'))
    data.to_csv(tmp_path / 'p.csv', index=False)
    assert dlwork('prepare', 'p.csv', '--target', 'species', '--split', 'fold', '--out', 'run').returncode == 0
    before = _digests(tmp_path / 'run')
    copy = data.iloc[[2]].assign(fold='test', species='Chinstrap')   # training row 2 again in test, labelled otherwise
    pd.concat([data, copy]).to_csv(tmp_path / 'p.csv', index=False)
    done = dlwork('prepare', 'p.csv', '--target', 'species', '--split', 'fold', '--out', 'run', '--quiet')
    assert done.returncode == 2
    assert 'duplicates: 1 feature vectors appear in more than one split' in done.stderr
    assert 'Traceback' not in done.stderr
    assert _digests(tmp_path / 'run') == before
    done = dlwork('prepare', 'p.csv', '--target', 'species', '--split', 'fold', '--out', 'run', '--allow-leaks', '--quiet')
    assert done.returncode == 0, done.stderr
    assert 'LEAKS ALLOWED' in (tmp_path / 'run' / 'prep' / 'summary.md').read_text()


def test_prepare_bad_input_gets_a_clear_error(dlwork, tmp_path):
    load_example('penguins').data.to_csv(tmp_path / 'p.csv', index=False)
    done = dlwork('prepare', 'p.csv', '--target', 'species', '--split', 'folds')
    assert done.returncode == 2 and "unknown split method 'folds'" in done.stderr
    done = dlwork('prepare', 'p.csv', '--target', 'species', '--valid', '0.6', '--test', '0.5')
    assert done.returncode == 2 and 'valid + test < 1' in done.stderr
    assert dlwork('prepare', '--example', 'seaice', '--window', '20000').returncode == 2


def test_train_takes_architecture_options(dlwork, tmp_path):
    done = dlwork('train', '--example', 'penguins', '--epochs', '2', '--lr', '0.01', '--option', 'layers=[16]',
                  '--option', 'dropout=0.2', '--out', tmp_path / 'p')
    assert done.returncode == 0, done.stderr
    decisions = json.loads((tmp_path / 'p' / 'train' / 'training.json').read_text())
    assert decisions['design']['options'] == {'layers': [16], 'dropout': 0.2}
    assert 'tabm trained 2 epochs at lr 0.01 (given)' in done.stdout
    bad = dlwork('train', '--example', 'penguins', '--epochs', '2', '--option', 'hiden=3', '--out', tmp_path / 'q')
    assert bad.returncode == 2 and "architecture 'tabm' has no option 'hiden'" in bad.stderr
    plain = dlwork('train', '--example', 'penguins', '--epochs', '2', '--arch', 'mlp', '--option', 'batch_norm=false',
                   '--out', tmp_path / 'r')
    assert plain.returncode == 0 and 'mlp trained 2 epochs' in plain.stdout, plain.stderr


def test_target_leakage_stops_prepare_and_train_with_status_2_and_writes_nothing(dlwork, tmp_path):
    data = load_example('penguins').data
    data.assign(species_code=data['species'].map({'Adelie': 'a', 'Chinstrap': 'c', 'Gentoo': 'g'})).to_csv(tmp_path / 'p.csv', index=False)
    assert dlwork('explore', 'p.csv', '--target', 'species', '--out', 'run', '--quiet').returncode == 0
    before = _digests(tmp_path / 'run')
    for command in ('prepare', 'train'):
        extra = ['--epochs', '1'] if command == 'train' else []
        done = dlwork(command, 'p.csv', '--target', 'species', '--out', 'run', '--quiet', *extra)
        assert done.returncode == 2, done.stderr
        message = done.stderr.strip()
        assert len(message.splitlines()) == 1, message
        assert "'species_code' alone predicts 'species'" in message and '--drop species_code' in message, message
        assert _digests(tmp_path / 'run') == before                     # nothing new, nothing changed
    done = dlwork('train', 'p.csv', '--target', 'species', '--out', 'run', '--epochs', '1', '--lr', '0.01',
                  '--drop', 'species_code', '--quiet')
    assert done.returncode == 0, done.stderr
    assert 'species_code' not in json.loads((tmp_path / 'run' / 'prep' / 'recipe.json').read_text())['inputs']


def test_train_into_a_pipe_prints_one_plain_line_per_epoch(dlwork, tmp_path):
    done = dlwork('train', '--example', 'penguins', '--epochs', '4', '--out', tmp_path / 'p')
    assert done.returncode == 0, done.stderr
    assert '\r' not in done.stdout and '\r' not in done.stderr
    epochs = [line for line in done.stdout.splitlines() if line.startswith('epoch ')]
    assert [line.split()[1] for line in epochs] == ['1/4', '2/4', '3/4', '4/4']
    assert all('train_loss' in line and 'valid_loss' in line and 'accuracy' in line for line in epochs)
    assert done.stdout.splitlines()[0].startswith('lr: 0.002 (default for tabm)')
