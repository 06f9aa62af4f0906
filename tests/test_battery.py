"""The shared battery: every case of tests/cases.py goes through every test here.

- value and gradient against PyTorch (per-sample losses from torch.nn.functional + autograd,
  with the documented reductions/weights applied on the torch side), float32 and float64,
  every reduction, with and without sample_weight, on both backends;
- gradient against central finite differences in float64;
- the two backends agree; n_threads=1 and n_threads=2 agree bitwise;
- 1-D, 2-D and 3-D shapes; Fortran-ordered and strided inputs; out= buffers.
"""
import numpy as np
import pytest

import fastloss as fl
from cases import CASES, IGNORE, N_CLASSES, Case, shape_for, torch

REDUCTIONS = ["mean", "sum", "none", "sum_over_batch_size"]
DTYPES = [np.float32, np.float64]
BACKENDS = ["cython", "numpy"]
TORCH_CASES = [c for c in CASES if c.torch_per_sample is not None]

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


@pytest.fixture(params=BACKENDS)
def backend(request):
    if request.param == "cython" and not fl.config()["compiled_kernels"]:
        pytest.fail("the compiled kernels are not built")
    with fl.use_backend(request.param):
        yield request.param


def draw(case, shape, dtype, seed=0, weighted=False):
    rng = np.random.default_rng(seed)
    y_true, y_pred = case.inputs(rng, shape, dtype)
    per_shape = y_pred.shape if (case.kind == "elementwise" and y_pred.ndim == 1) \
        else y_pred.shape[:-1]
    w = rng.uniform(0.1, 2.0, size=per_shape) if weighted else None
    return y_true, y_pred, w


def torch_reference(case, y_true, y_pred, reduction, sample_weight):
    """Reduced loss and d/dy_pred in float64 PyTorch, by the documented semantics."""
    prm = dict(case.params)
    prm["_eps"] = prm.get("eps") or float(np.finfo(y_pred.dtype).eps)
    p = torch.tensor(y_pred, dtype=torch.float64, requires_grad=True)
    sparse = case.kind == "sparse"
    t = torch.tensor(y_true, dtype=torch.int64 if sparse else torch.float64)
    losses = case.torch_per_sample(t, p, prm)
    w = torch.ones_like(losses)
    weighted = sample_weight is not None or prm.get("class_weight") is not None
    if sample_weight is not None:
        w = w * torch.tensor(sample_weight)
    cw = prm.get("class_weight")
    valid = torch.ones_like(losses, dtype=torch.bool)
    if sparse and prm.get("ignore_index") is not None:
        valid = t != IGNORE
    if cw is not None:
        cw = torch.tensor(cw)
        if sparse:
            w = w * cw[torch.where(valid, t, torch.zeros_like(t))]
        else:
            w = w * (t @ cw)
    w = w * valid
    weighted_losses = w * losses
    count = valid.sum().to(torch.float64)
    if reduction == "none":
        value = weighted_losses
        weighted_losses.sum().backward()
    else:
        total = weighted_losses.sum()
        denom = {"sum": torch.tensor(1.0, dtype=torch.float64),
                 "mean": w.sum() if weighted else count,
                 "sum_over_batch_size": count}[reduction]
        value = total / denom
        value.backward()
    return value.detach().numpy(), p.grad.numpy()


def assert_close(actual, expected, dtype, what):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    if dtype == np.float32:
        rtol, atol = 2e-5, 2e-6 * scale
    else:
        rtol, atol = 1e-10, 1e-12 * scale
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def run(case, y_true, y_pred, **kw):
    loss = fl.get(case.loss, **case.params)
    return loss.value_and_grad(y_true, y_pred, **kw)


# ---- against PyTorch ------------------------------------------------------------------------

@needs_torch
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", TORCH_CASES, ids=str)
def test_against_torch(case, dtype, reduction, weighted, backend):
    y_true, y_pred, w = draw(case, shape_for(case), dtype, weighted=weighted)
    value, grad = run(case, y_true, y_pred, reduction=reduction, sample_weight=w)
    ref_value, ref_grad = torch_reference(case, y_true, y_pred, reduction, w)
    assert grad.dtype == dtype and grad.shape == y_pred.shape
    if reduction == "none":
        assert value.shape == ref_value.shape and value.dtype == dtype
    else:
        assert isinstance(value, float)
    assert_close(value, ref_value, dtype, "loss")
    assert_close(grad, ref_grad, dtype, "gradient")


@needs_torch
@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("ndim", [1, 3])
@pytest.mark.parametrize("case", TORCH_CASES, ids=str)
def test_shapes_against_torch(case, ndim, reduction, backend):
    y_true, y_pred, w = draw(case, shape_for(case, ndim), np.float64, seed=1,
                             weighted=True)
    value, grad = run(case, y_true, y_pred, reduction=reduction, sample_weight=w)
    ref_value, ref_grad = torch_reference(case, y_true, y_pred, reduction, w)
    assert np.shape(value) == np.shape(ref_value)
    assert_close(value, ref_value, np.float64, "loss")
    assert_close(grad, ref_grad, np.float64, "gradient")


@needs_torch
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_class_weight_and_ignore_match_torch_native_reduction(reduction, backend):
    """PyTorch's own weighted/ignored mean, not our re-implementation of it."""
    rng = np.random.default_rng(3)
    y, z = rng.integers(0, N_CLASSES, size=40), rng.normal(size=(40, N_CLASSES))
    y[::7] = IGNORE
    cw = np.linspace(0.5, 2.0, N_CLASSES)
    value, grad = fl.sparse_categorical_cross_entropy.value_and_grad(
        y, z, from_logits=True, class_weight=cw, ignore_index=IGNORE, reduction=reduction)
    zt = torch.tensor(z, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(zt, torch.tensor(y), weight=torch.tensor(cw),
                                            ignore_index=IGNORE, reduction=reduction)
    ref.backward()
    assert_close(value, ref.item(), np.float64, "loss")
    assert_close(grad, zt.grad.numpy(), np.float64, "gradient")


# ---- backends, finite differences, threads, layouts ------------------------------------------

@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_backends_agree(case, dtype, reduction, weighted):
    y_true, y_pred, w = draw(case, shape_for(case, 2, n=30), dtype, seed=2, weighted=weighted)
    results = {}
    for name in BACKENDS:
        with fl.use_backend(name):
            results[name] = run(case, y_true, y_pred, reduction=reduction, sample_weight=w)
    (v1, g1), (v2, g2) = results["cython"], results["numpy"]
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.asarray(v1, float), np.asarray(v2, float), **tol)
    np.testing.assert_allclose(g1.astype(float), g2.astype(float), **tol)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_gradient_matches_finite_differences(case, reduction, backend):
    y_true, y_pred, w = draw(case, shape_for(case, 2, n=4), np.float64, seed=4, weighted=True)
    loss = fl.get(case.loss, **case.params)
    kw = dict(reduction=reduction, sample_weight=w)

    def f(p):
        return float(np.sum(loss(y_true, p, **kw)))

    grad = loss.grad(y_true, y_pred, **kw)
    fd = np.empty_like(y_pred)
    for i in np.ndindex(y_pred.shape):
        h = 1e-6 * max(1.0, abs(y_pred[i]))
        up, down = y_pred.copy(), y_pred.copy()
        up[i] += h
        down[i] -= h
        fd[i] = (f(up) - f(down)) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-7)


def _large_shape(case):
    return (40_000,) if case.kind == "elementwise" else (20_000, N_CLASSES)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_threads_bitwise_identical(case, dtype, weighted):
    """Many blocks, so that two threads really split the work; results must not change."""
    y_true, y_pred, w = draw(case, _large_shape(case), dtype, seed=5, weighted=weighted)
    runs = [run(case, y_true, y_pred, sample_weight=w, n_threads=n) for n in (1, 2, 2, None)]
    for value, grad in runs[1:]:
        assert value == runs[0][0] or (np.isnan(value) and np.isnan(runs[0][0]))
        assert np.array_equal(grad, runs[0][1], equal_nan=True)
    per = [run(case, y_true, y_pred, reduction="none", sample_weight=w, n_threads=n)[0]
           for n in (1, 2)]
    assert np.array_equal(per[0], per[1])


def _layouts(y):
    """The same values as Fortran-ordered and as a strided view."""
    fortran = np.asfortranarray(y)
    if y.ndim == 0:
        return fortran, y
    big = np.zeros(y.shape[:-1] + (2 * y.shape[-1],), dtype=y.dtype)
    big[..., ::2] = y
    return fortran, big[..., ::2]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_non_contiguous_inputs(case, backend):
    y_true, y_pred, w = draw(case, shape_for(case, 3), np.float64, seed=6, weighted=True)
    expected = run(case, y_true, y_pred, sample_weight=w)
    for t_alt, p_alt in zip(_layouts(y_true), _layouts(y_pred)):
        assert not p_alt.flags.c_contiguous
        value, grad = run(case, t_alt, p_alt, sample_weight=w)
        assert value == pytest.approx(expected[0], rel=1e-14)
        np.testing.assert_allclose(grad, expected[1], rtol=1e-14)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_out_buffer_and_entry_points_agree(case, backend):
    y_true, y_pred, w = draw(case, shape_for(case), np.float32, seed=7, weighted=True)
    loss = fl.get(case.loss, **case.params)
    buf = np.full_like(y_pred, np.nan)
    value, grad = loss.value_and_grad(y_true, y_pred, sample_weight=w, out=buf)
    assert grad is buf
    assert value == loss(y_true, y_pred, sample_weight=w)
    np.testing.assert_array_equal(loss.grad(y_true, y_pred, sample_weight=w), buf)
    buf2 = np.empty_like(y_pred)
    assert loss.grad(y_true, y_pred, sample_weight=w, out=buf2) is buf2
    np.testing.assert_array_equal(buf2, buf)


def test_every_registered_loss_is_in_the_battery():
    covered = {c.loss for c in CASES}
    missing = [name for name in fl.available() if name not in covered]
    assert not missing, f"losses without a row in tests/cases.py: {missing}"


def test_case_ids_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert all(isinstance(c, Case) for c in CASES)
