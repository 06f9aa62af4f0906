"""The shared table of loss cases: adding a loss adds rows here, not a test file.

A case names a loss and its parameters, how to draw valid inputs for it, and (when PyTorch
has the loss) a PyTorch function giving the *per-sample* losses.  The battery applies the
documented reductions and weights on the PyTorch side too, so the reference is independent
of fastloss's own reduction code.

Losses of several inputs (kinds "pairwise", "triplet") draw ``(y_true, (x1, x2, ...))``
(y_true None for triplet) and their torch function gets the tuple of input tensors; the
helpers at the end (``call_args``, ``preds_of`` ...) let the battery treat every case alike.
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
    inputs: Callable          # (rng, shape, dtype) -> (y_true, y_pred or tuple of inputs)
    kind: str                 # "elementwise" | "categorical" | "sparse" | "pairwise" |
                              # "triplet" | "segmentation"
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


def counts_log_rates(rng, shape, dtype):
    """Poisson counts (zeros included) and log-rates."""
    return rng.poisson(2.0, size=shape).astype(dtype), (0.7 * rng.normal(size=shape)).astype(dtype)


def counts_rates(rng, shape, dtype):
    return (rng.poisson(2.0, size=shape).astype(dtype),
            rng.uniform(0.2, 4.0, size=shape).astype(dtype))


def above_minus_one(rng, shape, dtype):
    """MSLE's domain (> -1): mostly positive, a few in (-1, 0)."""
    return (rng.uniform(-0.6, 4.0, size=shape).astype(dtype),
            rng.uniform(-0.6, 4.0, size=shape).astype(dtype))


def away_from_zero(rng, shape, dtype):
    """MAPE targets with |t| >= 0.5 (t = 0 is tested on its own)."""
    t = rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 2.0, size=shape)
    return t.astype(dtype), rng.normal(size=shape).astype(dtype)


def hinge_01(rng, shape, dtype):
    return (rng.random(shape) < 0.5).astype(dtype), (1.5 * rng.normal(size=shape)).astype(dtype)


def hinge_pm1(rng, shape, dtype):
    t, z = hinge_01(rng, shape, dtype)
    return 2 * t - 1, z


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def categorical_log_probs(rng, shape, dtype):
    return (categorical_targets(rng, shape).astype(dtype),
            _log_softmax(rng.normal(size=shape)).astype(dtype))


def log_targets(gen):
    """Targets as log-probabilities (soft rows: no zero, so PyTorch's reference is finite)."""
    def inputs(rng, shape, dtype):
        _, y_pred = gen(rng, shape, dtype)
        return _log_softmax(2 * rng.normal(size=shape)).astype(dtype), y_pred
    return inputs


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


def t_smooth_l1(t, p, prm):
    return _mean_last(F.smooth_l1_loss(p, t, reduction="none", beta=prm.get("beta", 1.0)), p)


def t_pseudo_huber(t, p, prm):
    delta = prm.get("delta", 1.0)
    return _mean_last(delta**2 * (torch.sqrt(1 + ((p - t) / delta) ** 2) - 1), p)


def t_log_cosh(t, p, prm):
    d = p - t          # Keras' formula; autograd gives tanh(d)
    return _mean_last(d + F.softplus(-2 * d) - np.log(2.0), p)


def t_quantile(t, p, prm):
    q, d = prm.get("quantile", 0.5), t - p
    return _mean_last(q * torch.relu(d) + (1 - q) * torch.relu(-d), p)


def t_poisson(t, p, prm):
    out = F.poisson_nll_loss(p, t, log_input=prm.get("log_input", True),
                             full=prm.get("full", False), eps=prm.get("eps", 1e-8),
                             reduction="none")
    return _mean_last(out, p)


def t_msle(t, p, prm):
    return _mean_last((torch.log1p(p) - torch.log1p(t)) ** 2, p)


def t_mape(t, p, prm):
    eps = prm.get("epsilon", float(np.finfo(np.float64).eps))
    scale = 100.0 if prm.get("percent") else 1.0
    return _mean_last(scale * (p - t).abs() / t.abs().clamp(min=eps), p)


def _alpha_t(t, prm):
    alpha = prm.get("alpha")
    return 1.0 if alpha is None else alpha * t + (1 - alpha) * (1 - t)


def t_binary_focal(t, p, prm):
    """The textbook formula on sigmoid / clipped probabilities (torchvision's, Keras')."""
    gamma = prm.get("gamma", 2.0)
    if prm.get("from_logits"):
        ce = F.binary_cross_entropy_with_logits(p, t, reduction="none")
        prob = torch.sigmoid(p)
    else:
        eps = prm["_eps"]
        prob = p.clamp(eps, 1 - eps)
        ce = F.binary_cross_entropy(prob, t, reduction="none")
    p_t = prob * t + (1 - prob) * (1 - t)
    return _mean_last(_alpha_t(t, prm) * (1 - p_t) ** gamma * ce, p)


def t_categorical_focal(t, p, prm):
    gamma = prm.get("gamma", 2.0)
    alpha = prm.get("alpha")
    alpha = 1.0 if alpha is None else alpha
    if prm.get("from_logits"):
        logp = torch.log_softmax(p, dim=-1)
        prob = logp.exp()
    else:
        eps = prm["_eps"]
        prob = p.clamp(eps, 1 - eps)
        logp = torch.log(prob)
    return -alpha * (t * (1 - prob) ** gamma * logp).sum(dim=-1)


def _signed(t):
    return torch.where(t == 0, -torch.ones_like(t), t)


def t_hinge(t, p, prm):
    return _mean_last(torch.relu(1 - _signed(t) * p), p)


def t_squared_hinge(t, p, prm):
    return _mean_last(torch.relu(1 - _signed(t) * p) ** 2, p)


def t_categorical_hinge(t, z, prm):
    """sum_k t_k relu(margin + max_{j != k} z_j - z_k), the max by masking the diagonal."""
    c = z.shape[-1]
    eye = torch.eye(c, dtype=torch.bool)
    others = z.unsqueeze(-2).expand(*z.shape[:-1], c, c).masked_fill(eye, -torch.inf)
    runner_up = others.max(dim=-1).values
    return (t * torch.relu(prm.get("margin", 1.0) + runner_up - z)).sum(dim=-1)


def t_kl(t, p, prm):
    log_q = p if prm.get("log_input") else torch.log(p.clamp(prm["_eps"], 1.0))
    return F.kl_div(log_q, t, reduction="none", log_target=prm.get("log_target", False)).sum(dim=-1)


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
    # more regression losses
    Case("smooth-l1", "smooth_l1", {}, regression, "elementwise", t_smooth_l1),
    Case("smooth-l1-b0.4", "smooth_l1", {"beta": 0.4}, regression, "elementwise", t_smooth_l1),
    Case("smooth-l1-b0", "smooth_l1", {"beta": 0.0}, regression, "elementwise", t_smooth_l1),
    Case("pseudo-huber", "pseudo_huber", {}, regression, "elementwise", t_pseudo_huber),
    Case("pseudo-huber-d0.3", "pseudo_huber", {"delta": 0.3}, regression, "elementwise",
         t_pseudo_huber),
    Case("log-cosh", "log_cosh", {}, regression, "elementwise", t_log_cosh),
    Case("quantile", "quantile", {}, regression, "elementwise", t_quantile),
    Case("quantile-q0.9", "quantile", {"quantile": 0.9}, regression, "elementwise", t_quantile),
    Case("poisson-log", "poisson", {}, counts_log_rates, "elementwise", t_poisson),
    Case("poisson-log-full", "poisson", {"full": True}, counts_log_rates, "elementwise",
         t_poisson),
    Case("poisson-rate", "poisson", {"log_input": False}, counts_rates, "elementwise", t_poisson),
    Case("poisson-rate-full-eps", "poisson", {"log_input": False, "full": True, "eps": 1e-3},
         counts_rates, "elementwise", t_poisson),
    Case("msle", "msle", {}, above_minus_one, "elementwise", t_msle),
    Case("mape", "mape", {}, away_from_zero, "elementwise", t_mape),
    Case("mape-percent-eps", "mape", {"percent": True, "epsilon": 1e-7}, away_from_zero,
         "elementwise", t_mape),
    # focal losses
    Case("bfocal-logits", "binary_focal", {"from_logits": True}, binary_logits, "elementwise",
         t_binary_focal),
    Case("bfocal-logits-a0.25-g0.5", "binary_focal",
         {"from_logits": True, "alpha": 0.25, "gamma": 0.5}, binary_logits, "elementwise",
         t_binary_focal),
    Case("bfocal-probs", "binary_focal", {}, binary_probs, "elementwise", t_binary_focal),
    Case("bfocal-probs-a0.7-g3-eps", "binary_focal", {"alpha": 0.7, "gamma": 3.0, "eps": 1e-3},
         binary_probs, "elementwise", t_binary_focal),
    Case("cfocal-logits", "categorical_focal", {"from_logits": True}, categorical_logits,
         "categorical", t_categorical_focal),
    Case("cfocal-logits-a0.25-g0.5-cw", "categorical_focal",
         {"from_logits": True, "alpha": 0.25, "gamma": 0.5, **CW}, categorical_logits,
         "categorical", t_categorical_focal),
    Case("cfocal-logits-g0", "categorical_focal", {"from_logits": True, "gamma": 0.0},
         categorical_logits, "categorical", t_categorical_focal),
    Case("cfocal-probs", "categorical_focal", {}, categorical_probs, "categorical",
         t_categorical_focal),
    Case("cfocal-probs-a0.25-g1.5-eps", "categorical_focal",
         {"alpha": 0.25, "gamma": 1.5, "eps": 1e-3}, categorical_probs, "categorical",
         t_categorical_focal),
    # hinge losses
    Case("hinge-01", "hinge", {}, hinge_01, "elementwise", t_hinge),
    Case("hinge-pm1", "hinge", {}, hinge_pm1, "elementwise", t_hinge),
    Case("squared-hinge-01", "squared_hinge", {}, hinge_01, "elementwise", t_squared_hinge),
    Case("squared-hinge-pm1", "squared_hinge", {}, hinge_pm1, "elementwise", t_squared_hinge),
    Case("categorical-hinge", "categorical_hinge", {}, categorical_logits, "categorical",
         t_categorical_hinge),
    Case("categorical-hinge-m0.3", "categorical_hinge", {"margin": 0.3}, categorical_logits,
         "categorical", t_categorical_hinge),
    # Kullback-Leibler divergence
    Case("kl-probs", "kl_divergence", {}, categorical_probs, "categorical", t_kl),
    Case("kl-probs-eps", "kl_divergence", {"eps": 1e-2}, categorical_probs, "categorical", t_kl),
    Case("kl-log", "kl_divergence", {"log_input": True}, categorical_log_probs, "categorical",
         t_kl),
    Case("kl-probs-log-target", "kl_divergence", {"log_target": True},
         log_targets(categorical_probs), "categorical", t_kl),
    Case("kl-log-log-target", "kl_divergence", {"log_input": True, "log_target": True},
         log_targets(categorical_log_probs), "categorical", t_kl),
]


# ---- metric learning and segmentation ------------------------------------------------------

EMBEDDING_DIM = 4


def similar_pairs(rng, shape, dtype):
    """Labels in {0, 1} (a few soft ones) and pairs at distances around 1."""
    y = (rng.random(shape[:-1]) < 0.5).astype(dtype)
    if y.ndim:
        y.reshape(-1)[::5] = 0.25
    x1 = rng.normal(size=shape)
    x2 = x1 + 0.5 * rng.normal(size=shape)
    return y, (x1.astype(dtype), x2.astype(dtype))


def signed_pairs(rng, shape, dtype):
    y = np.where(rng.random(shape[:-1]) < 0.5, 1, -1).astype(dtype)
    return y, (rng.normal(size=shape).astype(dtype), rng.normal(size=shape).astype(dtype))


def triplets(rng, shape, dtype):
    a = rng.normal(size=shape)
    p = a + 0.5 * rng.normal(size=shape)
    n = a + 0.7 * rng.normal(size=shape)
    return None, tuple(x.astype(dtype) for x in (a, p, n))


def masks_probs(rng, shape, dtype):
    t = (rng.random(shape) < 0.4).astype(dtype)
    t.reshape(-1)[::7] = 0.5                             # some soft targets
    return t, rng.uniform(0.02, 0.98, size=shape).astype(dtype)


def masks_logits(rng, shape, dtype):
    t, _ = masks_probs(rng, shape, dtype)
    return t, (2 * rng.normal(size=shape)).astype(dtype)


def _flat_rows(x):
    return x.reshape(-1, x.shape[-1])


def t_contrastive(y, xs, prm):
    x1, x2 = xs
    d = (x1 - x2).norm(dim=-1)
    return y * d ** 2 + (1 - y) * torch.relu(prm.get("margin", 1.0) - d) ** 2


def t_triplet(_, xs, prm):
    a, p, n = xs
    out = F.triplet_margin_loss(_flat_rows(a), _flat_rows(p), _flat_rows(n),
                                margin=prm.get("margin", 1.0), p=prm.get("p", 2.0),
                                swap=prm.get("swap", False), reduction="none")
    return out.reshape(a.shape[:-1])


def t_cosine_embedding(y, xs, prm):
    x1, x2 = xs
    out = F.cosine_embedding_loss(_flat_rows(x1), _flat_rows(x2), y.reshape(-1),
                                  margin=prm.get("margin", 0.0), reduction="none")
    return out.reshape(x1.shape[:-1])


def _overlap_torch(score):
    """Per-sample overlap loss from score(TP, sum t, sum q, prm), by definition in torch."""
    def per_sample(t, x, prm):
        q = torch.sigmoid(x) if prm.get("from_logits") else x
        axis = prm.get("class_axis")
        if axis is None:
            t3, q3 = t.reshape(t.shape[0], -1, 1), q.reshape(q.shape[0], -1, 1)
        else:
            t3 = t.movedim(axis, -1).reshape(t.shape[0], -1, t.shape[axis])
            q3 = q.movedim(axis, -1).reshape(q.shape[0], -1, q.shape[axis])
        tp, st, sq = (t3 * q3).sum(1), t3.sum(1), q3.sum(1)
        return (1 - score(tp, st, sq, prm)).mean(dim=1)
    return per_sample


def _smooth(prm):
    return prm.get("smooth", 1.0)


t_dice = _overlap_torch(lambda tp, st, sq, prm: (2 * tp + _smooth(prm)) / (st + sq + _smooth(prm)))
t_iou = _overlap_torch(lambda tp, st, sq, prm: (tp + _smooth(prm)) / (st + sq - tp + _smooth(prm)))
t_tversky = _overlap_torch(
    lambda tp, st, sq, prm: (tp + _smooth(prm)) / (
        tp + prm.get("alpha", 0.5) * (sq - tp) + prm.get("beta", 0.5) * (st - tp) + _smooth(prm)))

CASES += [
    Case("contrastive", "contrastive", {}, similar_pairs, "pairwise", t_contrastive),
    Case("contrastive-m2", "contrastive", {"margin": 2.0}, similar_pairs, "pairwise",
         t_contrastive),
    Case("triplet", "triplet", {}, triplets, "triplet", t_triplet),
    Case("triplet-swap-m0.5", "triplet", {"swap": True, "margin": 0.5}, triplets, "triplet",
         t_triplet),
    Case("triplet-p1", "triplet", {"p": 1.0}, triplets, "triplet", t_triplet),
    Case("triplet-p3-swap", "triplet", {"p": 3.0, "swap": True}, triplets, "triplet",
         t_triplet),
    Case("cosine-embedding", "cosine_embedding", {}, signed_pairs, "pairwise",
         t_cosine_embedding),
    Case("cosine-embedding-m0.2", "cosine_embedding", {"margin": 0.2}, signed_pairs,
         "pairwise", t_cosine_embedding),
    Case("dice", "dice", {}, masks_probs, "segmentation", t_dice),
    Case("dice-logits-classes-last", "dice", {"from_logits": True, "class_axis": -1},
         masks_logits, "segmentation", t_dice),
    Case("dice-smooth0-classes-first", "dice", {"smooth": 0.0, "class_axis": 1}, masks_probs,
         "segmentation", t_dice),
    Case("iou", "iou", {}, masks_probs, "segmentation", t_iou),
    Case("iou-logits-classes-first", "iou", {"from_logits": True, "class_axis": 1},
         masks_logits, "segmentation", t_iou),
    Case("tversky", "tversky", {"alpha": 0.3, "beta": 0.7}, masks_probs, "segmentation",
         t_tversky),
    Case("tversky-logits-classes-last", "tversky",
         {"alpha": 0.7, "beta": 0.2, "smooth": 0.5, "from_logits": True, "class_axis": -1},
         masks_logits, "segmentation", t_tversky),
]

CASE_IDS = [c.id for c in CASES]

N_PREDS = {"pairwise": 2, "triplet": 3}


def n_preds(case):
    """How many inputs the case's loss differentiates (and returns gradients for)."""
    return N_PREDS.get(case.kind, 1)


def preds_of(case, y_pred):
    """The differentiated inputs of a drawn case, always as a tuple."""
    return tuple(y_pred) if n_preds(case) > 1 else (y_pred,)


def grads_of(case, grad):
    """A loss's returned gradient(s) as a tuple; checks it is a tuple exactly when it should."""
    if n_preds(case) > 1:
        assert isinstance(grad, tuple) and len(grad) == n_preds(case), type(grad)
        return grad
    assert isinstance(grad, np.ndarray), type(grad)
    return (grad,)


def call_args(case, y_true, preds):
    """Positional arguments of the loss for y_true and the tuple of inputs."""
    return tuple(preds) if case.kind == "triplet" else (y_true,) + tuple(preds)


def per_sample_shape(case, y_pred):
    """Shape of the per-sample losses for the case's (first) input."""
    if case.kind == "segmentation" or (case.kind == "elementwise" and y_pred.ndim == 1):
        return y_pred.shape[:1]
    return y_pred.shape[:-1]


def shape_for(case, ndim=2, n=6):
    """A small input shape of the given rank for the case (classes last for class losses)."""
    if case.kind == "elementwise":
        return {1: (n,), 2: (n, 4), 3: (2, n // 2, 4)}[ndim]
    if case.kind in ("pairwise", "triplet"):
        return {1: (EMBEDDING_DIM,), 2: (n, EMBEDDING_DIM),
                3: (2, n // 2, EMBEDDING_DIM)}[ndim]
    if case.kind == "segmentation":
        axis = case.params.get("class_axis")
        if axis is None:
            return {1: (n,), 2: (n, 8), 3: (n, 3, 4)}[ndim]
        if ndim < 3:                    # a class axis needs 2-D at least
            return (n, N_CLASSES)
        return (n, 4, N_CLASSES) if axis == -1 else (n, N_CLASSES, 4)
    return {1: (N_CLASSES,), 2: (n, N_CLASSES), 3: (2, n // 2, N_CLASSES)}[ndim]
