"The package as users get it: a light import, its data inside the wheel, a README in step with its notebook."
import configparser
import subprocess
import sys
import zipfile

from conftest import ROOT


def _imported_after(statement):
    code = f'import sys; {statement}; print(" ".join(sorted(sys.modules)))'
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    return set(done.stdout.split())


def test_importing_dlwork_is_light():
    assert not {'pandas', 'torch', 'fastai', 'matplotlib'} & _imported_after('import dlwork, dlwork.cli')
    heavy = {'torch', 'fastai', 'matplotlib', 'seaborn', 'sklearn', 'ipywidgets', 'scipy'}
    assert not heavy & _imported_after('import dlwork.problem')
    assert not heavy & _imported_after('import dlwork.core')
    assert not heavy & _imported_after('import dlwork.workflow')  # the config's schema imports the chapters when it is built


def test_the_recipe_replays_without_fastai_or_torch():
    "The deployed predictor carries `dlwork.recipe`: it must not pull in the training stack."
    heavy = {'torch', 'fastai', 'fastcore', 'matplotlib', 'seaborn', 'sklearn', 'ipywidgets', 'scipy'}
    assert not heavy & _imported_after('import dlwork.recipe')


def test_readme_is_generated_from_the_index_notebook():
    done = subprocess.run([sys.executable, str(ROOT / 'tools' / 'make_readme.py'), '--check'], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_readme_starts_with_the_install_and_test_commands():
    text = (ROOT / 'README.md').read_text()
    blocks = text.split('```bash\n')[1:3]
    commands = [b.split('\n```')[0].strip() for b in blocks]
    assert commands[0].startswith('python3 -m venv .venv') and 'pip install -e ".[dev]"' in commands[0]
    assert commands[0].endswith('dlwork run --example penguins')
    assert 'nbdev_test' in commands[1] and 'pytest' in commands[1]
    assert text.index('```bash') < text.index('## ')


def test_the_working_set_is_pinned():
    cfg = configparser.ConfigParser(delimiters=['='])
    cfg.read(ROOT / 'settings.ini')
    req = cfg['DEFAULT']['requirements'].split()
    dev = cfg['DEFAULT']['dev_requirements'].split()
    for pin in ['fastai==2.8.7', 'fastcore==1.14.5', 'torch==2.14.1', 'torchvision==0.29.1']:
        assert pin in req
    assert any(r.startswith('pandas') and '<3' in r for r in req)
    for pin in ['nbdev==2.4.14', 'execnb==0.1.18']:
        assert pin in dev
    assert cfg['DEFAULT']['update_pyproject'] == 'False'
    assert cfg['DEFAULT']['console_scripts'] == 'dlwork=dlwork.cli:main'


def test_the_extras_for_notebook_readers_and_scale_out_are_in_dev():
    "One install for notebook readers (JupyterLab, nbdev's show_doc), one for Dask; `dev` holds both."
    import importlib.metadata
    extras = importlib.metadata.metadata('dlwork').get_all('Provides-Extra')
    assert {'dev', 'notebooks', 'scale'} <= set(extras)
    from packaging.requirements import Requirement
    requires = [Requirement(r) for r in importlib.metadata.requires('dlwork')]
    def wanted(extra):
        return {r.name for r in requires if r.marker is not None and r.marker.evaluate({'extra': extra})}
    assert {'jupyterlab', 'nbdev', 'ipykernel'} <= wanted('notebooks')
    assert {'dask', 'distributed'} <= wanted('scale')
    assert wanted('notebooks') | wanted('scale') <= wanted('dev')


def test_the_wheel_carries_the_example_data(tmp_path):
    done = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(tmp_path),
                           str(ROOT)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    wheel, = tmp_path.glob('dlwork-*.whl')
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in ['dlwork/data/penguins.csv', 'dlwork/data/seaice.csv', 'dlwork/data/README.md',
              'dlwork/data/sentiment/yelp_labelled.txt', 'dlwork/data/sentiment/amazon_cells_labelled.txt',
              'dlwork/data/sentiment/readme.txt', 'dlwork/problem.py', 'dlwork/cli.py',
              'dlwork/prep.py', 'dlwork/recipe.py', 'dlwork/model.py', 'dlwork/train.py']:
        assert f in names, f
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith('entry_points.txt'))).decode()
    assert 'dlwork = dlwork.cli:main' in entry_points
