#!/usr/bin/env python
"""Benchmark the exact NNLS layer `neural_nmf.lsqnonneg.lsqnonneg` (issue 2, "Benchmark").

One run, one machine, one table: forward and forward+backward seconds (median of several runs) for
A (1000 x 20) and X (1000 x 2000) in two data settings and two dtypes, for

  ours       `lsqnonneg(A, X)` from this package; "ours warm" = a training step later: a solve with a slightly
             perturbed A2 = max(A * (1 + 0.01 * noise), 0) (seeded noise) and `init=` the solution S for A;
             "ours warm, same A" = the identical problem again with `init=` S (a best case, for comparison)
  scipy      `scipy.optimize.nnls` in a Python loop over the columns (forward only, float64)
  reference  the `NeuralNMF` 1.0.0 layer `LsqNonneg` (PyPI `neuralnmf==1.0.0`), float64 only, run in its
             own virtualenv bench/.ref-venv that this script builds on first use
  floor      unconstrained least squares `torch.linalg.solve(A.T @ A, A.T @ X)` (autograd for backward)

Backward means: loss = sum(S * G) for a fixed random G, gradients w.r.t. both A and X.
Then it checks that the answers agree (ours vs scipy, ours vs reference gradients) and prints the
ratios the issue targets, MET or MISSED.

    python bench/bench_lsqnonneg.py            # full run (the reference takes a few minutes)
    python bench/bench_lsqnonneg.py --quick    # small sizes, smoke test (well under a minute)
    python bench/bench_lsqnonneg.py --device cuda --repeats 7 --no-ref
"""
import argparse
import importlib
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings

import numpy as np
import scipy
import torch
from scipy.optimize import nnls

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # benchmark the checkout this script lives in, installed or not
sys.path.insert(0, HERE)
import _reference  # noqa: E402  (bench/_reference.py)

SETTINGS = ("uniform", "sparse")
DTYPES = (torch.float64, torch.float32)
DT = {torch.float64: "f64", torch.float32: "f32"}
TARGET_REF = 20.0   # (reference fwd+bwd) / (ours fwd+bwd) >= 20
TARGET_FLOOR = 3.0  # (ours fwd) / (floor fwd) <= 3
FAST_MIN_TOTAL = 0.3  # seconds: fast methods repeat beyond --repeats until this much was timed (quick: 0.1)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes (A 200x10, X 200x300), few repeats: smoke test")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="cuda: also time ours and the floor on the GPU (skipped cleanly when there is none)")
    p.add_argument("--repeats", type=int, default=None, help="timed runs per fast method (median reported; default 7, quick 3)")
    p.add_argument("--slow-repeats", type=int, default=None,
                   help="timed runs for scipy and the reference (default 3, quick 1)")
    p.add_argument("--m", type=int, default=None, help="rows of A and X (default 1000)")
    p.add_argument("--k", type=int, default=None, help="columns of A (default 20)")
    p.add_argument("--n", type=int, default=None, help="columns of X (default 2000)")
    p.add_argument("--density", type=float, default=0.2, help="fraction of nonzeros in S_sparse (sparse setting)")
    p.add_argument("--noise", type=float, default=0.01, help="noise level, relative to std(A S), sparse setting")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: leave the machine default)")
    p.add_argument("--no-ref", action="store_true", help="skip the reference NeuralNMF column")
    p.add_argument("--ref-venv", default=_reference.DEFAULT_VENV, help="virtualenv for the reference (built if missing)")
    p.add_argument("--impl", default="neural_nmf.lsqnonneg",
                   help="module that provides lsqnonneg (and optionally kkt_residual); for testing stand-ins")
    a = p.parse_args(argv)
    a.m = a.m or (200 if a.quick else 1000)
    a.k = a.k or (10 if a.quick else 20)
    a.n = a.n or (300 if a.quick else 2000)
    a.repeats = a.repeats or (5 if a.quick else 7)
    a.slow_repeats = a.slow_repeats or (1 if a.quick else 3)
    return a


# ----------------------------------------------------------------------------------------------
# data
def make_data(setting, m, k, n, density, noise, seed):
    """Seeded float64 numpy data: (A, X, G); G is the upstream gradient dL/dS used for backward."""
    rng = np.random.default_rng([seed, SETTINGS.index(setting)])
    A = rng.random((m, k))
    if setting == "uniform":
        X = rng.random((m, n))                                   # nonnegative uniform random X
    else:
        S = rng.random((k, n)) * (rng.random((k, n)) < density)  # sparse nonnegative codes
        AS = A @ S
        X = np.maximum(AS + noise * AS.std() * rng.standard_normal((m, n)), 0.0)  # A S + noise, clipped >= 0
    G = rng.standard_normal((k, n))
    return A, X, G


# ----------------------------------------------------------------------------------------------
# timing
class Sec(float):
    """A median time in seconds that also remembers the fastest run (`.min`)."""
    def __new__(cls, median, fastest):
        self = super().__new__(cls, median)
        self.min = fastest
        return self


def timeit(fn, repeats, sync=lambda: None, warmup=1, min_total=0.0, max_runs=200):
    """Median wall time of fn() after `warmup` untimed runs; returns (median, last result).

    Runs `repeats` times, and more (up to `max_runs`) until `min_total` seconds were timed, so that
    millisecond-scale methods get a median over many runs and are less at the mercy of a noisy machine."""
    out = None
    for _ in range(warmup):
        out = fn()
        sync()
    ts = []
    while len(ts) < repeats or (sum(ts) < min_total and len(ts) < max_runs):
        t0 = time.perf_counter()
        out = fn()
        sync()
        ts.append(time.perf_counter() - t0)
    return Sec(statistics.median(ts), min(ts)), out


def perturb(A, seed):
    """A training step's worth of change: A * (1 + 0.01 * noise), clipped at 0, with seeded Gaussian noise."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(A.shape, generator=g, dtype=torch.float64).to(device=A.device, dtype=A.dtype)
    return (A * (1 + 0.01 * noise)).clamp_min(0)


def fwd_bwd_fn(solve, A, X, G):
    """Closure: S = solve(A', X'), loss = sum(S * G), backward w.r.t. A' and X' (fresh leaves)."""
    Ag = A.detach().clone().requires_grad_(True)
    Xg = X.detach().clone().requires_grad_(True)

    def run():
        Ag.grad = None
        Xg.grad = None
        S = solve(Ag, Xg)
        (S * G).sum().backward()
        return S.detach(), Ag.grad, Xg.grad
    return run


def floor_solve(A, X):
    return torch.linalg.solve(A.T @ A, A.T @ X)


def scipy_loop(A, X):
    S = np.empty((A.shape[1], X.shape[1]))
    for j in range(X.shape[1]):
        S[:, j] = nnls(A, X[:, j])[0]
    return S


def rel(a, b):
    """max |a - b| / max |b| (both as float64 numpy)."""
    a = a.detach().cpu().double().numpy() if torch.is_tensor(a) else np.asarray(a, dtype=np.float64)
    b = b.detach().cpu().double().numpy() if torch.is_tensor(b) else np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def fmt(t):
    if t is None:
        return "-"
    if isinstance(t, str):
        return t
    return f"{t:.3g}" if t >= 0.01 else f"{t:.2e}"


# ----------------------------------------------------------------------------------------------
def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    fast_min = FAST_MIN_TOTAL / 3 if args.quick else FAST_MIN_TOTAL
    load0 = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    warnings.filterwarnings("ignore", message=".*TypedStorage.*")
    log = lambda s: print(s, flush=True)  # noqa: E731

    cols = [(s, d) for s in SETTINGS for d in DTYPES]
    T = {}      # (row label, pass) -> {(setting, dtype): seconds or "skip reason"}
    notes = []  # agreement / info lines
    row_order = []

    def put(row, pss, col, val):
        if (row, pss) not in T:
            T[(row, pss)] = {}
            row_order.append((row, pss))
        T[(row, pss)][col] = val

    log(f"# lsqnonneg benchmark: A {args.m}x{args.k}, X {args.m}x{args.n}"
        f"{' (--quick)' if args.quick else ''}, seed {args.seed}")
    log(f"machine: {platform.machine()} {platform.processor() or ''}, os.cpu_count()={os.cpu_count()}, "
        f"torch threads={threads}; python {platform.python_version()}, torch {torch.__version__}, "
        f"numpy {np.__version__}, scipy {scipy.__version__}")
    if load0 is not None:
        log(f"load average at start: {load0:.2f} (other processes on the machine distort timings)")
    log(f"repeats: >= {args.repeats} (ours, floor; median after 1 warm-up, more runs until "
        f"{fast_min:g} s were timed), "
        f"{args.slow_repeats} (scipy loop, reference; median, no warm-up)")

    # ---- ours --------------------------------------------------------------------------------
    ours, kkt, ours_err = None, None, None
    try:
        mod = importlib.import_module(args.impl)
        ours = mod.lsqnonneg
        kkt = getattr(mod, "kkt_residual", None)
    except Exception as e:  # noqa: BLE001 -- any import problem means "skip this column"
        ours_err = f"skipped: cannot import {args.impl}.lsqnonneg ({type(e).__name__}: {e})"
        log(ours_err)

    # ---- devices -------------------------------------------------------------------------------
    devices = ["cpu"]
    if args.device == "cuda":
        if torch.cuda.is_available():
            devices.append("cuda")
            log(f"cuda: {torch.cuda.get_device_name(0)}")
        else:
            cuda_skip = "cuda: skipped: torch.cuda.is_available() is False on this machine"
            log(cuda_skip)
            notes.append(cuda_skip)

    # one untimed warm-up of the BLAS/LAPACK paths on every device, so no timed column pays for it
    for dev in devices:
        for dtype in DTYPES:
            w = torch.rand(64, 8, dtype=dtype, device=dev)
            floor_solve(w, w @ w.T)
    data = {s: make_data(s, args.m, args.k, args.n, args.density, args.noise, args.seed) for s in SETTINGS}
    S_scipy, ours_grads = {}, {}

    for setting in SETTINGS:
        A64, X64, G64 = data[setting]
        # scipy loop: float64 forward only
        t, S_scipy[setting] = timeit(lambda: scipy_loop(A64, X64), args.slow_repeats, warmup=0)
        put("scipy nnls loop", "fwd", (setting, torch.float64), t)
        put("scipy nnls loop", "fwd", (setting, torch.float32), "n/a")
        supp = (S_scipy[setting] > 0).sum(0)
        notes.append(f"{setting}: active set size per column (scipy): mean {supp.mean():.1f} of {args.k}, "
                     f"min {supp.min()}, max {supp.max()}")
        for dev in devices:
            sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
            tag = "" if dev == "cpu" else f" [{dev}]"
            for dtype in DTYPES:
                col = (setting, dtype)
                log(f"timing {setting} {DT[dtype]} on {dev} ...")
                A = torch.as_tensor(A64, dtype=dtype, device=dev)
                X = torch.as_tensor(X64, dtype=dtype, device=dev)
                G = torch.as_tensor(G64, dtype=dtype, device=dev)
                # floor
                t, _ = timeit(lambda: floor_solve(A, X), args.repeats, sync, min_total=fast_min)
                put("floor: solve(AᵀA, AᵀX)" + tag, "fwd", col, t)
                t, _ = timeit(fwd_bwd_fn(floor_solve, A, X, G), args.repeats, sync, min_total=fast_min)
                put("floor: solve(AᵀA, AᵀX)" + tag, "fwd+bwd", col, t)
                # ours
                if ours is None:
                    for r in ("ours" + tag, "ours warm" + tag, "ours warm, same A" + tag):
                        put(r, "fwd", col, "skipped")
                        put(r, "fwd+bwd", col, "skipped")
                    continue
                try:
                    t, S = timeit(lambda: ours(A, X), args.repeats, sync, min_total=fast_min)
                    put("ours" + tag, "fwd", col, t)
                    t, (S_fb, gA, gX) = timeit(fwd_bwd_fn(ours, A, X, G), args.repeats, sync,
                                               min_total=fast_min)
                    put("ours" + tag, "fwd+bwd", col, t)
                    S0 = S.detach().clone()
                    A2 = perturb(A, args.seed)
                    t, Sw = timeit(lambda: ours(A2, X, init=S0), args.repeats, sync, min_total=fast_min)
                    put("ours warm" + tag, "fwd", col, t)
                    t, _ = timeit(fwd_bwd_fn(lambda a, x: ours(a, x, init=S0), A2, X, G),
                                  args.repeats, sync, min_total=fast_min)
                    put("ours warm" + tag, "fwd+bwd", col, t)
                    t, _ = timeit(lambda: ours(A, X, init=S0), args.repeats, sync, min_total=fast_min)
                    put("ours warm, same A" + tag, "fwd", col, t)
                    t, _ = timeit(fwd_bwd_fn(lambda a, x: ours(a, x, init=S0), A, X, G),
                                  args.repeats, sync, min_total=fast_min)
                    put("ours warm, same A" + tag, "fwd+bwd", col, t)
                except Exception as e:  # noqa: BLE001 -- report, keep the other columns
                    msg = f"error: {type(e).__name__}: {e}"
                    log(f"ours{tag} {setting} {DT[dtype]}: {msg}")
                    for r in ("ours" + tag, "ours warm" + tag, "ours warm, same A" + tag):
                        for pss in ("fwd", "fwd+bwd"):
                            if col not in T.get((r, pss), {}):
                                put(r, pss, col, "error")
                    continue
                # agreement with scipy, and info
                line = (f"{setting} {DT[dtype]}{tag}: ours vs scipy max|ΔS|/max|S| = {rel(S, S_scipy[setting]):.1e}"
                        f"; warm (A2) vs cold (A2) {rel(Sw, ours(A2, X)):.1e}; fwd+bwd S vs fwd S {rel(S_fb, S):.1e}")
                if kkt is not None:
                    try:
                        line += f"; kkt_residual {float(kkt(A, X, S)):.1e}"
                    except Exception as e:  # noqa: BLE001
                        line += f"; kkt_residual failed ({type(e).__name__})"
                try:
                    _, ic = ours(A, X, return_info=True)
                    _, iw = ours(A2, X, init=S0, return_info=True)
                    _, ic2 = ours(A2, X, return_info=True)
                    line += (f"; iterations cold {ic.get('iterations')} / warm (A2) {iw.get('iterations')}"
                             f" (pivots {iw.get('pivots')}, cold on A2: {ic2.get('pivots')})"
                             f", fallback columns {ic.get('fallback_columns')}")
                except Exception as e:  # noqa: BLE001
                    line += f"; return_info failed ({type(e).__name__}: {e})"
                notes.append(line)
                if dev == "cpu" and dtype == torch.float64:
                    ours_grads[setting] = (gA, gX)

    # ---- reference (float64, CPU, own venv) -----------------------------------------------------
    ref_row = "reference NeuralNMF 1.0.0"
    ref_skip = None
    if args.no_ref:
        ref_skip = "skipped: --no-ref"
    else:
        log("reference: checking its virtualenv ...")
        t0 = time.perf_counter()
        py, why = _reference.ensure_ref_venv(args.ref_venv, log=log, build=not args.quick)
        log(f"reference venv ready in {time.perf_counter() - t0:.1f} s" if py else f"reference: skipped: {why}")
        if not py:
            ref_skip = f"skipped: {why}"
    results = {}
    if not ref_skip:
        with tempfile.TemporaryDirectory() as td:
            jobs = []
            for setting in SETTINGS:
                A64, X64, G64 = data[setting]
                fin, fout = os.path.join(td, f"{setting}-in.npz"), os.path.join(td, f"{setting}-out.npz")
                np.savez(fin, A=A64, X=X64, G=G64)
                jobs.append((fin, fout))
            log(f"reference: timing {', '.join(SETTINGS)} (float64) ...")
            res, why = _reference.run_ref_worker(py, jobs, args.slow_repeats, args.slow_repeats, threads)
            if res is None:
                ref_skip = f"skipped: {why}"
                log(f"reference: {ref_skip}")
            else:
                for setting, r, (_, fout) in zip(SETTINGS, res, jobs):
                    out = np.load(fout)
                    results[setting] = (r, {key: out[key] for key in out.files})
    for setting in SETTINGS:
        for pss in ("fwd", "fwd+bwd"):
            put(ref_row, pss, (setting, torch.float32), "n/a")
        if setting not in results:
            for pss in ("fwd", "fwd+bwd"):
                put(ref_row, pss, (setting, torch.float64), "skipped")
            continue
        r, out = results[setting]
        put(ref_row, "fwd", (setting, torch.float64), Sec(r["fwd"], min(r["fwd_all"])))
        put(ref_row, "fwd+bwd", (setting, torch.float64), Sec(r["fwd_bwd"], min(r["fwd_bwd_all"])))
        line = f"{setting} f64: reference vs scipy max|ΔS|/max|S| = {rel(out['S'], S_scipy[setting]):.1e}"
        if setting in ours_grads:
            gA, gX = ours_grads[setting]
            line += (f"; ours vs reference gradients: dA {rel(gA, out['gA']):.1e}, "
                     f"dX {rel(gX, out['gX']):.1e} (relative max abs diff)")
        notes.append(line)

    # ---- print -----------------------------------------------------------------------------------
    print()
    print(f"Seconds, median; A {args.m}x{args.k}, X {args.m}x{args.n}; {threads} torch threads"
          f" (os.cpu_count()={os.cpu_count()}). uniform: X ~ U[0,1); sparse: X = max(A S + noise, 0)"
          f" with {args.density:.0%} nonzeros in S. fwd+bwd: loss sum(S*G), grads w.r.t. A and X.")
    print()
    head = "| method | pass | " + " | ".join(f"{s} {DT[d]}" for s, d in cols) + " |"
    print(head)
    print("|" + "---|" * (2 + len(cols)))
    rank = lambda r: ([i for i, p in enumerate(("ours warm", "ours", "scipy", "reference", "floor"))  # noqa: E731
                       if r[0].startswith(p)][0], "[" in r[0])
    for row, pss in sorted(row_order, key=lambda r: (rank(r)[1], [1, 0, 2, 3, 4][rank(r)[0]])):
        vals = [fmt(T[(row, pss)].get(c)) for c in cols]
        print(f"| {row} | {pss} | " + " | ".join(vals) + " |")
    if ours_err:
        print(f"\nours: {ours_err}")
    if ref_skip:
        print(f"\nreference: {ref_skip}")
    print("\nreference n/a in f32: NeuralNMF 1.0.0 is float64-only; scipy loop n/a in f32: scipy nnls is float64.")

    # ratios
    def get(row, pss, col):
        v = T.get((row, pss), {}).get(col)
        return v if isinstance(v, float) else None

    print()
    print("| ratio (float64, CPU) | " + " | ".join(SETTINGS) + " | target | verdict |")
    print("|---|" + "---|" * len(SETTINGS) + "---|---|")
    ratio_specs = [
        ("(reference fwd+bwd) / (ours fwd+bwd)", (ref_row, "fwd+bwd"), ("ours", "fwd+bwd"), ">=", TARGET_REF),
        ("(ours fwd) / (floor fwd)", ("ours", "fwd"), ("floor: solve(AᵀA, AᵀX)", "fwd"), "<=", TARGET_FLOOR),
        ("(reference fwd+bwd) / (ours warm fwd+bwd)", (ref_row, "fwd+bwd"), ("ours warm", "fwd+bwd"), None, None),
        ("(ours warm fwd) / (floor fwd)", ("ours warm", "fwd"), ("floor: solve(AᵀA, AᵀX)", "fwd"), None, None),
        ("(scipy loop fwd) / (ours fwd)", ("scipy nnls loop", "fwd"), ("ours", "fwd"), None, None),
    ]
    verdicts = []
    for name, num, den, op, target in ratio_specs:
        rs, cells = [], []
        for s in SETTINGS:
            a, b = get(*num, (s, torch.float64)), get(*den, (s, torch.float64))
            rs.append(a / b if a is not None and b else None)
            cells.append(f"{a / b:.1f}x (fastest runs: {a.min / b.min:.1f}x)" if rs[-1] is not None else "-")
        if target is None:
            tgt, verdict = "(info)", ""
        else:
            tgt = f"{op} {target:g}x"
            if any(r is None for r in rs):
                verdict = "NOT MEASURED"
            else:
                ok = all((r >= target) if op == ">=" else (r <= target) for r in rs)
                verdict = "MET" if ok else "MISSED"
            verdicts.append((name, verdict))
        print(f"| {name} | " + " | ".join(cells) + f" | {tgt} | {verdict} |")
    print("\nRatios use the medians; the ratio of the fastest runs is shown for comparison (closer to what "
          "an idle machine gives when the run was disturbed). Verdicts use the medians.")
    if threads != 2:
        print(f"\nnote: the targets are stated for 2 cores; this run used {threads} torch threads "
              f"(use --threads 2 to match).")
    if args.quick:
        print("\nnote: --quick uses small sizes; the targets refer to the full sizes (run without --quick).")

    print("\nAgreement and solver info:")
    for line in notes:
        print(f"- {line}")
    if load0 is not None:
        load1 = os.getloadavg()[0]
        print(f"\nload average (1 min) at start {load0:.2f}, at end {load1:.2f}, on {os.cpu_count()} CPUs.")
        if max(load0, load1) > 0.5 * (os.cpu_count() or 1) + 0.5:
            print("WARNING: the machine was busy with other work during this run: the timings (most of all the "
                  "millisecond ones) are unreliable; rerun on an idle machine before quoting them.")
    print("\nVerdicts: " + "; ".join(f"{n}: {v}" for n, v in verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
