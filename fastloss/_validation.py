"""Argument checks and dtype rules, shared by both backends.

Every check raises before any kernel touches memory, with a message that names the argument
and says what was expected.  The common case (C-contiguous float32/float64 arrays) goes
through with a handful of attribute reads.
"""
import math
import numbers
import os

import numpy as np

from ._reduction import CODES as REDUCTION_CODES
from ._reduction import REDUCTIONS

F32 = _F32 = np.dtype(np.float32)
F64 = _F64 = np.dtype(np.float64)
_I64 = np.dtype(np.int64)
_INT64_MIN, _INT64_MAX = -2**63, 2**63 - 1

try:
    N_CPUS = len(os.sched_getaffinity(0))
except (AttributeError, OSError):
    N_CPUS = os.cpu_count() or 1


def kernel_ready(a, dtype):
    """``a`` as the kernels read it: ``dtype`` in native byte order, aligned, C-contiguous.

    Returns ``a`` itself when it already is (the common case: a few flag reads), else one
    converted copy - so big-endian, unaligned and strided inputs give the native answer."""
    if a.dtype == dtype and a.flags.c_contiguous and a.flags.aligned:
        return a
    return np.array(a, dtype=dtype, order="C", copy=True)


def native(dtype):
    """``dtype`` in native byte order (results are returned natively)."""
    return dtype if dtype.isnative else dtype.newbyteorder("=")


def _as_array(x, name):
    if type(x) is np.ndarray:
        return x
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged nested lists, unconvertible objects
        raise ValueError(f"{name} could not be converted to an array: {exc}") from None


def _numeric_kind(arr, name):
    kind = arr.dtype.kind
    if kind not in "fiub":
        raise TypeError(f"{name} must hold real numbers (float, int or bool); "
                        f"got dtype {arr.dtype}")
    return kind


def prediction(y_pred, name="y_pred"):
    """Return (array in its compute dtype, C-contiguous; dtype the gradient is returned in).

    float32/float64 are computed natively; float16 in float32 (returned as float16);
    integers and bools in float64.
    """
    y_pred = _as_array(y_pred, name)
    dt = y_pred.dtype
    if dt is _F64 or dt is _F32 or dt == _F64 or dt == _F32:
        result_dtype = compute = dt
    else:
        kind = _numeric_kind(y_pred, name)
        if kind == "f" and dt.itemsize <= 4:
            compute, result_dtype = _F32, native(dt)
        else:
            compute = result_dtype = _F64
    if y_pred.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension (a batch); got a scalar")
    if y_pred.size == 0:
        raise ValueError(f"{name} is an empty batch (shape {y_pred.shape})")
    return kernel_ready(y_pred, compute), result_dtype


def target_like(y_true, y_pred, name="y_true"):
    """Targets of the same shape as y_pred, cast to its compute dtype."""
    y_true = _as_array(y_true, name)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{name} has shape {y_true.shape} but y_pred has shape "
                         f"{y_pred.shape}; they must match")
    if y_true.dtype != y_pred.dtype:
        _numeric_kind(y_true, name)
    return kernel_ready(y_true, y_pred.dtype)


def labels(y_true, y_pred, name="y_true"):
    """Integer class labels of shape y_pred.shape[:-1], as C-contiguous int64."""
    y_true = _as_array(y_true, name)
    kind = y_true.dtype.kind
    if kind not in "iub":
        if kind == "f":
            raise TypeError(f"{name} must hold integer class labels, got dtype {y_true.dtype};"
                            f" cast with .astype(int), or use categorical_cross_entropy for "
                            f"probability targets")
        raise TypeError(f"{name} must hold integer class labels, got dtype {y_true.dtype}")
    if y_true.shape != y_pred.shape[:-1]:
        if y_true.shape == y_pred.shape[:-1] + (1,):   # (..., 1) column of labels, as Keras
            y_true = y_true.reshape(y_pred.shape[:-1])   # accepts (it squeezes them too)
        else:
            raise ValueError(f"{name} has shape {y_true.shape}; integer labels must have "
                             f"shape y_pred.shape[:-1] = {y_pred.shape[:-1]} (or that shape "
                             f"with a trailing axis of 1)")
    if kind == "u" and y_true.dtype.itemsize == 8 and y_true.size and y_true.max() > 2**62:
        i = int(np.argmax(y_true.ravel() > 2**62))
        raise label_error(y_true.ravel()[i], i, y_pred.shape[-1], None, name)
    return kernel_ready(y_true, _I64)


def check_class_argument_mix(y_true, y_pred, p, sparse):
    """Recognise the two classic mix-ups of class losses and say what to do instead:
    PyTorch's (input, target) order - integer labels passed as y_pred, scores as y_true - and
    integer labels given to a loss that takes probability rows."""
    if isinstance(y_true, np.ndarray):
        t_kind, t_shape = y_true.dtype.kind, y_true.shape
    else:
        try:
            t = np.asarray(y_true)
        except (ValueError, TypeError):
            return
        t_kind, t_shape = t.dtype.kind, t.shape
    p_kind = getattr(y_pred, "dtype", np.asarray(y_pred).dtype).kind
    if p_kind in "iub" and t_kind == "f" and t_shape[:-1] == p.shape and len(t_shape) >= 2:
        raise TypeError(
            f"y_pred holds integers of shape {p.shape} and y_true floats of shape {t_shape}: "
            f"the arguments look swapped.  fastloss takes (y_true, y_pred), as Keras and "
            f"scikit-learn - the labels first, then the scores - not PyTorch's (input, target)")
    if not sparse and t_kind in "iu" and t_shape == p.shape[:-1]:
        raise ValueError(
            f"y_true holds integer labels of shape {t_shape}, but this loss takes probability "
            f"rows shaped like y_pred {p.shape} (one-hot or soft targets); for integer class "
            f"labels use sparse_categorical_cross_entropy")


def label_error(label, index, n_classes, ignore_index, name="y_true"):
    """The one wording of a label outside [0, n_classes) (every path raises this)."""
    extra = "" if ignore_index is None else f" and not ignore_index={ignore_index}"
    return ValueError(f"{name} holds label {label} at flat index {index}, outside "
                      f"[0, {n_classes}){extra}")


def first_bad_label(labels, n_classes, ignore_index, name="y_true"):
    """The error for the first label outside [0, n_classes) that is not ignored, or None."""
    flat = labels.reshape(-1)
    bad = (flat < 0) | (flat >= n_classes)
    if ignore_index is not None:
        bad &= flat != ignore_index
    if not bad.any():
        return None
    i = int(np.flatnonzero(bad)[0])
    return label_error(int(flat[i]), i, n_classes, ignore_index, name)


def sample_weight(weight, per_sample_shape, name="sample_weight"):
    """float64 C-contiguous weights of the per-sample shape (broadcasting allowed)."""
    w = _as_array(weight, name)
    _numeric_kind(w, name)
    if w.shape != per_sample_shape:
        try:
            w = np.broadcast_to(w, per_sample_shape)
        except ValueError:
            raise ValueError(f"{name} has shape {w.shape}; it must have the shape of the "
                             f"per-sample losses {per_sample_shape} (or broadcast to it)"
                             ) from None
    w = kernel_ready(w, _F64)
    check_weights_finite(w, name)
    return w


def check_weights_finite(w, name):
    """Weights must be finite and >= 0 (the one check and wording, for every path)."""
    bad = ~((w >= 0) & np.isfinite(w))
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        where = f"{name}[{i}]" if w.ndim <= 1 else \
            f"{name}[{', '.join(map(str, np.unravel_index(i, w.shape)))}]"
        raise ValueError(f"{name} must be finite and >= 0; {where} = {w.ravel()[i]}")


def out_buffer(out, shape, dtype, name="out"):
    """A valid gradient buffer: an ndarray of the gradient's shape and dtype (either byte
    order), C-contiguous and writable.  One that the kernels cannot write directly
    (big-endian, unaligned) is filled from a native buffer (see :func:`writes_directly`)."""
    if type(out) is not np.ndarray:
        raise ValueError(f"{name} must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"{name} has shape {out.shape}; the gradient has shape {shape}")
    if native(out.dtype) != dtype:
        raise ValueError(f"{name} has dtype {out.dtype}; the gradient has dtype {dtype}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    if not out.flags.writeable:
        raise ValueError(f"{name} must be writable")
    return out


def writes_directly(out, dtype):
    """Whether the kernels may write a ``dtype`` gradient straight into ``out``."""
    return out is not None and out.dtype == dtype and out.flags.aligned


def no_overlap(out, arrays, name, what):
    """A gradient buffer must not share memory with the inputs the kernels read."""
    if out is not None and any(a is not None and np.may_share_memory(out, a) for a in arrays):
        raise ValueError(f"{name} must not share memory with {what} (the kernels read the "
                         f"inputs after writing the gradient)")


def n_threads(value):
    """None -> 0 (library default); an int >= 1 -> itself, capped at the CPUs this process
    may use (asking for more threads than CPUs only adds switching)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"n_threads must be None or an int >= 1, got {value!r}")
    return min(int(value), N_CPUS)


def reduction_code(reduction):
    try:
        return REDUCTION_CODES[reduction]
    except (KeyError, TypeError):
        raise ValueError(f"reduction must be one of {', '.join(map(repr, REDUCTIONS))}; "
                         f"got {reduction!r}") from None


# ---- parameter validators (used by the registry) ----

def positive_float(name):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{name} must be a positive number, got {value!r}")
        value = float(value)
        if not (value > 0 and math.isfinite(value)):
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        return value
    return check


def unit_interval(name):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
        value = float(value)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        return value
    return check


def boolean(name):
    def check(value):
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{name} must be True or False, got {value!r}")
        return bool(value)
    return check


def optional_eps(name):
    def check(value):
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{name} must be None or a number in (0, 0.5), got {value!r}")
        value = float(value)
        if not 0.0 < value < 0.5:
            raise ValueError(f"{name} must be in (0, 0.5), got {value!r}")
        return value
    return check


def optional_int(name):
    """None or an int that fits in int64 (labels are int64)."""
    def check(value):
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"{name} must be None or an int, got {value!r}")
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"{name} must be None or an int in [-2**63, 2**63 - 1] (labels "
                             f"are int64), got {value!r}")
        return int(value)
    return check


def optional_class_weight(name):
    def check(value):
        if value is None:
            return None
        w = _as_array(value, name)
        _numeric_kind(w, name)
        if w.ndim != 1 or w.size == 0:
            raise ValueError(f"{name} must be a 1-D array with one weight per class, "
                             f"got shape {w.shape}")
        w = np.array(w, dtype=_F64, order="C", copy=True)   # the caller's array is theirs
        check_weights_finite(w, name)
        w.flags.writeable = False
        return w
    return check


def probability_error(p, name="y_pred"):
    """The error for the first value of ``p`` outside [0, 1] (NaN passes), or None.  The
    compiled kernels flag such a value in their fused pass and the caller words it here."""
    flat = p.reshape(-1)
    bad = (flat < 0) | (flat > 1)
    if not bad.any():
        return None
    i = int(np.flatnonzero(bad)[0])
    return ValueError(f"{name} holds {float(flat[i])!r} at flat index {i}, outside [0, 1], but this "
                      f"loss takes probabilities; if these are logits, pass from_logits=True")


def class_weight_error(cw, n_classes, name="class_weight"):
    """The one wording of a class_weight whose length is not the number of classes."""
    return ValueError(f"{name} has {cw.shape[0]} entries but y_pred has {n_classes} classes; "
                      f"it needs one weight per class")


# ---- losses of several inputs (metric learning, segmentation) -----------------------------

def predictions(arrays, names):
    """Several prediction inputs of one shape, computed in one dtype.

    Returns (arrays in the common compute dtype, C-contiguous; the dtype each gradient is
    returned in).  Each input's own rules are those of :func:`prediction`; inputs of
    different dtypes are computed in the promoted dtype.
    """
    pairs = [prediction(a, n) for a, n in zip(arrays, names)]
    shape = pairs[0][0].shape
    for (p, _), name in zip(pairs[1:], names[1:]):
        if p.shape != shape:
            raise ValueError(f"{name} has shape {p.shape} but {names[0]} has shape {shape}; "
                             f"they must match")
    compute = pairs[0][0].dtype
    if any(p.dtype != compute for p, _ in pairs):
        compute = np.result_type(*(p.dtype for p, _ in pairs))
    preds = tuple(kernel_ready(p, compute) for p, _ in pairs)
    return preds, tuple(r for _, r in pairs)


def row_labels(y_true, dtype, per_sample_shape, name="y_true"):
    """One real label per sample (shape per_sample_shape), C-contiguous in ``dtype``."""
    y_true = _as_array(y_true, name)
    _numeric_kind(y_true, name)
    if y_true.shape != per_sample_shape:
        raise ValueError(f"{name} has shape {y_true.shape}; it must hold one label per sample, "
                         f"shape {per_sample_shape} (the inputs' shape without the last axis)")
    return kernel_ready(y_true, dtype)


def _first_bad(bad, y, name, expected):
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise ValueError(f"{name} holds {y.ravel()[i]!r} at flat index {i}; {expected}")


def unit_labels(y, name="y_true"):
    """Labels in [0, 1] (1 = similar pair, 0 = dissimilar; NaN is refused)."""
    _first_bad(~((y >= 0) & (y <= 1)), y, name,
               "labels must be 1 (similar) or 0 (dissimilar), or in between")


def sign_labels(y, name="y_true"):
    """Labels in {1, -1}."""
    _first_bad((y != 1) & (y != -1), y, name, "labels must be 1 or -1")


def out_buffers(out, shape, dtypes, names, name="out"):
    """Validated gradient buffers, one per prediction input (None where not given).

    One input: ``out`` is an array.  Several: a tuple (or list) with one array, or None, per
    input, in argument order; the arrays must not overlap.
    """
    n = len(dtypes)
    if out is None:
        return (None,) * n
    if n == 1:
        return (out_buffer(out, shape, dtypes[0], name),)
    if not isinstance(out, (tuple, list)) or len(out) != n:
        got = (f"a {type(out).__name__} of length {len(out)}"
               if isinstance(out, (tuple, list)) else f"a {type(out).__name__}")
        raise ValueError(f"{name} must be a tuple of {n} arrays, one gradient buffer per input "
                         f"({', '.join(names)}), or None; got {got}")
    bufs = tuple(None if o is None else out_buffer(o, shape, dt, f"{name}[{i}]")
                 for i, (o, dt) in enumerate(zip(out, dtypes)))
    for i in range(n):
        for j in range(i + 1, n):
            if bufs[i] is not None and bufs[j] is not None and \
                    np.may_share_memory(bufs[i], bufs[j]):
                raise ValueError(f"{name}[{i}] and {name}[{j}] share memory; each gradient "
                                 f"needs its own buffer")
    return bufs


def finite_float(name):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
        return value
    return check


def float_in(name, lo, hi):
    """A number in [lo, hi] (an infinite bound means no bound, but the value is finite)."""
    def check(value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{name} must be a number in [{lo}, {hi}], got {value!r}")
        value = float(value)
        if not (math.isfinite(value) and lo <= value <= hi):
            raise ValueError(f"{name} must be a finite number in [{lo}, {hi}], got {value!r}")
        return value
    return check


def optional_axis(name):
    def check(value):
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"{name} must be None or an int (an axis), got {value!r}")
        return int(value)
    return check


# ---- parameter validators of the regression, classification and distribution losses ----

def _real(value, name, expected):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return float(value)


def nonnegative_float(name):
    def check(value):
        value = _real(value, name, "a number >= 0")
        if not (value >= 0 and math.isfinite(value)):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        return value
    return check


def open_unit_interval(name):
    def check(value):
        value = _real(value, name, "a number in (0, 1)")
        if not 0.0 < value < 1.0:
            raise ValueError(f"{name} must be in (0, 1), got {value!r}")
        return value
    return check


def optional_unit_interval(name, hint=""):
    def check(value):
        if value is None:
            return None
        value = _real(value, name, "None or a number in [0, 1]" + hint)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be None or in [0, 1], got {value!r}")
        return value
    return check


def greater_than(arr, bound, name, why):
    """Raise ValueError naming ``name`` if some value of ``arr`` is <= ``bound``; NaN passes
    (it gives a NaN loss).  One vectorised min on the common path."""
    low = arr.min()
    if low > bound or (low != low and not (arr <= bound).any()):
        return
    i = int(np.flatnonzero((arr <= bound).ravel())[0])
    value = float(arr.ravel()[i])
    raise ValueError(f"{name} must be > {bound:g} ({why}); {name} holds {value} at flat "
                     f"index {i}")
