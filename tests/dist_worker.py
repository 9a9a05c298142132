"""Worker launched by tests/test_distributed.py under torchrun (2 processes, gloo, localhost).

Every rank trains on its block of columns with `neural_nmf.distributed.train_distributed`; rank 0 saves the
trained parameters of each case to OUT/<case>.pt. `cases()` is shared with the test, which trains the same
cases in one process on the whole data and compares.
"""
import os
import sys

import numpy as np
import scipy.sparse
import torch
import torch.distributed as dist

from neural_nmf.deep_nmf import NMFNetwork


def cases():
    "name -> (X, labels, net kwargs, train kwargs); seeded, float64, odd column counts (uneven shards)."
    rng = np.random.default_rng(0)
    Xd = rng.random((50, 37))
    Xs = scipy.sparse.random(80, 45, density=0.2, random_state=rng, format='csc')
    y = rng.integers(0, 3, 37)
    y[::5] = -1                                                # some unlabeled columns (semi-supervised)
    return {
        'energy_dense_linesearch': (Xd, None, dict(depth_info=[50, 8, 4]), dict(epoch=6)),
        'recon_sparse_tol': (Xs, None, dict(depth_info=[80, 10, 5]), dict(epoch=8, loss_func='recon', tol=1e-9)),
        'energy_adam': (Xd, None, dict(depth_info=[50, 6]), dict(epoch=5, optimizer='adam')),
        'supervised_gd': (Xd, y, dict(depth_info=[50, 8, 4], c=3), dict(epoch=5, lr=[1.0, 1.0, 1.0], lam=1.0)),
    }


def make_net(kw, seed=7):
    return NMFNetwork(**kw, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def main(out):
    from neural_nmf.distributed import shard_columns, train_distributed
    dist.init_process_group('gloo')
    try:
        for name, (X, y, nkw, tkw) in cases().items():
            Xr = shard_columns(X, labels=y)
            if y is not None: Xr, yr = Xr
            else: yr = None
            net = make_net(nkw)
            hist = train_distributed(net, Xr, labels=yr, **tkw)
            if dist.get_rank() == 0:
                torch.save({'A': [a.detach().clone() for a in net.A],
                            'B': None if net.B is None else net.B.detach().clone(),
                            'loss': [float(v) for v in hist.scalars['loss']] if hasattr(hist, 'scalars') else None},
                           os.path.join(out, f'{name}.pt'))
    finally:
        dist.destroy_process_group()


if __name__ == '__main__':
    main(sys.argv[1])
