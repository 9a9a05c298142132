"""Reliability of files and text input: files are written whole and checked when read, an output is never an
input, and text is decoded and split into lines the same way by the command line and the library.

Interrupts are simulated with a trace function that raises KeyboardInterrupt at the n-th Python event of a call,
for n spread over the whole call: "at any point" as far as Python code is concerned.
"""
import io
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from neural_nmf import NMFNetwork, train, save_checkpoint, load_checkpoint
from neural_nmf import data_loading as dl
from neural_nmf.writer import Writer
import sys
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _reliability import (count_events as _count_events, interrupt_at as _interrupt_at, points as _points,  # noqa: E402
                          net as _net, trained as _trained, same_net as _same_net)
from _shared import one_thread  # noqa: E402,F401 (an autouse fixture)


# ---------- 1, 11: checkpoints ----------

def test_an_interrupted_save_at_any_point_leaves_a_whole_checkpoint(tmp_path):
    old, hold = _trained(0)
    new, hnew = _trained(1)
    path = tmp_path / 'ck.pt'
    total = _count_events(lambda: save_checkpoint(path, new, hnew))
    for n in _points(total):
        save_checkpoint(path, old, hold)
        _interrupt_at(n, lambda: save_checkpoint(path, new, hnew))
        loaded, _ = load_checkpoint(path)           # the old checkpoint or the new one, never a broken file
        assert _same_net(loaded, old) or _same_net(loaded, new), n


def test_a_failing_save_leaves_the_old_checkpoint_and_names_the_entry(tmp_path):
    old, hold = _trained(0)
    path = tmp_path / 'ck.pt'
    save_checkpoint(path, old, hold)
    before = path.read_bytes()
    new, hnew = _trained(1)
    hnew.meta['callback'] = lambda: None            # cannot be saved
    with pytest.raises(TypeError, match=r"meta.*callback"):
        save_checkpoint(path, new, hnew)
    assert path.read_bytes() == before
    assert _same_net(load_checkpoint(path)[0], old)


def test_what_save_checkpoint_writes_load_checkpoint_reads(tmp_path):
    net, h = _trained(0)
    h.meta.update(f=np.float64(1.5), i=np.int64(3), b=np.bool_(True), s=np.str_('x'), a=np.arange(3),
                  nested={'v': [np.float32(2.0), (np.int32(1),)]})
    save_checkpoint(tmp_path / 'ck.pt', net, h)
    net2, h2 = load_checkpoint(tmp_path / 'ck.pt')
    assert _same_net(net, net2)
    assert h2.meta['f'] == 1.5 and h2.meta['i'] == 3 and h2.meta['b'] is True and h2.meta['s'] == 'x'
    assert torch.equal(torch.as_tensor(h2.meta['a']), torch.arange(3))
    assert h2.meta['nested']['v'][0] == 2.0 and h2.meta['nested']['v'][1][0] == 1
    h3 = Writer(); h3.meta['x'] = np.float64(2.5)   # the history file too
    h3.save(tmp_path / 'h.pt')
    assert Writer.load(tmp_path / 'h.pt').meta['x'] == 2.5


def test_any_flipped_byte_or_truncation_of_a_checkpoint_is_refused(tmp_path):
    net, h = _trained(0)
    path = tmp_path / 'ck.pt'
    save_checkpoint(path, net, h)
    raw = path.read_bytes()
    positions = sorted(set(range(0, 200)) | set(np.linspace(0, len(raw) - 1, 300).astype(int).tolist()))
    for i in positions:
        bad = bytearray(raw); bad[i] ^= 0x01
        path.write_bytes(bytes(bad))
        with pytest.raises(ValueError, match='ck.pt'):
            load_checkpoint(path)
    for n in np.linspace(0, len(raw) - 1, 40).astype(int):
        path.write_bytes(raw[:n])
        with pytest.raises(ValueError, match='ck.pt'):
            load_checkpoint(path)


def test_damaged_or_foreign_checkpoint_files_get_one_sentence_naming_the_file(tmp_path):
    net, h = _trained(0)
    files = {'empty.pt': b'', 'text.pt': b'hello\n', 'random.pt': np.random.default_rng(0).bytes(300)}
    buf = io.BytesIO(); torch.save({'101': 1}, buf); files['foreign.pt'] = buf.getvalue()
    buf = io.BytesIO(); torch.save([1, 2], buf); files['list.pt'] = buf.getvalue()
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    h.save(tmp_path / 'history.pt'); files['history.pt'] = None
    (tmp_path / 'folder.pt').mkdir(); files['folder.pt'] = None
    for name in [*files, 'missing.pt']:
        with pytest.raises((ValueError, OSError)) as e:
            load_checkpoint(tmp_path / name)
        msg = str(e.value)
        assert name in msg and '\n' not in msg and len(msg) < 300, (name, msg)


def test_a_checkpoint_of_another_shape_is_refused_clearly(tmp_path):
    net, h = _trained(0)
    save_checkpoint(tmp_path / 'ck.pt', net, h)
    with pytest.raises(ValueError, match='depth_info'):
        load_checkpoint(tmp_path / 'ck.pt', _net(depth=(20, 3, 2)))
    X = np.random.default_rng(0).random((20, 12))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with pytest.raises(ValueError, match='checkpoint.*ranks'):
            train(_net(depth=(20, 3, 2)), X, epoch=1, labels=np.arange(12) % 2, verbose=False, resume=net.checkpoint)


# ---------- every writer ----------

def _writers(tmp_path):
    "(name, path, write old, write new) for every kind of file the package writes outside the command line."
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from neural_nmf.compare import _savefig
    (a, ha), (b, hb) = _trained(0), _trained(1)
    ca, cb = dl.from_matrix(np.ones((3, 2))), dl.from_matrix(np.full((3, 2), 2.0))
    def fig(v):
        f, ax = plt.subplots(); ax.plot([0, v]); return f
    return [('checkpoint', tmp_path / 'ck.pt', lambda p: save_checkpoint(p, a, ha), lambda p: save_checkpoint(p, b, hb)),
            ('history', tmp_path / 'h.pt', lambda p: ha.save(p), lambda p: hb.save(p)),
            ('corpus', tmp_path / 'c.npz', lambda p: dl.save_corpus(ca, p), lambda p: dl.save_corpus(cb, p)),
            ('figure', tmp_path / 'f.png', lambda p: _savefig(fig(1), p), lambda p: _savefig(fig(2), p))]


def test_every_file_the_package_writes_is_old_or_new_after_an_interrupt(tmp_path):
    for name, path, write_old, write_new in _writers(tmp_path):
        write_new(path); new = path.read_bytes()
        write_old(path); old = path.read_bytes()
        total = _count_events(lambda: write_new(path))
        for n in _points(total, 6 if name == 'figure' else 12):
            write_old(path)
            _interrupt_at(n, lambda: write_new(path))
            assert path.read_bytes() in (old, new), (name, n)


# ---------- 2, 4, 10: the command line ----------

DOCS = ['rockets reach orbit around the moon', 'the pitcher threw a baseball to the batter',
        'orbit and moon and rockets', 'baseball game with a pitcher', 'the moon orbit rockets launch',
        'batter hits the baseball']


def _main(args, capsys):
    from neural_nmf.cli import main
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    "A model folder as `neural-nmf fit --texts` writes it (without its figures, to be quick)."
    from neural_nmf.cli import save_model, texts_corpus
    corpus = texts_corpus(DOCS, stop_words=None)
    net = NMFNetwork([corpus.n_features, 2], dtype=torch.float64)
    train(net, corpus.X, epoch=2, seed=0, verbose=False)
    return save_model(tmp_path_factory.mktemp('model') / 'm', net, corpus.vocab,
                      {'text_vectorizer': corpus.extra['text_vectorizer']})


def test_any_output_path_equal_to_an_input_path_is_refused(tmp_path, model, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path('docs.csv').write_text('text\n' + '\n'.join(DOCS) + '\n', encoding='utf-8')
    Path('docs.txt').write_text('\n'.join(DOCS) + '\n', encoding='utf-8')
    Path('labels.txt').write_text('\n'.join('ab'[i % 2] for i in range(len(DOCS))) + '\n', encoding='utf-8')
    Path('sub').mkdir(); Path('link.csv').symlink_to('docs.csv')
    dl.save_corpus(dl.from_matrix(np.ones((3, 4))), 'x.npz')
    cases = [['transform', model, '--texts', 'docs.csv', '--out', 'docs.csv'],
             ['transform', model, '--texts', 'docs.csv', '--out', 'sub/../docs.csv'],
             ['transform', model, '--texts', 'docs.csv', '--out', tmp_path / 'link.csv'],
             ['transform', model, 'x.npz', '--out', './x.npz'],
             ['fit', '--texts', 'docs.txt', '--ranks', '2', '--epochs', '1', '--out', 'docs.txt'],
             ['fit', '--texts', 'docs.txt', '--labels', 'labels.txt', '--ranks', '2', '--epochs', '1', '--out', '.'],
             ['fit', '--texts', 'sub/../docs.txt', '--ranks', '2', '--epochs', '1', '--out', 'sub/..']]
    for args in cases:
        before = {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
        code, err = _main(args, capsys)
        assert code != 0 and '--out' in err, (args, code, err)
        assert {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before, args


WEIRD = ['\f', '\v', '\x1c', '\x1d', '\x1e', '\x85', '\u2028', '\u2029']


@pytest.mark.filterwarnings('ignore:Glyph')
def test_texts_and_labels_split_on_line_ends_only(tmp_path, model, capsys):
    from neural_nmf.cli import read_texts
    docs = [d.replace(' ', WEIRD[i % len(WEIRD)], 1) + WEIRD[(i + 3) % len(WEIRD)] + 'x' for i, d in enumerate(DOCS)]
    f = tmp_path / 'docs.txt'
    for end in ('\n', '\r\n'):
        f.write_bytes((end.join(docs) + end).encode('utf-8'))
        texts, names = read_texts(f)
        assert len(texts) == len(DOCS) and names[-1] == f'line {len(DOCS)}'
        assert [t.replace('\r', '') for t in texts] == docs
    labels = tmp_path / 'labels.txt'
    labels.write_bytes(('\n'.join(('a' if i % 2 else 'b') + WEIRD[i % len(WEIRD)] + 'y' for i in range(len(DOCS))) + '\n').encode())
    code, err = _main(['fit', '--texts', f, '--labels', labels, '--ranks', '2', '--epochs', '1', '--test-fraction', '0',
                       '--stop-words', 'none', '--out', tmp_path / 'out', '--quiet'], capsys)
    assert code == 0, err
    code, err = _main(['transform', model, '--texts', f, '--out', tmp_path / 'w.csv'], capsys)
    assert code == 0, err
    assert len((tmp_path / 'w.csv').read_text().splitlines()) == 1 + len(DOCS)   # header + one row per input line


def test_the_cli_decodes_text_as_the_library_does(tmp_path, model, capsys):
    text = '\n'.join(DOCS) + '\n'
    for enc, ok in (('utf-16-le', False), ('utf-16-be', False), ('utf-32-le', False), ('utf-16', True), ('utf-32', True),
                    ('utf-8-sig', True)):
        f = tmp_path / f'{enc}.txt'
        f.write_bytes(text.encode(enc))
        out = tmp_path / f'{enc}.csv'
        code, err = _main(['transform', model, '--texts', f, '--out', out], capsys)
        lib = None
        try:
            dl.from_matrix(np.ones((1, len(DOCS))), labels=f)
        except ValueError as e:
            lib = str(e)
        assert (code == 0) == ok and (lib is None) == ok, (enc, code, err, lib)
        if not ok:
            assert 'NUL' in err and 'NUL' in lib and not out.exists(), (enc, err)
        else:
            assert len(out.read_text().splitlines()) == 1 + len(DOCS)
