"""The catalogue: one entry per loss, with its parameters, kernels, NumPy twin and aliases.

Adding a loss means adding its kernel (src/), its NumPy twin (fastloss/_numpy/), an entry
here and a row in the test battery - nothing else.
"""
import numpy as np

from . import _config
from . import _validation as V
from ._loss import Loss, LossSpec, PairFamily, Param, Plan, SegmentationFamily, TripletFamily
from ._numpy import classification as npc
from ._numpy import distribution as npd
from ._numpy import embedding as npe
from ._numpy import regression as npr
from ._numpy import segmentation as nps

# Kernel ids by name, from the FL_KERNELS X-macro in src/fl_kernels.h (the compiled module's
# KERNELS table): nothing here hard-codes a number.  Without the compiled module the names
# stand in for the ids (only the NumPy twins run then).
_KERNEL_IDS = getattr(_config._kernels, "KERNELS", None)


def kernel(name):
    """The id of the compiled kernel ``name`` (its NAME in the X-macro)."""
    if _KERNEL_IDS is None:
        return name
    try:
        return _KERNEL_IDS[name]
    except KeyError:
        raise ValueError(f"no compiled kernel named {name!r}; the X-macro in "
                         f"src/fl_kernels.h lists them") from None


(MSE, MAE, HUBER, BCE_PROB, BCE_LOGIT, CCE_PROB, CCE_LOGIT, SCCE_PROB, SCCE_LOGIT,
 CONTRASTIVE, TRIPLET, COSINE_EMBEDDING, TVERSKY_PROB, TVERSKY_LOGIT,
 SMOOTH_L1, LOG_COSH, QUANTILE, POISSON_LOG, POISSON_RATE, MSLE, MAPE, BINARY_FOCAL_PROB,
 BINARY_FOCAL_LOGIT, CATEGORICAL_FOCAL_PROB, CATEGORICAL_FOCAL_LOGIT, HINGE, SQUARED_HINGE,
 CATEGORICAL_HINGE, KL_PROB, KL_LOG) = map(kernel, (
    "mse", "mae", "huber", "bce_prob", "bce_logit", "cce_prob", "cce_logit", "scce_prob",
    "scce_logit", "contrastive", "triplet", "cosine_embedding", "tversky_prob",
    "tversky_logit", "smooth_l1", "log_cosh", "quantile", "poisson_log", "poisson_rate",
    "msle", "mape", "binary_focal_prob", "binary_focal_logit", "categorical_focal_prob",
    "categorical_focal_logit", "hinge", "squared_hinge", "categorical_hinge", "kl_prob",
    "kl_log"))
PSEUDO_HUBER = kernel("pseudo_huber")
#: Kernels whose y_pred holds probabilities: a value outside [0, 1] raises ValueError.
PROBABILITY_KERNELS = frozenset({BCE_PROB, CCE_PROB, SCCE_PROB, BINARY_FOCAL_PROB,
                                 CATEGORICAL_FOCAL_PROB, KL_PROB, TVERSKY_PROB})

#: Kernels that also give the diagonal second derivative (.hess, .value_grad_hess): the
#: FL_HESSIAN_KERNELS list of src/fl_kernels.h (a test keeps the two equal).
HESSIAN_KERNELS = frozenset({MSE, MAE, HUBER, BCE_PROB, BCE_LOGIT, CCE_PROB, CCE_LOGIT,
                             SCCE_PROB, SCCE_LOGIT, SMOOTH_L1, LOG_COSH, QUANTILE, POISSON_LOG,
                             POISSON_RATE, MSLE, MAPE, BINARY_FOCAL_PROB, BINARY_FOCAL_LOGIT,
                             CATEGORICAL_FOCAL_PROB, CATEGORICAL_FOCAL_LOGIT, HINGE,
                             SQUARED_HINGE, KL_PROB, KL_LOG, PSEUDO_HUBER})

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
        summary='mean over last axis of (p − y)²',
        reference='`torch.nn.functional.mse_loss`',
        doc="""Mean squared error: l = mean_k (y_pred - y_true)^2.

    Per element (p - t)^2, gradient 2 (p - t).  Reference: torch.nn.functional.mse_loss.""",
        aliases=("mean_squared_error", "MeanSquaredError", "MSELoss"),
    ),
    LossSpec(
        "mae", "elementwise",
        lambda p: Plan(MAE, (0.0, 0.0, 0.0, 0.0), npr.mae),
        summary='mean of \\|p − y\\| (subgradient 0 at 0)',
        reference='`l1_loss`',
        doc="""Mean absolute error: l = mean_k |y_pred - y_true|.

    Gradient sign(p - t), with the subgradient 0 at p == t.
    Reference: torch.nn.functional.l1_loss.""",
        aliases=("mean_absolute_error", "MeanAbsoluteError", "L1Loss", "l1_loss"),
    ),
    LossSpec(
        "huber", "elementwise",
        lambda p: Plan(HUBER, (p["delta"], 0.0, 0.0, 0.0), npr.huber),
        params=[Param("delta", 1.0, V.positive_float("delta"))],
        summary='½d² if \\|d\\| ≤ δ else δ(\\|d\\| − ½δ)',
        reference='`huber_loss`',
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
        summary='logits: y′·softplus(−z) + (1−y′)·softplus(z); probabilities: −(y′ log q + (1−y′) log(1−q)), q = clip(p)',
        reference='`binary_cross_entropy(_with_logits)`',
        doc=f"""Binary cross-entropy, 1-D or multi-label (N, K) (mean over the last axis).

    With smoothed targets t' = t (1 - s) + s / 2 (s = label_smoothing):
      from_logits=True:  l = t' softplus(-z) + (1 - t') softplus(z),  grad sigmoid(z) - t'
                         (log-domain: never log(sigmoid(z)); +-inf logits give exact limits)
      from_logits=False: l = -(t' log q + (1 - t') log(1 - q)),  q = clip(p, eps, 1 - eps)
    {_EPS_DOC}
    The Keras names (binary_crossentropy, BinaryCrossentropy) set eps=1e-7, Keras' clip.
    PyTorch's BCELoss (and torch.nn.functional.binary_cross_entropy) does not clip p: it
    clamps each log at -100 and divides its gradient by max(p (1 - p), 1e-12).  The two agree
    wherever eps <= p <= 1 - eps and p (1 - p) >= 1e-12; closer to 0 or 1, PyTorch's loss
    goes up to 100 per element where fastloss's stops at -log(eps) (36.04 in float64, 15.94
    in float32) with a zero gradient, and PyTorch's gradient stops at 1e12 in magnitude.
    Reference: torch.nn.functional.binary_cross_entropy(_with_logits); Keras BinaryCrossentropy.""",
        aliases=("BCELoss", "bce"),
    ),
    LossSpec(
        "categorical_cross_entropy", "categorical",
        lambda p: (Plan(CCE_LOGIT, (0.0, p["label_smoothing"], 0.0, 0.0), npc.cce_logit)
                   if p["from_logits"] else
                   Plan(CCE_PROB, (p["eps"], p["label_smoothing"], 0.0, 0.0), npc.cce_prob)),
        params=[_FROM_LOGITS, _SMOOTHING, _EPS, _CLASS_WEIGHT],
        summary='Σₖ y′ₖ (logsumexp(z) − zₖ); probabilities: −Σₖ y′ₖ log clip(pₖ)',
        reference='`cross_entropy` with probability targets',
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
    The Keras names (categorical_crossentropy, CategoricalCrossentropy) set eps=1e-7, Keras'
    clip.  Keras also divides each probability row by its sum before the clip: on rows that
    sum to 1 the values agree and Keras' gradient is this one plus sum(t) / sum(p) along the
    row (a constant, which the Jacobian of a softmax cancels); on other rows Keras' value is
    this loss of y_pred / sum(y_pred).  From logits they agree.
    Reference: torch.nn.functional.cross_entropy with probability targets; Keras
    CategoricalCrossentropy.""",
        aliases=("cce",),
    ),
    LossSpec(
        "sparse_categorical_cross_entropy", "sparse",
        lambda p: (Plan(SCCE_LOGIT, (0.0, p["label_smoothing"], 0.0, 0.0), npc.scce_logit)
                   if p["from_logits"] else
                   Plan(SCCE_PROB, (p["eps"], p["label_smoothing"], 0.0, 0.0), npc.scce_prob)),
        params=[_FROM_LOGITS, _SMOOTHING, _EPS, _IGNORE, _CLASS_WEIGHT],
        summary='logsumexp(z) − Σₖ y′ₖ zₖ with y′ = (1−s)·onehot(label) + s/C',
        reference='`cross_entropy`',
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
    The Keras names (sparse_categorical_crossentropy, SparseCategoricalCrossentropy) set
    eps=1e-7, Keras' clip; Keras also divides each probability row by its sum, as
    categorical_cross_entropy says.  From logits they agree.
    Reference: torch.nn.functional.cross_entropy; Keras SparseCategoricalCrossentropy.""",
        aliases=("scce",),
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
        summary='y·d² + (1−y)·max(0, margin − d)², d = ‖x1 − x2‖₂ (no ½); gradients for x1 and x2',
        reference='Hadsell et al. 2006 (halved there)',
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
        summary='max(0, margin + d(a,p) − d(a,n)), d(x,y) = ‖x − y + eps‖ₚ; three gradients',
        reference='`triplet_margin_loss`',
        doc="""Triplet margin loss: fl.triplet(anchor, positive, negative, margin=1.0, p=2,
    swap=False, eps=1e-6).

        l = max(0, margin + d(a, p) - d(a, n)),    d(x, y) = ||x - y + eps||_p

    As PyTorch, eps is added to the difference inside the norm (pairwise_distance).  With
    swap=True, d(a, n) is replaced by min(d(a, n), d(p, n)) (the "distance swap" of Balntas
    et al.).  p: the norm degree, a number >= 1 (1 and 2 have fast paths).  margin > 0.
    Returns three gradients (anchor, positive, negative); the hinge's subgradient is 0 where
    l = 0, a distance's gradient 0 where it is 0.
    Reference: torch.nn.functional.triplet_margin_loss; Balntas et al., BMVC 2016.
    optax.losses.triplet_margin_loss (PyTorch's name too; the alias is PyTorch's) adds eps to
    the sum of powers, (sum (a - p)^p + eps)^(1/p), without absolute values: the two differ
    by O(eps), and agree exactly with eps=0 and p=2.""",
        aliases=("triplet_margin", "TripletMarginLoss", "triplet_margin_loss", "triplet_loss"),
    ),
    LossSpec(
        "cosine_embedding", "pairwise",
        lambda p: Plan(COSINE_EMBEDDING, (p["margin"], npe.COSINE_EPS, 0.0, 0.0),
                       npe.cosine_embedding),
        params=[Param("margin", 0.0, V.float_in("margin", -1.0, 1.0))],
        family=PairFamily(V.sign_labels),
        summary='y = 1: 1 − cos; y = −1: max(0, cos − margin); two gradients',
        reference='`cosine_embedding_loss`',
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
        summary='1 − (2·TP + s)/(Σy + Σp + s) per sample over all non-batch axes (mean over classes with `class_axis`)',
        reference='Milletari et al. 2016',
        doc=f"""Soft Dice loss, one per sample: fl.dice(y_true, y_pred, smooth=1.0,
    from_logits=False, class_axis=None).

        l = 1 - (2 TP + smooth) / (sum t + sum q + smooth)
    {_OVERLAP_DOC}
    Reference: Milletari et al., V-Net, 2016.
    keras.losses.Dice (the alias Dice) has no smooth (1e-7 in the denominator only) and by
    default pools the whole batch into one score: it is fl.dice(y_true.reshape(1, -1),
    y_pred.reshape(1, -1), smooth=0), and Dice(axis=<every non-batch axis>) is
    fl.dice(..., smooth=0), to within 1e-7 / (sum t + sum q) (but an empty pair of masks
    gives 1 in Keras, NaN here).
    optax.losses.dice_loss (the alias dice_loss: from_logits=True, class_axis=-1,
    smooth=2) takes logits and scores each class channel with smooth 1 added to TP and to the
    half-sums (smooth=2 here).  With one channel optax applies a sigmoid, as here; with more
    it applies a softmax across the channels where fastloss applies a sigmoid to each, so
    there optax's value is fl.dice(y_true, softmax(z), class_axis=-1, smooth=2).""",
        aliases=("Dice", "DiceLoss", "soft_dice"),
    ),
    LossSpec(
        "iou", "segmentation",
        _overlap_plan(nps.iou, lambda p: p["smooth"], lambda p: 1.0, lambda p: 1.0),
        params=[_SMOOTH, _FROM_LOGITS, _CLASS_AXIS],
        family=SegmentationFamily(),
        summary='1 − (TP + s)/(Σy + Σp − TP + s)',
        reference='Jaccard index (soft)',
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
        summary='1 − (TP + s)/(TP + α·FP + β·FN + s)',
        reference='Salehi et al. 2017',
        doc=f"""Tversky loss, one per sample: fl.tversky(y_true, y_pred, alpha=0.5, beta=0.5,
    smooth=1.0, from_logits=False, class_axis=None).

        l = 1 - (TP + smooth) / (TP + alpha FP + beta FN + smooth)
    alpha weighs false positives, beta false negatives (both >= 0); alpha = beta = 1/2 is
    Dice with smooth / 2, alpha = beta = 1 is IoU.
    {_OVERLAP_DOC}
    Reference: Salehi et al., "Tversky loss function for image segmentation", 2017.
    keras.losses.Tversky (the alias Tversky) has no smooth (1e-7 in the denominator only)
    and by default pools the whole batch, as keras.losses.Dice (see dice).  Keras up to 3.15
    also swaps the roles in its code, applying alpha to sum t (1 - q) (false negatives):
    there keras Tversky(alpha=a, beta=b) is fl.tversky(alpha=b, beta=a, smooth=0), pooled.
    keras-team/keras#23333 corrects that for the releases after 3.15.""",
        aliases=("Tversky", "TverskyLoss", "tversky_loss"),
    ),
])


def _msle_domain(y_true, y_pred, params):
    why = "log1p is undefined at and below -1"
    V.greater_than(y_true, -1, "y_true", why)
    V.greater_than(y_pred, -1, "y_pred", why)


def _alpha_pair(alpha):
    """(alpha_1, alpha_0) of the binary focal kernels: the weights of t = 1 and t = 0."""
    return (1.0, 1.0) if alpha is None else (alpha, 1.0 - alpha)


_GAMMA = Param("gamma", 2.0, V.nonnegative_float("gamma"))
_ALPHA = Param("alpha", None, V.optional_unit_interval(
    "alpha", " (per-class weights are categorical_focal's class_weight)"))
_ALPHA_DOC = """alpha: None (no weighting) or in [0, 1]"""

SPECS += [
    LossSpec(
        "smooth_l1", "elementwise",
        lambda p: Plan(SMOOTH_L1, (p["beta"], 0.0, 0.0, 0.0), npr.smooth_l1),
        params=[Param("beta", 1.0, V.nonnegative_float("beta"))],
        summary='mean of ½d²/β if \\|d\\| < β else \\|d\\| − ½β',
        reference='`smooth_l1_loss`',
        doc="""Smooth L1 loss with threshold ``beta`` (>= 0), d = y_pred - y_true:

        0.5 d^2 / beta       if |d| < beta
        |d| - 0.5 beta       otherwise

    Gradient d / beta, or sign(d).  beta = 0 is the absolute error (mae).  Equals
    huber(delta=beta) / beta.  Reference: torch.nn.functional.smooth_l1_loss; Girshick,
    "Fast R-CNN" (2015), https://arxiv.org/abs/1504.08083""",
        aliases=("SmoothL1Loss", "smooth_l1_loss"),
    ),
    LossSpec(
        "pseudo_huber", "elementwise",
        lambda p: Plan(PSEUDO_HUBER, (p["delta"], 0.0, 0.0, 0.0), npr.pseudo_huber),
        params=[Param("delta", 1.0, V.positive_float("delta"))],
        summary='mean of δ²(√(1 + (d/δ)²) − 1)',
        reference='XGBoost `reg:pseudohubererror`',
        doc="""Pseudo-Huber loss with scale ``delta`` (> 0), d = y_pred - y_true:

        delta^2 (sqrt(1 + (d / delta)^2) - 1)

    A smooth Huber: 0.5 d^2 near 0, about delta |d| far out, with a second derivative
    everywhere.  Gradient d / r and second derivative 1 / r^3, r = sqrt(1 + (d / delta)^2);
    computed without cancellation near 0 and without overflow for large d.
    Reference: XGBoost's reg:pseudohubererror (huber_slope = delta);
    https://en.wikipedia.org/wiki/Huber_loss#Pseudo-Huber_loss_function""",
    ),
    LossSpec(
        "log_cosh", "elementwise",
        lambda p: Plan(LOG_COSH, (0.0, 0.0, 0.0, 0.0), npr.log_cosh),
        summary='mean of log cosh(p − y), computed as log1p(2 sinh²(d/2)) for \\|d\\| < 2 and \\|d\\| − log 2 + log1p(e^(−2\\|d\\|)) beyond (accurate near 0 and for large errors)',
        reference='Keras `LogCosh`, `optax.losses.log_cosh`',
        doc="""Log-cosh loss: l = mean_k log(cosh(y_pred - y_true)), gradient tanh(d).

    Like 0.5 d^2 for small d and |d| - log 2 for large d.  Computed to a few ulp for every d
    and never overflowing: log1p(2 sinh^2(d/2)) for |d| < 2, |d| - log 2 + log1p(exp(-2|d|))
    beyond (the textbook |d| + softplus(-2|d|) - log 2 of Keras and optax loses all relative
    accuracy as d -> 0).  Reference: Keras LogCosh; optax.losses.log_cosh.""",
        aliases=("LogCosh", "logcosh"),
    ),
    LossSpec(
        "quantile", "elementwise",
        lambda p: Plan(QUANTILE, (p["quantile"], 0.0, 0.0, 0.0), npr.quantile),
        params=[Param("quantile", 0.5, V.open_unit_interval("quantile"))],
        summary='mean of q·d if d ≥ 0 else (q − 1)·d, d = y − p (0 < q < 1)',
        reference='`sklearn.metrics.mean_pinball_loss`',
        doc="""Quantile (pinball) loss for the ``quantile`` q in (0, 1), d = y_true - y_pred:

        q d          if d >= 0
        (q - 1) d    otherwise

    Gradient -q (under-prediction), 1 - q (over-prediction), 0 at d = 0 (the subgradient mae
    uses; q = 0.5 is exactly half of mae).  Minimising its mean estimates the q-quantile.
    Reference: sklearn.metrics.mean_pinball_loss (alpha=q);
    https://en.wikipedia.org/wiki/Quantile_regression""",
        aliases=("pinball", "pinball_loss", "mean_pinball_loss", "quantile_loss"),
    ),
    LossSpec(
        "poisson", "elementwise",
        lambda p: (Plan(POISSON_LOG, (0.0, float(p["full"]), 0.0, 0.0), npr.poisson_log)
                   if p["log_input"] else
                   Plan(POISSON_RATE, (p["eps"], float(p["full"]), 0.0, 0.0), npr.poisson_rate)),
        params=[Param("log_input", True, V.boolean("log_input")),
                Param("full", False, V.boolean("full")),
                Param("eps", 1e-8, V.positive_float("eps"))],
        summary='mean of exp(z) − y·z, or r − y·log(r + eps) for rates (+ Stirling term with `full`)',
        reference='`poisson_nll_loss`',
        doc="""Poisson negative log-likelihood of counts y_true (>= 0).

      log_input=True (default): y_pred is the log-rate z;  l = exp(z) - t z,  grad exp(z) - t
      log_input=False:          y_pred is the rate r >= 0; l = r - t log(r + eps),
                                grad 1 - t / (r + eps)
    full=True adds Stirling's term t log t - t + 0.5 log(2 pi t) where t > 1 (no gradient).
    The t-term is 0 where t = 0 (so z = -inf or r = 0 gives 0, not NaN); z or r = +inf gives
    +inf.  Values are not range-checked (as PyTorch): a rate below -eps gives NaN.
    Keras' Poisson (y_pred - y_true log(y_pred + 1e-7)) is log_input=False, eps=1e-7; the
    exact alias "Poisson" sets those, while "poisson" is this loss with PyTorch's defaults.
    Reference: torch.nn.functional.poisson_nll_loss.""",
        aliases=("PoissonNLLLoss", "poisson_nll_loss"),
    ),
    LossSpec(
        "msle", "elementwise",
        lambda p: Plan(MSLE, (0.0, 0.0, 0.0, 0.0), npr.msle),
        check=_msle_domain,
        summary='mean of (log1p p − log1p y)² (values must be > −1, else `ValueError`)',
        reference='`sklearn.metrics.mean_squared_log_error`',
        doc="""Mean squared logarithmic error: l = mean_k (log1p(y_pred) - log1p(y_true))^2.

    Gradient 2 (log1p(p) - log1p(t)) / (1 + p).  Every y_true and y_pred must be > -1: a
    value <= -1 raises ValueError naming the argument (scikit-learn's rule; the check is one
    vectorised min per array), a NaN gives a NaN loss.  Keras (the aliases
    mean_squared_logarithmic_error, MeanSquaredLogarithmicError) instead replaces every value
    below 1e-7 by 1e-7: it agrees where all values are >= 1e-7, while a 0 target or
    prediction counts as log1p(1e-7) there and a prediction below 1e-7 gets a zero gradient.
    Reference: sklearn.metrics.mean_squared_log_error; Keras MeanSquaredLogarithmicError.""",
        aliases=("mean_squared_log_error", "mean_squared_logarithmic_error",
                 "MeanSquaredLogarithmicError"),
    ),
    LossSpec(
        "mape", "elementwise",
        lambda p: Plan(MAPE, (p["epsilon"], 100.0 if p["percent"] else 1.0, 0.0, 0.0),
                       npr.mape),
        params=[Param("epsilon", float(np.finfo(np.float64).eps), V.positive_float("epsilon")),
                Param("percent", False, V.boolean("percent"))],
        summary='mean of \\|p − y\\| / max(\\|y\\|, ε) (×100 with `percent`)',
        reference='`sklearn.metrics.mean_absolute_percentage_error`',
        doc="""Mean absolute percentage error: l = mean_k |p - t| / max(|t|, epsilon), t = y_true.

    A fraction, as scikit-learn (percent=True multiplies by 100, as Keras).  epsilon defaults
    to float64's machine epsilon 2.2e-16 whatever the dtype (scikit-learn's choice), so a zero
    target gives a huge but finite loss.  Gradient sign(p - t) / max(|t|, epsilon) (times 100).
    Keras' MeanAbsolutePercentageError is percent=True, epsilon=1e-7: the exact alias
    "MeanAbsolutePercentageError" sets those; "mean_absolute_percentage_error" is
    scikit-learn's function and this loss's defaults (Keras' function of that name is in
    percent with epsilon 1e-7, as MeanAbsolutePercentageError).
    Reference: sklearn.metrics.mean_absolute_percentage_error.""",
        aliases=("mean_absolute_percentage_error",),
    ),
    LossSpec(
        "binary_focal", "elementwise",
        lambda p: (Plan(BINARY_FOCAL_LOGIT, (0.0, p["gamma"], *_alpha_pair(p["alpha"])),
                        npc.binary_focal_logit)
                   if p["from_logits"] else
                   Plan(BINARY_FOCAL_PROB, (p["eps"], p["gamma"], *_alpha_pair(p["alpha"])),
                        npc.binary_focal_prob)),
        params=[_GAMMA, _ALPHA, _FROM_LOGITS, _EPS],
        summary='mean of α_t (1 − p_t)^γ · BCE',
        reference='`optax.losses.sigmoid_focal_loss`, Keras `BinaryFocalCrossentropy`',
        doc=f"""Binary focal loss, 1-D or multi-label (N, K) (mean over the last axis).

    With p = sigmoid(z) (or the clipped probability q), 1 - p_t = t (1 - p) + (1 - t) p and the
    binary cross-entropy ce of binary_cross_entropy:
        l = a_t (1 - p_t)^gamma ce,   a_t = alpha t + (1 - alpha) (1 - t)  (1 if alpha is None)
      from_logits=True:  ce and 1 - p_t in the log domain (optax's formulation); +-inf logits
                         give the exact limits, and the gradient needs no (1 - p_t)^(gamma-1)
      from_logits=False: q = clip(p, eps, 1 - eps), gradient 0 where the clip binds
    gamma >= 0 (0 gives binary_cross_entropy); targets may be soft.
    {_ALPHA_DOC}.
    {_EPS_DOC}
    Reference: optax.losses.sigmoid_focal_loss (from_logits=True); Keras
    BinaryFocalCrossentropy (apply_class_balancing=True <-> alpha); Lin et al., "Focal Loss for
    Dense Object Detection" (2017), https://arxiv.org/abs/1708.02002
    The Keras names (BinaryFocalCrossentropy, binary_focal_crossentropy) set eps=1e-7, Keras'
    clip; where the clip binds Keras' gradient is not 0 (its focal factor uses the unclipped
    p).  From logits Keras applies the sigmoid and then that clip, so where sigmoid(z)
    leaves [1e-7, 1 - 1e-7] (|z| > 16.1) its cross-entropy stops at -log(1e-7) with a zero
    gradient; fastloss stays in the log domain (as optax).  They agree for |z| <= 16.""",
        aliases=("binary_focal_loss",),
    ),
    LossSpec(
        "categorical_focal", "categorical",
        lambda p: (Plan(CATEGORICAL_FOCAL_LOGIT,
                        (0.0, p["gamma"], 1.0 if p["alpha"] is None else p["alpha"], 0.0),
                        npc.categorical_focal_logit)
                   if p["from_logits"] else
                   Plan(CATEGORICAL_FOCAL_PROB,
                        (p["eps"], p["gamma"], 1.0 if p["alpha"] is None else p["alpha"], 0.0),
                        npc.categorical_focal_prob)),
        params=[_GAMMA, _ALPHA, _FROM_LOGITS, _EPS, _CLASS_WEIGHT],
        summary='−α Σₖ yₖ (1 − pₖ)^γ log pₖ',
        reference='Keras `CategoricalFocalCrossentropy`',
        doc=f"""Categorical focal loss with probability-row targets (one-hot or soft).

    y_true and y_pred have shape (..., C); the per-sample loss sums over the class axis:
        l = -alpha sum_k t_k (1 - p_k)^gamma log p_k        (alpha = 1 if None)
      from_logits=True:  p = softmax(z) with log p_k = z_k - logsumexp(z) (no clip), and
                         1 - p_k without cancellation near p_k = 1; +inf logits give the limit
      from_logits=False: p clipped to [eps, 1 - eps], gradient 0 where the clip binds; rows
                         are used as given (not renormalised), as categorical_cross_entropy
    gamma >= 0 (0 gives categorical_cross_entropy times alpha).
    {_ALPHA_DOC}.
    class_weight (C,): per-class weights acting as the sample weight sum_k w_k t_k (Keras'
    per-class alpha list, for one-hot rows).
    {_EPS_DOC}
    The Keras names (CategoricalFocalCrossentropy, categorical_focal_crossentropy) set
    alpha=0.25 and eps=1e-7, Keras' defaults.  Keras also divides each probability row by its
    sum (on rows that sum to 1 the values agree and the gradients differ by a constant along
    the row, as categorical_cross_entropy says), and clips the softmax to [1e-7, 1 - 1e-7]
    even from logits: from logits they agree where every target class's probability is
    within that clip.
    Reference: Keras CategoricalFocalCrossentropy; Lin et al. (2017),
    https://arxiv.org/abs/1708.02002""",
        aliases=("categorical_focal_loss",),
    ),
    LossSpec(
        "hinge", "elementwise",
        lambda p: Plan(HINGE, (0.0, 0.0, 0.0, 0.0), npc.hinge),
        summary='mean of max(0, 1 − y·p) (labels ±1 or 0/1)',
        reference='Keras `Hinge`',
        doc="""Hinge loss: l = mean_k max(0, 1 - y y_pred), y the signed target.

    Targets in {-1, 1} or {0, 1}: a 0 target is read as -1, element by element (so both
    conventions work).  Other target values are used as given.  Gradient -y where
    1 - y p > 0, else 0.  Keras (Hinge) converts a tensor only when every label is 0 or 1, so
    a tensor mixing -1, 0 and 1 keeps its 0s there (loss 1).  optax.losses.hinge_loss (the alias hinge_loss)
    takes +-1 targets and reads a 0 as 0, so 0/1 labels differ there; scikit-learn's
    hinge_loss (the same alias) maps any two label values to -1 and +1.  All agree on +-1
    targets, and Keras and scikit-learn on 0/1 targets.
    Reference: Keras Hinge; optax.losses.hinge_loss.""",
        aliases=("Hinge", "hinge_loss"),
    ),
    LossSpec(
        "squared_hinge", "elementwise",
        lambda p: Plan(SQUARED_HINGE, (0.0, 0.0, 0.0, 0.0), npc.squared_hinge),
        summary='mean of max(0, 1 − y·p)² (labels ±1 or 0/1)',
        reference='Keras `SquaredHinge`',
        doc="""Squared hinge loss: l = mean_k max(0, 1 - y y_pred)^2, y the signed target.

    Targets in {-1, 1} or {0, 1} (0 read as -1, as hinge).  Gradient -2 y max(0, 1 - y p).
    Reference: Keras SquaredHinge.""",
        aliases=("SquaredHinge",),
    ),
    LossSpec(
        "categorical_hinge", "categorical",
        lambda p: Plan(CATEGORICAL_HINGE, (p["margin"], 0.0, 0.0, 0.0), npc.categorical_hinge),
        params=[Param("margin", 1.0, V.finite_float("margin"))],
        summary='max(0, margin + max_{j≠y} z_j − z_y)',
        reference='Crammer & Singer 2001; Keras `CategoricalHinge` on one-hot rows',
        doc="""Multi-class (Crammer-Singer) hinge loss with one-hot targets, shape (..., C):

        l = max(0, margin + max_{j != y} z_j - z_y)

    generalised linearly to soft rows as sum_k t_k max(0, margin + max_{j != k} z_j - z_k).
    Gradient (a subgradient at ties and at the kink): -t_k at the target class and +t_k at
    the largest other score, where the hinge is active.  Keras' CategoricalHinge (the alias)
    computes max(0, 1 + max_k (1 - t_k) z_k - sum_k t_k z_k): the same on one-hot rows in
    which some non-target score is >= 0 (e.g. probabilities).  On one-hot rows whose
    non-target scores are all negative Keras takes the runner-up as 0 (the target's own
    (1 - 1) z), and rows that are not one-hot differ: an all-zero row gives 0 here and
    max(0, 1 + max_k z_k) in Keras, and soft rows are combined differently.
    Reference: Keras CategoricalHinge; optax.losses.multiclass_hinge_loss (integer labels);
    Crammer and Singer, JMLR 2 (2001).""",
        aliases=("CategoricalHinge",),
    ),
    LossSpec(
        "kl_divergence", "categorical",
        lambda p: (Plan(KL_LOG, (0.0, float(p["log_target"]), 0.0, 0.0), npd.kl_log)
                   if p["log_input"] else
                   Plan(KL_PROB, (p["eps"], float(p["log_target"]), 0.0, 0.0), npd.kl_prob)),
        params=[Param("log_input", False, V.boolean("log_input")),
                Param("log_target", False, V.boolean("log_target")), _EPS],
        summary="Σₖ yₖ (log yₖ − log qₖ) (`mean` = PyTorch's `batchmean`)",
        reference='`kl_div`',
        doc="""Kullback-Leibler divergence KL(y_true || y_pred) between rows of shape (..., C):

        l = sum_k t_k (log t_k - log q_k)

    the per-sample loss sums over the class axis, so reduction="mean" is the mean over
    distributions: PyTorch's reduction="batchmean" for (N, C) input (PyTorch's "mean" divides
    by N * C).  t log t = 0 at t = 0.
      log_input=False (default): y_pred holds probabilities q, clipped to [eps, 1]; gradient
                                 -t / q, 0 where the clip binds
      log_input=True:            y_pred holds log-probabilities (PyTorch's convention for
                                 kl_div's input); gradient -t
      log_target=True:           y_true holds log-probabilities; -inf is a class with t = 0,
                                 contributing exactly 0 (PyTorch gives NaN there)
    eps: None (default) means the machine epsilon of the computation dtype (1.19e-07 for
    float32, 2.2e-16 for float64); unused with log_input=True.
    Targets are not clipped.  The Keras names (KLDivergence, kullback_leibler_divergence) set
    eps=1e-7, Keras' clip of y_pred; Keras also clips targets to [1e-7, 1], so a zero target
    adds 1e-7 log(1e-7 / q) there: they agree where every target is >= 1e-7, and otherwise
    Keras' value is this loss of clip(y_true, 1e-7, 1).  The PyTorch names (KLDivLoss,
    kl_div) set log_input=True.
    Reference: torch.nn.functional.kl_div; Keras KLDivergence;
    https://en.wikipedia.org/wiki/Kullback-Leibler_divergence""",
        aliases=("kld",),
    ),
]

# Names from other libraries that imply parameter values.
ALIASES_WITH_PARAMS = {
    # Keras' probability losses clip at its epsilon 1e-7 (fastloss: the dtype's machine eps).
    "binary_crossentropy": ("binary_cross_entropy", {"eps": 1e-7}),
    "BinaryCrossentropy": ("binary_cross_entropy", {"eps": 1e-7}),
    "categorical_crossentropy": ("categorical_cross_entropy", {"eps": 1e-7}),
    "CategoricalCrossentropy": ("categorical_cross_entropy", {"eps": 1e-7}),
    "sparse_categorical_crossentropy": ("sparse_categorical_cross_entropy", {"eps": 1e-7}),
    "SparseCategoricalCrossentropy": ("sparse_categorical_cross_entropy", {"eps": 1e-7}),
    "BinaryFocalCrossentropy": ("binary_focal", {"eps": 1e-7}),
    "binary_focal_crossentropy": ("binary_focal", {"eps": 1e-7}),
    "KLDivergence": ("kl_divergence", {"eps": 1e-7}),
    "kullback_leibler_divergence": ("kl_divergence", {"eps": 1e-7}),
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
    # Keras' Poisson takes rates with epsilon 1e-7 ("poisson" keeps PyTorch's defaults).
    "Poisson": ("poisson", {"log_input": False, "eps": 1e-7}),
    # Keras' MAPE is in percent with epsilon 1e-7 (scikit-learn's is a fraction).
    "MeanAbsolutePercentageError": ("mape", {"percent": True, "epsilon": 1e-7}),
    "sigmoid_focal_loss": ("binary_focal", {"from_logits": True}),
    # Keras' categorical focal loss defaults to alpha=0.25.
    "CategoricalFocalCrossentropy": ("categorical_focal", {"alpha": 0.25, "eps": 1e-7}),
    "categorical_focal_crossentropy": ("categorical_focal", {"alpha": 0.25, "eps": 1e-7}),
    # PyTorch's kl_div takes log-probabilities as its input.
    "KLDivLoss": ("kl_divergence", {"log_input": True}),
    "kl_div": ("kl_divergence", {"log_input": True}),
    "kl_divergence_with_log_targets": ("kl_divergence", {"log_input": True, "log_target": True}),
    # optax's dice_loss: logits, each class channel scored alone, smooth 1 on TP and half-sums.
    "dice_loss": ("dice", {"from_logits": True, "class_axis": -1, "smooth": 2.0}),
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
#: The catalogue as shipped: never replaced nor removed.
BUILTIN = frozenset(REGISTRY)


def register(spec, replace=False):
    """Add a loss and its aliases to the catalogue (``fastloss.custom`` uses this).

    A name (or alias) already taken raises ValueError, unless ``replace=True`` and it belongs
    to an earlier loss of the same name registered after import, which is then replaced.
    The built-in catalogue is never replaced.  A registered loss is an attribute of the
    package (``fastloss.<name>``), is listed by ``available()`` and gets every keyword.
    """
    names = (spec.name,) + tuple(spec.aliases)
    for name in names:
        taken = _LOOKUP.get(name) or _LOOKUP.get(_key(name))
        if taken is not None and not (replace and taken[0] == spec.name
                                      and spec.name not in BUILTIN):
            raise ValueError(f"a loss named {name!r} already exists ({taken[0]}); choose "
                             f"another name" + ("" if taken[0] in BUILTIN
                                                else " or pass replace=True"))
    if spec.name in REGISTRY:
        unregister(spec.name)
    SPECS.append(spec)
    REGISTRY[spec.name] = spec
    for name in names:
        _LOOKUP[name] = (spec.name, {})
        _LOOKUP.setdefault(_key(name), (spec.name, {}))


def unregister(name):
    """Remove a loss registered after import (and its aliases) from the catalogue."""
    spec = REGISTRY.get(name)
    if spec is None or name in BUILTIN:
        raise ValueError(f"{name!r} is not a loss registered after import (custom losses "
                         f"can be removed; the built-in catalogue cannot)")
    SPECS.remove(spec)
    del REGISTRY[name]
    for key in [k for k, (target, _) in _LOOKUP.items() if target == name]:
        del _LOOKUP[key]


def names():
    """Every name ``get`` resolves: canonical names and aliases (not the normalised keys)."""
    out = []
    for spec in SPECS:
        out += [spec.name, *spec.aliases]
    return out + [a for a in ALIASES_WITH_PARAMS if a not in out]


def _unknown(name):
    """'unknown loss' with the three closest names and where to find them all."""
    import difflib
    known = names()
    by_key = {}
    for n in known:                      # the first spelling of a key: snake_case first
        by_key.setdefault(_key(n), n)
    close = difflib.get_close_matches(_key(name), list(by_key), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(by_key[c]) for c in close)}?" if close else ""
    return (f"unknown loss {name!r}{hint}  fl.available() lists every loss; the README's "
            f"loss table lists them with all their aliases")


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
        raise ValueError(_unknown(name))
    canonical, implied = target
    return Loss(REGISTRY[canonical], **{**implied, **params})
