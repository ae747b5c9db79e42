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
    assert 'explore' in done.stdout and 'examples' in done.stdout
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
