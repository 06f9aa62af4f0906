"""Distribution losses in NumPy: the Kullback-Leibler divergence, with the kernels' rules
(t log t = 0 at t = 0, a -inf log-target is a class with t = 0, probabilities clipped to
[eps, 1], NaN in gives NaN out).  The per-sample loss sums over the class axis."""
import numpy as np

from . import elementwise


def _xlogx(x):
    return np.where(x != 0, x * np.log(x), 0).astype(x.dtype, copy=False)


def _zmul(c, x):
    return np.where(c != 0, c * x, np.where(np.isnan(x), x, 0)).astype(x.dtype, copy=False)


def _clip_unit(p, eps):
    lo = p.dtype.type(eps)
    return np.clip(p, lo, p.dtype.type(1)), (p >= lo) & (p <= 1)


def _kl_prob_elements(t, p, params):
    """t (log t - log q), q = clip(p, eps, 1); gradient -t / q inside the clip, else 0"""
    if params["log_target"]:
        lt, t = t, np.exp(t)
        entropy = _zmul(t, lt)
    else:
        entropy = _xlogx(t)
    q, inside = _clip_unit(p, params["eps"])
    grad = np.where(inside, -t / q, np.where(np.isnan(p), p, 0))
    hess = np.where(inside, t / (q * q), np.where(np.isnan(p), p, 0))
    return entropy - t * np.log(q), grad.astype(p.dtype, copy=False), hess.astype(p.dtype)


def _kl_log_elements(t, z, params):
    """t (log t - z) for log-probabilities z; gradient -t"""
    if params["log_target"]:
        lt, t = t, np.exp(t)
        entropy = _zmul(t, lt)
    else:
        entropy = _xlogx(t)
    grad = np.where(np.isnan(z), z, -t)
    hess = np.where(np.isnan(z), z, 0).astype(z.dtype, copy=False)
    return entropy - _zmul(t, z), grad.astype(z.dtype, copy=False), hess


kl_prob = elementwise(_kl_prob_elements, mean_last_axis=False)
kl_log = elementwise(_kl_log_elements, mean_last_axis=False)
