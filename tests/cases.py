"""The shared table of loss cases: adding a loss adds rows here, not a test file.

A case names a loss and its parameters, how to draw valid inputs for it, and (when PyTorch
has the loss) a PyTorch function giving the *per-sample* losses.  The battery applies the
documented reductions and weights on the PyTorch side too, so the reference is independent
of fastloss's own reduction code.
"""
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

N_CLASSES = 5
CLASS_WEIGHT = np.linspace(0.5, 2.0, N_CLASSES)
IGNORE = -100

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the battery still runs against the NumPy reference
    torch = None
    F = None


@dataclass
class Case:
    id: str
    loss: str
    params: dict
    inputs: Callable          # (rng, shape, dtype) -> (y_true, y_pred)
    kind: str                 # "elementwise" | "categorical" | "sparse"
    torch_per_sample: Optional[Callable] = None   # (y_true, y_pred, params) -> tensor
    extra: dict = field(default_factory=dict)

    def __str__(self):
        return self.id


# ---- input generators -------------------------------------------------------------------

def regression(rng, shape, dtype):
    return rng.normal(size=shape).astype(dtype), rng.normal(size=shape).astype(dtype)


def binary_probs(rng, shape, dtype):
    t = (rng.random(shape) < 0.5).astype(dtype)
    t[..., ::3] = rng.random(t[..., ::3].shape)        # some soft targets
    return t, rng.uniform(0.03, 0.97, size=shape).astype(dtype)


def binary_logits(rng, shape, dtype):
    t, _ = binary_probs(rng, shape, dtype)
    return t, (3 * rng.normal(size=shape)).astype(dtype)


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def categorical_targets(rng, shape):
    t = _softmax(2 * rng.normal(size=shape))             # soft rows
    onehot = np.eye(shape[-1])[rng.integers(0, shape[-1], size=shape[:-1])]
    rows = rng.random(shape[:-1]) < 0.5
    t[rows] = onehot[rows]
    return t


def categorical_logits(rng, shape, dtype):
    return categorical_targets(rng, shape).astype(dtype), (2 * rng.normal(size=shape)).astype(dtype)


def categorical_probs(rng, shape, dtype):
    p = _softmax(rng.normal(size=shape))
    return categorical_targets(rng, shape).astype(dtype), p.astype(dtype)


def sparse_logits(rng, shape, dtype, ignore=False):
    y = rng.integers(0, shape[-1], size=shape[:-1])
    if ignore:
        y[rng.random(y.shape) < 0.2] = IGNORE
    return y, (2 * rng.normal(size=shape)).astype(dtype)


def sparse_probs(rng, shape, dtype, ignore=False):
    y, z = sparse_logits(rng, shape, np.float64, ignore)
    return y, _softmax(z).astype(dtype)


def with_ignore(gen):
    return lambda rng, shape, dtype: gen(rng, shape, dtype, ignore=True)


# ---- PyTorch per-sample references ---------------------------------------------------------

def _mean_last(x, y_pred):
    """Per-sample loss of an elementwise loss: mean over the last axis for >= 2-D input."""
    return x.mean(dim=-1) if y_pred.dim() >= 2 else x


def _eps(params, dtype_of_input):
    eps = params.get("eps")
    return eps if eps is not None else float(np.finfo(dtype_of_input).eps)


def t_mse(t, p, prm):
    return _mean_last(F.mse_loss(p, t, reduction="none"), p)


def t_mae(t, p, prm):
    return _mean_last(F.l1_loss(p, t, reduction="none"), p)


def t_huber(t, p, prm):
    return _mean_last(F.huber_loss(p, t, reduction="none", delta=prm.get("delta", 1.0)), p)


def _smooth_binary(t, prm):
    s = prm.get("label_smoothing", 0.0)
    return t * (1 - s) + s / 2


def t_bce_logits(t, z, prm):
    return _mean_last(F.binary_cross_entropy_with_logits(z, _smooth_binary(t, prm),
                                                         reduction="none"), z)


def t_bce_probs(t, p, prm):
    eps = prm["_eps"]
    q = p.clamp(eps, 1 - eps)
    return _mean_last(F.binary_cross_entropy(q, _smooth_binary(t, prm), reduction="none"), p)


def _flat_classes(x):
    return x.reshape(-1, x.shape[-1])


def t_cce_logits(t, z, prm):
    out = F.cross_entropy(_flat_classes(z), _flat_classes(t), reduction="none",
                          label_smoothing=prm.get("label_smoothing", 0.0))
    return out.reshape(z.shape[:-1])


def t_cce_probs(t, p, prm):
    eps, s = prm["_eps"], prm.get("label_smoothing", 0.0)
    ts = t * (1 - s) + s / p.shape[-1]
    return -(ts * torch.log(p.clamp(eps, 1 - eps))).sum(dim=-1)


def t_scce_logits(y, z, prm):
    out = F.cross_entropy(_flat_classes(z), y.reshape(-1), reduction="none",
                          ignore_index=IGNORE if prm.get("ignore_index") is not None else -12345,
                          label_smoothing=prm.get("label_smoothing", 0.0))
    return out.reshape(z.shape[:-1])


def t_scce_probs(y, p, prm):
    eps, s = prm["_eps"], prm.get("label_smoothing", 0.0)
    logq = torch.log(p.clamp(eps, 1 - eps))
    safe = torch.where(y == IGNORE, torch.zeros_like(y), y)
    if s == 0:
        out = F.nll_loss(_flat_classes(logq), safe.reshape(-1), reduction="none")
        out = out.reshape(p.shape[:-1])
    else:
        ts = F.one_hot(safe, p.shape[-1]).to(p.dtype) * (1 - s) + s / p.shape[-1]
        out = -(ts * logq).sum(dim=-1)
    return torch.where(y == IGNORE, torch.zeros_like(out), out)


# ---- the table -----------------------------------------------------------------------------

CW = {"class_weight": CLASS_WEIGHT}

CASES = [
    Case("mse", "mse", {}, regression, "elementwise", t_mse),
    Case("mae", "mae", {}, regression, "elementwise", t_mae),
    Case("huber", "huber", {}, regression, "elementwise", t_huber),
    Case("huber-d0.3", "huber", {"delta": 0.3}, regression, "elementwise", t_huber),
    Case("bce-logits", "binary_cross_entropy", {"from_logits": True}, binary_logits,
         "elementwise", t_bce_logits),
    Case("bce-logits-ls", "binary_cross_entropy", {"from_logits": True, "label_smoothing": 0.1},
         binary_logits, "elementwise", t_bce_logits),
    Case("bce-probs", "binary_cross_entropy", {}, binary_probs, "elementwise", t_bce_probs),
    Case("bce-probs-ls-eps", "binary_cross_entropy", {"label_smoothing": 0.2, "eps": 1e-3},
         binary_probs, "elementwise", t_bce_probs),
    Case("cce-logits", "categorical_cross_entropy", {"from_logits": True}, categorical_logits,
         "categorical", t_cce_logits),
    Case("cce-logits-ls", "categorical_cross_entropy",
         {"from_logits": True, "label_smoothing": 0.1}, categorical_logits, "categorical",
         t_cce_logits),
    Case("cce-logits-cw", "categorical_cross_entropy", {"from_logits": True, **CW},
         categorical_logits, "categorical", t_cce_logits),
    Case("cce-probs", "categorical_cross_entropy", {}, categorical_probs, "categorical",
         t_cce_probs),
    Case("cce-probs-ls-cw", "categorical_cross_entropy", {"label_smoothing": 0.1, **CW},
         categorical_probs, "categorical", t_cce_probs),
    Case("scce-logits", "sparse_categorical_cross_entropy", {"from_logits": True},
         sparse_logits, "sparse", t_scce_logits),
    Case("scce-logits-ls", "sparse_categorical_cross_entropy",
         {"from_logits": True, "label_smoothing": 0.1}, sparse_logits, "sparse", t_scce_logits),
    Case("scce-logits-ignore-cw", "sparse_categorical_cross_entropy",
         {"from_logits": True, "ignore_index": IGNORE, **CW}, with_ignore(sparse_logits),
         "sparse", t_scce_logits),
    Case("scce-logits-ls-ignore-cw", "sparse_categorical_cross_entropy",
         {"from_logits": True, "ignore_index": IGNORE, "label_smoothing": 0.2, **CW},
         with_ignore(sparse_logits), "sparse", t_scce_logits),
    Case("scce-probs", "sparse_categorical_cross_entropy", {}, sparse_probs, "sparse",
         t_scce_probs),
    Case("scce-probs-ls-ignore", "sparse_categorical_cross_entropy",
         {"label_smoothing": 0.1, "ignore_index": IGNORE}, with_ignore(sparse_probs), "sparse",
         t_scce_probs),
]

CASE_IDS = [c.id for c in CASES]


def shape_for(case, ndim=2, n=6):
    """A small input shape of the given rank for the case (classes last for class losses)."""
    if case.kind == "elementwise":
        return {1: (n,), 2: (n, 4), 3: (2, n // 2, 4)}[ndim]
    return {1: (N_CLASSES,), 2: (n, N_CLASSES), 3: (2, n // 2, N_CLASSES)}[ndim]
