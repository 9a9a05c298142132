"""Run every notebook in nbs/ as a test, and check that the outputs stored in it (what the docs site shows) are current.

Each notebook is one pytest test. It is executed as nbdev's own runner `nbdev.test.test_nb` executes it (the runner
lives in `tools/run_notebooks.py`: `run_nb`, the same code with the fresh outputs kept): in-process in one
`execnb.CaptureShell`, in `nbs/` as working directory, the project root on `sys.path`; cells flagged with a
`tst_flags` flag from settings.ini (`#| slow`, `#| gpu`, `#| distributed`) are skipped unless named in the
NBDEV_FLAGS environment variable (for example `NBDEV_FLAGS=slow pytest tests`); a failing cell fails the test with
its traceback.

nbdev_docs (Quarto) does not execute notebooks: the site shows the outputs stored in the .ipynb files, which
`python tools/run_notebooks.py nbs/NAME.ipynb` writes. So the same run then compares its fresh outputs with the
stored ones, cell by cell (`compare_outputs` / `stored_problems` in tools/run_notebooks.py):
(a) a code cell that printed or displayed something must have stored output;
(b) the kinds of output must match: stream / display_data / execute_result and their mime types (image/png,
    text/html, ...); stderr (warnings, tqdm bars) is ignored;
(c) the text must match once every number (signs, decimals, exponents) is masked as `#`, whitespace is collapsed,
    `at 0x...` ids and tqdm progress-bar lines are dropped.
Cells skipped by the flags are not compared, but a `#| slow` cell that prints or plots must have some stored output
(run_notebooks.py runs slow cells; it skips only gpu and distributed ones unless asked).

Two switches, module constants (not environment variables: CI must check what the repository says):
- CHECK_STORED_OUTPUTS = True: do the comparison. False makes this file nbdev's plain notebook test again.
- ALLOW_UNRUN_NOTEBOOKS = True: a notebook with no stored output at all in any cell is not compared (it has not had
  its output-storing run yet). This is a transition setting: once every notebook has been run through
  tools/run_notebooks.py and committed, set it to False, so that a notebook committed without outputs fails.
"""
import os, sys
from configparser import ConfigParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'
NOTEBOOKS = sorted(p for p in NBS.glob('*.ipynb') if not p.name.startswith('_'))
sys.path.insert(0, str(ROOT / 'tools'))
import run_notebooks as rn  # noqa: E402

CHECK_STORED_OUTPUTS = True
ALLOW_UNRUN_NOTEBOOKS = False


def _flags():
    cfg = ConfigParser(delimiters=['='])
    cfg.read(ROOT / 'settings.ini')
    skip = [f for f in cfg['DEFAULT'].get('tst_flags', '').split('|') if f]
    force = [f for f in os.environ.get('NBDEV_FLAGS', '').split() if f]
    return skip, force


def test_found_notebooks():
    "The suite must never pass by running nothing."
    assert len(NOTEBOOKS) >= 2, f'no notebooks found in {NBS}'


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook(nb):
    skip, force = _flags()
    run = rn.run_nb(nb, skip_flags=skip, force_flags=force, basepath=ROOT, showerr=False)   # error: in the failure
    if not run.ok: pytest.fail(f'{nb.name} failed:\n{run.error}', pytrace=False)
    if not CHECK_STORED_OUTPUTS or run.nb is None or not run.ran: return
    if ALLOW_UNRUN_NOTEBOOKS and not rn.has_stored_outputs(nb): return
    probs = rn.stored_problems(nb, run)
    fix = f'run `python tools/run_notebooks.py nbs/{nb.name}` and commit the notebook'
    if probs:
        pytest.fail(f'{nb.name}: {len(probs)} stored output(s) missing or stale (the docs site shows stored outputs); '
                    f'fix: {fix}\n' + '\n'.join(f'  cell {i} ("{line[:60]}"): {p}' for i, line, p in probs),
                    pytrace=False)
