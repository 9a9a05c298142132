"""List every function and method of neural_nmf/*.py longer than 60 lines (from `def` to its last line).

Parses the files with `ast` and imports nothing of the package. Usage: python tools/check_lengths.py [--max N] [FILE ...]
Exit 0 when none is longer, 1 (after printing them, longest first) when some are.
"""
import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 60


def _shown(path):
    "`path` relative to the repository when it is inside it."
    path = Path(path).resolve()
    return path.relative_to(ROOT) if ROOT in path.parents else path


def long_functions(path, max_lines=MAX_LINES):
    "(lines, 'file:line qualified.name') of every function or method in `path` longer than `max_lines`."
    tree = ast.parse(Path(path).read_text(encoding='utf-8'), filename=str(path))
    found = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f'{prefix}{child.name}'
                if not isinstance(child, ast.ClassDef):
                    n = child.end_lineno - child.lineno + 1
                    if n > max_lines: found.append((n, f'{_shown(path)}:{child.lineno} {name}'))
                visit(child, name + '.')
            else:
                visit(child, prefix)

    visit(tree, '')
    return found


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('files', nargs='*', help='default: neural_nmf/*.py')
    p.add_argument('--max', type=int, default=MAX_LINES, help=f'longest allowed, in lines (default {MAX_LINES})')
    a = p.parse_args(argv)
    files = a.files or sorted((ROOT / 'neural_nmf').glob('*.py'))
    found = sorted((f for path in files for f in long_functions(path, a.max)), reverse=True)
    for n, where in found:
        print(f'{n:4d} lines  {where}')
    print(f'{len(found)} function(s) longer than {a.max} lines' if found else f'no function is longer than {a.max} lines')
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main())
