#!/usr/bin/env python
"""What decides whether labels help: held-out accuracy of Neural NMF runs against hierarchical NMF, paired by split.

On the shipped 20 Newsgroups sample (`load_20news(drop_empty_words=True)`: words x 200 documents, 10 groups in 6
supergroups), for each seeded stratified split (30% of every group held out), every row trains a two-layer network
[m, 10, 6] for 100 epochs with `train` and scores it as the demo does: a least-squares readout (with bias) fitted on
the training documents' S_1 (against the 10 groups) and S_2 (against the 6 supergroups), evaluated on the held-out
documents. Each row's score minus that of `hierarchical_nmf(X, [10, 6], seed=s)` on the same split is averaged over
the splits (mean ± standard error). Labels: the supergroups of the training documents (all of them, or half of every
class for 'semi'); held-out labels are never used.

Rows: the default path (`NMFNetwork([m, 10, 6], c=6)` and `train(net, X, epoch=100, labels=y, seed=s)`), and the same
call with one setting changed: the start's HALS sweeps (`initialize(net, X, 'nmf', nmf_iter=...)` then
`train(..., init=None)`), float32, `lam`, the epochs, per-layer weights of the energy, or the start alone (no training).
The 'every layer' rows put a classifier on each layer (`c=[10, 6]`, `labels=[groups, supergroups]`); their last column
is the held-out accuracy of the layer-1 classifier minus that of hierarchical NMF's layer-1 readout.

Judged on generated data too: `--data generated` runs the same rows on a corpus from `make_hierarchical` (a 9 -> 3
topic tree, 600 words, 400 short, noisy documents with mixed topics), network [m, 9, 3], labels 'sub' and 'super'.

    python experiments/supervision.py                        # 20 splits, every row (about 15 minutes on 2 cores)
    python experiments/supervision.py --data generated --rows 'default;semi;unsupervised;every'
    python experiments/supervision.py --splits 3 --rows 'default;unsupervised'   # a quick look
    python experiments/supervision.py --out experiments/results/supervision.md
"""
import argparse, sys, textwrap, time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch

from neural_nmf import NMFNetwork, train, hierarchical_nmf, load_20news
from neural_nmf import data_loading as dl, topics as tp
from neural_nmf.deep_nmf import EnergyLoss
from neural_nmf.train import initialize

# row name -> (labels: 'all' / 'half' / None, settings); settings: sweeps, dtype, lam, epochs, weights, train
ROWS = {
    'supervised (default)':              ('all', {}),
    'semi-supervised (default)':         ('half', {}),
    'unsupervised (default)':            (None, {}),
    'start alone (200 sweeps)':          (None, dict(train=False)),
    'start alone (100 sweeps)':          (None, dict(train=False, sweeps=100)),
    'supervised, start of 100 sweeps':   ('all', dict(sweeps=100)),
    'supervised, float32':               ('all', dict(dtype=torch.float32)),
    'supervised, float32, 100 sweeps':   ('all', dict(dtype=torch.float32, sweeps=100)),
    'supervised, lam 0.03':              ('all', dict(lam=0.03)),
    'supervised, lam 0.3':               ('all', dict(lam=0.3)),
    'supervised, 300 epochs':            ('all', dict(epochs=300)),
    'semi-supervised, lam 0.3':          ('half', dict(lam=0.3)),
    'unsupervised, energy weights 1, 0.1': (None, dict(weights=[1, 0.1])),
    'supervised, energy weights 1, 0.1':   ('all', dict(weights=[1, 0.1])),
    'every layer (default)':             ('every', {}),
    'every layer, lam 0.3':              ('every', dict(lam=0.3)),
    'every layer, lam 1':                ('every', dict(lam=1.0)),
}
SHORT = {'default': 'supervised (default)', 'semi': 'semi-supervised (default)', 'unsupervised': 'unsupervised (default)',
         'every': 'every layer (default)'}


def readouts(corpus, Ss, tr, te, scores=None):
    "Held-out readout accuracy from S_1 (groups) and S_2 (supergroups); then the layer-1 classifier's (or nan)."
    sub, sup = np.asarray(corpus.labels['sub']), np.asarray(corpus.labels['super'])
    clf = np.nan if scores is None else tp.score_accuracy(scores, sub, te)
    return [tp.readout_accuracy(Ss[0], sub, tr, te), tp.readout_accuracy(Ss[1], sup, tr, te), clf]


def run_row(corpus, row, seed, tr):
    "The layer outputs [S_1, S_2] of one row's run on the split with training documents `tr`, and the layer-1 classifier's scores (or None)."
    kind, opt = ROWS[row]
    sub, sup = np.asarray(corpus.labels['sub']), np.asarray(corpus.labels['super'])
    X, m = corpus.X, corpus.n_features
    ranks = _ranks(corpus)
    y, c = None, None
    if kind == 'every':                                   # groups on S_1, supergroups on S_2
        y = [np.full(corpus.n_samples, -1), np.full(corpus.n_samples, -1)]
        y[0][tr], y[1][tr] = sub[tr], sup[tr]
        c = list(ranks)
    elif kind is not None:
        keep = tr if kind == 'all' else tr[dl.label_mask(sup[tr], 0.5, seed=seed)]
        y = np.full(corpus.n_samples, -1); y[keep] = sup[keep]
        c = ranks[1]
    net = NMFNetwork([m, *ranks], c=c, **({'dtype': opt['dtype']} if 'dtype' in opt else {}))
    kw = {} if y is None else dict(labels=y)
    if 'lam' in opt: kw['lam'] = opt['lam']
    if 'weights' in opt: kw['loss_func'] = EnergyLoss(weights=opt['weights'])
    if 'sweeps' in opt or opt.get('train') is False:
        initialize(net, X, 'nmf', seed=seed, nmf_iter=opt.get('sweeps', 200)); kw['init'] = None
    if opt.get('train', True):
        train(net, X, epoch=opt.get('epochs', 100), seed=seed, verbose=False, **kw)
    with torch.no_grad(): out = net(X)
    Ss, scores = out if isinstance(out, tuple) else (out, None)
    return [S.double() for S in Ss], (scores[0] if isinstance(scores, list) else None)


def load(data):
    "The shipped 20 Newsgroups sample, or the generated corpus (labels 'sub' and 'super' either way)."
    if data == '20news': return load_20news(drop_empty_words=True)
    return dl.make_hierarchical(n_features=600, n_samples=400, ranks=(9, 3), doc_length=40, noise=0.3, mixing=0.4,
                                sparse=True, seed=0)


def _ranks(corpus):
    "The network's ranks: one topic per group, one supertopic per supergroup."
    return [int(np.max(corpus.labels['sub'])) + 1, int(np.max(corpus.labels['super'])) + 1]


def one_split(args):
    "Every row's readout accuracies minus the baseline's on split `seed`."
    seed, rows, data = args
    torch.set_num_threads(1)
    corpus = load(data)
    tr, te = dl.stratified_split(np.asarray(corpus.labels['sub']), 0.3, seed=seed)
    base = readouts(corpus, hierarchical_nmf(corpus.X, _ranks(corpus), seed=seed)[1], tr, te)
    out = {}
    for r in rows:
        Ss, scores = run_row(corpus, r, seed, tr)
        out[r] = readouts(corpus, Ss, tr, te, scores)
    return base, out


def table(results, rows):
    "Markdown table: per row the mean accuracies and the paired differences to hierarchical NMF (mean ± s.e.)."
    base = np.array([b for b, _ in results])
    n = len(results)
    def diff(d):
        se = d.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
        return f'{d.mean():+.3f} ± {se:.3f}'
    lines = [f'{n} splits; hierarchical NMF (HNMF): layer 1 (groups) {base[:, 0].mean():.3f}, '
             f'layer 2 (supergroups) {base[:, 1].mean():.3f}', '',
             '| run | layer 1 | layer 2 | layer 1 - HNMF | layer 2 - HNMF | layer-1 classifier - HNMF layer 1 |',
             '|---|---:|---:|---:|---:|---:|']
    for r in rows:
        a = np.array([d[r] for _, d in results])
        clf = '' if np.isnan(a[:, 2]).all() else diff(a[:, 2] - base[:, 0])
        lines.append(f'| {r} | {a[:, 0].mean():.3f} | {a[:, 1].mean():.3f} | {diff(a[:, 0] - base[:, 0])} '
                     f'| {diff(a[:, 1] - base[:, 1])} | {clf} |')
    return '\n'.join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--splits', type=int, default=20)
    ap.add_argument('--rows', default='all', help="row names separated by ';' (or default, semi, unsupervised), or 'all'")
    ap.add_argument('--jobs', type=int, default=2, help='processes, one split each at a time')
    ap.add_argument('--data', choices=['20news', 'generated'], default='20news')
    ap.add_argument('--out', help='also write the table (markdown) to this file')
    a = ap.parse_args(argv)
    rows = list(ROWS) if a.rows == 'all' else [SHORT.get(r.strip(), r.strip()) for r in a.rows.split(';')]
    unknown = [r for r in rows if r not in ROWS]
    if unknown: sys.exit(f'unknown rows {unknown}; choose from {list(ROWS)}')
    t0 = time.perf_counter()
    with ProcessPoolExecutor(a.jobs) as ex:
        results = list(ex.map(one_split, [(s, rows, a.data) for s in range(a.splits)]))
    text = table(results, rows)
    cmd = ' '.join(['python experiments/supervision.py'] + [x for x in (argv if argv is not None else sys.argv[1:])])
    if len(cmd) > 90:                              # a shell line continuation keeps the table's page narrow
        cmd = ' \\\n    '.join(textwrap.wrap(cmd, 86, break_long_words=False, break_on_hyphens=False))
    text += f'\n\n{cmd}\n({time.perf_counter() - t0:.0f} s, torch {torch.__version__})'
    print(text)
    if a.out:
        with open(a.out, 'w') as f: f.write(text + '\n')


if __name__ == '__main__':
    main()
