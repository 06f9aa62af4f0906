"""The catalogue: one entry per loss, with its parameters, kernels, NumPy twin and aliases.

Adding a loss means adding its kernel (src/), its NumPy twin (fastloss/_numpy/), an entry
here and a row in the test battery - nothing else.
"""
from . import _validation as V
from ._loss import Loss, LossSpec, Param, Plan
from ._numpy import classification as npc
from ._numpy import regression as npr

# Kernel ids: the enum at the top of src/fl_kernels.h.
MSE, MAE, HUBER, BCE_PROB, BCE_LOGIT, CCE_PROB, CCE_LOGIT, SCCE_PROB, SCCE_LOGIT = range(9)

_FROM_LOGITS = Param("from_logits", False, V.boolean("from_logits"))
_SMOOTHING = Param("label_smoothing", 0.0, V.unit_interval("label_smoothing"))
_EPS = Param("eps", None, V.optional_eps("eps"))
_CLASS_WEIGHT = Param("class_weight", None, V.optional_class_weight("class_weight"))
_IGNORE = Param("ignore_index", None, V.optional_int("ignore_index"))

_EPS_DOC = """eps: probability inputs are clipped to [eps, 1 - eps]; None (default) means the
    machine epsilon of the computation dtype (1.19e-07 for float32, 2.2e-16 for float64).
    The gradient is that of the clipped function (0 where the clip binds)."""

SPECS = [
    LossSpec(
        "mse", "elementwise",
        lambda p: Plan(MSE, (0.0, 0.0, 0.0, 0.0), npr.mse),
        doc="""Mean squared error: l = mean_k (y_pred - y_true)^2.

    Per element (p - t)^2, gradient 2 (p - t).  Reference: torch.nn.functional.mse_loss.""",
        aliases=("mean_squared_error", "MeanSquaredError", "MSELoss", "l2_loss"),
    ),
    LossSpec(
        "mae", "elementwise",
        lambda p: Plan(MAE, (0.0, 0.0, 0.0, 0.0), npr.mae),
        doc="""Mean absolute error: l = mean_k |y_pred - y_true|.

    Gradient sign(p - t), with the subgradient 0 at p == t.
    Reference: torch.nn.functional.l1_loss.""",
        aliases=("mean_absolute_error", "MeanAbsoluteError", "L1Loss", "l1_loss"),
    ),
    LossSpec(
        "huber", "elementwise",
        lambda p: Plan(HUBER, (p["delta"], 0.0, 0.0, 0.0), npr.huber),
        params=[Param("delta", 1.0, V.positive_float("delta"))],
        doc="""Huber loss with threshold ``delta`` (> 0), d = y_pred - y_true:

        0.5 d^2                     if |d| <= delta
        delta (|d| - 0.5 delta)     otherwise

    Gradient d, or delta sign(d).  Reference: torch.nn.functional.huber_loss;
    https://en.wikipedia.org/wiki/Huber_loss""",
        aliases=("Huber", "HuberLoss", "huber_loss"),
    ),
    LossSpec(
        "binary_cross_entropy", "elementwise",
        lambda p: (Plan(BCE_LOGIT, (0.0, p["label_smoothing"], 0.0, 0.0), npc.bce_logit)
                   if p["from_logits"] else
                   Plan(BCE_PROB, (p["eps"], p["label_smoothing"], 0.0, 0.0), npc.bce_prob)),
        params=[_FROM_LOGITS, _SMOOTHING, _EPS],
        doc=f"""Binary cross-entropy, 1-D or multi-label (N, K) (mean over the last axis).

    With smoothed targets t' = t (1 - s) + s / 2 (s = label_smoothing):
      from_logits=True:  l = t' softplus(-z) + (1 - t') softplus(z),  grad sigmoid(z) - t'
                         (log-domain: never log(sigmoid(z)); +-inf logits give exact limits)
      from_logits=False: l = -(t' log q + (1 - t') log(1 - q)),  q = clip(p, eps, 1 - eps)
    {_EPS_DOC}
    Reference: torch.nn.functional.binary_cross_entropy(_with_logits); Keras BinaryCrossentropy.""",
        aliases=("binary_crossentropy", "BinaryCrossentropy", "BCELoss", "bce"),
    ),
    LossSpec(
        "categorical_cross_entropy", "categorical",
        lambda p: (Plan(CCE_LOGIT, (0.0, p["label_smoothing"], 0.0, 0.0), npc.cce_logit)
                   if p["from_logits"] else
                   Plan(CCE_PROB, (p["eps"], p["label_smoothing"], 0.0, 0.0), npc.cce_prob)),
        params=[_FROM_LOGITS, _SMOOTHING, _EPS, _CLASS_WEIGHT],
        doc=f"""Categorical cross-entropy with probability-row targets (one-hot or soft).

    y_true and y_pred have shape (..., C); the per-sample loss sums over the class axis.
    Smoothed targets t' = t (1 - s) + s / C.
      from_logits=True:  l = sum_k t'_k (logsumexp(z) - z_k),  grad (sum_k t'_k) softmax(z) - t'
                         (max-subtracted log-sum-exp; a -inf logit where t'_k = 0 adds 0)
      from_logits=False: l = -sum_k t'_k log clip(p_k, eps, 1 - eps); rows are used as given
                         (not renormalised)
    {_EPS_DOC}
    class_weight (C,): acts as the sample weight sum_k w_k t_k (= w[y] for one-hot rows) and
    multiplies the whole (smoothed) per-sample loss.
    Reference: torch.nn.functional.cross_entropy with probability targets; Keras
    CategoricalCrossentropy.""",
        aliases=("categorical_crossentropy", "CategoricalCrossentropy", "cce"),
    ),
    LossSpec(
        "sparse_categorical_cross_entropy", "sparse",
        lambda p: (Plan(SCCE_LOGIT, (0.0, p["label_smoothing"], 0.0, 0.0), npc.scce_logit)
                   if p["from_logits"] else
                   Plan(SCCE_PROB, (p["eps"], p["label_smoothing"], 0.0, 0.0), npc.scce_prob)),
        params=[_FROM_LOGITS, _SMOOTHING, _EPS, _IGNORE, _CLASS_WEIGHT],
        doc=f"""Cross-entropy with integer class labels (any integer dtype).

    y_pred has shape (..., C), labels y_true shape (...); t' = (1 - s) onehot(y) + s / C.
      from_logits=True:  l = logsumexp(z) - sum_k t'_k z_k,  grad softmax(z) - t'
      from_logits=False: l = -sum_k t'_k log clip(p_k, eps, 1 - eps)
    ignore_index: samples with this label contribute 0 and are not counted; a label outside
    [0, C) that is not ignore_index raises ValueError.
    class_weight (C,): sample weight w[y_i]; "mean" divides by sum_i w[y_i] (PyTorch's rule).
    With label_smoothing the class weight multiplies the whole smoothed per-sample loss
    (PyTorch instead weights each smoothing term by its own class's weight).
    {_EPS_DOC}
    Reference: torch.nn.functional.cross_entropy; Keras SparseCategoricalCrossentropy.""",
        aliases=("sparse_categorical_crossentropy", "SparseCategoricalCrossentropy",
                 "scce"),
    ),
]

# Names from other libraries that imply parameter values.
ALIASES_WITH_PARAMS = {
    "BCEWithLogitsLoss": ("binary_cross_entropy", {"from_logits": True}),
    "binary_cross_entropy_with_logits": ("binary_cross_entropy", {"from_logits": True}),
    "sigmoid_binary_cross_entropy": ("binary_cross_entropy", {"from_logits": True}),
    "softmax_cross_entropy": ("categorical_cross_entropy", {"from_logits": True}),
    "CrossEntropyLoss": ("sparse_categorical_cross_entropy",
                         {"from_logits": True, "ignore_index": -100}),
    "cross_entropy": ("sparse_categorical_cross_entropy",
                      {"from_logits": True, "ignore_index": -100}),
    "softmax_cross_entropy_with_integer_labels": ("sparse_categorical_cross_entropy",
                                                  {"from_logits": True}),
}

REGISTRY = {spec.name: spec for spec in SPECS}
_LOOKUP = {}


def _key(name):
    return name.replace("_", "").replace("-", "").lower()


def _register_names():
    for spec in SPECS:
        for name in (spec.name,) + tuple(spec.aliases):
            _LOOKUP[name] = (spec.name, {})
    for alias, target in ALIASES_WITH_PARAMS.items():
        _LOOKUP[alias] = target
    for name, target in list(_LOOKUP.items()):
        _LOOKUP.setdefault(_key(name), target)


_register_names()


def register(spec):
    """Add a loss to the catalogue (used by ``fastloss.custom``)."""
    if spec.name in _LOOKUP or _key(spec.name) in _LOOKUP:
        raise ValueError(f"a loss named {spec.name!r} already exists")
    SPECS.append(spec)
    REGISTRY[spec.name] = spec
    _LOOKUP[spec.name] = (spec.name, {})
    _LOOKUP.setdefault(_key(spec.name), (spec.name, {}))


def available():
    """Canonical names of every loss, in catalogue order."""
    return [spec.name for spec in SPECS]


def get(name, **params):
    """The loss called ``name`` (its own name, or a Keras / PyTorch / optax alias), bound to
    ``params``.  Aliases such as ``BCEWithLogitsLoss`` also set the parameters they imply."""
    if isinstance(name, Loss):
        return Loss(name.spec, **{**name.params, **params}) if params else name
    if not isinstance(name, str):
        raise ValueError(f"loss name must be a string, got {name!r}")
    target = _LOOKUP.get(name) or _LOOKUP.get(_key(name))
    if target is None:
        raise ValueError(f"unknown loss {name!r}; known losses: {', '.join(available())} "
                         f"(aliases: {', '.join(sorted(k for k in _LOOKUP if '_' in k or k[0].isupper()))})")
    canonical, implied = target
    return Loss(REGISTRY[canonical], **{**implied, **params})
