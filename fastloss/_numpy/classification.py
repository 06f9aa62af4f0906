"""Classification losses in NumPy, with the kernels' conventions:

* probability inputs are clipped to [eps, 1 - eps]; the gradient is 0 where the clip binds;
* logits are handled in the log domain (softplus, max-subtracted log-sum-exp);
* a target term whose coefficient is exactly 0 contributes 0 even where its log is infinite;
* NaN in gives NaN out.
"""
import numpy as np

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
    return loss, _zero_outside((q - ts) / (q * (1 - q)), inside, p)


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
    return loss.astype(z.dtype, copy=False), (sig - ts).astype(z.dtype, copy=False)


def _smooth_categorical(t, s):
    k = t.shape[-1]
    return t * t.dtype.type(1 - s) + t.dtype.type(s / k)


def _cce_prob_elements(t, p, params):
    """-t' log clip(p), t' = t (1 - s) + s / K; the per-sample loss sums over classes"""
    ts = _smooth_categorical(t, params["label_smoothing"])
    q, inside = _clip(p, params["eps"])
    return -ts * np.log(q), _zero_outside(-ts / q, inside, p)


cce_prob = elementwise(_cce_prob_elements, mean_last_axis=False)


def _softmax_rows(ts, z):
    """sum_k t'_k (lse - z_k) and its gradient T' softmax - t', with the +-inf limits."""
    with np.errstate(all="ignore"):
        m = z.max(axis=1, keepdims=True)
        e = np.exp(z - m)
        s = e.sum(axis=1, keepdims=True, dtype=np.float64)
        lse = m.astype(np.float64) + np.log(s)
        loss = np.where(ts != 0, ts * (lse - z), 0).sum(axis=1, dtype=np.float64)
        tmass = ts.sum(axis=1, keepdims=True, dtype=np.float64)
        grad = (tmass * e / s - ts).astype(z.dtype)
        for i in np.flatnonzero(np.isinf(m[:, 0])):
            row = z[i]
            if m[i, 0] < 0 or np.isnan(row).any():        # all -inf: undefined
                loss[i] = np.nan
                grad[i] = np.nan
                continue
            top = row == np.inf
            n_inf = top.sum()
            per = np.where(top, np.log(n_inf), np.inf)
            loss[i] = np.where(ts[i] != 0, ts[i] * per, 0).sum()
            grad[i] = tmass[i, 0] * top / n_inf - ts[i]
        return loss, grad


def cce_logit(y_true, y_pred, params):
    """Softmax cross-entropy with probability-row targets."""
    ts = _smooth_categorical(y_true, params["label_smoothing"])
    loss, grad = _softmax_rows(ts, y_pred)
    return RowResult(loss, grad)


def _check_labels(labels, k, ignore_index):
    valid = None if ignore_index is None else labels != ignore_index
    bad = (labels < 0) | (labels >= k)
    if valid is not None:
        bad &= valid
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        extra = "" if ignore_index is None else f" and not ignore_index={ignore_index}"
        raise ValueError(f"y_true holds label {labels[i]} at flat index {i}, outside "
                         f"[0, {k}){extra}")
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
    loss, grad = _softmax_rows(ts, z)
    return RowResult(loss, grad, _class_weight(params, safe), valid)


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
    return RowResult(loss, grad, _class_weight(params, safe), valid)
