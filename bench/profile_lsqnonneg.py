#!/usr/bin/env python
"""Where the time of one cold `lsqnonneg` forward goes (issue 10): a line-level profile, grouped into stages.

A `sys.settrace` hook charges the wall time between two traced events to the source line of
`neural_nmf/lsqnonneg.py` or `neural_nmf/compiled.py` that was running (calls into torch, numba's compiled
kernels or other modules count for the line that made them; calls into the traced files are charged to their own
lines). With numba installed both NNLS paths are profiled one after the other: the batched one
(`NEURAL_NMF_COMPILED=0`, the path without numba and on the GPU) and the compiled one. Each line is put into one stage by the rules
in `STAGES` (keywords of the line and its function), so the same script profiles the code before and after a
change. Torch runs synchronously on the CPU, so the time between events is the time of the ops. The hook costs a
little per line: the traced total is printed next to the untraced wall time.

    python bench/profile_lsqnonneg.py                 # A 1000x20, X 1000x2000, float64, both settings, both paths
    python bench/profile_lsqnonneg.py --threads 1 --repeats 5
"""
import argparse
import importlib
import linecache
import os
import re
import sys
import time
from collections import defaultdict

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
from bench_lsqnonneg import SETTINGS, floor_solve, make_data  # noqa: E402

# (stage, function-name pattern, line pattern): the first rule that matches a line names its stage
STAGES = [
    ("compiled pivoting loop", r"_in_shares", r"."),
    ("Gram and XᵀA", r"_solve_nnls", r"xt_a\(|An\.T @ An|_col_norms\(A|An = A / d|isfinite\(B\)"),
    ("KKT certification", r".", r"_natural_residual|res > check|torch\.minimum\(S, y\)|y = S @ G - B"),
    ("KKT certification", r"_natural_residual", r"."),
    ("factorisation", r".", r"cholesky_ex|cholesky_inverse|eigh|dmin|ok = |ok\.|bool\(ok|winv|cut = |mats\[bad\]"),
    ("copies / compaction", r".", r"index_select\(t, 0|index_copy_|self\.pos\[|self\.part\["),
    ("solves", r".", r"cholesky_solve|solve_triangular|bmm|\.solve\(|@ self\.mats|_apply_factor\(|@ inv"),
    ("solves", r"_chol_solve|_apply_factor", r"."),
    ("masked systems", r".", r"Fu\[:, :, None\]|M\.diagonal|_masked|G\[idx|\.gather\(|index_select\(G"),
    ("masked systems", r"_masked|_passive_first", r"."),
    ("masked systems", r".", r"block_diag|order = |_passive_first"),
    ("grouping (by set, by size)", r".", r"_pack_rows|unique|scatter_reduce|first|Fu = |keys|_group|\.inv\b|self\.inv|_buckets|nonzero\(part"),
    ("feasibility test", r".", r"infeas = |scale = tol|y = torch\.where|nv = |done = |x @ G"),
    ("pivot update", r".", r"improve|alpha|beta|last = |single = |flip|Fa \^|pivots \+="),
    ("copies / compaction", r".", r"S\[|Fout\[|Lall\[|chol\[|keep|act = |act\[|\.clone\(\)|torch\.empty|torch\.zeros|torch\.full|index_select\(order|index_select\(t, 0"),
]
ORDER = ["Gram and XᵀA", "compiled pivoting loop", "masked systems", "factorisation", "solves", "feasibility test", "pivot update",
         "grouping (by set, by size)", "copies / compaction", "KKT certification", "other (checks, Python)"]


class LineTimer:
    """Charges elapsed wall time to the running line of the traced files."""
    def __init__(self, filenames):
        self.files, self.t = set(filenames), None
        self.cur = []                      # stack of [code, lineno] of the traced frames
        self.times = defaultdict(float)    # (file, function, lineno) -> seconds

    def _charge(self):
        now = time.perf_counter()
        if self.cur and self.t is not None:
            code, ln = self.cur[-1]
            self.times[(code.co_filename, code.co_name, ln)] += now - self.t
        self.t = now

    def global_trace(self, frame, event, arg):
        if frame.f_code.co_filename not in self.files:
            return None
        self._charge()
        self.cur.append([frame.f_code, frame.f_lineno])
        return self.local_trace

    def local_trace(self, frame, event, arg):
        self._charge()
        if event == "line":
            self.cur[-1][1] = frame.f_lineno
        elif event == "return":
            self.cur.pop()
        return self.local_trace

    def run(self, fn):
        self.t = time.perf_counter()
        sys.settrace(self.global_trace)
        try:
            fn()
        finally:
            sys.settrace(None)
        self._charge()


def stage_of(func, line):
    """The stage of one source line (first matching rule of `STAGES`)."""
    for name, fpat, lpat in STAGES:
        if re.search(fpat, func) and re.search(lpat, line):
            return name
    return "other (checks, Python)"


def profile(mod, files, A, X, repeats):
    """Line times (seconds per solve) summed over `repeats` traced cold solves, and the untraced wall time."""
    mod.lsqnonneg(A, X)                                    # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        mod.lsqnonneg(A, X)
    wall = (time.perf_counter() - t0) / repeats
    lt = LineTimer(files)
    for _ in range(repeats):
        lt.run(lambda: mod.lsqnonneg(A, X))
    return {key: v / repeats for key, v in lt.times.items()}, wall


def report(setting, times, wall, floor, iters, top):
    """Print the stage table and the most expensive lines for one setting."""
    stages = defaultdict(float)
    for (fname, func, ln), v in times.items():
        stages[stage_of(func, linecache.getline(fname, ln).strip())] += v
    total = sum(stages.values())
    print(f"\n### {setting}: {iters} pivoting iterations; untraced wall {wall * 1e3:.2f} ms "
          f"({wall / floor:.1f}x the unconstrained solve, {floor * 1e3:.2f} ms); traced total {total * 1e3:.2f} ms\n")
    print("| stage | ms per solve | share |")
    print("|---|---:|---:|")
    for s in ORDER:
        if stages.get(s):
            print(f"| {s} | {stages[s] * 1e3:.2f} | {stages[s] / total:.0%} |")
    print(f"\nMost expensive lines ({setting}):\n")
    print("| file | function | line | ms | stage |")
    print("|---|---|---|---:|---|")
    for (fname, func, ln), v in sorted(times.items(), key=lambda kv: -kv[1])[:top]:
        src = linecache.getline(fname, ln).strip()
        shown = src.replace("|", "\\|")[:90]
        print(f"| {os.path.basename(fname)} | {func} | `{shown}` | {v * 1e3:.2f} | {stage_of(func, src)} |")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--m", type=int, default=1000)
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--top", type=int, default=12, help="how many of the most expensive lines to list")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    mod = importlib.import_module("neural_nmf.lsqnonneg")
    compiled = mod._import_compiled()
    files = [mod.__file__] + ([compiled.__file__] if compiled is not None else [])
    paths = ("batched", "compiled") if compiled is not None else ("batched",)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# Profile of one cold lsqnonneg forward: A {a.m}x{a.k}, X {a.m}x{a.n}, float64, "
          f"{torch.get_num_threads()} torch threads, load average {load:.2f}, {a.repeats} traced runs per setting, "
          f"paths: {', '.join(paths)}")
    for setting in SETTINGS:
        A, X, _ = make_data(setting, a.m, a.k, a.n, 0.2, 0.01, 0)
        A, X = torch.as_tensor(A), torch.as_tensor(X)
        floor_solve(A, X)
        t0 = time.perf_counter()
        for _ in range(10):
            floor_solve(A, X)
        floor = (time.perf_counter() - t0) / 10
        for path in paths:
            os.environ["NEURAL_NMF_COMPILED"] = "1" if path == "compiled" else "0"
            info = mod.lsqnonneg(A, X, return_info=True)[1]
            assert info["solver"] == path, info["solver"]
            times, wall = profile(mod, files, A, X, a.repeats)
            report(f"{setting}, {path} path", times, wall, floor, info["iterations"], a.top)
    os.environ.pop("NEURAL_NMF_COMPILED", None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
