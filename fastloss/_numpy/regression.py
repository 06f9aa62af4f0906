"""Regression losses in NumPy: element maths (loss, d loss / d prediction, d2 loss /
d prediction2), the exact second derivative (0 where the loss is piecewise linear)."""
import numpy as np

from . import elementwise


def _sign(d):
    """sign with sign(0) = 0 and sign(NaN) = NaN, as the kernels."""
    return np.sign(d)


def _keepnan(h, x):
    """h (a constant or an array), or x where x is NaN: NaN in gives NaN out."""
    return np.where(np.isnan(x), x, h).astype(x.dtype, copy=False)


@elementwise
def mse(t, p, params):
    """(p - t)^2; second derivative 2"""
    d = p - t
    return d * d, 2 * d, _keepnan(2, d)


@elementwise
def mae(t, p, params):
    """|p - t|, subgradient 0 at 0; second derivative 0"""
    d = p - t
    return np.abs(d), _sign(d), _keepnan(0, d)


@elementwise
def huber(t, p, params):
    """0.5 d^2 if |d| <= delta else delta (|d| - 0.5 delta)"""
    delta = p.dtype.type(params["delta"])
    d = p - t
    ad = np.abs(d)
    quad = ad <= delta
    loss = np.where(quad, 0.5 * d * d, delta * (ad - 0.5 * delta))
    grad = np.where(quad, d, delta * _sign(d))
    hess = _keepnan(np.where(quad, 1, 0), d)
    return loss.astype(p.dtype, copy=False), grad.astype(p.dtype, copy=False), hess


def _zmul(c, x):
    """c * x, 0 where c == 0 even if x is infinite, NaN where x is NaN (the kernels' rule)."""
    return np.where(c != 0, c * x, np.where(np.isnan(x), x, 0))


@elementwise
def smooth_l1(t, p, params):
    """0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta"""
    beta = p.dtype.type(params["beta"])
    d = p - t
    ad = np.abs(d)
    quad = ad < beta
    loss = np.where(quad, 0.5 * d * d / beta, ad - 0.5 * beta)
    grad = np.where(quad, d / beta, _sign(d))
    hess = _keepnan(np.where(quad, 1 / beta, 0), d)
    return loss.astype(p.dtype, copy=False), grad.astype(p.dtype, copy=False), hess


@elementwise
def pseudo_huber(t, p, params):
    """delta^2 (sqrt(1 + (d / delta)^2) - 1); gradient d / r, second derivative 1 / r^3"""
    delta = p.dtype.type(params["delta"])
    d = p - t
    x = np.abs(d) / delta
    big = x > 1
    u = np.where(big, 1 / x, x)
    s = np.sqrt(1 + u * u)
    x_over_r = np.where(big, 1 / s, x / s)
    x_over_r1 = np.where(big, 1 / (s + u), x / (s + 1))
    inv_r = np.where(big, u / s, 1 / s)
    loss = delta * delta * x * x_over_r1
    grad = _sign(d) * delta * x_over_r
    return (loss.astype(p.dtype, copy=False), grad.astype(p.dtype, copy=False),
            (inv_r * inv_r * inv_r).astype(p.dtype, copy=False))


@elementwise
def log_cosh(t, p, params):
    """log(cosh(d)), by log1p(2 sinh^2(d/2)) near 0 and |d| - log 2 + log1p(e^-2|d|) beyond"""
    d = p - t
    ad = np.abs(d)
    e = np.exp(-ad)
    small = ad < 2
    sh = np.sinh(np.where(small, d, 0) / 2)        # cosh d - 1 = 2 sinh^2(d/2), no cancellation
    e2 = e * e
    loss = np.where(small, np.log1p(2 * sh * sh), (ad - np.log(2.0)) + np.log1p(e2))
    hess = 4 * e2 / ((1 + e2) * (1 + e2))          # sech^2 d, no cancellation
    return loss.astype(p.dtype, copy=False), np.tanh(d), hess


@elementwise
def quantile(t, p, params):
    """q d if d >= 0 else (q - 1) d, d = t - p; subgradient 0 at d = 0"""
    q = p.dtype.type(params["quantile"])
    d = t - p
    loss = np.where(d >= 0, q * d, (q - 1) * d)
    grad = np.where(d > 0, -q, np.where(d < 0, 1 - q, d))
    return loss.astype(p.dtype, copy=False), grad.astype(p.dtype, copy=False), _keepnan(0, d)


def _stirling(t):
    return np.where(t > 1, t * np.log(t) - t + 0.5 * np.log(2 * np.pi * t), 0).astype(t.dtype)


@elementwise
def poisson_log(t, z, params):
    """exp(z) - t z (+ Stirling term with full); gradient exp(z) - t"""
    ez = np.exp(z)
    loss = np.where(z < np.inf, ez - _zmul(t, z), z)
    if params["full"]:
        loss = loss + _stirling(t)
    return loss.astype(z.dtype, copy=False), (ez - t).astype(z.dtype, copy=False), ez


@elementwise
def poisson_rate(t, p, params):
    """p - t log(p + eps) (+ Stirling term with full); gradient 1 - t / (p + eps)"""
    q = p + p.dtype.type(params["eps"])
    loss = np.where(p < np.inf, p - np.where(t != 0, t * np.log(q), 0), p)
    if params["full"]:
        loss = loss + _stirling(t)
    grad = np.where(np.isnan(p), p, 1) - np.where(t != 0, t / q, 0)
    hess = _keepnan(np.where(t != 0, t / q / q, 0), p)
    return loss.astype(p.dtype, copy=False), grad.astype(p.dtype, copy=False), hess


@elementwise
def msle(t, p, params):
    """(log1p(p) - log1p(t))^2; gradient 2 (log1p(p) - log1p(t)) / (1 + p), 0 at p = +inf"""
    d = np.log1p(p) - np.log1p(t)
    grad = np.where(p < np.inf, 2 * d / (1 + p), np.where(np.isnan(d), d, 0))
    hess = np.where(p < np.inf, 2 * (1 - d) / (1 + p) / (1 + p), np.where(np.isnan(d), d, 0))
    return d * d, grad.astype(p.dtype, copy=False), hess


@elementwise
def mape(t, p, params):
    """scale |p - t| / max(|t|, epsilon); gradient scale sign(p - t) / max(|t|, epsilon)"""
    eps = p.dtype.type(params["epsilon"])
    at = np.abs(t)
    s = p.dtype.type(100.0 if params["percent"] else 1.0) / np.where(at > eps, at, eps)
    d = p - t
    grad = (s * _sign(d)).astype(p.dtype, copy=False)
    return (s * np.abs(d)).astype(p.dtype, copy=False), grad, _keepnan(0, grad)
