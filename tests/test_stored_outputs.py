"""Unit tests of the stored-outputs check of tests/test_notebooks.py (tools/run_notebooks.py: compare_outputs,
mask_text, stored_problems): a stale or missing output is caught, numbers that change from run to run are not."""
import json, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools'))
import run_notebooks as rn  # noqa: E402


def stream(text, name='stdout'): return {'output_type': 'stream', 'name': name, 'text': text.splitlines(True)}
def result(text, kind='execute_result', **more):
    return {'output_type': kind, 'data': {'text/plain': text.splitlines(True), **more}, 'metadata': {}}
def figure(): return result('<Figure size 600x400 with 1 Axes>', 'display_data', **{'image/png': 'iVBORw0KGgo=\n'})


def test_masked_numbers_pass():
    stored = [stream('epoch 10: loss 0.5312, accuracy 91.0%\nlr 1e-3, delta -2.5E+04\n'), figure()]
    fresh = [stream('epoch 10: loss 0.5307, accuracy 89.5%\nlr 1e-3, delta 3.25e+04\n'), figure()]
    assert rn.compare_outputs(stored, fresh) == []
    # a table whose column widths change with the numbers
    assert rn.compare_outputs([stream('run    time\n a   1.5 s\n b  12.25 s\n')],
                              [stream('run    time\n a   10.5 s\n b  2.25 s\n')]) == []


def test_ids_tqdm_stderr_ignored():
    stored = [stream('<Foo at 0x7f3a2b>\n'), stream('warning: old\n', 'stderr')]
    fresh = [stream(' 40%|####      | 4/10 [00:01<00:02, 3.1it/s]\n', 'stderr'),
             stream('<Foo at 0x55d1c0>\n100%|##########| 10/10 [00:03<00:00, 3.3it/s]\n')]
    assert rn.compare_outputs(stored, fresh) == []
    # a stream sent in several pieces compares as one
    assert rn.compare_outputs([stream('a 1\nb 2\n')], [stream('a 3\n'), stream('b 4\n')]) == []


def test_stale_text_caught():
    probs = rn.compare_outputs([stream('top words: apple, pear\n')], [stream('top words: space, orbit\n')])
    assert len(probs) == 1 and 'text differs' in probs[0] and 'space' in probs[0]
    assert rn.compare_outputs([result("'old name'")], [result("'new name'")])


def test_missing_and_kind_changes_caught():
    assert 'none is stored' in rn.compare_outputs([], [stream('hello\n')])[0]
    assert 'none is stored' in rn.compare_outputs([stream('warn\n', 'stderr')], [stream('hello\n')])[0]
    assert 'kinds of output differ' in rn.compare_outputs([stream('x\n')], [stream('x\n'), figure()])[0]
    html = result('df', **{'text/html': '<table></table>'})
    assert 'kinds of output differ' in rn.compare_outputs([result('df')], [html])[0]
    assert rn.compare_outputs([result('1')], [result('2', 'display_data')])   # execute_result vs display_data
    assert rn.compare_outputs([stream('printed\n')], []) != []                # stored output the run no longer makes


def test_header_only():
    a, b = [stream('name  loss\nfoo   0.1\n')], [stream('name  loss\nbar   0.1\n')]
    assert rn.compare_outputs(a, b) and rn.compare_outputs(a, b, header_only=True) == []
    assert rn.compare_outputs([stream('name loss\n')], [stream('name time\n')], header_only=True)


@pytest.mark.parametrize('src,shows', [("print('x')", True), ('df', True), ('net.history', True),
                                       ('x = 1', False), ('test_eq(1, 1)', False), ('fig, ax = plt.subplots()', True),
                                       ('#| slow\nres = run()\nres', True), ('res;', False)])
def test_shows_something(src, shows):
    assert rn.shows_something(src) == shows


def test_stored_problems_on_a_notebook(tmp_path):
    "End to end: run a small notebook, store its outputs, change one, and see the check name the cell."
    nb = {'cells': [
        {'cell_type': 'markdown', 'id': 'm0', 'metadata': {}, 'source': '# T\n\n> d'},
        {'cell_type': 'code', 'id': 'c1', 'metadata': {}, 'execution_count': None, 'outputs': [],
         'source': "import random\nprint('loss', random.random())"},
        {'cell_type': 'code', 'id': 'c2', 'metadata': {}, 'execution_count': None, 'outputs': [],
         'source': "print('words:', 'apple')"},
        {'cell_type': 'code', 'id': 'c3', 'metadata': {}, 'execution_count': None, 'outputs': [],
         'source': "#| slow\nprint('slow result')"}],
        'metadata': {'kernelspec': {'name': 'python3', 'display_name': 'python3', 'language': 'python'}},
        'nbformat': 4, 'nbformat_minor': 5}
    p = tmp_path / 'nb.ipynb'
    p.write_text(json.dumps(nb))
    assert not rn.has_stored_outputs(p)
    full = rn.run_nb(p, skip_flags=['gpu'], showerr=False)       # run_notebooks.py: slow cells run
    assert full.ok and rn.store_outputs(p, full) == 3 and rn.has_stored_outputs(p)
    test = rn.run_nb(p, skip_flags=['slow', 'gpu'], showerr=False)   # the notebook test: slow cells skipped
    assert test.ok and 'c3' in test.skipped
    assert rn.stored_problems(p, test) == []                     # the random number is masked
    d = json.loads(p.read_text())
    d['cells'][2]['outputs'][0]['text'] = ['words: pear\n']       # a stale output
    d['cells'][3]['outputs'] = []                                 # a slow cell without its output
    p.write_text(json.dumps(d))
    probs = rn.stored_problems(p, test)
    assert [(i, line) for i, line, _ in probs] == [(2, "print('words:', 'apple')"), (3, "print('slow result')")]
    assert 'pear' in probs[0][2] and 'slow' in probs[1][2]
