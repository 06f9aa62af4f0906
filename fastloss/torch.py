"""fastloss inside PyTorch: loss modules whose forward runs the fused kernel, on the CPU.

    import fastloss.torch as flt
    criterion = flt.CrossEntropyLoss()          # torch.nn.CrossEntropyLoss's arguments
    loss = criterion(logits, labels)            # (input, target), as in PyTorch
    loss.backward()                             # the gradient saved by the fused pass

How it works.  One ``torch.library`` custom op, ``fastloss::value_and_grad``, runs a fastloss
loss on zero-copy NumPy views of contiguous CPU tensors: the kernel computes the loss and
writes d(loss)/d(input) straight into a tensor allocated by PyTorch, which is saved for the
backward pass; backward only multiplies it by ``grad_output`` (per sample for
``reduction="none"``, where the saved gradient is that of the *sum* of the per-sample losses,
i.e. each sample's own derivative).  The op has a fake (meta) implementation, so
``torch.compile`` traces through it, and its autograd formula is registered with
``torch.library.register_autograd``.

Rules:
- CPU tensors only (a CUDA tensor raises ``ValueError`` naming the argument).  float32 and
  float64 inputs are computed natively; float16 and bfloat16 are computed in float32 (one
  conversion) and the gradient comes back in the input's dtype; other dtypes raise
  ``TypeError`` naming the argument.  Non-contiguous inputs are copied once.
- Gradients flow into the predictions (every embedding of the multi-input losses), never
  into a target: a target that requires grad raises ``ValueError`` (compute that loss with
  torch's own module if you need it).
- The PyTorch-named modules (``MSELoss`` ... ``TripletMarginLoss``) have PyTorch's
  constructor arguments, argument order and reductions, including PyTorch's shapes
  (elementwise ``"none"`` is per element, ``CrossEntropyLoss`` takes the class axis at
  dim 1).  ``get(name, **params)`` wraps any fastloss loss with fastloss's own semantics
  (last axis = output/class axis, reductions incl. ``"sum_over_batch_size"``,
  ``sample_weight=``), taking its arrays in PyTorch's order: ``(input, target)``,
  ``(input1, input2, target)`` for pairwise losses, ``(anchor, positive, negative)``.

What does not map (a clear ``ValueError`` at construction or call): ``BCEWithLogitsLoss``'s
``pos_weight``; ``CrossEntropyLoss`` with ``weight`` together with ``label_smoothing`` on
class-index targets, or with ``weight`` on probability targets (PyTorch weights those terms
per class, fastloss per sample).  ``NLLLoss`` and ``HingeEmbeddingLoss`` have no fastloss
kernel and are not provided.
"""
import json
from typing import List, Optional, Tuple

import numpy as np
import torch

from . import _registry
from ._loss import per_sample_shape as _per_shape

__all__ = [
    "get", "Loss", "MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss", "BCELoss",
    "BCEWithLogitsLoss", "CrossEntropyLoss", "KLDivLoss", "PoissonNLLLoss",
    "CosineEmbeddingLoss", "TripletMarginLoss",
]

# ---- the custom op ----------------------------------------------------------------------------
#
# The op takes a loss by key (a string naming a bound fastloss loss in _LOSSES: strings are
# constants to torch.compile), the fastloss reduction, the target (or None), the list of
# differentiated inputs and an optional sample weight, all already CPU, contiguous and of a
# NumPy dtype (the wrapper `_apply` sees to that).  It returns the loss and, when asked,
# the gradients, which autograd saves.

_LOSSES = {}


def _key(loss):
    """A stable string naming a bound fastloss loss (registered in _LOSSES)."""
    params = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in loss.params.items()}
    try:
        key = json.dumps([loss.name, params], sort_keys=True)
    except TypeError:
        key = f"{loss.name}#{id(loss)}"
    _LOSSES[key] = loss       # the newest: a custom loss re-registered under its name
    return key




def _run(key, reduction, target, preds, sample_weight, want_grad):
    """The kernel on zero-copy NumPy views: (loss tensor, list of gradient tensors)."""
    loss = _LOSSES[key]
    dtype = preds[0].dtype
    if len(preds) == 1 and target is not None and sample_weight is None and want_grad:
        grad = torch.empty_like(preds[0])        # the common call, without the lists
        value, _ = loss.value_and_grad(target.detach().numpy(), preds[0].detach().numpy(),
                                       reduction=reduction, out=grad.numpy())
        grads = [grad]
        return (torch.from_numpy(value) if isinstance(value, np.ndarray)
                else torch.full((), value, dtype=dtype)), grads
    arrays = [p.detach().numpy() for p in preds]
    if target is not None:
        arrays.insert(0, target.detach().numpy())
    sw = None if sample_weight is None else sample_weight.detach().numpy()
    if want_grad:
        grads = [torch.empty_like(p, memory_format=torch.contiguous_format) for p in preds]
        outs = tuple(g.numpy() for g in grads)
        value, _ = loss.value_and_grad(*arrays, reduction=reduction, sample_weight=sw,
                                       out=outs if len(outs) > 1 else outs[0])
    else:
        grads = []
        value = loss(*arrays, reduction=reduction, sample_weight=sw)
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
        if value.dtype != dtype:
            value = value.to(dtype)
    else:
        value = torch.full((), value, dtype=dtype)
    return value, grads


@torch.library.custom_op("fastloss::value_and_grad", mutates_args=(), device_types="cpu")
def _value_and_grad(key: str, reduction: str, target: Optional[torch.Tensor],
                    preds: List[torch.Tensor], sample_weight: Optional[torch.Tensor],
                    want_grad: bool) -> Tuple[torch.Tensor, List[torch.Tensor]]:
    return _run(key, reduction, target, preds, sample_weight, want_grad)


@_value_and_grad.register_fake
def _(key, reduction, target, preds, sample_weight, want_grad):
    p = preds[0]
    shape = _per_shape(_LOSSES[key], p.shape) if reduction == "none" else ()
    grads = [torch.empty_like(q, memory_format=torch.contiguous_format) for q in preds] \
        if want_grad else []
    return p.new_empty(shape), grads


def _setup_context(ctx, inputs, output):
    ctx.reduction = inputs[1]
    ctx.save_for_backward(*output[1])


def _scaled(grads, grad_value, reduction):
    """The saved gradients times grad_output (per sample for "none": the saved gradient is
    then each sample's own derivative)."""
    if reduction == "none":
        out = []
        for g in grads:
            s = grad_value.reshape(tuple(grad_value.shape) + (1,) * (g.dim() - grad_value.dim()))
            out.append(g * s)
        return out
    return [g * grad_value for g in grads]


def _backward(ctx, grad_value, grad_grads):
    return None, None, None, _scaled(ctx.saved_tensors, grad_value, ctx.reduction), None, None


_value_and_grad.register_autograd(_backward, setup_context=_setup_context)


class _Fused(torch.autograd.Function):
    """The same forward and backward as the custom op, for eager mode: a plain
    autograd.Function costs a few microseconds per call where the custom op's Python
    autograd wrapper costs a few hundred (``_apply`` calls the op while torch.compile
    traces, this otherwise)."""

    @staticmethod
    def forward(ctx, key, reduction, target, sample_weight, want_grad, *preds):
        value, grads = _run(key, reduction, target, preds, sample_weight, want_grad)
        ctx.reduction = reduction
        # saved (not a ctx attribute): autograd frees it right after backward unless the
        # graph is retained, so the gradient handed on below is moved into .grad, not copied
        ctx.save_for_backward(*grads)
        return value

    @staticmethod
    def backward(ctx, grad_value):
        grads = ctx.saved_tensors
        if ctx.reduction != "none" and float(grad_value) == 1.0:
            scaled = grads             # loss.backward(): the saved gradient as it is
        else:
            scaled = _scaled(grads, grad_value, ctx.reduction)
        return (None,) * 5 + tuple(scaled)


# ---- the wrapper: checks, dtypes, layout --------------------------------------------------------

_NATIVE = (torch.float32, torch.float64)
_VIA_FLOAT32 = (torch.float16, torch.bfloat16)


def _check_tensor(x, name):
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.device.type != "cpu":
        raise ValueError(f"{name} is on {x.device}; fastloss.torch runs on the CPU: move it "
                         f"with .cpu() or use torch's own loss on {x.device.type}")


def _prediction_dtype(preds, names):
    for p, name in zip(preds, names):
        _check_tensor(p, name)
        if p.dtype not in _NATIVE and p.dtype not in _VIA_FLOAT32:
            raise TypeError(f"{name} has dtype {p.dtype}; fastloss.torch takes float32 or "
                            f"float64 (float16 and bfloat16 are computed in float32)")
    dtype = preds[0].dtype
    for p in preds[1:]:
        dtype = torch.promote_types(dtype, p.dtype)
    return dtype


def _as_target(target, name):
    _check_tensor(target, name)
    if target.requires_grad and torch.is_grad_enabled():
        raise ValueError(f"{name} requires grad, but fastloss differentiates only the "
                         f"predictions; detach {name} (or use torch's own loss to "
                         f"differentiate it)")
    if target.is_complex():
        raise TypeError(f"{name} has dtype {target.dtype}; fastloss takes real targets")
    if target.dtype in _VIA_FLOAT32:
        target = target.to(torch.float32)
    return target.detach().contiguous()


def _ready(x):
    """A CPU, contiguous float32/float64 tensor that needs no conversion."""
    return x.dtype in _NATIVE and x.device.type == "cpu" and x.is_contiguous()


def _apply(loss, target, preds, reduction, sample_weight=None, names=None, key=None):
    """Run a fastloss ``loss`` with autograd: ``target`` (or None) and the differentiated
    ``preds`` in fastloss's order; returns the loss tensor (per sample for "none")."""
    # The common call (one input that needs grad and no conversion, a plain target, eager
    # mode) goes straight to the autograd.Function: at 10^3 elements the checks below cost
    # as much as the kernel.
    if (key is not None and sample_weight is None and len(preds) == 1
            and isinstance(target, torch.Tensor) and isinstance(preds[0], torch.Tensor)):
        p = preds[0]
        if (p.requires_grad and not target.requires_grad and _ready(p)
                and target.device.type == "cpu" and target.is_contiguous()
                and target.dtype not in _VIA_FLOAT32 and not target.is_complex()
                and torch.is_grad_enabled() and not torch.compiler.is_compiling()):
            return _Fused.apply(key, reduction, target, None, True, p)
    if names is None:
        names = loss.inputs[len(loss.inputs) - len(preds):]
    dtype = _prediction_dtype(preds, names)
    compute = torch.float32 if dtype in _VIA_FLOAT32 else dtype
    preds = [p.to(compute).contiguous() for p in preds]
    if target is not None:
        target = _as_target(target, "target")
    if sample_weight is not None:
        sample_weight = _as_target(torch.as_tensor(sample_weight), "sample_weight")
        if not sample_weight.dtype.is_floating_point:
            sample_weight = sample_weight.to(torch.float64)
    want_grad = torch.is_grad_enabled() and any(p.requires_grad for p in preds)
    key = key if key is not None else _key(loss)
    if torch.compiler.is_compiling():
        value, _ = torch.ops.fastloss.value_and_grad(key, reduction, target, preds,
                                                     sample_weight, want_grad)
    elif want_grad:
        value = _Fused.apply(key, reduction, target, sample_weight, want_grad, *preds)
    else:
        value, _ = _run(key, reduction, target, preds, sample_weight, False)
    return value if compute == dtype else value.to(dtype)


def _legacy_reduction(size_average, reduce, reduction):
    if size_average is not None or reduce is not None:
        from torch.nn import _reduction
        return _reduction.legacy_get_string(size_average, reduce)
    return reduction


def _reduction_arg(reduction, allowed=("mean", "sum", "none")):
    if reduction not in allowed:
        raise ValueError(f"reduction must be one of {', '.join(map(repr, allowed))}, "
                         f"got {reduction!r}")
    return reduction


# ---- fastloss semantics, PyTorch's argument order ------------------------------------------

class Loss(torch.nn.Module):
    """Any fastloss loss as a ``torch.nn.Module``, with fastloss's semantics and PyTorch's
    argument order: ``forward(input, target)`` (pairwise losses ``(input1, input2,
    target)``; triplet ``(anchor, positive, negative)``), ``sample_weight=`` as a keyword.

    ``reduction``: "mean" (default), "sum", "none" or "sum_over_batch_size", as in
    ``help(fastloss.<name>)``: the last axis is the output/class axis.
    """

    def __init__(self, name, reduction="mean", **params):
        super().__init__()
        self.loss = _registry.get(name, **params)
        self.reduction = _reduction_arg(reduction,
                                        ("mean", "sum", "none", "sum_over_batch_size"))
        self._key = _key(self.loss)

    def extra_repr(self):
        return f"{self.loss!r}, reduction={self.reduction!r}"

    def forward(self, *inputs, sample_weight=None):
        family = self.loss.spec.family
        n = len(family.inputs)
        if len(inputs) != n:
            raise TypeError(f"{self.loss.name} takes {n} tensors, got {len(inputs)}")
        if family.n_preds == n:                        # triplet: no target
            target, preds = None, list(inputs)
        elif family.n_preds == 1:                      # (input, target)
            target, preds = inputs[1], [inputs[0]]
        else:                                          # (input1, input2, target)
            target, preds = inputs[-1], list(inputs[:-1])
        return _apply(self.loss, target, preds, self.reduction, sample_weight,
                      key=self._key, names=_torch_names(family, len(preds)))


def _torch_names(family, n_preds):
    if n_preds == 1:
        return ("input",)
    if family.kind == "triplet":
        return ("anchor", "positive", "negative")
    return tuple(f"input{i + 1}" for i in range(n_preds))


def get(name, reduction="mean", **params):
    """``fastloss.torch.get(name, **params)``: the fastloss loss ``name`` (any name
    ``fastloss.get`` resolves) as a :class:`Loss` module taking ``(input, target)``."""
    return Loss(name, reduction=reduction, **params)


# ---- PyTorch's modules ----------------------------------------------------------------------

class _TorchLoss(torch.nn.Module):
    """Base of the PyTorch-named modules: PyTorch's reduction argument and legacy flags."""

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        self.reduction = _reduction_arg(_legacy_reduction(size_average, reduce, reduction))

    def _bind(self, name, **params):
        loss = _registry.get(name, **params)
        return loss, _key(loss)


class _Elementwise(_TorchLoss):
    """PyTorch's elementwise losses: every element is a sample ("none" keeps the shape)."""
    _name = None

    def _loss(self):
        if not hasattr(self, "_bound"):
            self._bound = self._bind(self._name, **self._params())
        return self._bound

    def _params(self):
        return {}

    def _weight(self, input):
        return None

    def forward(self, input, target):
        _check_tensor(input, "input")
        _check_tensor(target, "target")
        if target.shape != input.shape:
            raise ValueError(f"target has shape {tuple(target.shape)}, input "
                             f"{tuple(input.shape)}: {type(self).__name__} needs the same "
                             f"shape (fastloss does not broadcast)")
        loss, key = self._loss()
        weight = self._weight(input)
        reduction = self.reduction
        if weight is not None and reduction == "mean":   # PyTorch: sum(w l) / N
            reduction = "sum_over_batch_size"
        value = _apply(loss, target.reshape(-1), [input.reshape(-1)], reduction, weight,
                       names=("input",), key=key)
        return value.reshape(input.shape) if reduction == "none" else value


class MSELoss(_Elementwise):
    """``torch.nn.MSELoss`` on the fastloss kernel: (input - target)^2 per element."""
    _name = "mse"


class L1Loss(_Elementwise):
    """``torch.nn.L1Loss`` on the fastloss kernel: |input - target| per element
    (subgradient 0 at 0, as PyTorch)."""
    _name = "mae"


class HuberLoss(_Elementwise):
    """``torch.nn.HuberLoss(reduction="mean", delta=1.0)`` on the fastloss kernel."""
    _name = "huber"

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction=reduction)
        self.delta = delta

    def _params(self):
        return {"delta": self.delta}


class SmoothL1Loss(_Elementwise):
    """``torch.nn.SmoothL1Loss(size_average, reduce, reduction, beta=1.0)`` on the fastloss
    kernel (``beta=0`` is the L1 loss, as in PyTorch)."""
    _name = "smooth_l1"

    def __init__(self, size_average=None, reduce=None, reduction="mean", beta=1.0):
        super().__init__(size_average, reduce, reduction)
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        self.beta = beta
        if beta == 0:
            self._name = "mae"

    def _params(self):
        return {} if self.beta == 0 else {"beta": self.beta}


class _WeightedElementwise(_Elementwise):
    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)

    def _weight(self, input):
        if self.weight is None:
            return None
        return torch.broadcast_to(self.weight.detach(), input.shape).reshape(-1)


class BCELoss(_WeightedElementwise):
    """``torch.nn.BCELoss(weight=None, size_average, reduce, reduction)`` on the fastloss
    kernel: input probabilities in [0, 1] (clipped to [eps, 1 - eps], eps the dtype's
    machine epsilon, where PyTorch clamps its logs at -100).  ``weight`` rescales each
    element (broadcast to input); "mean" is sum(w l) / N, as in PyTorch."""
    _name = "BCELoss"


class BCEWithLogitsLoss(_WeightedElementwise):
    """``torch.nn.BCEWithLogitsLoss(weight=None, size_average, reduce, reduction,
    pos_weight=None)`` on the fastloss kernel (input = logits).  ``pos_weight`` has no
    fastloss kernel: it raises ``ValueError``."""
    _name = "BCEWithLogitsLoss"

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean",
                 pos_weight=None):
        super().__init__(weight, size_average, reduce, reduction)
        if pos_weight is not None:
            raise ValueError("pos_weight is not supported by fastloss's BCE kernel; use "
                             "torch.nn.BCEWithLogitsLoss for it")
        self.pos_weight = None


class PoissonNLLLoss(_Elementwise):
    """``torch.nn.PoissonNLLLoss(log_input=True, full=False, size_average, eps=1e-8, reduce,
    reduction)`` on the fastloss kernel."""
    _name = "poisson"

    def __init__(self, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                 reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.log_input, self.full, self.eps = log_input, full, eps

    def _params(self):
        return {"log_input": self.log_input, "full": self.full, "eps": self.eps}


class KLDivLoss(_TorchLoss):
    """``torch.nn.KLDivLoss(size_average, reduce, reduction="mean", log_target=False)`` on the
    fastloss kernel: input log-probabilities; target probabilities (log-probabilities with
    ``log_target=True``).  Reductions as PyTorch: "none" per element, "mean" over all
    elements, "batchmean" sum / input.size(0), "sum"."""

    def __init__(self, size_average=None, reduce=None, reduction="mean", log_target=False):
        torch.nn.Module.__init__(self)
        self.reduction = _reduction_arg(_legacy_reduction(size_average, reduce, reduction),
                                        ("mean", "sum", "none", "batchmean"))
        self.log_target = log_target
        self._loss, self._lkey = self._bind("KLDivLoss", log_target=log_target)

    def forward(self, input, target):
        _check_tensor(input, "input")
        _check_tensor(target, "target")
        if target.shape != input.shape:
            raise ValueError(f"target has shape {tuple(target.shape)}, input "
                             f"{tuple(input.shape)}: KLDivLoss needs the same shape")
        reduction = "sum" if self.reduction == "batchmean" else self.reduction
        # every element its own one-class sample: per-element values, PyTorch's "mean"
        value = _apply(self._loss, target.reshape(-1, 1), [input.reshape(-1, 1)], reduction,
                       names=("input",), key=self._lkey)
        if self.reduction == "none":
            return value.reshape(input.shape)
        if self.reduction == "batchmean" and input.dim() != 0:
            return value / input.size(0)
        return value


class CrossEntropyLoss(_TorchLoss):
    """``torch.nn.CrossEntropyLoss(weight=None, size_average, ignore_index=-100, reduce,
    reduction="mean", label_smoothing=0.0)`` on the fastloss kernel.

    input: logits (C,), (N, C) or (N, C, d1, ...), the class axis at dim 1 as in PyTorch
    (moved last, one copy, for ≥ 3-D input); target: class indices (an integer tensor of
    shape (), (N,) or (N, d1, ...)) or class probabilities shaped like input.  "mean" divides
    by the summed weights of the counted (not ignored) samples, as PyTorch.  Not mapped
    (``ValueError``): ``weight`` with ``label_smoothing`` on class indices, ``weight`` on
    probability targets.
    """

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None,
                 reduction="mean", label_smoothing=0.0):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        self._cache = {}

    def _bound(self, sparse, dtype):
        weight = None if self.weight is None else self.weight.detach().cpu().numpy()
        cache_key = (sparse, self.ignore_index, self.label_smoothing,
                     None if weight is None else (weight.tobytes(), str(weight.dtype)))
        hit = self._cache.get(cache_key)
        if hit is None:
            if sparse:
                if weight is not None and self.label_smoothing > 0:
                    raise ValueError("weight together with label_smoothing on class-index "
                                     "targets is not supported by fastloss.torch (PyTorch "
                                     "weights each smoothing term by its own class's weight; "
                                     "fastloss weights the whole sample)")
                hit = self._bind("CrossEntropyLoss", ignore_index=self.ignore_index,
                                 label_smoothing=self.label_smoothing, class_weight=weight)
            else:
                if weight is not None:
                    raise ValueError("weight with probability targets is not supported by "
                                     "fastloss.torch (PyTorch weights each class term; "
                                     "fastloss weights the sample)")
                hit = self._bind("categorical_cross_entropy", from_logits=True,
                                 label_smoothing=self.label_smoothing)
            self._cache[cache_key] = hit
        return hit

    def forward(self, input, target):
        _check_tensor(input, "input")
        _check_tensor(target, "target")
        sparse = not (target.dtype.is_floating_point or target.is_complex())
        if input.dim() >= 3:
            input = input.movedim(1, -1)
            if not sparse:
                target = target.movedim(1, -1)
        loss, key = self._bound(sparse, input.dtype)
        return _apply(loss, target, [input], self.reduction, names=("input",), key=key)


class CosineEmbeddingLoss(_TorchLoss):
    """``torch.nn.CosineEmbeddingLoss(margin=0.0, size_average, reduce, reduction)`` on the
    fastloss kernel: ``forward(input1, input2, target)``, target in {1, -1}; gradients
    flow into both inputs."""

    def __init__(self, margin=0.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin
        self._loss, self._lkey = self._bind("cosine_embedding", margin=margin)

    def forward(self, input1, input2, target):
        return _apply(self._loss, target, [input1, input2], self.reduction,
                      names=("input1", "input2"), key=self._lkey)


class TripletMarginLoss(_TorchLoss):
    """``torch.nn.TripletMarginLoss(margin=1.0, p=2.0, eps=1e-6, swap=False, size_average,
    reduce, reduction)`` on the fastloss kernel: ``forward(anchor, positive, negative)``;
    gradients flow into all three."""

    def __init__(self, margin=1.0, p=2.0, eps=1e-6, swap=False, size_average=None,
                 reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap
        self._loss, self._lkey = self._bind("triplet", margin=margin, p=p, eps=eps, swap=swap)

    def forward(self, anchor, positive, negative):
        return _apply(self._loss, None, [anchor, positive, negative], self.reduction,
                      names=("anchor", "positive", "negative"), key=self._lkey)
