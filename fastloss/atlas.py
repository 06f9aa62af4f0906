"""The loss atlas: every registered loss and its derivative, one panel per loss.

    python -m fastloss atlas --out atlas.png          # the figure (needs matplotlib)

    from fastloss import atlas
    for curve in atlas.curves():                      # the numbers behind it (NumPy only)
        print(curve.name, curve.x[curve.value.argmin()])

The panels are drawn from the registry (``fastloss.available()``), so a new loss appears by
itself.  Each loss is evaluated along a one-parameter path of predictions ``s`` for a fixed
target, chosen by the loss's kind:

=============  =====================================================================
elementwise    target 1, prediction ``s`` (a logit when the loss has ``from_logits``)
categorical    target class 0 of 3; logits ``(s, 0, 0)``, or probabilities
               ``(s, (1 - s)/2, (1 - s)/2)`` for losses that take only probabilities
sparse         label 0 of 3; logits ``(s, 0, 0)``
pairwise       label 1 (similar); unit vectors ``x1`` at angle ``s`` from ``x2 = (1, 0)``
triplet        anchor at 0, positive at distance 1, negative at distance ``s``
segmentation   mask ``(1, 1, 0, 0)``; logits ``s·(1, 1, −1, −1)``
=============  =====================================================================

A loss with a ``from_logits`` parameter is drawn with ``from_logits=True``; every other
parameter keeps its default (switches that are on, such as Poisson's ``log_input=True``, are
named under the panel's title).  The derivative drawn is ``d loss / d s`` along the path, that is
the gradient that ``value_and_grad`` returns, projected on the direction in which the path
moves the prediction (for elementwise losses it is simply ``d loss / d prediction``).

matplotlib is imported only by :func:`draw`.
"""
from typing import NamedTuple

import numpy as np

from . import _registry

#: Points per curve.
POINTS = 401


class Curve(NamedTuple):
    """One panel: the loss ``value`` and its derivative ``slope`` at the path points ``x``."""
    name: str
    kind: str
    x: np.ndarray
    value: np.ndarray
    slope: np.ndarray
    xlabel: str
    setup: str          # the target and parameters, as written under the panel's title


class _Path(NamedTuple):
    x: np.ndarray       # the path parameter s
    arrays: tuple       # the loss's array arguments, a batch of len(x) samples
    tangents: dict      # index into the gradient tuple -> d(prediction input)/ds
    xlabel: str
    setup: str


def _grid(lo, hi):
    return np.linspace(lo, hi, POINTS)


# Per-loss choices the kind's default does not make well: a range that shows the shape, or a
# target that is not one-hot.  Anything not listed here gets its kind's default.
_RANGES = {"poisson": (-2.0, 2.0)}
_SOFT_TARGETS = {"kl_divergence": (0.6, 0.2, 0.2)}


def _elementwise_paths(name, logits):
    """Candidate paths, tried in order: the first one the loss accepts is drawn (a loss
    whose domain is the positive numbers or [0, 1] raises ValueError on the real line)."""
    if logits:
        grids = [(_grid(-6.0, 6.0), "logit z")]
    else:
        lo, hi = _RANGES.get(name, (-2.0, 4.0))
        grids = [(_grid(lo, hi), "prediction p"), (_grid(0.0, 4.0)[1:], "prediction p"),
                 (_grid(0.0, 1.0)[1:-1], "probability p")]
    for s, label in grids:
        yield _Path(s, (np.ones_like(s), s), {0: np.ones_like(s)}, label, "y = 1")


def _categorical_paths(name, logits, sparse):
    if sparse:
        target, shown = np.zeros(POINTS, dtype=np.int64), "label 0 of 3"
    else:
        row = _SOFT_TARGETS.get(name, (1.0, 0.0, 0.0))
        target = np.tile(np.asarray(row), (POINTS, 1))
        shown = f"y = ({', '.join(f'{v:g}' for v in row)})"
    s = _grid(-6.0, 6.0)
    z = np.zeros((POINTS, 3))
    z[:, 0] = s
    tangent = np.zeros((POINTS, 3))
    tangent[:, 0] = 1.0
    yield _Path(s, (target, z), {0: tangent}, "logit z₀ (others 0)", shown)
    if not logits:                       # losses of probabilities: q = (s, (1-s)/2, (1-s)/2)
        s = _grid(0.05, 0.95)
        q = np.column_stack([s, (1 - s) / 2, (1 - s) / 2])
        tangent = np.tile([1.0, -0.5, -0.5], (POINTS, 1))
        yield _Path(s, (target, q), {0: tangent}, "probability q₀ (rest shared)", shown)


def _pairwise_paths():
    theta = _grid(0.0, np.pi)
    x1 = np.column_stack([np.cos(theta), np.sin(theta)])
    x2 = np.tile([1.0, 0.0], (POINTS, 1))
    tangent = np.column_stack([-np.sin(theta), np.cos(theta)])
    yield _Path(theta, (np.ones(POINTS), x1, x2), {0: tangent},
                "angle between x1 and x2 (rad)", "y = 1 (similar)")


def _triplet_paths():
    s = _grid(0.0, 3.0)[1:]              # not 0: there the distance has no direction
    n = len(s)
    anchor = np.zeros((n, 2))
    positive = np.tile([1.0, 0.0], (n, 1))
    negative = np.column_stack([np.zeros(n), s])
    tangent = np.tile([0.0, 1.0], (n, 1))
    yield _Path(s, (anchor, positive, negative), {2: tangent}, "distance anchor–negative",
                "‖anchor − positive‖ = 1")


def _segmentation_paths(logits):
    mask = np.array([1.0, 1.0, 0.0, 0.0])
    direction = 2 * mask - 1             # towards the mask: up where it is 1, down where 0
    if logits:
        s, label = _grid(-4.0, 4.0), "logit margin z"
        pred = s[:, None] * direction
        tangent = np.tile(direction, (POINTS, 1))
    else:
        s, label = _grid(0.0, 1.0), "probability on the mask p"
        pred = s[:, None] * mask + (1 - s[:, None]) * (1 - mask)
        tangent = np.tile(direction, (POINTS, 1))
    yield _Path(s, (np.tile(mask, (POINTS, 1)), pred), {0: tangent}, label,
                "mask (1, 1, 0, 0)")


def _paths(name, loss):
    kind = loss.spec.kind
    logits = "from_logits" in loss.params
    if kind in ("elementwise", "custom"):
        return _elementwise_paths(name, logits)
    if kind in ("categorical", "sparse"):
        return _categorical_paths(name, logits, kind == "sparse")
    if kind == "pairwise":
        return _pairwise_paths()
    if kind == "triplet":
        return _triplet_paths()
    if kind == "segmentation":
        return _segmentation_paths(logits)
    raise ValueError(f"the loss atlas has no path for loss {name!r} of kind {kind!r}: add "
                     f"one to fastloss/atlas.py")


def curve(name):
    """The :class:`Curve` of the loss called ``name`` (a registered name or alias)."""
    loss = _registry.get(name)
    if "from_logits" in loss.params:
        loss = _registry.get(loss, from_logits=True)
    errors = []
    for path in _paths(loss.name, loss):
        try:
            value, grads = loss.value_and_grad(*path.arrays, reduction="none")
        except ValueError as exc:        # outside the loss's domain: the next candidate
            errors.append(str(exc))
            continue
        grads = grads if isinstance(grads, tuple) else (grads,)
        n = len(path.x)
        slope = np.zeros(n)
        for index, tangent in path.tangents.items():
            g = np.asarray(grads[index], dtype=np.float64).reshape(n, -1)
            slope += (g * tangent.reshape(n, -1)).sum(axis=1)
        # the switches that say what the prediction is (from_logits, log_input ...)
        switches = [f"{k}=True" for k, v in loss.params.items() if v is True]
        setup = ", ".join([path.setup] + switches)
        return Curve(loss.name, loss.spec.kind, path.x, np.asarray(value, np.float64), slope,
                     path.xlabel, setup)
    raise ValueError(f"the loss atlas found no input {name!r} accepts: {'; '.join(errors)}")


def curves(names=None):
    """One :class:`Curve` per loss: ``names``, or every loss of the registry in catalogue
    order (losses registered with :func:`fastloss.custom` included)."""
    return [curve(n) for n in (_registry.available() if names is None else names)]


def draw(out, names=None, columns=6, dpi=72):
    """Draw the atlas of ``names`` (default: every registered loss) into the file ``out``
    (PNG, SVG, PDF ... by its extension) and return the curves drawn."""
    # The object-oriented interface, not pyplot: no GUI backend, no global figure state,
    # so it works headless and inside other programs.
    from matplotlib.figure import Figure

    drawn = curves(names)
    rows = -(-len(drawn) // columns)
    fig = Figure(figsize=(2.6 * columns, 2.25 * rows))
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.flat[len(drawn):]:
        ax.set_visible(False)
    for ax, c in zip(axes.flat, drawn):
        ax.axhline(0.0, color="0.8", lw=0.8)
        ax.plot(c.x, c.value, color="C0", lw=1.8, label="loss")
        ax.plot(c.x, c.slope, color="C3", lw=1.2, ls="--", label="d loss / d x")
        both = np.concatenate([c.value, c.slope])
        both = both[np.isfinite(both)]
        lo, hi = np.percentile(both, [1, 99])
        pad = 0.08 * max(hi - lo, 1e-6)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_title(f"{c.name}\n{c.setup}", fontsize=8.5)
        ax.set_xlabel(c.xlabel, fontsize=7.5, labelpad=1)
        ax.tick_params(labelsize=7, pad=1)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", ncol=2, fontsize=9, frameon=False)
    fig.suptitle("fastloss: every registered loss (solid) and its derivative along x "
                 "(dashed)", fontsize=11, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.97), h_pad=0.6, w_pad=0.4)
    fig.savefig(out, dpi=dpi)
    return drawn
