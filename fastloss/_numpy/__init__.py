"""The NumPy backend: every loss in plain NumPy, with the kernels' exact semantics.

Each loss contributes one function (in ``regression.py`` / ``classification.py``)

    fn(y_true, y_pred, params) -> RowResult(loss, grad, weight, valid, hess)

on 2-D ``(n_rows, k)`` predictions (labels: 1-D ``(n_rows,)``), where ``loss`` is the
per-sample loss (float64), ``grad`` is d loss_row / d y_pred (y_pred's dtype), ``weight`` an
extra per-sample weight (class weights) or None, ``valid`` a mask of the samples that
count (``ignore_index``) or None, and ``hess`` the diagonal d2 loss_row / d y_pred2 computed
by the same function (None for a loss without one).  :func:`reduce` then applies
``sample_weight`` and the reduction exactly as the compiled kernels do.
"""
from typing import NamedTuple, Optional

import numpy as np

from .. import _reduction as R


class RowResult(NamedTuple):
    loss: np.ndarray
    grad: np.ndarray
    weight: Optional[np.ndarray] = None
    valid: Optional[np.ndarray] = None
    hess: Optional[np.ndarray] = None


def elementwise(elem, mean_last_axis=True):
    """Lift ``elem(t, p, params) -> (loss, dloss/dp, d2loss/dp2)`` on elements to a row
    function."""
    def rows(y_true, y_pred, params):
        with np.errstate(all="ignore"):
            loss, grad, hess = elem(y_true, y_pred, params)
            k = y_pred.shape[1]
            row = loss.sum(axis=1, dtype=np.float64)
            if mean_last_axis and k > 1:
                row /= k
                grad = grad / y_pred.dtype.type(k)
                hess = hess / y_pred.dtype.type(k)
        dtype = y_pred.dtype
        return RowResult(row, grad.astype(dtype, copy=False),
                         hess=np.broadcast_to(hess, y_pred.shape).astype(dtype))
    rows.__name__ = elem.__name__
    rows.__doc__ = elem.__doc__
    return rows


def reduce(result, sample_weight, reduction_code):
    """Apply weights and the reduction (:mod:`fastloss._reduction`); return (value, gradient
    2-D).  ``sample_weight`` has been validated (finite, >= 0) by the caller."""
    return reduce_with_hess(result, sample_weight, reduction_code)[:2]


def reduce_with_hess(result, sample_weight, reduction_code):
    """:func:`reduce`, and the row function's second derivative scaled as the gradient is
    (None when it has none): (value, gradient 2-D, hess 2-D or None)."""
    loss, grad, extra, valid, hess = result
    w = sample_weight
    if extra is not None:
        w = extra if w is None else w * extra
    count = loss.shape[0]
    with np.errstate(all="ignore"):
        if valid is not None:
            loss = np.where(valid, loss, 0.0)
            grad = np.where(valid[:, None], grad, grad.dtype.type(0))
            if hess is not None:
                hess = np.where(valid[:, None], hess, hess.dtype.type(0))
            if w is not None:
                w = np.where(valid, w, 0.0)
            count = int(valid.sum())
        weighted_loss = loss if w is None else loss * w
        denom = R.denominator(reduction_code, count, None if w is None else float(w.sum()))
        scale = R.gradient_scale(denom)
        factor = scale if w is None else w * scale
        if np.ndim(factor):
            factor = factor[:, None]
        grad = (grad * factor).astype(grad.dtype, copy=False)
        if hess is not None:
            hess = (hess * factor).astype(hess.dtype, copy=False)
        if reduction_code == R.NONE:
            return weighted_loss, grad, hess
        return R.value(float(np.sum(weighted_loss)), denom, reduction_code), grad, hess


class MultiRowResult(NamedTuple):
    """Per-sample losses (float64) and one gradient per differentiated input (2-D each).

    The twins of losses run by a family (``embedding.py``, ``segmentation.py``, custom
    losses) are ``fn(y_true, preds, params, layout) -> MultiRowResult``, with ``preds`` a
    tuple of ``(n_rows, k)`` arrays; :func:`reduce_grads` then reduces them.
    """
    loss: np.ndarray
    grads: tuple


def reduce_grads(result, sample_weight, reduction_code):
    """:func:`reduce` for losses of several inputs: (value, tuple of scaled 2-D gradients)."""
    value = None
    grads = []
    for g in result.grads:
        value, g = reduce(RowResult(result.loss, g), sample_weight, reduction_code)
        grads.append(g)
    return value, tuple(grads)
