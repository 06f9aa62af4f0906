"""The one definition of the reductions: their denominator, the gradient's scale, the value.

Every path uses these three functions - the compiled kernels (``src/_kernels.pyx``), the
NumPy backend (``fastloss._numpy.reduce``) and custom losses (``fastloss._custom``) - so the
rules below exist once.  With per-sample losses l_i, weights w_i (``sample_weight`` times a
class weight, or None) and ``count`` the samples that count (not ``ignore_index``):

    reduction              code  value                 denominator D
    "none"                 0     w_i l_i (per sample)  1
    "sum"                  1     sum w_i l_i           1
    "mean"                 2     sum w_i l_i / D       sum w_i (no weights: count)
    "sum_over_batch_size"  3     sum w_i l_i / D       count

The gradient of the reduced loss is the per-sample gradient times w_i / D.  When nothing
counts (D = 0: every label ignored, or every weight 0) the value of "mean" is 0/0 = NaN, as
in PyTorch, and the gradient is 0.
"""
import math

REDUCTIONS = ("mean", "sum", "none", "sum_over_batch_size")
CODES = {"none": 0, "sum": 1, "mean": 2, "sum_over_batch_size": 3}
NONE, SUM, MEAN, SUM_OVER_BATCH_SIZE = 0, 1, 2, 3


def denominator(code, count, weight_sum=None):
    """D of the table above; ``weight_sum`` is None when the call has no weights."""
    if code == MEAN:
        return float(count) if weight_sum is None else float(weight_sum)
    if code == SUM_OVER_BATCH_SIZE:
        return float(count)
    return 1.0


def gradient_scale(denom):
    """1 / D, and 0 when D = 0 (nothing counted: the gradient is 0)."""
    return 1.0 / denom if denom != 0.0 else 0.0


def value(total, denom, code):
    """The reduced loss from the weighted sum ``total`` (for "none": the sum itself)."""
    if code == MEAN or code == SUM_OVER_BATCH_SIZE:
        return total / denom if denom != 0.0 else math.nan
    return total
