"""Regression losses in NumPy: element maths (loss, d loss / d prediction)."""
import numpy as np

from . import elementwise


def _sign(d):
    """sign with sign(0) = 0 and sign(NaN) = NaN, as the kernels."""
    return np.sign(d)


@elementwise
def mse(t, p, params):
    """(p - t)^2"""
    d = p - t
    return d * d, 2 * d


@elementwise
def mae(t, p, params):
    """|p - t|, subgradient 0 at 0"""
    d = p - t
    return np.abs(d), _sign(d)


@elementwise
def huber(t, p, params):
    """0.5 d^2 if |d| <= delta else delta (|d| - 0.5 delta)"""
    delta = p.dtype.type(params["delta"])
    d = p - t
    ad = np.abs(d)
    quad = ad <= delta
    loss = np.where(quad, 0.5 * d * d, delta * (ad - 0.5 * delta))
    grad = np.where(quad, d, delta * _sign(d))
    return loss.astype(p.dtype, copy=False), grad.astype(p.dtype, copy=False)
