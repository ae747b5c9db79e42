"""Build the documentation pages without Quarto: nbdev's processing, then nbconvert's HTML, one page per notebook.

The docs site proper is built by `nbdev_docs`, which needs Quarto (not installable from the package registries). This
script gets as close as a machine without Quarto can, so that the pages can be checked in a real browser
(`tests/test_docs.py` opens every one in headless Chromium):

1. `nbdev.serve.proc_nbs` processes the notebooks as `nbdev_docs` does (show_doc rendered, hidden cells removed,
   directives applied, front matter written) into `_proc/`; any warning or traceback it prints is an error here;
2. each processed notebook is rendered with nbconvert's HTML exporter to the page name nbdev gives it (`output-file`
   in its front matter, e.g. `00_problem.ipynb` → `problem.html`), with its title and description as a header and the
   sidebar of `nbs/sidebar.yml` as a navigation list;
3. links are rewritten as Quarto rewrites them: `other.ipynb` → that notebook's page, and absolute links into the
   site's own URL (`doc_host` + `doc_baseurl` in settings.ini, as show_doc writes them) → the local page;
4. the page is laid out as Quarto's default theme shows it, so that `tests/test_docs.py` sees what a reader sees: a
   text column of `COLUMN` px (Quarto's cosmo theme at a 1,400 px window, with the sidebar and the table of
   contents), images at the widths the notebooks give them (nbconvert's own shrinking undone; the site's
   `nbs/styles.css` applies, with Quarto's class names), section ids as Pandoc writes them (lower case, punctuation
   dropped: `## The data` → `#the-data`), and each page's `<title>` from its notebook's front matter.

    python tools/build_docs.py             # writes _site/ (gitignored)
    python tools/build_docs.py --out DIR
"""
import argparse
import configparser
import html
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIRECTIVE = re.compile(r'^\s*#\|\s*(.*)$')
COLUMN = 750  # px: the text column of Quarto's cosmo theme at a 1,400 px window, with sidebar and table of contents
STYLE = """<style>
nav.dlwork-sidebar { position: fixed; top: 0; left: 0; width: 220px; height: 100vh; overflow-y: auto; padding: 1em;
  font: 14px system-ui, sans-serif; border-right: 1px solid #ddd; background: #fafafa; box-sizing: border-box; }
nav.dlwork-sidebar ul { list-style: none; padding: 0; margin: 0; }
nav.dlwork-sidebar li { margin: 0.3em 0; }
nav.dlwork-sidebar li.section { margin-top: 1em; font-weight: 600; color: #555; }
body main { margin-left: 240px; width: %(column)dpx; box-sizing: border-box; padding: 0; }
body main .jp-Cell { padding-left: 0; padding-right: 0; }
header.dlwork-page .description { color: #555; font-size: 1.1em; }
.jp-RenderedImage img, .jp-RenderedHTMLCommon img { max-width: none; height: auto; }  /* Quarto does not shrink images */
</style>
"""
HEADING = re.compile(r'<h([1-6])([^>]*?)\bid="([^"]*)"([^>]*)>(.*?)</h\1>', re.S)
QUARTO_ATTRIBUTES = re.compile(r'(\]\([^)]*\))\{[^}\n]*\}')  # [text](url){target="_blank" …}: Quarto's, not Markdown's


def site_url() -> str:
    cfg = configparser.ConfigParser(delimiters=['='])
    cfg.read(ROOT / 'settings.ini')
    return cfg['DEFAULT']['doc_host'].rstrip('/') + cfg['DEFAULT']['doc_baseurl'].rstrip('/') + '/'


def process() -> None:
    "nbdev's own processing into _proc/; refuses on any warning or traceback."
    code = 'from nbdev.serve import proc_nbs; proc_nbs(force=True)'
    done = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    noise = [l for l in done.stderr.splitlines() if 'torch.jit.script' in l or l.strip() == 'warnings.warn(']
    problems = [l for l in done.stderr.splitlines() if l not in noise and ('Warning' in l or 'Traceback' in l or 'Error' in l)]
    if done.returncode != 0 or problems:
        raise SystemExit(f'nbdev could not process the notebooks:\n{done.stderr[-4000:]}')


def front_matter(nb: dict) -> dict:
    "The YAML front matter nbdev put in the first raw cell."
    import yaml
    first = nb['cells'][0] if nb['cells'] else None
    if not first or first['cell_type'] != 'raw':
        return {}
    text = ''.join(first['source']).strip()
    return yaml.safe_load(text.strip('-').strip()) or {} if text.startswith('---') else {}


def pages() -> dict:
    "Processed notebook name → (page name, title, description)."
    out = {}
    for path in sorted((ROOT / '_proc').glob('*.ipynb')):
        fm = front_matter(json.loads(path.read_text(encoding='utf-8')))
        out[path.name] = (fm.get('output-file') or path.with_suffix('.html').name, fm.get('title') or path.stem,
                          fm.get('description', ''))
    return out


def sidebar() -> list:
    "(section or None, notebook name) in the order of nbs/sidebar.yml."
    import yaml
    spec = yaml.safe_load((ROOT / 'nbs' / 'sidebar.yml').read_text())['website']['sidebar']['contents']
    order = []
    for item in spec:
        if isinstance(item, str):
            order.append((None, item))
        else:
            order += [(item['section'], name) for name in item['contents']]
    return order


def render(name: str, names: dict, nav: str, url: str) -> str:
    import nbformat
    from nbconvert.exporters import HTMLExporter
    nb = nbformat.read(ROOT / '_proc' / name, as_version=4)
    nb.cells = [c for c in nb.cells if c.cell_type != 'raw']
    for cell in nb.cells:
        if cell.cell_type == 'code':  # as Quarto: `#| echo: false` hides the code, directive lines are not shown
            flags = [m.group(1).replace(' ', '') for m in map(DIRECTIVE.match, cell.source.splitlines()) if m]
            if 'echo:false' in flags:
                cell.metadata.setdefault('tags', []).append('remove_input')
            cell.source = '\n'.join(l for l in cell.source.splitlines() if not DIRECTIVE.match(l))
        if cell.cell_type == 'markdown':
            cell.source = QUARTO_ATTRIBUTES.sub(r'\1', cell.source)
        for output in cell.get('outputs', []):
            data = output.get('data', {})
            if 'text/markdown' in data:
                data['text/markdown'] = QUARTO_ATTRIBUTES.sub(r'\1', data['text/markdown'])
    from traitlets.config import Config
    config = Config()
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_input_tags = {'remove_input'}
    config.HTMLExporter.exclude_input_prompt = config.HTMLExporter.exclude_output_prompt = True
    body, _ = HTMLExporter(template_name='lab', config=config).from_notebook_node(nb)
    page, title, description = names[name]

    def link(m):
        target = m.group(2)
        if target.startswith(url):
            target = target[len(url):] or 'index.html'
        base, _, anchor = target.partition('#')
        if base in names:
            target = names[base][0] + ('#' + anchor if anchor else '')
        return f'{m.group(1)}"{target}"'
    body = re.sub(r'(href=)"([^"]*)"', link, body)
    from markdown_it import MarkdownIt
    inline = MarkdownIt('commonmark', {'html': False}).renderInline
    header = (f'<header class="dlwork-page"><h1 class="title">{inline(title)}</h1>'
              + (f'<p class="description">{inline(description)}</p>' if description else '') + '</header>')
    body = pandoc_ids(body)
    body = re.sub(r'<title>.*?</title>', f'<title>{html.escape(title)}</title>', body, count=1, flags=re.S)
    for output in ('jp-RenderedImage', 'jp-RenderedHTMLCommon', 'jp-RenderedMarkdown'):  # outputs, as Quarto classes them
        body = re.sub(rf'class="({output}[^"]*jp-OutputArea-output)', r'class="cell-output-display \1', body)
    site_css = (ROOT / 'nbs' / 'styles.css').read_text(encoding='utf-8')
    return (body.replace('<body', '<body data-page="' + html.escape(page) + '"', 1)
            .replace('</head>', STYLE % {'column': COLUMN} + f'<style>{site_css}</style></head>', 1)
            .replace('<main>', f'{nav}<main>{header}', 1))


def pandoc_id(text: str) -> str:
    "A heading's id as Pandoc writes it (its `auto_identifiers`): lower case, spaces → hyphens, punctuation but `_-.` dropped, from the first letter on."
    text = re.sub(r'[^\w\s.-]', '', text.lower()).strip()
    text = re.sub(r'\s+', '-', text)
    text = text[next((i for i, ch in enumerate(text) if ch.isalpha()), len(text)):]
    return text or 'section'


def pandoc_ids(body: str) -> str:
    "nbconvert's heading ids (`The-data`) and their ¶ links replaced by Pandoc's (`the-data`, duplicates `-1`, `-2`…)."
    seen, renamed = {}, {}

    def heading(m):
        level, before, old, after, inner = m.groups()
        inner_text = re.sub(r'<a class="anchor-link".*?</a>', '', inner, flags=re.S)
        new = pandoc_id(html.unescape(re.sub(r'<[^>]+>', '', inner_text)))
        if new in seen:
            seen[new] += 1
            new = f'{new}-{seen[new]}'
        else:
            seen[new] = 0
        renamed[old] = new
        inner = inner.replace(f'href="#{old}"', f'href="#{new}"')
        return f'<h{level}{before}id="{new}"{after}>{inner}</h{level}>'
    return HEADING.sub(heading, body)


def build(out: Path) -> list:
    "Process the notebooks and write one HTML page each into `out`; returns the pages written."
    process()
    names, url = pages(), site_url()
    links = []
    for section, nb in sidebar():
        if nb not in names:
            raise SystemExit(f'nbs/sidebar.yml lists {nb}, which is not a notebook in nbs/')
        links.append((section, names[nb][0], names[nb][1]))
    missing = sorted(set(names) - {nb for _, nb in sidebar()})
    if missing:
        raise SystemExit(f"nbs/sidebar.yml leaves out {', '.join(missing)}")
    from markdown_it import MarkdownIt
    inline = MarkdownIt('commonmark', {'html': False}).renderInline
    items, last = [], None
    for section, page, title in links:
        if section != last and section:
            items.append(f'<li class="section">{html.escape(section)}</li>')
        last = section
        items.append(f'<li><a href="{page}">{inline(title)}</a></li>')
    nav = '<nav class="dlwork-sidebar"><ul>' + ''.join(items) + '</ul></nav>'
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        path = out / names[name][0]
        path.write_text(render(name, names, nav, url), encoding='utf-8')
        written.append(path)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', type=Path, default=ROOT / '_site', help='where the pages go (default _site/)')
    args = parser.parse_args(argv)
    for path in build(args.out):
        print(path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
