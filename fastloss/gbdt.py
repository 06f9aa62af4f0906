"""Custom objectives and eval metrics for XGBoost and LightGBM from fastloss losses.

Gradient boosting is Newton's method in function space: each round the library asks for the
gradient and the (diagonal) second derivative of the loss with respect to its raw margin, one
pair per sample (per class for multiclass).  ``xgboost_objective("huber", delta=2.0)`` and
``lightgbm_objective("binary_focal", gamma=2.0)`` return callables computing both in one
fused pass of the fastloss kernels (``Loss.value_grad_hess``)::

    import xgboost as xgb
    from fastloss.gbdt import xgboost_objective, xgboost_metric

    booster = xgb.train({"max_depth": 3}, dtrain, 20, obj=xgboost_objective("log_cosh"),
                        custom_metric=xgboost_metric("log_cosh"), evals=[(dvalid, "valid")])

One callable serves each library's two APIs: the native one (``xgb.train(..., obj=f)``,
``lgb.train({"objective": f}, ...)``: called with the predictions and the library's dataset,
whose labels and weights it reads) and the scikit-learn wrappers (``XGBRegressor(objective=f)``,
``LGBMClassifier(objective=f)``: called with ``(y_true, y_pred[, weight])``).  This module
imports neither library.

What the callables compute
--------------------------
* The loss is differentiated with respect to the library's **raw margin**: for losses with
  ``from_logits`` it is implied (``from_logits=True`` is accepted, ``from_logits=False`` is a
  ``ValueError``).  Losses of one value per sample (elementwise: ``mse``, ``huber``,
  ``log_cosh``, ``binary_cross_entropy``, ``binary_focal``, ``quantile``, ``poisson`` ...)
  take predictions of shape (n,); ``sparse_categorical_cross_entropy`` (also called
  ``"softmax"`` here) is the multiclass objective, predictions (n, k) and labels the class
  index of each sample (a float in the dataset, checked to be an integer in [0, k)).
  ``categorical_focal`` is a multiclass objective too: the class indices are turned into
  one-hot rows once per dataset (not every round).
* Gradient and Hessian are those of the **unnormalised** loss sum_i w_i l_i (per sample,
  weights from the dataset or the ``weight`` argument), in the predictions' dtype and shape
  (XGBoost: float32; LightGBM: float64, which it converts).
* Buffers are allocated on the first round and reused: a returned array is overwritten by
  the next call.  Labels (and weights) of a dataset object are read and converted once, on its
  first round; the scikit-learn form converts the arrays it is given when their dtype differs.

Each library's conventions, followed here (in the adapter, never in the loss)
---------------------------------------------------------------------------
* Squared error is ½ (p − y)² in both libraries (gradient p − y, Hessian 1): the ``mse``
  objective is scaled by ½ so that it trains the same model as ``reg:squarederror`` /
  ``regression``.  The ``mse`` metric reports fastloss's ``mse`` (no ½).
* Softmax: both libraries use the diagonal p_k (1 − p_k) scaled by a factor: XGBoost's
  ``multi:softprob`` doubles it (2 p_k (1 − p_k)), LightGBM's ``multiclass`` multiplies it by
  k / (k − 1).  fastloss's ``.hess`` is the exact diagonal; the adapters apply the factor, to
  every multiclass objective (so that categorical focal with gamma = 0 is the built-in
  softmax objective).
* Hessian floor: XGBoost floors the logistic and softmax Hessians at 1e-16; every adapter
  here floors the Hessian at ``min_hessian`` (default 1e-16), so that a zero second derivative
  (``mae``, ``quantile``, ``hinge``) or a negative one (focal losses far from the target)
  never reaches the library (XGBoost would clip it; a zero or negative sum makes a Newton
  step meaningless).  For the piecewise-linear losses the leaf values then come from the
  libraries' L2 regularisation (XGBoost's ``lambda``, default 1; set LightGBM's
  ``lambda_l2`` > 0).
* Initial score: with a custom objective neither library estimates the starting margin
  (XGBoost ≥ 2 and LightGBM's ``boost_from_average`` do for their built-in objectives);
  pass ``base_margin`` / ``init_score`` when it matters.

Metrics
-------
``xgboost_metric(name, **params)`` / ``lightgbm_metric(name, **params)`` report the loss's
value on the raw margins, the weighted mean of the per-sample losses (``reduction="mean"``),
named ``"fastloss-<name>"`` (lower is better).  They expect raw margins, which is what the
libraries pass when the objective is a custom one.
"""
import weakref

import numpy as np

from . import _config
from . import _reduction as R
from ._registry import get as _get

_SUM = R.CODES["sum"]
_ALIASES = {"softmax": "sparse_categorical_cross_entropy",
            "multiclass": "sparse_categorical_cross_entropy"}


def _resolve(name, params):
    """(loss bound to params with from_logits implied, kind) or a clear error; kind is
    "elementwise", "sparse" (class labels) or "categorical" (one-hot rows from the labels)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a loss name (str), got {type(name).__name__}")
    template = _get(_ALIASES.get(name, name))
    params = dict(params)
    if "from_logits" in template.spec.params:
        given = params.pop("from_logits", True)
        if given is not True:
            raise ValueError(
                f"from_logits={given!r}: gradient boosting differentiates the library's raw "
                f"margin, so {template.name} is always taken from logits (pass nothing, or "
                f"from_logits=True)")
        params["from_logits"] = True
    loss = _get(template.name, **params)
    loss._check_hessian(loss.params)        # NotImplementedError naming the loss
    kind = loss.spec.kind
    if kind not in ("elementwise", "sparse") and not (
            kind == "categorical" and "from_logits" in loss.spec.params):
        raise ValueError(
            f"{loss.name} is a {kind} loss; the gradient-boosting objectives take losses of "
            f"one value per sample (elementwise) or of a class per sample (sparse_categorical_"
            f"cross_entropy, also called 'softmax', or a softmax loss of one-hot rows such as "
            f"categorical_focal)")
    return loss, kind


def _min_hessian(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"min_hessian must be a number, got {type(value).__name__}") from None
    if not (value >= 0.0 and np.isfinite(value)):
        raise ValueError(f"min_hessian must be finite and >= 0, got {value!r}")
    return value


def _is_dataset(obj):
    return hasattr(obj, "get_label") and hasattr(obj, "get_weight")


class _Adapter:
    """What the XGBoost and LightGBM objectives share: labels, buffers, the fused call."""
    library = None

    def __init__(self, name, min_hessian=1e-16, n_threads=None, **params):
        self.loss, kind = _resolve(name, params)
        self.multiclass = kind != "elementwise"
        self.onehot = kind == "categorical"
        self.name = self.loss.name
        self.min_hessian = _min_hessian(min_hessian)
        if n_threads is not None and (isinstance(n_threads, bool)
                                      or not isinstance(n_threads, int) or n_threads < 1):
            raise ValueError(f"n_threads must be None or an int >= 1, got {n_threads!r}")
        self.n_threads = n_threads
        self._dataset = None          # weak reference to the dataset whose labels are cached
        self._labels = None           # (key, labels, weights) converted for the kernels
        self._buffers = {}

    def __repr__(self):
        shown = ", ".join(f"{k}={v!r}" for k, v in self.loss.params.items()
                          if k != "from_logits" and not isinstance(v, np.ndarray))
        return f"fastloss.gbdt.{type(self).__name__}({self.name!r}{', ' if shown else ''}{shown})"

    # ---- conventions (overridden per library) ----

    def _grad_scale(self):
        """Factor on gradient and Hessian (the ½ of squared error)."""
        return 0.5 if self.name == "mse" else 1.0

    def _hess_factor(self, k):
        return 1.0

    # ---- inputs ----

    def _prepared(self, preds, n):
        """The predictions as the kernels take them, or ValueError for a shape the library
        would not produce for this objective."""
        preds = np.asarray(preds)
        if preds.dtype not in (np.float32, np.float64):
            preds = preds.astype(np.float64)
        if self.multiclass:
            if preds.ndim == 1 and preds.shape[0] == n:
                raise ValueError(
                    f"{self.name} is a multiclass objective but the {self.library} booster gives "
                    f"one margin per sample (predictions of shape {preds.shape}): it is a binary "
                    f"or single-output booster; set num_class to the number of classes")
            if preds.ndim != 2 or preds.shape[0] != n or preds.shape[1] < 2:
                raise ValueError(
                    f"{self.name}: predictions of shape {preds.shape} for {n} labels; a "
                    f"multiclass objective takes ({n}, n_classes) margins")
        else:
            if preds.ndim == 2 and preds.shape[1] == 1:
                preds = preds.reshape(-1)
            if preds.ndim != 1 or preds.shape[0] != n:
                raise ValueError(
                    f"{self.name}: predictions of shape {preds.shape} for {n} labels; this "
                    f"objective takes one margin per sample ({n},) (a multiclass booster needs "
                    f"a multiclass objective such as 'softmax')")
        if not (preds.flags.c_contiguous and preds.flags.aligned
                and preds.dtype.isnative):
            buf = self._buffer(("preds",) + preds.shape, preds.dtype.newbyteorder("="))
            np.copyto(buf, preds)
            preds = buf
        return preds

    def _convert(self, labels, weights, dtype, k):
        """Labels (and weights) as the kernels take them, checked once."""
        y = np.asarray(labels)
        if y.ndim != 1:
            y = y.reshape(-1)
        if self.multiclass:
            yf = y.astype(np.float64, copy=False)
            bad = ~((yf >= 0) & (yf < k) & (yf == np.floor(yf)))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(f"label[{i}] = {y[i].item()!r} is not a class index in [0, {k}) "
                                 f"(the booster has {k} classes)")
            y = yf.astype(np.int64)
            if self.onehot:                   # class indices -> one-hot rows, once
                rows = np.zeros((y.shape[0], k), dtype)
                rows[np.arange(y.shape[0]), y] = 1
                y = rows
        else:
            y = np.ascontiguousarray(y, dtype=dtype)
            if not np.isfinite(y).all():
                i = int(np.flatnonzero(~np.isfinite(y))[0])
                raise ValueError(f"label[{i}] = {y[i].item()!r} is not finite")
        w = None
        if weights is not None:
            w = np.ascontiguousarray(np.asarray(weights, dtype=np.float64).reshape(-1))
            if w.size == 0:
                w = None
            else:
                if w.shape[0] != y.shape[0]:
                    raise ValueError(f"weight has {w.shape[0]} values for {y.shape[0]} labels")
                bad = ~((w >= 0) & np.isfinite(w))
                if bad.any():
                    i = int(np.flatnonzero(bad)[0])
                    raise ValueError(f"weight must be finite and >= 0; weight[{i}] = {w[i].item()!r}")
        return y, w

    def _from_dataset(self, dataset, dtype, k):
        """Labels and weights of a library dataset, converted on its first round."""
        key = (dtype, k)
        ref = self._dataset() if self._dataset is not None else None
        if ref is dataset and self._labels is not None and self._labels[0] == key:
            return self._labels[1], self._labels[2]
        y, w = self._convert(dataset.get_label(), dataset.get_weight(), dtype, k)
        try:
            self._dataset = weakref.ref(dataset)
            self._labels = (key, y, w)
        except TypeError:             # not weak-referenceable: convert every round
            self._dataset = self._labels = None
        return y, w

    def _buffer(self, key, dtype):
        buf = self._buffers.get((key, dtype))
        if buf is None:
            shape = key[1:]
            buf = np.empty(shape, dtype)
            self._buffers[(key, dtype)] = buf
        return buf

    # ---- the fused pass ----

    def _grad_hess(self, preds, y, w):
        dtype = preds.dtype
        g = self._buffer(("grad",) + preds.shape, dtype)
        h = self._buffer(("hess",) + preds.shape, dtype)
        loss = self.loss
        kernels = _config._kernels
        if _config.compiled() and kernels is not None and (self.multiclass or y.dtype == dtype):
            from ._loss import _with_eps
            prm = _with_eps(loss.params, np.dtype(dtype))
            plan = loss.spec.plan(prm)
            k = preds.shape[1] if self.multiclass else 1
            kernels.run(plan.kernel, y, preds, k, g, None, w, None, _SUM, *plan.kernel_params,
                        None, self.n_threads or 0, hess=h)
        else:
            loss.value_grad_hess(y, preds, reduction="sum", sample_weight=w, out=(g, h),
                                 n_threads=self.n_threads)
        scale = self._grad_scale()
        if scale != 1.0:
            g *= dtype.type(scale)
        factor = scale * self._hess_factor(preds.shape[1] if preds.ndim == 2 else 1)
        if factor != 1.0:
            h *= dtype.type(factor)
        if self.min_hessian > 0.0:
            np.maximum(h, dtype.type(self.min_hessian), out=h)
        return g, h

    def _call(self, a, b, weight):
        if _is_dataset(b):                    # native API: (predictions, dataset)
            preds = np.asarray(a)
            n = b.num_row() if hasattr(b, "num_row") else b.num_data()
            preds = self._prepared(preds, n)
            k = preds.shape[1] if preds.ndim == 2 else 1
            y, w = self._from_dataset(b, preds.dtype, k)
        else:                                 # scikit-learn API: (y_true, y_pred[, weight])
            y_true = np.asarray(a)
            preds = self._prepared(b, y_true.reshape(-1).shape[0])
            k = preds.shape[1] if preds.ndim == 2 else 1
            y, w = self._convert(y_true, weight, preds.dtype, k)
        return self._grad_hess(preds, y, w)


class XGBoostObjective(_Adapter):
    """A custom objective for XGBoost: ``xgb.train(params, dtrain, obj=f)`` or
    ``XGBRegressor(objective=f)`` / ``XGBClassifier(objective=f)``.

    Returns ``(grad, hess)`` shaped like the predictions ((n,), or (n, k) for multiclass:
    XGBoost >= 2 passes multiclass margins as (n, k)).  See the module docstring for the
    conventions (½ on squared error, the factor 2 on the softmax Hessian, the floor)."""
    library = "XGBoost"

    def _hess_factor(self, k):
        return 2.0 if self.multiclass else 1.0

    def __call__(self, predt, dtrain, sample_weight=None):
        return self._call(predt, dtrain, sample_weight)


class LightGBMObjective(_Adapter):
    """A custom objective for LightGBM: ``lgb.train({"objective": f, ...}, train_set)`` or
    ``LGBMRegressor(objective=f)`` / ``LGBMClassifier(objective=f)``.

    Returns ``(grad, hess)`` shaped like the predictions ((n,), or (n, k) for multiclass, as
    LightGBM >= 4 passes them).  See the module docstring for the conventions (½ on squared
    error, the factor k / (k - 1) on the softmax Hessian, the floor)."""
    library = "LightGBM"

    def _hess_factor(self, k):
        return k / (k - 1.0) if self.multiclass else 1.0

    def __call__(self, preds, train_data, weight=None):
        return self._call(preds, train_data, weight)


def xgboost_objective(name, *, min_hessian=1e-16, n_threads=None, **params):
    """An XGBoost custom objective from the fastloss loss ``name`` bound to ``params``.

    >>> from fastloss.gbdt import xgboost_objective
    >>> import numpy as np
    >>> obj = xgboost_objective("huber", delta=2.0)
    >>> y, margin = np.array([1.0, 0.0]), np.array([0.0, 3.0])
    >>> grad, hess = obj(y, margin)     # the scikit-learn form: (y_true, y_pred)
    >>> grad.tolist(), hess.tolist()    # the Hessian 0 of the linear part is floored
    ([-1.0, 2.0], [1.0, 1e-16])
    """
    return XGBoostObjective(name, min_hessian=min_hessian, n_threads=n_threads, **params)


def lightgbm_objective(name, *, min_hessian=1e-16, n_threads=None, **params):
    """A LightGBM custom objective from the fastloss loss ``name`` bound to ``params``.

    >>> from fastloss.gbdt import lightgbm_objective
    >>> import numpy as np
    >>> grad, hess = lightgbm_objective("binary_cross_entropy")(np.array([1.0, 0.0]),
    ...                                                         np.array([0.0, 0.0]))
    >>> grad.tolist(), hess.tolist()
    ([-0.5, 0.5], [0.25, 0.25])
    """
    return LightGBMObjective(name, min_hessian=min_hessian, n_threads=n_threads, **params)


class _Metric:
    """The loss's weighted mean on raw margins, as an eval metric."""

    def __init__(self, name, params):
        self.objective = _Adapter(name, **params)
        self.name = f"fastloss-{self.objective.name}"

    def _value(self, a, b, weight):
        obj = self.objective
        if _is_dataset(b):
            n = b.num_row() if hasattr(b, "num_row") else b.num_data()
            preds = obj._prepared(a, n)
            k = preds.shape[1] if preds.ndim == 2 else 1
            y, w = obj._convert(b.get_label(), b.get_weight(), preds.dtype, k)
        else:
            y_true = np.asarray(a)
            preds = obj._prepared(b, y_true.reshape(-1).shape[0])
            k = preds.shape[1] if preds.ndim == 2 else 1
            y, w = obj._convert(y_true, weight, preds.dtype, k)
        return float(obj.loss(y, preds, reduction="mean", sample_weight=w,
                              n_threads=obj.n_threads))


class XGBoostMetric(_Metric):
    """``custom_metric=`` of ``xgb.train`` (called with (predt, dmatrix), returns (name,
    value)) or ``eval_metric=`` of the scikit-learn wrappers (called with (y_true, y_pred),
    returns the value; its ``__name__`` is the metric's name)."""

    def __init__(self, name, params):
        super().__init__(name, params)
        self.__name__ = self.name

    def __call__(self, predt, dmatrix, sample_weight=None):
        value = self._value(predt, dmatrix, sample_weight)
        return (self.name, value) if _is_dataset(dmatrix) else value


class LightGBMMetric(_Metric):
    """``feval=`` of ``lgb.train`` or ``eval_metric=`` of the scikit-learn wrappers: returns
    (name, value, is_higher_better=False)."""

    def __call__(self, preds, eval_data, weight=None):
        return self.name, self._value(preds, eval_data, weight), False


def xgboost_metric(name, **params):
    """An XGBoost eval metric reporting the fastloss loss ``name`` (weighted mean)."""
    return XGBoostMetric(name, params)


def lightgbm_metric(name, **params):
    """A LightGBM eval metric reporting the fastloss loss ``name`` (weighted mean)."""
    return LightGBMMetric(name, params)
