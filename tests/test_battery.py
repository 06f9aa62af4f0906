"""The shared battery: every case of tests/cases.py goes through every test here.

- value and gradient against PyTorch (per-sample losses from torch.nn.functional + autograd,
  with the documented reductions/weights applied on the torch side), float32 and float64,
  every reduction, with and without sample_weight, on both backends;
- gradient against central finite differences in float64;
- the two backends agree; n_threads=1 and n_threads=2 agree bitwise;
- 1-D, 2-D and 3-D shapes; Fortran-ordered and strided inputs; out= buffers.

Losses of several inputs (metric learning) go through the same tests: every input's
gradient is checked against its reference, and out= is then a tuple of buffers.
"""
import numpy as np
import pytest

import fastloss as fl
from cases import (CASES, IGNORE, N_CLASSES, Case, call_args, grads_of, n_preds,
                   per_sample_shape, preds_of, shape_for, torch)

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
    """(y_true, y_pred, sample_weight); y_pred is a tuple for losses of several inputs."""
    rng = np.random.default_rng(seed)
    y_true, y_pred = case.inputs(rng, shape, dtype)
    per_shape = per_sample_shape(case, preds_of(case, y_pred)[0])
    w = rng.uniform(0.1, 2.0, size=per_shape) if weighted else None
    return y_true, y_pred, w


def torch_reference(case, y_true, y_pred, reduction, sample_weight):
    """Reduced loss and the tuple of d/d input in float64 PyTorch, by the documented
    semantics."""
    preds = preds_of(case, y_pred)
    prm = dict(case.params)
    prm["_eps"] = prm.get("eps") or float(np.finfo(preds[0].dtype).eps)
    ps = tuple(torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in preds)
    sparse = case.kind == "sparse"
    t = None if y_true is None else \
        torch.tensor(y_true, dtype=torch.int64 if sparse else torch.float64)
    losses = case.torch_per_sample(t, ps if n_preds(case) > 1 else ps[0], prm)
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
    return value.detach().numpy(), tuple(p.grad.numpy() for p in ps)


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
    """(value, tuple of gradients) of the case's loss."""
    loss = fl.get(case.loss, **case.params)
    value, grad = loss.value_and_grad(*call_args(case, y_true, preds_of(case, y_pred)), **kw)
    return value, grads_of(case, grad)


# ---- against PyTorch ------------------------------------------------------------------------

@needs_torch
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", TORCH_CASES, ids=str)
def test_against_torch(case, dtype, reduction, weighted, backend):
    y_true, y_pred, w = draw(case, shape_for(case), dtype, weighted=weighted)
    value, grads = run(case, y_true, y_pred, reduction=reduction, sample_weight=w)
    ref_value, ref_grads = torch_reference(case, y_true, y_pred, reduction, w)
    if reduction == "none":
        assert value.shape == ref_value.shape and value.dtype == dtype
    else:
        assert isinstance(value, float)
    assert_close(value, ref_value, dtype, "loss")
    for i, (grad, x, ref_grad) in enumerate(zip(grads, preds_of(case, y_pred), ref_grads)):
        assert grad.dtype == dtype and grad.shape == x.shape
        assert_close(grad, ref_grad, dtype, f"gradient {i}")


@needs_torch
@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("ndim", [1, 3])
@pytest.mark.parametrize("case", TORCH_CASES, ids=str)
def test_shapes_against_torch(case, ndim, reduction, backend):
    y_true, y_pred, w = draw(case, shape_for(case, ndim), np.float64, seed=1,
                             weighted=True)
    value, grads = run(case, y_true, y_pred, reduction=reduction, sample_weight=w)
    ref_value, ref_grads = torch_reference(case, y_true, y_pred, reduction, w)
    assert np.shape(value) == np.shape(ref_value)
    assert_close(value, ref_value, np.float64, "loss")
    assert len(grads) == len(ref_grads)
    for i, (grad, ref_grad) in enumerate(zip(grads, ref_grads)):
        assert grad.shape == ref_grad.shape
        assert_close(grad, ref_grad, np.float64, f"gradient {i}")


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
    assert len(g1) == len(g2) == n_preds(case)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a.astype(float), b.astype(float), **tol)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_gradient_matches_finite_differences(case, reduction, backend):
    y_true, y_pred, w = draw(case, shape_for(case, 2, n=4), np.float64, seed=4, weighted=True)
    loss = fl.get(case.loss, **case.params)
    kw = dict(reduction=reduction, sample_weight=w)
    preds = preds_of(case, y_pred)

    def f(j, p):
        args = call_args(case, y_true, preds[:j] + (p,) + preds[j + 1:])
        return float(np.sum(loss(*args, **kw)))

    grads = grads_of(case, loss.grad(*call_args(case, y_true, preds), **kw))
    for j, (x, grad) in enumerate(zip(preds, grads)):
        fd = np.empty_like(x)
        for i in np.ndindex(x.shape):
            h = 1e-6 * max(1.0, abs(x[i]))
            up, down = x.copy(), x.copy()
            up[i] += h
            down[i] -= h
            fd[i] = (f(j, up) - f(j, down)) / (2 * h)
        np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-7, err_msg=f"input {j}")


def _large_shape(case):
    if case.kind == "elementwise":
        return (40_000,)
    if case.kind in ("pairwise", "triplet"):
        return (10_000, 8)
    if case.kind == "segmentation":
        axis = case.params.get("class_axis")
        return (64, 1024) if axis is None else \
            (64, 256, N_CLASSES) if axis == -1 else (64, N_CLASSES, 256)
    return (20_000, N_CLASSES)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_threads_bitwise_identical(case, dtype, weighted):
    """Many blocks, so that two threads really split the work; results must not change."""
    y_true, y_pred, w = draw(case, _large_shape(case), dtype, seed=5, weighted=weighted)
    runs = [run(case, y_true, y_pred, sample_weight=w, n_threads=n) for n in (1, 2, 2, None)]
    for value, grads in runs[1:]:
        assert value == runs[0][0] or (np.isnan(value) and np.isnan(runs[0][0]))
        for grad, grad0 in zip(grads, runs[0][1], strict=True):
            assert np.array_equal(grad, grad0, equal_nan=True)
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
    t_alts = (None, None) if y_true is None else _layouts(y_true)
    p_alts = zip(*(_layouts(x) for x in preds_of(case, y_pred)))
    for t_alt, p_alt in zip(t_alts, p_alts):
        assert not any(x.flags.c_contiguous for x in p_alt)
        value, grads = run(case, t_alt, p_alt if n_preds(case) > 1 else p_alt[0],
                           sample_weight=w)
        assert value == pytest.approx(expected[0], rel=1e-14)
        for grad, grad0 in zip(grads, expected[1], strict=True):
            np.testing.assert_allclose(grad, grad0, rtol=1e-14)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_out_buffer_and_entry_points_agree(case, backend):
    y_true, y_pred, w = draw(case, shape_for(case), np.float32, seed=7, weighted=True)
    loss = fl.get(case.loss, **case.params)
    args = call_args(case, y_true, preds_of(case, y_pred))
    multi = n_preds(case) > 1
    bufs = tuple(np.full_like(x, np.nan) for x in preds_of(case, y_pred))
    value, grad = loss.value_and_grad(*args, sample_weight=w, out=bufs if multi else bufs[0])
    for g, buf in zip(grads_of(case, grad), bufs, strict=True):
        assert g is buf
    assert value == loss(*args, sample_weight=w)
    for g, buf in zip(grads_of(case, loss.grad(*args, sample_weight=w)), bufs, strict=True):
        np.testing.assert_array_equal(g, buf)
    bufs2 = tuple(np.empty_like(x) for x in bufs)
    grad2 = loss.grad(*args, sample_weight=w, out=bufs2 if multi else bufs2[0])
    for g, buf2, buf in zip(grads_of(case, grad2), bufs2, bufs, strict=True):
        assert g is buf2
        np.testing.assert_array_equal(buf2, buf)


def test_every_registered_loss_is_in_the_battery():
    covered = {c.loss for c in CASES}
    missing = [name for name in fl.available()
               if name not in covered and fl.get(name).spec.kind != "custom"]
    assert not missing, f"losses without a row in tests/cases.py: {missing}"


def test_case_ids_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert all(isinstance(c, Case) for c in CASES)


# ---- second derivatives (.hess, .value_grad_hess) ---------------------------------------------

def _has_hessian(case):
    return fl.get(case.loss, **case.params).has_hessian


HESSIAN_CASES = [c for c in CASES if _has_hessian(c)]
NO_HESSIAN_CASES = [c for c in CASES if not _has_hessian(c)]


def test_hessian_rows_cover_the_catalogue():
    """Every elementwise and cross-entropy loss of the issue has Hessian rows; only losses of
    several inputs, segmentation and categorical hinge (piecewise linear in every logit) do
    not."""
    assert {c.kind for c in NO_HESSIAN_CASES} <= {"pairwise", "triplet", "segmentation",
                                                 "categorical"}
    assert {c.loss for c in NO_HESSIAN_CASES if c.kind == "categorical"} == {
        "categorical_hinge"}
    assert len(HESSIAN_CASES) >= 40


def test_hessian_kernel_lists_agree():
    """The registry's HESSIAN_KERNELS is the C table FL_HESSIAN_KERNELS."""
    from fastloss._registry import HESSIAN_KERNELS
    K = fl._config._kernels
    if K is None:
        pytest.fail("the compiled kernels are not built")
    assert K.HESSIAN_KERNELS == HESSIAN_KERNELS


def run_hess(case, y_true, y_pred, **kw):
    loss = fl.get(case.loss, **case.params)
    return loss.value_grad_hess(y_true, y_pred, **kw)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", HESSIAN_CASES, ids=str)
def test_hessian_matches_finite_differences(case, reduction, backend):
    """d2/dx_i2 against central differences of the gradient's element i, float64."""
    y_true, y_pred, w = draw(case, shape_for(case, 2, n=3), np.float64, seed=8, weighted=True)
    loss = fl.get(case.loss, **case.params)
    kw = dict(reduction=reduction, sample_weight=w)
    hess = loss.hess(y_true, y_pred, **kw)
    assert hess.shape == y_pred.shape and hess.dtype == y_pred.dtype
    fd = np.empty_like(y_pred)
    for i in np.ndindex(y_pred.shape):
        h = 1e-6 * max(1.0, abs(y_pred[i]))
        up, down = y_pred.copy(), y_pred.copy()
        up[i] += h
        down[i] -= h
        fd[i] = (loss.grad(y_true, up, **kw)[i] - loss.grad(y_true, down, **kw)[i]) / (2 * h)
    np.testing.assert_allclose(hess, fd, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", HESSIAN_CASES, ids=str)
def test_hessian_backends_agree(case, dtype, reduction, weighted):
    y_true, y_pred, w = draw(case, shape_for(case, 2, n=30), dtype, seed=2, weighted=weighted)
    results = {}
    for name in BACKENDS:
        with fl.use_backend(name):
            results[name] = run_hess(case, y_true, y_pred, reduction=reduction,
                                     sample_weight=w)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    for a, b in zip(results["cython"], results["numpy"], strict=True):
        np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), **tol)
    assert results["cython"][2].dtype == dtype


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", HESSIAN_CASES, ids=str)
def test_hessian_threads_bitwise_identical(case, dtype, weighted):
    y_true, y_pred, w = draw(case, _large_shape(case), dtype, seed=5, weighted=weighted)
    with fl.use_backend("cython"):
        runs = [run_hess(case, y_true, y_pred, sample_weight=w, n_threads=n)
                for n in (1, 2, None)]
        plain = run(case, y_true, y_pred, sample_weight=w, n_threads=1)
    for value, grad, hess in runs[1:]:
        assert value == runs[0][0]
        assert np.array_equal(grad, runs[0][1], equal_nan=True)
        assert np.array_equal(hess, runs[0][2], equal_nan=True)
    # the pass with a Hessian is another loop (the compiler may contract it differently into
    # FMAs): value and gradient agree with value_and_grad's within the SIMD-level bound
    eps = float(np.finfo(dtype).eps)
    assert abs(runs[0][0] - plain[0]) <= 64 * eps * abs(plain[0])
    g, g0 = runs[0][1].astype(float), plain[1][0].astype(float)
    assert np.all(np.abs(g - g0) <= 16 * eps * np.max(np.abs(g0)))


@pytest.mark.parametrize("case", HESSIAN_CASES, ids=str)
def test_hessian_out_buffers_and_entry_points(case, backend):
    y_true, y_pred, w = draw(case, shape_for(case), np.float32, seed=7, weighted=True)
    loss = fl.get(case.loss, **case.params)
    g, h = np.full_like(y_pred, np.nan), np.full_like(y_pred, np.nan)
    value, grad, hess = loss.value_grad_hess(y_true, y_pred, sample_weight=w, out=(g, h))
    assert grad is g and hess is h
    assert value == pytest.approx(loss(y_true, y_pred, sample_weight=w), rel=1e-6)
    g0 = loss.grad(y_true, y_pred, sample_weight=w)      # within the bound of the test above
    assert np.all(np.abs(g0 - g) <= 16 * np.finfo(np.float32).eps * np.max(np.abs(g0)))
    h2 = np.empty_like(h)
    assert loss.hess(y_true, y_pred, sample_weight=w, out=h2) is h2
    np.testing.assert_array_equal(h2, h)
    _, g3, h3 = loss.value_grad_hess(y_true, y_pred, sample_weight=w, out=(None, None))
    np.testing.assert_array_equal(g3, g)
    np.testing.assert_array_equal(h3, h)
    with pytest.raises(ValueError, match="out"):
        loss.value_grad_hess(y_true, y_pred, out=g)
    with pytest.raises(ValueError, match="out\\[1\\]"):
        loss.value_grad_hess(y_true, y_pred, out=(g, np.empty(3, np.float32)))
    with pytest.raises(ValueError, match="share memory"):
        loss.value_grad_hess(y_true, y_pred, out=(g, g))


@pytest.mark.parametrize("case", NO_HESSIAN_CASES, ids=str)
def test_losses_without_a_diagonal_hessian_say_so(case):
    loss = fl.get(case.loss, **case.params)
    assert not loss.has_hessian
    y_true, y_pred, _ = draw(case, shape_for(case), np.float64)
    args = call_args(case, y_true, preds_of(case, y_pred))
    with pytest.raises(NotImplementedError, match=case.loss):
        loss.hess(*args)
    with pytest.raises(NotImplementedError, match=case.loss):
        loss.value_grad_hess(*args)


def _extreme_logit_inputs(case, dtype):
    """Logits with +-inf entries (and -inf on zero-target classes: masking)."""
    z = np.array([[np.inf, -np.inf, 0.0, 3.0, -80.0],
                  [-np.inf, -np.inf, 2.0, 1.0, 0.0],
                  [60.0, -np.inf, -np.inf, -np.inf, -np.inf],
                  [np.inf, np.inf, 1.0, -1.0, 0.0]], dtype=dtype)
    if case.kind == "sparse":
        return np.array([0, 2, 0, 1]), z
    if case.kind == "categorical":
        t = np.zeros_like(z)
        t[0, 0] = t[1, 2] = t[2, 0] = t[3, 1] = 1.0
        t[1, 3] = t[1, 2] = 0.5
        return t, z
    t = np.array([[1, 0, 0.5, 1, 0]] * 4, dtype=dtype)
    return t, z


LOGIT_HESSIAN_CASES = [c for c in HESSIAN_CASES if c.params.get("from_logits")]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", LOGIT_HESSIAN_CASES, ids=str)
def test_hessian_extreme_logits_stay_finite(case, dtype, backend):
    y_true, z = _extreme_logit_inputs(case, dtype)
    if case.kind == "elementwise":     # binary losses: a target of 1 at -inf is infinite loss
        y_true = np.where(np.isneginf(z), 0, np.where(np.isposinf(z), 1, y_true)).astype(dtype)
    loss = fl.get(case.loss, **case.params)
    for reduction in ("sum", "none"):
        value, grad, hess = loss.value_grad_hess(y_true, z, reduction=reduction)
        assert np.all(np.isfinite(hess)), (reduction, hess)
        assert np.all(np.isfinite(grad)), (reduction, grad)
    if case.kind != "elementwise":
        # a masked class (-inf logit) has p = 0: no curvature; a sole +inf logit p = 1: none
        assert hess[0, 1] == 0 and hess[2, 1:].tolist() == [0.0] * 4
