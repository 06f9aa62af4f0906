"""User-defined losses (fastloss.custom) and fastloss.check_grad.

- a NumPy custom loss behaves exactly like the built-in loss with the same maths (every
  reduction, weights, shapes, dtypes, out=, both backends);
- a Numba custom loss (fused parallel kernel) agrees with its NumPy version, is bitwise
  identical across thread counts and allocates nothing with out=;
- registration: fl.get / fl.available / aliases / parameters / replace;
- without Numba only the NumPy path exists, and asking for Numba says so;
- check_grad passes correct gradients (single- and multi-input losses) and catches wrong ones.
"""
import math

import numpy as np
import pytest

import fastloss as fl
from fastloss import _registry

try:
    import numba
except ImportError:  # the NumPy-only tests still run
    numba = None

needs_numba = pytest.mark.skipif(numba is None, reason="numba is not installed")
BACKENDS = ["cython", "numpy"]
REDUCTIONS = ["mean", "sum", "none", "sum_over_batch_size"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    with fl.use_backend(request.param):
        yield request.param


@pytest.fixture
def registered():
    """Names registered by a test are removed afterwards."""
    names = []
    yield names
    for name in names:
        if name in _registry.REGISTRY:
            _registry.unregister(name)


def _custom(registered, name, *args, **kwargs):
    registered.append(name)
    return fl.custom(name, *args, **kwargs)


def _draw(shape, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape).astype(dtype), rng.normal(size=shape).astype(dtype)


# ---- the module-level Numba loss: one compile per dtype for the whole file ------------------

if numba is not None:
    @numba.njit
    def _pseudo_huber_value(t, p, delta):
        d = (p - t) / delta
        return delta * delta * (math.sqrt(1.0 + d * d) - 1.0)

    @numba.njit
    def _pseudo_huber_grad(t, p, delta):
        d = (p - t) / delta
        return d / math.sqrt(1.0 + d * d) * delta


def _pseudo_huber_numpy(t, p, delta):
    d = (p - t) / delta
    return delta * delta * (np.sqrt(1 + d * d) - 1), d / np.sqrt(1 + d * d) * delta


@pytest.fixture(scope="module")
def numba_loss():
    if numba is None:
        pytest.skip("numba is not installed")
    loss = fl.custom("test_pseudo_huber_numba", _pseudo_huber_value, _pseudo_huber_grad,
                     params={"delta": 1.0}, aliases=("TestPseudoHuber",))
    numpy_twin = fl.custom("test_pseudo_huber_numpy", value_and_grad=_pseudo_huber_numpy,
                           params={"delta": 1.0})
    yield loss, numpy_twin
    _registry.unregister("test_pseudo_huber_numba")
    _registry.unregister("test_pseudo_huber_numpy")


# ---- NumPy custom losses ---------------------------------------------------------------------

@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(7,), (7, 3), (2, 4, 3)], ids=str)
def test_numpy_custom_equals_builtin(registered, shape, reduction, weighted, backend):
    sq = _custom(registered, "test_sq", lambda t, p: (p - t) ** 2, lambda t, p: 2 * (p - t))
    y, p = _draw(shape)
    per_shape = shape if len(shape) == 1 else shape[:-1]
    w = np.random.default_rng(1).uniform(0.1, 2, size=per_shape) if weighted else None
    value, grad = sq.value_and_grad(y, p, reduction=reduction, sample_weight=w)
    ref_value, ref_grad = fl.mse.value_and_grad(y, p, reduction=reduction, sample_weight=w)
    np.testing.assert_allclose(value, ref_value, rtol=1e-13)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-13)
    assert np.shape(value) == np.shape(ref_value)


def test_decorator_form_params_and_registry(registered):
    registered.append("test_log_cosh")

    @fl.custom("test_log_cosh", params={"scale": 1.0}, aliases=("TestLogCosh",))
    def log_cosh(t, p, scale):
        """log(cosh(scale (p - t))) / scale^2"""
        d = scale * (p - t)
        return (np.logaddexp(d, -d) - np.log(2)) / scale ** 2, np.tanh(d) / scale

    assert isinstance(log_cosh, fl.Loss)
    assert "test_log_cosh" in fl.available()
    assert fl.get("test_log_cosh").name == "test_log_cosh"
    assert fl.get("TestLogCosh").name == "test_log_cosh"
    assert fl.get("testlogcosh").name == "test_log_cosh"
    assert "log(cosh(" in log_cosh.__doc__ and "sum(w_i l_i) / sum(w_i)" in log_cosh.__doc__
    y, p = _draw((50, 2))
    expected = np.mean(np.log(np.cosh(p - y)))
    assert log_cosh(y, p) == pytest.approx(expected, rel=1e-12)
    two = fl.get("test_log_cosh", scale=2.0)
    assert two(y, p) == pytest.approx(np.mean(np.log(np.cosh(2 * (p - y)))) / 4, rel=1e-12)
    assert log_cosh(y, p, scale=2.0) == two(y, p)
    assert "scale=2.0" in repr(two)
    assert fl.check_grad(two, y, p).ok


def test_registration_rules(registered):
    _custom(registered, "test_abs", lambda t, p: np.abs(p - t), lambda t, p: np.sign(p - t))
    with pytest.raises(ValueError, match="already exists.*replace=True"):
        fl.custom("test_abs", lambda t, p: p, lambda t, p: 1.0)
    with pytest.raises(ValueError, match="already exists"):
        fl.custom("mse", lambda t, p: p, lambda t, p: 1.0)
    with pytest.raises(ValueError, match="already exists"):
        fl.custom("MeanSquaredError", lambda t, p: p, lambda t, p: 1.0)
    with pytest.raises(ValueError, match="already exists"):
        fl.custom("mse", lambda t, p: p, lambda t, p: 1.0, replace=True)
    with pytest.raises(ValueError, match="already exists"):
        fl.custom("test_other", lambda t, p: p, lambda t, p: 1.0, aliases=("Dice",))
    replaced = fl.custom("test_abs", lambda t, p: 3 * np.abs(p - t),
                         lambda t, p: 3 * np.sign(p - t), replace=True)
    assert fl.available().count("test_abs") == 1
    assert fl.get("test_abs")(np.zeros(2), np.ones(2)) == replaced(np.zeros(2), np.ones(2)) == 3
    with pytest.raises(ValueError, match="not a loss registered after import"):
        _registry.unregister("mse")


def test_sum_over_last_axis_and_constant_gradient(registered):
    lin = _custom(registered, "test_linear", lambda t, p: -t * p, lambda t, p: -t,
                  last_axis="sum")
    y, p = _draw((5, 3))
    value, grad = lin.value_and_grad(y, p, reduction="sum")
    assert value == pytest.approx(np.sum(-y * p), rel=1e-12)
    np.testing.assert_array_equal(grad, -y)
    const = _custom(registered, "test_const", lambda t, p: p, lambda t, p: 1.0)
    np.testing.assert_allclose(const.grad(y, p), np.full((5, 3), 1 / 15))


def test_float32_float16_and_out(registered, backend):
    sq = _custom(registered, "test_sq32", lambda t, p: (p - t) ** 2, lambda t, p: 2 * (p - t))
    for dtype in (np.float32, np.float16):
        y, p = _draw((20, 3), dtype)
        out = np.empty_like(p)
        value, grad = sq.value_and_grad(y, p, out=out)
        assert grad is out and grad.dtype == dtype
        ref_value, ref_grad = fl.mse.value_and_grad(y, p)
        assert value == pytest.approx(ref_value, rel=1e-6)
        np.testing.assert_allclose(grad.astype(float), ref_grad.astype(float), rtol=1e-3)


@pytest.mark.parametrize("make, exc, words", [
    (lambda: fl.custom("test_bad", lambda t, p: p), TypeError, ["needs both value and grad"]),
    (lambda: fl.custom("test_bad", 3, lambda t, p: p), TypeError, ["not a function"]),
    (lambda: fl.custom("", lambda t, p: p, lambda t, p: p), ValueError, ["name"]),
    (lambda: fl.custom("test_bad", lambda t, p: p, lambda t, p: p, value_and_grad=print),
     TypeError, ["either"]),
    (lambda: fl.custom("test_bad", lambda t, p: p, lambda t, p: p, last_axis="max"),
     ValueError, ["last_axis"]),
    (lambda: fl.custom("test_bad", lambda t, p: p, lambda t, p: p, params={"d": "x"}),
     ValueError, ["d"]),
    (lambda: fl.custom("test_bad", lambda t, p: p, lambda t, p: p, params={"1d": 1.0}),
     ValueError, ["identifiers"]),
    (lambda: fl.custom("test_bad", lambda t, p: p, lambda t, p: p, params=[1.0]),
     TypeError, ["params"]),
    (lambda: fl.custom("test_bad", lambda t, p: p, lambda t, p: p, jit="yes"),
     ValueError, ["jit"]),
])
def test_bad_definitions(make, exc, words):
    with pytest.raises(exc) as info:
        make()
    assert all(w in str(info.value) for w in words), str(info.value)
    assert "test_bad" not in fl.available()


def test_bad_results_and_inputs_are_named(registered, backend):
    wrong_shape = _custom(registered, "test_wrong_shape", lambda t, p: p.sum(axis=1),
                          lambda t, p: p)
    y, p = _draw((4, 3))
    with pytest.raises(ValueError, match="test_wrong_shape.*value returned shape"):
        wrong_shape(y, p)
    pair = _custom(registered, "test_not_pair", value_and_grad=lambda t, p: p)
    with pytest.raises(TypeError, match="pair"):
        pair(y, p)
    ok = _custom(registered, "test_ok", lambda t, p: p * 0, lambda t, p: p * 0)
    with pytest.raises(ValueError, match="y_true has shape"):
        ok(y[:3], p)
    with pytest.raises(ValueError, match="sample_weight"):
        ok(y, p, sample_weight=-np.ones(4))
    with pytest.raises(ValueError, match="out"):
        ok.grad(y, p, out=np.empty((3, 4)))
    with pytest.raises(TypeError, match="2 arrays"):
        ok(p)


# ---- Numba custom losses -----------------------------------------------------------------------

@needs_numba
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_numba_custom_matches_its_numpy_version(numba_loss, dtype, reduction, weighted,
                                                backend):
    loss, twin = numba_loss
    y, p = _draw((30, 4), dtype, seed=2)
    w = np.random.default_rng(3).uniform(0.1, 2, size=30) if weighted else None
    value, grad = loss.value_and_grad(y, p, reduction=reduction, sample_weight=w, delta=0.7)
    with fl.use_backend("numpy"):
        ref_value, ref_grad = twin.value_and_grad(y, p, reduction=reduction, sample_weight=w,
                                                  delta=0.7)
    tol = dict(rtol=1e-5, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(value, ref_value, **tol)
    np.testing.assert_allclose(grad, ref_grad, **tol)
    assert grad.dtype == dtype


@needs_numba
def test_numba_custom_threads_bitwise_and_out(numba_loss):
    loss, _ = numba_loss
    y, p = _draw((100_000, 3), seed=4)
    w = np.random.default_rng(5).uniform(0.1, 2, size=100_000)
    runs = [loss.value_and_grad(y, p, sample_weight=w, n_threads=n) for n in (1, 2, 2, None)]
    for value, grad in runs[1:]:
        assert value == runs[0][0]
        assert np.array_equal(grad, runs[0][1])
    per = [loss(y, p, reduction="none", n_threads=n) for n in (1, 2)]
    assert np.array_equal(per[0], per[1])
    out = np.empty_like(p)
    value, grad = loss.value_and_grad(y, p, sample_weight=w, out=out, n_threads=2)
    assert grad is out and value == runs[0][0] and np.array_equal(out, runs[0][1])
    assert fl.check_grad(loss, y[:50], p[:50], delta=2.0).ok


@needs_numba
def test_numba_custom_via_registry_and_aliases(numba_loss):
    loss, _ = numba_loss
    assert fl.get("TestPseudoHuber").name == loss.name
    assert "Numba" in loss.__doc__ and "delta" in loss.__doc__
    y, p = _draw((10, 2))
    assert fl.get("TestPseudoHuber", delta=0.5)(y, p) == loss(y, p, delta=0.5)


@needs_numba
def test_jit_true_compiles_plain_scalar_functions(registered):
    loss = _custom(registered, "test_jit_abs", lambda t, p: abs(p - t),
                   lambda t, p: 1.0 if p > t else (-1.0 if p < t else 0.0), jit=True)
    y, p = _draw((40,))
    value, grad = loss.value_and_grad(y, p)
    ref_value, ref_grad = fl.mae.value_and_grad(y, p)
    assert value == pytest.approx(ref_value, rel=1e-14)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-14)

    registered.append("test_jit_pair")

    @fl.custom("test_jit_pair", jit=True, last_axis="sum")
    def pair(t, p):
        return (p - t) ** 2, 2 * (p - t)

    y, p = _draw((6, 3))
    for backend in BACKENDS:
        with fl.use_backend(backend):
            value, grad = pair.value_and_grad(y, p, reduction="none")
            np.testing.assert_allclose(value, ((p - y) ** 2).sum(axis=1), rtol=1e-14)
            np.testing.assert_allclose(grad, 2 * (p - y), rtol=1e-14)


@needs_numba
def test_jit_false_runs_numba_functions_elementwise(registered):
    loss = _custom(registered, "test_nojit", _pseudo_huber_value, _pseudo_huber_grad,
                   params={"delta": 1.0}, jit=False)
    assert loss.spec.plan(loss.params).kernel is None
    y, p = _draw((8, 2))
    value, grad = loss.value_and_grad(y, p, reduction="sum")
    ref_value, ref_grad = _pseudo_huber_numpy(y, p, 1.0)
    assert value == pytest.approx(ref_value.sum() / 2, rel=1e-14)
    np.testing.assert_allclose(grad, ref_grad / 2, rtol=1e-14)
    assert fl.check_grad(loss, y, p).ok


def test_mixing_numba_and_numpy_functions_is_refused():
    if numba is None:
        pytest.skip("numba is not installed")
    with pytest.raises(TypeError, match="must both be numba.njit functions, or neither"):
        fl.custom("test_mixed", _pseudo_huber_value, lambda t, p, d: p)


def test_without_numba_only_the_numpy_path(monkeypatch, registered):
    from fastloss import _custom as custom_module
    monkeypatch.setattr(custom_module, "_import_numba", lambda: None)
    with pytest.raises(ImportError, match="numba cannot be imported"):
        fl.custom("test_needs_numba", lambda t, p: abs(p - t), lambda t, p: 1.0, jit=True)
    if numba is not None:       # numba functions built earlier, numba gone now
        with pytest.raises(ImportError, match="install numba"):
            fl.custom("test_needs_numba", _pseudo_huber_value, _pseudo_huber_grad)
    assert "test_needs_numba" not in fl.available()
    sq = _custom(registered, "test_sq_no_numba", lambda t, p: (p - t) ** 2,
                 lambda t, p: 2 * (p - t))
    y, p = _draw((5, 2))
    assert sq(y, p) == pytest.approx(fl.mse(y, p), rel=1e-14)


# ---- check_grad ------------------------------------------------------------------------------

@pytest.mark.parametrize("name, params, make", [
    ("mse", {}, lambda rng: (rng.normal(size=(6, 3)), rng.normal(size=(6, 3)))),
    ("sparse_categorical_cross_entropy", {"from_logits": True},
     lambda rng: (rng.integers(0, 4, size=6), rng.normal(size=(6, 4)))),
    ("triplet", {"swap": True}, lambda rng: tuple(rng.normal(size=(3, 6, 4)))),
    ("contrastive", {}, lambda rng: (rng.integers(0, 2, size=6),) + tuple(rng.normal(size=(2, 6, 4)))),
    ("cosine_embedding", {"margin": 0.1},
     lambda rng: (np.where(rng.random(6) < 0.5, 1, -1),) + tuple(rng.normal(size=(2, 6, 4)))),
    ("tversky", {"alpha": 0.3, "beta": 0.7, "from_logits": True, "class_axis": 1},
     lambda rng: ((rng.random((3, 2, 5)) < 0.5) * 1.0, rng.normal(size=(3, 2, 5)))),
])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_check_grad_passes_correct_gradients(name, params, make, reduction, backend):
    rng = np.random.default_rng(6)
    inputs = make(rng)
    result = fl.check_grad(fl.get(name, **params), *inputs, reduction=reduction)
    assert isinstance(result, fl.GradCheck) and isinstance(result, tuple)
    assert result.ok and result.max_rel_error < 1e-6, result
    n_diff = {"triplet": 3, "contrastive": 2, "cosine_embedding": 2}.get(name, 1)
    assert result.n_checked == sum(x.size for x in inputs[len(inputs) - n_diff:])


def test_check_grad_catches_a_wrong_gradient(registered):
    wrong = _custom(registered, "test_wrong_grad", lambda t, p: (p - t) ** 2,
                    lambda t, p: 2 * (p - t) + (p > 1.5))
    y, p = _draw((6, 3), seed=7)
    p[4, 2] = 2.0
    result = fl.check_grad(wrong, y, p)
    assert not result.ok and result.max_rel_error > 0.1
    assert result.argument == "y_pred" and result.index == (4, 2)
    assert result.analytic == pytest.approx(result.numeric + 1 / 18, rel=1e-6)
    ok, rel, argument, index, analytic, numeric, n = result
    assert (argument, index, n) == ("y_pred", (4, 2), 18)


def test_check_grad_multi_input_names_the_input(monkeypatch):
    a, p, n = np.random.default_rng(8).normal(size=(3, 5, 4))
    good = fl.check_grad("TripletMarginLoss", a, p, n, margin=2.0)
    assert good.ok and good.argument in ("anchor", "positive", "negative")
    from fastloss._numpy import MultiRowResult, embedding
    real_plan = fl.triplet.spec.plan

    def broken(target, preds, params, layout):       # the negative's gradient halved
        loss, (ga, gp, gn) = embedding.triplet(target, preds, params, layout)
        return MultiRowResult(loss, (ga, gp, gn / 2))
    monkeypatch.setattr(fl.triplet.spec, "plan",
                        lambda prm: real_plan(prm)._replace(numpy=broken))
    with fl.use_backend("numpy"):
        bad = fl.check_grad(fl.triplet, a, p, n, margin=2.0)
    assert not bad.ok and bad.argument == "negative"


def test_check_grad_options_and_bad_calls():
    rng = np.random.default_rng(9)
    y, p = rng.normal(size=(2, 50, 40))
    sub = fl.check_grad(fl.huber, y, p, max_elements=30, seed=1, delta=0.5)
    assert sub.ok and sub.n_checked == 30
    p32 = p.astype(np.float32)
    assert fl.check_grad(fl.mse, y, p32).ok           # checked through float64
    assert p32.dtype == np.float32                     # inputs are not modified
    with pytest.raises(TypeError, match="2 arrays"):
        fl.check_grad(fl.mse, p)
    with pytest.raises(TypeError, match="out="):
        fl.check_grad(fl.mse, y, p, out=np.empty_like(p))
    with pytest.raises(TypeError, match="fastloss loss"):
        fl.check_grad(np.mean, y, p)
    with pytest.raises(TypeError, match="y_pred"):
        fl.check_grad(fl.mse, y, p * 1j)
    nan = fl.check_grad(fl.mse, y[:2, :2], np.array([[np.nan, 0.0], [0.0, 0.0]]))
    assert not nan.ok and math.isnan(nan.max_rel_error)
