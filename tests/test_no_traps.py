"""No traps: a plausible mistake fails loudly with a message that points the way, on both
backends, and nothing a Python caller can do crashes the interpreter."""
import inspect

import numpy as np
import pytest

import fastloss as fl
from fastloss import _registry as R

rng = np.random.default_rng(8)
LOGITS = rng.normal(size=(8, 4)) * 3
LABELS = np.array([0, 1, 2, 3, 0, 1, 2, 3])
PROBS = np.exp(LOGITS) / np.exp(LOGITS).sum(axis=1, keepdims=True)
BINARY = (rng.random((8, 4)) < 0.5).astype(float)


@pytest.fixture(params=["cython", "numpy"])
def backend(request):
    with fl.use_backend(request.param):
        yield request.param


# ---- probabilities outside [0, 1]: "if these are logits, pass from_logits=True" -----------

PROBABILITY_CALLS = {
    "binary_cross_entropy": lambda p: fl.binary_cross_entropy(BINARY, p),
    "binary_focal": lambda p: fl.binary_focal(BINARY, p),
    "categorical_cross_entropy": lambda p: fl.categorical_cross_entropy(np.eye(4)[LABELS], p),
    "categorical_focal": lambda p: fl.categorical_focal(np.eye(4)[LABELS], p),
    "sparse_categorical_cross_entropy": lambda p: fl.sparse_categorical_cross_entropy(LABELS, p),
    "kl_divergence": lambda p: fl.kl_divergence(PROBS, p),
    "dice": lambda p: fl.dice(BINARY, p),
    "iou": lambda p: fl.iou(BINARY, p),
    "tversky": lambda p: fl.tversky(BINARY, p),
}


@pytest.mark.parametrize("name", sorted(PROBABILITY_CALLS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logits_given_as_probabilities_raise(name, dtype, backend):
    call = PROBABILITY_CALLS[name]
    with pytest.raises(ValueError) as info:
        call(LOGITS.astype(dtype))
    message = str(info.value)
    assert "y_pred" in message and "[0, 1]" in message and "from_logits=True" in message
    # the same message on both backends, and through value_and_grad
    other = "numpy" if backend == "cython" else "cython"
    with fl.use_backend(other), pytest.raises(ValueError) as info2:
        call(LOGITS.astype(dtype))
    assert str(info2.value) == message
    # valid probabilities (0 and 1 included) and NaN pass
    p = np.clip(PROBS, 0, 1).astype(dtype)
    p[0, 0], p[1, 1] = 0.0, 1.0
    assert np.isfinite(call(p)) or name in ("kl_divergence",)
    p[2, 2] = np.nan
    assert np.isnan(call(p))


def test_every_probability_kernel_is_covered():
    names = {name for name, spec in R.REGISTRY.items() if name in R.BUILTIN
             and any(spec.plan(spec.resolve({})).kernel in R.PROBABILITY_KERNELS
                     for _ in [0])}
    assert names <= set(PROBABILITY_CALLS)


# ---- messages that point the way -----------------------------------------------------------

def test_pytorch_argument_order_is_recognised(backend):
    ce = fl.get("CrossEntropyLoss")
    with pytest.raises(TypeError, match="look swapped.*(y_true, y_pred)"):
        ce(LOGITS, LABELS)               # torch's criterion(input, target)
    with pytest.raises(TypeError, match="look swapped"):
        fl.sparse_categorical_cross_entropy(LOGITS, LABELS, from_logits=True)


def test_integer_labels_to_categorical_point_to_the_sparse_loss(backend):
    with pytest.raises(ValueError, match="sparse_categorical_cross_entropy"):
        fl.categorical_cross_entropy(LABELS, LOGITS, from_logits=True)


def test_unknown_name_suggests_the_closest():
    with pytest.raises(ValueError) as info:
        fl.get("mean_sqared_error")
    message = str(info.value)
    assert "did you mean 'mean_squared_error'" in message
    assert "fl.available()" in message
    assert len(message) < 400            # not every name on one line


# ---- signatures, docstrings, constructors -----------------------------------------------

def test_every_loss_has_a_true_signature():
    for name in fl.available():
        loss = fl.get(name)
        sig = inspect.signature(loss)
        params = list(sig.parameters)
        assert params[:len(loss.inputs)] == list(loss.inputs)
        for key in ("reduction", "sample_weight", "n_threads", *loss.spec.params):
            assert key in params, (name, key)
    sig = inspect.signature(fl.huber)
    assert sig.parameters["delta"].default == 1.0
    assert inspect.signature(fl.get("huber", delta=2.0)).parameters["delta"].default == 2.0


def test_docstrings_mention_only_what_applies():
    assert "delta=1.0" in fl.huber.__doc__
    assert "ignore_index" not in fl.huber.__doc__
    assert "class weight" not in fl.huber.__doc__.lower()
    assert "ignore_index" in fl.sparse_categorical_cross_entropy.__doc__
    assert "class_weight" in fl.categorical_cross_entropy.__doc__


def test_keras_and_pytorch_class_names_are_constructors():
    assert fl.Huber(delta=2.0).params["delta"] == 2.0
    assert fl.MSELoss().spec is R.REGISTRY["mse"]
    ce = fl.CrossEntropyLoss(ignore_index=-100)
    assert ce.params["ignore_index"] == -100 and ce.params["from_logits"]
    assert fl.BCEWithLogitsLoss().params["from_logits"] is True
    assert "delta" in inspect.signature(fl.Huber).parameters
    assert "Huber" in dir(fl)
    with pytest.raises(AttributeError):
        fl.NoSuchLoss


# ---- defects found by fuzzing ---------------------------------------------------------------

def test_out_may_not_be_an_input_on_either_backend(backend):
    y = BINARY.copy()
    before = y.copy()
    with pytest.raises(ValueError, match="share memory"):
        fl.dice.grad(y, np.clip(PROBS, 0, 1), out=y)
    np.testing.assert_array_equal(y, before)


def test_class_weight_stays_the_callers_and_is_frozen_in_the_loss(backend):
    cw = np.ones(4)
    loss = fl.get("sparse_categorical_cross_entropy", class_weight=cw, from_logits=True)
    cw[0] = 2.0                          # the caller's array stays writable ...
    ref = fl.get("sparse_categorical_cross_entropy", class_weight=np.ones(4),
                 from_logits=True)
    assert loss(LABELS, LOGITS) == ref(LABELS, LOGITS)   # ... and the loss keeps its copy
    base = np.ones(8)
    view = base[::2]
    loss = fl.get("sparse_categorical_cross_entropy", class_weight=view, from_logits=True)
    base[0] = 5.0
    assert loss(LABELS, LOGITS) == ref(LABELS, LOGITS)


@pytest.mark.parametrize("shape", [(6,), (6, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [1e-50, 1e39, 1e300])
def test_extreme_sample_weights_give_finite_gradients(shape, dtype, scale, backend):
    """Weights are float64 and scale the gradient in double (a float32 cast of 1e-50 is 0,
    of 1e39 inf)."""
    y, p = rng.normal(size=(2,) + shape).astype(dtype)
    w = np.full(6, scale)
    value, grad = fl.mse.value_and_grad(y, p, sample_weight=w)
    ref_value, ref_grad = fl.mse.value_and_grad(y, p)
    assert value == pytest.approx(ref_value, rel=1e-5)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5)


@pytest.mark.skipif(not fl.config()["compiled_kernels"], reason="kernels not built")
def test_private_entry_points_cannot_crash_the_interpreter():
    from fastloss import _kernels as K
    p = np.zeros((4, 3))
    labels = np.zeros(4, np.int64)
    # out-of-range kernel ids, short parameter tuples, bad kinds: None or an exception
    for kernel in (-1, 63, 64, 10**6):
        for call in (lambda: K.fast(kernel, 0, p, p, None, "mean", (0.0,) * 4, (0.0,) * 4,
                                    None, None, None, True),
                     lambda: K.run(kernel, p, p, 3, None, None, None, None, 2)):
            try:
                call()
            except (ValueError, TypeError):
                pass
    assert K.fast(0, 0, p, p, None, "mean", (0.0,), (0.0,), None, None, None, True) is None
    assert K.fast(0, 7, p, p, None, "mean", (0.0,) * 4, (0.0,) * 4, None, None, None,
                  True) is None
    with pytest.raises((ValueError, TypeError)):
        K.run(8, labels, p, 3, None, None, None, None, 2, ignore_index=2**70)
    with pytest.raises(ValueError):
        K.run_multi(43, p, (p,), None, 3, None, None, 2, n_classes=2**62, inner=4)
    with pytest.raises(ValueError):
        K.run_multi(43, p, (p,), None, 3, None, None, 2, n_classes=3, inner=2**62)


@pytest.mark.skipif(not fl.config()["compiled_kernels"], reason="kernels not built")
def test_a_huge_thread_count_is_capped_at_the_cpus():
    """n_threads=1000 (or 2**40) runs on the CPUs available, even through the private entry
    point, and gives bitwise the one-thread answer (it used to start 1000 OS threads)."""
    from fastloss import _kernels as K
    y, p = rng.normal(size=(2, 300_000))
    g1, g2 = np.empty_like(p), np.empty_like(p)
    v1 = K.run(0, y, p, 1, g1, None, None, None, 2, n_threads=1)
    v2 = K.run(0, y, p, 1, g2, None, None, None, 2, n_threads=1000)
    assert v1 == v2 and np.array_equal(g1, g2)
    assert fl.mse(y, p, n_threads=2**40) == v1
