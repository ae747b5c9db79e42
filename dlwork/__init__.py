__version__ = "0.1.0"

import warnings as _warnings

# fastai 2.8.7's `fastai.layers` decorates functions with `torch.jit.script` when it is imported, which torch 2.14
# deprecates with a FutureWarning naming a file inside torch: it is fastai's, nothing a dlwork user can act on.
_warnings.filterwarnings('ignore', message=r'`torch\.jit\.script` is deprecated', category=FutureWarning)
