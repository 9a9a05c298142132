#!/usr/bin/env python
"""Search directions for the A_i in the line search, compared: how many epochs each needs to reach a loss.

The training's line search (`LineSearchGD`, used when lr=None) moves block i along ||A_i||_F^2 * G_i, G_i the
gradient of the loss through the exact NNLS layers. Two directions that use the curvature the layers hand us:

  jacobi         G_i / diag(S_i S_i^T): every column of A_i scaled by the squared norm of its row of S_i
                 (a simultaneous HALS update of the columns, for one layer and the reconstruction loss)
  gauss-newton   G_i (S_i S_i^T)^{-1}: the Gauss-Newton matrix of the layer's own residual ||S_{i-1} - A_i S_i||^2;
                 for one layer and the reconstruction loss a step of the right length is the projected
                 alternating least-squares update [X S^T (S S^T)^{-1}]_+

(both with S_i S_i^T + 1e-3 * mean(diag) I, so that a topic with an empty row of S_i gets a finite step). Everything
else (the Armijo rule, the step memory, the projection) is the package's. Each case trains the same network from
the same start with each direction for `--epochs` epochs; the table gives the loss after 10 and 30 epochs and at
the end, and the first epoch that has closed 99% of the gap between the starting loss and the lowest final loss of
the three (a measure that does not depend on how close to zero the losses are).

    python bench/bench_steps.py                  # all cases, 100 epochs, 1 thread (about two minutes)
    python bench/bench_steps.py --epochs 30 --out bench/results/bench_steps.md
"""
import argparse
import os
import platform
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)   # benchmark the checkout this script lives in
from bench_vs_sklearn import dense_data, news_data   # noqa: E402 (bench/ is the script's folder)

import importlib   # noqa: E402
T = importlib.import_module('neural_nmf.train')   # the module (the package exports the function `train` by that name)
from neural_nmf.deep_nmf import NMFNetwork   # noqa: E402


def _layer_outputs(closure):
    "S_1, ..., S_L of the objective's last forward pass."
    out = closure.out
    return out[0] if isinstance(out, tuple) else out


def _curvature(S, floor=1e-3):
    "S S^T with a floor of `floor` times the mean diagonal added to the diagonal."
    P = S @ S.T
    return P + (floor * float(P.diagonal().mean()) + 1e-300) * torch.eye(P.shape[0], dtype=P.dtype, device=P.device)


class Jacobi(T.LineSearchGD):
    "Block i moves along G_i / diag(S_i S_i^T)."
    def directions(self, grads, old, closure):
        return [g / _curvature(S.detach()).diagonal()[None, :] for g, S in zip(grads, _layer_outputs(closure))]


class GaussNewton(T.LineSearchGD):
    "Block i moves along G_i (S_i S_i^T)^{-1}."
    def directions(self, grads, old, closure):
        return [torch.linalg.solve(_curvature(S.detach()), g.T).T for g, S in zip(grads, _layer_outputs(closure))]


RULES = {'gradient': T.LineSearchGD, 'jacobi': Jacobi, 'gauss-newton': GaussNewton}


def train_with(rule_cls, X, ranks, loss, init, epochs):
    "Train a fresh network with the line search moving along `rule_cls`'s directions; (losses, seconds)."
    original = T._step_rules
    def rules(net, obj, optimizer, lr, safeguard, max_backtracks):   # the package's rules, this line search's directions
        rule, *rest = original(net, obj, optimizer, lr, safeguard, max_backtracks)
        return (rule_cls(rule.param_groups[0]['params'], obj.project, max_backtracks), *rest)
    T._step_rules = rules
    try:
        net = NMFNetwork([X.shape[0], *ranks], dtype=torch.float64)
        t0 = time.perf_counter()
        hist = T.train(net, X, epoch=epochs, loss_func=loss, init=init, seed=0, verbose=False, progress=False, tol=None)
        return np.asarray(hist['loss'], dtype=float), time.perf_counter() - t0, hist.meta['initial_loss']
    finally:
        T._step_rules = original


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--epochs', type=int, default=100)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--out', default=None, help='also write the table (markdown) to this file')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dense, news = dense_data(), news_data()
    cases = [('dense 2000x1000', dense, [20], 'recon', 'random'),
             ('20news', news, [10], 'recon', 'random'),
             ('20news', news, [20, 5], 'recon', 'auto'),
             ('20news', news, [20, 5], 'energy', 'auto'),
             ('dense 2000x1000', dense, [20, 5], 'energy', 'auto')]
    rows = []
    for name, X, ranks, loss, init in cases:
        runs = {r: train_with(cls, X, ranks, loss, init, a.epochs) for r, cls in RULES.items()}
        best = min(float(np.nanmin(L)) for L, _, _ in runs.values() if len(L))
        for r, (L, sec, start) in runs.items():
            hit = np.nonzero(L - best <= 0.01 * (start - best))[0]
            at = lambda e: f'{L[e - 1]:.5f}' if len(L) >= e else f'(stopped at {len(L)})'
            rows.append(f'| {name} | {ranks} | {loss} | {init} | {r} | {at(10)} | {at(30)} | {L[-1]:.5f} | '
                        f'{hit[0] + 1 if hit.size else "-"} | {sec:.1f} |')
            print(rows[-1], flush=True)
    lines = [f'line-search directions, float64, {a.threads} thread(s), {a.epochs} epochs; '
             f'{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}', '',
             '| data | ranks | loss | start | direction | loss @10 | loss @30 | loss at the end | '
             'epochs to 99% of the way | seconds |',
             '|---|---|---|---|---|---|---|---|---|---|', *rows]
    text = '\n'.join(lines)
    print('\n' + text)
    if a.out:
        with open(a.out, 'w') as f: f.write(text + '\n')


if __name__ == '__main__':
    main()
