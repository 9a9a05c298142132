"""Ctrl-C and closed pipes against the real `neural-nmf` console script, in subprocesses.

`neural-nmf fit` runs on a small corpus and receives SIGINT at many moments spread over its run time (while the
package is imported, while the data loads, during the baseline and the training, while figures and the model
are written, and while it exits). Every run that the signal reached must exit nonzero (130) with the single line
`neural-nmf: interrupted` on stderr, and leave its output folder absent, untouched (byte for byte) or complete
(its manifest checks out and the model loads); no temporary folder may be left behind. Half of the runs write over
an existing output folder, half into a new one.

The first tens of milliseconds of a process belong to the Python interpreter's own start-up (before the first line
of the package runs), where Python's default handling applies; the sweep starts after that. The sweep spans the
run time of a warm run (the shorter of two, after a first run has compiled and cached the optional numba kernels).
"""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from neural_nmf import cli
from neural_nmf import data_loading as dl

pytestmark = pytest.mark.skipif(sys.platform == 'win32', reason='POSIX signals')

N_POINTS = 12


def console_script():
    exe = shutil.which('neural-nmf') or str(Path(sys.executable).parent / 'neural-nmf')
    if not Path(exe).exists():
        pytest.skip('the neural-nmf console script is not installed')
    return exe


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp('sigint')
    syn = dl.make_hierarchical(n_features=60, n_samples=40, ranks=(4, 2), seed=1)
    dl.save_corpus(dl.Corpus(syn.X, syn.vocab, syn.labels, syn.label_names), d / 'docs.npz')
    exe = console_script()
    def cmd(out, seed=0):
        return [exe, 'fit', str(d / 'docs.npz'), '--ranks', '4', '2', '--epochs', '25', '--out', str(out), '--quiet',
                '--threads', '1', '--seed', str(seed)]
    r = subprocess.run(cmd(d / 'old'), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and r.stderr == '', r.stderr
    # The run time is the shorter of two later runs: the first one in a fresh environment also compiles and caches
    # the optional numba kernels (several seconds), which the runs below no longer pay.
    times = []
    for i in range(2):
        t0 = time.perf_counter()
        r = subprocess.run(cmd(d / f'timing{i}', seed=1), capture_output=True, text=True, timeout=600)
        times.append(time.perf_counter() - t0)
        assert r.returncode == 0 and r.stderr == '', r.stderr
    return d, cmd, min(times)


def snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(Path(folder).rglob('*')) if p.is_file()}


def test_sigint_at_many_points(setup):
    d, cmd, runtime = setup
    old = snapshot(d / 'old')
    delays = [0.25 + (0.9 * runtime - 0.25) * i / (N_POINTS - 1) for i in range(N_POINTS)]
    outcome = {'interrupted': 0, 'finished before the signal': 0, 'folder untouched': 0, 'folder new and complete': 0,
               'folder absent': 0}
    for i, delay in enumerate(delays):
        out = d / f'out{i}'
        existed = i % 2 == 0
        if existed:
            shutil.copytree(d / 'old', out)
        p = subprocess.Popen(cmd(out, seed=1), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        if p.poll() is not None:
            outcome['finished before the signal'] += 1
            p.communicate()
            continue
        p.send_signal(signal.SIGINT)
        stdout, stderr = p.communicate(timeout=600)
        if p.returncode == 0:
            # The signal reached a process that had already finished everything and was being torn down by the
            # kernel (after os._exit): all its output is there. Anything earlier must give 130.
            assert 'model saved to' in stdout, (delay, stdout, stderr)
            outcome['finished before the signal'] += 1
        else:
            assert (p.returncode, stderr) == (130, 'neural-nmf: interrupted\n'), (delay, p.returncode, stderr)
            outcome['interrupted'] += 1
        leftovers = [q.name for q in d.iterdir() if q.name.startswith(f'.out{i}.')]
        assert leftovers == [], (delay, leftovers)
        if not out.exists():
            assert not existed, delay
            outcome['folder absent'] += 1
        elif existed and snapshot(out) == old:
            outcome['folder untouched'] += 1
        else:
            cli.check_folder(out, required=('model.pt', 'vocab.txt', 'settings.json'))
            cli.load_model(out)
            outcome['folder new and complete'] += 1
    print(f'runtime {runtime:.1f} s, SIGINT at {N_POINTS} points: {outcome}')
    assert outcome['interrupted'] >= N_POINTS // 2, outcome


def test_closed_stdout_pipe_is_quiet(setup):
    d, cmd, runtime = setup
    exe = console_script()
    for args, codes in ((['topics', str(d / 'old')], (141,)), (['--help'], (0, 141))):   # argparse ignores a closed pipe
        p = subprocess.Popen([exe, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        p.stdout.close()                   # the reader goes away before anything is written (like `| head -0`)
        stderr = p.stderr.read().decode()
        p.wait(timeout=600)
        assert p.returncode in codes and stderr == '', (args, p.returncode, stderr)


def test_head_dash_1(setup):
    d, cmd, runtime = setup
    r = subprocess.run(f'"{console_script()}" topics "{d / "old"}" --words 50 | head -1', shell=True,
                       capture_output=True, text=True, timeout=600)
    assert r.stdout.startswith('Topic hierarchy') and r.stdout.count('\n') == 1
    assert 'Traceback' not in r.stderr and 'Error' not in r.stderr, r.stderr
