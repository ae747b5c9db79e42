import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    "A loopback port nothing listens on (for a test server, a distributed rendezvous, JupyterLab)."
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def dlwork_command() -> str:
    "The installed `dlwork` console script (next to this Python, or on the PATH)."
    here = Path(sys.executable).parent / 'dlwork'
    found = str(here) if here.exists() else shutil.which('dlwork')
    if found is None:
        pytest.fail('the `dlwork` command is not installed: run the README install command first')
    return found


@pytest.fixture
def dlwork(tmp_path):
    "Run the `dlwork` command in a temporary working directory; returns the CompletedProcess."
    def run(*args, cwd=tmp_path, timeout=180):
        env = dict(os.environ, MPLBACKEND='Agg')
        return subprocess.run([dlwork_command(), *map(str, args)], cwd=cwd, capture_output=True, text=True,
                              timeout=timeout, env=env)
    return run


CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
                  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage']


def chromium_path() -> str:
    "Debian's Chromium, which the browser tests drive with Playwright (Playwright's own browser download is not used)."
    found = shutil.which('chromium') or shutil.which('chromium-browser')
    if found is None:
        pytest.fail('the browser tests need Chromium: install it with `apt-get install -y chromium` (Debian/Ubuntu); '
                    '.ci/run does this when it is missing')
    return found


@pytest.fixture(scope='session')
def browser():
    "A headless Chromium, driven by Playwright."
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()
