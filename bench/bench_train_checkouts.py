#!/usr/bin/env python
"""Training epochs of two checkouts of this package, each timed in many fresh processes, alternating.

`bench_train.py` times each configuration in one process. On some machines the time of an epoch differs by tens of
percent from one process to the next with the same code: large temporary tensors (the residual X - PS of a
2000x1000 X is 16 MB) are sometimes served by memory the C library already holds and sometimes by fresh pages, each
page faulted in. A comparison of two versions of the code must then be made over many processes, not one. This
script runs the epochs of `bench_train.py` (X 2000x1000, layers [m, 20, 10], float64, `init='random'`) for the
checkouts `--before` and `--after` in alternating processes and prints, per configuration, the median over the
processes of each process's median epoch, the range, the ratio of the medians, and the minor page faults per epoch.

    python bench/bench_train_checkouts.py --before /path/to/old/checkout --after . --processes 8
    python bench/bench_train_checkouts.py --before OLD --env MALLOC_MMAP_THRESHOLD_=67108864 \
        --env MALLOC_TRIM_THRESHOLD_=268435456     # glibc keeps freed memory: (almost) no page faults
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

RUNS = [("unsup energy", "gd lr=1"), ("unsup recon", "gd lr=1"), ("sup energy", "gd lr=1"),
        ("unsup energy", "line search"), ("unsup recon", "line search"), ("sup energy", "line search")]

WORKER = r"""
import json, resource, statistics, sys
root, here, threads, epochs, m, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
sys.path.insert(0, here); sys.path.insert(0, root)       # the package of `root`, the data of bench_train.py
import torch
torch.set_num_threads(threads)
import bench_train as bt
import neural_nmf
from neural_nmf.deep_nmf import NMFNetwork
from neural_nmf.train import train
assert neural_nmf.__file__.startswith(root), neural_nmf.__file__
X, y = bt.make_data(m, n)
X = torch.tensor(X, dtype=torch.float64)
train(NMFNetwork([m] + bt.RANKS, dtype=torch.float64, generator=torch.Generator().manual_seed(1)), X, epoch=2,
      init='random', seed=1, verbose=False)                # warm-up: first calls, kernel caches, allocator
out = {}
for name, mode in json.loads(sys.argv[7]):
    kw = dict(loss_func='energy', labels=y) if name == 'sup energy' else dict(loss_func=name.split()[1])
    net = NMFNetwork([m] + bt.RANKS, c=bt.N_CLASSES if 'labels' in kw else None, dtype=torch.float64,
                     generator=torch.Generator().manual_seed(0))
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    h = train(net, X, epoch=epochs + 1, lr=1.0 if mode == 'gd lr=1' else None, init='random', seed=0, verbose=False, **kw)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    out[name + ' | ' + mode] = [statistics.median(h.get('time')[1:]), faults / (epochs + 1), float(h.get('loss')[-1])]
print(json.dumps(out))
"""


def run_once(root, args):
    "One fresh process on the checkout `root`: {run: [median epoch seconds, minor faults per epoch, last loss]}."
    cmd = [sys.executable, "-c", WORKER, os.path.abspath(root), HERE, str(args.threads), str(args.epochs),
           str(args.m), str(args.n), json.dumps(RUNS)]
    env = dict(os.environ, **dict(e.split("=", 1) for e in args.env))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, env=env)
    if p.returncode != 0:
        raise SystemExit(f"worker on {root} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", required=True, help="checkout of the older code (its neural_nmf/ is imported)")
    p.add_argument("--after", default=ROOT, help="checkout of the newer code (default: this one)")
    p.add_argument("--processes", type=int, default=8, help="fresh processes per checkout (default 8)")
    p.add_argument("--epochs", type=int, default=20, help="timed epochs per run (the first epoch is left out)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--m", type=int, default=2000)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="set in the environment of every worker process, both checkouts (repeatable)")
    a = p.parse_args(argv)
    res = {"before": [], "after": []}
    for i in range(a.processes):
        for side in ("before", "after"):
            res[side].append(run_once(getattr(a, side), a))
            print(f"  process {i + 1}/{a.processes} {side} done", file=sys.stderr, flush=True)
    print(f"Training epochs of two checkouts: X {a.m}x{a.n}, layers [m, {', '.join(map(str, __import__('bench_train').RANKS))}], "
          f"float64, {a.threads} torch threads, {a.epochs} timed epochs per run, {a.processes} processes per checkout, "
          f"alternating{'; environment: ' + ' '.join(a.env) if a.env else ''}  ")
    print("milliseconds per epoch: median over the processes of each process's median epoch (smallest - largest); "
          "minor page faults per epoch: median over the processes\n")
    print("| run | step | before | after | after / before | faults before | faults after | same loss |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for name, mode in RUNS:
        key = name + " | " + mode
        t = {s: [r[key][0] * 1e3 for r in res[s]] for s in res}
        f = {s: statistics.median(r[key][1] for r in res[s]) for s in res}
        loss = {s: {r[key][2] for r in res[s]} for s in res}
        same = "yes" if len(loss["before"]) == len(loss["after"]) == 1 and loss["before"] == loss["after"] else (
            "rel. diff %.1e" % (abs(min(loss["after"]) - min(loss["before"])) / abs(min(loss["before"]))))
        cell = {s: f"{statistics.median(t[s]):.1f} ({min(t[s]):.1f} - {max(t[s]):.1f})" for s in t}
        print(f"| {name} | {mode} | {cell['before']} | {cell['after']} | "
              f"{statistics.median(t['after']) / statistics.median(t['before']):.2f}x | {f['before']:.0f} | "
              f"{f['after']:.0f} | {same} |")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    sys.exit(main())
