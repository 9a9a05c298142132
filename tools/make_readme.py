"""Write README.md from nbs/index.ipynb without Quarto (which nbdev_readme needs and these machines lack).

Executes the notebook (so the README shows real outputs), drops `#| hide` cells and nbdev directives,
and writes GitHub-flavoured markdown. Usage: python tools/make_readme.py
"""
import re
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ExecutePreprocessor

ROOT = Path(__file__).resolve().parents[1]
_directive = re.compile(r'^\s*#\|.*$\n?', re.M)


def cell_markdown(cell):
    "Markdown for one executed cell ('' for hidden ones)."
    if cell.cell_type == 'markdown':
        return cell.source.strip() + '\n'
    if re.search(r'^\s*#\|\s*hide\b', cell.source, re.M):
        return ''
    out = ['```python\n' + _directive.sub('', cell.source).strip() + '\n```\n']
    for text in _output_texts(cell.get('outputs', [])):
        out.append('```\n' + text.rstrip() + '\n```\n')
    return '\n'.join(out)


def _output_texts(outputs):
    "The cell's outputs as texts, consecutive pieces of one stream joined (a kernel may send a stream in several messages)."
    texts, last_stream = [], None
    for o in outputs:
        text = o.get('text') or o.get('data', {}).get('text/plain', '')
        if not text: continue
        stream = o.get('name') if o.get('output_type') == 'stream' else None
        if stream is not None and stream == last_stream: texts[-1] += text
        else: texts.append(text)
        last_stream = stream
    return texts


def main():
    nb = nbformat.read(ROOT / 'nbs' / 'index.ipynb', as_version=4)
    ExecutePreprocessor(timeout=600).preprocess(nb, {'metadata': {'path': str(ROOT / 'nbs')}})
    body = '\n'.join(s for s in map(cell_markdown, nb.cells) if s)
    header = '<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->\n\n'
    (ROOT / 'README.md').write_text(header + body)
    print('wrote', ROOT / 'README.md')


if __name__ == '__main__':
    main()
