"""Write README.md from nbs/index.ipynb with nbconvert's Markdown exporter.

nbdev's own `nbdev_readme` renders through Quarto, which cannot be installed everywhere dlwork is built.
This script does the same job with nbconvert: cells marked `#| hide` are left out, nbdev's `#|` directive
lines are dropped from the code shown, and only text outputs are kept (no images, no widgets).

    python tools/make_readme.py          # rewrite README.md
    python tools/make_readme.py --check  # exit 1, saying so, when README.md is not what it would write
"""
import argparse
import re
import sys
from pathlib import Path

import nbformat
from nbconvert.exporters import MarkdownExporter

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / 'nbs' / 'index.ipynb'
README = ROOT / 'README.md'
FOOTER = '\n<!-- This file is generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->\n'
DIRECTIVE = re.compile(r'^\s*#\|\s*(.*)$')
TEXT_OUTPUTS = ('text/plain', 'text/markdown')


def _directives(source: str) -> list:
    return [m.group(1).strip() for m in map(DIRECTIVE.match, source.splitlines()) if m]


def _keep_output(output) -> bool:
    if output.output_type == 'stream':
        return output.get('name') == 'stdout'
    if output.output_type in ('execute_result', 'display_data'):
        data = output.get('data', {})
        for key in list(data):
            if key not in TEXT_OUTPUTS:
                del data[key]
        return bool(data)
    return False


def render() -> str:
    "The README text for the current index notebook."
    nb = nbformat.read(NOTEBOOK, as_version=4)
    cells = []
    for cell in nb.cells:
        if cell.cell_type == 'code':
            flags = _directives(cell.source)
            if any(f.split(':')[0].strip() in ('hide', 'include') and (f == 'hide' or f.endswith('false')) for f in flags):
                continue
            cell.source = '\n'.join(line for line in cell.source.splitlines() if not DIRECTIVE.match(line)).strip()
            cell.outputs = [o for o in cell.outputs if _keep_output(o)]
            if not cell.source:
                continue
        cells.append(cell)
    nb.cells = cells
    nb.metadata['language_info'] = {'name': 'python'}
    body, _ = MarkdownExporter().from_notebook_node(nb)
    body = re.sub(r'\n{3,}', '\n\n', body).strip() + '\n'
    return body + FOOTER


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--check', action='store_true', help='only check that README.md is up to date')
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if README.read_text(encoding='utf-8') != text:
            print('README.md is stale: run `python tools/make_readme.py` and commit the result', file=sys.stderr)
            return 1
        return 0
    README.write_text(text, encoding='utf-8')
    return 0


if __name__ == '__main__':
    sys.exit(main())
