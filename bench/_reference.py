"""Helper for bench_lsqnonneg.py: the reference NeuralNMF 1.0.0 layer, in a virtualenv of its own.

Two roles in one file:

* imported by the benchmark (standard library only at import time): `ensure_ref_venv()` creates
  `bench/.ref-venv` (gitignored) and installs the reference there, `run_ref_worker()` times the
  reference layer by running this same file inside that virtualenv;
* run as a script inside the reference virtualenv (`python _reference.py worker FWD BWD THREADS IN.npz OUT.npz ...`):
  for each pair of files, loads A, X and an upstream gradient G, times the reference `NeuralNMF.LsqNonneg` layer (forward,
  and forward+backward w.r.t. A and X) and prints one JSON line per pair; S and the gradients go to OUT.npz
  so the benchmark can check them against ours.

The reference is only *used* here (installed from PyPI, called through its public layer class); none
of its code is copied into this repository.
"""
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_VENV = os.path.join(HERE, ".ref-venv")

# What goes into the reference virtualenv, in this order.
TORCH_SPEC = "torch==2.13.0"          # first: the CPU build from the local disk (never a CUDA build)
REF_SPEC = "neuralnmf==1.0.0"          # installed with --no-deps (its metadata pulls an unpinned torch)
# NeuralNMF 1.0.0 requires torch, matplotlib, scipy, numpy, fnnls, tqdm; its __init__ imports all of
# them (matplotlib via model.py/writer.py, tqdm via train.py, fnnls via lsqnonneg_module.py).
# fnnls 1.0.0 lists pytest as a runtime requirement it never imports: install it with --no-deps too.
REF_DEPS = ["numpy", "scipy", "matplotlib", "tqdm"]
REF_NODEPS = [REF_SPEC, "fnnls==1.0.0"]
STAMP = ".bench-ref-ok"
STAMP_TEXT = json.dumps({"torch": TORCH_SPEC, "ref": REF_NODEPS, "deps": REF_DEPS})


def _venv_python(venv):
    sub = "Scripts" if os.name == "nt" else "bin"
    exe = "python.exe" if os.name == "nt" else "python"
    return os.path.join(venv, sub, exe)


def _run(cmd, log, timeout=1800):
    """Run a command, return (ok, last meaningful line of its output)."""
    log("    $ " + " ".join(cmd))
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"{type(e).__name__}: {e}"
    if p.returncode != 0:
        lines = [l for l in (p.stderr + "\n" + p.stdout).splitlines()
                 if l.strip() and not l.startswith("WARNING: Location")]
        errs = [l for l in lines if "ERROR" in l or "Error" in l]
        return False, (errs or lines or [f"exit status {p.returncode}"])[-1].strip()
    return True, p.stdout


def _import_check(py):
    ok, out = _run([py, "-c", "import json, torch, NeuralNMF; "
                    "print(json.dumps({'torch': torch.__version__, 'cuda': torch.version.cuda, "
                    "'ref': NeuralNMF.__version__}))"], lambda s: None, timeout=300)
    if not ok:
        return None
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def _torch_plan_is_cpu(py, log):
    """Ask pip (dry run) what `pip install torch==...` would install; refuse a CUDA build.

    A CUDA torch from PyPI drags in multi-GB nvidia-* wheels; on these machines the pinned version
    resolves to the local `+cpu` wheel, elsewhere we refuse rather than download gigabytes."""
    report = os.path.join(os.path.dirname(py), "..", "torch-plan.json")
    ok, msg = _run([py, "-m", "pip", "install", "--dry-run", "--quiet", "--report", report, TORCH_SPEC], log)
    if not ok:
        return False, f"pip cannot resolve {TORCH_SPEC}: {msg}"
    try:
        with open(report) as f:
            plan = json.load(f)
    finally:
        try:
            os.remove(report)
        except OSError:
            pass
    names = [(i["metadata"]["name"].lower(), i["metadata"]["version"]) for i in plan.get("install", [])]
    gpu = [n for n, _ in names if n.startswith("nvidia") or n in ("triton", "pytorch-triton")]
    if gpu:
        return False, (f"pip would install a CUDA build of {TORCH_SPEC} (with {', '.join(gpu[:3])}...); "
                       "refusing the multi-GB download -- install a CPU build of torch into the "
                       "reference venv by hand or point --ref-venv at one")
    return True, names


def ensure_ref_venv(venv=DEFAULT_VENV, base_python=None, log=print, build=True):
    """Make sure `venv` holds a working NeuralNMF 1.0.0 (CPU torch). Returns (python, None) or (None, reason).

    With build=False only an existing, complete venv is accepted (building one takes a minute or two)."""
    base_python = base_python or sys.executable
    py = _venv_python(venv)
    stamp = os.path.join(venv, STAMP)
    if os.path.exists(py) and os.path.exists(stamp):
        with open(stamp) as f:  # the import was checked when the stamp was written; a broken
            if f.read() == STAMP_TEXT:  # venv still surfaces as a clear worker error later
                return py, None
    if not build:
        return None, (f"reference venv {venv} is not built yet (--quick does not build it; "
                      "run `python bench/_reference.py` or a full run once)")
    if os.path.exists(venv):
        if not os.path.exists(os.path.join(venv, "pyvenv.cfg")):
            return None, f"{venv} exists and is not a virtualenv; not touching it"
        log(f"  reference venv {venv} is incomplete or outdated: rebuilding it")
        shutil.rmtree(venv)
    log(f"  building the reference venv in {venv} (once; later runs reuse it)")
    ok, msg = _run([base_python, "-m", "venv", venv], log)
    if not ok:
        return None, f"python -m venv failed: {msg}"
    ok, msg = _torch_plan_is_cpu(py, log)
    if not ok:
        return None, msg
    steps = [
        [py, "-m", "pip", "install", "--quiet", TORCH_SPEC],
        [py, "-m", "pip", "install", "--quiet", *REF_DEPS],
        [py, "-m", "pip", "install", "--quiet", "--no-deps", *REF_NODEPS],
    ]
    for cmd in steps:
        ok, msg = _run(cmd, log)
        if not ok:
            return None, f"pip install failed ({' '.join(cmd[4:])}): {msg}"
    info = _import_check(py)
    if not info:
        return None, "installed, but `import NeuralNMF` fails in the reference venv"
    if info.get("cuda"):
        return None, f"the reference venv got a CUDA torch ({info}); refusing to use it"
    with open(stamp, "w") as f:
        f.write(STAMP_TEXT)
    return py, None


def run_ref_worker(py, jobs, fwd_repeats, bwd_repeats, threads, timeout=3600):
    """Time the reference layer in its venv (one process for all jobs, to pay its imports once).

    jobs: list of (in_npz, out_npz). Returns (list of dicts, None) or (None, reason)."""
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("PYTHONPATH", None)  # keep our package out of the reference's interpreter
    cmd = [py, os.path.abspath(__file__), "worker", str(fwd_repeats), str(bwd_repeats), str(threads)]
    for fin, fout in jobs:
        cmd += [fin, fout]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=HERE)
    except subprocess.TimeoutExpired:
        return None, f"reference timing ran past {timeout} s"
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if p.returncode != 0 or len(lines) != len(jobs):
        tail = (p.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"reference worker failed: {tail}"
    return [json.loads(l) for l in lines], None


def _worker(fwd_repeats, bwd_repeats, threads, jobs):
    """Runs inside the reference venv."""
    import statistics
    import time
    import warnings
    warnings.filterwarnings("ignore")
    import numpy as np
    import torch
    import NeuralNMF

    torch.set_num_threads(threads)
    for in_npz, out_npz in jobs:
        d = np.load(in_npz)
        A = torch.from_numpy(d["A"]).double()
        X = torch.from_numpy(d["X"]).double()
        G = torch.from_numpy(d["G"]).double()
        m, k = A.shape
        # The reference layer class: LsqNonneg(m, k, initial_A) holds nn.Parameter A (float64);
        # forward(input) = LsqNonnegF.apply(input, A): scipy nnls per column, pinv-based backward.
        layer = NeuralNMF.LsqNonneg(m, k, initial_A=A.clone())

        def fwd():
            with torch.no_grad():
                return layer(X)

        Xg = X.clone().requires_grad_(True)

        def fwd_bwd():
            layer.A.grad = None
            Xg.grad = None
            S = layer(Xg)
            (S * G).sum().backward()
            return S

        def timeit(fn, reps):
            out, ts = None, []
            for _ in range(reps):
                t0 = time.perf_counter()
                out = fn()
                ts.append(time.perf_counter() - t0)
            return statistics.median(ts), ts, out

        t_f, ts_f, S = timeit(fwd, fwd_repeats)
        t_fb, ts_fb, S2 = timeit(fwd_bwd, bwd_repeats)
        np.savez(out_npz, S=S.numpy(), gA=layer.A.grad.numpy(), gX=Xg.grad.numpy())
        print(json.dumps({"fwd": t_f, "fwd_all": ts_f, "fwd_bwd": t_fb, "fwd_bwd_all": ts_fb,
                          "torch": torch.__version__, "ref": NeuralNMF.__version__,
                          "threads": torch.get_num_threads()}))
        sys.stdout.flush()


if __name__ == "__main__":
    if len(sys.argv) >= 7 and len(sys.argv) % 2 == 1 and sys.argv[1] == "worker":
        _worker(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]),
                list(zip(sys.argv[5::2], sys.argv[6::2])))
    elif len(sys.argv) <= 2:
        # `python bench/_reference.py [VENV]`: just build (or check) the reference venv.
        py, why = ensure_ref_venv(sys.argv[1] if len(sys.argv) == 2 else DEFAULT_VENV)
        print(py or f"skipped: {why}")
        sys.exit(0 if py else 1)
    else:
        sys.exit("usage: _reference.py [VENV] | _reference.py worker FWD_REPS BWD_REPS THREADS IN.npz OUT.npz [IN OUT ...]")
