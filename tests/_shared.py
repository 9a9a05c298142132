"""What several test files share: one torch thread for tiny problems, the command line run in-process."""
import contextlib
import io

import pytest
import torch

from neural_nmf import cli


@pytest.fixture(autouse=True)
def one_thread():
    "Tiny problems: one torch thread is fastest and deterministic; the previous setting is restored afterwards."
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def run_cli(*argv):
    "main(argv) in-process: (exit code, stdout, stderr)."
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()
