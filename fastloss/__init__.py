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

# Every catalogue loss is an attribute of the package (fl.mse, fl.dice, ...), derived from
# the registry: a new loss needs no line here.
for _name in available():
    globals()[_name] = get(_name)
del _name


def __getattr__(name):
    if name == "backend":  # the backend in use now ("cython" or "numpy"), in this thread
        from ._config import state
        return state.backend
    if name in _REGISTRY:  # a loss registered after import (fastloss.custom)
        return get(name)
    if name in _constructor_names():
        return _constructor(name)
    raise AttributeError(f"module 'fastloss' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_REGISTRY) | {"backend"} | set(_constructor_names()))


def _constructor_names():
    """The Keras / PyTorch class names among the aliases (``Huber``, ``MSELoss`` ...)."""
    from ._registry import names
    return [n for n in names() if n[:1].isupper()]


def _constructor(name):
    """``fl.Huber(delta=2.0)``: the loss called ``name``, bound to the given parameters, as
    the Keras / PyTorch class of that name is constructed."""
    template = get(name)

    def construct(**params):
        return get(name, **params)

    import inspect
    construct.__name__ = construct.__qualname__ = name
    construct.__doc__ = (f"fastloss.{name}(**params) -> fl.get({name!r}, **params): the "
                         f"{template.name} loss bound to these parameters.\n\n"
                         + template.__doc__)
    construct.__signature__ = inspect.Signature(
        [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v)
         for k, v in template.params.items()])
    return construct


#: The API (functions and classes) and every catalogue loss, in catalogue order.
__all__ = [
    "get", "available", "Loss", "LossSpec", "show_config", "config", "set_backend",
    "use_backend", "default_threads", "custom", "check_grad", "GradCheck",
] + [_spec.name for _spec in _REGISTRY.values() if _spec.kind != "custom"]
