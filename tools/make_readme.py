"""Write README.md from nbs/index.ipynb without Quarto (which nbdev_readme needs and these machines lack).

Uses the outputs stored in the notebook (the ones the docs site shows; tests/test_notebooks.py checks that they are
current), or executes it when it has none or with --exec; drops `#| hide` cells and nbdev directives, and writes
GitHub-flavoured markdown. The README is read on GitHub and PyPI, where the site's pages are not next to it: links to
pages (`foo.html`, `foo.html#anchor`, `foo.ipynb`) become absolute links into the docs site, whose address
(settings.ini: doc_host + doc_baseurl) is also given on a "Documentation:" line under the title.
Usage: python tools/make_readme.py [--exec]
"""
import argparse, re, sys
from configparser import ConfigParser
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
_directive = re.compile(r'^\s*#\|.*$\n?', re.M)


def docs_url(root=ROOT):
    "The docs site's address from settings.ini (`doc_host` + `doc_baseurl`, as nbdev/Quarto's site-url), ending in /."
    cfg = ConfigParser(delimiters=['='], interpolation=None)
    cfg.read(Path(root) / 'settings.ini')
    d = cfg['DEFAULT']
    return d.get('doc_host', '').rstrip('/') + '/' + d.get('doc_baseurl', '').strip('/') + '/'


def page_name(name):
    "The page nbdev/Quarto write for a notebook: `02_lsqnonneg.ipynb` -> `lsqnonneg.html`."
    return re.sub(r'^\d+[a-zA-Z0-9]*_', '', name.lower()).rsplit('.', 1)[0] + '.html'


_md_link = re.compile(r'(\]\()([^)\s]+)(\))')
_html_link = re.compile(r'((?:href|src)=["\'])([^"\']+)(["\'])')


def absolute_links(md, base):
    """Relative links to site pages (`foo.html`, `foo.html#x`, `foo.ipynb`, `foo.ipynb#x`; markdown or href=)
    rewritten to `base` + page; other links (absolute, #anchors, other files) are left alone."""
    def fix(m):
        url = m.group(2)
        path, sep, frag = url.partition('#')
        if not path or re.match(r'^[a-z][a-z0-9+.-]*:|^/', path, re.I): return m.group(0)
        if not path.endswith(('.html', '.ipynb')) or '/' in path.strip('./'): return m.group(0)
        page = path[2:] if path.startswith('./') else path
        if page.endswith('.ipynb'): page = page_name(page)
        return m.group(1) + base + page + sep + frag + m.group(3)
    return _html_link.sub(fix, _md_link.sub(fix, md))


def cell_markdown(cell, base):
    "Markdown for one executed cell ('' for hidden ones)."
    if cell.cell_type == 'markdown':
        return absolute_links(cell.source.strip(), base) + '\n'
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
        if o.get('output_type') == 'stream' and o.get('name') == 'stderr': continue   # warnings, progress bars
        text = o.get('text') or o.get('data', {}).get('text/plain', '')
        if isinstance(text, list): text = ''.join(text)
        if not text: continue
        stream = o.get('name') if o.get('output_type') == 'stream' else None
        if stream is not None and stream == last_stream: texts[-1] += text
        else: texts.append(text)
        last_stream = stream
    return texts


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--exec', action='store_true', help='execute the notebook even if it has stored outputs')
    a = ap.parse_args(argv)
    nb = nbformat.read(ROOT / 'nbs' / 'index.ipynb', as_version=4)
    if a.exec or not any(c.get('outputs') for c in nb.cells if c.cell_type == 'code'):
        from nbconvert.preprocessors import ExecutePreprocessor
        print('executing nbs/index.ipynb (it has no stored outputs)' if not a.exec else 'executing nbs/index.ipynb')
        ExecutePreprocessor(timeout=600).preprocess(nb, {'metadata': {'path': str(ROOT / 'nbs')}})
    base = docs_url()
    parts = [s for s in (cell_markdown(c, base) for c in nb.cells) if s]
    if parts and parts[0].lstrip().startswith('# '):   # under the title and description: where the docs are
        parts.insert(1, f'**Documentation:** <{base}>\n')
    header = '<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->\n\n'
    (ROOT / 'README.md').write_text(header + '\n'.join(parts))
    print('wrote', ROOT / 'README.md')


if __name__ == '__main__':
    sys.exit(main())
