"""Classification losses in NumPy, with the kernels' conventions:

* probability inputs are clipped to [eps, 1 - eps]; the gradient is 0 where the clip binds;
* logits are handled in the log domain (softplus, max-subtracted log-sum-exp);
* a target term whose coefficient is exactly 0 contributes 0 even where its log is infinite;
* NaN in gives NaN out.
"""
import numpy as np

from .._validation import first_bad_label
from . import RowResult, elementwise


def _smooth_binary(t, s):
    return t + t.dtype.type(s) * (t.dtype.type(0.5) - t)


def _clip(p, eps):
    lo, hi = p.dtype.type(eps), p.dtype.type(1) - p.dtype.type(eps)
    return np.clip(p, lo, hi), (p >= lo) & (p <= hi)


def _zero_outside(g, inside, p):
    return np.where(inside, g, np.where(np.isnan(p), p, 0)).astype(p.dtype, copy=False)


@elementwise
def bce_prob(t, p, params):
    """-(t' log q + (1 - t') log(1 - q)),  q = clip(p),  t' = t (1 - s) + s / 2"""
    ts = _smooth_binary(t, params["label_smoothing"])
    q, inside = _clip(p, params["eps"])
    loss = -(ts * np.log(q) + (1 - ts) * np.log1p(-q))
    hess = ts / (q * q) + (1 - ts) / ((1 - q) * (1 - q))
    return (loss, _zero_outside((q - ts) / (q * (1 - q)), inside, p),
            _zero_outside(hess, inside, p))


@elementwise
def bce_logit(t, z, params):
    """t' softplus(-z) + (1 - t') softplus(z);  gradient sigmoid(z) - t'"""
    ts = _smooth_binary(t, params["label_smoothing"])
    e = np.exp(-np.abs(z))
    l1 = np.log1p(e)
    sp_pos = np.where(z > 0, z, 0) + l1
    sp_neg = np.where(z < 0, -z, 0) + l1
    loss = np.where(ts != 0, ts * sp_neg, 0) + np.where(ts != 1, (1 - ts) * sp_pos, 0)
    sig = np.where(z >= 0, 1 / (1 + e), e / (1 + e))
    r = 1 / (1 + e)
    hess = (e * r * r).astype(z.dtype, copy=False)      # sigmoid(z) sigmoid(-z)
    return loss.astype(z.dtype, copy=False), (sig - ts).astype(z.dtype, copy=False), hess


def _smooth_categorical(t, s):
    k = t.shape[-1]
    return t * t.dtype.type(1 - s) + t.dtype.type(s / k)


def _cce_prob_elements(t, p, params):
    """-t' log clip(p), t' = t (1 - s) + s / K; the per-sample loss sums over classes"""
    ts = _smooth_categorical(t, params["label_smoothing"])
    q, inside = _clip(p, params["eps"])
    return -ts * np.log(q), _zero_outside(-ts / q, inside, p), _zero_outside(ts / (q * q), inside, p)


cce_prob = elementwise(_cce_prob_elements, mean_last_axis=False)


def _softmax_rows(ts, z):
    """sum_k t'_k (lse - z_k), its gradient T' softmax - t' and the diagonal of its Hessian
    T' softmax (1 - softmax), with the +-inf limits."""
    with np.errstate(all="ignore"):
        m = z.max(axis=1, keepdims=True)
        e = np.exp(z - m)
        s = e.sum(axis=1, keepdims=True, dtype=np.float64)
        lse = m.astype(np.float64) + np.log(s)
        loss = np.where(ts != 0, ts * (lse - z), 0).sum(axis=1, dtype=np.float64)
        tmass = ts.sum(axis=1, keepdims=True, dtype=np.float64)
        grad = (tmass * e / s - ts).astype(z.dtype)
        prob = e / s
        hess = (tmass * (prob * (1 - prob))).astype(z.dtype)
        for i in np.flatnonzero(np.isinf(m[:, 0])):
            row = z[i]
            if m[i, 0] < 0 or np.isnan(row).any():        # all -inf: undefined
                loss[i] = np.nan
                grad[i] = np.nan
                hess[i] = np.nan
                continue
            top = row == np.inf
            n_inf = top.sum()
            per = np.where(top, np.log(n_inf), np.inf)
            loss[i] = np.where(ts[i] != 0, ts[i] * per, 0).sum()
            grad[i] = tmass[i, 0] * top / n_inf - ts[i]
            pk = top / n_inf
            hess[i] = tmass[i, 0] * (pk * (1 - pk))
        return loss, grad, hess


def cce_logit(y_true, y_pred, params):
    """Softmax cross-entropy with probability-row targets."""
    ts = _smooth_categorical(y_true, params["label_smoothing"])
    loss, grad, hess = _softmax_rows(ts, y_pred)
    return RowResult(loss, grad, hess=hess)


def _check_labels(labels, k, ignore_index):
    error = first_bad_label(labels, k, ignore_index)
    if error is not None:
        raise error
    valid = None if ignore_index is None else labels != ignore_index
    safe = labels if valid is None else np.where(valid, labels, 0)
    return safe, valid


def _sparse_targets(labels, k, s, dtype):
    ts = np.full((labels.shape[0], k), s / k, dtype=dtype)
    ts[np.arange(labels.shape[0]), labels] += dtype.type(1 - s)
    return ts


def _class_weight(params, safe):
    cw = params.get("class_weight")
    return None if cw is None else cw[safe]


def scce_logit(labels, z, params):
    """Softmax cross-entropy with integer labels."""
    k = z.shape[1]
    safe, valid = _check_labels(labels, k, params.get("ignore_index"))
    ts = _sparse_targets(safe, k, params["label_smoothing"], z.dtype)
    loss, grad, hess = _softmax_rows(ts, z)
    return RowResult(loss, grad, _class_weight(params, safe), valid, hess)


def scce_prob(labels, p, params):
    """-sum_k t'_k log clip(p_k) with integer labels."""
    k = p.shape[1]
    safe, valid = _check_labels(labels, k, params.get("ignore_index"))
    ts = _sparse_targets(safe, k, params["label_smoothing"], p.dtype)
    with np.errstate(all="ignore"):
        q, inside = _clip(p, params["eps"])
        terms = np.where(ts != 0, -ts * np.log(q), np.where(np.isnan(p), p, 0))
        loss = terms.sum(axis=1, dtype=np.float64)
        grad = _zero_outside(-ts / q, inside, p)
        hess = _zero_outside(ts / (q * q), inside, p)
    return RowResult(loss, grad, _class_weight(params, safe), valid, hess)


# ---- focal losses ---------------------------------------------------------------------------

def _powr(x, y):
    """x^y for x >= 0 with x^0 = 1 and 0^y = 0 (y > 0); NaN stays NaN; x * x for y = 2 (as
    the kernels)."""
    if y == 2:
        return x * x
    if y == 0:
        return np.where(np.isnan(x), x, 1).astype(x.dtype, copy=False)
    return np.exp(x.dtype.type(y) * np.log(x))


def _zmul(c, x):
    return np.where(c != 0, c * x, np.where(np.isnan(x), x, 0))


def _alpha_t(t, alpha):
    if alpha is None:
        return np.ones_like(t)
    return t.dtype.type(alpha) * t + t.dtype.type(1 - alpha) * (1 - t)


@elementwise
def binary_focal_logit(t, z, params):
    """a_t m^gamma ce with m = t q + (1 - t) p (p = sigmoid z, q = 1 - p), ce = BCE-with-logits"""
    gamma = z.dtype.type(params["gamma"])
    at = _alpha_t(t, params["alpha"])
    e = np.exp(-np.abs(z))
    l1 = np.log1p(e)
    sp_pos = np.where(z > 0, z, 0) + l1
    sp_neg = np.where(z < 0, -z, 0) + l1
    r = 1 / (1 + e)
    p = np.where(z >= 0, r, e * r)
    q = np.where(z >= 0, e * r, r)
    ce = np.where(t != 0, t * sp_neg, 0) + np.where(t != 1, (1 - t) * sp_pos, 0)
    m = t * q + (1 - t) * p
    mg = _powr(m, gamma)
    u = 1 / (np.where(t != 0, t / p, 0) + np.where(t != 1, (1 - t) / q, 0))
    focal_term = np.where(u != 0, gamma * (1 - 2 * t) * u * ce, 0)
    c = at * mg
    grad = c * ((p - t) + focal_term)
    s2 = 1 - 2 * t
    focal2 = np.where(u != 0, gamma * s2 * u * (((gamma - 1) * s2 * u + (1 - 2 * p)) * ce
                                                 + 2 * (p - t)), 0)
    hess = c * (p * q + focal2)
    loss = _zmul(c, ce)
    return (loss.astype(z.dtype, copy=False), grad.astype(z.dtype, copy=False),
            hess.astype(z.dtype, copy=False))


@elementwise
def binary_focal_prob(t, p, params):
    """a_t m^gamma ce on q = clip(p); gradient 0 where the clip binds"""
    gamma = p.dtype.type(params["gamma"])
    at = _alpha_t(t, params["alpha"])
    q, inside = _clip(p, params["eps"])
    ce = -(t * np.log(q) + (1 - t) * np.log1p(-q))
    m = t * (1 - q) + (1 - t) * q
    mg = _powr(m, gamma)
    ce1 = (q - t) / (q * (1 - q))
    dq = at * mg * (gamma * (1 - 2 * t) * ce / m + ce1)
    s2 = 1 - 2 * t
    ce2 = t / (q * q) + (1 - t) / ((1 - q) * (1 - q))
    hq = at * mg * (gamma * s2 / m * ((gamma - 1) * s2 * ce / m + 2 * ce1) + ce2)
    return ((at * mg * ce).astype(p.dtype, copy=False), _zero_outside(dq, inside, p),
            _zero_outside(hq, inside, p))


def _alpha(params):
    return 1.0 if params["alpha"] is None else params["alpha"]


def _categorical_focal_prob_elements(t, p, params):
    """-alpha t (1 - q)^gamma log q, q = clip(p); the per-sample loss sums over classes"""
    gamma = p.dtype.type(params["gamma"])
    c = p.dtype.type(_alpha(params)) * t
    q, inside = _clip(p, params["eps"])
    oq = 1 - q
    lq = np.log(q)
    mg = _powr(oq, gamma)
    loss = (-c * mg * lq).astype(p.dtype, copy=False)
    hq = c * mg * (2 * gamma / (q * oq) + 1 / (q * q) - gamma * (gamma - 1) * lq / (oq * oq))
    return (loss, _zero_outside(c * mg * (gamma * lq / oq - 1 / q), inside, p),
            _zero_outside(hq, inside, p))


categorical_focal_prob = elementwise(_categorical_focal_prob_elements, mean_last_axis=False)


def categorical_focal_logit(y_true, y_pred, params):
    """alpha sum_k t_k q_k^gamma (-log p_k), p = softmax(z), q = 1 - p without cancellation:
    S = n_max + rest, q = (n_max - 1 + rest) / S at the max logits (see the kernel)."""
    gamma, alpha = params["gamma"], _alpha(params)
    z = y_pred.astype(np.float64)
    t = y_true.astype(np.float64)
    with np.errstate(all="ignore"):
        mx = z.max(axis=1, keepdims=True)
        top = z == mx
        e = np.exp(z - mx)
        rest = np.where(top, 0, e).sum(axis=1, keepdims=True)
        x = (top.sum(axis=1, keepdims=True) - 1) + rest
        s = 1 + x
        log_s = np.log1p(x)
        p = np.where(top, 1 / s, e / s)
        q = np.where(top, x / s, 1 - p)
        lp = np.where(top, -log_s, (z - mx) - log_s)
        r_max = np.where(x != 0, -log_s / (x / s), -1.0)
        r = np.where(top, r_max, lp / q)
        mg = _powr(q, gamma)
        pr = np.where(p != 0, p * r, 0)
        c = np.where(t != 0, t * mg * (gamma * pr - 1), 0)
        terms = np.where(t != 0, t * mg * -lp, 0)
        loss = terms.sum(axis=1)
        loss = alpha * loss if alpha != 0 else np.where(np.isnan(loss), loss, 0)
        csum = c.sum(axis=1, keepdims=True)
        grad = alpha * (c - p * csum)
        # the diagonal second derivative (see the kernel): e = d q^2 for every class, d = e / q^2
        # only where q >= 1/2 (all but a unique max), whose d enters as e_top (p / q_top)^2
        e = np.where((t != 0) & (p != 0), gamma * t * p * mg * q * (q * r + 2 - (gamma - 1) * pr), 0)
        unique = top.sum(axis=1, keepdims=True) == 1
        big = top & unique
        d = np.where(big, 0, e / (q * q))
        d_other = np.where(top, 0, d).sum(axis=1, keepdims=True)
        d_top = np.where(top, np.where(big, e, d), 0).sum(axis=1, keepdims=True)
        q_top = x / s
        rho = np.where(top | ~(q_top > 0), 0, p / np.where(q_top > 0, q_top, 1))
        dm = np.where(top, d_other, d_other - d) + np.where(unique, 0, d_top - np.where(top, d, 0))
        from_top = np.where(unique & ~top, d_top * rho * rho, 0)
        hess = alpha * (e + p * p * dm + from_top - p * q * csum)
        undefined = np.isnan(z).any(axis=1) | (mx[:, 0] == -np.inf)
        loss[undefined] = np.nan
        grad[undefined] = np.nan
        hess[undefined] = np.nan
    return RowResult(loss, grad.astype(y_pred.dtype), hess=hess.astype(y_pred.dtype))


# ---- hinge losses ---------------------------------------------------------------------------

def _signed(t):
    return np.where(t == 0, t.dtype.type(-1), t)


def _relu(x):
    return np.where(x > 0, x, np.where(np.isnan(x), x, 0))


@elementwise
def hinge(t, p, params):
    """max(0, 1 - y p), y = -1 where t == 0; gradient -y where active"""
    y = _signed(t)
    h = 1 - y * p
    grad = np.where(h > 0, -y, np.where(np.isnan(h), h, 0))
    hess = np.where(np.isnan(h), h, 0).astype(p.dtype, copy=False)
    return _relu(h).astype(p.dtype, copy=False), grad.astype(p.dtype, copy=False), hess


@elementwise
def squared_hinge(t, p, params):
    """max(0, 1 - y p)^2; gradient -2 y max(0, 1 - y p)"""
    y = _signed(t)
    h = _relu(1 - y * p)
    hess = np.where(h > 0, 2 * y * y, np.where(np.isnan(h), h, 0)).astype(p.dtype, copy=False)
    return ((h * h).astype(p.dtype, copy=False), (-2 * y * h).astype(p.dtype, copy=False),
            hess)


def categorical_hinge(y_true, y_pred, params):
    """sum_k t_k max(0, margin + max_{j != k} z_j - z_k) (see the kernel)"""
    z, t = y_pred, y_true
    n, k = z.shape
    margin = z.dtype.type(params["margin"])
    rows = np.arange(n)
    idx = np.arange(k)[None, :]
    with np.errstate(all="ignore"):
        i1 = z.argmax(axis=1)                      # first arg-max (NaN rows are fixed below)
        m1 = z[rows, i1]
        others = np.where(idx == i1[:, None], -np.inf, z)
        m2 = others.max(axis=1)
        cand = (z == m2[:, None]) & (idx != i1[:, None])
        i2, has_i2 = cand.argmax(axis=1), cand.any(axis=1)
        h = margin + np.where(idx == i1[:, None], m2[:, None], m1[:, None]) - z
        on = np.where(h > 0, 1, np.where(np.isnan(h), h, 0)).astype(z.dtype)
        act = np.where(t != 0, t * on, 0)
        loss = np.where(t != 0, t * _relu(h), 0).sum(axis=1, dtype=np.float64)
        grad = -act
        to_i1 = np.where(idx != i1[:, None], act, 0).sum(axis=1, dtype=np.float64)
        grad[rows, i1] += to_i1.astype(z.dtype)
        to_i2 = act[rows, i1]
        grad[rows[has_i2], i2[has_i2]] += to_i2[has_i2]
        bad = np.isnan(z).any(axis=1)
        loss[bad] = np.nan
        grad[bad] = np.nan
    return RowResult(loss, grad.astype(z.dtype, copy=False))
