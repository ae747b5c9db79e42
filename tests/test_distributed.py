"Distributed data-parallel training through fastai and Accelerate, on two CPU processes (gloo), launched by torchrun."
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import free_port

from dlwork.train import schedule_for

pytest.importorskip('accelerate')
SCRIPT = Path(__file__).parent / 'distributed_script.py'



def test_two_processes_train_one_model(tmp_path):
    done = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
                           '--master_port', str(free_port()), str(SCRIPT), str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f'rank{r}.json').read_text()) for r in (0, 1)]
    assert [r['world'] for r in ranks] == [2, 2]
    assert ranks[0]['checksum'] == ranks[1]['checksum']          # gradients were averaged: one model in two processes
    assert ranks[0]['history'] == ranks[1]['history']            # metrics from the predictions of both processes
    last = ranks[0]['history'][-1]
    assert last['epoch'] == 2 and last['accuracy'] > 0.8
    # each process batches its half of the 240 training rows: 120 // 32 = 3 batches an epoch, 9 in the run, so the
    # one-cycle schedule ran to its last batch (position 8/9), not to where 7 batches an epoch would put it
    assert last['lr'] == pytest.approx(schedule_for('one_cycle', 1e-2)['lr'](8 / 9), rel=1e-6)
    # only the main process writes the run's files
    assert sorted(p.name for p in tmp_path.iterdir()) == ['checkpoint.pth', 'history.csv', 'history.png', 'rank0.json',
                                                          'rank1.json', 'training.json']
