"""What a loss *is*: a spec (maths, parameters, kernels) and the object users call.

A :class:`LossSpec` says how to run one loss on each backend; a :class:`Loss` binds a spec
to parameter values and gives it ``__call__``, ``grad`` and ``value_and_grad``.  All the
shape, dtype, weight and reduction handling lives here, once, for every loss.
"""
from typing import Callable, NamedTuple

import numpy as np

from . import _config
from . import _numpy
from . import _validation as V

SEMANTICS = """
Shapes: the last axis is the output/class axis.  ``y_pred`` of shape (N,) is N samples;
(N, K) or (B, T, K) gives one per-sample loss per leading index.  Gradients have y_pred's
shape and dtype.

Reductions (``reduction=``), with per-sample losses l_i and ``sample_weight`` w_i:
  "mean"                 sum(w_i l_i) / sum(w_i)   (no weights: the plain mean)
  "sum_over_batch_size"  sum(w_i l_i) / N          (Keras' default)
  "sum"                  sum(w_i l_i)
  "none"                 w_i l_i, shaped like the per-sample losses
Samples whose label is ``ignore_index`` count in neither numerator nor denominator (N is
the number of counted samples).  A class weight acts as the sample weight w[y_i] of each
sample, so "mean" divides by the sum of w[y_i] over counted samples (PyTorch's rule).
``grad`` is d(reduced loss)/d y_pred; for "none" it is the gradient of the sum of the
returned values.
"""


class Param(NamedTuple):
    name: str
    default: object
    check: Callable


class Plan(NamedTuple):
    """How one call runs: the kernel id and its four numeric parameters, and the NumPy twin."""
    kernel: int
    kernel_params: tuple
    numpy: Callable


class LossSpec:
    """The definition of one loss.

    kind: "elementwise" (targets shaped like y_pred; per-sample loss = mean over the last
          axis, a 1-D input being N samples of one output), "categorical" (probability-row
          targets; per-sample loss = sum over the class axis) or "sparse" (integer labels of
          shape y_pred.shape[:-1]).
    plan: params -> Plan, choosing kernel and NumPy function (e.g. by ``from_logits``).
    check: optional (y_true, y_pred, params) -> None that raises ValueError for inputs outside
          the loss's domain (e.g. MSLE's values <= -1), before anything is computed.
    """

    def __init__(self, name, kind, plan, params=(), doc="", aliases=(), check=None):
        if kind not in ("elementwise", "categorical", "sparse"):
            raise ValueError(f"unknown kind {kind!r}")
        self.name = name
        self.kind = kind
        self.plan = plan
        self.params = {p.name: p for p in params}
        self.doc = doc
        self.aliases = aliases
        self.check = check

    def resolve(self, given, base=None):
        """Validated parameters: ``base`` (or the defaults) updated by ``given``."""
        values = dict(base) if base is not None else {
            p.name: p.check(p.default) for p in self.params.values()}
        for key, value in given.items():
            param = self.params.get(key)
            if param is None:
                known = ", ".join(self.params) or "none"
                raise TypeError(f"{self.name} got an unexpected keyword argument {key!r} "
                                f"(its parameters: {known})")
            values[key] = param.check(value)
        return values


class Loss:
    """A loss function with its gradient; see the instance's docstring for the maths."""

    def __init__(self, spec, **params):
        self.spec = spec
        self.params = spec.resolve(params)
        self.__doc__ = spec.doc + "\n" + SEMANTICS

    @property
    def name(self):
        return self.spec.name

    def __repr__(self):
        shown = ", ".join(f"{k}={v!r}" for k, v in self.params.items()
                          if v is not self.spec.params[k].default
                          and not (isinstance(v, np.ndarray)))
        return f"fastloss.{self.spec.name}({shown})" if shown else f"fastloss.{self.spec.name}"

    def __call__(self, y_true, y_pred, *, reduction="mean", sample_weight=None,
                 n_threads=None, **params):
        """The loss: a float, or the per-sample losses for ``reduction="none"``."""
        return self._run(y_true, y_pred, reduction, sample_weight, n_threads, params,
                         False, None)[0]

    def grad(self, y_true, y_pred, *, reduction="mean", sample_weight=None, out=None,
             n_threads=None, **params):
        """d(reduced loss)/d y_pred, shaped like y_pred (written into ``out`` if given)."""
        return self._run(y_true, y_pred, reduction, sample_weight, n_threads, params,
                         True, out)[1]

    def value_and_grad(self, y_true, y_pred, *, reduction="mean", sample_weight=None,
                       out=None, n_threads=None, **params):
        """(loss, gradient) from one fused pass; with ``out=`` nothing else is allocated."""
        return self._run(y_true, y_pred, reduction, sample_weight, n_threads, params,
                         True, out)

    def _run(self, y_true, y_pred, reduction, sample_weight, n_threads, params, want_grad,
             out):
        spec = self.spec
        prm = spec.resolve(params, self.params) if params else self.params
        code = V.reduction_code(reduction)
        threads = V.n_threads(n_threads)
        p, result_dtype = V.prediction(y_pred)
        kind = spec.kind
        t = V.labels(y_true, p) if kind == "sparse" else V.target_like(y_true, p)
        if spec.check is not None:
            spec.check(t, p, prm)
        shape = p.shape
        if kind == "elementwise" and p.ndim == 1:
            k, per_shape = 1, shape
        else:
            k, per_shape = shape[-1], shape[:-1]

        sw = None if sample_weight is None else V.sample_weight(sample_weight, per_shape)
        cw = prm.get("class_weight")
        if cw is not None:
            if cw.shape[0] != k:
                raise ValueError(f"class_weight has {cw.shape[0]} entries but y_pred has "
                                 f"{k} classes")
            if kind == "categorical":  # acts as the sample weight sum_k w_k t_k (w[y] one-hot)
                extra = t.reshape(-1, k).astype(np.float64, copy=False) @ cw
                sw = extra if sw is None else sw.reshape(-1) * extra
                cw = None
        if "eps" in prm and prm["eps"] is None:
            prm = dict(prm, eps=float(np.finfo(p.dtype).eps))

        grad = None
        if want_grad:
            if out is not None:
                out = V.out_buffer(out, shape, result_dtype)
            grad = out if (out is not None and result_dtype == p.dtype) else \
                np.empty(shape, p.dtype)
        per = np.empty(per_shape, p.dtype) if code == 0 else None

        plan = spec.plan(prm)
        if _config.state.backend == "cython":
            value = _config._kernels.run(
                plan.kernel, t, p, k, grad, per, sw, cw, code, *plan.kernel_params,
                prm.get("ignore_index"), threads)
        else:
            result = plan.numpy(t.reshape(-1) if kind == "sparse" else t.reshape(-1, k),
                                p.reshape(-1, k), prm)
            value, grad2 = _numpy.reduce(result, None if sw is None else sw.reshape(-1),
                                         code)
            if want_grad:
                grad[...] = grad2.reshape(shape)
            if code == 0:
                per[...] = value.reshape(per_shape)

        if code == 0:
            value = per if per.dtype == result_dtype else per.astype(result_dtype)
        if want_grad and grad.dtype != result_dtype:
            if out is not None:
                out[...] = grad
                grad = out
            else:
                grad = grad.astype(result_dtype)
        return value, grad
