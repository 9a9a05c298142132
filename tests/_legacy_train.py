"""`train(net, X, ...)`: projected gradient descent (or Adam) on a `Neural_NMF` network, unsupervised, supervised or semi-supervised; plus the layer-wise `hierarchical_nmf` baseline and checkpoints."""

# Frozen copy of the pre-refactor training loop (neural_nmf/train.py at commit 2cb5e53), used only as a bitwise
# oracle by tests/test_train_bitwise.py. Do not edit and do not import from the package.

# %% auto #0
__all__ = ['DEFAULT_LAM', 'nmf', 'hierarchical_nmf', 'top_down_nmf', 'initialize', 'TrainingInterrupted', 'train',
           'save_checkpoint', 'load_checkpoint']

# %% ../nbs/04_train.ipynb #f1ffc3d5
import contextlib
import copy
import hashlib
import math
import signal
import threading
import time
import warnings

# %% ../nbs/04_train.ipynb #b5274bc0
import numpy as np
import torch
from tqdm import tqdm
from neural_nmf.deep_nmf import (Neural_NMF, EnergyLoss, as_data, get_loss, get_class_loss, prepare_labels, compute_loss,
                                 project_unit_columns,
                                 sq_norm, sq_residual)
from neural_nmf.lsqnonneg import lsqnonneg
from neural_nmf.writer import Writer

# %% ../nbs/04_train.ipynb #f0b48213
def _check_nonneg(X, name='X'):
    v = X._values() if X.layout == torch.sparse_coo else X
    if bool((v < 0).any()):
        raise ValueError(f"Negative values in data passed to {name}: NMF needs X >= 0 "
                         f"(use init='random' for Neural NMF on signed data)")

def _positive_int(v, name):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{name} must be a positive integer, got {v!r}")
    return int(v)

def _mm_xt(X, S):
    "$XS^T$ for dense or sparse X."
    return torch.sparse.mm(X, S.T) if X.layout == torch.sparse_coo else X @ S.T

def _mm_atx(A, X):
    "$A^TX$ for dense or sparse X."
    return torch.sparse.mm(X.t(), A).t() if X.layout == torch.sparse_coo else A.T @ X

def _rel_sq_error(X, A, S, xx):
    "$\\|X-AS\\|_F^2/\\|X\\|_F^2$ from the small products only (X dense or sparse)."
    tiny = torch.finfo(A.dtype).tiny
    return float((xx - 2 * (_mm_atx(A, X) * S).sum() + ((A.T @ A) * (S @ S.T)).sum()) / xx.clamp(min=tiny))

def _hals(X, k, n_iter, tol, generator, xx):
    "One HALS run from a random start; returns `(A, S, relative squared error)`."
    m, n = X.shape
    # uniform entries of A and S with E[(AS)_ij] = k scale^2 / 4 = rms(X): the start scales like sqrt(X), so X -> cX
    # gives the same run with A, S scaled by sqrt(c) (the start, hence the result, does not depend on the units of X)
    scale = (4 * (xx / (m * n)).sqrt() / k).sqrt().clamp(min=torch.finfo(X.dtype).tiny)
    A = torch.rand(m, k, generator=generator, dtype=X.dtype).to(X.device) * scale
    S = torch.rand(k, n, generator=generator, dtype=X.dtype).to(X.device) * scale
    tiny = torch.finfo(X.dtype).tiny
    prev = None
    for it in range(n_iter):
        AtX, AtA = _mm_atx(A, X), A.T @ A
        for j in range(k):
            S[j] = (S[j] + (AtX[j] - AtA[j] @ S) / AtA[j, j].clamp(min=tiny)).clamp(min=0)
        XSt, SSt = _mm_xt(X, S), S @ S.T
        for j in range(k):
            A[:, j] = (A[:, j] + (XSt[:, j] - A @ SSt[:, j]) / SSt[j, j].clamp(min=tiny)).clamp(min=0)
        d = A.norm(dim=0).clamp(min=tiny)
        A /= d; S *= d[:, None]
        if (it + 1) % 10 == 0:
            err = _rel_sq_error(X, A, S, xx)
            if prev is not None and prev - err < tol * max(prev, tiny): break
            prev = err
    return A, S, _rel_sq_error(X, A, S, xx)

def nmf(X,                 # (m, n) nonnegative data, dense or sparse
        k:int,             # rank
        n_iter:int=200,    # HALS sweeps per run
        tol:float=1e-6,    # stop a run when its relative error improves by less than this over 10 sweeps
        generator=None,    # torch.Generator for the random starts
        restarts:int=1,    # independent random starts; the run with the lowest error is returned
        dtype=None, device=None):
    "Plain NMF $X\\approx AS$ ($A\\ge0$ m x k with unit columns, $S\\ge0$ k x n) by HALS, best of `restarts` runs; returns `(A, S)`."
    X = as_data(X, dtype=dtype, device=device)
    _check_nonneg(X, 'nmf')
    m, n = X.shape
    k = int(k) if isinstance(k, np.integer) else k
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= m:
        raise ValueError(f"rank k={k!r} must be an integer between 1 and m={m}")
    restarts = _positive_int(restarts, 'restarts')
    xx = sq_norm(X)
    best = None
    for _ in range(restarts):
        run = _hals(X, k, n_iter, tol, generator, xx)
        if best is None or run[2] < best[2]: best = run
    return best[0], best[1]

def hierarchical_nmf(X,             # (m, n) nonnegative data (features x samples), dense or sparse
                     ranks,         # [k1, ..., kL], non-increasing
                     n_iter:int=200, tol:float=1e-6,
                     seed:int=None, generator=None, dtype=None, device=None,
                     restarts:int=1):  # NMF runs per layer, the best one kept
    "Layer-wise NMF baseline: $X\\approx A_1S_1$, $S_1\\approx A_2S_2$, ...; returns `(A_list, S_list)`."
    X = as_data(X, dtype=dtype, device=device)
    _check_nonneg(X, 'hierarchical_nmf')
    if isinstance(ranks, int): ranks = [ranks]
    from neural_nmf.deep_nmf import check_depth_info
    ranks = check_depth_info([X.shape[0], *ranks])[1:]
    if generator is None and seed is not None: generator = torch.Generator().manual_seed(int(seed))
    As, Ss, S = [], [], X
    for k in ranks:
        A, S = nmf(S, k, n_iter=n_iter, tol=tol, generator=generator, restarts=restarts)
        As.append(A); Ss.append(S)
    return As, Ss

# %% ../nbs/04_train.ipynb #66a8eea7
def top_down_nmf(X,                # (m, n) nonnegative data (features x samples), dense or sparse
                 ranks,            # [k1, ..., kL], non-increasing
                 restarts:int=3,   # NMF runs of X per layer, the best one kept
                 n_iter:int=200, tol:float=1e-6,
                 seed:int=None, generator=None, dtype=None, device=None):
    "Top-down start: $W_l$ = best rank-$k_l$ NMF of X, $A_1=W_1$, $A_l=\\arg\\min_{A\\ge0}\\|W_l-A_1\\cdots A_{l-1}A\\|_F$; returns `[A_1, ..., A_L]`."
    X = as_data(X, dtype=dtype, device=device)
    _check_nonneg(X, 'top_down_nmf')
    if isinstance(ranks, (int, np.integer)): ranks = [ranks]
    from neural_nmf.deep_nmf import check_depth_info
    ranks = check_depth_info([X.shape[0], *ranks])[1:]
    if generator is None and seed is not None: generator = torch.Generator().manual_seed(int(seed))
    As, P = [], None
    for l, k in enumerate(ranks):
        W, _ = nmf(X, k, n_iter=n_iter, tol=tol, generator=generator, restarts=restarts)
        A = W if P is None else lsqnonneg(P, W)
        Q = A if P is None else P @ A
        d = Q.norm(dim=0)
        if bool((d == 0).any()):                       # W_l's column is orthogonal to the cone of P: nearest generator
            dead = (d == 0).nonzero().flatten()
            A[:, dead] = 0
            A[(P.T @ W[:, dead]).argmax(0), dead] = 1
            Q = P @ A; d = Q.norm(dim=0)
        A = A / (d if l == len(ranks) - 1 else A.norm(dim=0))[None, :]
        As.append(A); P = A if P is None else P @ A
    return As

# %% ../nbs/04_train.ipynb #803af457
def initialize(net, X, init='topdown', seed:int=None, generator=None, nmf_iter:int=100,
               restarts:int=3):   # NMF runs per layer for 'topdown' (and 'nmf'), the best one kept
    "Initialise `net`'s $A_i$ (and $B$) from X (m x n): 'topdown', 'nmf' (hierarchical NMF), 'random' or a list of matrices."
    p = net.layers[0].A
    X = as_data(X, dtype=p.dtype, device=p.device)
    if generator is None: generator = torch.Generator().manual_seed(int(seed)) if seed is not None else None
    with torch.no_grad():
        if isinstance(init, str) and init == 'random':
            S = X
            for layer in net.layers:
                layer.init_from_data(S, generator=generator)
                S = layer(S)
        elif isinstance(init, str) and init in ('topdown', 'top_down'):
            As = top_down_nmf(X, net.depth_info[1:], restarts=restarts, n_iter=nmf_iter, generator=generator)
            for layer, A in zip(net.layers, As): layer.A.copy_(A)
        elif isinstance(init, str) and init in ('nmf', 'hierarchical_nmf'):
            As, _ = hierarchical_nmf(X, net.depth_info[1:], n_iter=nmf_iter, generator=generator, restarts=restarts)
            for layer, A in zip(net.layers, As): layer.A.copy_(A)
        elif isinstance(init, (list, tuple)):
            if len(init) != net.depth: raise ValueError(f"init has {len(init)} matrices, the network has {net.depth} layers")
            for i, (layer, A) in enumerate(zip(net.layers, init)):
                A = torch.as_tensor(A, dtype=p.dtype, device=p.device)
                if A.shape != layer.A.shape: raise ValueError(f"init[{i}] has shape {tuple(A.shape)}, expected {tuple(layer.A.shape)}")
                if bool((A < 0).any()): raise ValueError(f"init[{i}] has negative entries: every A_i must be >= 0")
                layer.A.copy_(A)
        else:
            raise ValueError(f"unknown init {init!r}: use 'topdown', 'nmf', 'random' or a list of matrices")
        if net.linear is not None:
            w = net.linear.weight
            b = 1 / w.shape[1] ** 0.5
            w.copy_(torch.rand(w.shape, generator=generator, dtype=w.dtype).mul(2 * b).sub(b).to(w.device))
        for layer in net.layers: layer._support = None      # new dictionaries: no warm start from the old ones
    net.initialized = True
    return net

# %% ../nbs/04_train.ipynb #889cd298
def _b_explicit(lr, L):
    "Whether `lr` names a step size for B explicitly (a list of L+1 entries, or a dict with key 'B')."
    return (isinstance(lr, dict) and 'B' in lr) or (isinstance(lr, (list, tuple)) and len(lr) == L + 1)

def _parse_lr(lr, L, has_B):
    "Per-block step sizes [A1, ..., AL, (B)] from a number, a list or a dict; None stays None."
    nb = L + int(has_B)
    names = [f'A{i+1}' for i in range(L)] + (['B'] if has_B else [])
    if lr is None: return None
    if isinstance(lr, dict):
        bad = set(lr) - set(names) - {'default', 'B'}
        if bad: raise ValueError(f"lr dict has unknown keys {sorted(bad)}; use {names} or 'default'")
        out = [lr.get(n, lr.get('default', 1.0)) for n in names]
    elif isinstance(lr, (list, tuple)):
        if len(lr) == L and has_B: out = list(lr) + [lr[-1]]
        elif len(lr) == nb: out = list(lr)
        else: raise ValueError(f"lr list has {len(lr)} entries; expected {L} (one per layer)" + (f" or {nb} (and B)" if has_B else ""))
    else:
        out = [lr] * nb
    out = [float(v) for v in out]
    if any(not (v > 0 and math.isfinite(v)) for v in out): raise ValueError(f"learning rates must be positive and finite, got {lr!r}")
    return out

# %% ../nbs/04_train.ipynb #7d3f28a4
class _NNLSTimer:
    "Forward hooks that add up the wall time spent inside the NNLS layers."
    def __init__(self, net):
        self.total, self._t0 = 0.0, None
        self.handles = []
        for layer in net.layers:
            self.handles.append(layer.register_forward_pre_hook(self._pre))
            self.handles.append(layer.register_forward_hook(self._post))
    def _pre(self, *a): self._t0 = time.perf_counter()
    def _post(self, *a): self.total += time.perf_counter() - self._t0
    def remove(self):
        for h in self.handles: h.remove()

def _nnls_iterations(net):
    return sum(int(getattr(l, 'last_info', {}).get('iterations', 0)) for l in net.layers)

# %% ../nbs/04_train.ipynb #745ce1e6
DEFAULT_LAM = 0.1   # weight of the supervised term when labels are given: shared by train, the estimator and the CLI

def _net_seed(net) -> int:
    "A seed derived from `net`'s parameters: identically built networks get identical default starts."
    h = hashlib.sha256()
    for p in net.parameters(): h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return int.from_bytes(h.digest()[:8], 'little') >> 1

def _has_negative(X):
    v = X._values() if X.layout == torch.sparse_coo else X
    return bool((v < 0).any())

class TrainingInterrupted(KeyboardInterrupt):
    "Ctrl-C inside `train`: the network is back at the last accepted point; `.history` (a `Writer` of the completed epochs, or None) resumes the run, `.epoch` counts its epochs."
    def __init__(self, history:Writer=None, epoch:int=0):
        self.history, self.epoch = history, int(epoch)
        super().__init__(f"training interrupted after epoch {self.epoch}: the network holds the parameters of that epoch; "
                         f"continue with train(net, X, ..., resume=err.history)" if history is not None else
                         "training interrupted while the network was being initialised: it is as it was before train")

@contextlib.contextmanager
def _interrupts_held(deliver:bool=True):
    "Hold a Ctrl-C (SIGINT) back while the block runs; then deliver it (or drop it when an interrupt is already being handled)."
    if threading.current_thread() is not threading.main_thread():
        yield; return
    caught = []
    try: previous = signal.signal(signal.SIGINT, lambda *args: caught.append(args))
    except (ValueError, TypeError, OSError):
        yield; return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught and deliver:
            if callable(previous): previous(*caught[0])
            elif previous is None: raise KeyboardInterrupt
            elif previous == signal.SIG_DFL: signal.raise_signal(signal.SIGINT)

def _net_point(net):
    "Copies of what defines `net`'s next forward pass: its parameters and the warm-start supports of its layers."
    return dict(params=[p.detach().clone() for p in net.parameters()], supports=[l._support for l in net.layers],
                initialized=net.initialized)

def _set_point(net, point):
    "Put `net` back at `point` (from `_net_point` or a train_state): parameters, supports (and the initialised flag)."
    with torch.no_grad():
        for p, v in zip(net.parameters(), point['params']): p.copy_(v)
    for l, s in zip(net.layers, point['supports']): l._support = None if s is None else s.to(l.A.device)
    if 'initialized' in point: net.initialized = point['initialized']

def _projected(params, depth, unit):
    "What `Neural_NMF.project` makes of the parameter list `params` (A_1..A_L, then B)."
    return [(project_unit_columns(p) if unit and i < depth - 1 else p.clamp(min=0)) if i < depth else p
            for i, p in enumerate(params)]

def _state_copy(st):
    "A copy of the training state for the history (its tensors of parameters and supports are never modified: shared)."
    return {k: (list(v) if k in ('params', 'supports') and v is not None else copy.deepcopy(v)) for k, v in st.items()}

def _truncate(hist, ep):
    "Drop every record of epochs after `ep` from `hist`."
    for recs, eps in ((hist.scalars, hist.scalar_epochs), (hist.tensors, hist.tensor_epochs)):
        for k in list(recs):
            while eps.get(k) and eps[k][-1] > ep: eps[k].pop(); recs[k].pop()
            if not recs[k]: del recs[k]; eps.pop(k, None)

def train(net:Neural_NMF,       # the network; trained in place
          X,                    # (m, n) data, features x samples: tensor, numpy array or scipy sparse
          epoch:int=10,         # number of epochs (full-batch steps) to run
          lr=None,              # None: line search; number / list / dict: projected GD (or Adam) step sizes
          supervised:bool=None, # None: supervised iff labels are given
          labels=None,          # (n,) class indices (negative = unlabeled) or (c, n) one-hot matrix
          label_mask=None,      # (n,) bool or (c, n): which columns' labels are used (semi-supervised)
          loss_func='energy',   # 'energy', 'recon' or a callable loss(net, X, S_list)
          lam:float=None,       # weight of the supervised term (default DEFAULT_LAM = 0.1 with labels)
          class_loss='cross_entropy', # 'cross_entropy', 'mse' or a callable loss(scores, Y, mask)
          optimizer:str='gd',   # 'gd' (projected gradient) or 'adam'
          lr_decay:float=1.0,   # multiply the step sizes by this after every epoch (fixed-lr GD and Adam)
          tol:float=None,       # stop early when the relative change of the loss falls below tol
          seed:int=None,        # seeds the initialisation (with `init`; 'auto' without a seed: derived from net's parameters)
          init='auto',          # 'auto' (fresh net, X >= 0: 'nmf' for the energy, else 'topdown'), None (as is), 'topdown', 'nmf', 'random', matrices
          b_warmup:int=100,     # supervised: gradient steps on B alone, at the starting S_L, before the first A step
          b_steps:int=10,       # supervised, GD: gradient steps on B after every A step (each costs no NNLS solve)
          verbose:bool=True,    # print one line per epoch (a tqdm bar instead on long runs)
          progress:bool=None,   # tqdm bar: None = when verbose and epoch > 50
          record_every:int=None,# record A, grad_A, S (and B) every this many epochs
          max_snapshots:int=None, # keep at most this many tensor snapshots per name
          resume:Writer=None,   # history of an earlier run (with the net restored): continue it
          safeguard:bool=True,  # fixed-lr GD: reject steps that increase the loss and halve lr
          max_backtracks:int=40,
          label=None, L=None,   # the reference implementation's names for labels and label_mask
         ) -> Writer:
    "Train `net` on X (features x samples) by projected gradient descent or Adam; returns the history (a `Writer`)."
    # ---------- arguments ----------
    if not isinstance(net, Neural_NMF): raise TypeError(f"net must be a Neural_NMF, not {type(net).__name__}")
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
        raise ValueError(f"epoch must be a nonnegative integer, got {epoch!r}")
    if label is not None:
        if labels is not None: raise ValueError("give labels= or label=, not both")
        labels = label
    if L is not None:
        if label_mask is not None: raise ValueError("give label_mask= or L=, not both")
        label_mask = L
    if optimizer not in ('gd', 'adam'): raise ValueError(f"optimizer must be 'gd' or 'adam', got {optimizer!r}")
    if not (lr_decay > 0): raise ValueError(f"lr_decay must be positive, got {lr_decay!r}")
    p0 = net.layers[0].A
    Xt = as_data(X, dtype=p0.dtype, device=p0.device)
    if Xt.shape[0] != net.depth_info[0]:
        raise ValueError(f"X has {Xt.shape[0]} rows but the network expects m = depth_info[0] = {net.depth_info[0]} "
                         f"(X must be features x samples; transpose it if samples are rows)")
    n = Xt.shape[1]
    if supervised is None: supervised = labels is not None
    if supervised and labels is None: raise ValueError("supervised=True needs labels (labels= or label=)")
    if not supervised and labels is not None:
        raise ValueError("labels were given but supervised=False: drop the labels or set supervised=True")
    Y = mask = y = None
    if supervised:
        if net.linear is None:
            raise ValueError("supervised training needs a classifier: build the network as Neural_NMF(depth_info, c=n_classes)")
        Y, mask, y = prepare_labels(labels, n, net.c, label_mask, dtype=p0.dtype, device=p0.device)
        if lam is None: lam = DEFAULT_LAM
    lam = float(lam or 0.0)
    if lam < 0: raise ValueError(f"lam must be nonnegative, got {lam}")
    loss_fn, closs = get_loss(loss_func), get_class_loss(class_loss)
    unit = bool(getattr(loss_fn, 'unit_columns', False))     # the energy lives on unit-norm columns of A_1..A_{L-1}
    if isinstance(init, str) and init == 'auto':
        init = (None if (resume is not None or net.initialized or _has_negative(Xt))
                else 'nmf' if isinstance(loss_fn, EnergyLoss) else 'topdown')
        if init is not None and seed is None: seed = _net_seed(net)   # deterministic for a seeded network
    for name, v in (('b_warmup', b_warmup), ('b_steps', b_steps)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"{name} must be a nonnegative integer, got {v!r}")
    if init is not None and resume is not None:
        raise ValueError("init and resume exclude each other: a resumed run keeps its parameters")
    if resume is not None:
        hist = Writer.from_dict(resume.to_dict())
        st = copy.deepcopy(hist.meta.get('train_state'))
        if st is None: raise ValueError("resume: this history has no train_state (was it returned by train?)")

    # ---------- state (fresh or resumed) ----------
    # hist.meta['train_state'] always describes the last accepted point: the epoch counter, step sizes, Adam moments,
    # the exact parameters and the warm-start supports its forward pass started from. A Ctrl-C anywhere below puts the
    # network back there and hands the history over; a resumed run starts from there, bit for bit.
    start = _net_point(net)                                   # the network as it came
    try:
        if init is not None: initialize(net, Xt, init, seed=seed)
        if resume is None: net.project(unit_columns=unit)
        # B takes its own cheap step (below) in GD mode unless the user gave it a step size explicitly
        separate_B = supervised and optimizer == 'gd' and not _b_explicit(lr, net.depth)
        joint_B = supervised and not separate_B
        params = [l.A for l in net.layers] + ([net.linear.weight] if joint_B else [])
        lrs = _parse_lr(lr, net.depth, joint_B)
        if optimizer == 'adam' and lrs is None:
            lrs = [0.01 * max(float(p.detach().abs().mean()), 1e-12) for p in params]
        if resume is not None and (st['optimizer'] != optimizer or st['line_search'] != (lrs is None and optimizer == 'gd')
                                   or st['n_params'] != len(params)):
            raise ValueError("resume: optimizer, step-size mode (lr=None or not) and supervision must match the checkpointed run")
        if resume is None:
            hist = Writer(tensor_every=record_every, max_snapshots=max_snapshots)
            st = dict(epoch=0, optimizer=optimizer, line_search=(lrs is None and optimizer == 'gd'), n_params=len(params),
                      lrs=lrs, t=None, first_try=False, adam=None, tB=None, tB_first=False, warmed_up=False,
                      **{k: v for k, v in _net_point(net).items() if k != 'initialized'})
        elif st.get('params') is not None:
            now = [p.detach() for p in net.parameters()]
            P = st['params']
            fits = len(P) == len(now) and all(a.shape == b.shape for a, b in zip(P, now))
            if fits: P = [a.to(device=b.device, dtype=b.dtype) for a, b in zip(P, now)]
            # train hands back its last accepted point projected once more: either form continues exactly
            if fits and (all(torch.equal(a, b) for a, b in zip(P, now)) or
                         all(torch.equal(a, b) for a, b in zip(_projected(P, net.depth, unit), now))):
                _set_point(net, dict(params=P, supports=st['supports']))
            else:
                warnings.warn("resume: the network's parameters are not those the history ended with; training "
                              "continues from the network as it is", RuntimeWarning, stacklevel=2)
                _set_point(net, dict(params=now, supports=st['supports']))
        line_search = st['line_search']
        hist.meta.update(loss_func=repr(loss_fn), lam=lam, optimizer=optimizer, supervised=bool(supervised))
        hist.meta.setdefault('train_state', _state_copy(st))
    except KeyboardInterrupt:
        with _interrupts_held(deliver=False): _set_point(net, start)
        raise TrainingInterrupted(resume, 0 if resume is None else st['epoch']) from None
    opt = None
    cur = {}                     # the supports the latest forward pass started from

    def evaluate():
        cur['supports'] = [l._support for l in net.layers]
        out = net(Xt)
        parts = compute_loss(net, Xt, out, loss_fn, Y, mask, closs, lam)
        return out, parts

    def b_step(out):
        "One backtracking gradient step on B for the supervised term at fixed S_L (no NNLS solve: cheap)."
        S = out[0][-1].detach()
        W = net.linear.weight
        B0 = W.detach().clone()
        with torch.enable_grad():
            Bv = B0.clone().requires_grad_(True)
            fb = closs(Bv @ S, Y, mask)
            gB, = torch.autograd.grad(fb, Bv)
        fb, gg = float(fb.detach()), float((gB * gB).sum())
        if gg == 0 or not math.isfinite(gg): return 0
        if st['tB'] is None:   # 1 / (a bound on the curvature of the labeled-mean loss in B)
            st['tB'] = float(mask.sum()) / max(float((S[:, mask] ** 2).sum()), 1e-300)
        t = st['tB'] * (2.0 if st['tB_first'] else 1.0)
        with torch.no_grad():
            for nb in range(max_backtracks + 1):
                Bn = B0 - t * gB
                fn = float(closs(Bn @ S, Y, mask))
                if math.isfinite(fn) and fn <= fb - 1e-4 * t * gg:
                    W.copy_(Bn); st['tB'], st['tB_first'] = t, nb == 0
                    return nb
                t *= 0.5
        return nb

    def refresh(out):
        "Loss parts at the current B with the existing forward pass (keeps the graph through the S_i)."
        S_list = out[0]
        out = (S_list, net.linear.weight @ S_list[-1])
        return out, compute_loss(net, Xt, out, loss_fn, Y, mask, closs, lam)

    timer = bar = None
    e0 = st['epoch']
    use_bar = bool(progress) if progress is not None else (verbose and epoch > 50)
    width = len(str(e0 + epoch))

    def commit(ep, records=(), scalars=None, stopped=None):
        "Make the current point the last accepted one: state, records and (with `ep`) the epoch enter the history together."
        st['epoch'] = ep
        st['adam'] = copy.deepcopy(opt.state_dict()) if opt is not None else None
        st.update(params=[p.detach().clone() for p in net.parameters()], supports=list(cur['supports']))
        state = _state_copy(st)
        with _interrupts_held():
            for name, v in records: hist.add_tensor(name, v, ep)
            if scalars is not None: hist.add_scalars(scalars, ep)
            if stopped: hist.meta['stopped'] = stopped
            hist.meta['train_state'] = state

    def finish():
        if timer is not None: timer.remove()
        if bar is not None: bar.close()
        net.project(unit_columns=unit)
        net.initialized = True

    try:
        timer = _NNLSTimer(net)
        bar = tqdm(total=epoch, desc='train', disable=not use_bar, leave=True)
        if optimizer == 'adam':
            opt = torch.optim.Adam([{'params': [p], 'lr': a} for p, a in zip(params, st['lrs'])])
            if st['adam'] is not None: opt.load_state_dict(st['adam'])
        out, parts = evaluate()
        if supervised and not st.get('warmed_up', True) and b_warmup:   # fit B to the starting S_L before A moves
            for _ in range(int(b_warmup)): b_step(out)
            out, parts = refresh(out)
        st['warmed_up'] = True
        f0 = float(parts['loss'].detach())
        if not math.isfinite(f0): raise FloatingPointError(f"initial loss is {f0}")
        if e0 == 0: hist.meta['initial_loss'] = f0
        commit(e0)                                              # the starting point (after the warm-up of B)
        for ep in range(e0 + 1, e0 + epoch + 1):
            t_start, nn0 = time.perf_counter(), timer.total
            grads = torch.autograd.grad(parts['loss'], params)
            old = [p.detach().clone() for p in params]
            records = []
            if hist.wants_tensors(ep):
                records = [('A', [p.detach().clone() for p in params[:net.depth]]), ('grad_A', list(grads[:net.depth])),
                           ('S', [s.detach() for s in (out[0] if isinstance(out, tuple) else out)])]
                if supervised: records.append(('B', net.linear.weight.detach().clone()))
            backtracks, backtracks_B, accepted = 0, 0, False
            if optimizer == 'adam':
                for p, g in zip(params, grads): p.grad = g
                opt.step(); opt.zero_grad(set_to_none=True)
                net.project(unit_columns=unit)
                out, parts = evaluate(); accepted = True
                step = opt.param_groups[0]['lr']
            else:
                if line_search:
                    D = [float((o * o).sum()) or 1.0 for o in old]             # block scaling ||theta_g||^2
                    dirs = [d * g for d, g in zip(D, grads)]
                    if st['t'] is None:                                        # first trial: 10% relative change
                        dn = math.sqrt(sum(float((v * v).sum()) for v in dirs))
                        pn = math.sqrt(sum(float((o * o).sum()) for o in old))
                        st['t'] = 0.1 * pn / max(dn, 1e-300)
                    t = st['t'] * (2.0 if st['first_try'] else 1.0)
                else:
                    dirs = [a * g for a, g in zip(st['lrs'], grads)]
                    t = 1.0
                while True:
                    with torch.no_grad():
                        for p, o, d in zip(params, old, dirs): p.copy_(o - t * d)
                    net.project(unit_columns=unit)
                    out, parts = evaluate()
                    f = float(parts['loss'].detach())
                    if line_search:
                        dec = sum(float((g * (p.detach() - o)).sum()) for g, p, o in zip(grads, params, old))
                        ok = math.isfinite(f) and f <= f0 + 1e-4 * dec
                    else:
                        ok = (not safeguard) or (math.isfinite(f) and f <= f0 * (1 + 1e-12) + 1e-300)
                    if ok: accepted = True; break
                    if backtracks >= max_backtracks: break
                    backtracks += 1; t *= 0.5
                if line_search:
                    st['first_try'] = backtracks == 0
                    if accepted: st['t'] = t
                    step = t
                else:
                    if backtracks: st['lrs'] = [a * t for a in st['lrs']]
                    step = st['lrs'][0]
                if not accepted:                                              # no decrease possible: stationary
                    with torch.no_grad():
                        for p, o in zip(params, old): p.copy_(o)
                    out, parts = evaluate()
                if separate_B:
                    backtracks_B = sum(b_step(out) for _ in range(b_steps))
                    out, parts = refresh(out)
            # ---------- bookkeeping ----------
            if optimizer == 'adam':
                for gdict in opt.param_groups: gdict['lr'] *= lr_decay
            elif not line_search:
                st['lrs'] = [a * lr_decay for a in st['lrs']]
            f_new = float(parts['loss'].detach())
            if not math.isfinite(f_new):
                raise FloatingPointError(f"loss became {f_new} at epoch {ep}: lower lr (or use lr=None)")
            rec = {k: float(v.detach()) for k, v in parts.items()}
            rec.update(lr=step, backtracks=backtracks, time=time.perf_counter() - t_start,
                       time_nnls=timer.total - nn0, nnls_iterations=_nnls_iterations(net))
            rec.update({f'norm_A{i + 1}': float(A.detach().norm()) for i, A in enumerate(net.A)})
            if separate_B: rec['backtracks_B'] = backtracks_B
            if supervised:
                pred = out[1].detach().argmax(0)
                rec['accuracy'] = float((pred[mask] == y[mask]).float().mean()) if bool(mask.any()) else float('nan')
                hidden = (~mask) & (y >= 0)
                if bool(hidden.any()): rec['accuracy_unlabeled'] = float((pred[hidden] == y[hidden]).float().mean())
            rel = abs(f0 - f_new) / max(abs(f0), 1e-300)
            stopped = (f"epoch {ep}: no step decreases the loss (stationary point)" if not accepted else
                       f"epoch {ep}: relative change {rel:.3g} < tol={tol}" if tol is not None and rel < tol else None)
            commit(ep, records, rec, stopped)                     # the epoch is complete
            msg = f"epoch {ep:>{width}}/{e0 + epoch}  loss {f_new:.6e}"
            if len(parts) > 2 or 'supervised' in parts:
                msg += ''.join(f"  {k} {float(v.detach()):.4e}" for k, v in parts.items() if k != 'loss')
            if supervised and 'accuracy' in rec: msg += f"  acc {rec['accuracy']:.3f}"
            msg += f"  lr {step:.3g}"
            if use_bar: bar.update(1); bar.set_postfix(loss=f"{f_new:.4e}")
            elif verbose: print(msg)
            f0 = f_new
            if stopped:
                if verbose and not use_bar: print(stopped)
                break
        with _interrupts_held(): finish()
    except KeyboardInterrupt:
        # back to the last accepted point: its parameters and supports, the history of the completed epochs
        with _interrupts_held(deliver=False):
            state = hist.meta['train_state']
            _truncate(hist, state['epoch'])
            _set_point(net, state)
            finish()
        raise TrainingInterrupted(hist, state['epoch']) from None
    except BaseException:
        finish()
        raise
    return hist

# %% ../nbs/04_train.ipynb #e7628572
def save_checkpoint(path, net:Neural_NMF, history:Writer=None):
    "Save `net` (state_dict, depth_info, c, dtype, warm_start) and its training history (with the state a resumed run needs) to `path`."
    torch.save({'depth_info': list(net.depth_info), 'c': net.c, 'dtype': str(net.layers[0].A.dtype).replace('torch.', ''),
                'warm_start': [bool(l.warm_start) for l in net.layers],
                'state_dict': {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
                'history': None if history is None else history.to_dict()}, path)

def load_checkpoint(path, net:Neural_NMF=None, device=None):
    "Load a checkpoint; returns `(net, history)` (a new net unless one is given to load into)."
    d = torch.load(path, map_location='cpu', weights_only=True)
    if net is None:
        net = Neural_NMF(d['depth_info'], c=d['c'], dtype=getattr(torch, d['dtype']), device=device)
        for l, w in zip(net.layers, d.get('warm_start', [True] * net.depth)): l.warm_start = bool(w)
    net.load_state_dict(d['state_dict'])
    return net, (None if d['history'] is None else Writer.from_dict(d['history']))
