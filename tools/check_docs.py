#!/usr/bin/env python
"""Open every page of a built docs preview in headless Chromium and fail on what a reader would see broken.

    python tools/check_docs.py _preview                  # after: python tools/docs_preview.py --out _preview

Serves the folder on 127.0.0.1 (a free port), opens each page in Debian's headless `chromium`, driven over
the Chrome DevTools protocol through a pipe (`--remote-debugging-pipe`: no chromedriver, no Python packages
beyond the standard library), waits for MathJax to finish, and reports one line per problem:

  MISSING   a notebook in nbs/ has no page (page names as nbdev/Quarto make them: 02_lsqnonneg.ipynb -> lsqnonneg.html)
  LINK      an internal link to a page or #anchor that does not exist
  MATH      a formula left unrendered: raw `$...$`, `$$`, `\\frac`, `\\mathbf`, ... in the visible text
            (code blocks and outputs in <pre>/<code> are not checked), or a MathJax error
  CONSOLE   a JavaScript error, a console.error, or a resource that failed to load (4xx/5xx, missing file)
  EXTERNAL  a request to anything but the local server (the preview must work offline)
  IMAGE     an <img> that did not decode
  OVERFLOW  at 1280 px: the page scrolls sideways, a code block, table, figure or output sticks out of the text
            column or has content clipped inside its box, or a text table in an output is wrapped by the browser
  MARKUP    a literal backtick in the page title, the <h1> or the sidebar
  LOCALPATH a local filesystem path (/work/, /tmp/, /home/..., site-packages, a virtualenv) anywhere on a page
  NUMBER    a number quoted in the prose (markdown cells; a decimal with >= 2 significant digits) that no output
            of the same page shows, to the digits quoted; definitions go in tools/prose_numbers.txt. Skipped (with
            a NOTE) for a page whose notebook has no stored output at all while ALLOW_UNRUN_NOTEBOOKS = True in
            tests/test_notebooks.py (a transition setting until every notebook has its outputs stored)

It saves screenshots (full page, 1280 px wide) of index, getting_started, demo, lsqnonneg and api into --screenshots
(default: PREVIEW/_screenshots). Exit status: 0 if no problem, 1 if any, 2 if it could not run.

Needs: `chromium` (Debian: `apt-get update && apt-get install -y chromium`), or --chromium PATH to another
Chromium/Chrome binary.
"""
import argparse, base64, functools, http.server, json, os, re, select, shutil, subprocess, sys, tempfile, threading
import time, urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_preview import list_notebooks, page_name, read_settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
INSTALL_HINT = ('chromium not found. Install Debian\'s headless-capable Chromium with:\n'
                '    apt-get update && apt-get install -y chromium\n'
                'or pass --chromium /path/to/chromium (any Chromium/Chrome with --remote-debugging-pipe).')
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         '--disable-default-apps', '--disable-extensions', '--mute-audio', '--hide-scrollbars',
         '--disable-features=Translate,MediaRouter,OptimizationHints', '--remote-debugging-pipe']
SCREENSHOT_PAGES = ['index.html', 'getting_started.html', 'demo.html', 'lsqnonneg.html', 'api.html']


class CDP:
    "Minimal Chrome DevTools protocol client over --remote-debugging-pipe (fd 3: commands in, fd 4: replies out)."
    def __init__(self, binary, user_data_dir, log_path):
        cmd_r, self.cmd_w = os.pipe()
        self.res_r, res_w = os.pipe()

        def child_fds():  # runs in the child before exec: put the pipe ends on fds 3 and 4 (inheritable)
            a, b = os.dup(cmd_r), os.dup(res_w)
            os.dup2(a, 3); os.dup2(b, 4)
        self.log = open(log_path, 'wb')
        self.proc = subprocess.Popen([binary, *FLAGS, f'--user-data-dir={user_data_dir}', 'about:blank'],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                                     preexec_fn=child_fds, close_fds=False)
        os.close(cmd_r); os.close(res_w)
        self.buf, self.next_id, self.events = b'', 0, []

    def _read(self, timeout):
        "Read one message (or None on timeout)."
        end = time.time() + timeout
        while b'\0' not in self.buf:
            left = end - time.time()
            if left <= 0: return None
            r, _, _ = select.select([self.res_r], [], [], left)
            if not r: return None
            chunk = os.read(self.res_r, 1 << 20)
            if not chunk: raise RuntimeError('chromium closed the DevTools pipe (crashed or exited); see its log')
            self.buf += chunk
        msg, self.buf = self.buf.split(b'\0', 1)
        return json.loads(msg)

    def send(self, method, params=None, session=None, timeout=60):
        self.next_id += 1
        mid = self.next_id
        msg = {'id': mid, 'method': method, 'params': params or {}}
        if session: msg['sessionId'] = session
        os.write(self.cmd_w, json.dumps(msg).encode() + b'\0')
        end = time.time() + timeout
        while True:
            m = self._read(max(0.0, end - time.time()))
            if m is None: raise TimeoutError(f'no reply to {method} within {timeout}s')
            if m.get('id') == mid:
                if 'error' in m: raise RuntimeError(f'{method}: {m["error"].get("message")}')
                return m.get('result', {})
            if 'method' in m: self.events.append(m)

    def wait_event(self, name, timeout):
        end = time.time() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e['method'] == name: return self.events.pop(i)
            m = self._read(max(0.0, end - time.time()))
            if m is None: return None
            if 'method' in m: self.events.append(m)

    def drain(self, secs=0.3):
        end = time.time() + secs
        while (m := self._read(max(0.0, end - time.time()))) is not None:
            if 'method' in m: self.events.append(m)

    def close(self):
        try: self.send('Browser.close', timeout=5)
        except Exception: pass
        try: self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired: self.proc.kill(); self.proc.wait()
        for fd in (self.cmd_w, self.res_r):
            try: os.close(fd)
            except OSError: pass
        self.log.close()


PAGE_JS = r"""
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    try { await MathJax.startup.promise; } catch (e) { console.error('MathJax failed: ' + e); }
  }
  const ids = Array.from(document.querySelectorAll('[id]')).map(e => e.id)
      .concat(Array.from(document.querySelectorAll('a[name]')).map(e => e.getAttribute('name')));
  const links = Array.from(document.querySelectorAll('a[href]')).map(a => ({href: a.href, raw: a.getAttribute('href'),
      text: (a.textContent || '').trim().slice(0, 40)}));
  const SKIP = new Set(['PRE','CODE','SCRIPT','STYLE','TEXTAREA','KBD','SAMP','MJX-CONTAINER','SVG','NOSCRIPT']);
  const BLOCK = /^(P|LI|TD|TH|DIV|H[1-6]|BLOCKQUOTE|DD|DT|FIGCAPTION|SUMMARY|HEADER|FOOTER|NAV|MAIN|BODY|SECTION)$/;
  const blocks = new Map();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let n;
  while ((n = walker.nextNode())) {
    let el = n.parentElement, skip = false, block = null;
    for (let e = el; e; e = e.parentElement) {
      if (SKIP.has(e.tagName.toUpperCase()) || (e.classList && (e.classList.contains('mathjax_ignore') ||
          e.classList.contains('tex2jax_ignore')))) { skip = true; break; }
      if (!block && BLOCK.test(e.tagName.toUpperCase())) block = e;
    }
    if (skip || !block) continue;
    if (!blocks.has(block)) blocks.set(block, []);
    blocks.get(block).push(n.nodeValue);
  }
  const texts = Array.from(blocks.values()).map(a => a.join(''));
  const merrors = [];
  const items = (window.MathJax && MathJax.startup && MathJax.startup.document) ? Array.from(MathJax.startup.document.math) : [];
  for (const it of items) {
    const e = it.typesetRoot && it.typesetRoot.querySelector('[data-mjx-error], mjx-merror');
    if (e) merrors.push((e.getAttribute('data-mjx-error') || e.textContent) + ' in: ' + String(it.math).slice(0, 120));
    else if (/\\\\[A-Za-z]{2,}/.test(String(it.math)))  // `\\approx`: a double-escaped backslash typesets as a line break + text
      merrors.push('double backslash before a command (escaped twice?) in: ' + String(it.math).slice(0, 120));
  }
  if (!items.length) document.querySelectorAll('[data-mjx-error], mjx-merror, .katex-error')
      .forEach(e => merrors.push(e.getAttribute('data-mjx-error') || e.getAttribute('title') || e.textContent));
  const badImgs = Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))
      .map(i => (i.getAttribute('src') || '').slice(0, 60));
  const nMath = document.querySelectorAll('mjx-container').length;
  // what a reader sees at 1280 px: content wider than the page or clipped inside its box
  const overflow = [];
  const main = document.querySelector('main') || document.body;
  const ms = getComputedStyle(main), mr = main.getBoundingClientRect();
  const right = mr.right - parseFloat(ms.paddingRight || 0);
  const snip = e => (e.textContent || e.getAttribute('alt') || '').trim().split('\n')[0].slice(0, 60);
  if (document.documentElement.scrollWidth > window.innerWidth + 1)
    overflow.push('the page scrolls sideways: ' + document.documentElement.scrollWidth + ' px wide at ' + window.innerWidth + ' px');
  for (const e of document.querySelectorAll('main pre, main table, main .highlight, main img, main .output')) {
    const r = e.getBoundingClientRect();
    if (r.width === 0) continue;
    if (r.right > right + 1) overflow.push(e.tagName.toLowerCase() + ' sticks out of the text column by ' +
        Math.round(r.right - right) + ' px: "' + snip(e) + '"');
    else if ((e.tagName === 'PRE' || e.tagName === 'TABLE') && e.scrollWidth > e.clientWidth + 1)
      overflow.push(e.tagName.toLowerCase() + ' content is clipped (' + e.scrollWidth + ' px in a ' + e.clientWidth +
          ' px box): "' + snip(e) + '"');
  }
  // a text table in an output that the browser wraps is unreadable: measure its lines unwrapped
  for (const e of document.querySelectorAll('main pre.output')) {
    const lines = (e.textContent || '').split('\n');
    const tabular = lines.filter(l => /\S {2,}\S|\|/.test(l)).length >= 3;
    if (!tabular) continue;
    const ws = e.style.whiteSpace; e.style.whiteSpace = 'pre';
    const wide = e.scrollWidth > e.clientWidth + 1, w = e.scrollWidth;
    e.style.whiteSpace = ws;
    if (wide) overflow.push('a text table in an output wraps (' + w + ' px of lines in a ' + e.clientWidth + ' px box): "' + snip(e) + '"');
  }
  const sidebar = Array.from(document.querySelectorAll('nav.sidebar a, #quarto-sidebar a')).map(a => a.textContent.trim());
  const h1 = Array.from(document.querySelectorAll('h1')).map(e => e.textContent.trim());
  // prose (markdown cells) and outputs, for the numbers-in-prose check
  const textOf = (root) => {
    const w = document.createTreeWalker(root, NodeFilter.SHOW_TEXT), out = [];
    let t;
    while ((t = w.nextNode())) {
      let skip = false;
      for (let e = t.parentElement; e && e !== root; e = e.parentElement)
        if (SKIP.has(e.tagName.toUpperCase()) || (e.classList && e.classList.contains('anchor-link'))) { skip = true; break; }
      if (!skip) out.push(t.nodeValue);
    }
    return out.join('');
  };
  const prose = Array.from(document.querySelectorAll('main .cell.markdown, main .description, main .cell-markdown, main .quarto-title-meta, main header p'))
      .filter(e => !e.closest('.output')).map(textOf);
  const outputs = Array.from(document.querySelectorAll('main .output, main .cell-output, main .cell-output-display'))
      .map(e => e.textContent + ' ' + Array.from(e.querySelectorAll('img')).map(i => i.getAttribute('alt') || '').join(' '));
  const bodyText = document.body.innerText + ' ' + Array.from(document.querySelectorAll('a[href], img[src]'))
      .map(e => (e.getAttribute('href') || e.getAttribute('src') || '').slice(0, 300)).filter(s => !s.startsWith('data:')).join(' ');
  return {ids, links, texts, merrors, badImgs, nMath, title: document.title, overflow, sidebar, h1, prose, outputs, bodyText};
})()
"""

RAW_MATH = [
    (re.compile(r'\$\$'), '$$'),
    (re.compile(r'(?<![\\\w$])\$(?=[^\s$])[^$\n]{1,300}?(?<=[^\s\\$])\$(?![\w$])'), '$...$'),
    (re.compile(r'\\[()\[\]]'), r'\( \['),
    (re.compile(r'\\(?:frac|dfrac|tfrac|mathbf|mathbb|mathcal|mathrm|mathsf|boldsymbol|operatorname|sum|prod|int|'
                r'sqrt|left|right|begin|end|top|cdot|cdots|ldots|dots|alpha|beta|gamma|delta|epsilon|eta|lambda|mu|'
                r'sigma|theta|tau|partial|nabla|min|max|arg|argmin|argmax|le|leq|ge|geq|ne|neq|in|approx|odot|'
                r'otimes|hat|tilde|bar|vec|text|textbf|quad|qquad|infty|rightarrow|to|mid|lVert|rVert|Vert|'
                r'langle|rangle|times|sim|geqslant|leqslant|succeq|preceq|ell|forall|exists)(?![A-Za-z])'), '\\command'),
    (re.compile(r'[\w)\]}]\^\{|[\w)\]}]_\{'), '^{ or _{'),
]


def raw_math(text):
    for rx, what in RAW_MATH:
        m = rx.search(text)
        if m:
            a, b = max(0, m.start() - 30), min(len(text), m.end() + 30)
            return what, ' '.join(text[a:b].split())
    return None


LOCAL_PATH = re.compile(r'(?:/work/|/tmp/|/home/\w|/root/|/Users/\w|site-packages|dist-packages|/usr/lib/python|'
                        r'/opt/conda|\.venv/|venv\d*/lib|[A-Z]:\\Users\\)')

# numbers quoted in prose: a decimal with >= 2 significant digits (0.53, 2.1, 9.01e-1), not part of a version,
# identifier, date or dotted name
PROSE_NUMBER = re.compile(r'(?<![\w.:/#@])(?<!\w-)(?<!\d,)(\d+\.\d+(?:[eE][-+]?\d+)?)(?![\w]|\.\d)')
ANY_NUMBER = re.compile(r'(?<![\w.])[-+]?(\d+\.?\d*(?:[eE][-+]?\d+)?)')


def significant(num):
    "Number of significant digits of a decimal string (leading zeros dropped)."
    mant = re.split(r'[eE]', num)[0].replace('.', '').lstrip('0')
    return len(mant)


def read_allow(path):
    "The allow-list: lines `PAGE NUMBER  # why` (PAGE may be *); returns {(page, number)}."
    allow = set()
    if not path or not Path(path).is_file(): return allow
    for ln in Path(path).read_text(encoding='utf-8').splitlines():
        ln = ln.split('#', 1)[0].strip()
        if not ln: continue
        page, *nums = ln.split()
        allow |= {(page, n) for n in nums}
    return allow


def number_found(num, outputs_numbers):
    "True if `num` (a decimal string from prose) equals an output number rounded to the digits num shows."
    x = float(num)
    mant = re.split(r'[eE]', num)[0]
    dec = len(mant.split('.')[1]) if '.' in mant else 0
    exp = int(re.split(r'[eE]', num)[1]) if re.search(r'[eE]', num) else 0
    step = 10.0 ** (exp - dec)
    for y in outputs_numbers:
        if abs(y - x) <= step / 2 * (1 + 1e-9): return True
        # the same number quoted as a percentage or as a fraction
        if abs(100 * y - x) <= step / 2 * (1 + 1e-9) or abs(y / 100 - x) <= step / 2 * (1 + 1e-9): return True
    return False


def prose_numbers(prose, outputs, allow, page):
    "Numbers quoted in the prose of a page that no output of the page shows: [(number, context)]."
    outs = []
    for t in outputs:
        for m in ANY_NUMBER.finditer(t.replace(',', '')):
            try: outs.append(float(m.group(1)))
            except ValueError: pass
    missing = []
    for text in prose:
        for m in PROSE_NUMBER.finditer(text):
            num = m.group(1)
            if significant(num) < 2: continue
            if (page, num) in allow or ('*', num) in allow: continue
            if number_found(num, outs): continue
            a, b = max(0, m.start() - 50), min(len(text), m.end() + 30)
            missing.append((num, ' '.join(text[a:b].split())))
    return missing


def serve(folder):
    handler = functools.partial(_QuietHandler, directory=str(folder))
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass


def find_chromium(explicit):
    if explicit:
        if Path(explicit).is_file() and os.access(explicit, os.X_OK): return explicit
        sys.exit(f'error: --chromium {explicit} is not an executable file\n' + INSTALL_HINT)
    for name in ('chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable', 'chrome'):
        p = shutil.which(name)
        if p: return p
    print('error: ' + INSTALL_HINT, file=sys.stderr)
    sys.exit(2)


def has_stored_outputs(nb_path):
    "True when some code cell of the notebook has a stored output (the site shows only stored outputs)."
    try: cells = json.loads(Path(nb_path).read_text(encoding='utf-8')).get('cells', [])
    except Exception: return True
    return any(c.get('outputs') for c in cells if c.get('cell_type') == 'code')


def allow_unrun_notebooks(root):
    """The transition switch ALLOW_UNRUN_NOTEBOOKS of tests/test_notebooks.py (one switch for the test and this
    check): while True, pages of notebooks that have no stored output at all skip the NUMBER check."""
    f = Path(root) / 'tests' / 'test_notebooks.py'
    m = re.search(r'^ALLOW_UNRUN_NOTEBOOKS\s*=\s*(True|False)\b', f.read_text(), re.M) if f.is_file() else None
    return bool(m) and m.group(1) == 'True'


def ids_in_file(path):
    t = path.read_text(encoding='utf-8', errors='replace')
    return set(re.findall(r'\sid=["\']([^"\']+)["\']', t)) | set(re.findall(r'<a\s[^>]*name=["\']([^"\']+)["\']', t))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('preview', nargs='?', default='_preview', help='the folder docs_preview.py wrote (default: _preview)')
    ap.add_argument('--nbs', default=None, help='notebook folder whose pages must exist (default: nbs_path of settings.ini)')
    ap.add_argument('--screenshots', default=None, help='where to save the screenshots (default: PREVIEW/_screenshots)')
    ap.add_argument('--chromium', default=None, help='path to the chromium binary (default: chromium on PATH)')
    ap.add_argument('--timeout', type=float, default=60, help='seconds to wait for one page to load and typeset (default 60)')
    ap.add_argument('--allow', default=str(Path(__file__).resolve().parent / 'prose_numbers.txt'),
                    help='allow-list of numbers quoted in prose that are not outputs (default: tools/prose_numbers.txt)')
    args = ap.parse_args(argv)
    allow = read_allow(args.allow)

    t0 = time.time()
    folder = Path(args.preview).resolve()
    if not (folder / 'index.html').is_file():
        print(f'error: {folder} has no index.html: build it first with python tools/docs_preview.py --out {args.preview}',
              file=sys.stderr)
        return 2
    root = ROOT
    for p in [Path.cwd(), *Path.cwd().parents]:
        if (p / 'settings.ini').is_file(): root = p; break
    cfg = read_settings(root)
    nbs = Path(args.nbs).resolve() if args.nbs else root / cfg.get('nbs_path', 'nbs')
    shots = Path(args.screenshots).resolve() if args.screenshots else folder / '_screenshots'
    binary = find_chromium(args.chromium)
    problems = []

    def problem(kind, page, msg):
        problems.append(f'{kind:<9} {page}: {msg}')

    # 1. every notebook has a page
    expected = {}
    for nb in list_notebooks(nbs) if nbs.is_dir() else []:
        rel = (nb.relative_to(nbs).parent / page_name(nb)).as_posix()
        expected[rel] = nb
        if not (folder / rel).is_file(): problem('MISSING', rel, f'no page for {nb.relative_to(root) if nb.is_relative_to(root) else nb}')
    if not expected: problem('MISSING', str(nbs), 'no notebooks found: is --nbs right?')
    elif 'index.html' not in expected: problem('MISSING', 'index.html', f'{nbs}/index.ipynb does not exist (home page, README source)')
    # notebooks with no stored output yet: their pages show no outputs, so their prose numbers cannot be found
    unrun = {rel for rel, nb in expected.items() if not has_stored_outputs(nb)} if allow_unrun_notebooks(root) else set()
    if unrun:
        print(f'[check_docs] NOTE: {len(unrun)} page(s) come from notebooks with no stored output (not yet run by '
              f'tools/run_notebooks.py); their NUMBER check is skipped while ALLOW_UNRUN_NOTEBOOKS = True in '
              f'tests/test_notebooks.py: {", ".join(sorted(unrun))}', file=sys.stderr)
    pages = sorted(p.relative_to(folder).as_posix() for p in folder.rglob('*.html')
                   if not any(part.startswith('_') for part in p.relative_to(folder).parts[:-1]))

    # 2. open every page
    srv = serve(folder)
    base = f'http://127.0.0.1:{srv.server_address[1]}/'
    udd = tempfile.mkdtemp(prefix='check_docs_chromium_')
    shots.mkdir(parents=True, exist_ok=True)
    log_path = shots / 'chromium.log'
    results, saved = {}, []
    cdp = None
    try:
        cdp = CDP(binary, udd, log_path)
        try: cdp.send('Browser.getVersion', timeout=30)
        except Exception as e:
            print(f'error: could not talk to {binary} ({e}); its log: {log_path}', file=sys.stderr); return 2
        tid = cdp.send('Target.createTarget', {'url': 'about:blank'})['targetId']
        sid = cdp.send('Target.attachToTarget', {'targetId': tid, 'flatten': True})['sessionId']
        for dom in ('Page', 'Runtime', 'Log', 'Network'): cdp.send(f'{dom}.enable', session=sid)
        cdp.send('Emulation.setDeviceMetricsOverride', {'width': 1280, 'height': 900, 'deviceScaleFactor': 1,
                                                        'mobile': False}, session=sid)
        for page in pages:
            url = base + urllib.parse.quote(page)
            cdp.drain(0.05); cdp.events.clear()
            nav = cdp.send('Page.navigate', {'url': url}, session=sid)
            if nav.get('errorText'): problem('CONSOLE', page, f'navigation failed: {nav["errorText"]}'); continue
            if cdp.wait_event('Page.loadEventFired', args.timeout) is None:
                problem('CONSOLE', page, f'did not finish loading within {args.timeout:.0f}s')
            r = cdp.send('Runtime.evaluate', {'expression': PAGE_JS, 'awaitPromise': True, 'returnByValue': True},
                         session=sid, timeout=args.timeout)
            cdp.drain(0.3)
            if 'exceptionDetails' in r:
                problem('CONSOLE', page, f'page check script failed: {r["exceptionDetails"].get("text")}'); continue
            res = r['result']['value']
            results[page] = res
            # console errors, failed loads, external requests
            urls = {}
            for e in cdp.events:
                m, p = e['method'], e.get('params', {})
                if m == 'Network.requestWillBeSent':
                    u = p['request']['url']; urls[p['requestId']] = u
                    if not (u.startswith(base) or u.startswith(('data:', 'about:', 'blob:'))):
                        problem('EXTERNAL', page, f'request to {u[:100]}')
                elif m == 'Network.loadingFailed' and not p.get('canceled'):
                    problem('CONSOLE', page, f'failed to load {urls.get(p["requestId"], "?")[:100]}: {p.get("errorText")}')
                elif m == 'Network.responseReceived' and p['response'].get('status', 200) >= 400:
                    problem('CONSOLE', page, f'HTTP {p["response"]["status"]} for {p["response"]["url"][:100]}')
                elif m == 'Runtime.exceptionThrown':
                    d = p['exceptionDetails']
                    desc = (d.get('exception') or {}).get('description') or d.get('text')
                    problem('CONSOLE', page, f'JS exception: {desc.splitlines()[0] if desc else d}')
                elif m == 'Runtime.consoleAPICalled' and p.get('type') in ('error', 'assert'):
                    txt = ' '.join(str(a.get('value', a.get('description', ''))) for a in p.get('args', []))
                    problem('CONSOLE', page, f'console.{p["type"]}: {txt[:200]}')
                elif m == 'Log.entryAdded' and p['entry'].get('level') == 'error':
                    en = p['entry']
                    if en.get('source') == 'network': continue  # reported through Network.* above
                    problem('CONSOLE', page, f'{en.get("source")}: {en.get("text", "")[:200]} {en.get("url", "")[:80]}')
            for what_snip in filter(None, map(raw_math, res['texts'])):
                problem('MATH', page, f'unrendered {what_snip[0]}: "{what_snip[1]}"')
            for err in res['merrors']: problem('MATH', page, f'MathJax error: {err}')
            for src in res['badImgs']: problem('IMAGE', page, f'image did not load: {src}')
            for o in dict.fromkeys(res['overflow']): problem('OVERFLOW', page, o)
            for where, texts in (('title', [res['title']] + res['h1']), ('sidebar', res['sidebar'])):
                for t in texts:
                    if '`' in t: problem('MARKUP', page, f'literal backtick in the {where}: "{t[:80]}"')
            for m in dict.fromkeys(mm.group(0) for mm in LOCAL_PATH.finditer(res['bodyText'])):
                i = res['bodyText'].find(m)
                problem('LOCALPATH', page, f'local path "{m}" in: "{" ".join(res["bodyText"][max(0, i - 60):i + 60].split())}"')
            if page != 'api.html' and page not in unrun:
                for num, ctx in prose_numbers(res['prose'], res['outputs'], allow, page):
                    problem('NUMBER', page, f'{num} in the prose is in no output of the page: "{ctx}"')
            if page in SCREENSHOT_PAGES:
                m = cdp.send('Page.getLayoutMetrics', session=sid)
                h = min(int(m.get('cssContentSize', m.get('contentSize'))['height']) + 1, 12000)
                shot = cdp.send('Page.captureScreenshot', {'format': 'png', 'captureBeyondViewport': True,
                                'clip': {'x': 0, 'y': 0, 'width': 1280, 'height': h, 'scale': 1}}, session=sid, timeout=120)
                dest = shots / page.replace('/', '_').replace('.html', '.png')
                dest.write_bytes(base64.b64decode(shot['data']))
                saved.append(dest)
    finally:
        if cdp: cdp.close()
        srv.shutdown()
        shutil.rmtree(udd, ignore_errors=True)

    # 3. internal links (after all pages were opened: anchors of every page are known)
    id_cache = {p: set(r['ids']) for p, r in results.items()}
    for page, res in results.items():
        seen = set()
        for ln in res['links']:
            href = ln['href']
            if not href.startswith(base) or href in seen: continue
            seen.add(href)
            u = urllib.parse.urlsplit(href)
            target = urllib.parse.unquote(u.path[1:]) or 'index.html'
            tpath = folder / target
            if tpath.is_dir(): tpath, target = tpath / 'index.html', (target.rstrip('/') + '/index.html').lstrip('/')
            if not tpath.is_file():
                problem('LINK', page, f'"{ln["text"]}" -> {ln["raw"]}: no such page'); continue
            if u.fragment and tpath.suffix == '.html':
                ids = id_cache.get(target)
                if ids is None: ids = id_cache[target] = ids_in_file(tpath)
                if urllib.parse.unquote(u.fragment) not in ids:
                    problem('LINK', page, f'"{ln["text"]}" -> {ln["raw"]}: no anchor #{u.fragment} in {target}')
    for want in SCREENSHOT_PAGES:
        if want not in results: problem('MISSING', want, 'no page to screenshot')

    n_math = sum(r['nMath'] for r in results.values())
    for p in problems: print(p)
    print(f'[check_docs] {len(results)} page(s) opened in {Path(binary).name}, {n_math} formulas typeset, '
          f'{len(problems)} problem(s), {time.time() - t0:.1f}s', file=sys.stderr)
    for s in saved: print(f'[check_docs] screenshot: {s}', file=sys.stderr)
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
