"""fastloss.keras: a keras.losses.Loss on the fused kernel, under the torch and jax backends.

In this process Keras runs on JAX (as in tests/test_aliases.py): Keras' names resolve to
Keras' maths, values with sample weights and gradients equal Keras' own, and the loss
round-trips through get_config / Keras serialisation.  Keras picks its backend at import,
so training runs in one short subprocess per backend: a small model on the bundled
breast-cancer data follows Keras' own loss curve to 1e-4 per epoch.  Keras, JAX and PyTorch
are in the ``test`` extra: this module is never skipped.
"""
import json
import os
import subprocess
import sys

os.environ["KERAS_BACKEND"] = "jax"     # before keras is imported; TensorFlow is not needed

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402,F401  (the torch backend below needs it)

import fastloss.keras as flk  # noqa: E402

assert keras.backend.backend() == "jax"


def _probs(rng, n, k):
    e = np.exp(rng.normal(size=(n, k)))
    return e / e.sum(-1, keepdims=True)


def _inputs(name, rng):
    n = 8
    if name in ("binary_crossentropy", "binary_focal_crossentropy"):
        return (rng.random((n, 3)) < 0.5).astype("float32"), \
            rng.uniform(0.02, 0.98, (n, 3)).astype("float32")
    if name in ("categorical_crossentropy", "categorical_focal_crossentropy", "kld"):
        return np.eye(5, dtype="float32")[rng.integers(0, 5, n)] if name != "kld" else \
            _probs(rng, n, 5).astype("float32"), _probs(rng, n, 5).astype("float32")
    if name == "sparse_categorical_crossentropy":
        return rng.integers(0, 5, (n, 1)).astype("float32"), _probs(rng, n, 5).astype("float32")
    if name == "poisson":
        return rng.poisson(2.0, (n, 3)).astype("float32"), \
            rng.uniform(0.2, 4.0, (n, 3)).astype("float32")
    if name in ("hinge", "squared_hinge"):
        return np.where(rng.random((n, 3)) < 0.5, 1.0, -1.0).astype("float32"), \
            rng.normal(size=(n, 3)).astype("float32")
    if name == "categorical_hinge":
        return np.eye(5, dtype="float32")[rng.integers(0, 5, n)], \
            rng.normal(size=(n, 5)).astype("float32")
    if name == "mape":
        return rng.uniform(0.5, 2.0, (n, 3)).astype("float32"), \
            rng.normal(size=(n, 3)).astype("float32")
    return rng.normal(size=(n, 3)).astype("float32"), rng.normal(size=(n, 3)).astype("float32")


KERAS_NAMES = ["binary_crossentropy", "categorical_crossentropy",
               "sparse_categorical_crossentropy", "huber", "mse", "mae", "log_cosh", "kld",
               "poisson", "hinge", "squared_hinge", "categorical_hinge", "mape",
               "binary_focal_crossentropy", "categorical_focal_crossentropy"]


# Keras divides probability rows by their sum in its cross-entropies: on rows that sum to 1
# the values agree and Keras' gradient is fastloss's minus its per-row projection on p
# (documented in the README's loss section and asserted in tests/test_aliases.py).
ROW_NORMALISED = {"categorical_crossentropy", "sparse_categorical_crossentropy",
                  "categorical_focal_crossentropy"}


class KerasReference(keras.losses.Loss):
    """Keras' own loss function under Keras' own sample-weight and reduction code."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred)


@pytest.mark.parametrize("name", KERAS_NAMES)
def test_keras_names_mean_keras_maths(name):
    y, p = _inputs(name, np.random.default_rng(0))
    w = np.linspace(0.0, 2.0, len(p)).astype("float32")
    ours = flk.get(name)
    theirs = KerasReference(keras.losses.get(name))
    np.testing.assert_allclose(flk.get(name, reduction="none")(y, p),
                               keras.losses.get(name)(y, p), rtol=2e-5, atol=1e-6)
    for weight in (None, w):
        value, grad = jax.value_and_grad(lambda q: ours(y, q, sample_weight=weight))(p)
        ref_value, ref_grad = jax.value_and_grad(lambda q: theirs(y, q, sample_weight=weight))(p)
        np.testing.assert_allclose(value, ref_value, rtol=2e-5, atol=1e-6)
        if name in ROW_NORMALISED:
            grad = grad - np.sum(grad * p, axis=-1, keepdims=True)
        np.testing.assert_allclose(grad, ref_grad, rtol=2e-4, atol=1e-6)


def test_serialisation_round_trip():
    loss = flk.get("huber", delta=2.0, reduction="sum")
    config = loss.get_config()
    assert config["loss"] == "huber" and config["params"] == {"delta": 2.0}
    again = flk.FastLoss.from_config(json.loads(json.dumps(config)))
    assert again.fastloss.params["delta"] == 2.0 and again.reduction == "sum"
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, flk.FastLoss) and restored.get_config() == config
    y, p = _inputs("huber", np.random.default_rng(1))
    np.testing.assert_allclose(restored(y, p), loss(y, p))
    with pytest.raises(ValueError, match="unknown loss"):
        flk.get("no_such_loss")
    with pytest.raises(ValueError, match="takes 3 arrays"):
        flk.get("triplet")


TRAIN = r"""
import json, sys
import numpy as np
import keras
from sklearn.datasets import load_breast_cancer
import fastloss.keras as flk

assert keras.backend.backend() == sys.argv[1]
X, y = load_breast_cancer(return_X_y=True)
X = ((X - X.mean(0)) / X.std(0)).astype("float32")
y = y.astype("float32")
w = np.where(y > 0, 1.0, 2.5).astype("float32")

def curve(loss, sample_weight=None):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((30,)), keras.layers.Dense(8, activation="tanh"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(loss=loss, optimizer=keras.optimizers.SGD(0.05))
    history = model.fit(X, y, sample_weight=sample_weight, batch_size=64, epochs=4,
                        shuffle=False, verbose=0)
    return history.history["loss"]

print(json.dumps({
    "ours": curve(flk.get("binary_crossentropy")),
    "keras": curve("binary_crossentropy"),
    "ours_weighted": curve(flk.get("binary_crossentropy"), w),
    "keras_weighted": curve("binary_crossentropy", w),
}))
"""


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_training_follows_keras_loss_curve(backend):
    # one OpenMP thread (torch's and fastloss's runtimes alike): on a shared two-core runner
    # their thread teams stall each other; fastloss's numbers do not depend on it
    env = dict(os.environ, KERAS_BACKEND=backend, OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-c", TRAIN, backend], env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    curves = json.loads(run.stdout.strip().splitlines()[-1])
    for ours, theirs in (("ours", "keras"), ("ours_weighted", "keras_weighted")):
        assert len(curves[ours]) == 4
        np.testing.assert_allclose(curves[ours], curves[theirs], rtol=0, atol=1e-4)
    assert curves["keras"][-1] < 0.7 * curves["keras"][0]        # it trained
