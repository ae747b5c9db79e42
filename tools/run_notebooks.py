"""Run notebooks top to bottom and keep their outputs (tables, printouts, figures), so the docs site and GitHub show them.

`nbdev_test` runs the notebooks as tests and throws the outputs away; this script runs them the same way (with execnb, in
`nbs/`, skipping the cells flagged `slow` or `notest`, as `nbdev_test` does) and writes the outputs into the notebooks,
then cleans them with `nbdev_clean` (cell ids, execution counts and metadata as nbdev wants them).

    python tools/run_notebooks.py nbs/05_evaluate.ipynb nbs/index.ipynb   # some
    python tools/run_notebooks.py                                       # every notebook in nbs/
    python tools/run_notebooks.py --notest nbs/94_proving_ground.ipynb  # also the `notest` cells (pages of bench results)

A notebook whose run fails is left as it was, and the script exits 1 naming it.
"""
import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell
from fastcore.xtras import working_directory

ROOT = Path(__file__).resolve().parent.parent
SKIP_FLAGS = {'slow', 'notest'}
DIRECTIVE = re.compile(r'^\s*#\|\s*(.*)$')


def _skipped(cell, skip: set = SKIP_FLAGS) -> bool:
    "Whether `nbdev_test` would skip this cell: not code, flagged slow/notest (those in `skip`), `eval: false`, or an export call."
    if cell.cell_type != 'code':
        return True
    flags = {m.group(1).strip() for m in map(DIRECTIVE.match, cell.source.splitlines()) if m}
    return bool(flags & skip) or any(f.replace(' ', '') == 'eval:false' for f in flags) or 'nbdev_export(' in cell.source


def run(path: Path, notest: bool = False) -> float:
    "Run one notebook and write its outputs (with `notest`, its `notest` cells too); returns the seconds it took (raises on a failing cell)."
    nb = read_nb(path)
    started = time.perf_counter()
    shell = CaptureShell(path)
    skip = SKIP_FLAGS - {'notest'} if notest else SKIP_FLAGS
    skipped = lambda cell: _skipped(cell, skip)
    for cell in nb.cells:  # execnb only replaces the outputs of cells that print something: a cell quiet now keeps none
        if cell.cell_type == 'code':
            cell.outputs = []
    with working_directory(path.parent):
        shell.run_all(nb, exc_stop=True, preproc=skipped)
    write_nb(nb, path)
    return time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('notebooks', nargs='*', type=Path, help='notebooks to run (default: every one in nbs/)')
    parser.add_argument('--notest', action='store_true', help='run the cells flagged `notest` too (not `slow`)')
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or sorted((ROOT / 'nbs').glob('*.ipynb'))
    failed = []
    for path in paths:
        try:
            print(f'{path.name}: {run(path, args.notest):.0f} s', flush=True)
        except Exception as e:
            print(f'{path.name}: FAILED ({type(e).__name__}: {str(e)[:300]})', file=sys.stderr, flush=True)
            failed.append(path.name)
    subprocess.run(['nbdev_clean'], cwd=ROOT, check=True)
    if failed:
        print(f"failed: {', '.join(failed)} (left unchanged)", file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
