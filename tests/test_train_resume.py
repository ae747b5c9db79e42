"Checkpoints and resume, proven the hard way: a training process is killed (SIGKILL) mid-run and resumed."
import json
import signal
import subprocess
import time

import pandas as pd
import torch

from conftest import dlwork_command

# digits, a small CNN: about a second per epoch on two CPU cores, long enough to be killed mid-run
TRAIN = ['train', '--example', 'digits', '--epochs', '6', '--lr', '0.005', '--seed-model', '0', '--quiet']


def _history(run):
    return pd.read_csv(run / 'train' / 'history.csv', float_precision='round_trip')


def _completed_epochs(run) -> int:
    try:
        return len(_history(run))
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return 0


def test_a_killed_run_resumes_to_the_uninterrupted_result(dlwork, tmp_path):
    whole = tmp_path / 'whole'
    done = dlwork(*TRAIN, '--out', whole, timeout=300)
    assert done.returncode == 0, done.stderr
    expected = _history(whole)
    assert len(expected) == 6

    cut = tmp_path / 'cut'
    proc = subprocess.Popen([dlwork_command(), *TRAIN, '--out', str(cut)], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while _completed_epochs(cut) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, f'training ended before it could be killed: {proc.stderr.read()}'
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = torch.load(cut / 'train' / 'checkpoint.pth', weights_only=False)['epoch']
    assert 1 <= killed_at < 5, killed_at            # killed mid-run, with a whole checkpoint on disk

    done = dlwork(*TRAIN, '--out', cut, '--resume', timeout=300)
    assert done.returncode == 0, done.stderr
    resumed = _history(cut)
    decisions = json.loads((cut / 'train' / 'training.json').read_text())
    assert decisions['resumed_from_epoch'] == killed_at
    pd.testing.assert_frame_equal(resumed.drop(columns='seconds'), expected.drop(columns='seconds'), check_exact=True)
    assert not list((cut / 'train').glob('.*.tmp'))   # a temporary file left by the kill is cleaned up on resume


def test_resume_refuses_a_different_plan(dlwork, tmp_path):
    run = tmp_path / 'p'
    assert dlwork('train', '--example', 'penguins', '--epochs', '2', '--lr', '0.01', '--out', run, '--quiet').returncode == 0
    before = (run / 'train' / 'checkpoint.pth').read_bytes()
    done = dlwork('train', '--example', 'penguins', '--epochs', '2', '--lr', '0.02', '--resume',
                  '--out', run, '--quiet')
    assert done.returncode == 2
    assert 'cannot resume' in done.stderr and 'lr=0.01' in done.stderr
    assert (run / 'train' / 'checkpoint.pth').read_bytes() == before


def test_diverged_training_exits_with_the_epoch_and_batch(dlwork, tmp_path):
    "An absurd learning rate makes the loss infinite: exit status 1, the message names where, the checkpoint stays."
    run = tmp_path / 'boom'
    done = dlwork('train', '--example', 'diabetes', '--epochs', '3', '--lr', '1e6', '--arch', 'mlp', '--option', 'batch_norm=false',
                  '--out', run, '--quiet')
    assert done.returncode == 1, done.stderr
    assert 'training diverged: the loss became' in done.stderr and 'at epoch' in done.stderr and 'batch' in done.stderr
