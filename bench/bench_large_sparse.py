#!/usr/bin/env python
"""Large sparse data (issue 6): train NMFNetwork on a words x documents scipy sparse matrix without densifying it.

Builds a seeded 100,000 x 20,000 matrix with 0.1% nonzeros (2e6 entries; dense it would need 16 GB in float64),
trains `NMFNetwork([m, 50, 20])` for a few epochs, and prints one table row per configuration:

  full-batch    `train(net, X, epoch=E)`: one projected-gradient step with line search per epoch on all columns
  mini-batch    `train_minibatch(net, X, epochs=E, batch_size=B)`: a pass = one step per block of B columns
                (documents), visited in a shuffled order, each block keeping its own NNLS warm start.
  full-batch float64, malloc mmap threshold 128 KiB (Linux): the full-batch float64 row again, run with
                MALLOC_MMAP_THRESHOLD_=131072, to show how much of the peak is freed memory the C library keeps
                (`--mmap-thresholds 131072 1048576 4194304`: one such row per threshold, in bytes).

The full-batch rows give the first epoch (with the first forward pass and the building of the sparse copies, from
the call to the end of epoch 1) and the mean of the later epochs separately; the mini-batch row gives the mean pass.
A full-batch row also counts the line search's halvings (backtracks) in the later epochs, and a second table splits
those epochs by whether they backtracked: each halving solves every NNLS layer again, so a run long enough to
backtrack (`--epochs 15`) has a higher mean than a three-epoch one.

Every configuration runs in its own subprocess, so the peak resident memory (`resource.getrusage(RUSAGE_SELF)
.ru_maxrss`, which sees torch's allocations, unlike tracemalloc) is that configuration's own. The baseline row
"data only" builds X and does nothing else. At the end every configuration's trained network is evaluated on the
full data with the same loss (energy / ||X||^2), so mini-batch and full-batch results are compared directly.

    python bench/bench_large_sparse.py            # 100,000 x 20,000, 0.1%, 3 epochs (several minutes on 2 cores)
    python bench/bench_large_sparse.py --quick    # 10,000 x 600, 0.2%, 2 epochs: under a minute
    python bench/bench_large_sparse.py --device cuda   # also GPU rows (skipped with a line when there is none)
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


# glibc's malloc keeps freed blocks below its mmap threshold for reuse, and raises that threshold (up to 32 MB) each
# time it frees a larger block; fixing the threshold at 128 KiB returns every freed block above it to the system at
# once. The row run with it shows how much of the peak is memory freed but kept, and what returning it costs in time.
MALLOC_ENV, MALLOC_VALUE = 'MALLOC_MMAP_THRESHOLD_', '131072'


def _size(nbytes):
    "128 KiB, 4 MiB: a threshold as the rows name it."
    return f'{nbytes // 2**20} MiB' if nbytes % 2**20 == 0 else f'{nbytes // 2**10} KiB' if nbytes % 2**10 == 0 else f'{nbytes} B'


def build(m, n, density, seed):
    "Seeded sparse words x documents matrix: tf-like positive values, every document has at least one word."
    import numpy as np
    import scipy.sparse as sp
    rng = np.random.default_rng(seed)
    nnz = int(round(m * n * density))
    # Zipf-like word popularity, uniform documents: a crude but realistic sparsity pattern
    p = 1.0 / np.arange(1, m + 1) ** 0.8
    p /= p.sum()
    rows = rng.choice(m, size=nnz, p=p)
    cols = rng.integers(0, n, size=nnz)
    vals = rng.gamma(1.0, 1.0, size=nnz) + 0.1
    X = sp.csc_matrix((vals, (rows, cols)), shape=(m, n))
    X.sum_duplicates()
    empty = np.flatnonzero(np.diff(X.indptr) == 0)                        # give empty documents one word
    if empty.size:
        X = X + sp.csc_matrix((np.ones(empty.size), (rng.integers(0, m, empty.size), empty)), shape=(m, n))
    return X.tocsc()


def full_loss(net, Xt):
    "Energy loss / ||X||^2 of `net` on all of X (no gradients)."
    import torch
    from neural_nmf.deep_nmf import EnergyLoss
    with torch.no_grad():
        out = net(Xt)
        S = out[0] if isinstance(out, tuple) else out
        return float(EnergyLoss()(net, Xt, S))


def worker(cfg):
    "Run one configuration in this process; returns a dict of measurements."
    import numpy as np
    import torch
    from neural_nmf.deep_nmf import NMFNetwork, as_data
    from neural_nmf.train import train
    from neural_nmf.minibatch import train_minibatch
    torch.manual_seed(0)
    if cfg['threads']: torch.set_num_threads(cfg['threads'])
    t0 = time.perf_counter()
    X = build(cfg['m'], cfg['n'], cfg['density'], cfg['seed'])
    res = dict(name=cfg['name'], nnz=int(X.nnz), build_s=time.perf_counter() - t0)
    if cfg['mode'] == 'data':
        res['peak_mb'] = peak_mb()
        return res
    dtype = getattr(torch, cfg['dtype'])
    device = torch.device(cfg['device'])
    Xt = as_data(X, dtype=dtype, device=device)           # sparse COO tensor: never densified
    assert Xt.layout == torch.sparse_coo
    net = NMFNetwork([cfg['m'], *cfg['ranks']], dtype=dtype, device=device, generator=torch.Generator().manual_seed(1))
    res['loss0'] = full_loss(net, Xt)
    times = []
    if cfg['mode'] == 'full':
        if device.type == 'cuda': torch.cuda.synchronize()
        t = time.perf_counter()
        hist = train(net, Xt, epoch=cfg['epochs'], init=None, verbose=False)   # lr=None: projected GD with line search
        if device.type == 'cuda': torch.cuda.synchronize()
        total = time.perf_counter() - t                    # includes the initial forward pass
        epoch_s = [float(v) for v in hist.get('time')]
        times = [total - sum(epoch_s[1:])] + epoch_s[1:]   # epoch 1 from the call on; the later ones as recorded
        res['first_s'] = times[0]
        if len(times) > 1: res['later_s'] = float(np.mean(times[1:]))
        res['epoch_s'] = times                             # epoch by epoch, and the line search's halvings in each
        res['epoch_backtracks'] = [int(v) for v in hist.get('backtracks')]
    else:
        if device.type == 'cuda': torch.cuda.synchronize()
        t = time.perf_counter()
        train_minibatch(net, Xt, cfg['epochs'], batch_size=cfg['batch'], init=None, seed=cfg['seed'], verbose=False)
        if device.type == 'cuda': torch.cuda.synchronize()
        times = [(time.perf_counter() - t) / cfg['epochs']] * cfg['epochs']
    res['s_per_epoch'] = float(np.mean(times))
    res['epochs'] = len(times)
    res['loss'] = full_loss(net, Xt)
    res['finite'] = bool(all(torch.isfinite(a).all() for a in net.A))
    res['peak_mb'] = peak_mb()
    if device.type == 'cuda':
        res['gpu_peak_mb'] = torch.cuda.max_memory_allocated(device) / 2**20
    return res




def _backtrack_table(rows):
    "The later epochs of every full-batch row, split by whether the line search backtracked (each halving re-solves every layer)."
    full = [r for r in rows if 'epoch_backtracks' in r and len(r['epoch_s']) > 1]
    if not full: return
    print('\nLater epochs (2 on) by whether the line search backtracked in them:\n')
    print('| configuration | epochs without a backtrack | mean s | epochs with backtracks | backtracks | mean s |')
    print('|---|---:|---:|---:|---:|---:|')
    for r in full:
        pairs = list(zip(r['epoch_s'][1:], r['epoch_backtracks'][1:]))
        plain, back = [s for s, b in pairs if b == 0], [(s, b) for s, b in pairs if b > 0]
        mean = lambda v: f'{sum(v) / len(v):.2f}' if v else ''
        print(f'| {r["name"]} | {len(plain)} | {mean(plain)} | {len(back)} | {sum(b for _, b in back)} | '
              f'{mean([s for s, _ in back])} |')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--quick', action='store_true', help='10,000 x 600 at density 0.002, 2 epochs, no float32 row (< 1 min)')
    p.add_argument('--m', type=int, default=None)
    p.add_argument('--n', type=int, default=None)
    p.add_argument('--density', type=float, default=None, help='default 0.001 (0.002 with --quick)')
    p.add_argument('--ranks', type=int, nargs='+', default=[50, 20])
    p.add_argument('--epochs', type=int, default=None)
    p.add_argument('--batch', type=int, default=None, help='documents per mini-batch (default n/4)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=0, help='torch threads (0: default)')
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda' (adds GPU rows next to the CPU rows)")
    p.add_argument('--no-float32', action='store_true')
    p.add_argument('--no-malloc-row', action='store_true', help=f'leave out the float64 rows run with {MALLOC_ENV} set')
    p.add_argument('--mmap-thresholds', type=int, nargs='+', default=[int(MALLOC_VALUE)],
                   help=f'bytes: one float64 full-batch row run with {MALLOC_ENV} set to each (default {MALLOC_VALUE})')
    p.add_argument('--timeout', type=int, default=3600, help='seconds per configuration')
    p.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker is not None:
        print('RESULT ' + json.dumps(worker(json.loads(a.worker))), flush=True)
        return 0
    m = a.m or (10_000 if a.quick else 100_000)
    n = a.n or (600 if a.quick else 20_000)
    a.density = a.density or (2e-3 if a.quick else 1e-3)
    epochs = a.epochs or (2 if a.quick else 3)
    batch = a.batch or max(1, n // 4)
    base = dict(m=m, n=n, density=a.density, seed=a.seed, ranks=a.ranks, epochs=epochs, threads=a.threads,
                batch=batch, dtype='float64', device='cpu')
    cfgs = [dict(base, name='data only (build X)', mode='data'),
            dict(base, name='full-batch float64', mode='full'),
            dict(base, name=f'mini-batch {batch} docs float64', mode='mini')]
    if sys.platform.startswith('linux') and not a.no_malloc_row:   # glibc: how much of the peak is freed memory kept
        cfgs[2:2] = [dict(base, name=f'full-batch float64, malloc mmap threshold {_size(t)}', mode='full',
                          env={MALLOC_ENV: str(t)}) for t in a.mmap_thresholds]
    if not (a.no_float32 or a.quick):
        cfgs.append(dict(base, name='full-batch float32', mode='full', dtype='float32'))
    if a.device.startswith('cuda'):
        import torch
        if torch.cuda.is_available():
            cfgs += [dict(base, name='full-batch float64 [cuda]', mode='full', device='cuda'),
                     dict(base, name=f'mini-batch {batch} docs float64 [cuda]', mode='mini', device='cuda'),
                     dict(base, name='full-batch float32 [cuda]', mode='full', device='cuda', dtype='float32')]
        else:
            print('(--device cuda: no GPU visible, GPU rows skipped)')
    import torch
    print(f'# Large sparse Neural NMF: X {m:,} x {n:,} words x documents, density {a.density:g} (seed {a.seed}), '
          f'layers [m, {", ".join(map(str, a.ranks))}], {epochs} epochs')
    print(f'# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, '
          f'python {platform.python_version()}; each row is a separate process')
    rows = []
    for cfg in cfgs:
        r = run_config(os.path.abspath(__file__), cfg, a.timeout, ROOT)
        rows.append(r)
        print(f'  done: {r["name"]}', file=sys.stderr, flush=True)
    sys.stderr.flush()
    print()
    gpu = any('gpu_peak_mb' in r for r in rows)                # the GPU column only when there are GPU rows
    print('| configuration | nnz | first epoch s | later epochs s | s / epoch (wall) | peak RSS (MB) | '
          + ('GPU peak (MB) | ' if gpu else '') + 'loss start | loss end (full data) | finite | backtracks, later epochs |')
    print('|---|---:|---:|---:|---:|---:|' + ('---:|' if gpu else '') + '---:|---:|---|---:|')
    for r in rows:
        if 'error' in r:
            print(f'| {r["name"]} | | | | | |' + (' |' if gpu else '') + f' | FAILED: {r["error"]} | | |'); continue
        f = lambda k, fmt: (format(r[k], fmt) if k in r else '')
        later_bt = sum(r['epoch_backtracks'][1:]) if 'epoch_backtracks' in r else ''
        print(f'| {r["name"]} | {r["nnz"]:,} | {f("first_s", ".2f")} | {f("later_s", ".2f")} | {f("s_per_epoch", ".2f")} | '
              f'{f("peak_mb", ".0f")} | ' + (f'{f("gpu_peak_mb", ".0f")} | ' if gpu else '')
              + f'{f("loss0", ".6f")} | {f("loss", ".6f")} | {r.get("finite", "")} | {later_bt} |')
    _backtrack_table(rows)
    full = next((r for r in rows if r['name'] == 'full-batch float64' and 'loss' in r), None)
    mini = next((r for r in rows if r['name'].startswith('mini-batch') and 'cuda' not in r['name'] and 'loss' in r), None)
    dense_gb = m * n * 8 / 1e9
    print(f'\nDense X would take {dense_gb:.2f} GB in float64; the peaks above stay far below that, so X was never densified.')
    for fixed in (r for r in rows if 'mmap threshold' in r['name'] and 'later_s' in r):
        if not (full and 'later_s' in full): break
        size = fixed['name'].rsplit('threshold ', 1)[1]
        print(f'With glibc\'s mmap threshold fixed at {size} ({MALLOC_ENV}, which returns every freed block '
              f'above it to the system), the float64 full-batch peak is {fixed["peak_mb"]:.0f} MB instead of '
              f'{full["peak_mb"]:.0f} MB ({fixed["peak_mb"] - full["peak_mb"]:+.0f} MB) and a later epoch takes '
              f'{fixed["later_s"] / full["later_s"]:.2f}x as long; the losses are {"equal" if fixed["loss"] == full["loss"] else "different"}.')
    if full and mini:
        print(f'Mini-batch vs full-batch after {epochs} epochs (same start, full-data energy / ||X||^2): '
              f'{mini["loss"]:.6f} vs {full["loss"]:.6f} (start {full["loss0"]:.6f}); '
              f'mini-batch takes {n // batch + (n % batch > 0)} steps per epoch, full-batch one.')
    return 0 if all('error' not in r for r in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
