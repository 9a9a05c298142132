#!/usr/bin/env python
"""Benchmark Neural NMF training epochs (issue 3, "Benchmark"): this package vs the reference NeuralNMF 1.0.0.

Prints, from one run, seconds per epoch (median over the timed epochs) for X 1000x200 and 2000x1000 with layers
[m, 20, 10]:

  ours f64 / f32   `neural_nmf.train.train` with a fixed step (plain projected GD, like the reference) and with the
                   line search (lr=None); unsupervised with the energy and the reconstruction loss, and supervised
                   with 10 classes (c = 10)
  reference        `NeuralNMF.train` from PyPI neuralnmf==1.0.0 (float64 only), run in its own virtualenv
                   bench/.ref-venv (built on first use by bench/_reference.py); its supervised path always runs 10
                   epochs whatever `epoch` says, so its time is divided by 10

and the fraction of our epoch time spent outside the NNLS forward solves. Then the ratios the issue targets:
unsupervised >= 30x faster than the reference at 2000x1000, supervised >= 100x faster at 1000x200.
A benchmark, not a test: a missed target prints MISSED.

    python bench/bench_train.py            # full run (the reference takes several minutes)
    python bench/bench_train.py --quick    # small sizes, smoke test
    python bench/bench_train.py --no-ref --threads 2
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

SIZES = [(1000, 200), (2000, 1000)]
QUICK_SIZES = [(300, 100)]
RANKS = [20, 10]
N_CLASSES = 10


def make_data(m, n, seed=0):
    "Nonnegative X (m x n) = A S + noise with 20 topics, and 10 class labels tied to the topics."
    import numpy as np
    g = np.random.default_rng(seed)
    A = g.random((m, RANKS[0])) ** 3
    y = np.arange(n) % N_CLASSES
    centers = g.random((RANKS[0], N_CLASSES)) ** 4
    S = centers[:, y] + 0.1 * g.random((RANKS[0], n)) * (g.random((RANKS[0], n)) < 0.2)
    X = A @ S
    X = np.maximum(X + 0.01 * X.std() * g.standard_normal(X.shape), 0)
    return X, y


# ------------------------------------------------------------------------------------------ reference worker
def ref_worker(in_npz, out_json, epochs, threads, sup):
    "Runs inside the reference venv: times NeuralNMF.train on the data in `in_npz`."
    import warnings
    warnings.filterwarnings("ignore")
    import numpy as np
    import torch
    import NeuralNMF
    if threads > 0:
        torch.set_num_threads(threads)
    d = np.load(in_npz)
    X = torch.from_numpy(d["X"]).double()
    y = torch.from_numpy(d["y"]).long()
    m, n = X.shape
    res = {}
    for loss in ("Energy Loss", "Recon Loss"):
        torch.manual_seed(0)
        net = NeuralNMF.Neural_NMF([m] + RANKS)
        t0 = time.perf_counter()
        NeuralNMF.train(net, X, loss_func=loss, epoch=epochs, lr=1e-8, verbose=False)
        res["unsup " + loss.split()[0].lower()] = (time.perf_counter() - t0) / epochs
    if sup:
        torch.manual_seed(0)
        net = NeuralNMF.Neural_NMF([m] + RANKS, c=N_CLASSES)   # the reference needs c == last rank
        L = torch.ones(RANKS[-1], n, dtype=torch.double)
        t0 = time.perf_counter()
        NeuralNMF.train(net, X, supervised=True, label=y, L=L, loss_func="Energy Loss", epoch=epochs,
                        lr=(1e-8, 1e-8), verbose=False)
        res["sup energy"] = (time.perf_counter() - t0) / 10        # it always runs 10 epochs
    with open(out_json, "w") as f:
        json.dump(res, f)


def run_reference(args, X, y, sup):
    sys.path.insert(0, HERE)
    import numpy as np
    import _reference
    py, why = _reference.ensure_ref_venv(args.ref_venv, log=lambda s: print(s, flush=True))
    if py is None:
        return None, why
    with tempfile.TemporaryDirectory() as d:
        inp, out = os.path.join(d, "in.npz"), os.path.join(d, "out.json")
        np.savez(inp, X=X, y=y)
        env = dict(os.environ, MPLBACKEND="Agg")
        env.pop("PYTHONPATH", None)
        cmd = [py, os.path.abspath(__file__), "ref-worker", inp, out, str(args.ref_epochs), str(args.threads or 0),
               "1" if sup else "0"]
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE, env=env, timeout=7200)
        if p.returncode != 0 or not os.path.exists(out):
            return None, "reference worker failed: " + ((p.stderr.strip().splitlines() or ["no output"])[-1])
        with open(out) as f:
            return json.load(f), None


# ------------------------------------------------------------------------------------------ ours
def time_ours(X, y, dtype, epochs, sup, lr):
    "Median seconds per epoch and fraction of epoch time outside NNLS forward solves."
    import torch
    from neural_nmf.deep_nmf import NMFNetwork
    from neural_nmf.train import train
    m, n = X.shape
    res = {}
    runs = [("unsup energy", dict(loss_func="energy")), ("unsup recon", dict(loss_func="recon"))]
    if sup:
        runs.append(("sup energy", dict(loss_func="energy", labels=y)))
    for name, kw in runs:
        net = NMFNetwork([m] + RANKS, c=N_CLASSES if "labels" in kw else None, dtype=dtype,
                         generator=torch.Generator().manual_seed(0))
        h = train(net, X, epoch=epochs + 1, lr=lr, init="random", seed=0, verbose=False, **kw)
        t = h.get("time")[1:]                      # the first epoch starts the warm starts: leave it out
        tn = h.get("time_nnls")[1:]
        res[name] = (statistics.median(t), 1 - sum(tn) / sum(t), h.get("loss")[-1] < h.meta["initial_loss"])
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="one small size, few epochs, reference only if its venv exists")
    p.add_argument("--epochs", type=int, default=None, help="timed epochs of ours (default 10, quick 3)")
    p.add_argument("--ref-epochs", type=int, default=None, help="epochs of the reference (default 3, quick 2)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for both (default: machine default)")
    p.add_argument("--no-ref", action="store_true")
    p.add_argument("--ref-venv", default=os.path.join(HERE, ".ref-venv"))
    args = p.parse_args(argv)
    args.epochs = args.epochs or (3 if args.quick else 10)
    args.ref_epochs = args.ref_epochs or 2 if args.quick else (args.ref_epochs or 3)
    sys.path.insert(0, ROOT)
    import numpy as np
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    import neural_nmf
    print(f"# bench_train: torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} cpus, neural_nmf {getattr(neural_nmf, '__version__', '?')}")
    sizes = QUICK_SIZES if args.quick else SIZES
    rows, ratios = [], []
    for (m, n) in sizes:
        X, y = make_data(m, n)
        sup_ref = (m, n) == (1000, 200) or args.quick   # the reference's supervised path is too slow at 2000x1000
        ours = {}
        for dtype, dn in ((torch.float64, "f64"), (torch.float32, "f32")):
            Xt = torch.tensor(X, dtype=dtype)
            ours[("gd lr=1", dn)] = time_ours(Xt, y, dtype, args.epochs, True, lr=1.0)
            ours[("line search", dn)] = time_ours(Xt, y, dtype, args.epochs, True, lr=None)
        ref, why = (None, "--no-ref") if args.no_ref else run_reference(args, X, y, sup_ref)
        print(f"  {m}x{n} reference: {ref if ref is not None else 'skipped: ' + why}", flush=True)
        for (mode, dn), res in ours.items():
            for name, (t, outside, dec) in res.items():
                rows.append((f"{m}x{n}", name, f"ours {dn} {mode}", t, outside, dec))
                print(f"  {m}x{n} {name} ours {dn} {mode}: {t:.4f} s/epoch, {outside:.0%} outside NNLS forward", flush=True)
        for name in ("unsup energy", "unsup recon", "sup energy"):
            r = None if ref is None else ref.get(name)
            rows.append((f"{m}x{n}", name, "reference f64", r, None, None))
            o = ours[("gd lr=1", "f64")][name][0]
            if r is not None:
                ratios.append((f"{m}x{n}", name, r / o))
        if ref is None:
            print(f"reference: skipped: {why}")
    print()
    print("| X | run | implementation | s/epoch | outside NNLS fwd | loss decreased |")
    print("|---|---|---|---:|---:|---|")
    for size, name, impl, t, outside, dec in rows:
        ts = "skipped" if t is None else f"{t:.4f}"
        os_ = "" if outside is None else f"{outside:.0%}"
        ds = "" if dec is None else ("yes" if dec else "NO")
        print(f"| {size} | {name} | {impl} | {ts} | {os_} | {ds} |")
    print()
    for size, name, r in ratios:
        target = 30 if name.startswith("unsup") and size == "2000x1000" else (100 if name.startswith("sup") and size == "1000x200" else None)
        verdict = "" if target is None else (f" (target >= {target}x: {'MET' if r >= target else 'MISSED'})")
        print(f"speed-up vs reference, {size} {name} (ours f64 fixed-step GD): {r:.1f}x{verdict}")


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "ref-worker":
        ref_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == "1")
    else:
        main()
