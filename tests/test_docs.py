"""The documentation: every exported function and class, and every public method of an exported class, is shown with
`show_doc` in its notebook and documented (a docstring, and a docments comment on each parameter); the docs build
as far as this machine allows (nbdev's `proc_nbs`, without Quarto)."""
import importlib
import inspect
import json
import re
import subprocess
import sys

import pytest
from fastcore.docments import docments

from conftest import ROOT

NBS = sorted((ROOT / 'nbs').glob('*.ipynb'))


def _code_cells(nb_path):
    nb = json.loads(nb_path.read_text())
    return [''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'code']


def _modules():
    "(module name, notebook) for every notebook that exports a module."
    out = []
    for nb in NBS:
        for src in _code_cells(nb):
            m = re.search(r'^#\|\s*default_exp\s+(\S+)', src, re.M)
            if m:
                out.append((m.group(1), nb))
    return out


def _documented(nb):
    return {m.group(1) for src in _code_cells(nb) for m in re.finditer(r'show_doc\(\s*([\w.]+)', src)}


def _public_methods(cls):
    for name, member in vars(cls).items():
        if (name.startswith('_') and name != '__call__') or isinstance(member, property):
            continue
        func = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
        if inspect.isfunction(func):
            yield name, func


def _undocumented_params(obj):
    "Parameters without a docments comment (fastcore's docments does not read comments on *args and **kwargs)."
    skip = {'self', 'cls', 'return'}
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [p for p, d in docments(obj, full=True).items() if p not in skip and d.get('kind') not in variadic and not d['docment']]


def _exported():
    for module_name, nb in _modules():
        module = importlib.import_module(f'dlwork.{module_name}')
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                yield pytest.param(module, nb, name, obj, id=f'{module_name}.{name}')


def test_every_module_is_exported_by_a_notebook():
    exported = {name for name, _ in _modules()}
    on_disk = {p.stem for p in (ROOT / 'dlwork').glob('*.py') if not p.stem.startswith('_')}
    assert on_disk == exported


@pytest.mark.parametrize('module,nb,name,obj', list(_exported()))
def test_exported_symbol_is_shown_and_documented(module, nb, name, obj):
    shown = _documented(nb)
    assert name in shown, f'{name} has no show_doc cell in {nb.name}'
    assert inspect.getdoc(obj), f'{name} has no docstring'
    assert not _undocumented_params(obj), f'{name}: parameters without a docments comment: {_undocumented_params(obj)}'
    if inspect.isclass(obj):
        for method, func in _public_methods(obj):
            qual = f'{name}.{method}'
            assert qual in shown, f'{qual} has no show_doc cell in {nb.name}'
            assert inspect.getdoc(func), f'{qual} has no docstring'
            assert not _undocumented_params(func), f'{qual}: parameters without a docments comment: {_undocumented_params(func)}'
        for prop, member in vars(obj).items():
            if isinstance(member, property) and not prop.startswith('_'):
                assert member.__doc__, f'{name}.{prop} has no docstring'


def test_docs_build_without_quarto(tmp_path):
    "nbdev's processors (show_doc rendering included) run over every notebook without an error or a warning."
    code = 'from nbdev.serve import proc_nbs; proc_nbs(force=True)'
    done = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert 'Traceback' not in done.stderr and 'Warning' not in done.stderr, done.stderr[-3000:]
    for nb in NBS:
        processed = ROOT / '_proc' / nb.name
        assert processed.exists(), nb.name
        rendered = json.loads(processed.read_text())
        docs = [c for c in rendered['cells'] if c['cell_type'] == 'code' and 'show_doc(' in ''.join(c['source'])]
        for cell in docs:
            text = ''.join(''.join(o.get('data', {}).get('text/markdown', '')) for o in cell['outputs'])
            assert text.count('###') >= 1, f"{nb.name}: no rendered docs for {''.join(cell['source'])!r}"
