"""GPU check of chapter 06_deploy: a model trained on the GPU (fp16) exports to a verified bundle, and the torch-free
Predictor answers from it, for every modality and segmentation. Run on a machine with a GPU:

    python tools/gpu_check_deploy.py

`export_bundle` itself checks ONNX Runtime against PyTorch on the test rows (it raises past its tolerance); this also
checks that exporting leaves the Learner on the GPU, ready to train or predict again. Every line that starts with FAIL
is a failure (exit status 1)."""
import sys
import tempfile
import time
import traceback
import warnings

warnings.filterwarnings('ignore')
import torch

from dlwork.deploy import Predictor, export_bundle
from dlwork.model import learner_for
from dlwork.prep import prepare
from dlwork.problem import load_example
from dlwork.train import fit

failures = []


def check(ok, message):
    print(('ok   ' if ok else 'FAIL ') + message, flush=True)
    if not ok:
        failures.append(message)


def main():
    assert torch.cuda.is_available(), 'no GPU'
    print('torch', torch.__version__, torch.cuda.get_device_name(0), flush=True)
    tmp = tempfile.mkdtemp()
    for name, kwargs, epochs, lr in [('penguins', {}, 4, 1e-2), ('digits', {}, 3, 5e-3), ('sentiment', {}, 3, 3e-3),
                                     ('seaice', dict(horizon=7), 2, 5e-3), ('shapes', dict(size=32), 3, 1e-2)]:
        try:
            example = load_example(name)
            prepared = prepare(example.problem(), example.data, **kwargs)
            learn = learner_for(prepared, seed=0)
            fit(learn, epochs, lr=lr, seed=0, run_dir=f'{tmp}/{name}/train', progress=False)
            t = time.time()
            bundle = export_bundle(learn, prepared, f'{tmp}/{name}/bundle')
            seconds = time.time() - t
            on = {p.device.type for p in learn.model.parameters()}
            predictor = Predictor.load(bundle)
            rows = example.data if name == 'seaice' else prepared.test
            out = predictor.masks(rows) if name == 'shapes' else predictor.predict(rows)
            int8 = (bundle / 'model.int8.onnx').exists()
            check(on == {'cuda'} and len(out) > 0 and int8,
                  f"{name}: trained on the GPU, bundle verified and written in {seconds:.1f}s, Learner still on {sorted(on)}, "
                  f"Predictor answered {len(out)} {'masks' if name == 'shapes' else 'rows'}, int8 model {'written' if int8 else 'MISSING'}")
        except Exception as e:
            traceback.print_exc()
            check(False, f"{name}: {type(e).__name__}: {e}")
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
