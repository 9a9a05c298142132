"""Data-parallel training (neural_nmf.distributed) with 2 processes on localhost (gloo) equals 1-process training.

Launches tests/dist_worker.py with torchrun (`python -m torch.distributed.run --standalone`, which picks a free
port itself) and trains the same cases here in one process on the whole data.
"""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import dist_worker  # noqa: E402

torch_dist = pytest.importorskip('torch.distributed')


@pytest.fixture(scope='module')
def distributed_results(tmp_path_factory):
    if not (torch_dist.is_available() and torch_dist.is_gloo_available()):
        pytest.skip('torch.distributed with gloo is not available')
    out = tmp_path_factory.mktemp('dist')
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=os.pathsep.join([str(HERE.parent), os.environ.get('PYTHONPATH', '')]))
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2',
           str(HERE / 'dist_worker.py'), str(out)]
    # own process group, so that a hung run is killed with all its workers (time limit: 2 minutes)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=HERE.parent, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f'torchrun did not finish within 120 s:\n{stdout[-3000:]}\n{stderr[-3000:]}')
    assert proc.returncode == 0, f'torchrun failed ({proc.returncode}):\n{stdout[-3000:]}\n{stderr[-3000:]}'
    return out


@pytest.mark.parametrize('case', list(dist_worker.cases()))
def test_distributed_equals_single_process(distributed_results, case):
    from neural_nmf.train import train
    X, y, nkw, tkw = dist_worker.cases()[case]
    net = dist_worker.make_net(nkw)
    train(net, X, labels=y, verbose=False, init=None, b_warmup=0, **tkw)   # as train_distributed: net as given
    got = torch.load(distributed_results / f'{case}.pt', weights_only=True)
    assert len(got['A']) == net.depth
    errs = [float((a.detach() - b).abs().max()) for a, b in zip(net.A, got['A'])]
    assert max(errs) < 1e-10, f'{case}: max |A_single - A_distributed| per layer = {errs}'
    if net.B is not None:
        errB = float((net.B.detach() - got['B']).abs().max())
        assert errB < 1e-10, f'{case}: max |B_single - B_distributed| = {errB}'
    # the run really trained (a step was taken), so equality is not trivially "both unchanged"
    fresh = dist_worker.make_net(nkw)
    assert max(float((a.detach() - b.detach()).abs().max()) for a, b in zip(fresh.A, net.A)) > 1e-6
