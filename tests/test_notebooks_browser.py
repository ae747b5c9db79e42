"""The notebooks as a reader uses them: JupyterLab on a loopback port, driven in headless Chromium. Run All on a chapter,
no cell fails, and its interactive outputs respond (the EDA explorer's column choice changes its table and plot; the
training progress of the whole workflow draws its bars). Screenshots go to tests/runs/screenshots/."""
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import ROOT, free_port



@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    "A JupyterLab server over a copy of nbs/ (JupyterLab saves what it runs: the repository's notebooks stay as they are)."
    pytest.importorskip('jupyterlab', reason='JupyterLab is in the notebooks extra: pip install -e ".[notebooks]"')
    folder = tmp_path_factory.mktemp('lab')
    shutil.copytree(ROOT / 'nbs', folder / 'nbs', ignore=shutil.ignore_patterns('_*', '.ipynb_checkpoints'))
    settings = folder / 'settings'  # every cell kept in the page (no virtual scrolling), no news pop-up
    (settings / '@jupyterlab' / 'notebook-extension').mkdir(parents=True)
    (settings / '@jupyterlab' / 'notebook-extension' / 'tracker.jupyterlab-settings').write_text('{"windowingMode": "none"}')
    (settings / '@jupyterlab' / 'apputils-extension').mkdir(parents=True)
    (settings / '@jupyterlab' / 'apputils-extension' / 'notification.jupyterlab-settings').write_text('{"fetchNews": "false"}')
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(folder / 'config'), JUPYTER_DATA_DIR=str(folder / 'data'),
               JUPYTER_RUNTIME_DIR=str(folder / 'runtime'), JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTER_PLATFORM_DIRS='1', MPLBACKEND='module://matplotlib_inline.backend_inline')
    log = open(folder / 'jupyterlab.log', 'w')
    server = subprocess.Popen([sys.executable, '-m', 'jupyterlab', '--no-browser', f'--port={port}', '--ServerApp.ip=127.0.0.1',
                               f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={folder / "nbs"}',
                               '--LabApp.news_url=', '--ServerApp.open_browser=False', '--allow-root'],
                              cwd=folder / 'nbs', stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f'http://127.0.0.1:{port}'
    deadline = time.time() + 90
    while True:
        try:
            urllib.request.urlopen(f'{base}/api/status?token={token}', timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.time() > deadline:
                server.kill()
                pytest.fail(f'JupyterLab did not start: {(folder / "jupyterlab.log").read_text()[-2000:]}')
            time.sleep(0.5)
    shots = ROOT / 'tests' / 'runs' / 'screenshots'  # gitignored; kept after the run for a person to look at
    shots.mkdir(parents=True, exist_ok=True)
    yield {'base': base, 'token': token, 'folder': folder / 'nbs', 'shots': shots}
    server.terminate()
    try:
        server.wait(20)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


def _run_all(lab, browser, name: str, timeout_s: float = 240, watch: str | None = None):
    """Open a notebook in JupyterLab, restart the kernel and run all cells from the Kernel menu, wait until every cell ran,
    save; returns (page, seconds, whether an element matching `watch` appeared while the cells ran)."""
    page = browser.new_page(viewport={'width': 1400, 'height': 1000})
    page.goto(f"{lab['base']}/lab/tree/{name}?reset&token={lab['token']}")  # reset: only this notebook open
    page.wait_for_selector('.jp-NotebookPanel .jp-Cell', timeout=60_000)
    page.wait_for_function("() => /\\|\\s*Idle/.test(document.querySelector('#jp-main-statusbar')?.textContent || '')",
                           timeout=90_000, polling=250)  # the kernel has started: 'Python 3 (ipykernel) | Idle'
    started = time.perf_counter()
    page.click('.lm-MenuBar-itemLabel:text-is("Kernel")')  # as a reader would: a fresh kernel, every cell in order
    page.click('.lm-Menu-itemLabel:text-is("Restart Kernel and Run All Cells…")')
    page.click('.jp-Dialog button:has-text("Restart")')
    seen = False
    if watch:
        try:
            page.wait_for_selector(watch, timeout=timeout_s * 1000)
            seen = True
            page.screenshot(path=str(lab['shots'] / f'{name}-running.png'))
        except Exception:
            pass
    page.wait_for_timeout(1000)
    try:
        page.wait_for_function("""() => {
        const cells = [...document.querySelectorAll('.jp-CodeCell')].filter(c => c.querySelector('.cm-content')?.textContent.trim());
        const prompts = cells.map(c => c.querySelector('.jp-InputArea-prompt').textContent.trim());
        return prompts.length > 0 && prompts.every(p => /^\\[\\d+\\]:$/.test(p));
    }""", timeout=timeout_s * 1000, polling=500)
    except Exception:
        page.screenshot(path=str(lab['shots'] / f'{name}-stuck.png'))
        raise
    seconds = time.perf_counter() - started
    page.keyboard.press('Control+s')
    page.wait_for_timeout(1500)
    saved = json.loads((lab['folder'] / name).read_text())
    errors = [o for c in saved['cells'] for o in c.get('outputs', []) if o.get('output_type') == 'error']
    assert not errors, f"{name}: a cell failed under JupyterLab: {errors[0].get('ename')}: {errors[0].get('evalue')}"
    return page, seconds, seen


def test_00_problem_runs_in_jupyterlab_and_its_explorer_responds(lab, browser):
    page, seconds, _ = _run_all(lab, browser, '00_problem.ipynb')
    page.screenshot(path=str(lab['shots'] / '00_problem_ran.png'))
    explorer = page.locator('.jp-OutputArea-output:has(.widget-dropdown select)').first
    explorer.scroll_into_view_if_needed()
    select = explorer.locator('.widget-dropdown select')
    image = explorer.locator('.widget-output img').first
    image.wait_for(timeout=30_000)
    before_image, before_text = image.get_attribute('src'), explorer.locator('.widget-output').inner_text()
    assert select.input_value() != 'island'
    select.select_option('island')
    page.wait_for_function("([el, src]) => { const img = el.querySelector('.widget-output img'); return img && img.src !== src; }",
                           arg=[explorer.element_handle(), before_image], timeout=30_000)
    after_text = explorer.locator('.widget-output').inner_text()
    assert after_text != before_text and 'island' in after_text and 'Biscoe' in after_text
    explorer.screenshot(path=str(lab['shots'] / '00_problem_explorer_island.png'))
    page.close()
    print(f'00_problem: Run All took {seconds:.0f} s in JupyterLab')


def test_the_whole_workflow_shows_its_progress_and_report_in_jupyterlab(lab, browser):
    "93_workflow: training progress as live bars (fastprogress) and the run's tables, in a real notebook front end."
    page, seconds, bars = _run_all(lab, browser, '93_workflow.ipynb', watch='.jp-OutputArea-output progress')
    assert bars, 'no live progress bar was drawn while the workflow trained'
    history = page.locator('.jp-OutputArea-output table:has-text("train_loss")').first  # fastai's epoch table, once done
    assert history.count() == 1 and 'valid_loss' in history.inner_text()
    board = page.locator('.jp-OutputArea-output table:has-text("logistic regression")').first
    board.scroll_into_view_if_needed()
    board.screenshot(path=str(lab['shots'] / '93_workflow_leaderboard.png'))
    page.close()
    print(f'93_workflow: Run All took {seconds:.0f} s in JupyterLab')
