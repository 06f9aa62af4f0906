"""fastloss inside JAX: a loss function that jit, grad and vmap go through.

    import fastloss.jax as flj
    loss_fn = flj.get("softmax_cross_entropy_with_integer_labels")   # optax's name
    loss, grads = jax.value_and_grad(lambda w: loss_fn(labels, x @ w))(w)

How it works.  ``get`` returns a ``jax.custom_vjp`` function.  Its forward calls the fused
fastloss kernel once on the host through ``jax.pure_callback`` (so it works under
``jax.jit``), returns the loss and keeps the gradient it computed as the residual; the
backward pass multiplies that gradient by the cotangent (per sample for
``reduction="none"``, where the kept gradient is each sample's own derivative).  Without
differentiation only the loss is computed.  Under ``jax.vmap`` the callback runs once per
mapped element (``vmap_method="sequential"``): each element is its own batch with its own
reduction, as a Python loop would give.

Rules: the arguments are fastloss's, in fastloss's order (``(y_true, y_pred)``; pairwise
``(y_true, x1, x2)``; triplet ``(anchor, positive, negative)``), with ``sample_weight=`` as
a keyword; the reduction is chosen in ``get`` (default "mean"; optax's losses return
per-sample values, i.e. ``reduction="none"``).  The target and the sample weight are
constants: their cotangent is zero (``jax.lax.stop_gradient``), whatever the loss.  Inputs
must be on the CPU (the host callback copies device arrays otherwise).  float32 and
float64 are computed natively, float16 in float32, bfloat16 is converted to float32 and
back; other prediction dtypes raise ``TypeError`` naming the argument.
"""
import jax
import jax.numpy as jnp
import numpy as np

from . import _registry
from ._loss import per_sample_shape as _per_shape

__all__ = ["get"]

_REDUCTIONS = ("mean", "sum", "none", "sum_over_batch_size")




def get(name, reduction="mean", n_threads=None, **params):
    """The fastloss loss ``name`` (any name ``fastloss.get`` resolves, with ``params``) as a
    JAX function ``f(*arrays, sample_weight=None)`` returning the loss reduced by
    ``reduction`` ("mean", "sum", "none", "sum_over_batch_size").  ``n_threads`` is
    fastloss's (the kernel runs on a thread of XLA's, where ``threadpoolctl`` limits set in
    your thread do not apply: pass it here to limit the kernel's threads)."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(map(repr, _REDUCTIONS))}, "
                         f"got {reduction!r}")
    loss = _registry.get(name, **params)
    family = loss.spec.family
    n_inputs = len(family.inputs)
    n_preds = family.n_preds
    pred_names = family.inputs[n_inputs - n_preds:]

    def host_value(target, preds, sw):
        arrays = ([] if target is None else [np.asarray(target)]) + [np.asarray(p) for p in preds]
        value = loss(*arrays, reduction=reduction, n_threads=n_threads,
                     sample_weight=None if sw is None else np.asarray(sw))
        return np.asarray(value, dtype=np.asarray(preds[0]).dtype)

    def host_value_and_grad(target, preds, sw):
        arrays = ([] if target is None else [np.asarray(target)]) + [np.asarray(p) for p in preds]
        value, grads = loss.value_and_grad(
            *arrays, reduction=reduction, n_threads=n_threads,
            sample_weight=None if sw is None else np.asarray(sw))
        if n_preds == 1:
            grads = (grads,)
        dtype = np.asarray(preds[0]).dtype
        return np.asarray(value, dtype=dtype), tuple(np.asarray(g, dtype=dtype) for g in grads)

    def value_struct(preds):
        shape = _per_shape(loss, preds[0].shape) if reduction == "none" else ()
        return jax.ShapeDtypeStruct(shape, preds[0].dtype)

    @jax.custom_vjp
    def fused(target, preds, sw):
        return jax.pure_callback(host_value, value_struct(preds), target, preds, sw,
                                 vmap_method="sequential")

    def fused_fwd(target, preds, sw):
        structs = (value_struct(preds),
                   tuple(jax.ShapeDtypeStruct(p.shape, p.dtype) for p in preds))
        value, grads = jax.pure_callback(host_value_and_grad, structs, target, preds, sw,
                                         vmap_method="sequential")
        return value, grads

    def fused_bwd(grads, cotangent):
        if reduction == "none":
            scaled = tuple(g * cotangent.reshape(cotangent.shape + (1,) * (g.ndim - cotangent.ndim))
                           for g in grads)
        else:
            scaled = tuple(g * cotangent for g in grads)
        return None, scaled, None

    fused.defvjp(fused_fwd, fused_bwd)

    def fn(*arrays, sample_weight=None):
        if len(arrays) != n_inputs:
            raise TypeError(f"{loss.name} takes {n_inputs} arrays ({', '.join(family.inputs)}), "
                            f"got {len(arrays)}")
        target = None if n_preds == n_inputs else jax.lax.stop_gradient(jnp.asarray(arrays[0]))
        preds = [jnp.asarray(a) for a in arrays[n_inputs - n_preds:]]
        dtype = preds[0].dtype
        for p, pname in zip(preds, pred_names):
            if not jnp.issubdtype(p.dtype, jnp.floating):
                raise TypeError(f"{pname} has dtype {p.dtype}; fastloss.jax takes float32 or "
                                f"float64 predictions (float16, bfloat16 via float32)")
            dtype = jnp.promote_types(dtype, p.dtype)
        compute = jnp.float32 if dtype == jnp.bfloat16 else dtype
        preds = tuple(p.astype(compute) for p in preds)
        sw = None if sample_weight is None else jax.lax.stop_gradient(jnp.asarray(sample_weight))
        value = fused(target, preds, sw)
        return value.astype(dtype) if compute != dtype else value

    fn.__name__ = fn.__qualname__ = loss.name
    fn.__doc__ = (f"fastloss.jax.get({name!r}, reduction={reduction!r}): {loss.name} as a "
                  f"JAX function of ({', '.join(family.inputs)}) with jit, grad and vmap.\n\n"
                  + loss.__doc__)
    fn.loss = loss
    fn.reduction = reduction
    return fn
