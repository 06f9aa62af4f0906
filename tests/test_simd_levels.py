"""What holds between SIMD levels, exactly as the README states it.

The AVX2 and AVX-512 variants are the same C code compiled with FMA contraction
(``-ffp-contract=fast``) and wider vectors, so results may differ from the baseline in the
last bits: a fused multiply-add rounds once where the baseline rounds twice.  The stated
bound, checked here for every case of the battery in float32 and float64:

* every gradient element is within 16 eps of the largest |gradient| of its sample, and every
  element of the diagonal Hessian (losses that have one) within 64 eps of the largest
  |Hessian| of its sample (softmax's p (1 - p) amplifies the exponentials' last-bit
  differences where p is near 0 or 1),
* the reduced loss (``reduction="sum"``) is within 64 eps of sum_i |l_i|,

eps being the machine epsilon of the computation dtype.  (Per element in ULPs there is no
useful bound: an element that is the difference of two close numbers, softmax_k - t_k near
0 for instance, has few significant bits at any level.)  Within one level, results are
bitwise identical whatever the thread count (tests/test_battery.py).
"""
import numpy as np
import pytest

import fastloss as fl
from cases import CASES, call_args, grads_of, preds_of, shape_for

K = fl._config._kernels
LEVELS = K.simd_levels() if K is not None else []
GRAD_BOUND, LOSS_BOUND, HESS_BOUND = 16, 64, 64


def _shape(case):
    return (512, 7) if case.kind == "elementwise" else (64,) + shape_for(case, 3)[1:]


@pytest.mark.skipif(len(LEVELS) < 2, reason="this CPU runs one SIMD level only")
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_simd_levels_agree_within_the_stated_bound(case, dtype):
    loss = fl.get(case.loss)
    hessian = fl.get(case.loss, **case.params).has_hessian
    eps = float(np.finfo(dtype).eps)
    before = K.simd_level()
    try:
        for seed in range(2):
            y, x = case.inputs(np.random.default_rng(seed), _shape(case), dtype)
            args = call_args(case, y, preds_of(case, x))
            results = {}
            with fl.use_backend("cython"):
                for level in LEVELS:
                    K.set_simd_level(level)
                    value, grad = loss.value_and_grad(*args, reduction="sum", **case.params)
                    per = loss(*args, reduction="none", **case.params)
                    # the pair (array, bound in eps): every gradient, and the Hessian
                    grads = tuple((g, GRAD_BOUND) for g in grads_of(case, grad))
                    if hessian:
                        grads += ((loss.hess(*args, reduction="sum", **case.params),
                                   HESS_BOUND),)
                    results[level] = (value, grads, per)
            base_value, base_grads, base_per = results[LEVELS[0]]
            scale = float(np.nansum(np.abs(base_per.astype(np.float64))))
            for level in LEVELS[1:]:
                value, grads, _ = results[level]
                assert abs(value - base_value) <= LOSS_BOUND * eps * scale, (level, value,
                                                                              base_value)
                for (g, bound), (b, _) in zip(grads, base_grads):
                    g2 = g.reshape(g.shape[0], -1).astype(np.float64)
                    b2 = b.reshape(b.shape[0], -1).astype(np.float64)
                    row = np.nanmax(np.abs(b2), axis=1, keepdims=True)
                    assert np.array_equal(np.isnan(g2), np.isnan(b2))
                    err = np.nan_to_num(np.abs(g2 - b2)) <= bound * eps * row
                    assert err.all(), (level, float(np.nanmax(np.abs(g2 - b2) / row)) / eps)
    finally:
        K.set_simd_level(before)
