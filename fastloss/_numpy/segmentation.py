"""Overlap (segmentation) losses in NumPy, with the kernels' conventions
(src/fl_segmentation_impl.h): per sample (and per class, with a class axis) the sums
TP = sum t q, T = sum t, Q = sum q in float64; Tversky with smooth s, alpha on false positives
and beta on false negatives; Dice and IoU as its special cases; q = sigmoid(z) for logits.
"""
import numpy as np

from . import MultiRowResult

F64 = np.float64


def _sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False)


def _overlap(t, x, smooth, alpha, beta, from_logits, layout):
    """1 - (TP + s) / (TP + alpha (Q - TP) + beta (T - TP) + s), mean over classes"""
    n = x.shape[0]
    C, inner = layout.classes, layout.inner
    with np.errstate(all="ignore"):
        q = _sigmoid(x) if from_logits else x
        t4 = t.reshape(n, -1, C, inner)
        q4 = q.reshape(n, -1, C, inner)
        tp = np.sum(t4.astype(F64) * q4, axis=(1, 3))
        st = np.sum(t4, axis=(1, 3), dtype=F64)
        sq = np.sum(q4, axis=(1, 3), dtype=F64)
        b = 1.0 - alpha - beta
        num = tp + smooth
        den = b * tp + alpha * sq + beta * st + smooth
        loss = np.mean(1.0 - num / den, axis=1)
        # d loss_c / d q = A_c t + B_c, and 1 / C for the mean over classes
        A = (b * num - den) / (den * den) / C
        B = alpha * num / (den * den) / C
        g = A[:, None, :, None] * t4 + B[:, None, :, None]
        if from_logits:
            g = g * (q4 * (1 - q4))
    return MultiRowResult(loss, (g.reshape(n, -1).astype(x.dtype),))


def tversky(t, preds, params, layout):
    """1 - (TP + s) / (TP + alpha FP + beta FN + s)"""
    return _overlap(t, preds[0], params["smooth"], params["alpha"], params["beta"],
                    params["from_logits"], layout)


def dice(t, preds, params, layout):
    """1 - (2 TP + s) / (T + Q + s)  =  Tversky(alpha = beta = 1/2, smooth s / 2)"""
    return _overlap(t, preds[0], params["smooth"] / 2, 0.5, 0.5, params["from_logits"],
                    layout)


def iou(t, preds, params, layout):
    """1 - (TP + s) / (T + Q - TP + s)  =  Tversky(alpha = beta = 1, smooth s)"""
    return _overlap(t, preds[0], params["smooth"], 1.0, 1.0, params["from_logits"], layout)
