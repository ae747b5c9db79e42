"Saving never leaves a half-written or lost file behind."
import os

import pytest

from dlwork import core as P


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / 'problem.json'
    target.write_text('old and good')

    def broken_replace(src, dst):
        raise OSError('disk full')

    monkeypatch.setattr(P.os, 'replace', broken_replace)
    with pytest.raises(OSError, match='disk full'):
        P.atomic_write(target, 'new')
    assert target.read_text() == 'old and good'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['problem.json']


def test_files_get_the_usual_permissions(tmp_path):
    P.atomic_write(tmp_path / 'a.txt', 'x')
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / 'a.txt').stat().st_mode & 0o777 == 0o666 & ~umask


def test_killing_a_save_midway_leaves_only_whole_files(tmp_path):
    "SIGKILL a process that keeps re-saving a report; every file left must be a complete one."
    import json
    import signal
    import subprocess
    import sys
    import time

    import pandas as pd
    from PIL import Image

    script = (
        "import sys\n"
        "from dlwork.problem import explore, load_example\n"
        "eda = explore(load_example('penguins').data, 'species')\n"
        "eda.save(sys.argv[1])\n"
        "print('saved', flush=True)\n"
        "dpi = 60\n"
        "while True:\n"
        "    dpi = 150 - dpi\n"
        "    eda.save(sys.argv[1], dpi=dpi)\n")
    proc = subprocess.Popen([sys.executable, '-c', script, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == 'saved'
        time.sleep(1.3)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    names = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith('.'))
    assert names == ['correlations.csv', 'correlations.png', 'feature_target.png', 'features.png', 'findings.csv',
                     'problem.json', 'relevance.csv', 'report.html', 'report.md', 'summary.csv', 'target.csv', 'target.png']
    for png in tmp_path.glob('*.png'):
        with Image.open(png) as im:
            im.load()
    for table in tmp_path.glob('*.csv'):
        assert len(pd.read_csv(table)) > 0
    assert json.loads((tmp_path / 'problem.json').read_text())['target'] == 'species'
    assert (tmp_path / 'report.html').read_text().endswith('</html>\n')
    assert (tmp_path / 'report.md').read_text().count('![') == 4
