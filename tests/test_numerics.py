"""Extreme inputs: huge and infinite logits, masked classes, saturated probabilities, NaN,
and the accuracy of float32 sums over 10^7 elements."""
import numpy as np
import pytest

import fastloss as fl
from cases import CASES, call_args, grads_of, preds_of, shape_for, torch

BACKENDS = ["cython", "numpy"]
inf = np.inf


@pytest.fixture(params=BACKENDS)
def backend(request):
    with fl.use_backend(request.param):
        yield request.param


bce = fl.binary_cross_entropy
cce = fl.categorical_cross_entropy
scce = fl.sparse_categorical_cross_entropy


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_logits_huge_values_match_torch(dtype, backend):
    if torch is None:
        pytest.skip("PyTorch is not installed")
    z = np.array([1e4, -1e4, 1e4, -1e4, 30.0, -30.0, 0.0], dtype=dtype)
    y = np.array([1, 0, 0, 1, 1, 0, 1], dtype=dtype)
    value, grad = bce.value_and_grad(y, z, from_logits=True, reduction="none")
    zt = torch.tensor(z.astype(np.float64), requires_grad=True)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(zt, torch.tensor(y, dtype=torch.float64),
                                                               reduction="none")
    ref.sum().backward()
    assert np.all(np.isfinite(value))
    # PyTorch's float64 value at z = -30, y = 0 cancels (-30 + ... + 30) and is 1.3% off the
    # exact log1p(exp(-30)); compare with an absolute tolerance and pin the exact value.
    np.testing.assert_allclose(value, ref.detach().numpy(), rtol=1e-6, atol=1e-12)
    assert value[5] == pytest.approx(np.log1p(np.exp(-30.0)), rel=1e-6)
    np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_bce_logits_infinite(backend):
    z = np.array([inf, -inf, inf, -inf])
    y = np.array([1.0, 0.0, 0.0, 1.0])
    value, grad = bce.value_and_grad(y, z, from_logits=True, reduction="none")
    np.testing.assert_array_equal(value, [0.0, 0.0, inf, inf])
    np.testing.assert_array_equal(grad, [0.0, 0.0, 1.0, -1.0])
    # the confident-and-right half alone has a finite mean
    assert bce(y[:2], z[:2], from_logits=True) == 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_huge_logits_match_torch(dtype, backend):
    if torch is None:
        pytest.skip("PyTorch is not installed")
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [5e3, 5e3 + 1, -1e4]], dtype=dtype)
    y = np.array([1, 2, 0])
    value, grad = scce.value_and_grad(y, z, from_logits=True, reduction="none")
    zt = torch.tensor(z.astype(np.float64), requires_grad=True)
    ref = torch.nn.functional.cross_entropy(zt, torch.tensor(y), reduction="none")
    ref.sum().backward()
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(value, ref.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_minus_inf_logit_on_zero_target_class_is_a_mask(dtype, backend):
    """A -inf logit masks its class: same loss as if the class did not exist, grad 0 there."""
    z = np.array([[0.5, -inf, 2.0, -1.0], [-inf, 1.0, 0.0, -inf]], dtype=dtype)
    y = np.array([2, 1])
    onehot = np.eye(4, dtype=dtype)[y]
    for value, grad in (scce.value_and_grad(y, z, from_logits=True, reduction="none"),
                        cce.value_and_grad(onehot, z, from_logits=True, reduction="none")):
        assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
        kept = [np.array([0.5, 2.0, -1.0]), np.array([1.0, 0.0])]
        for i, row in enumerate(kept):
            target = {0: 1, 1: 0}[i]
            expected = np.log(np.exp(row.astype(float)).sum()) - row[target]
            assert value[i] == pytest.approx(expected, rel=1e-6)
        assert grad[0, 1] == 0 and grad[1, 0] == 0 and grad[1, 3] == 0


def test_plus_inf_logit_limits(backend):
    z = np.array([[inf, 0.0, 1.0], [inf, 0.0, 1.0], [inf, inf, 0.0]])
    y = np.array([0, 1, 0])
    value, grad = scce.value_and_grad(y, z, from_logits=True, reduction="none")
    assert value[0] == 0.0 and value[1] == inf
    assert value[2] == pytest.approx(np.log(2.0))
    np.testing.assert_array_equal(grad[0], [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(grad[1], [1.0, -1.0, 0.0])
    np.testing.assert_allclose(grad[2], [-0.5, 0.5, 0.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_probabilities_exactly_zero_and_one(dtype, backend):
    eps = float(np.finfo(dtype).eps)
    p = np.array([0.0, 1.0, 0.0, 1.0], dtype=dtype)
    y = np.array([0.0, 1.0, 1.0, 0.0], dtype=dtype)
    value, grad = bce.value_and_grad(y, p, reduction="none")
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(value[:2], -np.log1p(-eps), rtol=1e-3)
    np.testing.assert_allclose(value[2:], -np.log(eps), rtol=1e-5)
    np.testing.assert_array_equal(grad, 0)   # clipped: the clip is part of the function
    probs = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=dtype)
    labels = np.array([0, 0])
    for value, grad in (scce.value_and_grad(labels, probs, reduction="none"),
                        cce.value_and_grad(np.eye(3, dtype=dtype)[labels], probs,
                                           reduction="none")):
        assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
        assert value[0] == pytest.approx(-np.log1p(-eps), rel=1e-3, abs=1e-12)
        assert value[1] == pytest.approx(-np.log(eps), rel=1e-5)


def _nan_inputs(case, dtype):
    rng = np.random.default_rng(8)
    y_true, y_pred = case.inputs(rng, _shape(case), dtype)
    preds = [x.copy() for x in preds_of(case, y_pred)]
    preds[0][2, 1] = np.nan
    return y_true, tuple(preds)


def _shape(case):
    if case.kind in ("elementwise", "categorical", "sparse"):
        return (5, 4) if case.kind == "elementwise" else (5, 5)
    return shape_for(case, 2, n=5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_nan_in_nan_out(case, dtype, backend):
    y_true, preds = _nan_inputs(case, dtype)
    loss = fl.get(case.loss, **case.params)
    if case.kind == "sparse" and case.params.get("ignore_index") is not None:
        y_true = y_true.copy()
        y_true[2] = 0                           # make sure the NaN row counts
    args = call_args(case, y_true, preds)
    value, grad = loss.value_and_grad(*args)
    assert np.isnan(value)
    per = loss(*args, reduction="none")
    assert np.isnan(per[2]) and not np.isnan(np.delete(per, 2)).any()
    assert np.isnan(grads_of(case, grad)[0][2, 1]).all()


@pytest.mark.parametrize("case", [c for c in CASES if c.kind not in ("sparse", "triplet")],
                         ids=str)
def test_nan_target_gives_nan(case, backend):
    rng = np.random.default_rng(9)
    y_true, y_pred = case.inputs(rng, _shape(case), np.float64)
    y_true = y_true.copy()
    if case.kind == "pairwise":             # labels, not data: a NaN label is refused
        y_true[1] = np.nan
        with pytest.raises(ValueError, match="y_true"):
            fl.get(case.loss, **case.params)(*call_args(case, y_true, preds_of(case, y_pred)))
        return
    y_true[1, 2] = np.nan
    if "class_weight" in case.params:
        case_params = {k: v for k, v in case.params.items() if k != "class_weight"}
    else:
        case_params = case.params
    assert np.isnan(fl.get(case.loss, **case_params)(y_true, y_pred))


BIG = 10_000_000


@pytest.mark.parametrize("name, make, reference", [
    ("mse", lambda rng: (rng.normal(size=BIG).astype(np.float32),
                         rng.normal(size=BIG).astype(np.float32)),
     lambda t, p: np.mean((p - t) ** 2)),
    ("binary_cross_entropy", lambda rng: ((rng.random(BIG) < 0.5).astype(np.float32),
                                          (4 * rng.normal(size=BIG)).astype(np.float32)),
     lambda t, z: np.mean(np.logaddexp(0, z) - t * z)),
])
def test_float32_mean_of_ten_million_is_accurate(name, make, reference, backend):
    """Block sums in double: a float32 mean over 10^7 elements matches float64 to 1e-6."""
    rng = np.random.default_rng(10)
    y_true, y_pred = make(rng)
    params = {"from_logits": True} if name == "binary_cross_entropy" else {}
    value = fl.get(name, **params)(y_true, y_pred)
    expected = reference(y_true.astype(np.float64), y_pred.astype(np.float64))
    assert abs(value - expected) <= 1e-6 * abs(expected)


def test_float32_softmax_mean_over_ten_million_is_accurate(backend):
    rng = np.random.default_rng(11)
    z = (3 * rng.normal(size=(100_000, 100))).astype(np.float32)
    y = rng.integers(0, 100, size=100_000)
    value = scce(y, z, from_logits=True)
    z64 = z.astype(np.float64)
    m = z64.max(axis=1)
    expected = np.mean(m + np.log(np.exp(z64 - m[:, None]).sum(axis=1)) - z64[np.arange(y.size), y])
    assert abs(value - expected) <= 1e-6 * abs(expected)


def test_all_samples_ignored_gives_nan_mean_and_zero_gradient(backend):
    y = np.array([-100, -100])
    z = np.zeros((2, 3))
    value, grad = scce.value_and_grad(y, z, from_logits=True, ignore_index=-100)
    assert np.isnan(value)
    np.testing.assert_array_equal(grad, 0)
    assert scce(y, z, from_logits=True, ignore_index=-100, reduction="sum") == 0.0


# ---- the catalogue's regression, classification and distribution losses ----------------------

bfocal, cfocal = fl.binary_focal, fl.categorical_focal


def _torch_binary_focal(z, y, gamma, alpha=None):
    """The textbook focal formula in float64 PyTorch (finite where the tests use it)."""
    zt = torch.tensor(z.astype(np.float64), requires_grad=True)
    yt = torch.tensor(y.astype(np.float64))
    ce = torch.nn.functional.binary_cross_entropy_with_logits(zt, yt, reduction="none")
    p = torch.sigmoid(zt)
    loss = ce * (1 - (p * yt + (1 - p) * (1 - yt))) ** gamma
    if alpha is not None:
        loss = loss * (alpha * yt + (1 - alpha) * (1 - yt))
    loss.sum().backward()
    return loss.detach().numpy(), zt.grad.numpy()


@pytest.mark.parametrize("alpha", [None, 0.25])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_focal_huge_logits_match_torch(dtype, alpha, backend):
    if torch is None:
        pytest.skip("PyTorch is not installed")
    z = np.array([1e4, -1e4, 1e4, -1e4, 30.0, -30.0, 0.0, 1e4, -1e4], dtype=dtype)
    y = np.array([1, 0, 0, 1, 1, 0, 1, 0.3, 0.7], dtype=dtype)
    value, grad = bfocal.value_and_grad(y, z, from_logits=True, alpha=alpha, reduction="none")
    ref_value, ref_grad = _torch_binary_focal(z, y, 2.0, alpha)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(value, ref_value, rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-6, atol=1e-30)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_focal_infinite_logits_and_gamma_below_one(dtype, backend):
    """Exact limits at +-inf, and no 0 * inf where (1 - p_t)^(gamma - 1) is infinite."""
    z = np.array([inf, -inf, inf, -inf, inf, 1e4, -1e4], dtype=dtype)
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.3, 1.0, 0.0], dtype=dtype)
    for gamma in (2.0, 0.5, 0.0):
        value, grad = bfocal.value_and_grad(y, z, from_logits=True, gamma=gamma,
                                            reduction="none")
        np.testing.assert_array_equal(value[[0, 1, 5, 6]], 0.0)
        np.testing.assert_array_equal(value[[2, 3, 4]], inf)
        np.testing.assert_array_equal(grad[[0, 1, 5, 6]], 0.0)
        np.testing.assert_allclose(grad[[2, 3, 4]], [1.0, -1.0, 0.7 ** gamma * 0.7], rtol=1e-6)
    value, grad = bfocal.value_and_grad(y[:4], z[:4], from_logits=True, alpha=0.25,
                                        reduction="none")
    np.testing.assert_array_equal(value, [0.0, 0.0, inf, inf])
    np.testing.assert_array_equal(grad, [0.0, 0.0, 0.75, -0.25])
    # alpha = 1 gives the t = 0 terms weight 0: an infinite one is 0, not NaN
    assert bfocal(y[2:3], z[2:3], from_logits=True, alpha=1.0) == 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_categorical_focal_huge_logits_match_torch(dtype, backend):
    if torch is None:
        pytest.skip("PyTorch is not installed")
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [5e3, 5e3 + 1, -1e4], [40.0, 0.0, -3.0]],
                 dtype=dtype)
    t = np.eye(3, dtype=dtype)[[1, 2, 0, 0]]
    value, grad = cfocal.value_and_grad(t, z, from_logits=True, reduction="none")
    zt = torch.tensor(z.astype(np.float64), requires_grad=True)
    logp = torch.log_softmax(zt, dim=-1)
    ref = -(torch.tensor(t.astype(np.float64)) * (1 - logp.exp()) ** 2 * logp).sum(dim=-1)
    ref.sum().backward()
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
    # row 3: PyTorch's 1 - softmax rounds to 0 (loss 0); ours is the true q^3 ~ 9e-53
    np.testing.assert_allclose(value, ref.detach().numpy(), rtol=1e-6, atol=1e-40)
    np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_categorical_focal_confident_row_keeps_relative_accuracy(backend):
    """p -> 1: the loss ~ q^gamma * q with q = 1 - p, which 1 - softmax would round to 0."""
    z = np.array([[0.0, -30.0, -31.0]])
    value = cfocal(np.array([[1.0, 0.0, 0.0]]), z, from_logits=True)
    q = np.exp(-30.0) + np.exp(-31.0)          # 1 - p to first order
    assert value == pytest.approx(q ** 2 * q, rel=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_categorical_focal_infinite_and_masked_logits(dtype, backend):
    z = np.array([[inf, 0.0, 1.0], [inf, 0.0, 1.0], [inf, inf, 0.0],
                  [0.5, -inf, 2.0], [-inf, -inf, -inf]], dtype=dtype)
    t = np.eye(3, dtype=dtype)[[0, 1, 0, 2, 0]]
    value, grad = cfocal.value_and_grad(t, z, from_logits=True, reduction="none")
    assert value[0] == 0.0 and value[1] == inf
    assert value[2] == pytest.approx(0.25 * np.log(2.0), rel=1e-6)
    np.testing.assert_array_equal(grad[0], [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(grad[1], [1.0, -1.0, 0.0])
    kept = cfocal(np.array([[0.0, 1.0]], dtype), np.array([[0.5, 2.0]], dtype), from_logits=True)
    assert value[3] == pytest.approx(kept, rel=1e-6) and grad[3, 1] == 0.0
    assert np.isnan(value[4]) and np.isnan(grad[4]).all()      # all -inf: undefined


def test_log_cosh_accurate_everywhere(backend):
    mpmath = pytest.importorskip("mpmath")
    d = np.array([1e-300, 1e-9, 1e-4, 0.01, 0.3, 0.999, 1.0, 1.9, 2.0, 2.1, 20.0, 700.0, 1e4,
                  1e300])

    def exact(x):
        with mpmath.workdps(60):               # log(cosh(x)) cancels: 60 digits suffice here
            return float(mpmath.log(mpmath.cosh(mpmath.mpf(float(x))))) if x < 1e3 else \
                float(x - mpmath.log(2))

    expected = np.array([exact(x) for x in d])
    with mpmath.workdps(60):
        tanh = np.array([float(mpmath.tanh(mpmath.mpf(x))) for x in d])
    for sign in (1.0, -1.0):
        value, grad = fl.log_cosh.value_and_grad(np.zeros_like(d), sign * d, reduction="none")
        np.testing.assert_allclose(value, expected, rtol=4e-16, atol=0)
        np.testing.assert_allclose(grad, sign * tanh, rtol=4e-16, atol=0)
    d32 = np.array([1e-18, 1e-3, 0.5, 100.0, 1e30], dtype=np.float32)  # cosh(100) overflows f32
    value = fl.log_cosh(np.zeros_like(d32), d32, reduction="none")
    np.testing.assert_allclose(value, [exact(x) for x in d32], rtol=3e-7)
    value, grad = fl.log_cosh.value_and_grad(np.zeros(2), np.array([inf, -inf]), reduction="none")
    np.testing.assert_array_equal(value, [inf, inf])
    np.testing.assert_array_equal(grad, [1.0, -1.0])


def test_regression_losses_at_infinity(backend):
    t = np.array([0.0, 3.0, 2.0])
    value, grad = fl.poisson.value_and_grad(t, np.array([-inf, -inf, inf]), reduction="none")
    np.testing.assert_array_equal(value, [0.0, inf, inf])      # 0 * -inf is 0, not NaN
    np.testing.assert_array_equal(grad, [0.0, -3.0, inf])
    value, grad = fl.poisson.value_and_grad(t, np.array([0.0, 0.0, inf]), log_input=False,
                                            reduction="none")
    assert value[0] == 0.0 and value[2] == inf and np.isfinite(value[1])
    value, grad = fl.msle.value_and_grad(np.array([1.0, 0.0]), np.array([inf, 0.0]),
                                         reduction="none")
    np.testing.assert_array_equal(value, [inf, 0.0])
    np.testing.assert_array_equal(grad, [0.0, 0.0])            # the limit, not inf / inf
    value, grad = fl.hinge.value_and_grad(np.array([1.0, 1.0, 0.0]), np.array([inf, -inf, -inf]),
                                          reduction="none")
    np.testing.assert_array_equal(value, [0.0, inf, 0.0])
    np.testing.assert_array_equal(grad, [0.0, -1.0, 0.0])


def test_categorical_hinge_infinite_and_masked_scores(backend):
    z = np.array([[inf, 0.0, 1.0], [inf, 0.0, 1.0], [0.5, -inf, 2.0], [-inf, 3.0, 0.0]])
    t = np.eye(3)[[0, 1, 2, 1]]
    value, grad = fl.categorical_hinge.value_and_grad(t, z, reduction="none")
    np.testing.assert_array_equal(value, [0.0, inf, 0.0, 0.0])
    np.testing.assert_array_equal(grad[1], [1.0, -1.0, 0.0])
    assert np.all(grad[[0, 2, 3]] == 0.0)


def test_kl_minus_inf_log_target_and_log_input_are_masks(backend):
    """A -inf log-target is a class with t = 0 and a -inf log-input on a t = 0 class adds 0."""
    t = np.array([[0.7, 0.0, 0.3]])
    log_q = np.array([[np.log(0.5), -inf, np.log(0.5)]])
    expected = 0.7 * np.log(0.7 / 0.5) + 0.3 * np.log(0.3 / 0.5)
    with np.errstate(divide="ignore"):
        log_t = np.log(t)
    for lt, kw in ((t, {}), (log_t, {"log_target": True})):
        value, grad = fl.kl_divergence.value_and_grad(lt, log_q, log_input=True, **kw)
        assert value == pytest.approx(expected, rel=1e-12)
        np.testing.assert_allclose(grad, -t)
        value = fl.kl_divergence(lt, np.exp(log_q), **kw)      # probabilities, clipped
        assert value == pytest.approx(expected, rel=1e-12)


def _assert_twin_and_threads_agree(loss, y_true, y_pred, w, dtype):
    """value_grad_hess for "sum" and "none": the compiled kernels equal the NumPy twin, and
    one and two threads agree bitwise."""
    tol = dict(rtol=2e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    for reduction in ("sum", "none"):
        results = {}
        for backend in ("cython", "numpy"):
            with fl.use_backend(backend):
                results[backend] = loss.value_grad_hess(y_true, y_pred, reduction=reduction,
                                                        sample_weight=w)
        for a, b in zip(results["cython"], results["numpy"]):
            np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float),
                                       equal_nan=True, **tol)
        with fl.use_backend("cython"):
            one = loss.value_grad_hess(y_true, y_pred, reduction=reduction, sample_weight=w,
                                       n_threads=1)
            two = loss.value_grad_hess(y_true, y_pred, reduction=reduction, sample_weight=w,
                                       n_threads=2)
        for a, b in zip(one, two):
            assert np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("k", [1, 2, 3, 10, 16, 17, 33, 70])
def test_sparse_softmax_short_and_long_rows_agree_with_the_twin(k, dtype):
    """Sparse softmax CE takes an across-rows path for rows of at most 16 classes and the
    row-wise path above: both equal the NumPy twin with every keyword, on limit rows (+inf,
    all -inf, NaN), ignored and bad labels, over sub-block boundaries, and agree bitwise
    across thread counts."""
    rng = np.random.default_rng(k)
    n = 1100                                  # several sub-blocks whatever k is
    z = (3 * rng.normal(size=(n, k))).astype(dtype)
    y = rng.integers(0, k, size=n)
    y[rng.random(n) < 0.1] = -100             # ignored
    z[5, 0] = np.inf
    z[7, :] = -np.inf
    z[9, k // 2] = np.nan
    z[11, :] = np.inf
    w = rng.uniform(0.5, 2.0, n)
    cw = rng.uniform(0.5, 2.0, k)
    for kw in ({}, {"label_smoothing": 0.1}, {"class_weight": cw}):
        loss = fl.get("sparse_categorical_cross_entropy", from_logits=True,
                      ignore_index=-100, **kw)
        _assert_twin_and_threads_agree(loss, y, z, w, dtype)
    bad = y.copy()
    bad[3] = k                                 # a label outside [0, k)
    with pytest.raises(ValueError, match="label"):
        fl.sparse_categorical_cross_entropy(bad, z, from_logits=True, ignore_index=-100)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("k", [1, 2, 3, 10, 16, 17, 70])
def test_dense_softmax_short_and_long_rows_agree_with_the_twin(k, dtype):
    """Softmax CE with probability-row targets: the across-rows path (<= 16 classes) and the
    row-wise path equal the NumPy twin, with weights and label smoothing, on soft, one-hot
    and zero-mass rows, limit rows (+inf, all -inf, NaN) and masked (-inf) classes, and agree
    bitwise across thread counts."""
    rng = np.random.default_rng(100 + k)
    n = 1100
    z = (3 * rng.normal(size=(n, k))).astype(dtype)
    t = rng.random((n, k))
    t /= t.sum(axis=1, keepdims=True)
    t[::3] = np.eye(k)[rng.integers(0, k, size=t[::3].shape[0])]
    t[4] = 0                                   # no target mass
    t = t.astype(dtype)
    z[5, 0] = np.inf
    z[7, :] = -np.inf
    z[9, k // 2] = np.nan
    z[11, :] = np.inf
    if k > 1:                                  # a masked class with zero target
        t[13] = 0
        t[13, 0] = 1
        z[13, 1] = -np.inf
    w = rng.uniform(0.5, 2.0, n)
    for kw in ({}, {"label_smoothing": 0.1}):
        loss = fl.get("categorical_cross_entropy", from_logits=True, **kw)
        _assert_twin_and_threads_agree(loss, t, z, w, dtype)
