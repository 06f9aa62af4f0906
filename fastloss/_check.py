"""fastloss.check_grad: any loss's gradient against central finite differences."""
from typing import NamedTuple

import numpy as np

from ._loss import FamilyLoss, Loss


class GradCheck(NamedTuple):
    """What :func:`check_grad` found.

    ok             max_rel_error <= rtol
    max_rel_error  the worst, over the differentiated inputs, of
                   max_i |analytic_i - numeric_i| / max_i max(|analytic_i|, |numeric_i|):
                   the largest discrepancy relative to the gradient's largest entry (a
                   norm-wise relative error, which finite-difference noise on entries near 0
                   cannot inflate)
    argument       name of the input where the worst element is ("y_pred", "anchor", ...)
    index          that element's index in its input
    analytic       the loss's gradient there
    numeric        the finite-difference estimate there
    n_checked      how many elements were perturbed (over all inputs)
    """
    ok: bool
    max_rel_error: float
    argument: str
    index: tuple
    analytic: float
    numeric: float
    n_checked: int


def check_grad(loss, *inputs, eps=1e-6, rtol=1e-5, max_elements=1000, seed=0, **kwargs):
    """Compare ``loss.grad(*inputs, **kwargs)`` with central finite differences.

    loss: a fastloss loss object (built-in, multi-input or custom) or a registered name.
    inputs: its array arguments, in call order.  Every differentiated input (y_pred; x1 and
        x2; anchor, positive and negative ...) is checked.  They are converted to float64 for
        the check, so a float32 call is checked through its float64 twin.
    kwargs: passed to every call (reduction, sample_weight, loss parameters ...).  With
        reduction="none" the function differentiated is the sum of the per-sample losses,
        which is what ``grad`` returns the gradient of.
    eps: relative step, h = eps * max(1, |x|).  rtol: threshold for ``ok``.
    max_elements: per input, at most this many elements (drawn with ``seed``) are perturbed;
        each costs two evaluations of the loss.

    Returns a :class:`GradCheck` (a named tuple).  Kinks (hinges, |x|) within h of an element
    make its finite difference meaningless; check at points away from them.
    """
    if isinstance(loss, str):
        from ._registry import get
        loss = get(loss)
    if not isinstance(loss, Loss):
        raise TypeError(f"check_grad needs a fastloss loss (or its name), got {loss!r}")
    if "out" in kwargs:
        raise TypeError("check_grad does not take out=")
    names = loss.inputs if isinstance(loss, FamilyLoss) else ("y_true", "y_pred")
    n_preds = loss.spec.family.n_preds if isinstance(loss, FamilyLoss) else 1
    if len(inputs) != len(names):
        raise TypeError(f"{loss.name} takes {len(names)} arrays ({', '.join(names)}), "
                        f"got {len(inputs)}")
    first = len(names) - n_preds
    args = list(inputs)
    for j in range(first, len(names)):
        x = np.asarray(args[j])
        if x.dtype.kind not in "fiub":
            raise TypeError(f"{names[j]} must hold real numbers; got dtype {x.dtype}")
        args[j] = np.array(x, dtype=np.float64)          # a copy we may perturb

    analytic = loss.grad(*args, **kwargs)
    if n_preds == 1:
        analytic = (analytic,)

    def f():
        return float(np.sum(loss(*args, **kwargs)))

    rng = np.random.default_rng(seed)
    worst = None
    n_checked = 0
    for j, grad in zip(range(first, len(names)), analytic):
        x = args[j]
        flat = x.reshape(-1)                              # a view: x is our C-ordered copy
        picked = np.arange(flat.size) if flat.size <= max_elements else \
            np.sort(rng.choice(flat.size, size=max_elements, replace=False))
        numeric = np.empty(picked.size)
        for m, i in enumerate(picked):
            old = flat[i]
            h = eps * max(1.0, abs(old))
            flat[i] = old + h
            up = f()
            flat[i] = old - h
            down = f()
            flat[i] = old
            numeric[m] = (up - down) / ((old + h) - (old - h))
        n_checked += picked.size
        a = np.asarray(grad, dtype=np.float64).reshape(-1)[picked]
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = np.max(np.maximum(np.abs(a), np.abs(numeric)), initial=0.0)
            err = np.abs(a - numeric) / (scale if scale > 0 else 1.0)
        err = np.where(np.isnan(err), np.inf, err)        # NaN is the worst there is
        m = int(np.argmax(err))
        if worst is None or err[m] > worst[0]:
            e = float(err[m])
            worst = (e, names[j], np.unravel_index(picked[m], x.shape), float(a[m]),
                     float(numeric[m]))
    e, argument, index, a_val, n_val = worst
    rel = float("nan") if e == np.inf else e
    return GradCheck(bool(e <= rtol), rel, argument, tuple(int(i) for i in index), a_val,
                     n_val, n_checked)
