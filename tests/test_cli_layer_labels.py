"""`neural-nmf fit --labels FILE [FILE ...]` and `--label-keys KEY [KEY ...]`: labels for the last layer or per layer.

One file supervises the last layer (the run `compare_methods` calls 'Neural NMF supervised'); one file per layer
(`-` for a layer without labels) trains a classifier at every labeled layer ('Neural NMF supervised, every layer')
and scores each layer's readout against its own labels. Every expected table below is computed with the library
directly, so the tests pin the command line to the calls it makes: the same split, label sets and method.
"""
import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from neural_nmf import cli
from neural_nmf import data_loading as dl
from neural_nmf.compare import METHODS, compare_methods, format_table
import sys
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shared import run_cli  # noqa: E402,F401 (one_thread: an autouse fixture)

EPOCHS = 5


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    "A bare matrix (docs.npz), the same corpus with its label sets (stored.npz), sub.txt and super.txt (class names)."
    d = tmp_path_factory.mktemp('layer_labels')
    syn = dl.make_hierarchical(n_features=100, n_samples=80, ranks=(6, 3), noise=0.3, mixing=0.4, doc_length=60,
                               seed=4)
    dl.save_corpus(dl.Corpus(syn.X, syn.vocab), d / 'docs.npz')
    dl.save_corpus(syn, d / 'stored.npz')
    for level in ('sub', 'super'):
        (d / f'{level}.txt').write_text(''.join(syn.label_names[level][i] + '\n' for i in syn.labels[level]))
    sub = [syn.label_names['sub'][i] for i in syn.labels['sub']]
    sub[:6] = ['?', '', '?', '', '?', '']                               # unknown, as in a single labels file
    (d / 'sub_unknown.txt').write_text(''.join(s + '\n' for s in sub))
    return d, syn


def fit(d, out, *extra):
    return run_cli('fit', d / 'docs.npz', '--ranks', 6, 3, '--epochs', EPOCHS, '--out', d / out, '--quiet', *extra)


def expected_table(corpus, label_keys, split_key, method, layer_names=None):
    "The table `fit` must print: `compare_methods` on the split stratified by `split_key`, as the command calls it."
    tr, te = dl.stratified_split(corpus.labels[split_key], 0.3, seed=0)
    res = compare_methods(corpus, [6, 3], label_keys, tr, te, methods=(METHODS[0], method), epochs=EPOCHS, seed=0,
                          progress=False)
    return format_table(res, layer_names), res


def settings(folder): return json.loads((Path(folder) / 'settings.json').read_text())


def test_one_file_supervises_the_last_layer_as_before(files):
    d, syn = files
    code, out, err = fit(d, 'one', '--labels', d / 'super.txt')
    assert (code, err) == (0, '')
    corpus = dl.load_file(d / 'docs.npz', labels=str(d / 'super.txt'))       # the single file: label set 'label'
    table, res = expected_table(corpus, ['label', 'label'], 'label', METHODS[3])
    assert table in out, out
    assert 'classifier of every layer' not in out
    s = settings(d / 'one')
    assert (s['label_set'], s['class_names'], s['method']) == ('label', ['A', 'B', 'C'], METHODS[3])
    assert cli.load_model(d / 'one')[0].c == 3
    # one stored set named by --label-keys is the same run with the same labels
    code, out2, err = run_cli('fit', d / 'stored.npz', '--ranks', 6, 3, '--epochs', EPOCHS, '--out', d / 'one_key',
                              '--quiet', '--label-keys', 'super')
    assert (code, err) == (0, '')
    assert table in out2, out2


def test_a_file_per_layer_trains_a_classifier_per_layer(files):
    d, syn = files
    code, out, err = fit(d, 'two', '--labels', d / 'sub.txt', d / 'super.txt')
    assert (code, err) == (0, '')
    corpus = dl.load_file(d / 'docs.npz', labels={'L1': str(d / 'sub.txt'), 'L2': str(d / 'super.txt')})
    table, res = expected_table(corpus, ['L1', 'L2'], 'L2', METHODS[4], ['sub', 'super'])
    assert table in out, out
    accs = res[1]['acc_classifiers']
    assert f'classifier of every layer ({METHODS[4]}): L1 {accs[0]:.3f}, L2 {accs[1]:.3f}' in out
    net, vocab, s = cli.load_model(d / 'two')
    assert net.c == [6, 3]
    assert s['label_set'] == ['L1', 'L2'] and s['method'] == METHODS[4]
    assert s['class_names'] == [corpus.label_names['L1'], ['A', 'B', 'C']]
    # the folder loads back: topics and transform (.npz with every layer's classifier, and .csv)
    code, top, err = run_cli('topics', d / 'two', '--words', 4)
    assert (code, err) == (0, '') and top.startswith('Topic hierarchy (2 layers: ranks [6, 3]')
    code, _, err = run_cli('transform', d / 'two', d / 'docs.npz', '--out', d / 'two.npz')
    assert (code, err) == (0, '')
    z = np.load(d / 'two.npz')
    assert sorted(z) == ['S1', 'S2', 'predicted1', 'predicted2', 'scores1', 'scores2']
    assert z['scores1'].shape == (6, 80) and z['scores2'].shape == (3, 80) and z['predicted2'].shape == (80,)
    code, _, err = run_cli('transform', d / 'two', d / 'docs.npz', '--out', d / 'two.csv', '--layer', 1)
    assert (code, err) == (0, '')
    assert np.loadtxt(d / 'two.csv', delimiter=',', skiprows=1).shape == (80, 6)
    # the stored label sets by name: the same run
    code, out2, err = run_cli('fit', d / 'stored.npz', '--ranks', 6, 3, '--epochs', EPOCHS, '--out', d / 'two_keys',
                              '--quiet', '--label-keys', 'sub', 'super')
    assert (code, err) == (0, '')
    assert table in out2, out2
    assert cli.load_model(d / 'two_keys')[2]['label_set'] == ['sub', 'super']


def test_unknown_labels_in_a_layer_file(files):
    d, syn = files
    code, out, err = fit(d, 'unknown', '--labels', d / 'sub_unknown.txt', d / 'super.txt')
    assert (code, err) == (0, '')
    corpus = dl.load_file(d / 'docs.npz', labels={'L1': str(d / 'sub_unknown.txt'), 'L2': str(d / 'super.txt')})
    assert (corpus.labels['L1'][:6] == -1).all() and (corpus.labels['L1'][6:] >= 0).all()
    table, _ = expected_table(corpus, ['L1', 'L2'], 'L2', METHODS[4], ['sub_unknown', 'super'])
    assert table in out, out
    assert settings(d / 'unknown')['class_names'][0] == syn.label_names['sub']


@pytest.mark.parametrize('which', ['last', 'first'])
def test_dash_marks_a_layer_without_labels(files, which):
    d, syn = files
    labels = ['-', d / 'super.txt'] if which == 'last' else [d / 'sub.txt', '-']
    code, out, err = fit(d, f'dash_{which}', '--labels', *labels)
    assert (code, err) == (0, '')
    given = {'L2': str(d / 'super.txt')} if which == 'last' else {'L1': str(d / 'sub.txt')}
    corpus = dl.load_file(d / 'docs.npz', labels=given)
    keys = [None, 'L2'] if which == 'last' else ['L1', None]
    names = ['', 'super'] if which == 'last' else ['sub', '']
    table, res = expected_table(corpus, keys, next(k for k in keys if k), METHODS[4], names)   # split: that layer's
    assert table in out, out
    net = cli.load_model(d / f'dash_{which}')[0]
    assert net.c == ([None, 3] if which == 'last' else [6, None])
    code, _, err = run_cli('transform', d / f'dash_{which}', d / 'docs.npz', '--out', d / f'dash_{which}.npz')
    assert (code, err) == (0, '')
    layer = '2' if which == 'last' else '1'
    assert sorted(np.load(d / f'dash_{which}.npz')) == sorted(['S1', 'S2', f'scores{layer}', f'predicted{layer}'])


def test_unsupervised_uses_every_layer_file_only_to_score(files):
    d, syn = files
    code, out, err = fit(d, 'unsup', '--labels', d / 'sub.txt', d / 'super.txt', '--unsupervised')
    assert (code, err) == (0, '')
    corpus = dl.load_file(d / 'docs.npz', labels={'L1': str(d / 'sub.txt'), 'L2': str(d / 'super.txt')})
    table, _ = expected_table(corpus, ['L1', 'L2'], 'L2', METHODS[1], ['sub', 'super'])
    assert table in out, out
    assert cli.load_model(d / 'unsup')[0].c is None


def test_label_keys_name_label_variables_of_a_mat_file(files, tmp_path):
    d, syn = files
    scipy.io.savemat(tmp_path / 'd.mat', {'X': np.asarray(syn.X), 'sub_cats': syn.labels['sub'],
                                          'super_cats': syn.labels['super']})
    args = ('fit', tmp_path / 'd.mat', '--ranks', 6, 3, '--epochs', 2, '--quiet', '--out')
    code, out, err = run_cli(*args, tmp_path / 'm', '--label-keys', 'sub_cats', 'super_cats')
    assert (code, err) == (0, '')
    assert cli.load_model(tmp_path / 'm')[0].c == [6, 3]
    code, out, err = run_cli(*args, tmp_path / 'm2', '--label-keys', 'sub_cats', 'nope')
    assert code == 1 and err == f"neural-nmf: error: --label-keys: sub_cats, nope are not all label variables of " \
                                f"'{tmp_path / 'd.mat'}'\n", err
    assert not (tmp_path / 'm2').exists()


def test_wrong_counts_and_dashes_are_one_line_errors(files, tmp_path):
    d, syn = files
    sub, sup = d / 'sub.txt', d / 'super.txt'
    cases = [
        (['--labels', sub, sup, sub], "--labels takes one entry (the last layer) or one per layer (2 layers: "
                                      "--ranks 6 3), got 3"),
        (['--labels', '-', '-'], "--labels: '-' marks a layer without labels; give labels for one layer at least"),
        (['--labels', '-'], "--labels: '-' marks a layer without labels; give labels for one layer at least"),
        (['--labels', sub, tmp_path / 'missing.txt'], f"--labels: no such file: '{tmp_path / 'missing.txt'}'"),
        (['--labels', sup, '--label-keys', 'sub'], 'give --labels or --label-keys, not both'),
        (['--label-keys', 'sub', 'super', 'sub'], "--label-keys takes one entry (the last layer) or one per layer "
                                                  "(2 layers: --ranks 6 3), got 3"),
        (['--label-keys', 'nope'], "--label-keys: the data has no label set 'nope' (it has none)"),
    ]
    for extra, msg in cases:
        code, out, err = fit(d, 'bad', *extra)
        assert (code, err) == (1, f'neural-nmf: error: {msg}\n'), (extra, err)
        assert not (d / 'bad').exists()
    # a file with no known label, at any layer, is named
    (tmp_path / 'none.txt').write_text('?\n' * 80)
    code, out, err = fit(d, 'bad', '--labels', tmp_path / 'none.txt', sup)
    assert (code, err) == (1, f"neural-nmf: error: --labels '{tmp_path / 'none.txt'}' has no known label\n"), err
    # DATA after --labels would be read as a labels file: said so
    code, out, err = run_cli('fit', '--ranks', 6, 3, '--labels', sub, sup, d / 'docs.npz', '--out', d / 'bad')
    assert code == 1 and err.startswith('neural-nmf: error: DATA is missing: --labels takes every name after it'), err
    # one layer: one file is the per-layer case and the last-layer case at once
    code, out, err = run_cli('fit', d / 'docs.npz', '--ranks', 3, '--epochs', 2, '--out', d / 'one_layer', '--quiet',
                             '--labels', sup)
    assert (code, err) == (0, '')
    assert cli.load_model(d / 'one_layer')[0].c == 3
