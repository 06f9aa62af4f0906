"""fastloss on Dask arrays: the same losses, lazily, chunk by chunk, on any Dask scheduler.

Calling any loss (``fl.mse(y, p)``, ``.grad``, ``.value_and_grad``) with a
``dask.array.Array`` among its arrays or its ``sample_weight`` lands here (the hook in
``Loss._run`` checks the inputs' module name, so ``import fastloss`` never imports Dask and
the NumPy fast path is untouched).  The result is lazy: the reduced loss is a 0-d Dask array
(``reduction="none"``: the per-sample losses, chunked like the batch axes), each gradient a
Dask array chunked like its input.

How a call becomes a graph
--------------------------
1. **Metadata checks** (shapes, dtypes, reduction, parameters, ``out``) run now, through the
   same validator functions as in memory, on zero-memory stand-ins of the inputs
   (``np.broadcast_to`` of one zero to the input's shape): same exception, same message.
   Checks that need the values (labels in range, weights finite, probabilities in [0, 1])
   run in the chunk tasks with the in-memory messages, indices made global.
2. **Sample axes whole.**  A sample is a row along the last axis (elementwise ≥ 2-D, class
   and embedding losses) or everything but axis 0 (segmentation).  A chunk must hold whole
   samples: an input chunked across them is rechunked (whole along those axes; the batch
   chunks are kept unless the chunks would outgrow Dask's ``array.chunk-size``) with a
   :class:`RechunkWarning`.  Every input is aligned to one batch chunking.
3. **The denominator first.**  ``"mean"`` and ``"sum_over_batch_size"`` divide by D (see
   ``fastloss._reduction``).  When D follows from the shapes (no weights, no
   ``ignore_index``) it is a constant; otherwise a cheap pass over the labels and weights
   (one per sample, not per element; for ``categorical_*`` losses with ``class_weight`` it
   reads the probability-row targets, since their weight is Σₖ wₖ yₖ) gives the counted
   samples and Σ w per chunk, combined in a fixed tree.
4. **One fused pass per chunk.**  Each chunk task calls the in-memory loss with
   ``reduction="sum"`` (Σ w·l, and the gradient w·∇l) and scales its gradient by 1/D
   in cache-sized sub-blocks as it goes; values and gradients come out of the same task, so
   ``dask.compute(loss, grad)`` reads every chunk once.  Kernels run with one OpenMP thread
   per Dask thread unless ``n_threads`` is given.
5. **Exact reductions.**  The chunks' partial sums (double precision) are added in a fixed
   tree (:data:`SPLIT_EVERY` at a time, in block order), then divided by D once: the result
   is deterministic for a given chunking and equals the in-memory result within rounding.

A second-order term (the Hessian diagonal of the reduced loss) scales like the gradient: it
is one more output of the chunk task, multiplied by the same 1/D.
"""
import math
import os
import re
import sys
import warnings

import numpy as np

import dask
import dask.array as da
from dask.highlevelgraph import HighLevelGraph
from dask.utils import parse_bytes

from . import _reduction as R
from . import _validation as V

__all__ = ["RechunkWarning", "SPLIT_EVERY", "SUB_BLOCK_ELEMENTS", "run"]

#: Partial sums combined per node of the reduction tree.
SPLIT_EVERY = 16
#: Elements per kernel call inside a chunk task: the gradient is scaled while it is in cache.
SUB_BLOCK_ELEMENTS = 1 << 17


_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


class RechunkWarning(UserWarning):
    """An input was chunked across the axes of one sample and was rechunked for the call."""


def is_dask(x):
    """Whether ``x`` is a Dask collection (by module name: does not import Dask)."""
    return type(x).__module__.startswith("dask")


# ---- the loss, shipped to the workers by name ----------------------------------------------

class _LossRef:
    """A loss as a task argument: its registered name and bound parameters.

    Loss objects hold the registry's functions; a worker rebuilds the loss from its own
    registry (custom losses must therefore be registered in the worker processes too, e.g.
    by importing the module that defines them)."""

    def __init__(self, name, params, loss=None):
        self.name = name
        self.params = params
        self._loss = loss

    def __reduce__(self):
        return (_LossRef, (self.name, self.params))

    def __dask_tokenize__(self):
        return (self.name, dask.base.tokenize(self.params))

    def get(self):
        """The loss, built once per process for each (registered spec, parameters)."""
        if self._loss is None:
            from ._registry import REGISTRY
            spec = REGISTRY.get(self.name)
            if spec is None:
                raise ValueError(f"loss {self.name!r} is not registered in this worker process;"
                                 f" register custom losses in a module the workers import")
            key = (self.name, id(spec), dask.base.tokenize(self.params))
            loss = _LOSSES.get(key)
            if loss is None:
                from . import get
                loss = get(self.name, **self.params)
                if len(_LOSSES) < 256:
                    _LOSSES[key] = loss
            self._loss = loss
        return self._loss


_LOSSES = {}


# ---- layout of one call ----------------------------------------------------------------------

def _fake(x):
    """A zero-memory ndarray with ``x``'s shape and dtype, for the metadata checks."""
    return np.broadcast_to(np.zeros((), x.dtype), x.shape)


def _sample_ndim(family, ndim):
    """How many leading axes index samples (the rest belong to one sample)."""
    if family.kind == "segmentation":
        return 1
    if family.kind in ("elementwise", "custom") and ndim == 1:
        return 1
    return ndim - 1


def _check_prediction(x, name):
    """The in-memory checks of one prediction input; returns (compute, result) dtypes."""
    if x.dtype.kind not in "fiub" or x.ndim == 0 or (x.size == 0):
        V.prediction(_fake(x), name)                    # raises the in-memory error
    p, result = V.prediction(np.zeros(1, x.dtype), name)
    return p.dtype, result


def _known_shape(x, name):
    if any(math.isnan(s) for s in x.shape):
        raise ValueError(f"{name} has unknown chunk sizes (shape {x.shape}); call "
                         f"{name}.compute_chunk_sizes() first")


def _meta_checks(loss, family, target, preds, sample_weight, prm):
    """Graph-time validation.  Returns (per_ndim, compute dtype, result dtypes, target)."""
    names = family.inputs[len(family.inputs) - family.n_preds:]
    for x, name in zip(preds, names):
        _known_shape(x, name)
    dtypes = [_check_prediction(x, name) for x, name in zip(preds, names)]
    shape = preds[0].shape
    for x, name in zip(preds[1:], names[1:]):
        if x.shape != shape:        # the wording of fastloss._validation.predictions
            raise ValueError(f"{name} has shape {x.shape} but {names[0]} has shape {shape}; "
                             f"they must match")
    compute = dtypes[0][0] if len(dtypes) == 1 else np.result_type(*(d[0] for d in dtypes))
    p_fake = np.broadcast_to(np.zeros((), compute), shape)
    per_ndim = _sample_ndim(family, len(shape))
    per_shape = shape[:per_ndim]
    kind = family.kind
    sparse = getattr(family, "sparse", False)
    if target is not None:
        _known_shape(target, "y_true")
        t_fake = _fake(target)
        if kind in ("categorical", "sparse"):
            V.check_class_argument_mix(t_fake, _fake(preds[0]), p_fake, sparse)
        if sparse:
            if (target.dtype.kind not in "iub"
                    or target.shape not in (per_shape, per_shape + (1,))):
                V.labels(t_fake, p_fake)                 # raises the in-memory error
            if target.shape != per_shape:
                target = target.reshape(per_shape)      # Keras' (..., 1) label column
        elif family.target_per_row:
            if target.dtype.kind not in "fiub" or target.shape != per_shape:
                V.row_labels(t_fake, compute, per_shape)
        elif target.shape != shape or (target.dtype != compute
                                       and target.dtype.kind not in "fiub"):
            V.target_like(t_fake, p_fake)
    axis = prm.get("class_axis") if kind == "segmentation" else None
    if axis is not None and not 1 <= (axis + len(shape) if axis < 0 else axis) < len(shape):
        # the wording of SegmentationFamily.layout (fastloss/_loss.py), which needs the data
        raise ValueError(f"class_axis={axis} is not a class axis of y_pred with shape "
                         f"{shape}: it must name one of the non-batch axes 1..{len(shape) - 1}"
                         f" (or -{len(shape) - 1}..-1)")
    if sample_weight is not None:
        _known_shape(sample_weight, "sample_weight")
        w_fake = _fake(sample_weight)
        try:
            np.broadcast_to(w_fake, per_shape)
            ok = sample_weight.dtype.kind in "fiub"
        except ValueError:
            ok = False
        if not ok:
            V.sample_weight(w_fake, per_shape)           # raises the in-memory error
    cw = prm.get("class_weight")
    if cw is not None and cw.shape[0] != shape[-1]:
        raise V.class_weight_error(cw, shape[-1])
    return per_ndim, compute, tuple(d[1] for d in dtypes), target


def _batch_chunks(candidates, split, per_ndim, shape, dtype):
    """One chunking of the batch axes for every input: the first Dask input's, made to fit
    Dask's chunk-size limit when its sample axes have to be joined (``split`` names the
    inputs chunked across a sample; they get a :class:`RechunkWarning`)."""
    per_shape = shape[:per_ndim]
    ref = next((a for a in candidates if is_dask(a) and a.shape[:per_ndim] == per_shape
                and a.ndim >= per_ndim), None)
    if ref is None:                     # only a broadcast sample_weight is lazy
        return tuple((s,) for s in per_shape)
    batch = ref.chunks[:per_ndim]
    if split:
        inner = math.prod(shape[per_ndim:])
        biggest = math.prod(max(c) for c in batch) * inner * dtype.itemsize
        limit = parse_bytes(dask.config.get("array.chunk-size"))
        if biggest > limit:
            batch = da.core.normalize_chunks(
                ("auto",) * per_ndim + tuple(shape[per_ndim:]), shape, limit=limit,
                dtype=dtype)[:per_ndim]
        axes = tuple(range(per_ndim, len(shape)))
        frame, level = sys._getframe(), 1               # point at the caller's line
        while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
            frame, level = frame.f_back, level + 1
        warnings.warn(
            f"{', '.join(split)} {'is' if len(split) == 1 else 'are'} chunked across the axes "
            f"of one sample (axes {axes} of shape {shape}): fastloss needs whole samples in "
            f"every chunk, so this call rechunks to chunks of "
            f"{tuple(map(max, batch)) + shape[per_ndim:]}; rechunk once yourself "
            f"(x.rechunk({{{', '.join(f'{a}: -1' for a in axes)}}})) and persist to avoid "
            f"paying for it on every call", RechunkWarning, stacklevel=level)
    return batch


def _as_dask(x, chunks, name=None):
    """``x`` (NumPy or Dask) as a Dask array with exactly these chunks."""
    if is_dask(x):
        if not isinstance(x, da.Array):
            raise TypeError(f"{name} is a {type(x).__module__}.{type(x).__name__}; fastloss "
                            f"takes dask.array.Array inputs (or NumPy arrays)")
        return x if x.chunks == chunks else x.rechunk(chunks)
    return da.from_array(x, chunks=chunks, name=False)


# ---- where an error happened: chunk-local indices made global ------------------------------

_FLAT = re.compile(r"at flat index (\d+)")
_WEIGHT = re.compile(r"sample_weight\[([\d, ]+)\]")


class _Where:
    """The place of one chunk (or sub-block) in the global arrays."""

    def __init__(self, offset, chunk_shape, shape, per_ndim, target_per_row):
        self.offset = tuple(offset)
        self.chunk = tuple(chunk_shape)
        self.shape = tuple(shape)
        self.per_ndim = per_ndim
        self.target_per_row = target_per_row

    def shifted(self, rows, n):
        """The sub-block of ``n`` rows starting ``rows`` into this chunk along axis 0."""
        return _Where((self.offset[0] + rows,) + self.offset[1:], (n,) + self.chunk[1:],
                      self.shape, self.per_ndim, self.target_per_row)

    def globalize(self, message):
        name = message.split(" ", 1)[0]
        per = name == "sample_weight" or (name == "y_true" and self.target_per_row)
        k = self.per_ndim if per else len(self.shape)
        chunk, offset, shape = self.chunk[:k], self.offset[:k], self.shape[:k]
        if not shape:
            return message

        def flat(m):
            local = np.unravel_index(int(m.group(1)), chunk)
            index = np.ravel_multi_index(tuple(a + b for a, b in zip(local, offset)), shape)
            return f"at flat index {int(index)}"

        def weight(m):
            local = [int(s) for s in m.group(1).split(",")]
            if len(local) == 1 and len(chunk) > 1:
                local = np.unravel_index(local[0], chunk)
            index = [a + b for a, b in zip(local, offset)]
            return f"sample_weight[{', '.join(map(str, index))}]"

        message = _FLAT.sub(flat, message)
        return _WEIGHT.sub(weight, message) if per else message


def _reraise(exc, where):
    raise type(exc)(where.globalize(str(exc))) from None


def _where(block_info, per_ndim, target_per_row):
    info = block_info[None]
    return _Where([loc[0] for loc in info["array-location"]], info["chunk-shape"],
                  info["shape"], per_ndim, target_per_row)


# ---- chunk tasks -----------------------------------------------------------------------------

def _unpack(blocks, n_target, n_preds, has_weight, per_ndim, target_per_row):
    """The arrays of one chunk task, per-sample ones without their trailing unit axes."""
    blocks = list(blocks)
    target = blocks.pop(0) if n_target else None
    preds = [blocks.pop(0) for _ in range(n_preds)]
    weight = blocks.pop(0) if has_weight else None
    if target is not None and target_per_row:
        target = target.reshape(target.shape[:per_ndim])
    if weight is not None:
        weight = weight.reshape(weight.shape[:per_ndim])
    return target, preds, weight, blocks


def _args(target, preds):
    return tuple(preds) if target is None else (target,) + tuple(preds)


def _fused(*blocks, ref, n_target, n_preds, has_weight, per_ndim, target_per_row, code,
           want_grad, n_threads, compute, result_dtypes, denom=None, want_hess=False,
           block_info=None):
    """One chunk: (partial sum or per-sample losses, gradient of each input...[, Hessian]).

    Inputs are cast to the computation dtype here (float16 is computed in float32, integers
    in float64, as in memory), so the gradient is scaled before it is rounded to its
    result dtype."""
    where = _where(block_info, per_ndim, target_per_row)
    target, preds, weight, rest = _unpack(blocks, n_target, n_preds, has_weight, per_ndim,
                                           target_per_row)
    preds = [p if p.dtype == compute else p.astype(compute) for p in preds]
    if rest:                                   # the denominator, computed by the pre-pass
        denom = float(rest[0])
    loss = ref.get()
    try:
        if code == R.NONE:
            if not want_grad:
                per = loss(*_args(target, preds), reduction="none", sample_weight=weight,
                           n_threads=n_threads)
                return (per,)
            if want_hess:
                per, grad, hess = loss.value_grad_hess(*_args(target, preds), reduction="none",
                                                       sample_weight=weight,
                                                       n_threads=n_threads)
                return (per, grad.astype(result_dtypes[0], copy=False),
                        hess.astype(result_dtypes[0], copy=False))
            per, grads = loss.value_and_grad(*_args(target, preds), reduction="none",
                                             sample_weight=weight, n_threads=n_threads)
            grads = grads if n_preds > 1 else (grads,)
            return (per,) + tuple(g.astype(dt, copy=False)
                                  for g, dt in zip(grads, result_dtypes))
        if not want_grad:
            return (float(loss(*_args(target, preds), reduction="sum", sample_weight=weight,
                               n_threads=n_threads)),)
    except (ValueError, TypeError) as exc:
        _reraise(exc, where)
    scale = R.gradient_scale(denom) if code in (R.MEAN, R.SUM_OVER_BATCH_SIZE) else 1.0
    grads = [np.empty(x.shape, compute) for x in preds]
    hess = np.empty(preds[0].shape, compute) if want_hess else None
    rows = preds[0].shape[0] if per_ndim else 1
    step = rows if (scale == 1.0 or per_ndim == 0) else \
        max(1, SUB_BLOCK_ELEMENTS // max(1, preds[0].size // rows))
    partials = []
    for start in range(0, rows, step):
        s = slice(start, start + step)
        sub = (lambda x: x[s]) if step < rows else (lambda x: x)
        outs = [sub(g) for g in grads]
        inputs = _args(None if target is None else sub(target), [sub(p) for p in preds])
        w = None if weight is None else sub(weight)
        try:
            if want_hess:       # the same fused pass, one more output (one prediction)
                outs.append(sub(hess))
                value = loss.value_grad_hess(*inputs, reduction="sum", sample_weight=w,
                                             out=(outs[0], outs[1]), n_threads=n_threads)[0]
            else:
                value, _ = loss.value_and_grad(*inputs, reduction="sum", sample_weight=w,
                                               out=outs[0] if n_preds == 1 else tuple(outs),
                                               n_threads=n_threads)
        except (ValueError, TypeError) as exc:
            _reraise(exc, where.shifted(start, outs[0].shape[0]) if step < rows else where)
        if scale != 1.0:
            for o in outs:
                o *= scale
        partials.append(value)
    extra = (hess.astype(result_dtypes[0], copy=False),) if want_hess else ()
    return (math.fsum(partials),) + tuple(g.astype(dt, copy=False)
                                          for g, dt in zip(grads, result_dtypes)) + extra


def _denominator_part(*blocks, n_target, has_weight, per_ndim, kind, k, ignore_index,
                      class_weight, block_info=None):
    """One chunk's (counted samples, sum of their weights) for the reduction's denominator."""
    sparse = kind == "sparse"
    where = _where(block_info, per_ndim, sparse)
    target, _, weight, _ = _unpack(blocks, n_target, 0, has_weight, per_ndim, sparse)
    w = None if weight is None else weight.astype(np.float64, copy=False)
    if w is not None:
        try:
            V.check_weights_finite(w, "sample_weight")
        except ValueError as exc:
            _reraise(exc, where)
    if sparse:
        labels = target.astype(np.int64, copy=False)
        error = V.first_bad_label(labels, k, ignore_index)
        if error is not None:
            _reraise(error, where)
        counted = np.ones(labels.shape, bool) if ignore_index is None else \
            labels != ignore_index
        if class_weight is not None:
            cw = class_weight[np.where(counted, labels, 0)]
            w = cw if w is None else w * cw
        wsum = 0.0 if w is None else math.fsum(np.where(counted, w, 0.0).ravel())
        return int(counted.sum()), wsum
    count = math.prod((target if target is not None else weight).shape[:per_ndim])
    if kind == "categorical" and class_weight is not None:
        extra = target.reshape(-1, k).astype(np.float64, copy=False) @ class_weight
        w = extra if w is None else w.reshape(-1) * extra
    return count, 0.0 if w is None else math.fsum(w.ravel())


def _get(block, i):
    return block[i]


def _per_sample(block, n_inner, dtype):
    per = block[0].astype(dtype, copy=False)
    return per.reshape(per.shape + (1,) * n_inner)


def _add(parts, field):
    """The exactly rounded sum of ``part[field]`` (or of the numbers) in ``parts``."""
    return math.fsum(float(p if field is None else p[field]) for p in parts)


def _tree_sum(parts, field):
    """Σ of field ``field`` of every block of ``parts`` (tuples, one per chunk): a 0-d
    float64 Dask array.  The blocks are added :data:`SPLIT_EVERY` at a time in block order,
    then the node sums likewise, a fixed tree for a given chunking (no task per partial)."""
    name = f"{parts.name}-sum{field}"
    level = [k for k in _flat_keys(parts.__dask_keys__())]
    dsk, depth = {}, 0
    while True:
        nodes = []
        for j in range(0, len(level), SPLIT_EVERY):
            key = (f"{name}-{depth}", j // SPLIT_EVERY)
            dsk[key] = (_add, list(level[j:j + SPLIT_EVERY]), field if depth == 0 else None)
            nodes.append(key)
        level, depth = nodes, depth + 1
        if len(level) == 1:
            break
    dsk[(name,)] = (np.float64, level[0])
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[parts])
    return da.Array(graph, name, chunks=(), dtype=np.float64)


def _flat_keys(keys):
    if isinstance(keys, list):
        for k in keys:
            yield from _flat_keys(k)
    else:
        yield keys


def _denominator_value(count, wsum, code, weighted):
    return np.float64(R.denominator(code, float(count), float(wsum) if weighted else None))


def _final_value(total, denom, code):
    return np.float64(R.value(float(total), float(denom), code))


# ---- the call --------------------------------------------------------------------------------

def run(loss, arrays, reduction, sample_weight, n_threads, params, want_grad, out,
        want_hess=False):
    """``Loss._run`` for Dask inputs: (lazy value, lazy gradient(s) or None), and with
    ``want_hess`` (a loss with a diagonal Hessian, one prediction) the lazy Hessian third,
    from the same task per chunk as the gradient and scaled by the same denominator."""
    spec = loss.spec
    family = spec.family
    prm = spec.resolve(params, loss.params) if params else loss.params
    code = V.reduction_code(reduction)
    threads = V.n_threads(n_threads) or 1           # one OpenMP thread per Dask thread
    if out is not None:
        raise ValueError("out must be None for Dask inputs: the gradient is a lazy Dask array "
                         "(store it with dask.array.store, or compute it)")
    want_grad = want_grad or want_hess
    n_target = len(family.inputs) - family.n_preds
    names = family.inputs
    arrays = [a if is_dask(a) else V._as_array(a, n) for a, n in zip(arrays, names)]
    target = arrays[0] if n_target else None
    preds = arrays[n_target:]
    if sample_weight is not None and not is_dask(sample_weight):
        sample_weight = V._as_array(sample_weight, "sample_weight")
    for a, n in zip(arrays + [sample_weight], names + ("sample_weight",)):
        if is_dask(a) and not isinstance(a, da.Array):
            _as_dask(a, None, n)                     # raises: not a dask.array.Array

    per_ndim, compute, result_dtypes, target = _meta_checks(
        loss, family, target, preds, sample_weight, prm)
    shape = preds[0].shape
    per_shape = shape[:per_ndim]
    n_inner = len(shape) - per_ndim
    sparse = getattr(family, "sparse", False)
    per_row_target = sparse or family.target_per_row

    # one batch chunking for every input; sample axes whole
    full = list(zip(preds, names[n_target:]))
    if target is not None and not per_row_target:
        full.insert(0, (target, "y_true"))
    split = [n for a, n in full if is_dask(a) and any(len(c) > 1 for c in a.chunks[per_ndim:])]
    candidates = list(preds) + [target, sample_weight]     # the chunking of y_pred wins
    batch = _batch_chunks([a for a in candidates if a is not None], split, per_ndim, shape,
                          compute)
    inner = tuple((s,) for s in shape[per_ndim:])
    preds_d = [_as_dask(x, batch + inner, n) for x, n in zip(preds, names[n_target:])]
    blocks = []
    if target is not None:
        if per_row_target:
            t = _as_dask(target, batch, "y_true")[(Ellipsis,) + (None,) * n_inner]
        else:
            t = _as_dask(target, batch + inner, "y_true")
        blocks.append(t)
    blocks += preds_d
    weight = None
    if sample_weight is not None:
        if is_dask(sample_weight):
            w = sample_weight if sample_weight.shape == per_shape else \
                da.broadcast_to(sample_weight, per_shape)
        else:
            V.check_weights_finite(sample_weight.astype(np.float64, copy=False),
                                   "sample_weight")
            w = sample_weight if sample_weight.shape == per_shape else \
                np.broadcast_to(sample_weight, per_shape)
        weight = _as_dask(w, batch, "sample_weight")[(Ellipsis,) + (None,) * n_inner]

    # the denominator: a constant from the shapes, or a cheap pre-pass
    ignore_index = prm.get("ignore_index") if sparse else None
    cw = prm.get("class_weight")
    weighted = sample_weight is not None or cw is not None
    count_known = ignore_index is None
    denom = 1.0
    if code in (R.MEAN, R.SUM_OVER_BATCH_SIZE):
        if count_known and not (code == R.MEAN and weighted):
            denom = R.denominator(code, math.prod(per_shape))
        else:
            with_target = sparse or (family.kind == "categorical" and cw is not None)
            pre = ([blocks[0]] if with_target else []) + ([weight] if weight is not None else [])
            part = da.map_blocks(
                _denominator_part, *pre, n_target=int(with_target),
                has_weight=weight is not None, per_ndim=per_ndim, kind=family.kind,
                k=shape[-1], ignore_index=ignore_index, class_weight=cw, dtype=object,
                meta=np.empty((0,) * len(shape), dtype=object),
                token=f"fastloss-{spec.name}-denominator")
            count, wsum = _tree_sum(part, 0), _tree_sum(part, 1)
            denom = da.map_blocks(_denominator_value, count, wsum, code, weighted,
                                  dtype=np.float64)

    ref_obj = _LossRef(spec.name, prm, loss if not params else None)
    kwargs = dict(ref=ref_obj, n_target=int(target is not None), n_preds=len(preds_d),
                  has_weight=weight is not None, per_ndim=per_ndim,
                  target_per_row=per_row_target, code=code, want_grad=want_grad,
                  n_threads=threads, compute=compute, result_dtypes=result_dtypes,
                  want_hess=want_hess)
    args = list(blocks) + ([weight] if weight is not None else [])
    if want_grad and code in (R.MEAN, R.SUM_OVER_BATCH_SIZE):
        if isinstance(denom, float):
            kwargs["denom"] = denom
        else:
            args.append(denom)
    ndim = len(shape)
    parts = da.map_blocks(_fused, *args, **kwargs, dtype=object,
                          meta=np.empty((0,) * ndim, dtype=object), chunks=preds_d[0].chunks,
                          token=f"fastloss-{spec.name}")

    if code == R.NONE:
        value_dtype = result_dtypes[0] if len(result_dtypes) == 1 else \
            np.result_type(*result_dtypes)
        value = parts.map_blocks(_per_sample, n_inner, value_dtype, dtype=value_dtype,
                                 chunks=batch + ((1,),) * n_inner,
                                 token=f"fastloss-{spec.name}-per-sample",
                                 meta=np.empty((0,) * ndim, value_dtype))
        value = value[(slice(None),) * per_ndim + (0,) * n_inner]
    else:
        total = _tree_sum(parts, 0)
        if isinstance(denom, float):
            value = total.map_blocks(_final_value, denom, code, dtype=np.float64,
                                     token=f"fastloss-{spec.name}-value")
        else:
            value = da.map_blocks(_final_value, total, denom, code, dtype=np.float64,
                                  token=f"fastloss-{spec.name}-value")
    if not want_grad:
        return value, None
    grads = tuple(parts.map_blocks(_get, 1 + i, dtype=dt, meta=np.empty((0,) * ndim, dt),
                                   token=f"fastloss-{spec.name}-grad")
                  for i, dt in enumerate(result_dtypes))
    grads = grads if len(grads) > 1 else grads[0]
    if want_hess:
        dt = result_dtypes[0]
        hess = parts.map_blocks(_get, 1 + len(result_dtypes), dtype=dt,
                                meta=np.empty((0,) * ndim, dt),
                                token=f"fastloss-{spec.name}-hess")
        return value, grads, hess
    return value, grads
