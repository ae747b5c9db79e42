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


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    "The docs pages, built as far as this machine allows: nbdev's own processing, then nbconvert (tools/build_docs.py)."
    out = tmp_path_factory.mktemp('site')
    done = subprocess.run([sys.executable, str(ROOT / 'tools' / 'build_docs.py'), '--out', str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return out


def _pages() -> dict:
    "notebook name → its page's file name, as nbdev names it (front matter of the processed notebook)."
    import importlib.util
    spec = importlib.util.spec_from_file_location('build_docs', ROOT / 'tools' / 'build_docs.py')
    build_docs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_docs)
    return {name: page for name, (page, _, _) in build_docs.pages().items()}


def test_docs_build_without_quarto(site):
    "nbdev's processors (show_doc rendering included) run over every notebook without an error or a warning."
    for nb in NBS:
        processed = ROOT / '_proc' / nb.name
        assert processed.exists(), nb.name
        rendered = json.loads(processed.read_text())
        docs = [c for c in rendered['cells'] if c['cell_type'] == 'code' and 'show_doc(' in ''.join(c['source'])]
        for cell in docs:
            text = ''.join(''.join(o.get('data', {}).get('text/markdown', '')) for o in cell['outputs'])
            assert text.count('###') >= 1, f"{nb.name}: no rendered docs for {''.join(cell['source'])!r}"
    assert sorted(p.name for p in site.glob('*.html')) == sorted(_pages().values())


def _norm(anchor: str) -> str:
    "Anchors as both Quarto and nbconvert spell them: case and punctuation other than dots do not count."
    return re.sub(r'[^a-z0-9.]', '', anchor.lower())


def _ids(page) -> set:
    return {_norm(i) for i in re.findall(r'\bid="([^"]+)"', page.read_text(encoding='utf-8'))}


def _symbols(nb) -> list:
    "What the notebook's module exports (functions, classes and their public methods): each needs a show_doc entry."
    out = []
    for module_name, path in _modules():
        if path != nb:
            continue
        module = importlib.import_module(f'dlwork.{module_name}')
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                out.append(name)
                if inspect.isclass(obj):
                    out += [f'{name}.{m}' for m, _ in _public_methods(obj)]
    return out


EXTERNAL = ('http://', 'https://', 'mailto:')


@pytest.mark.parametrize('nb', NBS, ids=[nb.stem for nb in NBS])
def test_every_page_opens_cleanly_in_chromium(site, browser, nb):
    """Each page in headless Chromium: no page errors, no console errors but unreachable external resources (CDNs are
    offline here), every figure drawn, every internal link and anchor resolving, every exported symbol's entry there."""
    name = _pages()[nb.name]
    page = browser.new_page(viewport={'width': 1200, 'height': 900})
    page_errors, console, failed = [], [], []
    page.on('pageerror', lambda e: page_errors.append(str(e)))
    page.on('console', lambda m: console.append(m.text) if m.type == 'error' else None)
    page.on('requestfailed', lambda r: failed.append(r.url))
    page.goto((site / name).as_uri(), wait_until='load')
    page.wait_for_timeout(200)
    assert not page_errors, page_errors
    local_failures = [u for u in failed if not u.startswith(EXTERNAL)]
    assert not local_failures, local_failures
    unexplained = [m for m in console if 'Failed to load resource' not in m]
    assert not unexplained and len(console) <= len(failed), (console, failed)
    broken = page.evaluate("() => [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt || i.src.slice(0, 60))")
    assert not broken, f'{name}: figures that did not draw: {broken}'
    processed = json.loads((ROOT / '_proc' / nb.name).read_text())
    figures = sum(1 for c in processed['cells'] for o in c.get('outputs', []) if {'image/png', 'image/jpeg', 'image/svg+xml'} & set(o.get('data', {})))
    assert page.evaluate('() => document.images.length') >= figures, f'{name}: fewer figures on the page than in the notebook'
    ids = {name: _ids(site / name)}
    for href in page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))"):
        if href.startswith(EXTERNAL):
            continue
        base, _, anchor = href.partition('#')
        target = base or name
        assert (site / target).exists(), f'{name}: the link {href!r} points at no page'
        if anchor:
            ids.setdefault(target, _ids(site / target))
            assert _norm(anchor) in ids[target], f'{name}: the link {href!r} points at no anchor of {target}'
    missing = [s for s in _symbols(nb) if _norm(s) not in ids[name]]
    assert not missing, f'{name}: no documentation entry for {missing}'
    shots = ROOT / 'tests' / 'runs' / 'screenshots'
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / f'docs_{nb.stem}.png'))
    page.close()
