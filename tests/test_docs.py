"""The documentation: every exported function and class, and every public method of an exported class, is shown with
`show_doc` in its notebook and documented (a docstring, and a docments comment on each parameter); the docs build
as far as this machine allows (nbdev's `proc_nbs`, without Quarto)."""
import hashlib
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


def build_docs():
    "tools/build_docs.py as a module."
    import importlib.util
    spec = importlib.util.spec_from_file_location('build_docs', ROOT / 'tools' / 'build_docs.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pages() -> dict:
    "notebook name → its page's file name, as nbdev names it (front matter of the processed notebook)."
    return {name: page for name, (page, _, _) in build_docs().pages().items()}


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


def _ids(page) -> set:
    "The ids of a page's elements, exactly as written (Pandoc's lower-case section ids)."
    return set(re.findall(r'\bid="([^"]+)"', page.read_text(encoding='utf-8')))


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


WARNING = re.compile(r'\b[A-Z]\w*Warning\b:|warnings\.warn\(')
MACHINE_PATH = re.compile(r"(?<![\w.])(/tmp/|/home/|/root/|/work/|/Users/|/var/folders/)|site-packages|\.venv/")


def _output_texts(cell) -> list:
    "What a page shows of a code cell's outputs: streams (stderr too, which Quarto prints), text, Markdown, HTML."
    out = []
    for o in cell.get('outputs', []):
        data = o.get('data', {})
        out.append((o.get('name', o['output_type']), ''.join(o.get('text', '')) + ''.join(o.get('traceback', []))
                    + ''.join(''.join(data.get(k, '')) for k in ('text/plain', 'text/markdown', 'text/html'))))
    return out


@pytest.mark.parametrize('nb', NBS, ids=[nb.stem for nb in NBS])
def test_pages_show_no_warning_and_no_machine_path(site, nb):
    """What Quarto renders of each notebook (nbdev's processed notebook): no Python warning, nothing on stderr, no path
    of the machine that built it (a temporary folder, a home, the venv's site-packages)."""
    processed = json.loads((ROOT / '_proc' / nb.name).read_text())
    problems = []
    for i, cell in enumerate(c for c in processed['cells'] if c['cell_type'] == 'code'):
        for kind, text in _output_texts(cell):
            where = f"{nb.name}, code cell {i} ({''.join(cell['source'])[:60]!r})"
            if kind == 'stderr' and text.strip():
                problems.append(f'{where}: stderr {text.strip()[:160]!r}')
            elif WARNING.search(text):
                problems.append(f'{where}: a warning {text[max(0, WARNING.search(text).start() - 60):][:200]!r}')
            if MACHINE_PATH.search(text):
                m = MACHINE_PATH.search(text)
                problems.append(f'{where}: a machine path {text[max(0, m.start() - 40):m.end() + 60]!r}')
    assert not problems, '\n'.join(problems)


def test_signatures_show_no_markdown_links(site):
    """nbdev links every backticked name in show_doc's output, the signature's code block included, where Quarto then
    prints the Markdown link as it is: docments comments leave documented names unquoted."""
    source = ''.join(p.read_text() for p in (ROOT / 'dlwork').glob('*.py'))
    raw = []
    for nb in NBS:
        for cell in json.loads((ROOT / '_proc' / nb.name).read_text())['cells']:
            for o in cell.get('outputs', []):
                for block in re.findall(r'```.*?```', ''.join(o.get('data', {}).get('text/markdown', '')), re.S):
                    for line in block.splitlines():
                        if not re.search(r'\]\(http', line):
                            continue
                        comment = line.split('# ', 1)[-1].strip()
                        link = r'\[`?([^\]`]+)`?\]\([^)]*\)'
                        if re.sub(link, r'`\1`', comment) in source or re.sub(link, r'\1', comment) in source:  # dlwork's own comment (one inherited from fastai, e.g. Learner's, is fastai's to fix)
                            raw.append(f'{nb.name}: {line.strip()[:120]}')
    assert not raw, '\n'.join(raw)


def _title(nb) -> str:
    "The notebook's own title: its first Markdown heading."
    for c in json.loads(nb.read_text())['cells']:
        if c['cell_type'] == 'markdown':
            m = re.match(r'#\s+(.+)', ''.join(c['source']).strip())
            if m:
                return m.group(1).strip()
    return ''


@pytest.mark.parametrize('nb', NBS, ids=[nb.stem for nb in NBS])
def test_every_page_opens_cleanly_in_chromium(site, browser, nb):
    """Each page in headless Chromium, laid out as Quarto lays it out (a 1,400 px window, the text column of
    `build_docs.COLUMN` px): no page errors, no console errors but unreachable external resources (CDNs are offline
    here), every figure drawn and none wider than the column (as drawn by the notebook, and as shown), no figure twice
    on a page, no table wider than the column, the page titled as its notebook, every internal link and anchor
    resolving exactly (Pandoc's lower-case section ids), every exported symbol's entry there."""
    name = _pages()[nb.name]
    page = browser.new_page(viewport={'width': 1400, 'height': 900})
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
    assert page.title() == _title(nb), f'{name}: titled {page.title()!r}, its notebook {_title(nb)!r}'
    broken = page.evaluate("() => [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt || i.src.slice(0, 60))")
    assert not broken, f'{name}: figures that did not draw: {broken}'
    processed = json.loads((ROOT / '_proc' / nb.name).read_text())
    figures = sum(1 for c in processed['cells'] for o in c.get('outputs', []) if {'image/png', 'image/jpeg', 'image/svg+xml'} & set(o.get('data', {})))
    assert page.evaluate('() => document.images.length') >= figures, f'{name}: fewer figures on the page than in the notebook'
    column = page.evaluate("() => document.querySelector('main').clientWidth")
    assert abs(column - build_docs().COLUMN) <= 1, f'{name}: the text column is {column} px'
    images = page.evaluate("""() => [...document.querySelectorAll('main img')].map((img, i) => ({
        i, drawn: img.hasAttribute('width') ? Number(img.getAttribute('width')) : img.naturalWidth,
        shown: img.getBoundingClientRect().width, right: img.getBoundingClientRect().right - document.querySelector('main').getBoundingClientRect().left,
        src: img.src}))""")
    wide = [(im['i'], im['drawn']) for im in images if im['drawn'] > column]
    assert not wide, f'{name}: figures drawn wider than the {column} px column (index, px): {wide}'
    cut = [(im['i'], round(im['right'])) for im in images if im['right'] > column + 1]
    assert not cut, f'{name}: figures reaching past the column (index, right edge px): {cut}'
    hashes = {}
    for im in images:
        hashes.setdefault(hashlib.sha1(im['src'].encode()).hexdigest(), []).append(im['i'])
    twice = [ix for ix in hashes.values() if len(ix) > 1]
    assert not twice, f'{name}: the same figure shown more than once (image indices): {twice}'
    tables = page.evaluate("""() => [...document.querySelectorAll('main .cell-output-display table')].map(t => ({
        right: Math.round(t.getBoundingClientRect().right - document.querySelector('main').getBoundingClientRect().left),
        width: t.scrollWidth, head: t.innerText.slice(0, 60)}))""")
    assert tables or not any('<table' in text for c in processed['cells'] for _, text in _output_texts(c)), f'{name}: tables not found'
    past = [t for t in tables if t['right'] > column + 1]  # a wider table scrolls inside the column (nbs/styles.css)
    assert not past, f'{name}: output tables reaching past the {column} px column: {past}'
    ids = {name: _ids(site / name)}
    for href in page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))"):
        if href.startswith(EXTERNAL):
            continue
        base, _, anchor = href.partition('#')
        target = base or name
        assert (site / target).exists(), f'{name}: the link {href!r} points at no page'
        if anchor:
            ids.setdefault(target, _ids(site / target))
            assert anchor in ids[target], f'{name}: the link {href!r} points at no anchor of {target}'
    entries = lambda s: {s.lower(), re.sub(r'__(\w+)__', r'\1', s).lower()}  # Markdown makes __call__ a bold 'call'
    missing = [s for s in _symbols(nb) if not entries(s) & ids[name]]
    assert not missing, f'{name}: no documentation entry for {missing}'
    shots = ROOT / 'tests' / 'runs' / 'screenshots'
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / f'docs_{nb.stem}.png'))
    page.close()
