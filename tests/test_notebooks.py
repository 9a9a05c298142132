"""Run every notebook in nbs/ as a test, through nbdev's own runner.

Each notebook is one pytest test; cells flagged with a `tst_flags` flag from settings.ini
(`#| slow`, `#| gpu`, `#| distributed`) are skipped unless named in the NBDEV_FLAGS environment
variable (for example `NBDEV_FLAGS=slow pytest tests`).
"""
import os
from configparser import ConfigParser
from pathlib import Path

import pytest
from nbdev import test as nbdev_test

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'
NOTEBOOKS = sorted(p for p in NBS.glob('*.ipynb') if not p.name.startswith('_'))


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
    ok, secs = nbdev_test.test_nb(nb, skip_flags=skip, force_flags=force, basepath=ROOT)
    assert ok, f'{nb.name} failed (see the traceback above)'
