import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


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
