"""fastloss inside Keras 3: a ``keras.losses.Loss`` for ``model.compile(loss=...)``.

    import fastloss.keras as flk
    model.compile(loss=flk.get("binary_crossentropy"), optimizer="adam")

``get(name, **params)`` resolves Keras' names as Keras does ("binary_crossentropy",
"categorical_crossentropy", "sparse_categorical_crossentropy", "huber", "mse", "kld",
"poisson", "mape", ... and the class names "BinaryCrossentropy", "Huber", ...; with Keras'
epsilon 1e-7 for the probability losses), and otherwise any name ``fastloss.get`` resolves.

The loss's ``call`` computes the per-sample losses with the fused kernel through the
adapter of the active backend (``fastloss.torch`` under ``KERAS_BACKEND=torch``,
``fastloss.jax`` under ``jax``, fastloss itself under ``numpy``; TensorFlow raises), so
the backend's autograd gets the kernel's gradient.  Keras then applies ``sample_weight``,
masks and the reduction itself: Keras' semantics exactly, e.g. the default
"sum_over_batch_size" is sum(w_i l_i) / N (not divided by the sum of the weights; that is
"mean_with_sample_weight").  The loss is serialisable: ``get_config`` / ``from_config``
round-trip, and it is registered as ``fastloss>FastLoss`` for ``keras.saving``.
"""
import keras
import numpy as np

from . import _registry

__all__ = ["get", "FastLoss"]

#: Keras' lower-case names whose Keras maths is one of fastloss's Keras-class aliases (the
#: other Keras names resolve through fastloss's registry as they are).
KERAS_NAMES = {
    "kld": "KLDivergence",
    "kl_divergence": "KLDivergence",
    "poisson": "Poisson",
    "mape": "MeanAbsolutePercentageError",
    "mean_absolute_percentage_error": "MeanAbsolutePercentageError",
}


def _jsonable(params):
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in params.items()}


@keras.saving.register_keras_serializable(package="fastloss")
class FastLoss(keras.losses.Loss):
    """A fastloss loss as a Keras loss: ``FastLoss(loss, params=None, reduction=
    "sum_over_batch_size", name=None, dtype=None)``; ``loss`` is a Keras or fastloss name."""

    def __init__(self, loss="mse", params=None, reduction="sum_over_batch_size", name=None,
                 dtype=None):
        params = dict(params or {})
        canonical = KERAS_NAMES.get(loss, loss) if isinstance(loss, str) else loss
        self.fastloss = _registry.get(canonical, **params)   # ValueError for unknown names
        if self.fastloss.spec.family.n_preds != 1:
            raise ValueError(f"loss {loss!r} takes {len(self.fastloss.inputs)} arrays; a "
                             f"Keras loss takes (y_true, y_pred)")
        super().__init__(name=name or str(loss), reduction=reduction, dtype=dtype)
        self.loss_name = loss
        self.loss_params = params
        self._torch_key = None
        self._jax_fn = None

    def call(self, y_true, y_pred):
        from keras import ops
        kind = self.fastloss.spec.kind
        if kind == "sparse":
            y_true = ops.cast(y_true, "int32")
        elif len(y_true.shape) == len(y_pred.shape) - 1 and y_pred.shape[-1] == 1:
            y_true = ops.expand_dims(y_true, -1)          # (N,) targets, (N, 1) outputs
        backend = keras.backend.backend()
        if backend == "torch":
            from . import torch as flt
            if self._torch_key is None:
                self._torch_key = flt._key(self.fastloss)
            return flt._apply(self.fastloss, y_true, [y_pred], "none",
                              names=("y_pred",), key=self._torch_key)
        if backend == "jax":
            if self._jax_fn is None:
                from . import jax as flj
                self._jax_fn = flj.get(self.fastloss, reduction="none")
            return self._jax_fn(y_true, y_pred)
        if backend == "numpy":
            return self.fastloss(np.asarray(y_true), np.asarray(y_pred), reduction="none")
        raise NotImplementedError(f"fastloss.keras runs under the torch, jax and numpy "
                                  f"backends, not {backend!r}")

    def get_config(self):
        config = super().get_config()
        config.update(loss=self.loss_name, params=_jsonable(self.loss_params))
        return config


def get(name, reduction="sum_over_batch_size", **params):
    """``fastloss.keras.get(name, **params)``: a :class:`FastLoss` for ``model.compile``.
    ``reduction`` is Keras' (default "sum_over_batch_size")."""
    return FastLoss(name, params=params, reduction=reduction)
