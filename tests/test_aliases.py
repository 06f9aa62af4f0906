"""Every alias means the maths of the library it names, checked against that library.

The README promises that an alias which is a Keras, PyTorch, optax or scikit-learn name
means that library's maths, or that the loss's docstring says exactly how it differs.  This
module holds one row per name that ``fl.get`` resolves besides the canonical names: the
registry's aliases (``spec.aliases`` and ``ALIASES_WITH_PARAMS``) and the library names that
resolve through the case- and underscore-insensitive lookup (``mse_loss``).  A row says
which library the name belongs to and how that library computes it:

- Keras 3 (``keras.losses.<Class>()(y_true, y_pred)`` with its default reduction
  ``sum_over_batch_size`` = fastloss's ``"mean"``, ``keras.losses.<function>`` = per-sample
  values), on the JAX backend so that ``jax.grad`` gives Keras' gradient;
- PyTorch (``torch.nn`` / ``torch.nn.functional``; argument order (input, target)), with
  autograd for the gradient;
- optax (``optax.losses``, ``jax.grad``); scikit-learn (``sklearn.metrics``, values only);
- generic: a name of no reference library, meaning the canonical loss (``GENERIC``, with
  the reason for each).

Each library row is compared on random and edge inputs, float64 and float32, value and
gradient.  Where an alias deliberately differs from its library, the loss's docstring and
the README say how, and a ``test_documented_*`` test below asserts exactly that difference.
``test_every_alias_is_tested`` fails for a new alias without a row here, and
``test_every_library_name_that_resolves_is_tested`` for a library name that starts to
resolve (through a new alias, or a new name in a library release).

The libraries are imported at module level: they are all in the ``test`` extra, so CI never
skips this module.  Keras runs on JAX (TensorFlow is not installed) with 64-bit types on.
"""
import os

os.environ["KERAS_BACKEND"] = "jax"     # before keras is imported; TensorFlow is not needed

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import pytest  # noqa: E402
import sklearn.metrics  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import fastloss as fl  # noqa: E402
from fastloss import _registry as R  # noqa: E402

jax.config.update("jax_enable_x64", True)
assert keras.backend.backend() == "jax"

KERAS_VERSION = tuple(int(x) for x in keras.__version__.split(".")[:2])
DTYPES = [np.float64, np.float32]
N, K = 7, 5


# ---- running a reference ----------------------------------------------------------------------
#
# A reference is (library, fn): fn takes the call's arrays as that library's arrays, in
# fastloss's order (y_true first; triplet: anchor, positive, negative) and returns a scalar
# (compared with fastloss's "mean") or per-sample values (compared with "none").  The
# gradient is that of the sum of what fn returns, with respect to every float input after
# the first ``n_fixed`` (y_true, the labels of pairwise losses).

def _run_torch(fn, args, n_fixed):
    ts = [torch.as_tensor(a) if a.dtype.kind != "i" else torch.as_tensor(a, dtype=torch.int64)
          for a in args]
    free = ts[n_fixed:]
    for t in free:
        t.requires_grad_(True)
    out = fn(*ts)
    grads = torch.autograd.grad(out.sum(), free)
    return out.detach().numpy(), [g.numpy() for g in grads]


def _run_jax(fn, args, n_fixed):
    js = [jnp.asarray(a) for a in args]
    fixed, free = js[:n_fixed], js[n_fixed:]
    out = fn(*fixed, *free)
    grads = jax.grad(lambda *f: jnp.sum(fn(*fixed, *f)), argnums=tuple(range(len(free))))(*free)
    return np.asarray(out), [np.asarray(g) for g in grads]


def _run_numpy(fn, args, n_fixed):
    return np.asarray(fn(*args)), None


RUNNERS = {"keras": _run_jax, "optax": _run_jax, "torch": _run_torch, "sklearn": _run_numpy}

# Keras computes means in float32 even for float64 input (keras.ops.mean promotes with
# float32, and its type lattice maps float64 to float32 on non-TensorFlow backends), so a
# float64 Keras value is good to ~1e-7 relative.
TOL = {(np.float64, "keras"): (2e-6, 1e-9), (np.float64, "torch"): (1e-10, 1e-12),
       (np.float64, "optax"): (1e-10, 1e-12), (np.float64, "sklearn"): (1e-10, 1e-12)}
TOL32 = (2e-5, 2e-6)


def _scale(a):
    """The size of a typical entry: tolerances are relative to it (a few huge gradients, from
    zero targets of MAPE say, must not hide an error in the others)."""
    nonzero = np.abs(a[a != 0])
    return max(1e-3, float(np.median(nonzero))) if nonzero.size else 1.0


def compare(name, lib, fn, args, n_fixed=1, fl_kw=None, grad=True, tol=None,
            zero_grad_at=None):
    """fastloss's ``fl.get(name)`` against ``fn`` run by ``lib``: value and gradient.

    zero_grad_at: (y_true, y_pred) -> mask of the elements where fastloss's gradient is 0 by
    its documented rule and the library's is another: JAX's |x| has slope 1 at 0 (PyTorch's
    and fastloss's subgradient is 0); Keras' binary focal factor uses the unclipped p where
    the clip binds.  There fastloss's gradient must be 0 instead of the library's."""
    dtype = next(a.dtype.type for a in args[n_fixed:] if a.dtype.kind == "f")
    rtol, atol = tol or TOL.get((dtype, lib), TOL32)
    ref, ref_grads = RUNNERS[lib](fn, args, n_fixed)
    loss = fl.get(name, **(fl_kw or {}))
    reduction = "mean" if ref.ndim == 0 else "none"
    value, grads = loss.value_and_grad(*args, reduction=reduction)
    grads = list(grads) if isinstance(grads, tuple) else [grads]
    np.testing.assert_allclose(value, ref, rtol=rtol, atol=atol * max(1.0, _scale(ref)),
                               err_msg=f"{name} vs {lib}: value")
    if grad and ref_grads is not None:
        for i, (g, r) in enumerate(zip(grads, ref_grads)):
            assert g.dtype == args[n_fixed + i].dtype
            if zero_grad_at is not None:
                mask = zero_grad_at(*args)
                assert np.all(g[mask] == 0), f"{name}: gradient 0 where {mask}"
                r = np.where(mask, 0, r)
            np.testing.assert_allclose(g, r, rtol=rtol, atol=atol * _scale(r) * 10,
                                       err_msg=f"{name} vs {lib}: gradient {i}")


# ---- inputs -----------------------------------------------------------------------------------

def _rng(dtype, edge):
    return np.random.default_rng((7 if dtype is np.float64 else 8) + (100 if edge else 0))


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def regression(dtype, edge):
    rng = _rng(dtype, edge)
    t, p = rng.normal(size=(2, N, K)) * 2
    if edge:
        p[0] = t[0]                                   # zero errors
        t[1], p[1] = [0.5, -0.5, 2.0, 0.0, 3.0], [1.5, -1.5, 1.0, 1.0, 3.0]    # |d| = 1
        t[2], p[2] = [0, 0, 1e3, -1e3, 0], [1e3, -1e3, 0, 0, 1e-8]
        t[3] = 0.0
    return t.astype(dtype), p.astype(dtype)


def positive(dtype, edge):
    """Non-negative targets and predictions (MSLE, MAPE), zeros among them on the edge."""
    rng = _rng(dtype, edge)
    t, p = rng.uniform(0.01, 4, size=(2, N, K))
    if edge:
        t[0, :2] = 0.0
        p[1] = t[1]
        t[2], p[2] = [1e3, 1e-3, 5e-7, 2.0, 1.0], [1.0, 1e3, 2.0, 5e-7, 0.5]
    return t.astype(dtype), p.astype(dtype)


def positive_inside(dtype, edge):
    """Values >= 1e-7, where Keras' MSLE does not clamp."""
    t, p = positive(dtype, edge)
    return np.maximum(t, 1e-6).astype(dtype), p


def binary_probs(dtype, edge):
    rng = _rng(dtype, edge)
    t = (rng.random((N, K)) < 0.5).astype(dtype)
    p = rng.uniform(0.02, 0.98, size=(N, K))
    if edge:
        t[0], p[0] = [0, 1, 0, 1, 0.3], [0.0, 1.0, 1.0, 0.0, 0.0]    # the clip binds
        t[1], p[1] = [1, 0, 1, 0, 1], [1e-9, 1 - 1e-6, 0.5, 1e-6, 1 - 1e-6]
        t[2] = [0.25, 0.5, 0.75, 1.0, 0.0]                               # soft targets
    return t, p.astype(dtype)


def bce_inside(dtype, edge):
    """Probabilities where PyTorch's BCE agrees: eps <= p <= 1 - eps, p (1 - p) >= 1e-12."""
    t, p = binary_probs(dtype, False)
    if edge:
        p[0] = [1e-6, 1 - 1e-6, 0.5, 1e-6, 1 - 1e-6]
        t[0] = [1, 0, 1, 0, 1]
        t[1] = [0.25, 0.5, 0.75, 1.0, 0.0]
    return t, p


def binary_logits(dtype, edge):
    rng = _rng(dtype, edge)
    t = (rng.random((N, K)) < 0.5).astype(dtype)
    z = rng.normal(size=(N, K)) * 3
    if edge:
        z[0] = [40.0, -40.0, 0.0, 1e3, -1e3]
        t[0] = [0, 1, 1, 0, 1]
        z[1] = [-40.0, 40.0, 0.0, -1e3, 1e3]
        t[1] = [0, 1, 0, 0, 1]
        t[2] = [0.25, 0.5, 0.75, 1.0, 0.0]
    return t, z.astype(dtype)


def moderate_logits(dtype, edge):
    """Binary logits with |z| <= 10: Keras' focal losses clip the sigmoid at 1e-7."""
    t, z = binary_logits(dtype, False)
    if edge:
        z[0] = [10.0, -10.0, 0.0, 8.0, -8.0]
    return t, np.clip(z, -10, 10)


def signs(dtype, edge, zero_one=False):
    rng = _rng(dtype, edge)
    t = np.where(rng.random((N, K)) < 0.5, 1.0, -1.0)
    z = rng.normal(size=(N, K)) * 2
    if edge:
        z[0] = [0.0, 1e3, -1e3, 0.5, 2.0]
    if zero_one:
        t = (t + 1) / 2
    return t.astype(dtype), z.astype(dtype)


def onehot_probs(dtype, edge):
    rng = _rng(dtype, edge)
    labels = rng.integers(0, K, size=N)
    t = np.eye(K)[labels]
    p = _softmax(rng.normal(size=(N, K)) * 2)
    if edge:
        p[0] = np.eye(K)[labels[0]]                  # certain and right
        p[1] = np.eye(K)[(labels[1] + 1) % K]        # certain and wrong: the clip binds
        t[2] = [0.1, 0.2, 0.3, 0.4, 0.0]             # a soft target row
    return t.astype(dtype), p.astype(dtype)


def sparse_probs(dtype, edge):
    t, p = onehot_probs(dtype, edge)
    if edge:
        p[2] = onehot_probs(dtype, False)[1][2]
    return t.argmax(axis=-1), p


def onehot_rows(dtype, edge):
    """One-hot targets and probability rows (every score >= 0); on the edge the target is
    the least likely class, certain-and-wrong rows included."""
    t, p = onehot_probs(dtype, edge)
    return np.eye(K, dtype=dtype)[p.argmin(axis=-1) if edge else t.argmax(axis=-1)], p


def onehot_logits(dtype, edge):
    rng = _rng(dtype, edge)
    t = np.eye(K)[rng.integers(0, K, size=N)]
    z = rng.normal(size=(N, K)) * 3
    if edge:
        z[0] = 0.0                                   # ties
        z[1] = [1e3, -1e3, 0, 5, -5]
        t[2] = [0.1, 0.2, 0.3, 0.4, 0.0]
    return t.astype(dtype), z.astype(dtype)


def sparse_logits(dtype, edge):
    t, z = onehot_logits(dtype, False)
    if edge:
        z[0] = 0.0
        z[1] = [1e3, -1e3, 0, 5, -5]
    return t.argmax(axis=-1), z.astype(dtype)


def distributions(dtype, edge):
    """Strictly positive target rows (Keras clips targets below 1e-7) and predicted rows."""
    rng = _rng(dtype, edge)
    t, p = _softmax(rng.normal(size=(2, N, K)))
    if edge:
        p[0] = t[0]
        p[1] = [0.5, 0.5, 0.0, 0.0, 0.0]            # the clip binds
    return t.astype(dtype), p.astype(dtype)


def log_distributions(dtype, edge):
    t, p = distributions(dtype, edge)
    with np.errstate(divide="ignore"):
        logp = np.log(np.clip(p, 1e-30, 1)).astype(dtype)
    return t, logp


def counts_logrates(dtype, edge):
    rng = _rng(dtype, edge)
    t = rng.poisson(2.0, size=(N, K)).astype(dtype)
    z = rng.normal(size=(N, K))
    if edge:
        t[0] = 0
        z[1] = [-20, 20, 0, -5, 5]
        t[2] = [0, 1, 2, 50, 0.5]
    return t, z.astype(dtype)


def counts_rates(dtype, edge):
    t, z = counts_logrates(dtype, edge)
    r = np.exp(z)
    if edge:
        r[3] = [0.0, 1e-9, 1.0, 2.0, 0.0]
        t[3] = [0, 0, 1, 2, 3]
    return t, r.astype(dtype)


def quantile_case(dtype, edge):
    return regression(dtype, edge)


def triplets(dtype, edge):
    rng = _rng(dtype, edge)
    a, p, n = rng.normal(size=(3, N, K))
    if edge:
        p[0] = a[0] + 0.1
        n[0] = a[0] + 0.2                            # a tight triplet
        n[1] = a[1] + 5.0                            # an inactive hinge
    return a.astype(dtype), p.astype(dtype), n.astype(dtype)


def cosine_pairs(dtype, edge):
    rng = _rng(dtype, edge)
    y = np.where(rng.random(N) < 0.5, 1.0, -1.0)
    x1, x2 = rng.normal(size=(2, N, K))
    if edge:
        x2[0] = 3 * x1[0]
        y[0] = 1                                     # parallel
        x2[1] = -x1[1]
        y[1] = -1                                    # opposite
        x2[2] = x1[2] * 1e3
    return y.astype(dtype), x1.astype(dtype), x2.astype(dtype)


def masks_logits(dtype, edge, classes=1):
    rng = _rng(dtype, edge)
    t = (rng.random((N, 4, 3, classes)) < 0.4).astype(dtype)
    z = rng.normal(size=(N, 4, 3, classes)) * 2
    if edge:
        t[0] = 0.0                                   # an empty mask
        z[1] = 30.0
    return t, z.astype(dtype)


# ---- the rows ---------------------------------------------------------------------------------

def keras_class(cls, **kw):
    """A Keras loss object built for the dtype of the prediction it is given."""
    return lambda t, p: getattr(keras.losses, cls)(dtype=str(p.dtype), **kw)(t, p)


def keras_fn(fn, **kw):
    return lambda t, p: getattr(keras.losses, fn)(t, p, **kw)


def torch_nn(cls, **kw):
    return lambda t, *x: getattr(torch.nn, cls)(**kw)(*x, t)


def torch_f(fn, **kw):
    return lambda t, *x: getattr(F, fn)(*x, t, **kw)


def optax_elementwise_mean(fn, **kw):
    """optax's elementwise losses, averaged as fastloss's "mean" does."""
    return lambda t, p: jnp.mean(getattr(optax.losses, fn)(p, t, **kw))


def triplet_torch(**kw):
    return lambda a, p, n: F.triplet_margin_loss(a, p, n, **kw)


def sklearn_metric(fn, **kw):
    return lambda t, p: getattr(sklearn.metrics, fn)(t, p, **kw)


WEIGHTS = [1.0, 2.0, 0.5, 1.5, 3.0]


def TIES(t, p):
    return t == p


def CLIPPED(t, p):
    return (p < 1e-7) | (p > 1 - 1e-7)


def _torch_ignored(fn):
    """Sparse logits with two samples labelled -100 (PyTorch's default ignore_index)."""
    def gen(dtype, edge):
        t, z = fn(dtype, edge)
        t = t.copy()
        t[[3, 5]] = -100
        return t, z
    return gen


# name -> list of (library, input generator, reference, fastloss keywords, compare keywords).
# The fastloss keywords are the row's library parameters under fastloss's names (the
# reference passes them under the library's own).  Rows of names that differ from their library on some inputs
# keep to the inputs where they agree; the difference is a test_documented_* test.
ROWS = {
    # ---- mse
    "mean_squared_error": [("keras", regression, keras_fn("mean_squared_error"), {}, {}),
                           ("sklearn", regression, sklearn_metric("mean_squared_error"), {}, {})],
    "MeanSquaredError": [("keras", regression, keras_class("MeanSquaredError"), {}, {})],
    "MSELoss": [("torch", regression, torch_nn("MSELoss"), {}, {})],
    "mse_loss": [("torch", regression, torch_f("mse_loss"), {}, {})],
    # ---- mae
    "mean_absolute_error": [("keras", regression, keras_fn("mean_absolute_error"), {},
                             {"zero_grad_at": TIES}),
                            ("sklearn", regression, sklearn_metric("mean_absolute_error"), {},
                             {})],
    "MeanAbsoluteError": [("keras", regression, keras_class("MeanAbsoluteError"), {},
                           {"zero_grad_at": TIES})],
    "L1Loss": [("torch", regression, torch_nn("L1Loss"), {}, {})],
    "l1_loss": [("torch", regression, torch_f("l1_loss"), {}, {})],
    # ---- huber
    "Huber": [("keras", regression, keras_class("Huber"), {}, {}),
              ("keras", regression, keras_class("Huber", delta=0.5), {"delta": 0.5}, {})],
    "HuberLoss": [("torch", regression, torch_nn("HuberLoss"), {}, {}),
                  ("torch", regression, torch_nn("HuberLoss", delta=2.0), {"delta": 2.0}, {})],
    "huber_loss": [("torch", regression, torch_f("huber_loss"), {}, {}),
                   ("optax", regression, optax_elementwise_mean("huber_loss"), {}, {}),
                   ("optax", regression, optax_elementwise_mean("huber_loss", delta=0.5),
                    {"delta": 0.5}, {})],
    # ---- binary cross-entropy
    "binary_crossentropy": [
        ("keras", binary_probs, keras_fn("binary_crossentropy"), {}, {}),
        ("keras", binary_logits, keras_fn("binary_crossentropy", from_logits=True),
         {"from_logits": True}, {}),
        ("keras", binary_probs, keras_fn("binary_crossentropy", label_smoothing=0.2),
         {"label_smoothing": 0.2}, {})],
    "BinaryCrossentropy": [
        ("keras", binary_probs, keras_class("BinaryCrossentropy"), {}, {}),
        ("keras", binary_logits, keras_class("BinaryCrossentropy", from_logits=True),
         {"from_logits": True}, {})],
    # PyTorch clamps each log at -100 and its gradient's denominator at 1e-12 instead of
    # clipping p: the rows keep p in [0.02, 0.98] (test_documented_bceloss_at_0_and_1).
    "BCELoss": [("torch", bce_inside, torch_nn("BCELoss"), {}, {})],
    "BCEWithLogitsLoss": [("torch", binary_logits, torch_nn("BCEWithLogitsLoss"), {}, {})],
    "binary_cross_entropy_with_logits": [
        ("torch", binary_logits, torch_f("binary_cross_entropy_with_logits"), {}, {})],
    "sigmoid_binary_cross_entropy": [
        ("optax", binary_logits, optax_elementwise_mean("sigmoid_binary_cross_entropy"), {},
         {})],
    # ---- categorical cross-entropy (Keras divides probability rows by their sum: equal
    #      values on rows summing to 1, gradients differing by a constant per row; so the
    #      probability rows compare values only - test_documented_keras_row_normalisation)
    "categorical_crossentropy": [
        ("keras", onehot_probs, keras_fn("categorical_crossentropy"), {}, {"grad": False}),
        ("keras", onehot_logits, keras_fn("categorical_crossentropy", from_logits=True),
         {"from_logits": True}, {}),
        ("keras", onehot_logits, keras_fn("categorical_crossentropy", from_logits=True,
                                          label_smoothing=0.1),
         {"from_logits": True, "label_smoothing": 0.1}, {})],
    "CategoricalCrossentropy": [
        ("keras", onehot_probs, keras_class("CategoricalCrossentropy"), {}, {"grad": False}),
        ("keras", onehot_logits, keras_class("CategoricalCrossentropy", from_logits=True),
         {"from_logits": True}, {})],
    "softmax_cross_entropy": [
        ("optax", onehot_logits, lambda t, z: optax.losses.softmax_cross_entropy(z, t), {},
         {})],
    # ---- sparse categorical cross-entropy
    "sparse_categorical_crossentropy": [
        ("keras", sparse_probs, keras_fn("sparse_categorical_crossentropy"), {},
         {"grad": False}),
        ("keras", sparse_logits, keras_fn("sparse_categorical_crossentropy", from_logits=True),
         {"from_logits": True}, {})],
    "SparseCategoricalCrossentropy": [
        ("keras", sparse_probs, keras_class("SparseCategoricalCrossentropy"), {},
         {"grad": False}),
        ("keras", sparse_logits, keras_class("SparseCategoricalCrossentropy", from_logits=True),
         {"from_logits": True}, {})],
    "CrossEntropyLoss": [
        ("torch", _torch_ignored(sparse_logits), torch_nn("CrossEntropyLoss"), {}, {}),
        ("torch", sparse_logits, torch_nn("CrossEntropyLoss", label_smoothing=0.1),
         {"label_smoothing": 0.1}, {}),
        ("torch", _torch_ignored(sparse_logits),
         lambda t, z: torch.nn.CrossEntropyLoss(weight=torch.tensor(WEIGHTS, dtype=z.dtype))(
             z, t), {"class_weight": WEIGHTS}, {})],
    "cross_entropy": [("torch", _torch_ignored(sparse_logits), torch_f("cross_entropy"), {},
                       {})],
    "softmax_cross_entropy_with_integer_labels": [
        ("optax", sparse_logits,
         lambda t, z: optax.losses.softmax_cross_entropy_with_integer_labels(z, t), {}, {})],
    # ---- metric learning
    "TripletMarginLoss": [
        ("torch", triplets, lambda a, p, n: torch.nn.TripletMarginLoss()(a, p, n), {},
         {"n_fixed": 0}),
        ("torch", triplets, lambda a, p, n: torch.nn.TripletMarginLoss(
            margin=0.5, p=1.0, swap=True)(a, p, n), {"margin": 0.5, "p": 1.0, "swap": True},
         {"n_fixed": 0})],
    "triplet_margin_loss": [
        ("torch", triplets, triplet_torch(), {}, {"n_fixed": 0}),
        ("torch", triplets, triplet_torch(margin=2.0, p=3.0), {"margin": 2.0, "p": 3.0},
         {"n_fixed": 0})],
    "CosineEmbeddingLoss": [
        ("torch", cosine_pairs, torch_nn("CosineEmbeddingLoss"), {}, {}),
        ("torch", cosine_pairs, torch_nn("CosineEmbeddingLoss", margin=0.3), {"margin": 0.3},
         {})],
    "cosine_embedding_loss": [("torch", cosine_pairs, torch_f("cosine_embedding_loss"), {},
                               {})],
    # ---- segmentation: optax's dice_loss on one class channel (a sigmoid of the logits,
    #      smooth 1 on intersection and half-sums); more channels: test_documented_*
    "dice_loss": [("optax", masks_logits, lambda t, z: optax.losses.dice_loss(z, t), {}, {})],
    # ---- smooth L1
    "SmoothL1Loss": [("torch", regression, torch_nn("SmoothL1Loss"), {}, {}),
                     ("torch", regression, torch_nn("SmoothL1Loss", beta=0.5), {"beta": 0.5},
                      {})],
    "smooth_l1_loss": [("torch", regression, torch_f("smooth_l1_loss"), {}, {})],
    # ---- log-cosh (Keras' x + softplus(-2x) - log 2 loses digits near 0: absolute tolerance)
    "LogCosh": [("keras", regression, keras_class("LogCosh"), {}, {})],
    # ---- quantile
    "mean_pinball_loss": [
        ("sklearn", quantile_case, sklearn_metric("mean_pinball_loss"), {}, {}),
        ("sklearn", quantile_case, sklearn_metric("mean_pinball_loss", alpha=0.9),
         {"quantile": 0.9}, {})],
    # ---- poisson
    "PoissonNLLLoss": [
        ("torch", counts_logrates, torch_nn("PoissonNLLLoss"), {}, {}),
        ("torch", counts_logrates, torch_nn("PoissonNLLLoss", full=True), {"full": True}, {}),
        ("torch", counts_rates, torch_nn("PoissonNLLLoss", log_input=False),
         {"log_input": False}, {})],
    "poisson_nll_loss": [("torch", counts_logrates, torch_f("poisson_nll_loss"), {}, {})],
    "Poisson": [("keras", counts_rates, keras_class("Poisson"), {}, {})],
    # ---- msle
    "mean_squared_log_error": [
        ("sklearn", positive, sklearn_metric("mean_squared_log_error"), {}, {})],
    # Keras clamps both arguments at 1e-7: the rows keep values >= 0.01
    # (test_documented_keras_msle_clamp).
    "mean_squared_logarithmic_error": [
        ("keras", positive_inside, keras_fn("mean_squared_logarithmic_error"), {}, {})],
    "MeanSquaredLogarithmicError": [
        ("keras", positive_inside, keras_class("MeanSquaredLogarithmicError"), {}, {})],
    # ---- mape
    "mean_absolute_percentage_error": [
        ("sklearn", positive, sklearn_metric("mean_absolute_percentage_error"), {}, {})],
    "MeanAbsolutePercentageError": [
        ("keras", positive, keras_class("MeanAbsolutePercentageError"), {}, {"zero_grad_at": TIES})],
    # ---- binary focal (Keras applies the sigmoid, then clips at 1e-7: logits rows keep
    #      |z| <= 10 - test_documented_keras_focal_from_logits)
    "BinaryFocalCrossentropy": [
        ("keras", binary_probs, keras_class("BinaryFocalCrossentropy"), {},
         {"zero_grad_at": CLIPPED}),
        ("keras", moderate_logits, keras_class("BinaryFocalCrossentropy", from_logits=True,
                                               gamma=1.5), {"from_logits": True, "gamma": 1.5},
         {})],
    "binary_focal_crossentropy": [
        ("keras", binary_probs, keras_fn("binary_focal_crossentropy"), {},
         {"zero_grad_at": CLIPPED}),
        ("keras", binary_probs, keras_fn("binary_focal_crossentropy",
                                         apply_class_balancing=True, alpha=0.3),
         {"alpha": 0.3}, {"zero_grad_at": CLIPPED})],
    "sigmoid_focal_loss": [
        ("optax", binary_logits, optax_elementwise_mean("sigmoid_focal_loss"), {}, {}),
        ("optax", binary_logits, optax_elementwise_mean("sigmoid_focal_loss", alpha=0.25,
                                                        gamma=3.0),
         {"alpha": 0.25, "gamma": 3.0}, {})],
    # ---- categorical focal (Keras renormalises rows as its cross-entropy does)
    "CategoricalFocalCrossentropy": [
        ("keras", onehot_probs, keras_class("CategoricalFocalCrossentropy"), {},
         {"grad": False})],
    "categorical_focal_crossentropy": [
        ("keras", onehot_probs, keras_fn("categorical_focal_crossentropy"), {},
         {"grad": False}),
        ("keras", onehot_probs, keras_fn("categorical_focal_crossentropy", alpha=0.5,
                                         gamma=1.0),
         {"alpha": 0.5, "gamma": 1.0}, {"grad": False})],
    # ---- hinge (labels +-1 or 0/1 tensors; mixed: test_documented_hinge_labels)
    "Hinge": [("keras", signs, keras_class("Hinge"), {}, {}),
              ("keras", lambda d, e: signs(d, e, zero_one=True), keras_class("Hinge"), {}, {})],
    "hinge_loss": [
        ("optax", signs, optax_elementwise_mean("hinge_loss"), {}, {}),
        ("sklearn", lambda d, e: tuple(a[:, 0] for a in signs(d, e)),
         sklearn_metric("hinge_loss"), {}, {}),
        ("sklearn", lambda d, e: tuple(a[:, 0] for a in signs(d, e, zero_one=True)),
         sklearn_metric("hinge_loss"), {}, {})],
    "SquaredHinge": [
        ("keras", signs, keras_class("SquaredHinge"), {}, {}),
        ("keras", lambda d, e: signs(d, e, zero_one=True), keras_class("SquaredHinge"), {},
         {})],
    # ---- categorical hinge (one-hot rows with a non-negative non-target score;
    #      otherwise test_documented_categorical_hinge)
    "CategoricalHinge": [
        ("keras", onehot_rows, keras_class("CategoricalHinge"), {}, {})],
    # ---- KL divergence (Keras clips targets at 1e-7: rows of strictly positive targets)
    "KLDivergence": [("keras", distributions, keras_class("KLDivergence"), {}, {})],
    "kullback_leibler_divergence": [
        ("keras", distributions, keras_fn("kl_divergence"), {}, {})],
    "KLDivLoss": [
        ("torch", log_distributions, torch_nn("KLDivLoss", reduction="batchmean"), {}, {})],
    "kl_div": [("torch", log_distributions, torch_f("kl_div", reduction="batchmean"), {}, {})],
    "kl_divergence_with_log_targets": [
        ("optax", lambda d, e: tuple(np.log(a) for a in distributions(d, False)),
         lambda t, p: optax.losses.kl_divergence_with_log_targets(p, t), {}, {})],
}

# Names whose library computes other maths on every input: the docstring says how, and the
# named test asserts exactly that.
DOCUMENTED_ONLY = {
    "Dice": "test_documented_keras_dice_and_tversky",
    "Tversky": "test_documented_keras_dice_and_tversky",
}

# Names of no reference library (Keras, PyTorch, optax, scikit-learn): they mean the
# canonical loss with its defaults.
GENERIC = {
    "bce": "abbreviation of binary_cross_entropy",
    "cce": "abbreviation of categorical_cross_entropy",
    "scce": "abbreviation of sparse_categorical_cross_entropy",
    "contrastive_loss": "the loss's name; tensorflow_addons' function of that name takes "
                        "distances, and is no reference",
    "triplet_margin": "the loss's name without a library's suffix",
    "triplet_loss": "the textbook name of the triplet margin loss",
    "soft_dice": "the textbook name of the soft Dice loss",
    "jaccard": "the textbook name of the IoU",
    "soft_jaccard": "the textbook name of the soft IoU",
    "iou_loss": "the loss's name",
    "jaccard_loss": "the loss's name under the IoU's other name",
    "tversky_loss": "the loss's name",
    "logcosh": "tf.keras 2's spelling of log_cosh, with the same maths (checked: LogCosh)",
    "pinball": "the textbook name of the quantile loss",
    "pinball_loss": "the textbook name of the quantile loss",
    "quantile_loss": "the loss's name",
    "binary_focal_loss": "the loss's name",
    "kld": "abbreviation of kl_divergence (tf.keras 2's kld is not in Keras 3)",
    "categorical_focal_loss": "the loss's name",
    # Class-style spellings that no reference library defines.  Kept only because other
    # test modules pin them; segmentation_models_pytorch's DiceLoss / JaccardLoss /
    # TverskyLoss default to logits and MONAI's have other smoothing, so these are
    # candidates for removal.
    "ContrastiveLoss": "class-style spelling; no reference library has it",
    "DiceLoss": "class-style spelling; no reference library has it",
    "IoULoss": "class-style spelling; no reference library has it",
    "JaccardLoss": "class-style spelling; no reference library has it",
    "TverskyLoss": "class-style spelling; no reference library has it",
}

# Canonical names that are also a reference library's name: fastloss's own (the README's
# table and each docstring say what they mean); the library's maths is an alias.
CANONICAL_COLLISIONS = {
    "huber": "keras.losses.huber: the same maths (Huber)",
    "hinge": "keras.losses.hinge: the same maths on +-1 or 0/1 labels (Hinge)",
    "squared_hinge": "keras.losses.squared_hinge: as SquaredHinge",
    "categorical_hinge": "keras.losses.categorical_hinge: as CategoricalHinge",
    "log_cosh": "keras.losses.log_cosh, optax.losses.log_cosh: the same maths (LogCosh)",
    "poisson": "keras.losses.poisson is the alias Poisson (rates, eps 1e-7); poisson has "
               "PyTorch's defaults (log-rates)",
    "kl_divergence": "keras.losses.kl_divergence is KLDivergence; optax's takes "
                     "log-predictions (kl_divergence_with_log_targets is optax's)",
    "binary_cross_entropy": "torch.nn.functional.binary_cross_entropy: as BCELoss",
    "dice": "keras.losses.dice pools the batch (test_documented_keras_dice_and_tversky)",
    "tversky": "keras.losses.tversky pools the batch (test_documented_keras_dice_and_tversky)",
}


def registry_aliases():
    names = {a for spec in R.SPECS if spec.name in R.BUILTIN for a in spec.aliases}
    return names | set(R.ALIASES_WITH_PARAMS)


# ---- completeness -----------------------------------------------------------------------------

FOLDED = {"mse_loss"}      # library names that resolve only through case/underscore folding


def test_every_alias_is_tested():
    tested = set(ROWS) | set(DOCUMENTED_ONLY) | set(GENERIC)
    assert registry_aliases() == tested - FOLDED, (
        "every alias needs a row in ROWS (its library), DOCUMENTED_ONLY or GENERIC (its "
        f"reason): untested {sorted(registry_aliases() - tested)}, "
        f"not an alias {sorted(tested - registry_aliases() - FOLDED)}")
    assert all(ROWS.values())
    assert not (set(ROWS) & set(GENERIC) or set(ROWS) & set(DOCUMENTED_ONLY)
                or set(GENERIC) & set(DOCUMENTED_ONLY))
    for name in FOLDED:
        assert name not in R._LOOKUP and fl.get(name)
    for test in DOCUMENTED_ONLY.values():
        assert callable(globals()[test])


def _library_names():
    return {
        "keras.losses": [n for n in dir(keras.losses) if not n.startswith("_")],
        "torch.nn": [n for n in dir(torch.nn) if n.endswith("Loss")],
        "torch.nn.functional": [n for n in dir(F) if not n.startswith("_")],
        "optax.losses": [n for n in dir(optax.losses) if not n.startswith("_")],
        "sklearn.metrics": [n for n in dir(sklearn.metrics) if not n.startswith("_")],
    }


def test_every_library_name_that_resolves_is_tested():
    """fl.get folds case and underscores, so a library's name can resolve without being an
    alias (torch's mse_loss through MSELoss): every one that does must have a row."""
    untested = []
    for lib, names in _library_names().items():
        for name in names:
            try:
                fl.get(name)
            except ValueError:
                continue
            if name not in ROWS and name not in DOCUMENTED_ONLY \
                    and name not in CANONICAL_COLLISIONS:
                untested.append(f"{lib}.{name}")
    assert not untested, f"library names that fl.get resolves without a test: {untested}"


@pytest.mark.parametrize("name", sorted(GENERIC))
def test_generic_names_mean_the_canonical_loss(name):
    loss = fl.get(name)
    canonical = getattr(fl, loss.name)
    assert name not in R.ALIASES_WITH_PARAMS and loss.params == canonical.params
    assert loss.spec is canonical.spec


# ---- the library rows -------------------------------------------------------------------------

def _row_ids():
    for name, rows in ROWS.items():
        for i, (lib, *_rest) in enumerate(rows):
            for dtype in DTYPES:
                for edge in (False, True):
                    yield pytest.param(name, i, dtype, edge,
                                       id=f"{name}-{lib}{i}-{np.dtype(dtype).name}"
                                          f"{'-edge' if edge else ''}")


@pytest.mark.parametrize("name, i, dtype, edge", list(_row_ids()))
def test_alias_matches_its_library(name, i, dtype, edge):
    lib, gen, fn, fl_kw, opts = ROWS[name][i]
    args = gen(dtype, edge)
    compare(name, lib, fn, args, fl_kw=fl_kw, **opts)


# Canonical names that are also a library's name and mean the same maths there.
COLLISION_ROWS = {
    "huber": [("keras", regression, keras_fn("huber"), {}, {})],
    "hinge": [("keras", signs, keras_fn("hinge"), {}, {})],
    "squared_hinge": [("keras", signs, keras_fn("squared_hinge"), {}, {})],
    "log_cosh": [("keras", regression, keras_fn("log_cosh"), {}, {}),
                 ("optax", regression, optax_elementwise_mean("log_cosh"), {}, {})],
    "binary_cross_entropy": [("torch", bce_inside, torch_f("binary_cross_entropy"), {}, {})],
}


@pytest.mark.parametrize("name, i, dtype", [
    pytest.param(name, i, dtype, id=f"{name}-{rows[i][0]}{i}-{np.dtype(dtype).name}")
    for name, rows in COLLISION_ROWS.items() for i in range(len(rows)) for dtype in DTYPES])
def test_canonical_name_matches_the_library_of_that_name(name, i, dtype):
    assert name in CANONICAL_COLLISIONS
    lib, gen, fn, fl_kw, opts = COLLISION_ROWS[name][i]
    for edge in (False, True):
        compare(name, lib, fn, gen(dtype, edge), fl_kw=fl_kw, **opts)


# ---- documented differences -------------------------------------------------------------------

def _keras_grad(fn, t, p):
    t, p = jnp.asarray(t), jnp.asarray(p)
    return np.asarray(fn(t, p)), np.asarray(jax.grad(lambda q: jnp.sum(fn(t, q)))(p))


@pytest.mark.parametrize("dtype", DTYPES)
def test_documented_bceloss_at_0_and_1(dtype):
    """PyTorch clamps each log at -100 and its gradient's denominator at 1e-12."""
    eps = float(np.finfo(dtype).eps)
    t = np.array([1.0, 0.0, 1.0, 0.0, 1.0], dtype)
    p = np.array([0.0, 1.0, 1e-50, 0.5, 1e-13], dtype)
    pt = torch.tensor(p, requires_grad=True)
    ref = F.binary_cross_entropy(pt, torch.tensor(t), reduction="none")
    ref.sum().backward()
    for name in ("BCELoss", "binary_cross_entropy"):
        value, grad = fl.get(name).value_and_grad(t[:, None], p[:, None], reduction="none")
        clipped = p < eps
        np.testing.assert_allclose(ref.detach().numpy()[:3], 100.0)
        np.testing.assert_allclose(value[clipped], -np.log(eps), rtol=1e-6)
        assert np.all(grad[clipped, 0] == 0)
        np.testing.assert_allclose(np.abs(pt.grad.numpy()[clipped]), 1e12, rtol=1e-6)
        if dtype is np.float64:          # 1e-13 is inside the clip: the values agree, and
            np.testing.assert_allclose(value[4], ref.detach().numpy()[4], rtol=1e-12)
            np.testing.assert_allclose(grad[4, 0], -1e13, rtol=1e-9)   # PyTorch's stops
            np.testing.assert_allclose(pt.grad.numpy()[4], -1e12, rtol=1e-6)  # at 1e12


@pytest.mark.parametrize("dtype", DTYPES)
def test_documented_keras_row_normalisation(dtype):
    """Keras divides probability rows by their sum: equal values on rows summing to 1 (the
    rows above), gradients that differ by a constant along each row; on other rows Keras'
    value is fastloss's of y_pred / sum(y_pred)."""
    t, p = onehot_probs(dtype, False)
    labels = t.argmax(axis=-1)
    rtol = 2e-6 if dtype is np.float64 else 2e-5
    cases = [
        ("categorical_crossentropy", t, keras.losses.categorical_crossentropy),
        ("sparse_categorical_crossentropy", labels, keras.losses.sparse_categorical_crossentropy),
        ("categorical_focal_crossentropy", t, keras.losses.categorical_focal_crossentropy),
    ]
    for name, target, kfn in cases:
        loss = fl.get(name)
        value, grad = loss.value_and_grad(target, p, reduction="none")
        kvalue, kgrad = _keras_grad(kfn, target, p)
        np.testing.assert_allclose(value, kvalue, rtol=rtol)
        shift = kgrad - grad
        np.testing.assert_allclose(shift, shift[:, :1] * np.ones_like(shift), rtol=rtol,
                                   atol=rtol * np.abs(kgrad).max(), err_msg=name)
        if name != "categorical_focal_crossentropy":     # sum(t) / sum(p) = 1
            np.testing.assert_allclose(shift, 1.0, rtol=rtol, err_msg=name)
        unnormalised = p * np.linspace(0.5, 1.0, N, dtype=dtype)[:, None]
        np.testing.assert_allclose(
            loss(target, unnormalised / unnormalised.sum(axis=-1, keepdims=True),
                 reduction="none"),
            kfn(target, unnormalised), rtol=rtol, err_msg=name)
        assert not np.allclose(loss(target, unnormalised, reduction="none"),
                               kfn(target, unnormalised), rtol=1e-3)
    # From logits the Keras names are Keras' maths (the rows of ROWS), gradients included.


def test_documented_keras_focal_from_logits():
    """Keras' focal losses apply the sigmoid / softmax, then the clip at 1e-7."""
    t = np.array([[1.0, 0.0, 1.0, 0.0]])
    z = np.array([[-30.0, 30.0, 12.0, -12.0]])
    value, grad = fl.get("BinaryFocalCrossentropy", from_logits=True).value_and_grad(
        t, z, reduction="none")
    kvalue, kgrad = _keras_grad(
        lambda a, b: keras.losses.binary_focal_crossentropy(a, b, from_logits=True), t, z)
    exact = np.asarray(optax.losses.sigmoid_focal_loss(z, t)).mean(axis=-1)
    np.testing.assert_allclose(value, exact, rtol=1e-7)           # fastloss: the log domain
    assert kvalue[0] < value[0] - 6                                # Keras stops at -log(1e-7)
    np.testing.assert_allclose(kgrad[0, :2], 0.0, atol=1e-12)      # with a zero gradient
    np.testing.assert_allclose(grad[0, :2], [-0.25, 0.25], rtol=1e-9)
    np.testing.assert_allclose(grad[0, 2:], kgrad[0, 2:], rtol=1e-6)    # |z| <= 16: agree
    # categorical: the target class's softmax below 1e-7 is clipped by Keras
    onehot = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    logits = np.array([[-20.0, 0.0, 0.0], [0.0, 2.0, -1.0]])
    value = fl.get("CategoricalFocalCrossentropy", from_logits=True)(onehot, logits,
                                                                     reduction="none")
    kvalue = np.asarray(keras.losses.categorical_focal_crossentropy(onehot, logits,
                                                                    from_logits=True))
    np.testing.assert_allclose(value[1], kvalue[1], rtol=1e-6)
    np.testing.assert_allclose(kvalue[0], 0.25 * -np.log(1e-7), rtol=1e-6)
    np.testing.assert_allclose(value[0], 0.25 * (20 + np.log(2 + np.exp(-20))), rtol=1e-7)


def test_documented_keras_msle_clamp():
    t = np.array([[0.0, 2.0, 1e-9, 3.0], [1.0, 0.5, -0.5, 0.0]])
    p = np.array([[1.0, 0.0, 2.0, -0.5], [1.0, 1e-8, 0.25, 0.0]])
    for name in ("MeanSquaredLogarithmicError", "mean_squared_logarithmic_error"):
        value, grad = fl.get(name).value_and_grad(t, p, reduction="none")
        kvalue, kgrad = _keras_grad(keras.losses.mean_squared_logarithmic_error, t, p)
        np.testing.assert_allclose(
            kvalue, fl.get(name)(np.maximum(t, 1e-7), np.maximum(p, 1e-7), reduction="none"),
            rtol=1e-6)
        assert abs(kvalue[0] - value[0]) > 1e-3                     # -0.5 counts as 1e-7
        below = p < 1e-7
        assert np.all(kgrad[below] == 0) and np.all(grad[below & (t > p)] < 0)
        inside = (p >= 1e-7) & (t >= 1e-7)
        np.testing.assert_allclose(grad[inside], kgrad[inside], rtol=1e-6)


@pytest.mark.parametrize("name", ["KLDivergence", "kullback_leibler_divergence"])
def test_documented_keras_kl_target_clip(name):
    t, p = distributions(np.float64, False)
    t[0] = [0.5, 0.5, 0.0, 0.0, 0.0]
    t[1] = [1.0, 0.0, 0.0, 0.0, 0.0]
    kvalue = np.asarray(keras.losses.kl_divergence(t, p))
    value = fl.get(name)(t, p, reduction="none")
    np.testing.assert_allclose(kvalue, fl.get(name)(np.clip(t, 1e-7, 1), p, reduction="none"),
                               rtol=1e-6)
    np.testing.assert_allclose(kvalue[2:], value[2:], rtol=1e-6)   # targets >= 1e-7: agree
    assert np.all(np.abs(kvalue[:2] - value[:2]) > 1e-7)


def test_documented_categorical_hinge():
    """Keras: max(0, 1 + max_k (1 - t_k) z_k - sum_k t_k z_k)."""
    t = np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.3, 0.7, 0.0]])
    z = np.array([[0.3, 0.6, -0.2], [-0.5, 0.2, -0.1], [0.5, 0.2, -0.1], [0.1, 0.9, 0.4]])
    keras_formula = np.maximum(0, 1 + np.max((1 - t) * z, axis=-1) - np.sum(t * z, axis=-1))
    kvalue = np.asarray(keras.losses.categorical_hinge(t, z))
    np.testing.assert_allclose(kvalue, keras_formula, rtol=1e-6)
    for name in ("CategoricalHinge", "categorical_hinge"):
        value = fl.get(name)(t, z, reduction="none")
        assert value[0] == 0 and kvalue[0] == pytest.approx(1.6)     # all-zero row
        assert value[1] == pytest.approx(0.7) and kvalue[1] == pytest.approx(0.8)
        assert value[2] == pytest.approx(kvalue[2])                   # a score >= 0: agree
        assert value[3] != pytest.approx(kvalue[3])                   # a soft row


def test_documented_hinge_labels():
    z = np.array([[0.5, -0.5, 2.0, 0.3]])
    mixed = np.array([[-1.0, 0.0, 1.0, 1.0]])
    value = fl.get("Hinge")(mixed, z, reduction="none")
    np.testing.assert_allclose(value, np.mean([1.5, 0.5, 0.0, 0.7]))    # 0 read as -1
    np.testing.assert_allclose(np.asarray(keras.losses.hinge(mixed, z)),
                               np.mean([1.5, 1.0, 0.0, 0.7]), rtol=1e-6)   # Keras keeps 0
    zero_one = np.array([[0.0, 0.0, 1.0, 1.0]])
    value = fl.get("hinge_loss")(zero_one, z)
    assert value == pytest.approx(sklearn.metrics.hinge_loss(zero_one[0], z[0]))
    assert value == pytest.approx(np.mean([1.5, 0.5, 0.0, 0.7]))
    assert float(jnp.mean(optax.losses.hinge_loss(z, zero_one))) == pytest.approx(
        np.mean([1.0, 1.0, 0.0, 0.7]))                                   # optax keeps 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_documented_keras_dice_and_tversky(dtype):
    """Keras' Dice / Tversky: no smooth (1e-7 in the denominator), the batch pooled by
    default; Keras up to 3.15 swaps Tversky's alpha and beta."""
    rng = _rng(dtype, False)
    t = (rng.random((N, 4, 3)) < 0.4).astype(dtype)
    p = rng.uniform(0, 1, size=(N, 4, 3)).astype(dtype)
    tol = 1e-6 if dtype is np.float64 else 1e-5
    axes = (1, 2)
    swapped = KERAS_VERSION <= (3, 15)      # keras-team/keras#23333
    for kname, fname in (("Dice", "Dice"), ("dice", "dice")):
        k = (getattr(keras.losses, kname)(dtype=np.dtype(dtype).name) if kname == "Dice"
             else keras.losses.dice)
        pooled = float(np.asarray(k(t, p)))
        assert pooled == pytest.approx(
            fl.get(fname, smooth=0.0)(t.reshape(1, -1), p.reshape(1, -1)), abs=tol)
        assert pooled != pytest.approx(fl.get(fname)(t, p), abs=1e-3)
    per_sample = np.asarray(keras.losses.dice(t, p, axis=axes))
    np.testing.assert_allclose(per_sample, fl.dice(t, p, smooth=0.0, reduction="none"),
                               atol=tol)
    empty = np.zeros((1, 4, 3), dtype)
    assert float(np.asarray(keras.losses.dice(empty, empty, axis=axes))[0]) == 1.0
    assert np.isnan(fl.get("Dice", smooth=0.0)(empty, empty))
    for alpha, beta in ((0.5, 0.5), (0.7, 0.3)):
        a, b = (beta, alpha) if swapped else (alpha, beta)
        kt = keras.losses.Tversky(alpha=alpha, beta=beta, dtype=np.dtype(dtype).name)
        assert float(np.asarray(kt(t, p))) == pytest.approx(
            fl.get("Tversky", alpha=a, beta=b, smooth=0.0)(t.reshape(1, -1), p.reshape(1, -1)),
            abs=tol)
        np.testing.assert_allclose(
            np.asarray(keras.losses.tversky(t, p, alpha=alpha, beta=beta, axis=axes)),
            fl.tversky(t, p, alpha=a, beta=b, smooth=0.0, reduction="none"), atol=tol)
    if swapped:
        assert fl.tversky(t, p, alpha=0.7, beta=0.3, smooth=0.0) != pytest.approx(
            float(np.asarray(keras.losses.tversky(t.reshape(1, -1), p.reshape(1, -1),
                                                  alpha=0.7, beta=0.3))), abs=1e-3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_documented_optax_dice_with_several_classes(dtype):
    """optax applies a softmax across several class channels, fastloss a sigmoid to each."""
    t, z = masks_logits(dtype, False, classes=3)
    ref = np.asarray(optax.losses.dice_loss(z, t))
    value = fl.get("dice_loss")(t, z, reduction="none")
    probs = _softmax(z.astype(np.float64)).astype(dtype)
    rtol = 1e-10 if dtype is np.float64 else 2e-5
    np.testing.assert_allclose(ref, fl.dice(t, probs, class_axis=-1, smooth=2.0,
                                            reduction="none"), rtol=rtol)
    assert not np.allclose(ref, value, rtol=1e-3)


def test_documented_optax_triplet_eps():
    """optax adds eps to the sum of powers, PyTorch (and fastloss) to the difference."""
    a, p, n = triplets(np.float64, False)
    ref = np.asarray(optax.losses.triplet_margin_loss(a, p, n, eps=0.0))
    np.testing.assert_allclose(fl.get("triplet_margin_loss", eps=0.0)(a, p, n, reduction="none"),
                               ref, rtol=1e-12)
    default = fl.get("triplet_margin_loss")(a, p, n, reduction="none")
    optax_default = np.asarray(optax.losses.triplet_margin_loss(a, p, n))
    assert np.max(np.abs(default - optax_default)) < 1e-4
    assert not np.allclose(default, optax_default, rtol=1e-9, atol=0)


def test_documented_mape_keras_function():
    """keras.losses.mean_absolute_percentage_error is in percent: the alias of that name is
    scikit-learn's, Keras' is MeanAbsolutePercentageError."""
    t, p = positive(np.float64, True)
    keras_fn_value = np.asarray(keras.losses.mean_absolute_percentage_error(t, p))
    np.testing.assert_allclose(
        fl.get("MeanAbsolutePercentageError")(t, p, reduction="none"), keras_fn_value,
        rtol=1e-6)
    np.testing.assert_allclose(
        fl.get("mean_absolute_percentage_error")(t, p),
        sklearn.metrics.mean_absolute_percentage_error(t, p), rtol=1e-12)


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss")
def test_documented_kldivloss_mean_is_batchmean():
    t, logp = log_distributions(np.float64, False)
    mean = torch.nn.KLDivLoss(reduction="mean")(torch.tensor(logp), torch.tensor(t)).item()
    assert fl.get("KLDivLoss")(t, logp) == pytest.approx(mean * K, rel=1e-12)


def test_documented_keras_poisson_function_is_the_alias():
    t, r = counts_rates(np.float64, True)
    np.testing.assert_allclose(fl.get("Poisson")(t, r, reduction="none"),
                               np.asarray(keras.losses.poisson(t, r)), rtol=1e-6)
    assert not np.allclose(fl.poisson(t, r, reduction="none"),
                           np.asarray(keras.losses.poisson(t, r)), rtol=1e-3)


@pytest.mark.parametrize("name", ["SparseCategoricalCrossentropy",
                                  "sparse_categorical_crossentropy"])
def test_keras_sparse_labels_with_a_trailing_axis_of_one(name):
    labels, z = sparse_logits(np.float64, False)
    ref = np.asarray(keras.losses.sparse_categorical_crossentropy(labels[:, None], z,
                                                                  from_logits=True))
    np.testing.assert_allclose(ref, np.asarray(keras.losses.sparse_categorical_crossentropy(
        labels, z, from_logits=True)), rtol=1e-12)
    np.testing.assert_allclose(
        fl.get(name, from_logits=True)(labels[:, None], z, reduction="none"), ref, rtol=1e-6)
