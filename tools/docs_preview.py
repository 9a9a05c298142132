#!/usr/bin/env python
"""Build a static HTML preview of the nbdev docs site, with no Quarto and no network.

    python tools/docs_preview.py --out _preview --no-exec   # render the stored outputs, as nbdev_docs does (CI)
    python tools/docs_preview.py --out _preview          # execute every notebook, write _preview/*.html
    python tools/docs_preview.py --out _preview --keep-going   # go on past a notebook that fails
    python tools/docs_preview.py --out _preview --jobs 2   # two notebooks at a time, each in its own process

Pages: every notebook in nbs/ (index.ipynb first, then filename order, as nbdev's sidebar), named as
nbdev/Quarto name them (`02_lsqnonneg.ipynb` -> `lsqnonneg.html`), plus `api.html` with the `show_doc`
of every name in each module's `__all__`.

What it does to each notebook (nbdev's own processors where it can, so the preview shows what
`nbdev_docs` would):
1. nbdev's `FrontmatterProc` (title and `> description` from the first `# Title` cell), `add_show_docs`
   (a `show_doc` cell after every exported function/class) and `clean_show_doc`;
2. executes the notebook with nbclient in `nbs/` (cells flagged with a `tst_flags` flag such as
   `#| slow` or `#| gpu`, and `#| eval: false` cells, are shown but not run; `--flags slow` runs them);
   with `--no-exec`, like nbdev_docs, keeps the stored outputs and runs only nbdev's `exec_show_docs`
   (import, exported and show_doc cells, in-process);
3. the rest of nbdev's docs processors (drop `#| hide`/`#| export` cells and directives, links, ...);
4. renders markdown (math is left as TeX for MathJax), code with Pygments, outputs (figures embedded
   as base64 PNG), honouring the Quarto cell options `echo`, `output`, `include`, `code-fold`.
Math is typeset in the browser by a local copy of MathJax 3 (tex-svg-full.js, from the PyPI package
`django-static-mathjax`, copied into OUT/_static/): no CDN, works from file:// or a localhost server.

Exit status: 0 when every notebook executed and every page was written; 1 otherwise (with
`--keep-going` all pages are still written, failing cells show their traceback on the page).
"""
import argparse, base64, copy, html, importlib, importlib.util, inspect, json, os, re, shutil, sys, time, traceback
import warnings
from configparser import ConfigParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MATHJAX_FILE = 'tex-svg-full.js'
MATHJAX_HINT = ('MathJax 3 not found: install it with `python -m pip install django-static-mathjax==3.2.2.1` '
                '(a zero-dependency wheel holding MathJax 3.2.2) or pass --mathjax PATH/TO/tex-svg-full.js')


def log(*a): print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- configuration and page list
def read_settings(root):
    cfg = ConfigParser(delimiters=['='], interpolation=None)
    cfg.read(root / 'settings.ini')
    return cfg['DEFAULT'] if cfg.has_section('DEFAULT') or cfg.defaults() else {}


def page_name(nb_path):
    "The html file nbdev/Quarto write for a notebook: lower case, numeric prefix dropped."
    return re.sub(r'^\d+[a-zA-Z0-9]*_', '', nb_path.name.lower()).rsplit('.', 1)[0] + '.html'


def list_notebooks(nbs):
    "index.ipynb first, then the other notebooks in filename order; like nbdev, skip names starting with _ or ."
    nbs_ = sorted(p for p in nbs.rglob('*.ipynb')
                  if not any(part.startswith(('_', '.')) for part in p.relative_to(nbs).parts))
    return sorted(nbs_, key=lambda p: (p.relative_to(nbs).as_posix() != 'index.ipynb', p.relative_to(nbs).as_posix()))


def sidebar_order(nbs):
    """[(notebook path relative to nbs, section or None)] from nbs/sidebar.yml (Quarto's sidebar, when
    custom_sidebar is on), or None when there is no such file."""
    f = nbs / 'sidebar.yml'
    if not f.is_file(): return None
    import yaml
    out = []
    def walk(items, section):
        for it in items or []:
            if isinstance(it, str): out.append((it, section))
            elif isinstance(it, dict) and 'section' in it: walk(it.get('contents'), it['section'])
            elif isinstance(it, dict) and 'href' in it and str(it['href']).endswith(('.ipynb', '.qmd')):
                out.append((it['href'], section))
    sb = (yaml.safe_load(f.read_text()) or {}).get('website', {}).get('sidebar', {})
    for s in (sb if isinstance(sb, list) else [sb]): walk(s.get('contents'), None)
    return out


def find_mathjax(explicit=None):
    if explicit:
        p = Path(explicit)
        if not p.is_file(): sys.exit(f'error: --mathjax {p} does not exist')
        return p
    spec = importlib.util.find_spec('mathjax')
    for loc in (spec.submodule_search_locations or []) if spec else []:
        p = Path(loc) / 'static' / 'mathjax' / 'es5' / MATHJAX_FILE
        if p.is_file(): return p
    sys.exit('error: ' + MATHJAX_HINT)


# ---------------------------------------------------------------- notebook processing
def directives(cell):
    "nbdev/Quarto `#| ...` directives of a code cell, as nbdev parses them (source left untouched)."
    from nbdev.process import extract_directives
    if cell.get('cell_type') != 'code': return {}
    c = copy.deepcopy(cell)
    if isinstance(c.get('source'), list): c['source'] = ''.join(c['source'])
    return extract_directives(c, remove=False)


def check_title_cell(nb_path):
    "nbdev's FrontmatterProc drops the WHOLE first `# Title` markdown cell: prose in it never reaches the docs."
    from execnb.nbio import read_nb
    nb = read_nb(nb_path)
    for c in nb.cells:
        if c.cell_type != 'markdown': continue
        src = c.source
        if not re.search(r'^#\s+\S', src, flags=re.M): continue
        rest = [l for l in src.splitlines() if l.strip() and not re.match(r'^(#\s+\S|>\s|-\s+\S.*:)', l)]
        if rest:
            return (f'{nb_path.name}: the title cell also holds {len(rest)} line(s) of prose '
                    f'("{rest[0][:50]}..."); nbdev drops that cell from the docs: move the prose to its own cell')
        return None
    return None


def execute(nb, nb_path, run_flags, skip_flags, timeout, root):
    """Execute `nb` (execnb AttrDict, already pre-processed) with nbclient; return (nb, error or None).
    Outputs are written into nb's cells. Skipped cells keep no outputs."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError
    from execnb.nbio import nb2dict
    d = nb2dict(nb)
    for c in d['cells']:
        c.setdefault('metadata', {})
        if isinstance(c.get('source'), list): c['source'] = ''.join(c['source'])
        if c['cell_type'] == 'code': c['outputs'], c['execution_count'] = [], None
    exe = nbformat.from_dict(copy.deepcopy(d))
    runnable = []
    for i, c in enumerate(exe.cells):
        if c.cell_type != 'code': continue
        dirs = directives(c)
        skip = any(f in dirs for f in skip_flags if f not in run_flags) or \
               str(dirs.get('eval:', [''])[0]).lower() == 'false'
        if skip: c.cell_type = 'raw'; c.pop('outputs', None); c.pop('execution_count', None)
        else: runnable.append(i)
    setup = nbformat.v4.new_code_cell('from nbdev.showdoc import show_doc')
    exe.cells.insert(0, setup)
    exe.metadata.setdefault('kernelspec', {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'})
    client = NotebookClient(exe, timeout=timeout, kernel_name='python3', allow_errors=False,
                            resources={'metadata': {'path': str(nb_path.parent)}})
    err = None
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError) as e:
        for i, c in enumerate(exe.cells[1:]):
            if c.cell_type == 'code' and any(o.get('output_type') == 'error' for o in c.get('outputs', [])):
                o = [o for o in c.outputs if o.output_type == 'error'][0]
                first = next((l for l in c.source.splitlines() if l.strip() and not l.lstrip().startswith('#|')), '')
                err = f'cell {i} ("{first[:60]}") raised {o.ename}: {o.evalue}'.strip()
                break
        else: err = f'{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ""}'
        if isinstance(e, CellTimeoutError): err = f'a cell ran past --timeout {timeout}s'
    except Exception as e:
        err = f'could not execute: {type(e).__name__}: {e}'
    if exe.cells[0].get('outputs') and any(o.get('output_type') == 'error' for o in exe.cells[0].outputs):
        err = err or 'nbdev.showdoc could not be imported in the kernel'
    for i in runnable:
        nb.cells[i]['outputs'] = exe.cells[i + 1].get('outputs', [])
    return err


def exec_show_docs(nb, nb_path):
    """What nbdev_docs does to a notebook it does not execute: nbdev's `exec_show_docs` processor runs the import
    cells, the exported cells and the `show_doc` cells (in an in-process CaptureShell, in the notebook's folder)
    so that the API docs appear; every other cell keeps its stored outputs. Returns an error text or None."""
    from fastcore.xtras import working_directory
    from nbdev.processors import NBProcessor, exec_show_docs as esd
    try:
        with warnings.catch_warnings(), working_directory(nb_path.parent):
            warnings.simplefilter('ignore')
            NBProcessor(nb=nb, procs=[esd], rm_directives=False).process()
    except Exception as e:
        cause = e.__cause__ or e
        return f'show_doc cells could not run: {str(e).splitlines()[0]} {type(cause).__name__}: {cause}'
    return None


def process_notebook(nb_path, args, skip_flags, root):
    "Return (frontmatter dict, processed execnb notebook, error or None)."
    from execnb.nbio import read_nb
    from nbdev.processors import (NBProcessor, FrontmatterProc, populate_language, add_show_docs, clean_show_doc,
                                  strip_ansi, hide_line, filter_stream_, rm_header_dash, rm_export, clean_magics,
                                  hide_, add_links, add_fold, mv_exports, strip_hidden_metadata)
    nb = read_nb(nb_path)
    err = None
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        NBProcessor(nb=nb, procs=[FrontmatterProc, populate_language, add_show_docs, clean_show_doc],
                    rm_directives=False).process()
    fm = dict(getattr(nb, 'frontmatter_', {}) or {})
    if not args.no_exec:
        err = execute(nb, nb_path, args.flags, skip_flags, args.timeout, root)
    else:
        err = exec_show_docs(nb, nb_path)
    # raw frontmatter cell inserted by FrontmatterProc: drop it, we keep fm
    nb.cells = [c for c in nb.cells if not (c.cell_type == 'raw' and c.source.lstrip().startswith('---'))]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        post = [strip_ansi, hide_line, filter_stream_, rm_header_dash, rm_export, clean_magics, hide_,
                add_links, add_fold, mv_exports, strip_hidden_metadata]
        try: NBProcessor(nb=nb, procs=post, rm_directives=True).process()
        except Exception as e:  # add_links needs the module index; do not lose the page for it
            log(f'  warning: nbdev post-processing failed ({type(e).__name__}: {e}); retrying without add_links')
            NBProcessor(nb=nb, procs=[p for p in post if p is not add_links], rm_directives=True).process()
    return fm, nb, err


def build_page(p, name, args, skip_flags, root):
    "Check and execute one notebook: (path, frontmatter, processed notebook, error or None, seconds, title warning)."
    t = time.time()
    log(f'[docs_preview] {p.relative_to(root)} -> {name}')
    if not p.exists():
        return p, None, None, 'disappeared during the build', 0.0, None
    try: w = check_title_cell(p)
    except Exception as e: w = f'{p.name}: unreadable notebook: {type(e).__name__}: {e}'
    try:
        fm, nb, err = process_notebook(p, args, skip_flags, root)
    except Exception as e:
        err = f'could not process: {type(e).__name__}: {e}'
        log(traceback.format_exc())
        fm, nb = {}, None
    if err: log(f'  FAILED {p.name}: {err}')
    log(f'  {p.name}: {time.time() - t:.1f}s')
    return p, fm, nb, err, time.time() - t, w


def build_pages(todo, names, args, skip_flags, root):
    """Yield `build_page` for every notebook of `todo`, in that order. With `--jobs N` (N > 1) N notebooks execute at
    once, each in its own forked process with its own kernel (outputs are the same: every notebook has a kernel of its
    own either way); without `--keep-going` the ones not yet started are dropped after the first failure."""
    import multiprocessing
    if args.jobs <= 1 or 'fork' not in multiprocessing.get_all_start_methods():
        for p in todo:
            r = build_page(p, names[p], args, skip_flags, root)
            yield r
            if r[3] and r[1] is not None and not args.keep_going: return   # a vanished notebook does not stop the build
        return
    from concurrent.futures import ProcessPoolExecutor
    # OpenMP threads that spin while they wait (libgomp's default) slow every parallel torch op many times over when
    # another kernel holds the other cores; passive waiting only changes how threads wait, never what they compute
    os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context('fork')) as pool:
        futures = [pool.submit(build_page, p, names[p], args, skip_flags, root) for p in todo]
        for p, f in zip(todo, futures):
            try: r = f.result()
            except Exception as e: r = (p, {}, None, f'could not build: {type(e).__name__}: {e}', 0.0, None)
            yield r
            if r[3] and r[1] is not None and not args.keep_going:
                for g in futures: g.cancel()
                return


# ---------------------------------------------------------------- html rendering
_quarto_attrs = re.compile(r'(\]\([^)]*\))\{[^{}\n]*\}')


def md2html(text):
    from nbconvert.filters.markdown_mistune import markdown2html_mistune
    # Quarto link attributes such as nbdev's [source](...){target="_blank"} are not markdown: drop them
    return markdown2html_mistune(_quarto_attrs.sub(r'\1', text))


def slugify(text):
    "Pandoc's auto_identifiers (what Quarto uses for heading ids)."
    s = html.unescape(re.sub(r'<[^>]+>', '', text)).strip().lower()
    s = re.sub(r'[^\w\s.\-]', '', s)
    s = re.sub(r'\s+', '-', s)
    s = re.sub(r'^[^a-z]+', '', s)
    return s or 'section'


class Page:
    def __init__(self, name, link_map, site_prefixes):
        self.name, self.link_map, self.site_prefixes = name, link_map, site_prefixes
        self.ids, self.toc = set(), []
        self.keep_ids = False   # True on the API page: its headings carry their own unique ids

    def uid(self, base):
        i, s = 0, base
        while s in self.ids: i += 1; s = f'{base}-{i}'
        self.ids.add(s)
        return s

    def fix_html(self, h):
        "Quarto-style heading ids, .ipynb links -> pages, links into the published site -> relative links."
        def head(m):
            lvl, inner = m.group(1), m.group(3)
            inner = re.sub(r'<a class="anchor-link"[^>]*>.*?</a>', '', inner)
            given = re.search(r'\bid="([^"]+)"', m.group(2) or '') if self.keep_ids else None
            hid = self.uid(given.group(1) if given else slugify(inner))
            if lvl in ('2', '3'): self.toc.append((int(lvl), hid, re.sub(r'<[^>]+>', '', inner)))
            return f'<h{lvl} id="{hid}" class="anchored">{inner}<a class="anchor-link" href="#{hid}">#</a></h{lvl}>'
        h = re.sub(r'<h([1-6])(\s[^>]*)?>(.*?)</h\1>', head, h, flags=re.S)

        def link(m):
            q, url = m.group(1), html.unescape(m.group(2))
            for pre in self.site_prefixes:
                if url.startswith(pre): url = url[len(pre):] or 'index.html'; break
            path, sep, frag = url.partition('#')
            if path and not re.match(r'^[a-z][a-z0-9+.-]*:', path):
                base = path.rsplit('/', 1)[-1]
                if base.endswith('.ipynb') or base.endswith('.qmd') or base.endswith('.md'):
                    path = self.link_map.get(base, page_name(Path(base)))
            return f'href={q}{html.escape(path + sep + frag, quote=True)}{q}'
        return re.sub(r'href=(["\'])(.*?)\1', link, h)


def highlight(code, lang='python'):
    from pygments import highlight as hl
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name
    try: lexer = get_lexer_by_name(lang or 'python')
    except Exception: lexer = get_lexer_by_name('text')
    return hl(code, lexer, HtmlFormatter(cssclass='highlight', nowrap=False))


def quarto_opts(src):
    "Split the leading Quarto `#| key: value` lines off a code cell's source."
    opts, lines = {}, src.splitlines()
    while lines and re.match(r'^\s*#\|', lines[0]):
        m = re.match(r'^\s*#\|\s*([\w-]+)\s*:\s*(.*?)\s*$', lines.pop(0))
        if m: opts[m.group(1)] = m.group(2).strip('"\'')
    return opts, '\n'.join(lines).strip('\n')


def _txt(v): return ''.join(v) if isinstance(v, list) else (v or '')


def render_output(o, page, asis):
    ot = o.get('output_type')
    if ot == 'stream':
        cls = 'stderr' if o.get('name') == 'stderr' else 'stdout'
        t = _txt(o.get('text'))
        return f'<pre class="output {cls}">{html.escape(t)}</pre>' if t.strip() else ''
    if ot == 'error':
        tb = '\n'.join(o.get('traceback') or [f"{o.get('ename')}: {o.get('evalue')}"])
        tb = re.sub(r'\x1B(?:[@-Z\\-_]|\[[0-?]*[ -/]*[@-~])', '', tb)
        return f'<pre class="output error">{html.escape(tb)}</pre>'
    data = o.get('data', {})
    if 'image/png' in data or 'image/jpeg' in data:
        mime = 'image/png' if 'image/png' in data else 'image/jpeg'
        b64 = _txt(data[mime]).replace('\n', '')
        alt = html.escape(_txt(data.get('text/plain', 'figure'))[:80], quote=True)
        # a retina figure (execnb's CaptureShell, which run_notebooks.py uses) has twice the pixels and its display
        # size in the output's metadata, as Jupyter and Quarto honour it
        meta = (o.get('metadata') or {}).get(mime) or {}
        size = ''.join(f' {k}="{int(meta[k])}"' for k in ('width', 'height') if isinstance(meta.get(k), (int, float)))
        return f'<div class="output figure"><img src="data:{mime};base64,{b64}" alt="{alt}"{size}></div>'
    if 'image/svg+xml' in data:
        return f'<div class="output figure">{_txt(data["image/svg+xml"])}</div>'
    if 'text/markdown' in data:
        return f'<div class="output markdown{" asis" if asis else ""}">{page.fix_html(md2html(_txt(data["text/markdown"])))}</div>'
    if 'text/html' in data:
        return f'<div class="output html">{page.fix_html(_txt(data["text/html"]))}</div>'
    if 'text/latex' in data:
        return f'<div class="output latex">{html.escape(_txt(data["text/latex"]))}</div>'
    if 'text/plain' in data:
        return f'<pre class="output plain">{html.escape(_txt(data["text/plain"]))}</pre>'
    return ''


def render_cell(c, page):
    if c.cell_type == 'markdown':
        src = c.source
        if src.strip().startswith('<!-- WARNING: THIS FILE WAS AUTOGENERATED'): return ''
        return f'<div class="cell markdown">{page.fix_html(md2html(src))}</div>'
    if c.cell_type != 'code': return ''
    opts, code = quarto_opts(c.source)
    if opts.get('include') == 'false': return ''
    parts = []
    if opts.get('echo') != 'false' and code.strip():
        block = f'<div class="source">{highlight(code, c.get("metadata", {}).get("language", "python"))}</div>'
        fold = opts.get('code-fold')
        if fold in ('true', 'show'):
            summ = html.escape(opts.get('code-summary', 'Code'))
            block = f'<details{" open" if fold == "show" else ""}><summary>{summ}</summary>{block}</details>'
        parts.append(block)
    if opts.get('output') != 'false':
        parts += [render_output(o, page, opts.get('output') == 'asis') for o in c.get('outputs', [])]
    parts = [p for p in parts if p]
    return f'<div class="cell code">{"".join(parts)}</div>' if parts else ''


CSS = r"""
:root { --side: 250px; --fg:#212529; --muted:#6c757d; --accent:#2780e3; --border:#dee2e6; }
* { box-sizing: border-box; }
body { margin:0; font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color:var(--fg); }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
nav.sidebar { position: fixed; top:0; left:0; bottom:0; width: var(--side); overflow-y:auto; padding: 1.2rem 1rem;
  border-right: 1px solid var(--border); background:#f8f9fa; }
nav.sidebar .site { font-weight: 700; font-size: 1.15rem; display:block; margin-bottom: .3rem; color: var(--fg); }
nav.sidebar .tag { font-size: .75rem; color: var(--muted); margin-bottom: 1rem; }
nav.sidebar ul { list-style:none; padding:0; margin:0; } nav.sidebar li a { display:block; padding:.25rem .5rem; border-radius:4px; color: var(--fg); }
nav.sidebar li.section { font-size: .8rem; text-transform: uppercase; color: var(--muted); margin: .7rem 0 .1rem .5rem; }
nav.sidebar li.insection a { padding-left: 1.2rem; }
nav.sidebar li a.active { background: #e3effc; color: var(--accent); font-weight:600; }
main { margin-left: var(--side); max-width: 1000px; padding: 1.5rem 2.5rem 4rem; }
header.title-block h1 { margin: .2rem 0 .3rem; font-size: 2.1rem; } header.title-block .description { color: var(--muted); font-size: 1.1rem; margin:0 0 1.5rem; }
nav.toc { font-size: .9rem; border-left: 3px solid var(--border); padding-left: .8rem; margin: 0 0 1.5rem; }
nav.toc ul { list-style: none; padding-left: 0; margin: .2rem 0; } nav.toc li.l3 { padding-left: 1rem; }
.cell { margin: .8rem 0; } .cell.code .source { border-left: 3px solid var(--accent); }
.highlight { background: #f6f8fa; padding: .6rem .8rem; overflow-x:auto; margin:0; border-radius: 0 4px 4px 0; }
.highlight pre { margin: 0; font-size: .86rem; white-space: pre-wrap; overflow-wrap: anywhere; }
pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .86rem; overflow-x:auto; }
pre.output { margin:.3rem 0; padding: .4rem .8rem; background: #fff; border: 1px solid #eee; white-space: pre-wrap; }
pre.output.stderr { background: #fff8e6; } pre.output.error { background:#fdecea; color:#a4000f; }
.output.figure img { max-width: 100%; height: auto; }
.output.markdown.asis h3, .output.markdown.asis h4 { font-family: "DejaVu Sans Mono", Menlo, monospace; }
.output.markdown.asis blockquote { margin-left: 0; }
table { border-collapse: collapse; margin: .6rem 0; display: block; max-width: 100%; overflow-x: auto; } th, td { border-bottom: 1px solid var(--border); padding: .25rem .6rem; text-align:left; }
blockquote { border-left: 4px solid var(--border); margin-left: 0; padding-left: 1rem; color: #495057; }
.anchor-link { visibility: hidden; margin-left: .4rem; color: var(--muted); } h1:hover .anchor-link, h2:hover .anchor-link, h3:hover .anchor-link { visibility: visible; }
footer.pager { display:flex; justify-content: space-between; border-top: 1px solid var(--border); margin-top: 3rem; padding-top: 1rem; }
.build-error { background:#fdecea; border:1px solid #f5c2c7; padding:.6rem 1rem; border-radius:4px; }
mjx-container[display="true"] { overflow-x: auto; overflow-y: hidden; }
"""

MATHJAX_CONFIG = r"""<script>
window.MathJax = {
  tex: { inlineMath: [['$', '$'], ['\\(', '\\)']], displayMath: [['$$', '$$'], ['\\[', '\\]']],
         processEscapes: true, tags: 'ams',
         packages: {'[-]': ['noundefined']} },  // an undefined macro is an error (check_docs reports it), not red text
  svg: { fontCache: 'global' },
  options: { enableMenu: false },
  startup: { typeset: true }
};
</script>"""


NAV_SECTIONS = {}


def page_html(site, title, desc, body, nav, cur, toc, prev, nxt):
    items, last = '', None
    for n, t in nav:
        sec = NAV_SECTIONS.get(n)
        if sec != last and sec: items += f'<li class="section">{html.escape(sec)}</li>'
        last = sec
        items += (f'<li{" class=insection" if sec else ""}><a href="{html.escape(n)}"{" class=active" if n == cur else ""}>'
                  f'{html.escape(t)}</a></li>')
    toc_html = ''
    if len(toc) > 1:
        toc_html = '<nav class="toc"><strong>On this page</strong><ul>' + ''.join(
            f'<li class="l{l}"><a href="#{i}">{html.escape(html.unescape(t))}</a></li>' for l, i, t in toc) + '</ul></nav>'
    pager = '<footer class="pager">' + (f'<a href="{prev[0]}">&larr; {html.escape(prev[1])}</a>' if prev else '<span></span>') + \
            (f'<a href="{nxt[0]}">{html.escape(nxt[1])} &rarr;</a>' if nxt else '<span></span>') + '</footer>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} – {html.escape(site['title'])}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="_static/preview.css">
{MATHJAX_CONFIG}
<script id="MathJax-script" defer src="_static/mathjax/{MATHJAX_FILE}"></script>
</head><body>
<nav class="sidebar"><a class="site" href="index.html">{html.escape(site['title'])}</a>
<div class="tag">offline docs preview (not the Quarto site)</div><ul>{items}</ul></nav>
<main><header class="title-block"><h1 class="title">{title}</h1>{f'<p class="description">{desc}</p>' if desc else ''}</header>
{toc_html}
{body}
{pager}
</main></body></html>
"""


# ---------------------------------------------------------------- API page
# names left out of the API page: private helpers and the command line's internals (documented on the CLI page)
INTERNAL = re.compile(r'^(_|cmd_|build_parser$)')


def clean_signature(md, obj, anchor):
    """show_doc markdown made readable: `*args`/`**kw` instead of `args:VAR_POSITIONAL`, no `NoneType`
    annotations, dataclass factories by name instead of `<factory>`, no `#LNone` source line, and a heading id
    unique on the page (`module-name`, so that `lsqnonneg` and `Lsqnonneg` do not collide)."""
    md = re.sub(r'(\w+):VAR_POSITIONAL', r'*\1', md)
    md = re.sub(r'(\w+):VAR_KEYWORD', r'**\1', md)
    md = re.sub(r':\s*NoneType\s*=\s*None', '=None', md)
    md = md.replace('#LNone)', ')')
    import dataclasses
    if dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            if f.default_factory is not dataclasses.MISSING:
                md = re.sub(rf'\b({f.name}(?::[\w\[\], .]+)?)=<factory>', rf'\1={f.default_factory.__name__}()', md)
    md = re.sub(r'^### (.+)$', lambda m: f'<h3 id="{anchor}">{m.group(1)}</h3>', md, count=1, flags=re.M)
    return md


def api_markdown(lib_name, lib_path, root):
    "Markdown sections (module, [show_doc markdown]) for every module's __all__; import errors are reported."
    from nbdev.showdoc import show_doc
    if str(root) not in sys.path: sys.path.insert(0, str(root))
    mods, problems = [], []
    for py in sorted(lib_path.rglob('*.py')):
        rel = py.relative_to(lib_path.parent).with_suffix('')
        if any(p.startswith('_') for p in rel.parts[1:]): continue
        modname = '.'.join(rel.parts)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                m = importlib.import_module(modname)
        except Exception as e:
            problems.append(f'api: cannot import {modname}: {type(e).__name__}: {e}')
            mods.append((modname, '', [f'*Could not import `{modname}`: {html.escape(str(e))}*']))
            continue
        names = [n for n in getattr(m, '__all__', []) if not INTERNAL.match(n)]
        if not names: continue
        docs, short = [], modname.rsplit('.', 1)[-1]
        for n in names:
            obj = getattr(m, n, None)
            if obj is None: problems.append(f'api: {modname}.__all__ names {n!r} which does not exist'); continue
            try:
                if not callable(obj):   # a constant: its value, not show_doc (which would document its type)
                    docs.append(f'<h3 id="{short}-{slugify(n)}">{n}</h3>\n\n```python\n{n} = {obj!r}\n```\n')
                    continue
                docs.append(clean_signature(show_doc(obj, name=n)._repr_markdown_(), obj, f'{short}-{slugify(n)}'))
                if inspect.isclass(obj):
                    for mn, mv in obj.__dict__.items():
                        mv = getattr(mv, 'fn', mv)   # scikit-learn's available_if wraps a method in a descriptor
                        if mn.startswith('_') or not inspect.isfunction(mv) or not mv.__doc__: continue
                        docs.append(clean_signature(show_doc(mv, name=f'{n}.{mn}')._repr_markdown_(), mv,
                                                    f'{short}-{slugify(n)}.{slugify(mn)}'))
            except Exception as e:
                problems.append(f'api: show_doc({modname}.{n}) failed: {type(e).__name__}: {e}')
        mods.append((modname, (m.__doc__ or '').strip().splitlines()[0] if m.__doc__ else '', docs))
    return mods, problems


# ---------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default='_preview', help='output folder (default: _preview; emptied first)')
    ap.add_argument('--nbs', default=None, help='notebook folder (default: nbs_path from settings.ini)')
    ap.add_argument('--keep-going', action='store_true',
                    help='build every page even when a notebook fails to execute (exit status is still 1)')
    ap.add_argument('--no-exec', action='store_true', help='do not execute: render the outputs stored in the notebooks')
    ap.add_argument('--flags', nargs='*', default=[], help='tst_flags whose cells should run too (e.g. slow)')
    ap.add_argument('--timeout', type=int, default=600, help='seconds per cell (default 600)')
    ap.add_argument('--jobs', type=int, default=1, help='notebooks executed at once, each in its own process (default 1)')
    ap.add_argument('--only', nargs='*', default=None, help='build only these notebooks (file names); nav lists all')
    ap.add_argument('--mathjax', default=None, help='path to a MathJax 3 tex-svg-full.js (default: from django-static-mathjax)')
    args = ap.parse_args(argv)

    t0 = time.time()
    root = ROOT
    for p in [Path.cwd(), *Path.cwd().parents]:
        if (p / 'settings.ini').is_file(): root = p; break
    os.chdir(root)
    cfg = read_settings(root)
    nbs = Path(args.nbs).resolve() if args.nbs else (root / cfg.get('nbs_path', 'nbs'))
    out = Path(args.out).resolve()
    mj = find_mathjax(args.mathjax)
    site = {'title': cfg.get('title', cfg.get('lib_name', 'docs'))}
    host = (cfg.get('doc_host', '') + cfg.get('doc_baseurl', '')).rstrip('/')
    prefixes = [host + '/'] if host else []
    skip_flags = [f for f in cfg.get('tst_flags', '').split('|') if f]
    env_pp = os.environ.get('PYTHONPATH', '')                # the kernels import this checkout's package
    os.environ['PYTHONPATH'] = str(root) + (os.pathsep + env_pp if env_pp else '')

    notebooks = list_notebooks(nbs)
    if not notebooks: sys.exit(f'error: no notebooks in {nbs}')
    sections = {}
    order_sb = sidebar_order(nbs)
    if order_sb:   # the sidebar's order and sections; notebooks it does not list go last
        pos = {n: i for i, (n, _) in enumerate(order_sb)}
        sections = {n: sec for n, sec in order_sb}
        notebooks.sort(key=lambda p: pos.get(p.relative_to(nbs).as_posix(), len(pos)))
    names = {p: (p.relative_to(nbs).parent / page_name(p)).as_posix() for p in notebooks}
    link_map = {p.name: names[p] for p in notebooks}
    if out.exists(): shutil.rmtree(out)
    (out / '_static' / 'mathjax').mkdir(parents=True)
    shutil.copy(mj, out / '_static' / 'mathjax' / MATHJAX_FILE)
    from pygments.formatters import HtmlFormatter
    (out / '_static' / 'preview.css').write_text(CSS + HtmlFormatter(style='friendly').get_style_defs('.highlight'))

    built, failures, warns = [], [], []
    todo = [p for p in notebooks if not (args.only and p.name not in args.only)]
    for p, fm, nb, err, secs, w in build_pages(todo, names, args, skip_flags, root):
        if w: warns.append(w)
        if err is not None and nb is None and fm is None:      # the notebook vanished: no page
            failures.append(f'{p.relative_to(root)}: {err}'); continue
        if err:
            failures.append(f'{p.relative_to(root)}: {err}')
            if not args.keep_going:
                log('stopping (use --keep-going to build the other pages anyway)')
                built.append((p, fm, nb, err, secs))
                break
        built.append((p, fm, nb, err, secs))

    titles = {}
    for p in notebooks:
        fm = next((b[1] for b in built if b[0] == p), None)
        if fm is None:
            try:
                from execnb.nbio import read_nb
                from nbdev.frontmatter import _md2dict
                fm = next((d for c in read_nb(p).cells if c.cell_type == 'markdown' and (d := _md2dict(c.source))), {})
            except Exception: fm = {}
        titles[p] = fm.get('title') or p.stem
    nav = [(names[p], titles[p]) for p in notebooks] + [('api.html', 'API reference')]
    NAV_SECTIONS.update({names[p]: sections.get(p.relative_to(nbs).as_posix()) for p in notebooks})

    def depth_fix(h, name):  # pages in sub folders need ../ for _static and nav links
        d = name.count('/')
        if not d: return h
        return re.sub(r'(href|src)="(?![a-z]+:|#|/)', lambda m: f'{m.group(1)}="' + '../' * d, h)

    order = [n for n, _ in nav]
    for p, fm, nb, err, secs in built:
        name = names[p]
        page = Page(name, link_map, prefixes)
        body = []
        if err: body.append(f'<div class="build-error"><strong>This notebook failed to execute:</strong> {html.escape(err)}</div>')
        if nb is not None:
            body += [render_cell(c, page) for c in nb.cells]
        i = order.index(name)
        prev = nav[i - 1] if i > 0 else None
        nxt = nav[i + 1] if i + 1 < len(nav) else None
        desc = page.fix_html(md2html(fm['description'])).strip() if fm.get('description') else ''
        desc = re.sub(r'^<p>(.*)</p>$', r'\1', desc, flags=re.S)
        h = page_html(site, html.escape(titles[p]), desc, '\n'.join(b for b in body if b), nav, name, page.toc, prev, nxt)
        dest = out / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(depth_fix(h, name), encoding='utf-8')

    # API reference
    lib_path = root / cfg.get('lib_path', cfg.get('lib_name', '').replace('-', '_'))
    page = Page('api.html', link_map, prefixes)
    page.keep_ids = True
    mods, api_probs = api_markdown(cfg.get('lib_name'), lib_path, root)
    failures += api_probs
    body = ['<div class="cell markdown"><p>Every public name in each module\'s <code>__all__</code> (private helpers and the command line\'s internal <code>cmd_*</code> functions left out), documented by '
            'nbdev\'s <code>show_doc</code>. The notebooks themselves explain the why and show examples.</p></div>']
    modidx = {}
    try:
        modidx = importlib.import_module(lib_path.name + '._modidx').d.get('syms', {})
    except Exception: pass
    nb_pos = {names[p].rsplit('/', 1)[-1]: i for i, p in enumerate(notebooks)}
    def mod_nb(modname): return next((v[0].split('#')[0] for v in modidx.get(modname, {}).values()), None)
    mods.sort(key=lambda t: nb_pos.get(page_name(Path(mod_nb(t[0]) or 'zz.ipynb')), len(nb_pos)))
    body.insert(1, '<div class="cell markdown"><p>Modules, in the order of the pages that explain them: ' +
                ', '.join(f'<a href="#{slugify(mn)}"><code>{mn}</code></a>' for mn, _, _ in mods) + '.</p></div>')
    for modname, mdoc, docs in mods:
        src_nb = mod_nb(modname)
        head = f'## {modname}\n\n' + (f'{mdoc}\n\n' if mdoc else '') + (f'Explained in [{src_nb}]({src_nb}).\n' if src_nb else '')
        body.append(f'<div class="cell markdown">{page.fix_html(md2html(head))}</div>')
        body += [f'<div class="output markdown asis">{page.fix_html(md2html(d))}</div>' for d in docs]
    (out / 'api.html').write_text(page_html(site, 'API reference', 'Every exported name, module by module.',
                                            '\n'.join(body), nav, 'api.html', [t for t in page.toc if t[0] == 2],
                                            nav[-2], None), encoding='utf-8')
    if not (out / 'index.html').exists():  # no index.ipynb (yet): a placeholder so that the nav works
        failures.append(f'{nbs.relative_to(root) if nbs.is_relative_to(root) else nbs}/index.ipynb does not exist: '
                        'the home page (and README source) is missing; wrote a placeholder index.html')
        body = '<div class="build-error">No <code>index.ipynb</code> in the notebook folder: placeholder page.</div>'
        (out / 'index.html').write_text(page_html(site, 'Missing index', '', body, nav, 'index.html', [], None,
                                                  nav[0]), encoding='utf-8')
    (out / '.nojekyll').write_text('')

    log(f'[docs_preview] wrote {len(built)} notebook page(s) + api.html to {out} in {time.time() - t0:.1f}s')
    for w in warns: print(f'WARNING {w}')
    for f in failures: print(f'FAIL {f}')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
