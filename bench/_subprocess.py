"""What the benchmarks that run each configuration in a fresh process share: the peak memory of this process, and
running one configuration of a script in a child process (`script --worker JSON`, which prints `RESULT {json}`)."""
import json
import os
import resource
import subprocess
import sys


def peak_mb():
    "Peak resident memory of this process in MB (getrusage sees torch's allocations, unlike tracemalloc)."
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024 if sys.platform != 'darwin' else r / 2**20      # Linux: KiB, macOS: bytes


def run_config(script, cfg, timeout, cwd, echo=False):
    """Run `cfg` through `script --worker` in a fresh Python process (its own memory peak); its result dict, or an error
    dict. `cfg['env']`, when given, adds environment variables for that process alone (set before Python starts)."""
    cmd = [sys.executable, script, '--worker', json.dumps(cfg)]
    env = dict(os.environ, **cfg.get('env', {}))
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)
    except subprocess.TimeoutExpired:
        return dict(name=cfg['name'], error=f'timed out after {timeout} s')
    if echo: sys.stderr.write(r.stdout.replace('RESULT ', '  result '))
    line = [l for l in r.stdout.splitlines() if l.startswith('RESULT ')]
    if r.returncode != 0 or not line:
        return dict(name=cfg['name'], error=(r.stderr.strip().splitlines() or ['no output'])[-1])
    return json.loads(line[-1][7:])
