"""No function or method of the package is longer than 60 lines (tools/check_lengths.py, which parses with ast)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / 'tools' / 'check_lengths.py'


def check(*args):
    r = subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout


def test_the_check_finds_long_functions_and_methods(tmp_path):
    lines = lambda n, indent: ''.join(f'{indent}x{i} = {i}\n' for i in range(n))
    (tmp_path / 'm.py').write_text('def short():\n    return 1\n\n'
                                   'class C:\n    def long(self):\n' + lines(60, '        ') +    # 61 lines
                                   'def exactly_60():\n' + lines(59, '    '))                      # 60 lines
    code, out = check(tmp_path / 'm.py')
    assert code == 1 and 'C.long' in out and 'short' not in out and 'exactly_60' not in out, out
    code, out = check('--max', 100, tmp_path / 'm.py')
    assert code == 0 and 'no function is longer than 100 lines' in out, out


def test_no_function_is_longer_than_60_lines():
    code, out = check()
    assert code == 0, f'functions longer than 60 lines (split them into named steps):\n{out}'
