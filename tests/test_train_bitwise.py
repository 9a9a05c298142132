"""`neural_nmf.train.train` pinned by stored loss histories (tests/data/train_histories.json): changes in training fail.

Small seeded networks are trained on seeded data, in one thread; each run's loss at every epoch, its initial loss,
its early-stop message and the sum of the absolute entries of every parameter at the end must equal the stored
values to a relative 1e-12 in float64 and 1e-5 in float32. The cases cover the three step rules (line search, fixed
steps with and without the safeguard, Adam), both losses, unsupervised / supervised / semi-supervised runs,
`init='auto'`, `'random'` and `None`, dense and sparse data, both precisions, `lr_decay` and `tol`.

The tolerances leave room for another BLAS or CPU summing in another order (float64: a few thousand units in the
last place; float32's unit is 1.2e-7, so 1e-5 is about a hundred of them), and are far below a change of the
method: a step size 0.1% larger moves the first loss of 'gd recon safeguard' by 7e-5.

When training is meant to change, rewrite the stored values from the current code and review the diff:

    python tests/test_train_bitwise.py --record
"""
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from neural_nmf.deep_nmf import NMFNetwork
from neural_nmf.train import train, initialize

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shared import one_thread  # noqa: E402,F401 (one_thread: an autouse fixture)

STORED = Path(__file__).resolve().parent / 'data' / 'train_histories.json'
RTOL = {'float64': 1e-12, 'float32': 1e-5}


def data(sparse=False, dtype=np.float64):
    g = np.random.default_rng(0)
    X = (g.random((30, 5)) ** 2) @ g.random((5, 40)) + 0.05 * g.random((30, 40))
    X = X * (g.random((30, 40)) < 0.6)                    # zeros, so that the sparse form is sparse
    y = np.arange(40) % 3
    mask = np.ones(40, bool); mask[::4] = False            # semi-supervised: a quarter of the labels hidden
    X = X.astype(dtype)
    return (sp.csr_matrix(X) if sparse else X), y, mask


CASES = {
    # name: (train kwargs, sup ('no' / 'sup' / 'semi'), sparse, dtype)
    'ls energy auto':           (dict(), 'no', False, torch.float64),
    'ls energy random sparse':  (dict(init='random', seed=3), 'no', True, torch.float64),
    'ls recon auto':            (dict(loss_func='recon'), 'no', False, torch.float64),
    'ls energy sup':            (dict(), 'sup', False, torch.float64),
    'ls recon semi':            (dict(loss_func='recon', b_warmup=5, b_steps=3), 'semi', False, torch.float64),
    'ls energy f32':            (dict(), 'no', False, torch.float32),
    'ls tol':                   (dict(tol=1e-3, epoch=30), 'no', False, torch.float64),
    'gd recon safeguard':       (dict(lr=1e4, loss_func='recon'), 'no', False, torch.float64),
    'gd dict lr decay':         (dict(lr={'A1': 3.0, 'default': 1.0}, lr_decay=0.9), 'no', True, torch.float64),
    'gd no safeguard f32':      (dict(lr=0.5, safeguard=False, init='random', seed=1), 'no', False, torch.float32),
    'gd init None':             (dict(lr=1.0, init=None), 'no', False, torch.float64),
    'adam energy':              (dict(optimizer='adam'), 'no', False, torch.float64),
    'adam semi sparse f32':     (dict(optimizer='adam'), 'semi', True, torch.float32),
}


def run(name):
    "Train case `name` from its seeded start; returns `(network, history)`."
    kw, sup, sparse, dtype = CASES[name]
    kw = dict(kw)
    X, y, mask = data(sparse, np.float64 if dtype == torch.float64 else np.float32)
    net = NMFNetwork([30, 6, 3], c=None if sup == 'no' else 3, dtype=dtype,
                     generator=torch.Generator().manual_seed(1))
    if kw.get('init', 'auto') is None: initialize(net, X, 'random', seed=7)
    if sup != 'no': kw['labels'] = y
    if sup == 'semi': kw['label_mask'] = mask
    kw.setdefault('epoch', 6)
    h = train(net, X, verbose=False, **kw)
    return net, h


def summary(name):
    "What is stored for case `name`: dtype, losses by epoch, initial loss, stop message, sum |p| of each parameter p."
    net, h = run(name)
    return {'dtype': str(CASES[name][3]).removeprefix('torch.'),
            'loss': [float(v) for v in h.get('loss')],
            'initial_loss': float(h.meta['initial_loss']),
            'stopped': h.meta.get('stopped'),
            'param_sums': {k: float(p.detach().double().abs().sum()) for k, p in net.named_parameters()}}


def record(path=STORED):
    "Rewrite the stored histories from the current code (one torch thread, as in the tests); JSON keeps full repr."
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = {name: summary(name) for name in CASES}
    finally:
        torch.set_num_threads(n)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + '\n')
    return out


def close(name, what, got, want, rtol):
    assert math.isclose(got, want, rel_tol=rtol, abs_tol=0.0), (
        f"{name}: {what} is {got!r}, stored {want!r} (relative difference {abs(got - want) / abs(want):.2e} > "
        f"{rtol:g}); training changed. If that is intended, run `python tests/test_train_bitwise.py --record`, review the diff")


@pytest.mark.parametrize('name', list(CASES))
def test_matches_stored_history(name):
    stored = json.loads(STORED.read_text())
    assert name in stored, f"{name}: no stored history; run `python tests/test_train_bitwise.py --record`"
    want, got = stored[name], summary(name)
    rtol = RTOL[want['dtype']]
    assert got['dtype'] == want['dtype'], name
    assert len(got['loss']) == len(want['loss']), (
        f"{name}: {len(got['loss'])} epochs recorded, stored {len(want['loss'])} (stopped: {got['stopped']!r}, "
        f"stored {want['stopped']!r})")
    assert got['stopped'] == want['stopped'], name
    close(name, 'the initial loss', got['initial_loss'], want['initial_loss'], rtol)
    for epoch, (g, w) in enumerate(zip(got['loss'], want['loss']), 1):
        close(name, f'the loss at epoch {epoch}', g, w, rtol)
    assert list(got['param_sums']) == list(want['param_sums']), name
    for k, w in want['param_sums'].items():
        close(name, f'the sum of |{k}|', got['param_sums'][k], w, rtol)


def test_stored_cases_are_the_cases():
    assert sorted(json.loads(STORED.read_text())) == sorted(CASES), \
        "the stored histories and CASES differ; run `python tests/test_train_bitwise.py --record`"


if __name__ == '__main__':
    if sys.argv[1:] != ['--record']:
        sys.exit(__doc__)
    for name, s in record().items():
        print(f"{name}: {len(s['loss'])} epochs, final loss {s['loss'][-1]!r}")
    print(f'wrote {STORED}')
