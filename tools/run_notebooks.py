#!/usr/bin/env python
"""Execute notebooks top to bottom and store their outputs in them, for the docs site.

    python tools/run_notebooks.py nbs/03_deep_nmf.ipynb      # one notebook
    python tools/run_notebooks.py --jobs 2                   # every notebook in nbs/, two at a time
    python tools/run_notebooks.py --flags gpu NB             # also run the `#| gpu` cells (on a machine with one)
    python tools/run_notebooks.py --no-write --cell-times 5 NB   # time it, print its 5 slowest cells, write nothing

nbdev_docs (Quarto) does not execute notebooks: the site shows the outputs stored in the .ipynb files. This tool
executes each notebook in a fresh process (one `execnb.CaptureShell`, the executor of nbdev's `test_nb`, so the
outputs are exactly what the notebook tests produce), in `nbs/` as working directory with the project root on
`sys.path`, and runs every code cell except
- cells flagged `#| gpu` or `#| distributed` (unless named in `--flags`), `#| eval: false` cells and
  `nbdev_export()` cells. `#| slow` cells ARE run, so that their outputs are stored and shown on the site;
- then it writes the fresh outputs into the notebook in place (cells it skipped keep whatever they had stored) and
  runs `nbdev_clean` on it: settings.ini has `clear_all = False`, so the outputs stay; execution counts, cell
  metadata and `at 0x...` ids in text reprs are stripped.
A notebook whose run fails is not written (the failing cell and its traceback are printed); exit status 1.

`tests/test_notebooks.py` imports `run_nb` and `stored_problems` from here: it executes each notebook the same way
(skipping the flagged cells, as nbdev's test_nb) and checks that the outputs stored in it are present and current.
"""
import argparse, ast, json, os, re, subprocess, sys, time
from configparser import ConfigParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'
NEVER_BY_DEFAULT = ('gpu', 'distributed')   # tst_flags that this tool still skips unless --flags names them


def tst_flags(root=ROOT):
    "The `tst_flags` of settings.ini (`slow|gpu|distributed` -> ['slow', 'gpu', 'distributed'])."
    cfg = ConfigParser(delimiters=['='], interpolation=None)
    cfg.read(Path(root) / 'settings.ini')
    return [f for f in cfg['DEFAULT'].get('tst_flags', '').split('|') if f]


def first_line(src):
    "The first line of a cell's source that is not an nbdev/Quarto directive (for messages)."
    return next((l.strip() for l in src.splitlines() if l.strip() and not l.lstrip().startswith('#|')), '')


# ---------------------------------------------------------------- execution (nbdev's test_nb, keeping the outputs)
def _cpu():
    "CPU seconds used so far by this process (every thread) and by its finished child processes."
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class NbRun:
    """The result of `run_nb`: ok, seconds, the executed notebook, ids of the cells run and skipped, per-cell wall
    and CPU seconds ({cell id: s}; CPU: the process, every thread, and the subprocesses a cell ran), error text."""
    def __init__(self, ok, secs, nb=None, ran=(), skipped=(), times=None, error='', cpu=None):
        self.ok, self.secs, self.nb, self.error = ok, secs, nb, error
        self.ran, self.skipped, self.times, self.cpu = set(ran), set(skipped), times or {}, cpu or {}


def run_nb(fn, skip_flags=(), force_flags=(), basepath=None, timeout=None, showerr=True):
    """Execute notebook `fn` exactly as `nbdev.test.test_nb` (nbdev 2.4.14) does and keep what it produced.

    Same semantics: `basepath` goes first on sys.path, IN_TEST=1, frontmatter `skip_exec` honoured, cells skipped
    when they are not code, call `nbdev_export()`, are `#| eval: false`, or carry a flag of `skip_flags` that is not
    in `force_flags`; one `CaptureShell(fn)` runs the rest in order in `fn`'s folder and stops at the first
    exception (its traceback goes to stderr as test_nb prints it). Returns an `NbRun` whose `nb` is the processed
    notebook (cells keep their `id` and original index `idx_`) with the fresh outputs in the cells that ran.
    `timeout`: seconds per cell (SIGALRM, main thread only), None for no limit."""
    from execnb.shell import CaptureShell
    from fastcore.basics import str2bool
    from fastcore.imports import IN_NOTEBOOK
    from fastcore.xtras import working_directory
    from nbdev.frontmatter import FrontmatterProc
    from nbdev.process import NBProcessor, nb_lang
    fn = Path(fn)
    if basepath: sys.path.insert(0, str(basepath))
    if not IN_NOTEBOOK: os.environ['IN_TEST'] = '1'
    flags = set(skip_flags) - set(force_flags)
    nb = NBProcessor(fn, procs=FrontmatterProc, process=True).nb
    fm = getattr(nb, 'frontmatter_', {})
    if str2bool(fm.get('skip_exec', False)) or nb_lang(nb) != 'python': return NbRun(True, 0.0, nb)

    ran, skipped, times, cpu, started = [], [], {}, {}, {}

    def _no_eval(cell):   # test_nb's _no_eval, recording what it decides
        if cell.cell_type != 'code': return True
        direc = getattr(cell, 'directives_', {}) or {}
        if ('nbdev_export' + '(' in cell.source or direc.get('eval:', [''])[0].lower() == 'false'
                or flags & direc.keys()):
            skipped.append(cell.id)
            return True
        started[cell.id] = time.time(), _cpu()
        return False

    def _done(cell):
        times[cell.id] = time.time() - started[cell.id][0]
        cpu[cell.id] = _cpu() - started[cell.id][1]
        ran.append(cell.id)

    start = time.time()
    k = CaptureShell(fn, timeout=timeout)
    error = ''
    try:
        with working_directory(fn.parent):
            k.run_all(nb, exc_stop=True, preproc=_no_eval, postproc=_done)
        ok = True
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt): raise
        error = k.prettytb(fname=fn) if k.exc is not None else f'{type(e).__name__}: {e}'
        if isinstance(e, TimeoutError) or isinstance(k.exc, TimeoutError):
            error = f'a cell ran past the timeout of {timeout}s\n' + error
        if showerr: sys.stderr.write(error + '\n')
        ok = False
    return NbRun(ok, time.time() - start, nb, ran, skipped, times, error, cpu)


# ---------------------------------------------------------------- storing outputs
def _plain(o):
    "execnb's AttrDicts (and anything nested) as plain JSON data."
    return json.loads(json.dumps(o))


def store_outputs(path, run):
    """Write the fresh outputs of `run` (an NbRun of `path`) into the notebook file in place: cells that ran get
    their outputs (none if they printed nothing); cells not run keep what they had. Returns the number of cells
    updated. Matching is by cell id (nbformat 4.5, kept by nbdev_clean), else by position."""
    raw = json.loads(Path(path).read_text(encoding='utf-8'))
    fresh = {c.id: c for c in run.nb.cells if c.get('cell_type') == 'code'}
    by_idx = {getattr(c, 'idx_', None): c for c in fresh.values()}
    n = 0
    for i, c in enumerate(raw['cells']):
        if c.get('cell_type') != 'code': continue
        f = fresh.get(c.get('id')) or by_idx.get(i)
        if f is None or f.id not in run.ran: continue
        c['outputs'] = _plain(f.get('outputs', []))
        c['execution_count'] = None
        n += 1
    from execnb.nbio import write_nb
    write_nb(raw, path)
    return n


def nbdev_clean(path):
    "Run nbdev_clean on one notebook (from the project root, so that settings.ini applies)."
    exe = Path(sys.executable).parent / 'nbdev_clean'
    cmd = [str(exe) if exe.exists() else 'nbdev_clean', '--fname', str(path)]
    subprocess.run(cmd, cwd=ROOT, check=True)


# ---------------------------------------------------------------- comparing fresh outputs with stored ones
NUMBER = re.compile(r'(?<![A-Za-z_])[-+−]?(?:\d[\d,_]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?')
TQDM = re.compile(r'\d+%\|.*\|.*(?:it/s|s/it|\?it)|^\s*\d+/\d+ \[\d|^.*\|[#█▏▎▍▌▋▊▉ ]*\|\s*\d+/\d+')
_HEX_ID = re.compile(r'(<.*?)( at 0x[0-9a-fA-F]+)(>)')


def _text(v): return ''.join(v) if isinstance(v, list) else (v or '')


def mask_text(t):
    """Text with what may legitimately change between runs neutralised: object ids (`at 0x...`, as nbdev_clean
    strips them), tqdm progress-bar lines dropped, every number (sign, thousands separators, decimals, exponent)
    replaced by `#`, runs of whitespace collapsed to one space."""
    t = _HEX_ID.sub(r'\1\3', t)
    t = '\n'.join(l for l in t.splitlines() if not TQDM.search(l))
    t = NUMBER.sub('#', t)
    return re.sub(r'\s+', ' ', t).strip()


def output_kinds(outputs):
    """[(kind, text)] for the outputs a reader sees, in order: stderr streams (warnings, tqdm bars) dropped,
    consecutive stdout pieces joined. kind is 'stream:stdout', or e.g. 'display_data:image/png,text/plain';
    text is the stream text or the text/plain (text/html, text/markdown when present) of the output."""
    out = []
    for o in outputs or []:
        ot = o.get('output_type')
        if ot == 'stream':
            if o.get('name') == 'stderr': continue
            if out and out[-1][0] == 'stream:stdout': out[-1] = (out[-1][0], out[-1][1] + _text(o.get('text')))
            else: out.append(('stream:stdout', _text(o.get('text'))))
        elif ot == 'error':
            out.append(('error:' + str(o.get('ename')), str(o.get('evalue'))))
        else:
            data = o.get('data', {})
            texts = [_text(data[m]) for m in ('text/markdown', 'text/html', 'text/plain', 'text/latex') if m in data]
            out.append((f'{ot}:' + ','.join(sorted(data)), '\n'.join(texts)))
    return [(k, t) for k, t in out if k != 'stream:stdout' or t.strip()]


def compare_outputs(stored, fresh, header_only=False):
    """Problems (a list of strings, empty when current) between a cell's `stored` outputs and the `fresh` ones
    of a run: (a) fresh output but nothing stored; (b) different kinds of output (stream / display_data /
    execute_result and their mime types; stderr ignored); (c) different text once `mask_text` has masked numbers,
    ids, progress bars and whitespace (with `header_only`, only the first line of each text is compared)."""
    s, f = output_kinds(stored), output_kinds(fresh)
    if f and not s: return [f'the run printed or displayed {len(f)} output(s) ({", ".join(k for k, _ in f)}) '
                            'but none is stored']
    ks, kf = [k for k, _ in s], [k for k, _ in f]
    if ks != kf: return [f'kinds of output differ: stored {ks}, fresh run {kf}']
    probs = []
    for j, ((k, ts), (_, tf)) in enumerate(zip(s, f)):
        ms, mf = mask_text(ts), mask_text(tf)
        if header_only:
            ms, mf = mask_text(ts.strip().split('\n', 1)[0]), mask_text(tf.strip().split('\n', 1)[0])
        if ms != mf:
            at = next((i for i, (a, b) in enumerate(zip(ms, mf)) if a != b), min(len(ms), len(mf)))
            probs.append(f'output {j} ({k}) text differs (numbers masked as #) at character {at}: stored '
                         f'"...{ms[max(0, at - 30):at + 50]}..." vs fresh "...{mf[max(0, at - 30):at + 50]}..."')
    return probs


_SHOWS = re.compile(r'\b(print|display|show|show_doc|plot|imshow|bar|barh|scatter|hist|subplots|figure|Markdown|'
                    r'HTML|pprint|tqdm|savefig|table)\s*\(')


def shows_something(src):
    """True when a cell's code visibly prints or plots: it calls print/display/plot/... or ends in a bare expression
    that is not a call (a name, attribute, subscript, literal: IPython shows its value)."""
    code = '\n'.join(l for l in src.splitlines() if not l.lstrip().startswith(('#|', '%', '!')))
    if _SHOWS.search(code): return True
    try: tree = ast.parse(code)
    except SyntaxError: return False
    last = tree.body[-1] if tree.body else None
    return isinstance(last, ast.Expr) and not isinstance(last.value, ast.Call) and not code.rstrip().endswith(';')


def stored_problems(path, run, header_only=False):
    """Every problem of the outputs stored in notebook `path` against `run` (an NbRun of it), as
    [(cell index, first line of the cell, problem)]. Cells the run skipped are not compared, but a `#| slow` cell
    that prints or plots must have some stored output (run_notebooks.py runs slow cells)."""
    raw = json.loads(Path(path).read_text(encoding='utf-8'))
    fresh = {c.id: c for c in run.nb.cells if c.get('cell_type') == 'code'}
    by_idx = {getattr(c, 'idx_', None): c for c in fresh.values()}
    out = []
    for i, c in enumerate(raw['cells']):
        if c.get('cell_type') != 'code': continue
        src = _text(c.get('source'))
        f = fresh.get(c.get('id')) or by_idx.get(i)
        if f is None: continue
        if f.id in run.ran:
            out += [(i, first_line(src), p) for p in compare_outputs(c.get('outputs', []), f.get('outputs', []),
                                                                       header_only)]
        elif 'slow' in (getattr(f, 'directives_', {}) or {}) and shows_something(src) and not output_kinds(c.get('outputs')):
            out.append((i, first_line(src), 'this `#| slow` cell prints or plots but has no stored output '
                                            '(the test skips it; run_notebooks.py runs it)'))
    return out


def has_stored_outputs(path):
    "True when at least one code cell of notebook `path` has a stored output."
    raw = json.loads(Path(path).read_text(encoding='utf-8'))
    return any(c.get('outputs') for c in raw['cells'] if c.get('cell_type') == 'code')


# ---------------------------------------------------------------- command line
def _worker(a):
    "Run one notebook in this (fresh) process; print a JSON summary as the last line of stdout."
    path = Path(a.notebook).resolve()
    skip = [f for f in tst_flags() if f in NEVER_BY_DEFAULT]
    os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
    run = run_nb(path, skip_flags=skip, force_flags=a.flags, basepath=ROOT, timeout=a.timeout or None)
    res = dict(nb=str(path), ok=run.ok, secs=run.secs, error=run.error[-3000:], n_ran=len(run.ran),
               times=sorted(((t, i) for i, t in run.times.items()), reverse=True), written=0,
               cpu=_cpu())
    if run.ok and not a.no_write:
        res['written'] = store_outputs(path, run)
        nbdev_clean(path)
    if run.nb is not None:
        src = {c.id: (getattr(c, 'idx_', -1), first_line(c.source or '')) for c in run.nb.cells}
        res['times'] = [(t, run.cpu.get(i, 0.0), src.get(i, (-1, ''))[0], i, src.get(i, (-1, ''))[1][:70])
                        for t, i in res['times']]
    print('\n' + json.dumps(res))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split('\n\n', 2)[2])
    ap.add_argument('notebooks', nargs='*', help='notebooks to run (default: every notebook in nbs/)')
    ap.add_argument('--jobs', type=int, default=1, help='notebooks run at once, each in its own process (default 1)')
    ap.add_argument('--timeout', type=int, default=1800, help='seconds per cell, 0 for none (default 1800)')
    ap.add_argument('--flags', nargs='*', default=[], help='also run cells with these flags (e.g. gpu distributed)')
    ap.add_argument('--no-write', action='store_true', help='execute and report, leave the notebooks untouched')
    ap.add_argument('--cell-times', type=int, default=0, metavar='N', help='print the N slowest cells of each notebook')
    ap.add_argument('--worker', dest='notebook', help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.notebook: return _worker(a)

    from concurrent.futures import ThreadPoolExecutor
    nbs = [Path(p).resolve() for p in a.notebooks] or sorted(
        p for p in NBS.glob('*.ipynb') if not p.name.startswith(('_', '.')))
    missing = [str(p) for p in nbs if not p.is_file()]
    if missing: sys.exit(f'error: no such notebook: {", ".join(missing)}')
    env = dict(os.environ, OMP_WAIT_POLICY=os.environ.get('OMP_WAIT_POLICY', 'PASSIVE'))
    env['PYTHONPATH'] = str(ROOT) + (os.pathsep + env['PYTHONPATH'] if env.get('PYTHONPATH') else '')

    def one(p):
        cmd = [sys.executable, __file__, '--worker', str(p), '--timeout', str(a.timeout)]
        if a.flags: cmd += ['--flags', *a.flags]
        if a.no_write: cmd.append('--no-write')
        t = time.time()
        r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        try: res = json.loads(r.stdout.strip().splitlines()[-1])
        except Exception:
            res = dict(nb=str(p), ok=False, secs=time.time() - t, times=[], written=0,
                       error=f'the worker exited with {r.returncode}:\n{r.stderr[-3000:]}')
        res['wall'] = time.time() - t
        return res

    t0, failed = time.time(), []
    with ThreadPoolExecutor(max(1, a.jobs)) as pool:
        for res in pool.map(one, nbs):
            name = Path(res['nb']).name
            status = 'ok' if res['ok'] else 'FAILED'
            what = ('not written' if a.no_write or not res['ok'] else f"{res['written']} cells stored, nbdev_clean")
            print(f"{name:34s} {status:6s} {res['wall']:7.1f}s wall ({res['secs']:.1f}s executing, "
                  f"{res.get('cpu', 0):.1f}s CPU; {what})", flush=True)
            for t, c, idx, cid, line in res['times'][:a.cell_times]:
                print(f'    {t:7.1f}s wall {c:7.1f}s CPU  cell {idx:3d} ({cid}): {line}', flush=True)
            if not res['ok']:
                failed.append(name)
                print('    ' + res['error'].replace('\n', '\n    '), file=sys.stderr)
    print(f'{len(nbs) - len(failed)}/{len(nbs)} notebooks ran in {time.time() - t0:.1f}s'
          + (f'; FAILED: {", ".join(failed)}' if failed else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
