#!/usr/bin/env python
"""Time to quality, one layer: neural-nmf against scikit-learn's NMF solvers, in one run.

For each data set, every scikit-learn solver runs with its defaults (`NMF(solver='cd')`, `NMF(solver='mu')`,
`MiniBatchNMF`), and we record its final relative error ||X - W H||_F / ||X||_F and its time. A one-layer
`NMFNetwork([m, k])` is then trained with the reconstruction loss from the package's default start
(`init='auto'`: one HALS run from the NNDSVD start, then the line search, lr=None) for up to `--epochs` epochs, and
the table reports the wall time (from building the network) at which its relative error first reaches scikit-learn
cd's final error (to within 0.1%), with the ratio to cd's time. Further rows start from `initialize(...)` with other
options: `restarts=3` (two more HALS runs from random starts, the best kept), `start='random'` (one run from a random
start), and both (the best of three random starts).

Times are wall-clock. scikit-learn cd and every neural-nmf row run `--repeats` times (default 3), interleaved, and
the fastest run is kept (the first call of either library pays one-off costs: thread pools, lazy imports);
mu and MiniBatchNMF, which only give context, run once.

Data sets (features x documents for neural-nmf, transposed for scikit-learn):
  dense      2000 x 1000, rank 20: sparse nonnegative factors plus 5% noise
  20news     the shipped 20 Newsgroups tf-idf sample (words x 200 documents), rank 10
  sparse     a 20 Newsgroups-like sparse tf-idf shape, 30,000 x 10,000 with 0.2% nonzeros, rank 20

    python bench/bench_vs_sklearn.py               # all three, 1 thread (torch and numpy's BLAS alike)
    python bench/bench_vs_sklearn.py --quick       # smaller sizes, a smoke run
    python bench/bench_vs_sklearn.py --out bench/results/bench_vs_sklearn.md
"""
import argparse
import time
import warnings

import numpy as np
import scipy.sparse as sp
import torch


def dense_data(m=2000, n=1000, k=20, seed=0):
    "Nonnegative X = A S + 5% noise, with sparse nonnegative factors."
    g = np.random.default_rng(seed)
    A = g.random((m, k)) * (g.random((m, k)) < 0.3)
    S = g.random((k, n)) * (g.random((k, n)) < 0.3)
    X = A @ S
    return np.maximum(X + 0.05 * X.std() * g.standard_normal(X.shape), 0)


def sparse_data(m=30000, n=10000, density=0.002, k=20, seed=0):
    "A tf-idf-like sparse matrix: each document draws its words from a mixture of k sparse topics, rows rescaled."
    g = np.random.default_rng(seed)
    nnz_per_doc = max(1, int(density * m))
    topics = [g.choice(m, size=m // k * 2, replace=False) for _ in range(k)]
    rows, cols = [], []
    for j in range(n):
        t = g.choice(k, size=2, replace=False)
        words = np.concatenate([g.choice(topics[t[0]], nnz_per_doc // 2), g.choice(topics[t[1]], nnz_per_doc // 4),
                                g.choice(m, nnz_per_doc // 4)])
        rows.append(np.unique(words)); cols.append(np.full(rows[-1].size, j))
    r, c = np.concatenate(rows), np.concatenate(cols)
    X = sp.csr_matrix((g.random(r.size) + 0.1, (r, c)), shape=(m, n))
    idf = np.log(n / (1 + np.bincount(r, minlength=m)))
    X = sp.diags(np.maximum(idf, 0.1)) @ X
    norms = np.sqrt(np.asarray(X.multiply(X).sum(0))).ravel()
    return (X @ sp.diags(1 / np.maximum(norms, 1e-12))).tocsr()


def news_data():
    from neural_nmf import data_loading as dl
    return dl.load_20news(drop_empty_words=True).X


def rel_error(X, W, H):
    "||X - W H||_F / ||X||_F without forming W H for sparse X."
    if sp.issparse(X):
        xx = float(X.multiply(X).sum())
        xwh = float(((X @ H.T) * W).sum())
        whwh = float(((W.T @ W) * (H @ H.T)).sum())
        return float(np.sqrt(max(xx - 2 * xwh + whwh, 0) / xx))
    return float(np.linalg.norm(X - W @ H) / np.linalg.norm(X))


def run_sklearn(name, X_docs, k, seed):
    "X_docs: documents x words (scikit-learn's layout). Returns (time, relative error)."
    from sklearn.decomposition import NMF, MiniBatchNMF
    est = {'cd': lambda: NMF(k, solver='cd', random_state=seed),
           'mu': lambda: NMF(k, solver='mu', random_state=seed),
           'minibatch': lambda: MiniBatchNMF(k, random_state=seed)}[name]()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        t0 = time.perf_counter()
        W = est.fit_transform(X_docs)
        t = time.perf_counter() - t0
    return t, rel_error(X_docs, W, est.components_)


def run_ours(X, k, epochs, target, seed, start=None):
    "Time for a one-layer net (default start, or `initialize` with the options `start`; line search) to reach `target`; (time or None, best error, epochs)."
    from neural_nmf.deep_nmf import NMFNetwork
    from neural_nmf.train import Callback, initialize, train

    class Clock(Callback):
        "Stamps the wall time when the first epoch begins (the start is done) and after every epoch."
        first, ends = None, []
        def before_epoch(self, run):
            if self.first is None: self.first = time.perf_counter()
        def after_epoch(self, run): self.ends.append(time.perf_counter())

    torch.manual_seed(seed)
    clock = Clock(); clock.ends = []
    t0 = time.perf_counter()
    net = NMFNetwork([X.shape[0], k], dtype=torch.float64)
    if start is not None: initialize(net, X, 'topdown', seed=seed, **start)   # what init='auto' does, with `start`
    hist = train(net, X, epoch=epochs, loss_func='recon', verbose=False, progress=False, seed=seed,
                 tol=None, init='auto' if start is None else None, callbacks=(clock,))
    err0 = np.sqrt(hist.meta['initial_loss'])
    errs = np.sqrt(np.asarray(hist.get('loss'), dtype=float))
    if err0 <= target: return clock.first - t0, err0, 0        # the start (and its first forward pass) reached it
    hit = np.nonzero(errs <= target)[0]
    if hit.size: return clock.ends[hit[0]] - t0, errs[hit[0]], int(hit[0]) + 1
    return None, float(errs.min()), len(errs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--epochs', type=int, default=300)
    ap.add_argument('--repeats', type=int, default=3, help='timed runs of cd and of every neural-nmf row; the fastest is kept')
    ap.add_argument('--sets', nargs='*', default=['dense', '20news', 'sparse'])
    ap.add_argument('--out', default=None, help='also write the table (markdown) to this file')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    import scipy.linalg, sklearn.decomposition       # load every BLAS first: scipy's own OpenBLAS loads on import,
    from threadpoolctl import threadpool_limits      # and a limit set before that would not reach it
    threadpool_limits(a.threads)                     # numpy's and scipy's BLAS (scikit-learn's solvers) as many threads as torch
    sets = {'dense': (lambda: dense_data(*((400, 200) if a.quick else ())), 20),
            '20news': (news_data, 10),
            'sparse': (lambda: sparse_data(*((3000, 1000) if a.quick else ())), 20)}
    sk_rows, our_rows = [], []
    for name in a.sets:
        make, k = sets[name]
        X = make()
        Xd = X.T.tocsr() if sp.issparse(X) else np.ascontiguousarray(X.T)
        starts = (('default', None), ('restarts=3', dict(restarts=3)), ('random', dict(start='random')),
                  ('random, best of 3', dict(start='random', restarts=3)))
        res = {s: run_sklearn(s, Xd, k, 0) for s in ('mu', 'minibatch')}
        cd_runs = [run_sklearn('cd', Xd, k, 0)]
        target = cd_runs[0][1] * (1 + 1e-3)
        ours = {start: [] for start, _ in starts}
        for r in range(a.repeats):               # interleaved, so that a slow spell of the machine hits both sides
            if r: cd_runs.append(run_sklearn('cd', Xd, k, 0))
            for start, opts in starts: ours[start].append(run_ours(X, k, a.epochs, target, 0, opts))
        res['cd'] = min(cd_runs)
        sk_rows.append(f'| {name} | {X.shape[0]}x{X.shape[1]} | {k} | ' +
                       ' | '.join(f'{res[s][0]:.2f} | {res[s][1]:.5f}' for s in ('cd', 'mu', 'minibatch')) + ' |')
        print(sk_rows[-1], flush=True)
        for start, _ in starts:
            reached = [o for o in ours[start] if o[0] is not None]
            t, e, ep = min(reached) if reached else ours[start][0]
            ratio = '-' if t is None else f'{t / res["cd"][0]:.2f}x'
            shown = f'not reached in {ep}' if t is None else f'{t:.2f}'
            our_rows.append(f'| {name} | {start} | {res["cd"][1]:.5f} | {shown} | {e:.5f} | {ep} | {ratio} |')
            print(our_rows[-1], flush=True)
    lines = [f'time to quality, one layer, float64, {a.threads} thread(s); cd and neural-nmf: the fastest of {a.repeats} interleaved runs, mu and minibatch: one run', '',
             'scikit-learn, defaults (seconds, relative error):', '',
             '| data | shape | k | cd s | cd err | mu s | mu err | minibatch s | minibatch err |',
             '|---|---|---|---|---|---|---|---|---|', *sk_rows, '',
             "neural-nmf, one layer: the time to reach cd's error (+0.1%), from the default start (one HALS run from the NNDSVD start), with two more runs from random starts (restarts=3), from one random start, and the best of three random starts:", '',
             "| data | start | cd's error | ours s | ours err | epochs | ours / cd |", '|---|---|---|---|---|---|---|', *our_rows]
    text = '\n'.join(lines)
    print('\n' + text)
    if a.out:
        with open(a.out, 'w') as f: f.write(text + '\n')


if __name__ == '__main__':
    main()
