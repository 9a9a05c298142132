#!/usr/bin/env python
"""What a compiled per-column pivoting kernel would give the NNLS layer: a design measurement, not part of the package.

`lsqnonneg` runs block principal pivoting as batched torch operations: every iteration is a few hundred small
tensor operations over all the columns still iterating, and the batched Cholesky factorisations loop over their
blocks on one core (torch parallelises elementwise work across threads, not these loops). This script measures the other
design: the same pivoting rule (Kim and Park's full exchange with Murty's single-pivot backup, the same tolerances,
the same unit-norm scaling and the same start F = {b > 0}) written as one loop per column, compiled with numba and
run in parallel over the columns. The first iteration from F = all entries is the unconstrained solution, solved
once for all columns with one Cholesky factorisation of G (as the batched solver does for a shared passive set).

It prints, for the `bench_lsqnonneg.py` data (uniform and sparse supports, A 1000x20, X 1000x2000, float64), the
median seconds of the package's `lsqnonneg`, of the compiled kernel (with X^T A and the scaling done in torch, the
same products the package computes) and of the unconstrained solve, with 1 and with 2 threads (torch and numba
threads set alike), their ratios, and the agreement of the two solutions (relative difference, KKT residual).
The kernel's results are not certified or differentiated here: this measures the forward's time only.

numba is not a dependency of the package; the script says so and exits when it is not installed:

    pip install numba
    python bench/bench_compiled_kernel.py              # A 1000x20, X 1000x2000
    python bench/bench_compiled_kernel.py --quick      # small sizes, a smoke run
"""
import argparse
import importlib
import os
import platform
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)   # the checkout this script lives in
sys.path.insert(0, HERE)
from bench_lsqnonneg import SETTINGS, floor_solve, make_data, timeit  # noqa: E402

try:
    import numba
    from numba import njit, prange
except ImportError:   # pragma: no cover - depends on the environment
    numba = None


def _kernels():
    "The compiled kernels (made here so that the module imports without numba)."
    @njit(cache=False)
    def factor_solve(M, r, p):
        "Cholesky of M[:p, :p] in place (lower triangle), then M r = rhs solved in r; False if a pivot is not positive."
        for j in range(p):
            s = M[j, j]
            for q in range(j):
                s -= M[j, q] * M[j, q]
            if s <= 0.0:
                return False
            d = np.sqrt(s)
            M[j, j] = d
            for i in range(j + 1, p):
                t = M[i, j]
                for q in range(j):
                    t -= M[i, q] * M[j, q]
                M[i, j] = t / d
        for i in range(p):
            t = r[i]
            for q in range(i):
                t -= M[i, q] * r[q]
            r[i] = t / M[i, i]
        for i in range(p - 1, -1, -1):
            t = r[i]
            for q in range(i + 1, p):
                t -= M[q, i] * r[q]
            r[i] = t / M[i, i]
        return True

    @njit(parallel=True, cache=False)
    def pivot(G, B, F0, bscale, tol, max_iter, Xu):
        "Block principal pivoting, one column per loop iteration (in parallel): S, final F, iterations, unfinished."
        n, k = B.shape
        S = np.zeros((n, k))
        Fout = F0.copy()
        iters = np.zeros(n, np.int64)
        unfinished = np.zeros(n, np.bool_)
        for j in prange(n):
            F = F0[j].copy()
            b = B[j]
            alpha, beta = 3, k + 1
            M = np.empty((k, k))
            r = np.empty(k)
            idx = np.empty(k, np.int64)
            x = np.zeros(k)
            y = np.zeros(k)
            done = False
            for it in range(max_iter):
                p = 0
                for i in range(k):
                    if F[i]:
                        idx[p] = i
                        p += 1
                if p == k:                              # every entry passive: the shared unconstrained solution
                    for a in range(k):
                        r[a] = Xu[j, a]
                else:
                    for a in range(p):
                        r[a] = b[idx[a]]
                        for c in range(p):
                            M[a, c] = G[idx[a], idx[c]]
                    if not factor_solve(M, r, p):       # singular G_FF: left to the batched solver in a real design
                        break
                x[:] = 0.0
                xmax = 0.0
                for a in range(p):
                    x[idx[a]] = r[a]
                    xmax = max(xmax, abs(r[a]))
                for i in range(k):
                    y[i] = 0.0
                    if not F[i]:
                        t = -b[i]
                        for a in range(p):
                            t += G[i, idx[a]] * r[a]
                        y[i] = t
                scale = tol * max(bscale[j], xmax)
                nv, last = 0, -1
                for i in range(k):
                    if (x[i] if F[i] else y[i]) < -scale:
                        nv += 1
                        last = i
                iters[j] = it + 1
                if nv == 0:
                    done = True
                    break
                if nv < beta:                           # full exchange while the count falls (3 tries of grace)
                    alpha, beta, full = 3, nv, True
                elif alpha >= 1:
                    alpha, full = alpha - 1, True
                else:
                    full = False
                if full:
                    for i in range(k):
                        if (x[i] if F[i] else y[i]) < -scale:
                            F[i] = not F[i]
                else:                                   # Murty's single pivot: the largest infeasible index
                    F[last] = not F[last]
            for i in range(k):
                S[j, i] = max(x[i], 0.0)
            Fout[j] = F
            unfinished[j] = not done
        return S, Fout, iters, unfinished
    return pivot


def compiled_nnls(pivot, A, X):
    "NNLS by the compiled kernel: scaling, Gram, X^T A and the unconstrained solve in torch, the pivoting compiled."
    k = A.shape[1]
    d = torch.linalg.vector_norm(A, dim=0)
    An = A / d
    G = An.T @ An
    B = X.T @ An
    bscale = B.abs().amax(1)
    Xu = torch.cholesky_solve(B.T, torch.linalg.cholesky(G)).T.contiguous()
    tol = 10.0 * k * torch.finfo(A.dtype).eps
    S, F, iters, unfinished = pivot(G.numpy(), B.numpy(), (B > 0).numpy(), bscale.numpy(), tol, max(50, 5 * k), Xu.numpy())
    return torch.from_numpy(S).T / d[:, None], iters, unfinished


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="A 200x10, X 200x300, 5 repeats")
    p.add_argument("--repeats", type=int, default=None, help="timed runs per method and thread count (default 31)")
    p.add_argument("--m", type=int, default=None, help="rows of A and X (default 1000)")
    p.add_argument("--k", type=int, default=None, help="columns of A (default 20)")
    p.add_argument("--n", type=int, default=None, help="columns of X (default 2000)")
    a = p.parse_args(argv)
    if numba is None:
        print("numba is not installed: `pip install numba` to run this measurement (the package does not need it)")
        return 0
    m, k, n = (200, 10, 300) if a.quick else (1000, 20, 2000)
    m, k, n = a.m or m, a.k or k, a.n or n
    repeats = a.repeats or (5 if a.quick else 31)
    lsq = importlib.import_module("neural_nmf.lsqnonneg")
    pivot = _kernels()
    print(f"# Compiled per-column pivoting vs the batched torch solver: A {m}x{k}, X {m}x{n}, float64")
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, numba {numba.__version__}, "
          f"numpy {np.__version__}, python {platform.python_version()}")
    rows, notes = [], []
    for setting in SETTINGS:
        A, X = (torch.as_tensor(t) for t in make_data(setting, m, k, n, 0.2, 0.01, 0)[:2])
        S_ref, info = lsq.lsqnonneg(A, X, return_info=True)
        S_c, iters, unfinished = compiled_nnls(pivot, A, X)
        diff = float((S_c - S_ref).abs().max() / S_ref.abs().max())
        notes.append(f"- {setting}: max|ΔS|/max|S| = {diff:.1e}; KKT residual compiled {lsq.kkt_residual(A, X, S_c):.1e}, "
                     f"batched {info['kkt_residual']:.1e}; iterations batched {info['iterations']}, compiled max "
                     f"{int(iters.max())} (mean {float(iters.mean()):.2f}), unfinished columns {int(unfinished.sum())}")
        for threads in (1, 2):
            torch.set_num_threads(threads)
            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
            ours, comp, floor = (1e3 * timeit(fn, repeats)[0] for fn in (lambda: lsq.lsqnonneg(A, X),
                                                                        lambda: compiled_nnls(pivot, A, X),
                                                                        lambda: floor_solve(A, X)))
            rows.append((setting, threads, ours, comp, floor))
    print(f"numba threading layer: {numba.threading_layer()}; milliseconds, median of {repeats} runs\n")
    print("| data | threads | lsqnonneg (batched torch) | compiled kernel | floor: solve(AᵀA, AᵀX) | batched / floor | compiled / floor |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for setting, threads, ours, comp, floor in rows:
        print(f"| {setting} | {threads} | {ours:.2f} | {comp:.2f} | {floor:.2f} | {ours / floor:.1f}x | {comp / floor:.1f}x |")
    print("\nAgreement:")
    print("\n".join(notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
