"Trains the penguins in every process of a torchrun launch; run by test_distributed.py (not a test itself)."
import json, os, sys, warnings
warnings.filterwarnings('ignore')
import torch
from dlwork.problem import load_example
from dlwork.prep import prepare
from dlwork.model import learner_for
from dlwork.train import fit, distributed
out = sys.argv[1]
ex = load_example('penguins')
learn = learner_for(prepare(ex.problem(), ex.data), bs=32, seed=0)
with distributed(learn):
    h = fit(learn, 3, lr=1e-2, policy='one_cycle', seed=0, run_dir=out, progress=False)
rank = int(os.environ.get('RANK', 0))
w = torch.cat([p.detach().flatten() for p in learn.model.parameters()])
json.dump({'rank': rank, 'world': int(os.environ.get('WORLD_SIZE', 1)), 'checksum': float(w.double().sum()),
           'history': h.frame.drop(columns='seconds').to_dict('records')}, open(f'{out}/rank{rank}.json', 'w'))
