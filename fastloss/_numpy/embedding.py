"""Metric-learning losses in NumPy, with the kernels' conventions (src/fl_embedding_impl.h):

* one sample per row of embeddings; sums over a row in float64;
* a hinge max(0, x) keeps a NaN; its subgradient is 0 where x = 0;
* the gradient of a distance d is 0 where d = 0 (PyTorch's convention for norms).
"""
import numpy as np

from . import MultiRowResult

F64 = np.float64


def _relu(x):
    """max(x, 0), NaN kept"""
    return np.where(x > 0, x, np.where(np.isnan(x), x, 0.0))


def _inv(d):
    """1 / d, 0 at d = 0, NaN kept"""
    with np.errstate(divide="ignore"):
        return np.where(d > 0, 1.0 / d, np.where(np.isnan(d), d, 0.0))


def contrastive(y, preds, params, layout):
    """y d^2 + (1 - y) max(0, margin - d)^2,  d = ||x1 - x2||_2"""
    x1, x2 = preds
    margin = params["margin"]
    with np.errstate(all="ignore"):
        u = x1 - x2
        d2 = np.sum(u.astype(F64) ** 2, axis=1)
        d = np.sqrt(d2)
        y = y.astype(F64)
        h = _relu(margin - d)
        loss = np.where(y != 0, y * d2, 0.0) + np.where(y != 1, (1 - y) * h * h, 0.0)
        hinge = np.where(d > 0, 2 * (1 - y) * h / np.where(d > 0, d, 1.0), 0.0)
        g1 = ((2 * y - hinge)[:, None] * u).astype(x1.dtype)
    return MultiRowResult(loss, (g1, -g1))


def _distance(u, p):
    """(||u||_p per row, the row-wise derivative d ||u||_p / du)"""
    au = np.abs(u)
    if p == 2:
        d = np.sqrt(np.sum(u * u, axis=1, dtype=F64))
        return d, _inv(d)[:, None] * u
    if p == 1:
        d = np.sum(au, axis=1, dtype=F64)
        return d, np.where(np.isnan(d), d, 1.0)[:, None] * np.sign(u)
    d = np.sum(au.astype(F64) ** p, axis=1) ** (1.0 / p)
    return d, _inv(d ** (p - 1))[:, None] * (np.sign(u) * au.astype(F64) ** (p - 1))


def triplet(target, preds, params, layout):
    """max(0, margin + d(a, p) - d(a, n)),  d(x, y) = ||x - y + eps||_p;
    with swap, d(a, n) -> min(d(a, n), d(p, n))"""
    a, pos, neg = preds
    p, eps = params["p"], a.dtype.type(params["eps"])
    with np.errstate(all="ignore"):
        d_ap, D_ap = _distance(a - pos + eps, p)
        d_an, D_an = _distance(a - neg + eps, p)
        if params["swap"]:
            d_pn, D_pn = _distance(pos - neg + eps, p)
            use_pn = d_pn < d_an
        else:
            d_pn, D_pn = d_an, 0.0
            use_pn = np.zeros(d_an.shape, dtype=bool)
        loss = _relu(params["margin"] + d_ap - np.where(use_pn, d_pn, d_an))
        active = ((loss > 0) | np.isnan(loss))[:, None]
        use_pn = use_pn[:, None]
        dan = np.where(use_pn, 0.0, D_an)
        dpn = np.where(use_pn, D_pn, 0.0)
        grads = tuple(np.where(active, g, 0.0).astype(a.dtype)
                      for g in (D_ap - dan, -D_ap - dpn, dan + dpn))
    return MultiRowResult(loss, grads)


COSINE_EPS = 1e-12   # PyTorch's EPSILON in cosine_embedding_loss: added to both |x|^2


def cosine_embedding(y, preds, params, layout):
    """1 - cos(x1, x2) if y = 1,  max(0, cos(x1, x2) - margin) if y = -1"""
    x1, x2 = preds
    margin = params["margin"]
    with np.errstate(all="ignore"):
        u, v = x1.astype(F64), x2.astype(F64)
        s12 = np.sum(u * v, axis=1)
        A = np.sum(u * u, axis=1) + COSINE_EPS
        B = np.sum(v * v, axis=1) + COSINE_EPS
        r = 1.0 / (np.sqrt(A) * np.sqrt(B))
        c = s12 * r
        positive = y > 0
        loss = np.where(positive, 1.0 - c, _relu(c - margin))
        dl = np.where(positive, -1.0,
                      np.where(c - margin > 0, 1.0, np.where(np.isnan(c), c, 0.0)))
        g1 = (dl * r)[:, None] * v - (dl * c / A)[:, None] * u
        g2 = (dl * r)[:, None] * u - (dl * c / B)[:, None] * v
    return MultiRowResult(loss, (g1.astype(x1.dtype), g2.astype(x1.dtype)))
