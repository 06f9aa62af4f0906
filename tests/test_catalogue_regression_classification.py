"""The catalogue's regression, classification and distribution losses against the libraries
their docstrings name - scikit-learn's metrics, PyTorch's reductions, optax, and Keras'
formulas - plus the identities that tie them to the core losses.  (The shared battery in
test_battery.py checks every case's values and gradients against PyTorch; this file checks
the named references and the semantics chosen where the references disagree.)"""
import numpy as np
import pytest

import fastloss as fl
from cases import torch

BACKENDS = ["cython", "numpy"]
NEW = ["smooth_l1", "log_cosh", "quantile", "poisson", "msle", "mape", "binary_focal",
       "categorical_focal", "hinge", "squared_hinge", "categorical_hinge", "kl_divergence"]

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


@pytest.fixture(params=BACKENDS)
def backend(request):
    with fl.use_backend(request.param):
        yield request.param


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ---- registry, aliases, docstrings ---------------------------------------------------------

def test_available_and_module_attributes():
    for name in NEW:
        assert name in fl.available()
        assert getattr(fl, name).name == name


@pytest.mark.parametrize("alias, name, params", [
    ("SmoothL1Loss", "smooth_l1", {"beta": 1.0}),
    ("smooth_l1_loss", "smooth_l1", {}),
    ("LogCosh", "log_cosh", {}),
    ("logcosh", "log_cosh", {}),
    ("pinball", "quantile", {"quantile": 0.5}),
    ("mean_pinball_loss", "quantile", {}),
    ("PoissonNLLLoss", "poisson", {"log_input": True, "eps": 1e-8}),
    ("poisson_nll_loss", "poisson", {}),
    ("Poisson", "poisson", {"log_input": False, "eps": 1e-7}),
    ("mean_squared_log_error", "msle", {}),
    ("mean_squared_logarithmic_error", "msle", {}),
    ("MeanSquaredLogarithmicError", "msle", {}),
    ("mean_absolute_percentage_error", "mape", {"percent": False}),
    ("MeanAbsolutePercentageError", "mape", {"percent": True, "epsilon": 1e-7}),
    ("BinaryFocalCrossentropy", "binary_focal", {"from_logits": False, "alpha": None}),
    ("binary_focal_crossentropy", "binary_focal", {}),
    ("sigmoid_focal_loss", "binary_focal", {"from_logits": True, "alpha": None}),
    ("CategoricalFocalCrossentropy", "categorical_focal", {"alpha": 0.25}),
    ("categorical_focal_crossentropy", "categorical_focal", {"alpha": 0.25}),
    ("Hinge", "hinge", {}),
    ("hinge_loss", "hinge", {}),
    ("SquaredHinge", "squared_hinge", {}),
    ("CategoricalHinge", "categorical_hinge", {"margin": 1.0}),
    ("KLDivLoss", "kl_divergence", {"log_input": True, "log_target": False}),
    ("kl_div", "kl_divergence", {"log_input": True}),
    ("KLDivergence", "kl_divergence", {"log_input": False}),
    ("kullback_leibler_divergence", "kl_divergence", {"log_input": False}),
    ("kl_divergence_with_log_targets", "kl_divergence", {"log_input": True, "log_target": True}),
])
def test_aliases(alias, name, params):
    loss = fl.get(alias)
    assert loss.name == name
    for key, value in params.items():
        assert loss.params[key] == value


@pytest.mark.parametrize("name", NEW)
def test_docstrings_state_formula_reference_and_semantics(name):
    doc = getattr(fl, name).__doc__
    assert "Reference" in doc and "sum(w_i l_i) / sum(w_i)" in doc
    assert "sum_over_batch_size" in doc and "grad" in doc.lower()
    assert fl.get(name).spec.aliases, f"{name} has no aliases"


# ---- scikit-learn ----------------------------------------------------------------------------

sklearn_metrics = pytest.importorskip("sklearn.metrics")


@pytest.mark.parametrize("shape", [(50,), (40, 3)])
@pytest.mark.parametrize("q", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("weighted", [False, True])
def test_quantile_is_sklearn_mean_pinball_loss(shape, q, weighted, backend):
    rng = np.random.default_rng(0)
    y, p = rng.normal(size=shape), rng.normal(size=shape)
    w = rng.uniform(0.1, 2, size=shape[0]) if weighted else None
    expected = sklearn_metrics.mean_pinball_loss(y, p, alpha=q, sample_weight=w)
    assert fl.quantile(y, p, quantile=q, sample_weight=w) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("shape", [(50,), (40, 3)])
@pytest.mark.parametrize("weighted", [False, True])
def test_msle_is_sklearn_mean_squared_log_error(shape, weighted, backend):
    rng = np.random.default_rng(1)
    y, p = rng.uniform(-0.9, 5, size=shape), rng.uniform(-0.9, 5, size=shape)
    w = rng.uniform(0.1, 2, size=shape[0]) if weighted else None
    expected = sklearn_metrics.mean_squared_log_error(y, p, sample_weight=w)
    assert fl.msle(y, p, sample_weight=w) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("bad", ["y_true", "y_pred"])
def test_msle_refuses_what_sklearn_refuses(bad, backend):
    y, p = np.array([0.5, 2.0, 3.0]), np.array([1.0, 0.0, 2.0])
    arrays = {"y_true": y.copy(), "y_pred": p.copy()}
    arrays[bad][1] = -1.0
    with pytest.raises(ValueError, match="Mean Squared Logarithmic Error"):
        sklearn_metrics.mean_squared_log_error(arrays["y_true"], arrays["y_pred"])
    buf = np.full(3, 7.0)
    with pytest.raises(ValueError, match=f"{bad} must be > -1.*flat index 1"):
        fl.msle.value_and_grad(arrays["y_true"], arrays["y_pred"], out=buf)
    assert np.all(buf == 7.0)                 # refused before anything was written
    arrays[bad][1] = np.nan                   # NaN is not refused: it gives NaN
    assert np.isnan(fl.msle(arrays["y_true"], arrays["y_pred"]))


@pytest.mark.parametrize("shape", [(50,), (40, 3)])
@pytest.mark.parametrize("weighted", [False, True])
def test_mape_is_sklearn_mean_absolute_percentage_error(shape, weighted, backend):
    rng = np.random.default_rng(2)
    y, p = rng.normal(size=shape), rng.normal(size=shape)
    y[3] = 0.0                                # epsilon = float64 eps, as scikit-learn
    w = rng.uniform(0.1, 2, size=shape[0]) if weighted else None
    expected = sklearn_metrics.mean_absolute_percentage_error(y, p, sample_weight=w)
    assert fl.mape(y, p, sample_weight=w) == pytest.approx(expected, rel=1e-12)
    assert fl.mape(y, p, sample_weight=w, percent=True) == pytest.approx(100 * expected,
                                                                          rel=1e-12)


def test_mape_float32_zero_target_uses_float64_epsilon(backend):
    y, p = np.array([0.0, 2.0], np.float32), np.array([0.5, 1.0], np.float32)
    per = fl.mape(y, p, reduction="none")
    assert per[0] == pytest.approx(0.5 / np.finfo(np.float64).eps, rel=1e-6)
    assert np.isfinite(fl.mape.grad(y, p)).all()


# ---- PyTorch's own reductions ------------------------------------------------------------------

@needs_torch
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_mean_is_torch_batchmean_and_sum_is_sum(log_target, backend):
    rng = np.random.default_rng(3)
    log_q = np.log(softmax(rng.normal(size=(16, 7))))
    t = softmax(2 * rng.normal(size=(16, 7)))
    t[::3] = np.eye(7)[rng.integers(0, 7, size=t[::3].shape[0])]
    target = np.log(softmax(2 * rng.normal(size=(16, 7)))) if log_target else t
    for ours, theirs in (("mean", "batchmean"), ("sum", "sum")):
        value, grad = fl.get("KLDivLoss", log_target=log_target).value_and_grad(
            target, log_q, reduction=ours)
        zt = torch.tensor(log_q, requires_grad=True)
        ref = torch.nn.functional.kl_div(zt, torch.tensor(target), reduction=theirs,
                                         log_target=log_target)
        ref.backward()
        assert value == pytest.approx(ref.item(), rel=1e-12)
        np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=1e-12, atol=1e-15)
    # our probability input is the same divergence
    assert fl.kl_divergence(target, np.exp(log_q), log_target=log_target) == pytest.approx(
        fl.kl_divergence(target, log_q, log_input=True, log_target=log_target), rel=1e-12)


@needs_torch
@pytest.mark.parametrize("name, params, torch_fn, torch_kw", [
    ("smooth_l1", {"beta": 0.5}, "smooth_l1_loss", {"beta": 0.5}),
    ("poisson", {"full": True}, "poisson_nll_loss", {"full": True}),
    ("poisson", {"log_input": False, "eps": 1e-4}, "poisson_nll_loss",
     {"log_input": False, "eps": 1e-4}),
])
def test_elementwise_mean_is_torch_mean(name, params, torch_fn, torch_kw, backend):
    rng = np.random.default_rng(4)
    y = rng.poisson(3.0, size=(30, 4)).astype(float)
    p = rng.uniform(0.1, 5.0, size=(30, 4))
    value, grad = fl.get(name, **params).value_and_grad(y, p)
    pt = torch.tensor(p, requires_grad=True)
    ref = getattr(torch.nn.functional, torch_fn)(pt, torch.tensor(y), reduction="mean",
                                                 **torch_kw)
    ref.backward()
    assert value == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(grad, pt.grad.numpy(), rtol=1e-12, atol=1e-15)


# ---- optax ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def optax_jax():
    optax = pytest.importorskip("optax")
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return optax, jax


@pytest.mark.parametrize("alpha, gamma", [(None, 2.0), (0.25, 2.0), (0.6, 0.5), (None, 0.0)])
def test_binary_focal_is_optax_sigmoid_focal_loss(alpha, gamma, optax_jax, backend):
    optax, jax = optax_jax
    rng = np.random.default_rng(5)
    z = 4 * rng.normal(size=(20, 3))
    t = (rng.random((20, 3)) < 0.4).astype(float)
    t[::4] = rng.random(t[::4].shape)          # soft labels too
    per, grad = fl.get("sigmoid_focal_loss", alpha=alpha, gamma=gamma).value_and_grad(
        t, z, reduction="none")

    def ref(zz):
        return optax.losses.sigmoid_focal_loss(zz, t, alpha=alpha, gamma=gamma)

    np.testing.assert_allclose(per, np.asarray(ref(z)).mean(axis=1), rtol=1e-12)
    ref_grad = jax.grad(lambda zz: ref(zz).mean(axis=1).sum())(z)
    np.testing.assert_allclose(grad, np.asarray(ref_grad), rtol=1e-10, atol=1e-14)


def test_log_cosh_hinge_multiclass_hinge_match_optax(optax_jax, backend):
    optax, _ = optax_jax
    rng = np.random.default_rng(6)
    y, p = rng.normal(size=(25, 3)), 3 * rng.normal(size=(25, 3))
    np.testing.assert_allclose(fl.log_cosh(y, p, reduction="none"),
                               np.asarray(optax.losses.log_cosh(p, y)).mean(axis=1), rtol=1e-12)
    signs = np.where(rng.random((25, 3)) < 0.5, -1.0, 1.0)
    np.testing.assert_allclose(fl.hinge(signs, p, reduction="none"),
                               np.asarray(optax.losses.hinge_loss(p, signs)).mean(axis=1),
                               rtol=1e-12)
    labels = rng.integers(0, 3, size=25)
    np.testing.assert_allclose(fl.categorical_hinge(np.eye(3)[labels], p, reduction="none"),
                               np.asarray(optax.losses.multiclass_hinge_loss(p, labels)),
                               rtol=1e-12, atol=1e-15)


# ---- Keras' formulas (Keras is not a dependency: its documented code, in NumPy) ---------------

def keras_categorical_focal(t, p, alpha=0.25, gamma=2.0, eps=1e-7):
    p = np.clip(p / p.sum(axis=-1, keepdims=True), eps, 1 - eps)
    return np.sum(alpha * (1 - p) ** gamma * -t * np.log(p), axis=-1)


def keras_binary_focal(t, p, gamma=2.0, eps=1e-7):
    p = np.clip(p, eps, 1 - eps)
    bce = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    p_t = t * p + (1 - t) * (1 - p)
    return np.mean((1 - p_t) ** gamma * bce, axis=-1)


def keras_categorical_hinge(t, p):
    return np.maximum(np.max((1 - t) * p, axis=-1) - np.sum(t * p, axis=-1) + 1, 0)


def test_keras_formulas(backend):
    rng = np.random.default_rng(7)
    probs = softmax(rng.normal(size=(30, 4)))
    onehot = np.eye(4)[rng.integers(0, 4, size=30)]
    np.testing.assert_allclose(
        fl.get("CategoricalFocalCrossentropy", eps=1e-7)(onehot, probs, reduction="none"),
        keras_categorical_focal(onehot, probs), rtol=1e-12)
    yb = (rng.random((30, 4)) < 0.5).astype(float)
    pb = rng.uniform(0.01, 0.99, size=(30, 4))
    np.testing.assert_allclose(
        fl.get("BinaryFocalCrossentropy", eps=1e-7)(yb, pb, reduction="none"),
        keras_binary_focal(yb, pb), rtol=1e-12)
    # non-negative scores: Keras' runner-up max((1 - t) z) equals max_{j != y} z_j
    np.testing.assert_allclose(fl.get("CategoricalHinge")(onehot, probs, reduction="none"),
                               keras_categorical_hinge(onehot, probs), rtol=1e-12)
    # Keras' Hinge converts {0, 1} labels to {-1, 1}
    z = rng.normal(size=(30, 4))
    np.testing.assert_allclose(fl.get("Hinge")(yb, z, reduction="none"),
                               np.mean(np.maximum(1 - (2 * yb - 1) * z, 0), axis=-1), rtol=1e-12)
    np.testing.assert_allclose(fl.get("SquaredHinge")(yb, z, reduction="none"),
                               np.mean(np.maximum(1 - (2 * yb - 1) * z, 0) ** 2, axis=-1),
                               rtol=1e-12)
    # Keras' MAPE (percent, epsilon 1e-7), Poisson (rates, epsilon 1e-7), KLD (no zeros here)
    y, p = rng.normal(size=(30, 4)), rng.normal(size=(30, 4))
    y[0, 0] = 0.0
    np.testing.assert_allclose(
        fl.get("MeanAbsolutePercentageError")(y, p, reduction="none"),
        100 * np.mean(np.abs((y - p) / np.maximum(np.abs(y), 1e-7)), axis=-1), rtol=1e-12)
    counts, rates = rng.poisson(2.0, size=(30, 4)), rng.uniform(0.1, 3, size=(30, 4))
    np.testing.assert_allclose(fl.get("Poisson")(counts, rates, reduction="none"),
                               np.mean(rates - counts * np.log(rates + 1e-7), axis=-1),
                               rtol=1e-12)
    t = softmax(rng.normal(size=(30, 4)))
    np.testing.assert_allclose(fl.get("KLDivergence")(t, probs, reduction="none"),
                               np.sum(t * np.log(t / probs), axis=-1), rtol=1e-10, atol=1e-15)


# ---- identities with the core losses ---------------------------------------------------------

def test_identities_with_core_losses(backend):
    rng = np.random.default_rng(8)
    y, p = rng.normal(size=(40, 3)), rng.normal(size=(40, 3))
    w = rng.uniform(0.1, 2, size=40)

    def both(loss, *args, **kw):
        return loss.value_and_grad(*args, sample_weight=w, **kw)

    for (v1, g1), (v2, g2) in [
        (both(fl.quantile, y, p), tuple(0.5 * x for x in both(fl.mae, y, p))),
        (both(fl.smooth_l1, y, p, beta=0.7),
         tuple(x / 0.7 for x in both(fl.huber, y, p, delta=0.7))),
        (both(fl.smooth_l1, y, p, beta=0.0), both(fl.mae, y, p)),
    ]:
        assert v1 == pytest.approx(v2, rel=1e-12)
        np.testing.assert_allclose(g1, g2, rtol=1e-12, atol=1e-15)

    yb = (rng.random((40, 3)) < 0.5).astype(float)
    z = 3 * rng.normal(size=(40, 3))
    for kw, x in [({"from_logits": True}, z), ({}, 1 / (1 + np.exp(-z)))]:
        a = both(fl.binary_focal, yb, x, gamma=0.0, **kw)
        b = both(fl.binary_cross_entropy, yb, x, **kw)
        assert a[0] == pytest.approx(b[0], rel=1e-12)
        np.testing.assert_allclose(a[1], b[1], rtol=1e-10, atol=1e-15)

    t = softmax(rng.normal(size=(40, 5)))
    zc = 2 * rng.normal(size=(40, 5))
    for kw, x in [({"from_logits": True}, zc), ({}, softmax(zc))]:
        a = both(fl.categorical_focal, t, x, gamma=0.0, alpha=0.3, **kw)
        b = both(fl.categorical_cross_entropy, t, x, **kw)
        assert a[0] == pytest.approx(0.3 * b[0], rel=1e-12)
        np.testing.assert_allclose(a[1], 0.3 * b[1], rtol=1e-10, atol=1e-15)

    # KL = cross-entropy - entropy of the target, same gradient
    entropy = -np.sum(t * np.log(t), axis=-1)
    a = fl.kl_divergence.value_and_grad(t, softmax(zc), reduction="none")
    b = fl.categorical_cross_entropy.value_and_grad(t, softmax(zc), reduction="none")
    np.testing.assert_allclose(a[0], b[0] - entropy, rtol=1e-12)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-12)

    # hinge: {0, 1} and {-1, 1} labels are the same thing
    np.testing.assert_array_equal(fl.hinge(yb, z, reduction="none"),
                                  fl.hinge(2 * yb - 1, z, reduction="none"))

    # poisson: log-rate input == rate input (eps -> 0)
    counts = rng.poisson(2.0, size=(40, 3)).astype(float)
    rates = rng.uniform(0.2, 3.0, size=(40, 3))
    np.testing.assert_allclose(fl.poisson(counts, np.log(rates), reduction="none"),
                               fl.poisson(counts, rates, log_input=False, eps=1e-300,
                                          reduction="none"), rtol=1e-12)


def test_categorical_hinge_soft_rows_are_the_expected_hinge(backend):
    rng = np.random.default_rng(9)
    z = rng.normal(size=(12, 4))
    t = softmax(rng.normal(size=(12, 4)))
    per_class = [fl.categorical_hinge(np.eye(4)[np.full(12, k)], z, reduction="none")
                 for k in range(4)]
    expected = sum(t[:, k] * per_class[k] for k in range(4))
    np.testing.assert_allclose(fl.categorical_hinge(t, z, reduction="none"), expected,
                               rtol=1e-12)
