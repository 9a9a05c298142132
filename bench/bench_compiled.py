#!/usr/bin/env python
"""The NNLS layer's two CPU paths side by side: batched torch pivoting and the compiled per-column loop (numba).

`lsqnonneg` runs block principal pivoting either as batched torch operations (every iteration a few hundred tensor
operations over all columns still iterating; the only path on a GPU) or, on the CPU with numba installed, as one
compiled loop per column (nbs/21_compiled.ipynb). The environment variable NEURAL_NMF_COMPILED=0 selects the
batched path; this script switches it per call and times, in one run:

- the forward pass of each path and the unconstrained floor solve(AᵀA, AᵀX), with 1 and with 2 torch threads,
- the forward and backward pass (loss sum(S * G), gradients for A and X) of each path,

on the `bench_lsqnonneg.py` data (uniform and sparse supports, float64), and checks that the two paths agree
(supports equal, max|ΔS|/max|S|, KKT residuals).

    pip install numba                      # or: pip install -e ".[fast]"
    python bench/bench_compiled.py         # A 1000x20, X 1000x2000
    python bench/bench_compiled.py --k 50 --n 20000 --repeats 5     # the first layer of bench_large_sparse.py
    python bench/bench_compiled.py --quick # small sizes, a smoke run
"""
import argparse
import importlib
import os
import platform
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)   # the checkout this script lives in
sys.path.insert(0, HERE)
from bench_lsqnonneg import SETTINGS, floor_solve, fwd_bwd_fn, make_data, timeit  # noqa: E402


def on_path(path, fn):
    "fn, run with lsqnonneg on the given path ('batched' or 'compiled')."
    def run():
        os.environ['NEURAL_NMF_COMPILED'] = '0' if path == 'batched' else '1'
        try:
            return fn()
        finally:
            os.environ.pop('NEURAL_NMF_COMPILED', None)
    return run


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="A 200x10, X 200x300, 5 repeats")
    p.add_argument("--repeats", type=int, default=None, help="timed runs per method and thread count (default 31)")
    p.add_argument("--m", type=int, default=None, help="rows of A and X (default 1000)")
    p.add_argument("--k", type=int, default=None, help="columns of A (default 20)")
    p.add_argument("--n", type=int, default=None, help="columns of X (default 2000)")
    a = p.parse_args(argv)
    lsq = importlib.import_module("neural_nmf.lsqnonneg")
    if lsq._import_compiled() is None:
        print("numba is not installed: `pip install numba` (or the 'fast' extra) to compare the two paths")
        return 0
    import numba
    m, k, n = (200, 10, 300) if a.quick else (1000, 20, 2000)
    m, k, n = a.m or m, a.k or k, a.n or n
    repeats = a.repeats or (5 if a.quick else 31)
    print(f"# lsqnonneg on the CPU, batched torch path vs compiled path: A {m}x{k}, X {m}x{n}, float64")
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, numba {numba.__version__}, "
          f"python {platform.python_version()}")
    rows, notes = [], []
    for setting in SETTINGS:
        A, X = (torch.as_tensor(t) for t in make_data(setting, m, k, n, 0.2, 0.01, 0)[:2])
        (S_b, i_b), (S_c, i_c) = (on_path(path, lambda: lsq.lsqnonneg(A, X, return_info=True))()
                                  for path in ('batched', 'compiled'))
        diff = float((S_c - S_b).abs().max() / S_b.abs().max())
        notes.append(f"- {setting}: solver {i_b['solver']} / {i_c['solver']}; supports equal: "
                     f"{bool((i_b['support'] == i_c['support']).all())}; max|ΔS|/max|S| = {diff:.1e}; KKT residual "
                     f"batched {i_b['kkt_residual']:.1e}, compiled {i_c['kkt_residual']:.1e}; iterations "
                     f"{i_b['iterations']} / {i_c['iterations']}")
        G = torch.rand(k, n, dtype=A.dtype, generator=torch.Generator().manual_seed(1))
        for threads in (1, 2):
            torch.set_num_threads(threads)
            t = {path: (1e3 * timeit(on_path(path, lambda: lsq.lsqnonneg(A, X)), repeats)[0],
                        1e3 * timeit(on_path(path, fwd_bwd_fn(lsq.lsqnonneg, A, X, G)), repeats)[0])
                 for path in ('batched', 'compiled')}
            floor = 1e3 * timeit(lambda: floor_solve(A, X), repeats)[0]
            rows.append((setting, threads, t, floor))
    print(f"milliseconds, median of {repeats} runs; each row times both paths, one after the other\n")
    print("Forward pass:\n")
    print("| data | threads | batched | compiled | floor: solve(AᵀA, AᵀX) | batched / floor | compiled / floor |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for setting, threads, t, floor in rows:
        fb, fc = t['batched'][0], t['compiled'][0]
        print(f"| {setting} | {threads} | {fb:.2f} | {fc:.2f} | {floor:.2f} | {fb / floor:.1f}x | {fc / floor:.1f}x |")
    print("\nForward and backward pass (loss sum(S * G), gradients for A and X):\n")
    print("| data | threads | batched | compiled | compiled / batched |")
    print("|---|---:|---:|---:|---:|")
    for setting, threads, t, floor in rows:
        bb, bc = t['batched'][1], t['compiled'][1]
        print(f"| {setting} | {threads} | {bb:.2f} | {bc:.2f} | {bc / bb:.2f}x |")
    print("\nAgreement:")
    print("\n".join(notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
