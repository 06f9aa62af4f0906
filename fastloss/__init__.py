"""fastloss: loss functions and their gradients in one fused, OpenMP-parallel pass.

    import fastloss as fl
    loss = fl.mse(y_true, y_pred)
    loss, grad = fl.binary_cross_entropy.value_and_grad(y, logits, from_logits=True, out=buf)
    huber2 = fl.get("huber", delta=2.0)

See ``help(fl.mse)`` (or any loss) for its formula, and ``fl.show_config()`` for the build.
"""
__version__ = "0.1.0"

from ._config import config, default_threads, set_backend, show_config, use_backend
from ._loss import Loss, LossSpec
from ._registry import REGISTRY as _REGISTRY
from ._registry import available, get
from ._custom import custom
from ._check import GradCheck, check_grad

mse = get("mse")
mae = get("mae")
huber = get("huber")
binary_cross_entropy = get("binary_cross_entropy")
categorical_cross_entropy = get("categorical_cross_entropy")
sparse_categorical_cross_entropy = get("sparse_categorical_cross_entropy")

# metric learning (several inputs: one gradient per input) and segmentation (whole samples)
contrastive = get("contrastive")
triplet = get("triplet")
cosine_embedding = get("cosine_embedding")
dice = get("dice")
iou = get("iou")
tversky = get("tversky")
# More regression, classification and distribution losses.
smooth_l1 = get("smooth_l1")
log_cosh = get("log_cosh")
quantile = get("quantile")
poisson = get("poisson")
msle = get("msle")
mape = get("mape")
binary_focal = get("binary_focal")
categorical_focal = get("categorical_focal")
hinge = get("hinge")
squared_hinge = get("squared_hinge")
categorical_hinge = get("categorical_hinge")
kl_divergence = get("kl_divergence")


def __getattr__(name):
    if name == "backend":  # the backend in use now ("cython" or "numpy")
        from ._config import state
        return state.backend
    raise AttributeError(f"module 'fastloss' has no attribute {name!r}")


__all__ = [
    "mse", "mae", "huber", "binary_cross_entropy", "categorical_cross_entropy",
    "sparse_categorical_cross_entropy", "get", "available", "Loss", "LossSpec",
    "show_config", "config", "set_backend", "use_backend", "default_threads",
    "contrastive", "triplet", "cosine_embedding", "dice", "iou", "tversky",
    "custom", "check_grad", "GradCheck",
    "smooth_l1", "log_cosh", "quantile", "poisson", "msle", "mape", "binary_focal",
    "categorical_focal", "hinge", "squared_hinge", "categorical_hinge", "kl_divergence",
]
