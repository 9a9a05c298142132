"""Mini-batch training (`neural_nmf.minibatch.train_minibatch`) on a corpus that never exists as one matrix.

(a) stream: a words x documents corpus generated block by block with a seeded generator (block i is the same in
    every pass, so the blocks keep their NNLS warm starts); time per pass and peak memory of the process.
(b) a 10x smaller slice (its first documents), small enough for full-batch `train`: the loss on the slice after the
    same number of passes, mini-batch against full-batch, from the same start.

Each configuration runs in its own Python process; peak RSS is that process' maximum resident set size
(resource.getrusage), so it includes Python, torch and the network.

    python bench/bench_minibatch.py            # 50,000 x 1,000,000 at 0.05% (a), 50,000 x 100,000 (b), layers [m, 50, 20]
    python bench/bench_minibatch.py --quick    # 5,000 x 20,000 (a), 5,000 x 2,000 (b), blocks of 500: about a minute
"""
import argparse
import json
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
from _subprocess import peak_mb, run_config   # noqa: E402 (bench/ is the script's folder)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)   # benchmark the checkout this script lives in


def make_block(cfg, i):
    "Block i (documents i*batch ... ) of the virtual corpus: seeded by (seed, i), Zipf-like words, tf-like values."
    import numpy as np
    import scipy.sparse as sp
    m, b = cfg['m'], min(cfg['batch'], cfg['n'] - i * cfg['batch'])
    rng = np.random.default_rng([cfg['seed'], i])
    p = 1.0 / np.arange(1, m + 1) ** 0.8
    p /= p.sum()
    nnz = int(round(m * b * cfg['density']))
    rows, cols = rng.choice(m, size=nnz, p=p), rng.integers(0, b, size=nnz)
    rows = np.concatenate([rows, rng.integers(0, m, size=b)])          # every document has at least one word
    cols = np.concatenate([cols, np.arange(b)])
    vals = rng.gamma(1.0, 1.0, size=nnz + b) + 0.1
    return sp.csc_matrix((vals, (rows, cols)), shape=(m, b))


def worker(cfg):
    "Run one configuration in this process; returns a dict of measurements."
    import scipy.sparse as sp
    import torch
    from neural_nmf.deep_nmf import NMFNetwork
    from neural_nmf.minibatch import BlockSource, minibatch_loss, train_minibatch
    from neural_nmf.train import train
    torch.set_num_threads(cfg['threads'])
    n_blocks = -(-cfg['n'] // cfg['batch'])
    source = BlockSource(n_blocks, lambda i: make_block(cfg, i))          # generated when visited, never stored
    net = NMFNetwork([cfg['m'], *cfg['ranks']], dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    res = dict(name=cfg['name'], n=cfg['n'], blocks=n_blocks, passes=cfg['passes'])
    t = time.perf_counter()
    if cfg['mode'] == 'full':
        X = sp.hstack([make_block(cfg, i) for i in range(n_blocks)], format='csc')   # small enough to hold whole
        hist = train(net, X, epoch=cfg['passes'], init=None, verbose=False)
    else:
        hist = train_minibatch(net, source, cfg['passes'], init=None, seed=0, verbose=cfg['verbose'])
        res['pass_loss'] = hist['loss'][-1]
    res['s_per_pass'] = (time.perf_counter() - t) / max(cfg['passes'], 1)
    res['peak_mb'] = peak_mb()
    if cfg['evaluate']:
        res['loss'] = minibatch_loss(net, source)                          # final network, all the data, block by block
    res['finite'] = bool(all(torch.isfinite(a).all() for a in net.A))
    return res




def configs(a):
    "The configurations: (a) the streamed corpus, (b) the slice, mini-batch and full-batch."
    m = a.m or (5_000 if a.quick else 50_000)
    n = a.n or (20_000 if a.quick else 1_000_000)
    batch = a.batch or (500 if a.quick else 20_000)
    passes = 2 if a.passes is None else a.passes
    n_slice = a.slice or n // 10
    slice_batch = a.slice_batch or batch
    base = dict(m=m, batch=batch, density=a.density, seed=a.seed, ranks=a.ranks, threads=a.threads, passes=passes,
                verbose=a.verbose)
    return [dict(base, name=f'(a) stream {n:,} docs, mini-batch {batch:,}', n=n, mode='mini', evaluate=not a.no_eval),
            dict(base, name=f'(b) slice {n_slice:,} docs, mini-batch {slice_batch:,}', n=n_slice, batch=slice_batch,
                 mode='mini', evaluate=True),
            dict(base, name=f'(b) slice {n_slice:,} docs, full-batch', n=n_slice, batch=slice_batch, mode='full',
                 evaluate=True)]


def print_table(rows, a, cfgs):
    print('| configuration | documents | blocks | passes | s / pass (wall) | peak RSS (MB) | loss in last pass | loss at the end (all its data) |')
    print('|---|---:|---:|---:|---:|---:|---:|---:|')
    for r in rows:
        if 'error' in r:
            print(f'| {r["name"]} | | | | | | | FAILED: {r["error"]} |'); continue
        f = lambda k, fmt: (format(r[k], fmt) if k in r else '')
        print(f'| {r["name"]} | {r["n"]:,} | {r["blocks"]} | {r["passes"]} | {f("s_per_pass", ".1f")} | '
              f'{f("peak_mb", ".0f")} | {f("pass_loss", ".5f")} | {f("loss", ".5f")} |')
    c = cfgs[0]
    print(f'\nThe streamed corpus as one float64 CSC matrix would take about '
          f'{c["m"] * c["n"] * c["density"] * 12 / 1e9 + c["n"] * 8 / 1e9:.2f} GB (values and row indices), dense '
          f'{c["m"] * c["n"] * 8 / 1e9:,.0f} GB.')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--quick', action='store_true', help='5,000 words x 20,000 documents, blocks of 500 (about a minute)')
    p.add_argument('--m', type=int, default=None, help='words (default 50,000)')
    p.add_argument('--n', type=int, default=None, help='documents of the stream (default 1,000,000); the slice has n/10')
    p.add_argument('--batch', type=int, default=None, help='documents per block (default 20,000)')
    p.add_argument('--slice', type=int, default=None, help='documents of the slice (b) (default n/10)')
    p.add_argument('--slice-batch', type=int, default=None, help='documents per block in (b) (default --batch)')
    p.add_argument('--density', type=float, default=5e-4)
    p.add_argument('--ranks', type=int, nargs='+', default=[50, 20])
    p.add_argument('--passes', type=int, default=None, help='passes (default 2)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=1, help='torch threads (default 1)')
    p.add_argument('--no-eval', action='store_true', help='skip the final loss of the stream (one more forward pass)')
    p.add_argument('--only', type=int, nargs='+', default=None, help='run only these configurations (0, 1, 2)')
    p.add_argument('--verbose', action='store_true', help='print the passes of the mini-batch runs on stderr')
    p.add_argument('--timeout', type=int, default=3600, help='seconds per configuration')
    p.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker is not None:
        print('RESULT ' + json.dumps(worker(json.loads(a.worker))), flush=True)
        return 0
    cfgs = configs(a)
    if a.only is not None: cfgs = [cfgs[i] for i in a.only]
    import torch
    c = cfgs[0]
    print(f'# Mini-batch Neural NMF: {c["m"]:,} words, density {a.density:g} (seed {a.seed}), layers '
          f'[m, {", ".join(map(str, a.ranks))}], energy loss, line search, float64, {a.threads} thread(s)')
    print(f'# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, '
          f'python {platform.python_version()}; each row is a separate process; all start from the same network')
    rows = []
    for cfg in cfgs:
        rows.append(run_config(os.path.abspath(__file__), cfg, a.timeout, ROOT, echo=cfg.get('verbose')))
        print(f'  done: {cfg["name"]}', file=sys.stderr, flush=True)
    print()
    print_table(rows, a, cfgs)
    return 0 if all('error' not in r for r in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
