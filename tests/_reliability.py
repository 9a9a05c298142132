"""Helpers of the reliability tests: simulated Ctrl-C at any point of a call, small trained networks."""
import sys

import numpy as np
import torch

from neural_nmf import NMFNetwork, train


def count_events(fn):
    "The number of trace events of `fn()` (calls and lines of Python code)."
    count = [0]
    def tracer(frame, event, arg):
        count[0] += 1
        return tracer
    sys.settrace(tracer)
    try:
        fn()
    finally:
        sys.settrace(None)
    return count[0]


def interrupt_at(n, fn):
    "Run `fn()` with a Ctrl-C (KeyboardInterrupt) raised at its n-th trace event; True if it was interrupted."
    count = [0]
    def tracer(frame, event, arg):
        count[0] += 1
        if count[0] == n:
            raise KeyboardInterrupt
        return tracer
    grad = torch.is_grad_enabled()
    sys.settrace(tracer)
    try:
        fn()
    except KeyboardInterrupt:
        return True
    finally:
        sys.settrace(None)
        torch.set_grad_enabled(grad)     # an interrupt inside `torch.no_grad()`'s own code can leave it switched off
    return False


def points(total, k=24):
    "k event numbers spread over 1..total."
    return sorted({int(x) for x in np.linspace(1, total, k)})


def net(depth=(20, 4, 2), c=2, seed=0):
    "A seeded float64 network (by default with a classifier of two classes)."
    return NMFNetwork(list(depth), c=c, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def trained(seed=0, epochs=2):
    "A network trained for `epochs` epochs on seeded data with labels, and its history."
    X = np.random.default_rng(seed).random((20, 12))
    model = net(seed=seed)
    h = train(model, X, epoch=epochs, labels=np.arange(12) % 2, verbose=False, seed=seed)
    return model, h


def same_net(a, b):
    "Whether two networks hold bit-identical parameters."
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
