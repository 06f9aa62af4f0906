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
    (logits for the classification losses) and fastloss keyword arguments ``params``."""
    loss: str
    y: np.ndarray
    p: np.ndarray
    params: dict


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
        buf = np.empty_like(case.p)
        y, p, params, nt = case.y, case.p, case.params, self.n_threads

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
        y, p, kw = case.y, case.p, _peer_params(case)
        return Call(lambda: f(y, p, **kw), lambda r: _mean_grad(*r))


class TorchPeer(Peer):
    """``torch.nn.functional`` loss (reduction "mean") forward and ``.backward()`` on CPU.

    Outside the timed region: ``torch.from_numpy`` (zero-copy) of the inputs and
    ``requires_grad_()`` on the prediction, a leaf tensor.  Timed: ``p.grad = None`` (what
    ``optimizer.zero_grad()`` does by default), forward, backward (which allocates the
    gradient; PyTorch has no preallocated-output form of backward)."""
    name = "torch"
    supported = ("mse", "mae", "huber", "binary_cross_entropy", "categorical_cross_entropy",
                 "sparse_categorical_cross_entropy")

    def versions(self):
        import torch
        return {"torch": torch.__version__}

    def configure(self, n_threads, explicit):
        import torch
        if explicit:
            torch.set_num_threads(n_threads)

    @staticmethod
    def _forward(loss, params):
        import torch.nn.functional as F
        return {
            "mse": F.mse_loss,
            "mae": F.l1_loss,
            "huber": lambda p, y: F.huber_loss(p, y, delta=params.get("delta", 1.0)),
            "binary_cross_entropy": F.binary_cross_entropy_with_logits,
            "categorical_cross_entropy": F.cross_entropy,   # probability targets
            "sparse_categorical_cross_entropy": F.cross_entropy,
        }[loss]

    def prepare(self, case, n_threads):
        import torch
        forward = self._forward(case.loss, _peer_params(case))
        p = torch.from_numpy(case.p).requires_grad_()
        y = torch.from_numpy(case.y)

        def run():
            p.grad = None
            value = forward(p, y)
            value.backward()
            return value
        return Call(run, lambda v: (v.item(), p.grad.numpy()))


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
