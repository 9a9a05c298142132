"""numba is an optional extra (the compiled NNLS pivoting, nbs/21_compiled.ipynb): without it `lsqnonneg` and training
take the batched torch path and give what the compiled path gives. numba is hidden in a subprocess by
`sys.modules['numba'] = None`, which makes `import numba` fail as if it were not installed."""
import json
import subprocess
import sys

PROBE = r'''
import sys, json
if sys.argv[1] == 'hidden':
    sys.modules['numba'] = None
import torch
import neural_nmf
from neural_nmf import NMFNetwork, train, lsqnonneg
g = torch.Generator().manual_seed(0)
A = torch.rand(60, 8, generator=g, dtype=torch.float64, requires_grad=True)
X = torch.rand(60, 300, generator=g, dtype=torch.float64)
S, info = lsqnonneg(A, X, return_info=True)
(S ** 2).sum().backward()
net = NMFNetwork([60, 6, 3], dtype=torch.float64)
hist = train(net, X, epoch=4, init='random', seed=0, verbose=False)
print(json.dumps(dict(solver=info['solver'], numba='numba' in sys.modules and sys.modules['numba'] is not None,
                      S=S.detach().flatten().tolist(), grad=A.grad.flatten().tolist(),
                      losses=[float(x) for x in hist.get('loss')])))
'''


def run(mode):
    r = subprocess.run([sys.executable, '-c', PROBE, mode], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_without_numba_the_batched_path_gives_the_same_results():
    hidden, shown = run('hidden'), run('shown')
    assert (hidden['solver'], hidden['numba']) == ('batched', False)
    assert (shown['solver'], shown['numba']) == ('compiled', True)
    for key, tol in (('S', 1e-12), ('grad', 1e-10), ('losses', 1e-10)):
        a, b = hidden[key], shown[key]
        assert len(a) == len(b) > 0
        scale = max(abs(v) for v in b)
        assert max(abs(x - y) for x, y in zip(a, b)) <= tol * scale, key
