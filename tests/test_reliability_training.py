"""Reliability of training and scoring: mini-batch training neither stalls on zero blocks nor stops at a rejected
trial point, files of a list are read by their headers, labels and vocabularies mean one thing everywhere, degenerate
topics get no scores, and wrong input gets one clear sentence (interrupts simulated as in test_reliability.py).
"""
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from neural_nmf import NMFNetwork
from neural_nmf import data_loading as dl
from neural_nmf import topics as tp
from neural_nmf.minibatch import BlockSource, matrix_blocks, minibatch_loss, train_minibatch
import sys
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _reliability import (count_events as _count_events, interrupt_at as _interrupt_at, points as _points,  # noqa: E402
                          trained as _trained, same_net as _same_net)
from _shared import one_thread  # noqa: E402,F401 (an autouse fixture)


DOCS = ['rockets reach orbit around the moon', 'the pitcher threw a baseball to the batter',
        'orbit and moon and rockets', 'baseball game with a pitcher', 'the moon orbit rockets launch',
        'batter hits the baseball']


# ---------- 3, 5, 12: mini-batch ----------

def _Z(m=30, n=60, seed=0):
    return torch.rand(m, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize('where', [slice(0, 10), slice(0, 20), slice(50, 60)])
def test_an_all_zero_block_changes_nothing(where):
    Z = _Z(); Z[:, where] = 0
    keep = torch.ones(Z.shape[1], dtype=torch.bool); keep[where] = False
    make = lambda: NMFNetwork([30, 4], dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    a, b = make(), make()
    ha = train_minibatch(a, Z, batch_size=10, shuffle=False, epochs=4, seed=0, verbose=False)
    hb = train_minibatch(b, Z[:, keep], batch_size=10, shuffle=False, epochs=4, seed=0, verbose=False)
    assert _same_net(a, b) and max(ha.get('lr')) < 1e6, (ha.get('lr'), hb.get('lr'))
    assert ha.get('loss') == pytest.approx(hb.get('loss'), rel=1e-12, abs=0)
    assert minibatch_loss(a, Z, batch_size=10) == pytest.approx(minibatch_loss(b, Z[:, keep], batch_size=10), rel=1e-12, abs=0)


def test_shuffled_blocks_with_zero_columns_train():
    Z = _Z(); Z[:, 5:25] = 0
    net = NMFNetwork([30, 4], dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    h = train_minibatch(net, Z, batch_size=10, shuffle=True, epochs=4, seed=0, verbose=False)
    assert np.isfinite(h.get('loss')).all() and max(h.get('lr')) < 1e6
    with pytest.raises(ValueError, match='all zero'):
        train_minibatch(net, torch.zeros(30, 20, dtype=torch.float64), batch_size=10, verbose=False)


def test_csv_files_are_read_by_their_headers(tmp_path):
    rng = np.random.default_rng(0)
    words = [f'w{i}' for i in range(8)]
    D1, D2 = rng.random((6, 8)), rng.random((5, 8))          # documents x words
    def write(name, D, order):
        p = tmp_path / name
        p.write_text(','.join(words[j] for j in order) + '\n' +
                     '\n'.join(','.join(repr(float(D[r, j])) for j in order) for r in range(len(D))) + '\n')
        return str(p)
    a, b = write('a.csv', D1, range(8)), write('b.csv', D2, range(8))
    b_perm = write('b_perm.csv', D2, rng.permutation(8))
    runs = []
    for files in ([a, b], [a, b_perm]):
        net = NMFNetwork([8, 3], dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        h = train_minibatch(net, files, epochs=2, seed=0, verbose=False)
        runs.append((net, h.get('loss'), minibatch_loss(net, files)))
    assert _same_net(runs[0][0], runs[1][0]) and runs[0][1:] == runs[1][1:]
    other = tmp_path / 'c.csv'
    other.write_text(','.join(words[:7] + ['zz']) + '\n' + ','.join(['1'] * 8) + '\n')
    with pytest.raises(ValueError, match="'(zz|w7)'"):
        train_minibatch(NMFNetwork([8, 3], dtype=torch.float64), [a, str(other)], epochs=1, shuffle=False, verbose=False)


def test_ctrl_c_in_train_minibatch_leaves_the_network_at_an_accepted_point():
    Z = _Z()
    make = lambda: NMFNetwork([30, 4], dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    accepted = []
    def hook(grads):                        # called inside a step, before it changes anything: the accepted point
        accepted.append([p.detach().clone() for p in ref.parameters()]); return grads
    ref = make()
    accepted.append([p.detach().clone() for p in ref.parameters()])        # as it came
    run = lambda net, hk: train_minibatch(net, Z, batch_size=20, epochs=2, seed=0, verbose=False, grad_hook=hk)
    run(ref, hook)
    accepted.append([p.detach().clone() for p in ref.parameters()])        # the end
    total = _count_events(lambda: run(make(), None))
    for n in _points(total, 40):
        net = make()
        if not _interrupt_at(n, lambda: run(net, None)):
            continue
        now = [p.detach() for p in net.parameters()]
        assert any(all(torch.equal(a, b) for a, b in zip(now, pt)) for pt in accepted), n
        assert all(p.grad is None for p in net.parameters())


def test_zero_epochs_leave_the_network_as_it_was():
    net = NMFNetwork([30, 4], dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    before = [p.detach().clone() for p in net.parameters()]
    h = train_minibatch(net, _Z(), batch_size=10, epochs=0, verbose=False)
    assert len(h) == 0 and not net.initialized
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), before))


def test_minibatch_loss_of_a_network_with_a_classifier_is_that_of_its_layers():
    Z = _Z()
    plain_net = NMFNetwork([30, 4], dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    clf = NMFNetwork([30, 4], c=3, dtype=torch.float64)
    with torch.no_grad():
        clf.layers[0].A.copy_(plain_net.layers[0].A)
    assert minibatch_loss(clf, Z, batch_size=20) == minibatch_loss(plain_net, Z, batch_size=20)


def test_batch_size_with_a_block_source_is_refused():
    src = matrix_blocks(_Z(), 10)
    assert isinstance(src, BlockSource)
    with pytest.raises(ValueError, match='batch_size'):
        train_minibatch(NMFNetwork([30, 4], dtype=torch.float64), src, batch_size=20, verbose=False)


# ---------- 6, 7: the estimator ----------

def _two_classes(n=40, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n // 2)                  # sorted: unstratified folds would see one class each
    X = rng.random((n, 10)) * 0.1
    X[y == 0, :5] += 1; X[y == 1, 5:] += 1
    return X, y


def test_cross_validation_stratifies_by_the_labels():
    from sklearn.base import is_classifier
    from sklearn.model_selection import cross_val_score
    from sklearn.linear_model import LogisticRegression
    from neural_nmf.estimator import NeuralNMF
    X, y = _two_classes()
    assert is_classifier(NeuralNMF())
    plain = cross_val_score(LogisticRegression(), X, y, cv=2)
    ours = cross_val_score(NeuralNMF(ranks=[2], epochs=10, random_state=0), X, y, cv=2)
    assert plain.mean() == 1.0 and ours.mean() >= 0.9, (plain, ours)


def test_the_string_minus_one_is_an_unknown_label():
    from neural_nmf.estimator import NeuralNMF
    X, y = _two_classes()
    ys = np.array(['a', 'b'])[y].astype(object); ys[::5] = '-1'
    yo = ys.copy(); yo[::5] = -1                    # the number -1 in an object array
    for labels in (ys.astype(str), ys, yo, [f' {v} ' if v == '-1' else v for v in ys]):
        est = NeuralNMF(ranks=[2], epochs=2, random_state=0).fit(X, labels)
        assert list(est.classes_) == ['a', 'b'], list(est.classes_)


def test_integer_options_of_the_estimator_are_checked():
    from neural_nmf.estimator import NeuralNMF
    X, y = _two_classes()
    for bad in (2.7, 2.0, '3', True):
        with pytest.raises(ValueError, match='epochs'):
            NeuralNMF(ranks=[2], epochs=bad).fit(X)


# ---------- 8, 9: vocabularies and topic metrics ----------

def test_duplicate_words_are_refused_with_the_word_named(tmp_path):
    from neural_nmf.cli import save_model
    with pytest.raises(ValueError, match="'bb'"):
        dl.Corpus(np.ones((3, 2)), vocab=['aa', 'bb', 'bb'])
    (tmp_path / 'v.txt').write_text('x\ny\nx\n')
    with pytest.raises(ValueError, match="'x'"):
        dl.from_matrix(np.ones((3, 2)), vocab=tmp_path / 'v.txt')
    (tmp_path / 'd.csv').write_text('cat,dog,cat\n1,2,3\n4,5,6\n')
    with pytest.raises(ValueError, match="'cat'"):
        dl.load_bow_csv(tmp_path / 'd.csv')
    with pytest.raises(ValueError, match="'cat'"):
        dl.load_file(tmp_path / 'd.csv')
    net, _ = _trained(0)
    with pytest.raises(ValueError, match="'w0'"):
        save_model(tmp_path / 'm', net, [f'w{i % 19}' for i in range(20)])
    assert not (tmp_path / 'm').exists()


def test_topic_diversity_counts_distinct_strings():
    A = np.eye(4)[:, :3] + 0.01                    # three topics with distinct top rows 0, 1, 2
    assert tp.topic_diversity([A], 1) == [1.0]
    assert tp.topic_diversity([A], 1, vocab=['x', 'x', 'x', 'y']) == [pytest.approx(1 / 3)]
    with pytest.raises(ValueError, match='n_words'):
        tp.topic_diversity([A], 0)
    for bad in (0, -1, 2.5, '3'):
        with pytest.raises(ValueError, match='n_words'):
            tp.top_words([A], ['a', 'b', 'c', 'd'], bad)


def test_empty_topics_get_no_words_and_no_scores():
    rng = np.random.default_rng(0)
    X = sp.csc_matrix((rng.random((12, 30)) < 0.4).astype(float))
    A = rng.random((12, 3)); A[:, 1] = 0
    vocab = [f'w{i}' for i in range(12)]
    with pytest.warns(RuntimeWarning, match='empty'):
        words = tp.top_words([A], vocab, 4)
    assert words[0][1] == [] and len(words[0][0]) == 4
    with pytest.warns(RuntimeWarning, match='empty'):
        coh = tp.topic_coherence(X, [A], 'npmi', 4)[0]
    assert np.isnan(coh[1]) and np.isfinite(coh[[0, 2]]).all()
    spec = tp.topic_specialization(X, [A])[0]
    assert np.isnan(spec[1]) and np.isfinite(spec[[0, 2]]).all()
    with pytest.warns(RuntimeWarning, match='empty'):
        assert '(empty topic)' in tp.hierarchy_text([A], vocab)


def test_nan_in_the_factors_is_refused():
    A = np.random.default_rng(0).random((6, 2)); A[3, 1] = np.nan
    for call in (lambda: tp.top_words([A], list('abcdef'), 2), lambda: tp.topic_diversity([A], 2)):
        with pytest.raises(ValueError, match='NaN'):
            call()


# ---------- other unclear errors ----------

def test_from_texts_reads_any_iterable_of_strings():
    pytest.importorskip('sklearn')
    c = dl.from_texts((d for d in DOCS), stop_words=None)
    assert c.n_samples == len(DOCS)
    with pytest.raises(TypeError, match='list of strings'):
        dl.from_texts(iter([DOCS[0], 3]))
