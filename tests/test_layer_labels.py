"""Labels at every layer: `NMFNetwork(depth_info, c=[c1, ..., cL])` with `train(net, X, labels=[y1, ..., yL])`.

The runs with one classifier (an int `c`) are checked against loss histories recorded from the code before the
per-layer classifiers existed (commit 5ad5ec4), and `c=[None, k]` against `c=k` bit for bit.
"""
import subprocess
import sys

import numpy as np
import pytest
import torch

from neural_nmf.deep_nmf import NMFNetwork, ReconLoss, compute_loss, prepare_labels, cross_entropy_loss
from neural_nmf.train import train, initialize, save_checkpoint, load_checkpoint
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shared import one_thread  # noqa: E402,F401 (one_thread: an autouse fixture)


def data():
    g = np.random.default_rng(0)
    X = (g.random((30, 5)) ** 2) @ g.random((5, 40)) + 0.05 * g.random((30, 40))
    y = np.arange(40) % 3
    mask = np.ones(40, bool); mask[::4] = False
    return X, y, mask


def two_level(seed=0, n=120, m=40):
    "Two label levels drawn independently: neither is a function of the other."
    g = np.random.default_rng(seed)
    y1, y2 = g.integers(0, 4, n), g.integers(0, 2, n)
    F, C = g.random((m, 4)) ** 4, g.random((m, 2)) ** 4
    X = 0.3 * F[:, y1] + 0.3 * C[:, y2] + g.random((m, 5)) @ g.random((5, n))
    return X, y1, y2


CASES = {
    'ls sup': dict(),
    'ls semi': dict(semi=True, b_warmup=5, b_steps=3),
    'gd sup': dict(lr=2.0),
    'gd semi joint': dict(lr=[2.0, 2.0, 0.5], semi=True),
    'adam sup': dict(optimizer='adam'),
    'adam semi recon': dict(optimizer='adam', semi=True, loss_func='recon'),
}

# recorded with the code of commit 5ad5ec4 (one classifier only), float64, one thread
BEFORE = {
    'ls sup': {'loss': [0.3106000499725723, 0.23203459337058036, 0.19458646446472114, 0.15462886418232197, 0.1374636223444086], 'supervised': [1.0737450733783764, 1.0909399775437203, 1.044777441170488, 1.0362768726625684, 1.034809302691409], 'accuracy': [0.4749999940395355, 0.42500001192092896, 0.4000000059604645, 0.4000000059604645, 0.375], 'params': [27.19450441917727, 3.5843219733118774, 0.9562967509570868]},
    'ls semi': {'loss': [0.319114204660063, 0.23165887083594366, 0.20088969435795156, 0.153760994912849, 0.13597168959465067], 'supervised': [1.0783940170481452, 1.0929338532345982, 1.0609136753105475, 1.016767794590533, 1.0157004893759474], 'accuracy': [0.3333333432674408, 0.3333333432674408, 0.4000000059604645, 0.5, 0.5], 'params': [27.09290919595819, 3.586257603831538, 0.9562967509570868]},
    'gd sup': {'loss': [0.2895677505888264, 0.2279205044877064, 0.18454732644534905, 0.16581560585460461, 0.14155920077768935], 'supervised': [1.0305566643690374, 1.0651538341912556, 1.07045257595731, 1.0880191531704917, 1.071101175865898], 'accuracy': [0.42500001192092896, 0.42500001192092896, 0.44999998807907104, 0.3499999940395355, 0.4749999940395355], 'params': [26.397690985412858, 4.828151394445799, 0.956296750957087]},
    'gd semi joint': {'loss': [0.2803234983444547, 0.20547204050515294, 0.18018513898181637, 0.1695617327113632, 0.13086673087560827], 'supervised': [1.088379220476526, 1.3872860631851816, 1.0592440299354096, 1.1959250968242674, 1.0338871002179872], 'accuracy': [0.36666667461395264, 0.36666667461395264, 0.4000000059604645, 0.4000000059604645, 0.46666666865348816], 'params': [26.591379700157187, 4.757423129210883, 0.9562967509570868]},
    'adam sup': {'loss': [0.4291207068281505, 0.41442247189804177, 0.40002077423192645, 0.3857826415885735, 0.372022495561629], 'supervised': [1.0694850412551973, 1.066079888217479, 1.0663730092624473, 1.069964430714866, 1.0752309048657533], 'accuracy': [0.42500001192092896, 0.4000000059604645, 0.4000000059604645, 0.44999998807907104, 0.42500001192092896], 'params': [28.752247526384394, 3.6497626248916744, 0.967086447656407]},
    'adam semi recon': {'loss': [0.3316938854194095, 0.32093565025031345, 0.3113298823579201, 0.3026848659933023, 0.2945685316084409], 'supervised': [1.0547766273519772, 1.0533982136647413, 1.0557910803042923, 1.0581662963927247, 1.0572545072532546], 'accuracy': [0.4000000059604645, 0.4000000059604645, 0.4333333373069763, 0.4333333373069763, 0.4333333373069763], 'params': [170.12158761536972, 3.66587702909192, 0.9774218837218259]},
}


def run_case(name, c=3, per_layer=False):
    kw = dict(CASES[name]); semi = kw.pop('semi', False)
    X, y, mask = data()
    net = NMFNetwork([30, 6, 3], c=c, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    labels, lm = y, (mask if semi else None)
    if per_layer: labels, lm = [None, labels], (None if lm is None else [None, lm])
    h = train(net, X, epoch=5, init='random', seed=0, labels=labels, label_mask=lm, verbose=False, **kw)
    return h, net


@pytest.mark.parametrize('name', list(CASES))
def test_one_classifier_runs_as_before(name):
    h, net = run_case(name)
    want = BEFORE[name]
    for k in ('loss', 'supervised', 'accuracy'):
        np.testing.assert_allclose(h.scalars[k], want[k], rtol=1e-12, atol=0, err_msg=k)
    np.testing.assert_allclose([float(p.detach().sum()) for p in net.parameters()], want['params'], rtol=1e-12)
    assert not any(k.endswith(('_1', '_2')) and k.startswith(('accuracy', 'supervised')) for k in h.scalars)
    assert list(net.state_dict()) == ['layers.0.A', 'layers.1.A', 'linear.weight']


@pytest.mark.parametrize('name', ['ls sup', 'gd semi joint', 'adam sup'])
@pytest.mark.parametrize('per_layer', [False, True])
def test_none_then_int_is_int(name, per_layer):
    h0, net0 = run_case(name)
    h1, net1 = run_case(name, c=[None, 3], per_layer=per_layer)
    assert all(torch.equal(a, b) for a, b in zip(net0.parameters(), net1.parameters()))
    for k in ('loss', 'energy', 'supervised', 'accuracy', 'lr'):
        assert h0.scalars[k] == h1.scalars[k], k
    assert h1.scalars['supervised_2'] == h1.scalars['supervised'] and h1.scalars['accuracy_2'] == h1.scalars['accuracy']


def test_forward_and_B_with_a_classifier_per_layer():
    X = torch.rand(30, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    net = NMFNetwork([30, 6, 3], c=[5, 2], dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    (S1, S2), scores = net(X)
    assert [tuple(s.shape) for s in scores] == [(5, 7), (2, 7)]
    assert [tuple(b.shape) for b in net.B] == [(5, 6), (2, 3)]
    assert torch.equal(scores[0], net.B[0] @ S1) and torch.equal(scores[1], net.B[1] @ S2)
    one = NMFNetwork([30, 6, 3], c=[5, None], dtype=torch.float64)
    S, scores = one(X)
    assert scores[1] is None and tuple(scores[0].shape) == (5, 7) and one.B[1] is None
    assert list(one.state_dict()) == ['layers.0.A', 'layers.1.A', 'heads.1.weight']
    old = NMFNetwork([30, 6, 3], c=2, dtype=torch.float64)
    assert torch.is_tensor(old(X)[1]) and torch.is_tensor(old.B) and old.classifiers[0] is None
    B0 = [b.detach().clone() for b in net.B]
    initialize(net, X, 'random', seed=3)                                 # re-draws every B_l
    assert all(not torch.equal(a, b) for a, b in zip(B0, net.B))


def test_bad_classes_and_labels_name_the_layer():
    X, y1, y2 = two_level(n=30)
    with pytest.raises(ValueError, match='3 entries but the network has 2 layers'): NMFNetwork([40, 6, 3], c=[4, 2, 2])
    with pytest.raises(ValueError, match='names no classifier'): NMFNetwork([40, 6, 3], c=[None, None])
    with pytest.raises(ValueError, match=r'c\[1\]'): NMFNetwork([40, 6, 3], c=[4, 0])
    net = NMFNetwork([40, 6, 3], c=[4, None], dtype=torch.float64)
    with pytest.raises(ValueError, match='layer 2, which has no classifier'): train(net, X, epoch=1, labels=[y1, y2], verbose=False)
    net = NMFNetwork([40, 6, 3], c=[4, 2], dtype=torch.float64)
    with pytest.raises(ValueError, match=r'layer 2 has a classifier \(c\[1\]=2\) but labels\[1\] is None'):
        train(net, X, epoch=1, labels=[y1, None], verbose=False)
    with pytest.raises(ValueError, match='labels has 3 entries but the network has 2 layers'):
        train(net, X, epoch=1, labels=[y1, y2, None], verbose=False)
    with pytest.raises(ValueError, match='one label set but the network has classifiers on layers'):
        train(net, X, epoch=1, labels=y2, verbose=False)
    with pytest.raises(ValueError, match='lam has 3 entries'):
        train(net, X, epoch=1, labels=[y1, y2], lam=[0.1, 0.1, 0.1], verbose=False)
    with pytest.raises(ValueError, match=r'lam\[0\] \(layer 1\) must be nonnegative'):
        train(net, X, epoch=1, labels=[y1, y2], lam=[-1, 0.1], verbose=False)
    with pytest.raises(ValueError, match='has 30 entries, expected|30'):
        train(net, X, epoch=1, labels=[y1[:20], y2], verbose=False)
    old = NMFNetwork([40, 6, 3], c=2, dtype=torch.float64)
    with pytest.raises(ValueError, match='one classifier, on its last layer'):
        train(old, X, epoch=1, labels=[None, y2], verbose=False)
    with pytest.raises(ValueError, match='one weight per layer'):
        train(old, X, epoch=1, labels=y2, lam=[0.1, 0.1], verbose=False)


def test_labels_at_every_layer_train_every_classifier():
    X, y1, y2 = two_level()
    acc = {}
    for lam in (0.0, 1.0):     # lam = 0: the B_l still fit the S_l, which the labels do not shape
        net = NMFNetwork([40, 6, 3], c=[4, 2], dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        h = train(net, X, epoch=20, labels=[y1, y2], lam=[lam, lam], verbose=False)
        acc[lam] = (h.scalars['accuracy_1'][-1], h.scalars['accuracy_2'][-1])
        assert h.scalars['accuracy'] == h.scalars['accuracy_2']
        np.testing.assert_allclose(h.scalars['supervised'], np.add(h.scalars['supervised_1'], h.scalars['supervised_2']))
    assert acc[1.0][0] >= acc[0.0][0] + 0.2 and acc[1.0][1] >= acc[0.0][1] + 0.2, acc
    assert acc[1.0][0] >= 0.9 and acc[1.0][1] >= 0.85, acc


def test_semi_supervised_per_layer_masks_and_lam():
    X, y1, y2 = two_level(n=60)
    m1 = np.arange(60) % 2 == 0
    net = NMFNetwork([40, 6, 3], c=[4, 2], dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    h = train(net, X, epoch=3, labels=[y1, y2], label_mask=[m1, None], lam=[0.5, 0.2], verbose=False)
    assert 'accuracy_unlabeled_1' in h.scalars and 'accuracy_unlabeled_2' not in h.scalars
    assert h.meta['lam'] == [0.5, 0.2]


def test_gradient_includes_the_layer_one_term():
    "Autograd's gradient in A_1 of the per-layer objective matches a finite difference of the total loss, and the layer-1 term changes it."
    # the reconstruction loss: the energy is defined on unit-norm columns of A_1, which a finite difference leaves
    g = torch.Generator().manual_seed(0)
    X = torch.rand(8, 3, dtype=torch.float64, generator=g) @ torch.rand(3, 10, dtype=torch.float64, generator=g)
    net = NMFNetwork([8, 4, 2], c=[3, 2], dtype=torch.float64, generator=g, warm_start=False)
    (Y1, m1, _), (Y2, m2, _) = (prepare_labels(np.arange(10) % k, 10, k, dtype=torch.float64) for k in (3, 2))
    A1 = net.layers[0].A
    def total(lam1):
        return compute_loss(net, X, net(X), ReconLoss(), [Y1, Y2], [m1, m2], cross_entropy_loss, [lam1, 0.5])['loss']
    grad, = torch.autograd.grad(total(2.0), A1)
    grad0, = torch.autograd.grad(total(0.0), A1)
    assert float((grad - grad0).norm()) > 1e-3 * float(grad.norm())
    eps = 1e-6
    for _ in range(3):                                   # central differences along random directions
        D = torch.randn(A1.shape, dtype=torch.float64, generator=g)
        with torch.no_grad():
            A1 += eps * D; fp = float(total(2.0))
            A1 -= 2 * eps * D; fm = float(total(2.0))
            A1 += eps * D
        np.testing.assert_allclose((fp - fm) / (2 * eps), float((grad * D).sum()), rtol=1e-6)


def test_checkpoint_save_load_resume(tmp_path):
    X, y1, y2 = two_level(n=40)
    def fresh():
        return NMFNetwork([40, 6, 3], c=[4, 2], dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    whole = fresh()
    hw = train(whole, X, epoch=5, labels=[y1, y2], verbose=False)
    part = fresh()
    hp = train(part, X, epoch=3, labels=[y1, y2], verbose=False)
    save_checkpoint(tmp_path / 'ck.pt', part, hp)
    net, h = load_checkpoint(tmp_path / 'ck.pt')
    assert net.c == [4, 2] and list(net.state_dict()) == list(part.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), part.parameters()))
    h2 = train(net, X, epoch=2, labels=[y1, y2], resume=net.checkpoint, verbose=False)
    assert h2.scalars['loss'] == hw.scalars['loss'] and h2.scalars['accuracy_1'] == hw.scalars['accuracy_1']
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), whole.parameters()))
    other = fresh(); other.load_state_dict(part.state_dict())
    assert torch.equal(other.B[0], part.B[0])


def test_unsupervised_and_minibatch_with_a_classifier_per_layer():
    from neural_nmf.minibatch import train_minibatch
    X, y1, y2 = two_level(n=40)
    net = NMFNetwork([40, 6, 3], c=[4, 2], dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    B0 = [b.detach().clone() for b in net.B]
    h = train(net, X, epoch=2, verbose=False)
    assert 'supervised' not in h.scalars
    h = train_minibatch(net, X, epochs=1, batch_size=20, verbose=False)
    assert np.isfinite(h.scalars['loss'][-1])


def test_estimator_with_labels_at_every_layer():
    from neural_nmf.estimator import NeuralNMF
    X, y1, y2 = two_level()
    names = np.array(['left', 'right'])[y2]
    est = NeuralNMF(ranks=[6, 3], epochs=20, lam=1.0, random_state=0).fit(X.T, [y1, names])
    assert est.net_.c == [4, 2] and list(est.classes_) == ['left', 'right'] and list(est.layer_classes_[0]) == [0, 1, 2, 3]
    p1, p2 = est.predict_layers(X.T)
    assert (p1 == y1).mean() >= 0.9 and (p2 == names).mean() >= 0.75     # chance: 0.25 and 0.5
    assert np.array_equal(est.predict(X.T), p2) and np.array_equal(est.predict(X.T, layer=0), p1)
    assert est.predict_proba(X.T, layer=0).shape == (120, 4) and est.score(X.T, names) >= 0.75
    two_d = NeuralNMF(ranks=[6, 3], epochs=20, lam=1.0, random_state=0).fit(X.T, np.column_stack([y1, y2]))
    assert two_d.net_.c == [4, 2] and (two_d.predict(X.T, layer=0) == y1).mean() >= 0.9
    first = NeuralNMF(ranks=[6, 3], epochs=3, random_state=0).fit(X.T, [y1, None])
    assert first.net_.c == [4, None] and first.predict_layers(X.T)[1] is None
    with pytest.raises(ValueError, match='layer 1 has no classifier'): first.predict(X.T, layer=1)
    with pytest.raises(ValueError, match='labels for 3 layers but the network has 2'):
        NeuralNMF(ranks=[6, 3], epochs=1).fit(X.T, [y1, y2, y2])
    one = NeuralNMF(ranks=[6, 3], epochs=3, random_state=0).fit(X.T, y2)          # one label set: as before
    assert one.net_.c == 2 and not hasattr(one, 'layer_classes_') and one.predict_layers(X.T)[0] is None


def test_compare_methods_supervised_at_every_layer():
    from neural_nmf import data_loading as dl
    from neural_nmf.compare import METHODS, compare_methods, compare_splits, paired_table, paired_difference
    assert METHODS[:4] == ('hierarchical NMF', 'Neural NMF unsupervised', 'Neural NMF semi-supervised', 'Neural NMF supervised')
    c = dl.make_hierarchical(n_features=60, n_samples=80, ranks=(6, 2), seed=0)
    tr, te = dl.stratified_split(c.labels['sub'], 0.3, seed=0)
    rs = compare_methods(c, [6, 2], ['sub', 'super'], tr, te, methods=(METHODS[0], METHODS[3], METHODS[4]), epochs=3,
                         progress=False)
    by = {r['method']: r for r in rs}
    assert by[METHODS[0]]['acc_classifiers'] == [None, None] and by[METHODS[3]]['acc_classifiers'][0] is None
    assert by[METHODS[3]]['acc_classifiers'][1] == by[METHODS[3]]['acc_classifier']
    every = by[METHODS[4]]
    assert every['net'].c == [6, 2] and all(a is not None for a in every['acc_classifiers'])
    assert every['acc_classifiers'][1] == every['acc_classifier']
    runs = compare_splits(c, [6, 2], ['sub', 'super'], seeds=range(2), methods=(METHODS[0], METHODS[3], METHODS[4]), epochs=2)
    assert 'classifier L1' in paired_table(runs, baseline=METHODS[3])
    assert 'classifier L1' not in paired_table({m: runs[m] for m in METHODS[:1] + METHODS[3:4]})
    mean, se = paired_difference(runs, METHODS[4], 'classifier', baseline=METHODS[3])
    assert np.isfinite(mean) and np.isnan(paired_difference(runs, METHODS[4], 'classifier L1', baseline=METHODS[3])[0])
