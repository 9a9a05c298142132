"""scikit-learn is an optional extra: without it `import neural_nmf` and the core training path work, and the
estimator raises an ImportError that names the extra. scikit-learn is hidden in a subprocess by
`sys.modules['sklearn'] = None`, which makes every `import sklearn...` fail as if it were not installed."""
import subprocess
import sys

PROBE = r'''
import sys
sys.modules['sklearn'] = None
import numpy as np, torch
import neural_nmf
from neural_nmf import NMFNetwork, train, lsqnonneg, hierarchy_text, load_20news
X = torch.rand(30, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
net = NMFNetwork([30, 4, 2], dtype=torch.float64)
hist = train(net, X, epoch=3, init='random', seed=0, verbose=False)
assert len(hist) == 3 and all(bool((A >= 0).all()) for A in net.A)
print('core ok')
try:
    neural_nmf.NeuralNMF
except ImportError as e:
    print('ImportError:', e)
'''


def test_core_without_sklearn():
    r = subprocess.run([sys.executable, '-c', PROBE], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == 'core ok', r.stdout
    assert lines[1].startswith('ImportError:') and 'neural-nmf-torch[sklearn]' in lines[1], r.stdout
