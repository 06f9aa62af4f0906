"""The catalogue: one entry per loss, with its parameters, kernels, NumPy twin and aliases.

Adding a loss means adding its kernel (src/), its NumPy twin (fastloss/_numpy/), an entry
here and a row in the test battery - nothing else.
"""
from . import _validation as V
from ._loss import Loss, LossSpec, PairFamily, Param, Plan, SegmentationFamily, TripletFamily
from ._numpy import classification as npc
from ._numpy import embedding as npe
from ._numpy import regression as npr
from ._numpy import segmentation as nps

# Kernel ids: the enum at the top of src/fl_kernels.h.
MSE, MAE, HUBER, BCE_PROB, BCE_LOGIT, CCE_PROB, CCE_LOGIT, SCCE_PROB, SCCE_LOGIT = range(9)
CONTRASTIVE, TRIPLET, COSINE_EMBEDDING, TVERSKY_PROB, TVERSKY_LOGIT = range(40, 45)

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

# ---- metric learning and segmentation (kernels 40-59, src/fl_embedding_impl.h and
#      src/fl_segmentation_impl.h; NumPy twins in _numpy/embedding.py, _numpy/segmentation.py)

_MARGIN = Param("margin", 1.0, V.positive_float("margin"))
_SMOOTH = Param("smooth", 1.0, V.float_in("smooth", 0.0, float("inf")))
_CLASS_AXIS = Param("class_axis", None, V.optional_axis("class_axis"))


def _overlap_plan(numpy_fn, smooth, alpha, beta):
    return lambda p: Plan(TVERSKY_LOGIT if p["from_logits"] else TVERSKY_PROB,
                          (smooth(p), alpha(p), beta(p), 0.0), numpy_fn)


_OVERLAP_DOC = """With TP = sum t q, FP = sum (1 - t) q, FN = sum t (1 - q) over the sample's
    elements (q = y_pred, or sigmoid(y_pred) with from_logits=True, the gradient then being
    with respect to the logits).  Probabilities are used as given (not clipped).
    smooth (>= 0, default 1) keeps empty masks finite: with smooth=0 a sample with
    sum t = sum q = 0 gives NaN.  class_axis: None (default) scores each sample as one region;
    an int (-1 channels-last, 1 channels-first) scores each class over the other non-batch
    axes and averages the class scores."""

SPECS.extend([
    LossSpec(
        "contrastive", "pairwise",
        lambda p: Plan(CONTRASTIVE, (p["margin"], 0.0, 0.0, 0.0), npe.contrastive),
        params=[_MARGIN],
        family=PairFamily(V.unit_labels),
        doc="""Contrastive loss of embedding pairs: fl.contrastive(similar, x1, x2, margin=1.0).

    With d = ||x1 - x2||_2 per sample and similar = y in {0, 1} (1: similar pair, 0:
    dissimilar; values in between interpolate the two terms):

        l = y d^2 + (1 - y) max(0, margin - d)^2

    There is no factor 1/2 (Hadsell et al. put 1/2 on both terms and use Y = 0 for similar
    pairs; halve the loss to get theirs).  Gradients d/dx1 = -d/dx2; the hinge term's
    gradient is taken as 0 where d = 0 (its direction is undefined there).  margin > 0.
    Reference: Hadsell, Chopra, LeCun, "Dimensionality Reduction by Learning an Invariant
    Mapping", CVPR 2006; tensorflow_addons.losses.contrastive_loss (same form, on distances).""",
        aliases=("ContrastiveLoss", "contrastive_loss"),
    ),
    LossSpec(
        "triplet", "triplet",
        lambda p: Plan(TRIPLET, (p["margin"], p["p"], float(p["swap"]), p["eps"]), npe.triplet),
        params=[_MARGIN, Param("p", 2.0, V.float_in("p", 1.0, float("inf"))),
                Param("swap", False, V.boolean("swap")),
                Param("eps", 1e-6, V.float_in("eps", 0.0, float("inf")))],
        family=TripletFamily(),
        doc="""Triplet margin loss: fl.triplet(anchor, positive, negative, margin=1.0, p=2,
    swap=False, eps=1e-6).

        l = max(0, margin + d(a, p) - d(a, n)),    d(x, y) = ||x - y + eps||_p

    As PyTorch, eps is added to the difference inside the norm (pairwise_distance).  With
    swap=True, d(a, n) is replaced by min(d(a, n), d(p, n)) (the "distance swap" of Balntas
    et al.).  p: the norm degree, a number >= 1 (1 and 2 have fast paths).  margin > 0.
    Returns three gradients (anchor, positive, negative); the hinge's subgradient is 0 where
    l = 0, a distance's gradient 0 where it is 0.
    Reference: torch.nn.functional.triplet_margin_loss; Balntas et al., BMVC 2016.""",
        aliases=("triplet_margin", "TripletMarginLoss", "triplet_margin_loss", "triplet_loss"),
    ),
    LossSpec(
        "cosine_embedding", "pairwise",
        lambda p: Plan(COSINE_EMBEDDING, (p["margin"], npe.COSINE_EPS, 0.0, 0.0),
                       npe.cosine_embedding),
        params=[Param("margin", 0.0, V.float_in("margin", -1.0, 1.0))],
        family=PairFamily(V.sign_labels),
        doc="""Cosine embedding loss: fl.cosine_embedding(y, x1, x2, margin=0.0), y in {1, -1}.

        cos = <x1, x2> / sqrt((|x1|^2 + 1e-12) (|x2|^2 + 1e-12))
        l = 1 - cos               if y = 1
            max(0, cos - margin)  if y = -1

    The 1e-12 is PyTorch's.  margin in [-1, 1] (PyTorch suggests 0 to 0.5); labels other
    than 1 and -1 raise ValueError.  Returns two gradients (x1, x2).
    Reference: torch.nn.functional.cosine_embedding_loss.""",
        aliases=("CosineEmbeddingLoss", "cosine_embedding_loss"),
    ),
    LossSpec(
        "dice", "segmentation",
        _overlap_plan(nps.dice, lambda p: p["smooth"] / 2, lambda p: 0.5, lambda p: 0.5),
        params=[_SMOOTH, _FROM_LOGITS, _CLASS_AXIS],
        family=SegmentationFamily(),
        doc=f"""Soft Dice loss, one per sample: fl.dice(y_true, y_pred, smooth=1.0,
    from_logits=False, class_axis=None).

        l = 1 - (2 TP + smooth) / (sum t + sum q + smooth)
    {_OVERLAP_DOC}
    Reference: Milletari et al., V-Net, 2016; keras.losses.Dice, which has no smooth (an
    epsilon in the denominator only) and by default pools the whole batch into one score.""",
        aliases=("Dice", "DiceLoss", "dice_loss", "soft_dice"),
    ),
    LossSpec(
        "iou", "segmentation",
        _overlap_plan(nps.iou, lambda p: p["smooth"], lambda p: 1.0, lambda p: 1.0),
        params=[_SMOOTH, _FROM_LOGITS, _CLASS_AXIS],
        family=SegmentationFamily(),
        doc=f"""Soft IoU (Jaccard) loss, one per sample: fl.iou(y_true, y_pred, smooth=1.0,
    from_logits=False, class_axis=None).

        l = 1 - (TP + smooth) / (sum t + sum q - TP + smooth)
    {_OVERLAP_DOC}
    Reference: https://en.wikipedia.org/wiki/Jaccard_index (soft version: the products and
    sums of probabilities replace the set operations); Rahman & Wang, ISVC 2016.""",
        aliases=("IoULoss", "iou_loss", "jaccard", "soft_jaccard", "JaccardLoss",
                 "jaccard_loss"),
    ),
    LossSpec(
        "tversky", "segmentation",
        _overlap_plan(nps.tversky, lambda p: p["smooth"], lambda p: p["alpha"],
                      lambda p: p["beta"]),
        params=[Param("alpha", 0.5, V.float_in("alpha", 0.0, float("inf"))),
                Param("beta", 0.5, V.float_in("beta", 0.0, float("inf"))),
                _SMOOTH, _FROM_LOGITS, _CLASS_AXIS],
        family=SegmentationFamily(),
        doc=f"""Tversky loss, one per sample: fl.tversky(y_true, y_pred, alpha=0.5, beta=0.5,
    smooth=1.0, from_logits=False, class_axis=None).

        l = 1 - (TP + smooth) / (TP + alpha FP + beta FN + smooth)
    alpha weighs false positives, beta false negatives (both >= 0); alpha = beta = 1/2 is
    Dice with smooth / 2, alpha = beta = 1 is IoU.
    {_OVERLAP_DOC}
    Reference: Salehi et al., "Tversky loss function for image segmentation", 2017.
    keras.losses.Tversky documents the same roles but its code applies alpha to
    sum t (1 - q) (false negatives): keras Tversky(alpha=a, beta=b) is fl.tversky(alpha=b,
    beta=a) with smooth -> an epsilon, pooled over the whole batch.""",
        aliases=("Tversky", "TverskyLoss", "tversky_loss"),
    ),
])

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


def register(spec, replace=False):
    """Add a loss and its aliases to the catalogue (used by ``fastloss.custom``).

    A name (or alias) already taken raises ValueError, unless ``replace=True`` and it belongs
    to an earlier custom loss of the same name, which is then replaced.  Catalogue losses are
    never replaced.
    """
    names = (spec.name,) + tuple(spec.aliases)
    for name in names:
        taken = _LOOKUP.get(name) or _LOOKUP.get(_key(name))
        if taken is not None and not (replace and taken[0] == spec.name
                                      and REGISTRY[spec.name].kind == "custom"):
            raise ValueError(f"a loss named {name!r} already exists ({taken[0]}); choose "
                             f"another name" + ("" if REGISTRY[taken[0]].kind != "custom"
                                                else " or pass replace=True"))
    if spec.name in REGISTRY:
        unregister(spec.name)
    SPECS.append(spec)
    REGISTRY[spec.name] = spec
    for name in names:
        _LOOKUP[name] = (spec.name, {})
        _LOOKUP.setdefault(_key(name), (spec.name, {}))


def unregister(name):
    """Remove a custom loss (and its aliases) from the catalogue."""
    spec = REGISTRY.get(name)
    if spec is None or spec.kind != "custom":
        raise ValueError(f"{name!r} is not a registered custom loss")
    SPECS.remove(spec)
    del REGISTRY[name]
    for key in [k for k, (target, _) in _LOOKUP.items() if target == name]:
        del _LOOKUP[key]


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
