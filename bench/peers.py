"""The peers of the benchmark: other ways to get a loss *and* its gradient from NumPy arrays.

Every peer times the work of one training step's loss: the mean loss (fastloss's default
``reduction="mean"``) and its gradient with respect to the prediction (the logits for the
classification losses).  What each peer's timed call contains, and what it is allowed to do
outside the timed region, is written in its docstring; the rule is the same for all of them:
inputs are ready in the peer's own format before timing starts (NumPy arrays, zero-copy torch
tensors, JAX device arrays), and outputs are preallocated where the peer's API lets the
caller do so.

A peer is a small object with:

``versions()``        package versions to record (importing the package; ImportError = skip),
``configure(n, explicit)``  apply the thread count (called once, before any work),
``unsupported(loss)`` None, or why the peer has no such loss (then it is skipped),
``prepare(case, n)``  a :class:`Call`: ``run()`` is the timed work, ``convert(raw)`` turns its
                      result into fastloss's convention (mean loss, gradient of the mean) for
                      the correctness check; ``convert`` is never timed.

The loss names are fastloss's canonical names; ``case`` is a :class:`Case` holding the
inputs.  Only NumPy and fastloss are imported at module level: each peer imports its own
package in ``versions``/``configure``, inside the worker process that runs it.
"""
from typing import Callable, NamedTuple

import numpy as np

try:  # numba's parallel loop; the kernels below are plain Python until a peer jits them
    from numba import prange
except ImportError:  # pragma: no cover - numba is optional
    prange = range


class Case(NamedTuple):
    """One workload's inputs: targets ``y`` (labels for the sparse loss), prediction ``p``
    (logits for the classification losses) and fastloss keyword arguments ``params``.

    The losses of several arrays (catalogue mode) take ``(y, p, *extra)`` in fastloss's
    argument order, e.g. contrastive (similar, x1, x2) is ``y=similar, p=x1, extra=(x2,)``
    and triplet (anchor, positive, negative) ``y=anchor, p=positive, extra=(negative,)``;
    their value_and_grad returns one gradient per prediction, as a tuple."""
    loss: str
    y: np.ndarray
    p: np.ndarray
    params: dict
    extra: tuple = ()

    @property
    def arrays(self):
        return (self.y, self.p) + tuple(self.extra)


class Call(NamedTuple):
    run: Callable[[], object]
    convert: Callable[[object], tuple]


def _mean_grad(value, grad):
    return float(value), np.asarray(grad)


# --------------------------------------------------------------------------------------
# NumPy: the formulas people write by hand.
# --------------------------------------------------------------------------------------

def np_mse(y, p):
    d = p - y
    return np.mean(d * d), (2.0 / d.size) * d


def np_mae(y, p):
    d = p - y
    return np.mean(np.abs(d)), np.sign(d) / d.size


def np_huber(y, p, delta=1.0):
    d = p - y
    a = np.abs(d)
    small = a <= delta
    loss = np.mean(np.where(small, 0.5 * d * d, delta * (a - 0.5 * delta)))
    grad = np.where(small, d, delta * np.sign(d)) / d.size
    return loss, grad


def np_bce_logits(y, z):
    loss = np.mean(np.logaddexp(0.0, z) - y * z)
    grad = (1.0 / (1.0 + np.exp(-z)) - y) / z.size
    return loss, grad


def _np_softmax_parts(z):
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    s = e.sum(axis=1, keepdims=True)
    return e / s, m + np.log(s)          # softmax, log-sum-exp (column)


def np_cce_logits(t, z):
    prob, lse = _np_softmax_parts(z)
    loss = np.mean(np.sum(t * (lse - z), axis=1))
    return loss, (prob - t) / z.shape[0]


def np_scce_logits(labels, z):
    n = z.shape[0]
    rows = np.arange(n)
    prob, lse = _np_softmax_parts(z)
    loss = np.mean(lse[:, 0] - z[rows, labels])
    prob[rows, labels] -= 1.0
    prob /= n
    return loss, prob


NUMPY_FORMULAS = {
    "mse": np_mse,
    "mae": np_mae,
    "huber": np_huber,
    "binary_cross_entropy": np_bce_logits,
    "categorical_cross_entropy": np_cce_logits,
    "sparse_categorical_cross_entropy": np_scce_logits,
}


# The catalogue losses (``python bench/run.py --catalogue``): the same kind of
# hand-written formula, the gradient of the mean loss with respect to the prediction(s).

def np_smooth_l1(y, p, beta=1.0):
    d = p - y
    a = np.abs(d)
    small = a < beta
    loss = np.mean(np.where(small, 0.5 * d * d / beta, a - 0.5 * beta))
    grad = np.where(small, d / beta, np.sign(d)) / d.size
    return loss, grad


def np_log_cosh(y, p):
    d = p - y
    return np.mean(np.log(np.cosh(d))), np.tanh(d) / d.size


def np_quantile(y, p, quantile=0.5):
    d = y - p
    loss = np.mean(np.where(d >= 0, quantile * d, (quantile - 1.0) * d))
    grad = np.where(d > 0, -quantile, np.where(d < 0, 1.0 - quantile, 0.0)) / d.size
    return loss, grad.astype(p.dtype)


def np_poisson_log(y, z):
    e = np.exp(z)
    return np.mean(e - y * z), (e - y) / z.size


def np_msle(y, p):
    d = np.log1p(p) - np.log1p(y)
    return np.mean(d * d), 2.0 * d / (1.0 + p) / p.size


def np_mape(y, p, epsilon=float(np.finfo(np.float64).eps)):
    scale = np.maximum(np.abs(y), epsilon)
    d = p - y
    return np.mean(np.abs(d) / scale), np.sign(d) / scale / p.size


def np_binary_focal_logits(t, z, gamma=2.0):
    s = 1.0 / (1.0 + np.exp(-z))
    ce = np.logaddexp(0.0, z) - t * z
    u = t + s * (1.0 - 2.0 * t)                    # 1 - p_t
    loss = np.mean(u ** gamma * ce)
    du = s * (1.0 - s) * (1.0 - 2.0 * t)
    grad = (gamma * u ** (gamma - 1.0) * du * ce + u ** gamma * (s - t)) / z.size
    return loss, grad


def np_categorical_focal_logits(t, z, gamma=2.0):
    prob, lse = _np_softmax_parts(z)
    logp = z - lse
    w = (1.0 - prob) ** gamma
    loss = np.mean(-np.sum(t * w * logp, axis=1))
    c = t * (gamma * (1.0 - prob) ** (gamma - 1.0) * prob * logp - w)
    grad = (c - prob * c.sum(axis=1, keepdims=True)) / z.shape[0]
    return loss, grad


def np_hinge(y, p):
    m = 1.0 - y * p
    return np.mean(np.maximum(m, 0.0)), np.where(m > 0, -y, 0.0) / p.size


def np_squared_hinge(y, p):
    h = np.maximum(1.0 - y * p, 0.0)
    return np.mean(h * h), -2.0 * y * h / p.size


def np_categorical_hinge(t, z, margin=1.0):
    n = z.shape[0]
    rows = np.arange(n)
    labels = t.argmax(axis=1)
    z_true = z[rows, labels]
    others = z.copy()
    others[rows, labels] = -np.inf
    runner = others.argmax(axis=1)
    h = margin + others[rows, runner] - z_true
    loss = np.mean(np.maximum(h, 0.0))
    grad = np.zeros_like(z)
    active = (h > 0) / n
    grad[rows, labels] -= active
    grad[rows, runner] += active
    return loss, grad


def np_kl_prob(t, q):
    eps = np.finfo(q.dtype).eps
    qc = np.clip(q, eps, 1.0)
    tlogt = np.where(t > 0, t * np.log(np.where(t > 0, t, 1.0)), 0.0)
    loss = np.mean(np.sum(tlogt - t * np.log(qc), axis=1))
    grad = np.where((q >= eps) & (q <= 1.0), -t / qc, 0.0) / q.shape[0]
    return loss, grad


def np_contrastive(y, x1, x2, margin=1.0):
    diff = x1 - x2
    d = np.sqrt(np.sum(diff * diff, axis=1))
    h = np.maximum(margin - d, 0.0)
    loss = np.mean(y * d * d + (1.0 - y) * h * h)
    safe = np.where(d > 0, d, 1.0)
    coef = (2.0 * y - 2.0 * (1.0 - y) * h / safe) / x1.shape[0]
    g1 = coef[:, None] * diff
    return loss, (g1, -g1)


def np_triplet(a, p, n, margin=1.0, eps=1e-6):
    u = a - p + eps
    v = a - n + eps
    dap = np.sqrt(np.sum(u * u, axis=1))
    dan = np.sqrt(np.sum(v * v, axis=1))
    h = margin + dap - dan
    loss = np.mean(np.maximum(h, 0.0))
    active = ((h > 0) / a.shape[0]).astype(a.dtype)
    gu = (active / np.where(dap > 0, dap, 1.0))[:, None] * u
    gv = (active / np.where(dan > 0, dan, 1.0))[:, None] * v
    return loss, (gu - gv, -gu, gv)


def np_cosine_embedding(y, x1, x2, margin=0.0):
    s1 = np.sum(x1 * x1, axis=1) + 1e-12
    s2 = np.sum(x2 * x2, axis=1) + 1e-12
    dot = np.sum(x1 * x2, axis=1)
    r = 1.0 / np.sqrt(s1 * s2)
    cos = dot * r
    loss = np.mean(np.where(y == 1, 1.0 - cos, np.maximum(cos - margin, 0.0)))
    w = np.where(y == 1, -1.0, np.where(cos > margin, 1.0, 0.0)) / x1.shape[0]
    g1 = (w * r)[:, None] * x2 - (w * cos / s1)[:, None] * x1
    g2 = (w * r)[:, None] * x1 - (w * cos / s2)[:, None] * x2
    return loss, (g1.astype(x1.dtype), g2.astype(x2.dtype))


def np_tversky(t, q, alpha=0.5, beta=0.5, smooth=1.0):
    """Per sample over all non-batch axes; dice and iou are special cases (see below)."""
    axes = tuple(range(1, q.ndim))
    shape = (-1,) + (1,) * (q.ndim - 1)
    tp = np.sum(t * q, axis=axes)
    fp = np.sum((1.0 - t) * q, axis=axes)
    fn = np.sum(t * (1.0 - q), axis=axes)
    num = tp + smooth
    den = tp + alpha * fp + beta * fn + smooth
    loss = np.mean(1.0 - num / den)
    dden = t + alpha * (1.0 - t) - beta * t
    grad = -(t * den.reshape(shape) - num.reshape(shape) * dden) / (den * den).reshape(shape)
    return loss, grad / q.shape[0]


def np_dice(t, q, smooth=1.0):
    axes = tuple(range(1, q.ndim))
    shape = (-1,) + (1,) * (q.ndim - 1)
    num = 2.0 * np.sum(t * q, axis=axes) + smooth
    den = np.sum(t, axis=axes) + np.sum(q, axis=axes) + smooth
    loss = np.mean(1.0 - num / den)
    grad = -(2.0 * t * den.reshape(shape) - num.reshape(shape)) / (den * den).reshape(shape)
    return loss, grad / q.shape[0]


def np_iou(t, q, smooth=1.0):
    axes = tuple(range(1, q.ndim))
    shape = (-1,) + (1,) * (q.ndim - 1)
    tp = np.sum(t * q, axis=axes)
    num = tp + smooth
    den = np.sum(t, axis=axes) + np.sum(q, axis=axes) - tp + smooth
    loss = np.mean(1.0 - num / den)
    grad = -(t * den.reshape(shape) - num.reshape(shape) * (1.0 - t)) / \
        (den * den).reshape(shape)
    return loss, grad / q.shape[0]


NUMPY_FORMULAS.update({
    "smooth_l1": np_smooth_l1,
    "log_cosh": np_log_cosh,
    "quantile": np_quantile,
    "poisson": np_poisson_log,
    "msle": np_msle,
    "mape": np_mape,
    "binary_focal": np_binary_focal_logits,
    "categorical_focal": np_categorical_focal_logits,
    "hinge": np_hinge,
    "squared_hinge": np_squared_hinge,
    "categorical_hinge": np_categorical_hinge,
    "kl_divergence": np_kl_prob,
    "contrastive": np_contrastive,
    "triplet": np_triplet,
    "cosine_embedding": np_cosine_embedding,
    "dice": np_dice,
    "iou": np_iou,
    "tversky": np_tversky,
})


def _peer_params(case):
    """fastloss keywords minus the ones every peer implements by construction (logits)."""
    return {k: v for k, v in case.params.items() if k != "from_logits"}


# --------------------------------------------------------------------------------------
# Numba: the fused kernel an expert would write instead of using a library.
# Plain Python here; NumbaPeer compiles them with njit(parallel=True, fastmath=True).
# Losses are accumulated in float64 whatever the input dtype, as fastloss does.
# --------------------------------------------------------------------------------------

def nb_mse(y, p, g):
    n = p.size
    c = 2.0 / n
    s = 0.0
    for i in prange(n):
        d = p[i] - y[i]
        s += d * d
        g[i] = c * d
    return s / n


def nb_mae(y, p, g):
    n = p.size
    c = 1.0 / n
    s = 0.0
    for i in prange(n):
        d = p[i] - y[i]
        s += abs(d)
        g[i] = c * np.sign(d)
    return s / n


def nb_huber(y, p, g, delta):
    n = p.size
    c = 1.0 / n
    s = 0.0
    for i in prange(n):
        d = p[i] - y[i]
        a = abs(d)
        if a <= delta:
            s += 0.5 * d * d
            g[i] = c * d
        else:
            s += delta * (a - 0.5 * delta)
            g[i] = c * delta * np.sign(d)
    return s / n


def nb_bce_logits(y, z, g):
    n = z.size
    c = 1.0 / n
    s = 0.0
    for i in prange(n):
        x = z[i]
        e = np.exp(-abs(x))                       # softplus(x) = max(x, 0) + log1p(e)
        s += max(x, 0.0) + np.log1p(e) - y[i] * x
        sig = 1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e)
        g[i] = c * (sig - y[i])
    return s / n


def nb_cce_logits(t, z, g):
    n, k = z.shape
    c = 1.0 / n
    s = 0.0
    for i in prange(n):
        m = z[i, 0]
        for j in range(1, k):
            m = max(m, z[i, j])
        acc = 0.0
        for j in range(k):
            e = np.exp(z[i, j] - m)
            g[i, j] = e
            acc += e
        lse = m + np.log(acc)
        row = 0.0
        r = c / acc
        for j in range(k):
            row += t[i, j] * (lse - z[i, j])
            g[i, j] = g[i, j] * r - c * t[i, j]
        s += row
    return s / n


def nb_scce_logits(labels, z, g):
    n, k = z.shape
    c = 1.0 / n
    s = 0.0
    for i in prange(n):
        m = z[i, 0]
        for j in range(1, k):
            m = max(m, z[i, j])
        acc = 0.0
        for j in range(k):
            e = np.exp(z[i, j] - m)
            g[i, j] = e
            acc += e
        y = labels[i]
        s += m + np.log(acc) - z[i, y]
        r = c / acc
        for j in range(k):
            g[i, j] *= r
        g[i, y] -= c
    return s / n


NUMBA_KERNELS = {
    "mse": nb_mse,
    "mae": nb_mae,
    "huber": nb_huber,
    "binary_cross_entropy": nb_bce_logits,
    "categorical_cross_entropy": nb_cce_logits,
    "sparse_categorical_cross_entropy": nb_scce_logits,
}


# --------------------------------------------------------------------------------------
# The peers.
# --------------------------------------------------------------------------------------

class Peer:
    """Base class; see the module docstring for the protocol."""
    name = ""
    reference = False           # True for the bandwidth reference (not checked, not a rival)
    supported = ()              # fastloss loss names the peer implements
    missing = {}                # loss name -> why the peer has no such loss
    notes = {}                  # loss name -> what the peer does differently (reported)

    def versions(self):
        return {}

    def configure(self, n_threads, explicit):
        pass

    def unsupported(self, loss):
        if loss in self.supported:
            return None
        return self.missing.get(loss, f"{self.name} has no {loss} in this harness")

    def prepare(self, case, n_threads):
        raise NotImplementedError


class FastlossPeer(Peer):
    """``fl.<loss>.value_and_grad(y, p, out=buf, n_threads=n)``: one fused pass, gradient
    written into ``buf`` (preallocated outside the timed region); argument validation is
    inside the timed call, as users pay for it.  ``n_threads=None`` (the library default)
    in the "default" thread configuration."""
    name = "fastloss"

    def __init__(self):
        import fastloss
        self.supported = tuple(fastloss.available())

    def versions(self):
        import fastloss
        return {"fastloss": fastloss.__version__}

    def configure(self, n_threads, explicit):
        self.n_threads = n_threads if explicit else None

    def prepare(self, case, n_threads):
        import fastloss
        loss = fastloss.get(case.loss)
        y, p, params, nt = case.y, case.p, case.params, self.n_threads
        if case.extra:      # several arrays: one preallocated gradient per prediction
            arrays = case.arrays
            _, grads = loss.value_and_grad(*arrays, n_threads=1, **params)
            bufs = tuple(np.empty_like(g) for g in grads)

            def run_multi():
                return loss.value_and_grad(*arrays, out=bufs, n_threads=nt, **params)
            return Call(run_multi, lambda r: (float(r[0]), r[1]))
        buf = np.empty_like(case.p)

        def run():
            return loss.value_and_grad(y, p, out=buf, n_threads=nt, **params)
        return Call(run, lambda r: _mean_grad(*r))


class NumpyPeer(Peer):
    """The NumPy formulas users write by hand (``NUMPY_FORMULAS``): natural, vectorised code
    with its temporaries.  NumPy's elementwise ufuncs run on one thread whatever the thread
    configuration."""
    name = "numpy"
    supported = tuple(NUMPY_FORMULAS)

    def versions(self):
        return {"numpy": np.__version__}

    def prepare(self, case, n_threads):
        f = NUMPY_FORMULAS[case.loss]
        arrays, kw = case.arrays, _peer_params(case)
        return Call(lambda: f(*arrays, **kw), lambda r: (float(r[0]), r[1]))


class TorchPeer(Peer):
    """``torch.nn.functional`` loss (reduction "mean") forward and ``.backward()`` on CPU.

    Outside the timed region: ``torch.from_numpy`` (zero-copy) of the inputs and
    ``requires_grad_()`` on the prediction, a leaf tensor.  Timed: ``p.grad = None`` (what
    ``optimizer.zero_grad()`` does by default), forward, backward (which allocates the
    gradient; PyTorch has no preallocated-output form of backward)."""
    name = "torch"
    supported = ("mse", "mae", "huber", "binary_cross_entropy", "categorical_cross_entropy",
                 "sparse_categorical_cross_entropy",
                 # catalogue mode (see MULTI and the notes)
                 "smooth_l1", "poisson", "kl_divergence", "triplet", "cosine_embedding")
    MULTI = ("triplet", "cosine_embedding")     # losses of several arrays
    missing = {
        **{name: "torch.nn.functional has no such loss" for name in (
            "log_cosh", "quantile", "msle", "mape", "binary_focal", "categorical_focal",
            "categorical_hinge", "contrastive", "dice", "iou", "tversky")},
        "hinge": "torch.nn.functional has no such loss (hinge_embedding_loss is a "
                 "different loss)",
        "squared_hinge": "torch.nn.functional has no such loss",
    }

    notes = {
        "kl_divergence": "F.kl_div(torch.log(q), t, reduction=\"batchmean\", "
                         "log_target=False): PyTorch's kl_div takes log-probabilities, so "
                         "the log of fastloss's probability input is part of the timed forward",
        "poisson": "F.poisson_nll_loss(z, t, log_input=True, full=False)",
    }

    def versions(self):
        import torch
        return {"torch": torch.__version__}

    def configure(self, n_threads, explicit):
        import torch
        if explicit:
            torch.set_num_threads(n_threads)

    @staticmethod
    def _forward(loss, params):
        import torch
        import torch.nn.functional as F
        return {
            "mse": F.mse_loss,
            "mae": F.l1_loss,
            "huber": lambda p, y: F.huber_loss(p, y, delta=params.get("delta", 1.0)),
            "binary_cross_entropy": F.binary_cross_entropy_with_logits,
            "categorical_cross_entropy": F.cross_entropy,   # probability targets
            "sparse_categorical_cross_entropy": F.cross_entropy,
            "smooth_l1": lambda p, y: F.smooth_l1_loss(p, y, beta=params.get("beta", 1.0)),
            "poisson": lambda p, y: F.poisson_nll_loss(
                p, y, log_input=params.get("log_input", True), full=params.get("full", False),
                eps=params.get("eps", 1e-8)),
            "kl_divergence": lambda q, t: F.kl_div(torch.log(q), t, reduction="batchmean",
                                                   log_target=False),
        }[loss]

    def prepare(self, case, n_threads):
        import torch
        if case.loss in self.MULTI:
            return self._prepare_multi(case)
        forward = self._forward(case.loss, _peer_params(case))
        p = torch.from_numpy(case.p).requires_grad_()
        y = torch.from_numpy(case.y)

        def run():
            p.grad = None
            value = forward(p, y)
            value.backward()
            return value
        return Call(run, lambda v: (v.item(), p.grad.numpy()))

    @staticmethod
    def _forward_multi(loss, prm):
        """(indices of the fastloss arguments that get a gradient, forward taking the
        tensors in fastloss's argument order)."""
        import torch.nn.functional as F
        if loss == "triplet":
            return (0, 1, 2), lambda a, p, n: F.triplet_margin_loss(
                a, p, n, margin=prm.get("margin", 1.0), p=prm.get("p", 2.0),
                eps=prm.get("eps", 1e-6), swap=prm.get("swap", False))
        if loss == "cosine_embedding":
            return (1, 2), lambda y, x1, x2: F.cosine_embedding_loss(
                x1, x2, y, margin=prm.get("margin", 0.0))
        raise KeyError(loss)

    def _prepare_multi(self, case):
        import torch
        grad_idx, forward = self._forward_multi(case.loss, _peer_params(case))
        tensors = [torch.from_numpy(a) for a in case.arrays]
        leaves = [tensors[i].requires_grad_() for i in grad_idx]

        def run():
            for t in leaves:
                t.grad = None
            value = forward(*tensors)
            value.backward()
            return value
        return Call(run, lambda v: (v.item(), tuple(t.grad.numpy() for t in leaves)))


class JaxPeer(Peer):
    """``jax.jit(jax.value_and_grad(f))`` with ``f`` the optax loss followed by ``.mean()``,
    on inputs already on the device (``jax.device_put`` outside the timed region); timed:
    the jitted call and ``block_until_ready`` on the value and gradient.  64-bit mode is on
    so float64 runs in float64 (float32 inputs stay float32).  Thread count: the worker
    process's ``XLA_FLAGS`` (single-threaded Eigen for the 1-thread configuration)."""
    name = "jax"
    supported = ("mse", "mae", "huber", "binary_cross_entropy", "categorical_cross_entropy",
                 "sparse_categorical_cross_entropy")
    notes = {"mae": "optax has no L1 loss: jnp.mean(jnp.abs(p - y))"}

    def versions(self):
        import jax
        import jaxlib
        import optax
        return {"jax": jax.__version__, "jaxlib": jaxlib.__version__,
                "optax": optax.__version__}

    def configure(self, n_threads, explicit):
        import jax
        jax.config.update("jax_enable_x64", True)

    @staticmethod
    def _loss(loss, params):
        import jax.numpy as jnp
        import optax
        L = optax.losses
        delta = params.get("delta", 1.0)
        return {
            "mse": lambda p, y: L.squared_error(p, y).mean(),
            "mae": lambda p, y: jnp.mean(jnp.abs(p - y)),
            "huber": lambda p, y: L.huber_loss(p, y, delta=delta).mean(),
            "binary_cross_entropy": lambda p, y: L.sigmoid_binary_cross_entropy(p, y).mean(),
            "categorical_cross_entropy": lambda p, y: L.softmax_cross_entropy(p, y).mean(),
            "sparse_categorical_cross_entropy":
                lambda p, y: L.softmax_cross_entropy_with_integer_labels(p, y).mean(),
        }[loss]

    def prepare(self, case, n_threads):
        import jax
        f = jax.jit(jax.value_and_grad(self._loss(case.loss, _peer_params(case))))
        p, y = jax.device_put(case.p), jax.device_put(case.y)
        jax.block_until_ready((p, y))

        def run():
            return jax.block_until_ready(f(p, y))
        return Call(run, lambda r: (float(r[0]), np.asarray(r[1])))


class SklearnPeer(Peer):
    """scikit-learn's private ``sklearn._loss`` classes (the Cython losses behind its
    estimators): ``loss_gradient(y, raw, loss_out=, gradient_out=, n_threads=n)`` with both
    outputs preallocated, then ``loss_out.mean()`` (the reduction is part of the timed work).

    scikit-learn returns per-sample gradients and HalfSquaredError is half the squared
    error, so the check rescales (value x2 and gradient x2/N for MSE, gradient x1/N for the
    others); a user folds that constant into the learning rate, so it is not timed.  For the
    multinomial loss the labels are passed as a float array of the logits' dtype (its
    required format), converted outside the timed region."""
    name = "sklearn"
    # loss -> (class name, value scale to fastloss's convention)
    CLASSES = {
        "mse": ("HalfSquaredError", 2.0),
        "mae": ("AbsoluteError", 1.0),
        "huber": ("HuberLoss", 1.0),
        "binary_cross_entropy": ("HalfBinomialLoss", 1.0),
        "sparse_categorical_cross_entropy": ("HalfMultinomialLoss", 1.0),
    }
    supported = tuple(CLASSES)
    missing = {"categorical_cross_entropy":
               "scikit-learn's HalfMultinomialLoss takes integer labels only, not "
               "probability-row targets"}

    def versions(self):
        import sklearn
        return {"scikit-learn": sklearn.__version__}

    def configure(self, n_threads, explicit):
        self.n_threads = n_threads

    def prepare(self, case, n_threads):
        from sklearn._loss import loss as sk
        cls_name, scale = self.CLASSES[case.loss]
        cls = getattr(sk, cls_name)
        p = case.p
        if case.loss == "huber":
            obj = cls(delta=case.params.get("delta", 1.0))
        elif case.loss == "sparse_categorical_cross_entropy":
            obj = cls(n_classes=p.shape[1])
        else:
            obj = cls()
        y = case.y.astype(p.dtype) if case.y.dtype != p.dtype else case.y
        loss_out = np.empty(p.shape[0], dtype=p.dtype)
        grad_out = np.empty_like(p)
        n, nt = p.shape[0], self.n_threads

        def run():
            obj.loss_gradient(y, p, loss_out=loss_out, gradient_out=grad_out, n_threads=nt)
            return loss_out.mean()
        return Call(run, lambda m: (scale * float(m), grad_out * (scale / n)))


class NumbaPeer(Peer):
    """A hand-written fused kernel per loss (``NUMBA_KERNELS``) compiled with
    ``numba.njit(parallel=True, fastmath=True)``: one ``prange`` loop computing the loss
    (float64 accumulation) and writing the gradient into a buffer preallocated outside the
    timed region.  Compilation happens in the untimed warm-up call.  Threads:
    ``numba.set_num_threads``."""
    name = "numba"
    supported = tuple(NUMBA_KERNELS)

    def versions(self):
        import numba
        import llvmlite
        return {"numba": numba.__version__, "llvmlite": llvmlite.__version__}

    def configure(self, n_threads, explicit):
        import numba
        if explicit:
            numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
        self._jit = {name: numba.njit(parallel=True, fastmath=True)(fn)
                     for name, fn in NUMBA_KERNELS.items()}

    def prepare(self, case, n_threads):
        kernel = self._jit[case.loss]
        y, p = case.y, case.p
        g = np.empty_like(p)
        extra = (float(case.params.get("delta", 1.0)),) if case.loss == "huber" else ()

        def run():
            return kernel(y, p, g, *extra)
        return Call(run, lambda v: (float(v), g))


class BandwidthReference(Peer):
    """``np.add(a, b, out=c)`` over arrays of the prediction's size and dtype: reads two
    arrays and writes one, the memory traffic of an elementwise fused loss + gradient (for
    the sparse loss the labels are N integers, so it slightly over-counts).  NumPy runs it
    on one thread.  Not checked and never the "best peer": it is the yardstick."""
    name = "bandwidth"
    reference = True

    def unsupported(self, loss):
        return None

    def versions(self):
        return {"numpy": np.__version__}

    def prepare(self, case, n_threads):
        a = case.p
        b = np.full_like(a, 0.5)
        c = np.empty_like(a)
        return Call(lambda: np.add(a, b, out=c), lambda r: (None, None))


PEERS = {cls.name: cls for cls in (FastlossPeer, NumpyPeer, TorchPeer, JaxPeer, SklearnPeer,
                                   NumbaPeer, BandwidthReference)}
"""Every peer, in report order; the harness is driven by this table."""

RIVALS = [name for name, cls in PEERS.items() if name != "fastloss" and not cls.reference]
