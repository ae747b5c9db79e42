"""GPU check of chapter 01_prep: DataLoaders of every modality on CUDA, augmentation included, and the JSON recipe's
replay against fastai's test batches computed on the GPU. Run on a machine with a GPU:

    python tools/gpu_check_prep.py

Prints one line per modality: the device batches land on, and how far the recipe (numpy, CPU) is from fastai (GPU)."""
import time
import warnings

warnings.filterwarnings('ignore')
import numpy as np
import torch

from dlwork.problem import load_example
from dlwork.prep import prepare
from dlwork.recipe import Recipe, sequence_windows


def test_arrays(prepared):
    "The test DataLoader's inputs and targets, concatenated on the CPU (text: batch by batch, in fastai's order)."
    return [torch.cat(parts).cpu().numpy() for parts in zip(*list(prepared.test_dl))]


def main():
    assert torch.cuda.is_available(), 'no GPU'
    print('torch', torch.__version__, torch.cuda.get_device_name(0))
    for name, kwargs in [('penguins', dict(augment=True)), ('digits', dict(size=16)),
                         ('sentiment', dict(augment=True)), ('seaice', dict(window=60, horizon=7, augment=True))]:
        example = load_example(name)
        t = time.time()
        prepared = prepare(example.problem(), example.data, **kwargs)
        seconds = time.time() - t
        train = prepared.dls.train.one_batch()
        devices = {str(x.device) for x in train if hasattr(x, 'device')}
        recipe = Recipe(prepared.recipe)
        if name == 'sentiment':
            xb = prepared.test_dl.one_batch()[0]
            order = prepared.test_dl.get_idxs()[:len(xb)]
            mine, theirs = recipe.transform(prepared.test.iloc[order]), [xb.cpu().numpy()]
        elif name == 'seaice':
            x, _, _ = sequence_windows(prepared.recipe, example.data)
            mine, theirs = [x[prepared.splits.test - prepared.recipe['window']]], test_arrays(prepared)[:1]
        else:
            mine, theirs = recipe.transform(prepared.test), test_arrays(prepared)[:len(recipe.transform(prepared.test[:1]))]
        diffs = [float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max()) for a, b in zip(mine, theirs)]
        exact = all(np.array_equal(a, b) for a, b in zip(mine, theirs))
        print(f'{name:<10} prepare {seconds:5.2f} s; train batch on {sorted(devices)}; '
              f'recipe vs fastai on GPU: max |diff| {max(diffs):.3g}, exact {exact}')


if __name__ == '__main__':
    main()
