"""User-defined elementwise losses: :func:`custom`.

A custom loss is an elementwise loss l(t, p) with its derivative dl/dp, given either

* as **NumPy functions** of whole arrays, ``value(t, p, *params) -> array`` and
  ``grad(t, p, *params) -> array`` (or one function returning both); fastloss calls them on
  the validated ``(n_rows, k)`` arrays and does the rest (per-sample mean, weights,
  reductions) exactly as for its own losses; or
* as **Numba scalar functions** (``numba.njit`` functions of floats ``(t, p, *params)``, or
  plain Python scalar functions with ``jit=True``).  fastloss then builds a fused kernel
  around them: one ``numba.njit(parallel=True)`` pass computes each element's loss and
  gradient, walks the rows in the blocks the compiled kernels use (about 8192 elements),
  writes each block's weighted sum to its own slot and adds the slots in a fixed order.  So,
  as for the built-in losses, the result is bitwise the same for any thread count.  The NumPy
  backend runs the same scalar functions element by element (``numpy.vectorize``).

Numba is optional: without it only NumPy functions can be used, and asking for the Numba
path raises ImportError saying so.
"""
import math
import numbers
import os
import threading

import numpy as np

from . import _config
from . import _reduction as R
from . import _registry
from . import _validation as V
from ._loss import ElementwiseFamily, Loss, LossSpec, Param, Plan
from ._numpy import MultiRowResult

#: The block size of the compiled kernels (src/_kernels.pyx), so results do not depend on
#: the thread count in the same way.
BLOCK_ELEMENTS = 8192

F64 = np.float64


def _import_numba():
    try:
        import numba
    except ImportError:
        return None
    return numba


def is_numba_function(f):
    """True for a Numba dispatcher (what ``numba.njit`` returns)."""
    return type(f).__module__.split(".")[0] == "numba" and hasattr(f, "py_func")


def custom(name, value=None, grad=None, *, value_and_grad=None, params=None, jit=None,
           last_axis="mean", doc=None, aliases=(), replace=False):
    """Define, register and return an elementwise loss from its value and gradient.

    ``fl.custom(name, value, grad)``, ``fl.custom(name, value_and_grad=f)``, or as a
    decorator of a function returning ``(value, grad)``::

        @fl.custom("log_cosh")
        def log_cosh(t, p):
            d = p - t
            return np.logaddexp(d, -d) - np.log(2), np.tanh(d)

    value, grad: functions of ``(t, p, *params)`` giving the loss of each element and its
        derivative with respect to p.  NumPy functions get whole arrays (t and p of shape
        ``(n_rows, k)``) and must return arrays of that shape; Numba functions
        (``numba.njit``) get scalars and return floats, and fastloss compiles a fused
        parallel kernel around them.
    params: ``{"name": default}`` numeric parameters, passed to the functions after t and p
        in this order; ``fl.get(name, delta=2.0)`` or ``loss(t, p, delta=2.0)`` set them.
    jit: None (default) uses Numba when the functions are Numba functions; True compiles
        plain scalar Python functions with ``numba.njit`` (ImportError without Numba); False
        never uses Numba (Numba functions then run element by element in Python).
    last_axis: "mean" (default, Keras semantics: the per-sample loss of a >= 2-D input is the
        mean over the last axis) or "sum".  A 1-D input is N samples of one output.
    doc, aliases: the loss's docstring and other names for ``fl.get``.
    replace: replace an earlier custom loss of the same name (for notebooks).

    Returns the loss object (``__call__``, ``grad``, ``value_and_grad``, every reduction,
    ``sample_weight``, ``out=``, ``n_threads``), registered under ``name``: ``fl.get(name)``
    finds it and ``fl.available()`` lists it.
    """
    if value is None and grad is None and value_and_grad is None:
        def decorate(fn):
            return custom(name, value_and_grad=fn, params=params, jit=jit,
                          last_axis=last_axis, doc=doc if doc is not None else fn.__doc__,
                          aliases=aliases, replace=replace)
        return decorate

    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a custom loss needs a non-empty string name, got {name!r}")
    if value_and_grad is not None:
        if value is not None or grad is not None:
            raise TypeError("pass either value and grad, or value_and_grad, not both")
        fns = (value_and_grad,)
    elif value is None or grad is None:
        raise TypeError(f"custom loss {name!r} needs both value and grad (or one "
                        f"value_and_grad function returning the pair)")
    else:
        fns = (value, grad)
    for fn in fns:
        if not callable(fn):
            raise TypeError(f"custom loss {name!r}: {fn!r} is not a function")
    if last_axis not in ("mean", "sum"):
        raise ValueError(f"last_axis must be 'mean' or 'sum', got {last_axis!r}")
    if jit not in (None, True, False):
        raise ValueError(f"jit must be None, True or False, got {jit!r}")
    param_list = _params(params)
    param_names = tuple(p.name for p in param_list)

    numba_given = [is_numba_function(fn) for fn in fns]
    if any(numba_given) and not all(numba_given):
        raise TypeError(f"custom loss {name!r}: value and grad must both be numba.njit "
                        f"functions, or neither")
    use_numba = all(numba_given) if jit is None else jit
    mean = last_axis == "mean"
    if use_numba:
        numba = _import_numba()
        if numba is None:
            raise ImportError(f"custom loss {name!r} asks for a Numba kernel (numba.njit "
                              f"functions or jit=True) but numba cannot be imported; install "
                              f"numba, or pass NumPy functions of whole arrays")
        compiled = tuple(fn if is_numba_function(fn) else numba.njit(fn) for fn in fns)
        engine = NumbaEngine(numba, compiled, mean)
        scalar = tuple(fn.py_func if is_numba_function(fn) else fn for fn in fns)
        numpy_fn = _twin(name, _vectorized(scalar), param_names, mean)
    else:
        engine = None
        if all(numba_given):                       # jit=False with Numba functions
            fns = _vectorized(tuple(fn.py_func for fn in fns))
        numpy_fn = _twin(name, fns, param_names, mean)

    how = ("Numba scalar functions, fused parallel kernel" if use_numba
           else "NumPy functions")
    text = (doc or f"Custom elementwise loss {name!r}.").rstrip()
    text += (f"\n\n    Defined with fastloss.custom ({how}); per-sample loss: the {last_axis} "
             f"over the last axis.")
    if param_names:
        text += f"\n    Parameters: {', '.join(param_names)}."
    spec = LossSpec(
        name, "custom",
        lambda prm: Plan(engine, tuple(prm[n] for n in param_names), numpy_fn),
        params=param_list, doc=text, aliases=tuple(aliases),
        family=ElementwiseFamily(last_axis))
    _registry.register(spec, replace=replace)
    return Loss(spec)


def _params(params):
    if params is None:
        return []
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of name -> default value, got {params!r}")
    out = []
    for key, default in params.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise ValueError(f"parameter names must be identifiers, got {key!r}")
        check = V.finite_float(key)
        out.append(Param(key, check(default), check))
    return out


def _vectorized(fns):
    """Scalar functions applied element by element (the NumPy form of Numba functions)."""
    if len(fns) == 1:
        return (np.vectorize(fns[0], otypes=[F64, F64]),)
    return tuple(np.vectorize(fn, otypes=[F64]) for fn in fns)


def _elementwise(name, what, x, shape, dtype):
    x = np.asarray(x)
    if x.shape != shape:
        try:
            x = np.broadcast_to(x, shape)
        except ValueError:
            raise ValueError(f"custom loss {name!r}: {what} returned shape {x.shape} for "
                             f"inputs of shape {shape}; it must work elementwise") from None
    if x.dtype.kind not in "fiub":
        raise TypeError(f"custom loss {name!r}: {what} returned dtype {x.dtype}; it must "
                        f"return real numbers")
    return x


def _twin(name, fns, param_names, mean):
    """The NumPy form: rows (n_rows, k) -> MultiRowResult, per-sample mean or sum."""
    def rows(t, preds, prm, layout):
        p = preds[0]
        args = [prm[n] for n in param_names]
        with np.errstate(all="ignore"):
            if len(fns) == 1:
                pair = fns[0](t, p, *args)
                if not (isinstance(pair, tuple) and len(pair) == 2):
                    raise TypeError(f"custom loss {name!r}: value_and_grad must return a "
                                    f"pair (value, grad), got {type(pair).__name__}")
                value, grad = pair
            else:
                value, grad = fns[0](t, p, *args), fns[1](t, p, *args)
            value = _elementwise(name, "value", value, p.shape, p.dtype)
            grad = _elementwise(name, "grad", grad, p.shape, p.dtype)
            row = np.sum(value, axis=1, dtype=F64)
            k = p.shape[1]
            if mean and k > 1:
                row /= k
                grad = grad / k
        return MultiRowResult(row, (np.asarray(grad, dtype=p.dtype),))
    return rows


# ---- the fused Numba kernel ------------------------------------------------------------------

_PARALLEL_LOCK = threading.Lock()   # numba's workqueue layer is not safe for concurrent launches


def _cpu_count():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class NumbaEngine:
    """The compiled path of a Numba custom loss: ``engine(target, pred, k, grad, per, sw,
    code, params, n_threads) -> value`` (see :class:`fastloss._loss.ElementwiseFamily`).

    Two builds of one kernel: serial (small inputs, ``n_threads=1``) and
    ``parallel=True``; both walk the same blocks in the same order, so they agree bitwise.
    Numba compiles each lazily, once per dtype.
    """

    def __init__(self, numba, fns, mean_last_axis):
        self.numba = numba
        self.mean = mean_last_axis
        if len(fns) == 1:
            pair = fns[0]
        else:
            value, grad = fns

            @numba.njit
            def pair(t, p, *prm):
                return value(t, p, *prm), grad(t, p, *prm)
        self.serial = _build_kernel(numba, pair, parallel=False)
        self.parallel = _build_kernel(numba, pair, parallel=True)

    def __call__(self, t, p, k, grad, per, sw, code, params, n_threads):
        numba = self.numba
        n_rows = p.size // k
        weights = np.empty(0, F64)
        if sw is not None:                     # validated (finite, >= 0) by the caller
            weights = sw.reshape(-1)
        denom = R.denominator(code, n_rows, None if sw is None else float(np.sum(weights)))
        scale = R.gradient_scale(denom)

        rows_per_block = max(1, BLOCK_ELEMENTS // k)
        n_blocks = -(-n_rows // rows_per_block)
        if n_threads <= 0:
            nt = 1
            if p.size >= _parallel_min_elements():
                nt = _config.default_threads() if _config._kernels is not None \
                    else _cpu_count()
        else:
            nt = n_threads
        nt = min(nt, n_blocks, numba.config.NUMBA_NUM_THREADS)

        empty = np.empty(0, p.dtype)
        partial = np.empty(n_blocks, F64)
        args = (t.reshape(-1), p.reshape(-1),
                empty if grad is None else grad.reshape(-1),
                empty if per is None else per.reshape(-1),
                weights, k, 1.0 / k if self.mean else 1.0, scale, tuple(params),
                rows_per_block, partial)
        if nt <= 1:
            self.serial(*args)
        else:
            with _PARALLEL_LOCK:
                before = numba.get_num_threads()
                numba.set_num_threads(nt)
                try:
                    self.parallel(*args)
                finally:
                    numba.set_num_threads(before)
        total = math.fsum(partial)             # exact, so independent of the order too
        return R.value(total, denom, code)


def _parallel_min_elements():
    """The compiled kernels' threshold below which the default is one thread."""
    k = _config._kernels
    return k.PARALLEL_MIN_ELEMENTS if k is not None else 16384


def _build_kernel(numba, pair, parallel):
    prange = numba.prange

    @numba.njit(parallel=parallel, nogil=True)
    def kernel(t, p, g, per, w, k, kscale, scale, prm, rows_per_block, partial):
        n_rows = p.size // k
        has_g = g.size > 0
        has_per = per.size > 0
        has_w = w.size > 0
        for b in prange(partial.size):
            r0 = b * rows_per_block
            r1 = min(r0 + rows_per_block, n_rows)
            acc = 0.0
            for i in range(r0, r1):
                wi = w[i] if has_w else 1.0
                gscale = scale * kscale * wi
                row = 0.0
                for j in range(i * k, i * k + k):
                    l, d = pair(t[j], p[j], *prm)
                    row += l
                    if has_g:
                        g[j] = d * gscale
                row *= kscale
                if has_per:
                    per[i] = row * wi
                acc += row * wi
            partial[b] = acc
    return kernel
