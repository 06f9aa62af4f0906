"""What a loss *is*: a spec (maths, parameters, kernels) and the object users call.

A :class:`LossSpec` says how to run one loss on each backend; a :class:`Loss` binds a spec
to parameter values and gives it ``__call__``, ``grad`` and ``value_and_grad``.  All the
shape, dtype, weight and reduction handling lives here, once, for every loss.
"""
from typing import Callable, NamedTuple, Optional

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
"""
IGNORE_SEMANTICS = """Samples whose label is ``ignore_index`` count in neither numerator nor denominator (N is
the number of counted samples).
"""
CLASS_WEIGHT_SEMANTICS = """A class weight acts as the sample weight w[y_i] of each sample, so "mean" divides by the
sum of w[y_i] over counted samples (PyTorch's rule).
"""
GRAD_SEMANTICS = """``grad`` is d(reduced loss)/d y_pred; for "none" it is the gradient of the sum of the
returned values.
"""
HESS_SEMANTICS = """``hess`` (and ``value_grad_hess``, one fused pass) is the diagonal of d2(reduced loss)/d
y_pred2, scaled by the reduction and weights as ``grad`` is: the exact second derivative (0
where the loss is piecewise linear or a probability clip binds; negative where it bends
down).
"""


def _semantics(spec):
    """The semantics text of a row loss, with only the sentences that apply to it."""
    text = SEMANTICS
    if "ignore_index" in spec.params:
        text += IGNORE_SEMANTICS
    if "class_weight" in spec.params:
        text += CLASS_WEIGHT_SEMANTICS
    return text + GRAD_SEMANTICS


def signature(spec, params, with_out=False):
    """The call signature of a loss bound to ``params``: its arrays (positional), then the
    common keywords and its own parameters with their current values as defaults."""
    import inspect
    P = inspect.Parameter
    kind = P.POSITIONAL_OR_KEYWORD if isinstance(spec.family, RowFamily) else P.POSITIONAL_ONLY
    args = [P(name, kind) for name in spec.family.inputs]
    args += [P("reduction", P.KEYWORD_ONLY, default="mean"),
             P("sample_weight", P.KEYWORD_ONLY, default=None)]
    if with_out:
        args.append(P("out", P.KEYWORD_ONLY, default=None))
    args.append(P("n_threads", P.KEYWORD_ONLY, default=None))
    args += [P(name, P.KEYWORD_ONLY, default=params[name]) for name in spec.params]
    return inspect.Signature(args)


def _doc(spec, params):
    sig = signature(spec, params)
    own = ", ".join(f"{name}={params[name]!r}" for name in spec.params
                    if not isinstance(params[name], np.ndarray))
    head = f"{spec.name}{sig}\n\n"
    if own:
        head += f"Bound parameters: {own} (override per call: loss(..., name=value), or " \
                f"fl.get({spec.name!r}, name=value)).\n\n"
    return head + spec.doc + "\n" + spec.family.semantics


_state = _config.state
_compiled = _config.compiled          # does the calling thread run the compiled kernels?
_MISSING = object()
_KIND_CODES = {"elementwise": 0, "categorical": 1, "sparse": 2}
_EPS = {V.F32: float(np.finfo(np.float32).eps), V.F64: float(np.finfo(np.float64).eps)}


def _with_eps(params, dtype):
    """``eps=None`` (probability clipping) resolved to the machine epsilon of ``dtype``."""
    if "eps" in params and params["eps"] is None:
        return dict(params, eps=_EPS[dtype])
    return params


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
          shape y_pred.shape[:-1]) - these three run by :class:`RowFamily`; or the kind of
          its ``family`` ("pairwise", "triplet", "segmentation", "custom").
    plan: params -> Plan, choosing kernel and NumPy function (e.g. by ``from_logits``).
    family: the strategy object that lays out the arrays of a call and runs a Plan on them
          (see :class:`Family`); None for the three row kinds.
    check: optional (y_true, y_pred, params) -> None that raises ValueError for inputs outside
          the loss's domain (e.g. MSLE's values <= -1), before anything is computed.
    summary, reference: one line each for the README's loss table (Markdown), which is
          rendered from the registry (tools/readme_tables.py; a test keeps it in sync).
    """

    def __init__(self, name, kind, plan, params=(), doc="", aliases=(), family=None,
                 check=None, summary="", reference=""):
        if family is not None:
            if kind != family.kind:
                raise ValueError(f"kind {kind!r} does not match its family {family.kind!r}")
        elif kind in ROW_FAMILIES:
            family = ROW_FAMILIES[kind]
        else:
            raise ValueError(f"unknown kind {kind!r}")
        self.family = family
        self.name = name
        self.kind = kind
        self.plan = plan
        self.params = {p.name: p for p in params}
        self.doc = doc
        self.aliases = aliases
        self.check = check
        self.summary = summary
        self.reference = reference

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


# ---- Families: how the arrays of a call are laid out and run -------------------------------
#
# A Family validates the arrays of one kind of loss and lays them out as rows for the kernels
# (a Layout), then runs a Plan on that layout with either backend.  Loss._run does everything
# else (parameters, reductions, weights, out buffers, dtypes) once for every kind.

REDUCTION_SEMANTICS = """
Reductions (``reduction=``), with per-sample losses l_i and ``sample_weight`` w_i:
  "mean"                 sum(w_i l_i) / sum(w_i)   (no weights: the plain mean)
  "sum_over_batch_size"  sum(w_i l_i) / N          (Keras' default)
  "sum"                  sum(w_i l_i)
  "none"                 w_i l_i, shaped like the per-sample losses
Gradients are of the reduced loss; for "none" of the sum of the returned values.
"""


class Layout(NamedTuple):
    """The arrays of one call, as the kernels see them: rows of ``k`` elements."""
    target: Optional[np.ndarray]   # labels (one per row) or targets like the inputs, or None
    preds: tuple                   # the differentiated inputs: C-contiguous, one dtype, one shape
    result_dtypes: tuple           # the dtype each gradient is returned in
    k: int                         # elements per sample (row)
    per_shape: tuple               # shape of the per-sample losses
    classes: int = 1               # segmentation: a row is (outer, classes, inner)
    inner: int = 1


class Family:
    """Strategy of one kind of loss: its arguments, its layout, how a Plan runs on it.

    ``inputs`` names the array arguments in call order; the last ``n_preds`` of them are
    differentiated.  ``plan.numpy(target, preds, params, layout)`` (the NumPy twin) gets the
    target reshaped to rows (``(n_rows,)`` labels or ``(n_rows, k)``) and the inputs as
    ``(n_rows, k)`` and returns ``_numpy.MultiRowResult(loss, grads)``.
    """
    kind = None
    inputs = ("y_true", "y_pred")
    n_preds = 1
    target_per_row = False
    semantics = ""

    def layout(self, arrays, params):
        raise NotImplementedError

    def weights(self, lay, sw, params):
        """(per-sample weights, per-class weights) the kernels take for this call."""
        return sw, None

    def run_compiled(self, plan, lay, grads, per, sw, cw, code, threads, params):
        return _config._kernels.run_multi(
            plan.kernel, lay.target, lay.preds, grads, lay.k, per, sw, code,
            *plan.kernel_params, lay.classes, lay.inner, threads)

    def run_numpy(self, plan, lay, params, sw, code):
        n_rows = lay.preds[0].size // lay.k
        target = lay.target
        if target is not None:
            target = target.reshape(-1) if self.target_per_row else target.reshape(n_rows, -1)
        result = plan.numpy(target, tuple(p.reshape(n_rows, lay.k) for p in lay.preds),
                            params, lay)
        return _numpy.reduce_grads(result, None if sw is None else sw.reshape(-1), code)


class RowFamily(Family):
    """(y_true, y_pred) losses of the row kinds: "elementwise", "categorical", "sparse"."""
    semantics = SEMANTICS + GRAD_SEMANTICS

    def __init__(self, kind):
        self.kind = kind
        self.sparse = kind == "sparse"
        self.semantics = SEMANTICS

    def layout(self, arrays, params):
        y_true, y_pred = arrays
        p, result_dtype = V.prediction(y_pred)
        if self.kind != "elementwise":
            V.check_class_argument_mix(y_true, y_pred, p, self.sparse)
        t = V.labels(y_true, p) if self.sparse else V.target_like(y_true, p)
        shape = p.shape
        if self.kind == "elementwise" and p.ndim == 1:
            return Layout(t, (p,), (result_dtype,), 1, shape)
        return Layout(t, (p,), (result_dtype,), shape[-1], shape[:-1])

    def weights(self, lay, sw, params):
        cw = params.get("class_weight")
        if cw is None:
            return sw, None
        if cw.shape[0] != lay.k:
            raise V.class_weight_error(cw, lay.k)
        if self.kind == "categorical":  # acts as the sample weight sum_k w_k t_k (w[y] one-hot)
            extra = lay.target.reshape(-1, lay.k).astype(np.float64, copy=False) @ cw
            return (extra if sw is None else sw.reshape(-1) * extra), None
        return sw, cw

    def run_compiled(self, plan, lay, grads, per, sw, cw, code, threads, params, hess=None):
        if hess is None:        # (the keyword only when asked: kernels of every build take it)
            return _config._kernels.run(
                plan.kernel, lay.target, lay.preds[0], lay.k,
                None if grads is None else grads[0], per, sw, cw, code, *plan.kernel_params,
                params.get("ignore_index"), threads)
        return _config._kernels.run(
            plan.kernel, lay.target, lay.preds[0], lay.k, grads[0], per, sw, cw, code,
            *plan.kernel_params, params.get("ignore_index"), threads, hess=hess)

    def run_numpy(self, plan, lay, params, sw, code, with_hess=False):
        t, p = lay.target, lay.preds[0]
        result = plan.numpy(t.reshape(-1) if self.sparse else t.reshape(-1, lay.k),
                            p.reshape(-1, lay.k), params)
        value, grad, hess = _numpy.reduce_with_hess(result, None if sw is None else
                                                    sw.reshape(-1), code)
        if with_hess:
            return value, (grad,), hess
        return value, (grad,)


ROW_FAMILIES = {kind: RowFamily(kind) for kind in _KIND_CODES}


class PairFamily(Family):
    """Two embeddings per sample and a label: contrastive, cosine embedding."""
    kind = "pairwise"
    inputs = ("y_true", "x1", "x2")
    n_preds = 2
    target_per_row = True
    semantics = """
Shapes: x1 and x2 have one shape (..., D); the last axis is the embedding axis and each
leading index is one sample (a 1-D input is a single sample).  y_true holds one label per
sample, shape x1.shape[:-1].  ``grad`` and ``value_and_grad`` return a tuple (d/dx1, d/dx2),
each with its input's shape and dtype; ``out=`` takes a tuple of two buffers.
""" + REDUCTION_SEMANTICS

    def __init__(self, check_labels):
        self.check_labels = check_labels

    def layout(self, arrays, params):
        y_true, x1, x2 = arrays
        preds, dtypes = V.predictions((x1, x2), self.inputs[1:])
        shape = preds[0].shape
        t = V.row_labels(y_true, preds[0].dtype, shape[:-1])
        self.check_labels(t)
        return Layout(t, preds, dtypes, shape[-1], shape[:-1])


class TripletFamily(Family):
    """Anchor, positive and negative embeddings per sample, no labels."""
    kind = "triplet"
    inputs = ("anchor", "positive", "negative")
    n_preds = 3
    semantics = """
Shapes: anchor, positive and negative have one shape (..., D); the last axis is the embedding
axis and each leading index is one sample (a 1-D input is a single sample).  There is no
y_true.  ``grad`` and ``value_and_grad`` return a tuple (d/danchor, d/dpositive,
d/dnegative), each with its input's shape and dtype; ``out=`` takes a tuple of three buffers.
""" + REDUCTION_SEMANTICS

    def layout(self, arrays, params):
        preds, dtypes = V.predictions(arrays, self.inputs)
        shape = preds[0].shape
        return Layout(None, preds, dtypes, shape[-1], shape[:-1])


class SegmentationFamily(Family):
    """One score per sample over a whole image (volume, sequence ...), optionally per class."""
    kind = "segmentation"
    semantics = """
Shapes: y_pred (N, ...) - axis 0 is the batch, every other axis belongs to the sample; y_true
has y_pred's shape (masks or soft targets in [0, 1]).  One loss per sample: the sums run over
all non-batch axes.  With ``class_axis`` (an int, e.g. -1 for channels-last (N, H, W, C) or 1
for channels-first (N, C, H, W)) the score is computed per class over the other non-batch
axes and the per-sample loss is the mean over classes.  ``sample_weight`` has shape (N,).
``grad`` has y_pred's shape and dtype.
""" + REDUCTION_SEMANTICS

    def layout(self, arrays, params):
        y_true, y_pred = arrays
        p, result_dtype = V.prediction(y_pred)
        t = V.target_like(y_true, p)
        shape = p.shape
        n = shape[0]
        k = p.size // n
        classes, inner = 1, k
        axis = params.get("class_axis")
        if axis is not None:
            ax = axis + p.ndim if axis < 0 else axis
            if not 1 <= ax < p.ndim:
                raise ValueError(f"class_axis={axis} is not a class axis of y_pred with shape "
                                 f"{shape}: it must name one of the non-batch axes 1..{p.ndim - 1}"
                                 f" (or -{p.ndim - 1}..-1)")
            classes = shape[ax]
            inner = int(np.prod(shape[ax + 1:], dtype=np.int64))
            if classes == 1:              # one class: the same as no class axis
                inner = k
        return Layout(t, (p,), (result_dtype,), k, shape[:1], classes, inner)


class ElementwiseFamily(Family):
    """Elementwise (y_true, y_pred) losses whose Plan brings its own engine (custom losses).

    ``plan.kernel`` is a callable ``engine(target, pred, k, grad, per, sw, code, params,
    threads) -> value`` on the rows of the layout, or None when the loss has only its NumPy
    form; the per-sample loss is the mean (or, with ``last_axis="sum"``, the sum) over the
    last axis of >= 2-D inputs, a 1-D input being N samples of one output.
    """
    kind = "custom"

    def __init__(self, last_axis="mean"):
        self.last_axis = last_axis
        self.semantics = f"""
Shapes: y_true and y_pred have one shape; the last axis is the output axis.  y_pred of shape
(N,) is N samples of one output; for (N, K) or (B, T, K) the per-sample loss is the
{last_axis} over the last axis.  ``grad`` has y_pred's shape and dtype.
""" + REDUCTION_SEMANTICS

    def layout(self, arrays, params):
        y_true, y_pred = arrays
        p, result_dtype = V.prediction(y_pred)
        t = V.target_like(y_true, p)
        if p.ndim == 1:
            return Layout(t, (p,), (result_dtype,), 1, p.shape)
        return Layout(t, (p,), (result_dtype,), p.shape[-1], p.shape[:-1])

    def run_compiled(self, plan, lay, grads, per, sw, cw, code, threads, params):
        if plan.kernel is None:
            return None
        return plan.kernel(lay.target, lay.preds[0], lay.k, None if grads is None else grads[0],
                           per, sw, code, plan.kernel_params, threads)


def per_sample_shape(loss, shape):
    """Shape of the per-sample losses of ``loss`` for a first input of ``shape`` (what
    ``reduction="none"`` returns; the framework adapters use it for their outputs)."""
    kind = loss.spec.kind
    if kind == "segmentation":
        return tuple(shape[:1])
    if kind in ("elementwise", "custom") and len(shape) == 1:
        return tuple(shape)
    return tuple(shape[:-1])


class Loss:
    """A loss function with its gradient; see the instance's docstring for the maths.

    Every kind of loss runs through one call path, :meth:`_run`: its family lays out and
    validates the arrays, then the parameters, weights, reduction (:mod:`fastloss._reduction`),
    ``out`` buffers and dtypes are handled here once.  Losses of (y_true, y_pred) rows also
    have a compiled per-call fast path that only decides whether a call is already well
    formed; anything else (and every error) goes through :meth:`_run`.
    """

    def __new__(cls, spec=None, **params):
        # A spec whose family takes other arrays (several inputs, custom ...) makes a
        # FamilyLoss.  (spec may be missing when copy / pickle recreate an instance.)
        if cls is Loss and spec is not None and not isinstance(spec.family, RowFamily):
            cls = FamilyLoss
        return super().__new__(cls)

    def __init__(self, spec, **params):
        self.spec = spec
        self.params = spec.resolve(params)
        self.__doc__ = _doc(spec, self.params)
        if isinstance(spec.family, RowFamily):
            self.__doc__ = self.__doc__.replace(spec.family.semantics, _semantics(spec))
            if self.has_hessian:
                self.__doc__ += HESS_SEMANTICS
        self.__signature__ = signature(spec, self.params)
        self._fast = self._fast_args()
        self._fast_cache = {}

    @property
    def name(self):
        return self.spec.name

    @property
    def inputs(self):
        """Names of the array arguments, in call order."""
        return self.spec.family.inputs

    def __repr__(self):
        shown = ", ".join(f"{k}={v!r}" for k, v in self.params.items()
                          if v is not self.spec.params[k].default
                          and not (isinstance(v, np.ndarray)))
        return f"fastloss.{self.spec.name}({shown})" if shown else f"fastloss.{self.spec.name}"

    # ---- the compiled fast path (row kinds only) ----

    def _fast_for(self, params):
        """Fast-path arguments for call-time parameters such as ``from_logits=True``,
        resolved once per distinct parameter set and cached (None: take the general path,
        which also raises for invalid values)."""
        try:
            key = tuple(sorted((k, type(v), v) for k, v in params.items()))
            hit = self._fast_cache.get(key, _MISSING)
        except TypeError:            # unhashable values (arrays): no caching
            return None
        if hit is _MISSING:
            try:
                hit = Loss(self.spec, **{**self.params, **params})._fast
            except (TypeError, ValueError):
                hit = None
            if len(self._fast_cache) < 64:
                self._fast_cache[key] = hit
        return hit

    def _fast_args(self):
        """Arguments of the compiled fast path for these parameters (None: not eligible).

        The kernel plan is resolved once per dtype here, so a call with kernel-ready arrays
        costs a few C-level checks and the kernel (see ``fastloss._kernels.fast``)."""
        kind = _KIND_CODES.get(self.spec.kind)
        cw = self.params.get("class_weight")
        if (kind is None or self.spec.check is not None
                or (cw is not None and self.spec.kind != "sparse")):
            return None
        plans = [self.spec.plan(_with_eps(self.params, dtype)) for dtype in (V.F32, V.F64)]
        if plans[0].kernel != plans[1].kernel:
            return None
        return (plans[0].kernel, kind, tuple(plans[0].kernel_params),
                tuple(plans[1].kernel_params), self.params.get("ignore_index"), cw)

    def __call__(self, y_true, y_pred, *, reduction="mean", sample_weight=None,
                 n_threads=None, **params):
        """The loss: a float, or the per-sample losses for ``reduction="none"``."""
        fast = self._fast_for(params) if params else self._fast
        if fast is not None and sample_weight is None and _compiled():
            value = _config._kernels.fast(fast[0], fast[1], y_true, y_pred, None, reduction,
                                          fast[2], fast[3], fast[4], fast[5], n_threads,
                                          False)
            if value is not None:
                return value
        return self._run((y_true, y_pred), reduction, sample_weight, n_threads, params,
                         False, None)[0]

    def grad(self, y_true, y_pred, *, reduction="mean", sample_weight=None, out=None,
             n_threads=None, **params):
        """d(reduced loss)/d y_pred, shaped like y_pred (written into ``out`` if given)."""
        return self.value_and_grad(y_true, y_pred, reduction=reduction,
                                   sample_weight=sample_weight, out=out,
                                   n_threads=n_threads, **params)[1]

    def value_and_grad(self, y_true, y_pred, *, reduction="mean", sample_weight=None,
                       out=None, n_threads=None, **params):
        """(loss, gradient) from one fused pass; with ``out=`` nothing else is allocated."""
        fast = self._fast_for(params) if params else self._fast
        if fast is not None and sample_weight is None and _compiled():
            result = _config._kernels.fast(fast[0], fast[1], y_true, y_pred, out, reduction,
                                           fast[2], fast[3], fast[4], fast[5], n_threads,
                                           True)
            if result is not None:
                return result
        return self._run((y_true, y_pred), reduction, sample_weight, n_threads, params,
                         True, out)

    def hess(self, y_true, y_pred, *, reduction="mean", sample_weight=None, out=None,
             n_threads=None, **params):
        """The diagonal of d2(reduced loss)/d y_pred2, shaped like y_pred (written into
        ``out`` if given); see :meth:`value_grad_hess`."""
        return self._run((y_true, y_pred), reduction, sample_weight, n_threads, params,
                         True, None, hess_out=(out, "out", "out"))[2]

    def value_grad_hess(self, y_true, y_pred, *, reduction="mean", sample_weight=None,
                        out=None, n_threads=None, **params):
        """(loss, gradient, diagonal Hessian) from one fused pass.

        The Hessian is the diagonal of d2(reduced loss)/d y_pred2, shaped like y_pred and
        scaled by the reduction and the weights exactly as the gradient is (for "none": of
        the sum of the returned values).  It is the exact second derivative: 0 where the loss
        is piecewise linear (MAE, quantile, hinge, and where a probability clip binds),
        negative where the loss is concave (focal losses in places).  For softmax
        cross-entropy it is the diagonal of the true Hessian, T' p_k (1 - p_k) per class.
        ``out=(g, h)`` takes two preallocated buffers (either may be None); with both,
        nothing else is allocated.  A loss without a diagonal Hessian (several inputs,
        segmentation, categorical hinge, custom losses) raises
        NotImplementedError."""
        if out is None:
            outs = (None, None)
        elif isinstance(out, (tuple, list)) and len(out) == 2:
            outs = tuple(out)
        else:
            raise ValueError(f"out must be a tuple (grad buffer, hess buffer), either of them "
                             f"None, or None; got {type(out).__name__}")
        return self._run((y_true, y_pred), reduction, sample_weight, n_threads, params,
                         True, outs[0], hess_out=(outs[1], "out[1]", "out[0]"))

    @property
    def has_hessian(self):
        """Whether ``.hess`` and ``.value_grad_hess`` are available for this loss with its
        bound parameters (e.g. categorical_hinge has none)."""
        try:
            self._check_hessian(self.params)
        except NotImplementedError:
            return False
        return True

    def _check_hessian(self, prm):
        """NotImplementedError unless this loss, with these parameters, has a diagonal
        second derivative (its kernel is one of HESSIAN_KERNELS)."""
        if (not isinstance(self.spec.family, RowFamily)
                or self.spec.plan(_with_eps(prm, V.F64)).kernel not in _hessian_kernels()):
            shown = ", ".join(f"{k}={v!r}" for k, v in prm.items() if k == "from_logits")
            raise NotImplementedError(
                f"{self.spec.name}{f' ({shown})' if shown else ''} has no diagonal Hessian in "
                f"fastloss: .hess and .value_grad_hess are for the elementwise and "
                f"cross-entropy losses")

    # ---- the one general call path ----

    def _run(self, arrays, reduction, sample_weight, n_threads, params, want_grad, out,
             hess_out=None):
        spec = self.spec
        family = spec.family
        if len(arrays) != len(family.inputs):
            raise TypeError(f"{spec.name} takes {len(family.inputs)} arrays "
                            f"({', '.join(family.inputs)}), got {len(arrays)}")
        prm = spec.resolve(params, self.params) if params else self.params
        want_hess = hess_out is not None
        if want_hess:
            self._check_hessian(prm)
        if _lazy(arrays, sample_weight):   # Dask arrays: a lazy graph (fastloss/dask.py)
            from . import dask as lazy
            if want_hess and hess_out[0] is not None:
                raise ValueError(f"{hess_out[1]} must be None for Dask inputs: the Hessian is "
                                 f"a lazy Dask array")
            return lazy.run(self, arrays, reduction, sample_weight, n_threads, params,
                            want_grad, out, want_hess=want_hess)
        code = V.reduction_code(reduction)
        threads = V.n_threads(n_threads)
        lay = family.layout(arrays, prm)
        if spec.check is not None:
            spec.check(lay.target, lay.preds[0], prm)
        sw = None if sample_weight is None else V.sample_weight(sample_weight, lay.per_shape)
        sw, cw = family.weights(lay, sw, prm)
        if sw is not None and lay.preds[0].dtype == V.F32 and _extreme(sw):
            lay = _in_float64(lay)
        shape = lay.preds[0].shape
        compute = lay.preds[0].dtype
        prm = _with_eps(prm, compute)
        value_dtype = lay.result_dtypes[0] if len(lay.result_dtypes) == 1 else \
            np.result_type(*lay.result_dtypes)

        grads = outs = None
        if want_grad:
            names = family.inputs[len(family.inputs) - family.n_preds:]
            outs = V.out_buffers(out, shape, lay.result_dtypes, names,
                                 hess_out[2] if want_hess else "out")
            read = tuple(a for a in arrays + lay.preds + (lay.target,)
                         if isinstance(a, np.ndarray))
            for i, o in enumerate(outs):
                V.no_overlap(o, read, f"out[{i}]" if len(outs) > 1 else "out",
                             f"the inputs ({', '.join(family.inputs)})")
            grads = tuple(o if V.writes_directly(o, compute) else np.empty(shape, compute)
                          for o in outs)
        hess = hout = None
        if want_hess:
            hname = hess_out[1]
            hout = V.out_buffer(hess_out[0], shape, lay.result_dtypes[0], hname) \
                if hess_out[0] is not None else None
            if hout is not None:
                V.no_overlap(hout, read, hname, f"the inputs ({', '.join(family.inputs)})")
                if outs[0] is not None and np.may_share_memory(hout, outs[0]):
                    raise ValueError("out[0] and out[1] share memory; the gradient and the "
                                     "Hessian each need their own buffer")
            hess = hout if V.writes_directly(hout, compute) else np.empty(shape, compute)
        per = np.empty(lay.per_shape, compute) if code == 0 else None

        plan = spec.plan(prm)
        value = None
        if _state.compiled:
            if want_hess:
                value = family.run_compiled(plan, lay, grads, per, sw, cw, code, threads, prm,
                                            hess=hess)
            else:
                value = family.run_compiled(plan, lay, grads, per, sw, cw, code, threads, prm)
        if value is None:     # the NumPy backend, or a loss that only has its NumPy form
            if want_hess:
                value, grads2, hess2 = family.run_numpy(plan, lay, prm, sw, code,
                                                        with_hess=True)
            else:
                value, grads2 = family.run_numpy(plan, lay, prm, sw, code)
            if plan.kernel in _probability_kernels():   # after the twin's label checks
                error = V.probability_error(lay.preds[0])
                if error is not None:
                    raise error
            if want_grad:
                for g, g2 in zip(grads, grads2):
                    g[...] = g2.reshape(shape)
            if want_hess:
                hess[...] = hess2.reshape(shape)
            if code == 0:
                per[...] = value.reshape(lay.per_shape)

        if code == 0:
            value = per if per.dtype == value_dtype else per.astype(value_dtype)
        if want_grad:
            grads = tuple(_returned(g, o, dt) for g, o, dt in zip(grads, outs,
                                                                  lay.result_dtypes))
            if family.n_preds == 1:
                grads = grads[0]
        if want_hess:
            return value, grads, _returned(hess, hout, lay.result_dtypes[0])
        return value, grads


class FamilyLoss(Loss):
    """A loss of other arrays than (y_true, y_pred): several inputs, whole-sample or custom.

    Call it with the arrays its family names (``loss.inputs``), in that order, then the same
    keywords as every loss.  With several differentiated inputs ``grad`` returns a tuple and
    ``out=`` takes a tuple of buffers.
    """

    def _fast_args(self):
        return None

    def __call__(self, *arrays, reduction="mean", sample_weight=None, n_threads=None,
                 **params):
        """The loss: a float, or the per-sample losses for ``reduction="none"``."""
        return self._run(arrays, reduction, sample_weight, n_threads, params, False, None)[0]

    def grad(self, *arrays, reduction="mean", sample_weight=None, out=None, n_threads=None,
             **params):
        """d(reduced loss)/d input for each differentiated input (a tuple when several)."""
        return self._run(arrays, reduction, sample_weight, n_threads, params, True, out)[1]

    def value_and_grad(self, *arrays, reduction="mean", sample_weight=None, out=None,
                       n_threads=None, **params):
        """(loss, gradient(s)) from one fused pass; with ``out=`` nothing else is allocated."""
        return self._run(arrays, reduction, sample_weight, n_threads, params, True, out)

    def hess(self, *arrays, **kwargs):
        """Not available: this loss has no diagonal Hessian (NotImplementedError)."""
        self._check_hessian(self.params)

    def value_grad_hess(self, *arrays, **kwargs):
        """Not available: this loss has no diagonal Hessian (NotImplementedError)."""
        self._check_hessian(self.params)


def _lazy(arrays, sample_weight):
    """Whether an input is a Dask collection: by its type's module, so that Dask is never
    imported for NumPy inputs (and the compiled fast path never gets here)."""
    for a in arrays:
        if type(a) is not np.ndarray and type(a).__module__.startswith("dask"):
            return True
    return (sample_weight is not None and type(sample_weight) is not np.ndarray
            and type(sample_weight).__module__.startswith("dask"))


def _extreme(sw):
    """Weights a float32 computation cannot scale by (beyond about 1e30 or below 1e-30 but
    not 0): the call is then computed in float64, so both backends give the same, finite
    answer instead of 0 * inf = NaN (the result keeps its dtype)."""
    if sw.size == 0:
        return False
    if float(sw.max()) > 2.0**100:
        return True
    if float(sw.min()) >= 2.0**-100:        # the common case: no tiny and no zero weight
        return False
    positive = sw[sw > 0]
    return positive.size > 0 and float(positive.min()) < 2.0**-100


def _in_float64(lay):
    t = lay.target
    if t is not None and t.dtype == V.F32:
        t = t.astype(V.F64)
    return lay._replace(target=t, preds=tuple(p.astype(V.F64) for p in lay.preds))


def _probability_kernels():
    from ._registry import PROBABILITY_KERNELS
    return PROBABILITY_KERNELS


def _hessian_kernels():
    from ._registry import HESSIAN_KERNELS
    return HESSIAN_KERNELS


def _returned(grad, out, dtype):
    """The gradient as returned: in ``out`` when given, in the result dtype."""
    if out is not None:
        if grad is not out:
            out[...] = grad
        return out
    if grad.dtype == dtype:
        return grad
    return grad.astype(dtype)
