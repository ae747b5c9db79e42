"""GPU check of chapters 02_model and 03_train: mixed precision (fp16 and bf16), gradient clipping under fp16,
resume on the GPU, the fast tabular loader on CUDA, and fp16-vs-fp32 epoch times. Run on a machine with a GPU:

    python tools/gpu_check_train.py

Prints one line per check; every line that starts with FAIL is a failure (exit status 1)."""
import statistics
import sys
import tempfile
import time
import warnings

warnings.filterwarnings('ignore')
import numpy as np
import torch
from fastai.callback.core import Callback

from dlwork.model import learner_for
from dlwork.prep import prepare
from dlwork.problem import load_example
from dlwork.train import fit, load_checkpoint

failures = []


def check(ok, message):
    print(('ok   ' if ok else 'FAIL ') + message, flush=True)
    if not ok:
        failures.append(message)


class Interrupt(Callback):
    order = 99

    def after_epoch(self):
        if self.epoch == 1 and not hasattr(self.learn, 'lr_finder'):
            raise KeyboardInterrupt


def main():
    assert torch.cuda.is_available(), 'no GPU'
    print('torch', torch.__version__, torch.cuda.get_device_name(0), flush=True)
    tmp = tempfile.mkdtemp()
    prepared = {}
    for name, kwargs in [('penguins', {}), ('digits', {}), ('sentiment', {}), ('seaice', dict(horizon=7))]:
        example = load_example(name)
        prepared[name] = prepare(example.problem(), example.data, **kwargs)
    # 1. every modality trains in fp16 on the GPU, with float32 weights and finite losses
    for name, arch, epochs, lr in [('penguins', 'mlp', 8, 1e-2), ('digits', 'cnn', 6, 5e-3), ('sentiment', 'lstm', 5, 3e-3),
                                   ('seaice', 'lstm', 3, 5e-3), ('seaice', 'transformer', 3, 2e-3)]:
        p = prepared[name]
        learn = learner_for(p, arch, seed=0)
        t = time.time()
        h = fit(learn, epochs, lr=lr, seed=0, run_dir=f'{tmp}/{name}-{arch}', progress=False)
        params = list(learn.model.parameters())
        metric = h.metrics[0]
        check(h.decisions['mixed_precision'] == 'fp16 (CUDA GPU)' and all(p_.dtype == torch.float32 for p_ in params)
              and all(p_.device.type == 'cuda' for p_ in params) and np.isfinite(h.frame[['train_loss', 'valid_loss']]).all().all(),
              f"{name} {arch}: {h.decisions['mixed_precision']}, {epochs} epochs in {time.time() - t:.1f}s, "
              f"valid {metric} {h.best[metric]:.4f}")
    # 2. bf16, and gradient clipping under fp16 (GradScaler unscales before clipping)
    p = prepared['digits']
    h = fit(learner_for(p, seed=0), 3, lr=5e-3, mixed_precision='bf16', run_dir=f'{tmp}/bf16', progress=False)
    check(h.decisions['mixed_precision'] == 'bf16 (CUDA GPU)' and h.best['accuracy'] > 0.9,
          f"digits bf16: accuracy {h.best['accuracy']:.4f}")

    class Norms(Callback):
        order = 20

        def before_fit(self):
            self.norms = []

        def before_step(self):
            self.norms.append(torch.norm(torch.stack([q.grad.norm() for q in self.learn.model.parameters()
                                                      if q.grad is not None])).item())
    learn, norms = learner_for(p, seed=0), Norms()
    learn.add_cb(norms)
    fit(learn, 2, lr=5e-3, clip=0.25, run_dir=f'{tmp}/clip', progress=False)
    finite = [n for n in norms.norms if np.isfinite(n)]
    check(max(finite) <= 0.25 + 1e-3, f"fp16 + clip=0.25: largest unscaled gradient norm seen by the optimiser {max(finite):.4f}")
    # 3. resume on the GPU: interrupted after epoch 1 and resumed, against an uninterrupted run
    p = prepared['penguins']
    whole = fit(learner_for(p, seed=0), 6, lr=1e-2, seed=0, run_dir=f'{tmp}/whole', progress=False)
    cut = learner_for(p, seed=0)
    cut.add_cb(Interrupt())
    try:
        fit(cut, 6, lr=1e-2, seed=0, run_dir=f'{tmp}/cut', progress=False)
    except KeyboardInterrupt:
        pass
    saved = load_checkpoint(f'{tmp}/cut/checkpoint.pth').get('scaler')
    check(bool(saved) and saved['scale'] > 0, f"the checkpoint keeps the fp16 loss scaler's state: {saved}")
    again = learner_for(p, seed=0)
    resumed = fit(again, 6, resume=True, run_dir=f'{tmp}/cut', progress=False)
    places = {str(v.device) for s in again.opt.state.values() for v in s.values() if isinstance(v, torch.Tensor)}
    check(places == {'cuda:0'}, f"resumed optimiser state on {sorted(places)}")
    a, b = whole.frame.drop(columns='seconds'), resumed.frame.drop(columns='seconds')
    diff = float(np.abs(a.to_numpy() - b.to_numpy()).max())
    check(diff < 1e-3, f"resume on the GPU: largest difference from the uninterrupted run {diff:.2e} "
          f"({'bit-identical' if diff == 0 else 'GPU kernels are not bit-deterministic'})")
    # 4. the fast tabular loader keeps its tensors on the GPU
    batch = p.dls.train.one_batch()
    check(all(x.device.type == 'cuda' for x in batch), f"tabular batches on {batch[0].device}")
    # 5. fp16 against fp32 epoch time, xresnet18 on digits at 32×32
    example = load_example('digits')
    big = prepare(example.problem(), example.data, size=32, bs=128)
    times = {}
    for mode in (False, 'fp16'):
        learn = learner_for(big, 'xresnet18', seed=0)
        fit(learn, 1, lr=1e-3, mixed_precision=mode, run_dir=f'{tmp}/warm-{mode}', progress=False)
        h = fit(learn, 3, lr=1e-3, mixed_precision=mode, run_dir=f'{tmp}/time-{mode}', progress=False)
        times[mode] = statistics.median(h.frame['seconds'])
    print(f"info xresnet18 digits 32x32 bs128 epoch: fp32 {times[False]:.2f}s, fp16 {times['fp16']:.2f}s "
          f"(ratio fp16/fp32 {times['fp16'] / times[False]:.2f}; small images, so data loading dominates)")
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
