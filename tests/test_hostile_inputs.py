"""Hostile inputs that used to crash the interpreter or give silent wrong answers.

Each test states one promise of the package and uses only its public entry points (loaders, `lsqnonneg`, `train`,
`save_model`/`load_model`, the command line's `main`), so it can also be run against an older checkout
(`PYTHONPATH=/path/to/old/checkout python -m pytest tests/test_hostile_inputs.py`) to see which promises it broke.
Anything that could kill the interpreter runs in a subprocess.
"""
import contextlib
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp
import torch

from neural_nmf import data_loading as dl
from neural_nmf import cli
from neural_nmf.deep_nmf import NMFNetwork
from neural_nmf.lsqnonneg import lsqnonneg
from neural_nmf.train import train
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shared import run_cli  # noqa: E402,F401 (one_thread: an autouse fixture)

ROOT = Path(__file__).resolve().parents[1]


def in_subprocess(code, cwd):
    "Run `code` in a fresh interpreter with the same neural_nmf as this test; returns the CompletedProcess."
    env_path = str(Path(dl.__file__).resolve().parents[1])
    prog = f'import sys; sys.path.insert(0, {env_path!r})\n' + textwrap.dedent(code)
    return subprocess.run([sys.executable, '-c', prog], cwd=cwd, capture_output=True, text=True, timeout=600)


def folder_bytes(path):
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(Path(path).rglob('*')) if p.is_file()}


@pytest.fixture
def corpus_file(tmp_path):
    syn = dl.make_hierarchical(n_features=80, n_samples=60, ranks=(4, 2), seed=3)
    dl.save_corpus(syn, tmp_path / 'docs.npz')          # carries label sets 'sub' and 'super'
    return syn, tmp_path / 'docs.npz'


# ---------------------------------------------------------------- crafted sparse files never crash the process
def crafted_files(d):
    "Sparse files whose index arrays disagree with their shape; each used to reach scipy's compiled code unchecked."
    c = dl.Corpus(sp.random(30, 8, density=0.3, random_state=0, format='csc'), [f'w{i}' for i in range(30)])
    dl.save_corpus(c, d / 'good.npz')
    z = dict(np.load(d / 'good.npz'))
    nnz = len(z['X_data'])
    variants = {
        'corpus_index_out_of_range.npz': dict(X_indices=np.where(np.arange(nnz) == 3, 10**6, z['X_indices'])),
        'corpus_negative_index.npz': dict(X_indices=np.where(np.arange(nnz) == 3, -5, z['X_indices'])),
        'corpus_indptr_decreasing.npz': dict(X_indptr=z['X_indptr'][[0, 2, 1, 3, 4, 5, 6, 7, 8]]),
        'corpus_indptr_beyond_data.npz': dict(X_indptr=np.where(np.arange(9) == 4, 10**5, z['X_indptr'])),
        'corpus_shape_too_small.npz': dict(X_shape=np.array([3, 8])),
        'corpus_negative_shape.npz': dict(X_shape=np.array([-30, 8])),
    }
    for name, change in variants.items():
        np.savez(d / name, **{**z, **change})
    M = sp.random(30, 8, density=0.3, random_state=1, format='csr')
    np.savez(d / 'scipy_csr_index_out_of_range.npz', data=M.data, indices=np.where(np.arange(M.nnz) == 2, 99, M.indices),
             indptr=M.indptr, shape=np.array(M.shape), format=np.array(b'csr'))
    B = sp.csc_matrix(np.eye(4)); B.indices = B.indices.copy(); B.indices[1] = 77
    scipy.io.savemat(d / 'mat_index_out_of_range.mat', {'X': B})
    return sorted(p.name for p in d.iterdir() if p.name != 'good.npz')


def test_crafted_sparse_files_raise_naming_the_file(tmp_path):
    names = crafted_files(tmp_path)
    probe = """
        from neural_nmf import data_loading as dl
        for name in %r:
            try:
                c = dl.load_file(name)
                d = c.dense()                      # the densification that used to write outside the buffer
                print(name, 'LOADED', float(d.sum()))
            except ValueError as e:
                print(name, 'ValueError', name in str(e))
    """ % (names,)
    r = in_subprocess(probe, tmp_path)
    assert r.returncode == 0, f'the interpreter died (exit {r.returncode}): {r.stderr[-500:]}'
    lines = r.stdout.split('\n')[:-1]
    assert lines == [f'{n} ValueError True' for n in names], r.stdout


def test_broken_in_memory_sparse_matrices_raise(tmp_path):
    probe = """
        import numpy as np, scipy.sparse as sp, torch
        from neural_nmf import data_loading as dl
        from neural_nmf.deep_nmf import as_data
        from neural_nmf.lsqnonneg import lsqnonneg
        def broken():
            M = sp.csc_matrix((np.ones(2), np.array([0, 9]), np.array([0, 1, 2])), shape=(3, 2))   # row 9 of 3
            return M
        for what, f in [('from_matrix', lambda: dl.from_matrix(broken()).dense()),
                        ('Corpus', lambda: dl.Corpus(broken()).dense()),
                        ('as_data', lambda: as_data(broken()).to_dense()),
                        ('lsqnonneg', lambda: lsqnonneg(torch.rand(3, 2, dtype=torch.float64), broken()))]:
            try: f(); print(what, 'accepted')
            except ValueError: print(what, 'ValueError')
    """
    r = in_subprocess(probe, tmp_path)
    assert r.returncode == 0, f'the interpreter died (exit {r.returncode}): {r.stderr[-500:]}'
    assert r.stdout.split() == ['from_matrix', 'ValueError', 'Corpus', 'ValueError', 'as_data', 'ValueError',
                                'lsqnonneg', 'ValueError'], r.stdout


# ---------------------------------------------------------------- an explicit --labels file wins over the data's own
def test_fit_labels_argument_wins_over_labels_stored_in_the_data(tmp_path, corpus_file):
    syn, data = corpus_file
    y = np.where(syn.labels['sub'] % 2 == 0, 'even', 'odd')
    (tmp_path / 'y.txt').write_text('\n'.join(y) + '\n')
    code, out, err = run_cli('fit', data, '--ranks', 4, 2, '--labels', tmp_path / 'y.txt', '--epochs', 3,
                             '--out', tmp_path / 'model', '--quiet')
    assert (code, err) == (0, '')
    settings = json.loads((tmp_path / 'model' / 'settings.json').read_text())
    assert settings['class_names'] == ['even', 'odd'], settings['class_names']


# ---------------------------------------------------------------- a model folder is the old one or the new one
def test_failure_after_training_leaves_the_old_model_folder_intact(tmp_path, corpus_file, monkeypatch):
    _, data = corpus_file
    fit = lambda *extra: run_cli('fit', data, '--ranks', 4, 2, '--epochs', 3, '--out', tmp_path / 'model', '--quiet', *extra)
    assert fit()[0] == 0
    before = folder_bytes(tmp_path / 'model')
    from neural_nmf import topics

    def fails(*args, **kw): raise RuntimeError('injected failure while drawing')
    monkeypatch.setattr(topics, 'plot_hierarchy', fails)
    code, out, err = fit('--seed', 7)
    assert code != 0
    assert folder_bytes(tmp_path / 'model') == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ['docs.npz', 'model']


def test_save_model_checks_everything_before_writing(tmp_path):
    net = NMFNetwork([5, 2], dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    cli.save_model(tmp_path / 'm', net, list('abcde'), {'v': 1})
    before = folder_bytes(tmp_path / 'm')
    net2 = NMFNetwork([5, 2], dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with pytest.raises(ValueError):
        cli.save_model(tmp_path / 'm', net2, ['a', 'b', 'c\nd', 'e', 'f'], {'v': 2})   # a newline in a word
    assert folder_bytes(tmp_path / 'm') == before


def test_half_written_or_mixed_folders_are_never_loaded(tmp_path):
    nets = [NMFNetwork([5, 2], dtype=torch.float64, generator=torch.Generator().manual_seed(s)) for s in (0, 1)]
    cli.save_model(tmp_path / 'a', nets[0], list('abcde'))
    cli.save_model(tmp_path / 'b', nets[1], list('vwxyz'))
    half = tmp_path / 'half'; half.mkdir()              # what a writer killed halfway leaves: files, no manifest
    for f in ('model.pt', 'vocab.txt', 'settings.json'):
        (half / f).write_bytes((tmp_path / 'a' / f).read_bytes())
    mixed = tmp_path / 'mixed'; mixed.mkdir()           # a new model beside an old vocabulary
    for f in ('model.pt', 'vocab.txt', 'settings.json'):
        src = tmp_path / ('b' if f == 'model.pt' else 'a') / f
        (mixed / f).write_bytes(src.read_bytes())
    if (tmp_path / 'a' / 'manifest.json').exists():
        (mixed / 'manifest.json').write_bytes((tmp_path / 'a' / 'manifest.json').read_bytes())
    for folder in (half, mixed):
        with pytest.raises(ValueError):
            cli.load_model(folder)


# ---------------------------------------------------------------- extreme scales: right answers or clear errors
def test_lsqnonneg_with_huge_A_is_right():
    g = torch.Generator().manual_seed(0)
    A = torch.rand(30, 5, dtype=torch.float64, generator=g); X = torch.rand(30, 8, dtype=torch.float64, generator=g)
    S = lsqnonneg(A, X)
    for c in (1e200, 1e-200, 1e300):
        Sc = lsqnonneg(A * c, X)
        assert float((Sc * c - S).abs().max()) <= 1e-12 * float(S.abs().max()), c


def test_train_on_tiny_data_is_an_error_not_a_zero_loss():
    X = torch.rand(30, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 1e-200
    net = NMFNetwork([30, 5, 3], dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with pytest.raises(ValueError, match='X'):
        train(net, X, epoch=3, verbose=False)


def test_train_on_huge_data_is_not_called_nan():
    X = torch.rand(30, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 1e200
    net = NMFNetwork([30, 5, 3], dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with pytest.raises(ValueError) as e:
        train(net, X, epoch=3, verbose=False)
    assert 'NaN' not in str(e.value) and 'overflow' in str(e.value)


def test_cli_on_out_of_range_data_names_the_scale(tmp_path):
    for c in (1e200, 1e-200):
        dl.save_corpus(dl.Corpus(np.random.default_rng(0).random((20, 15)) * c), tmp_path / 'x.npz')
        code, out, err = run_cli('fit', tmp_path / 'x.npz', '--ranks', 3, '--epochs', 2, '--out', tmp_path / 'o', '--quiet')
        assert code == 1 and 'NaN' not in err and ('overflow' in err or 'underflow' in err), err
        assert not (tmp_path / 'o').exists()


# ---------------------------------------------------------------- numbers on the command line: checked before any work
@pytest.mark.parametrize('opt, value', [('--epochs', '0'), ('--epochs', '-1'), ('--lam', 'nan'), ('--lam', 'inf'),
                                        ('--lam', '-1'), ('--test-fraction', 'nan'), ('--test-fraction', '1'),
                                        ('--seed', '-1'), ('--threads', '0'), ('--ranks', '0')])
def test_bad_numbers_are_refused_before_any_work(tmp_path, corpus_file, opt, value, monkeypatch):
    _, data = corpus_file
    calls = []
    real = cli.compare_methods
    monkeypatch.setattr(cli, 'compare_methods', lambda *a, **k: calls.append(1) or real(*a, **k))
    args = ['fit', data, '--out', tmp_path / 'o', '--quiet', f'{opt}={value}']
    if opt != '--ranks': args += ['--ranks', '3']
    code, out, err = run_cli(*args)
    assert code != 0 and opt in err and len(err.strip().splitlines()) == 1, (code, err)
    assert calls == [] and not (tmp_path / 'o').exists()


def test_demo_epochs_zero_is_refused(tmp_path):
    code, out, err = run_cli('demo', '--epochs', 0, '--out', tmp_path / 'o', '--quiet')
    assert code != 0 and '--epochs' in err and not (tmp_path / 'o').exists()
