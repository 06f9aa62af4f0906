"""Peer comparison of fastloss: ``python bench/run.py [--quick] [--threads ...] [--out DIR]``.

Not part of the installed package: this directory of the repository is run as scripts
(``bench/run.py``, and this file as the worker process), against whatever ``fastloss``
the interpreter imports (the installed one, or an in-place build on ``PYTHONPATH``).

What is measured
    The work of one training step's loss: the mean loss and its gradient with respect to the
    prediction (the logits for classification), for fastloss and for each peer in
    :data:`peers.PEERS` (NumPy formulas, PyTorch, JAX/optax, scikit-learn,
    a hand-written Numba kernel) plus the bandwidth reference ``np.add(a, b, out=c)``.
    Each peer's docstring says exactly what its timed call contains.

How
    * Every (thread configuration, peer) pair runs in a fresh worker process, started with
      the thread environment (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, ``NUMBA_NUM_THREADS``,
      ``XLA_FLAGS``) set before any peer is imported; the peer then also gets the count through
      its own API (``torch.set_num_threads``, ``numba.set_num_threads``, ``n_threads=``).
      A configuration with fewer threads than cores also pins the worker to that many of
      the least busy CPUs, so a peer cannot use more cores than it is credited with.
      One peer per process also keeps the peers' OpenMP runtimes and spinning thread pools
      from disturbing each other.  The workers' glibc malloc keeps a warm heap (see
      ``MALLOC_ENV``), so peers that allocate temporaries are not charged for page faults
      that depend on the harness's own allocation history.
    * Inputs are generated from a fixed seed per workload, identical in every worker.
    * Before timing, the peer's value and gradient (converted to fastloss's convention) are
      checked against fastloss run on one thread; a peer that disagrees is reported as
      ``wrong`` and not timed.  fastloss itself is checked against its one-thread result
      (the design promises bitwise equality for any thread count).
    * Timing: the checked call is the first warm-up (it includes JIT compilation); then the
      call is looped ``number`` times per sample so one sample lasts >= 2 ms, and samples
      are repeated until the time budget is spent (at least ``min_repeats``).  The figure is
      the median time per call; min, quartiles and CPU time / wall time (how many cores the
      peer kept busy) are recorded too.
    * Rounds: the full run starts every worker twice, the second round after all the first
      (process placement, memory layout and a neighbour's load vary between processes);
      the reported time is the median over the rounds (see :func:`combine_rounds`).
    * Shared machines: the cores other processes kept busy during a measurement are read
      from /proc/stat; above ``noise_cores`` the measurement is retried after a pause (up to
      ``attempts`` times, within a retry allowance per worker), the least disturbed one is
      kept, and the report marks it if it is still disturbed.

Outputs (to ``--out``, default ``bench/out/``, which git ignores; the committed results
are written only when asked for, ``--out bench/results``): ``full.json``/``full.md``/
``plots/*.png`` for the full run, ``quick.json``/``quick.md``/``plots/quick_*.png`` for
``--quick``, ``catalogue.json``/``catalogue.md`` for ``--catalogue`` (the losses beyond the
core six: fastloss, NumPy formula, PyTorch; one size, float32, one thread).  The markdown
holds every peer's column; stdout gets a compact table within 100 columns (fastloss, the
best peer, their ratio), the wrapped notes, and the folder and files written.
"""
import datetime
import gc
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass

import numpy as np

from peers import PEERS, Case

# --------------------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------------------

LOSSES = {
    # name: (input generator kind, fastloss keywords, display name)
    "mse": ("regression", {}, "MSE"),
    "mae": ("regression", {}, "MAE"),
    "huber": ("regression", {"delta": 1.0}, "Huber (delta=1)"),
    "binary_cross_entropy": ("binary", {"from_logits": True}, "BCE (logits)"),
    "categorical_cross_entropy": ("categorical", {"from_logits": True},
                                  "CE (logits, prob. targets)"),
    "sparse_categorical_cross_entropy": ("sparse", {"from_logits": True},
                                         "sparse CE (logits)"),
}
CLASS_KINDS = ("categorical", "sparse")

# Catalogue mode (``--catalogue``): every other built-in loss of the registry
# (``fastloss.available()``, see :func:`catalogue_losses`), one medium size, float32, one
# thread, against the NumPy formula (``peers.NUMPY_FORMULAS``) and PyTorch where they have
# the loss.  A loss the registry gains is timed without any edit here: with inputs of the
# default generator for its kind (``DEFAULT_INPUTS``), default parameters, its own name as
# the label, and for fastloss alone until a peer formula is added for it.
DEFAULT_INPUTS = {   # LossSpec.kind -> input generator kind
    "elementwise": "regression", "categorical": "categorical", "sparse": "sparse",
    "pairwise": "contrastive", "triplet": "triplet", "segmentation": "segmentation",
}
# Optional, per loss: inputs in the loss's domain (MSLE needs values > -1, hinge signed
# targets ...), the parameters to time and the label of the report.
CATALOGUE_INPUTS = {
    # name: (input generator kind, fastloss keywords, display name)
    "smooth_l1": ("regression", {"beta": 1.0}, "smooth L1 (beta=1)"),
    "log_cosh": ("regression", {}, "log-cosh"),
    "quantile": ("regression", {"quantile": 0.9}, "quantile (q=0.9)"),
    "poisson": ("counts", {}, "Poisson NLL (log-rate)"),
    "msle": ("positive", {}, "MSLE"),
    "mape": ("positive", {}, "MAPE"),
    "binary_focal": ("binary", {"from_logits": True}, "binary focal (logits, gamma=2)"),
    "categorical_focal": ("categorical", {"from_logits": True},
                          "categorical focal (logits, gamma=2)"),
    "hinge": ("signed", {}, "hinge"),
    "squared_hinge": ("signed", {}, "squared hinge"),
    "categorical_hinge": ("onehot", {}, "categorical hinge (one-hot)"),
    "kl_divergence": ("distributions", {}, "KL divergence (probabilities)"),
    "contrastive": ("contrastive", {}, "contrastive (margin=1)"),
    "triplet": ("triplet", {}, "triplet (margin=1, p=2)"),
    "cosine_embedding": ("cosine", {}, "cosine embedding (margin=0)"),
    "dice": ("segmentation", {}, "Dice"),
    "iou": ("segmentation", {}, "IoU"),
    "tversky": ("segmentation", {"alpha": 0.3, "beta": 0.7}, "Tversky (alpha=0.3, beta=0.7)"),
}
CATALOGUE_SHAPES = {   # generator kind -> shape of the prediction (per input array)
    "regression": (10**6,), "counts": (10**6,), "positive": (10**6,), "binary": (10**6,),
    "signed": (10**6,), "categorical": (8192, 128), "onehot": (8192, 128),
    "distributions": (8192, 128), "contrastive": (8192, 128), "triplet": (8192, 128),
    "cosine": (8192, 128), "segmentation": (64, 64, 64),
}
CATALOGUE_SETTINGS = dict(budget=0.15, min_repeats=5, max_repeats=100, rounds=2,
                          attempts=2, pause_s=0.5, retry_allowance_s=8.0)
CATALOGUE_PEERS = ("fastloss", "numpy", "torch")


def builtin_losses():
    """The canonical names of fastloss's own losses, in registry order (losses registered
    with ``fastloss.custom`` in this process are left out)."""
    import fastloss
    return [name for name in fastloss.available() if _spec_kind(name) != "custom"]


def _spec_kind(name):
    import fastloss
    return getattr(getattr(fastloss.get(name), "spec", None), "kind", None)


def catalogue_losses():
    """Every built-in loss beyond the core six (:data:`LOSSES`): the catalogue mode's."""
    return [name for name in builtin_losses() if name not in LOSSES]


def catalogue_workloads(losses=None, shapes=None, dtype="float32"):
    """The catalogue's workloads (``shapes`` overrides :data:`CATALOGUE_SHAPES` per kind)."""
    shapes = dict(CATALOGUE_SHAPES, **(shapes or {}))
    return [Workload(loss, tuple(shapes[workload_info(loss)[0]]), dtype)
            for loss in losses or catalogue_losses()]


def workload_info(loss):
    """(input generator kind, params, display name) of a core or catalogue loss; a loss
    without an entry in :data:`CATALOGUE_INPUTS` gets the default inputs of its kind."""
    if loss in LOSSES:
        return LOSSES[loss]
    if loss in CATALOGUE_INPUTS:
        return CATALOGUE_INPUTS[loss]
    kind = _spec_kind(loss)
    if kind not in DEFAULT_INPUTS:
        raise ValueError(f"no default benchmark inputs for loss {loss!r} of kind {kind!r}")
    return DEFAULT_INPUTS[kind], {}, loss


def display_name(loss):
    """The report's label of a loss (its name if fastloss no longer has it)."""
    try:
        return workload_info(loss)[2]
    except (ValueError, TypeError):
        return loss

#: Where a run writes unless told (``--out``): an untracked folder of the repository, so
#: that the main job never overwrites the committed results in bench/results.
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "bench", "out")

MODES = {
    "full": dict(
        losses=("mse", "huber", "binary_cross_entropy", "sparse_categorical_cross_entropy"),
        elementwise_shapes=((10**3,), (10**5,), (10**7,)),
        class_shapes=((128, 10), (8192, 128), (512, 32768)),
        dtypes=("float32", "float64"),
        threads=("1", "all"),
        budget=0.4, min_repeats=5, max_repeats=200, rounds=2,
        attempts=3, pause_s=1.0, retry_allowance_s=10.0,   # per worker process
    ),
    "quick": dict(
        losses=tuple(LOSSES),
        elementwise_shapes=((10**3,), (10**6,)),
        class_shapes=((128, 10), (8192, 128)),
        dtypes=("float32",),
        threads=("default",),
        budget=0.08, min_repeats=5, max_repeats=100, rounds=1,
        attempts=2, pause_s=0.5, retry_allowance_s=8.0,
    ),
}


@dataclass(frozen=True)
class Workload:
    loss: str
    shape: tuple
    dtype: str

    @property
    def size(self):
        return math.prod(self.shape)

    @property
    def shape_label(self):
        if len(self.shape) == 1:
            n = self.shape[0]
            e = round(math.log10(n))
            return f"1e{e}" if 10**e == n else str(n)
        return "x".join(map(str, self.shape))

    def as_dict(self):
        return {"loss": self.loss, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_dict(cls, d):
        return cls(d["loss"], tuple(d["shape"]), d["dtype"])


def build_workloads(mode, losses=None, dtypes=None):
    """The workloads of a run, in report order (loss, size, dtype)."""
    spec = MODES[mode]
    out = []
    for loss in losses or spec["losses"]:
        kind = LOSSES[loss][0]
        shapes = spec["class_shapes"] if kind in CLASS_KINDS else spec["elementwise_shapes"]
        for shape in shapes:
            for dtype in dtypes or spec["dtypes"]:
                out.append(Workload(loss, tuple(shape), dtype))
    return out


def make_case(wl):
    """Deterministic inputs for a workload (same seed in every worker process).

    Regression: y ~ N(0, 1), p = y + N(0, 1) (so Huber with delta=1 takes both branches).
    Binary: 0/1 targets in the prediction's dtype, logits ~ N(0, 2^2).  Categorical: logits
    ~ N(0, 2^2), probability-row targets (uniform draws normalised per row).  Sparse: int64
    labels uniform over the classes.
    """
    kind, params, _ = workload_info(wl.loss)
    rng = np.random.default_rng(zlib.crc32(repr(wl).encode()))
    dt = np.dtype(wl.dtype)

    def normal(scale=1.0, shape=wl.shape):
        return rng.standard_normal(shape, dtype=dt) * dt.type(scale)

    if kind == "regression":
        y = normal()
        p = y + normal()
    elif kind == "binary":
        y = (rng.random(wl.shape, dtype=dt) < 0.5).astype(dt)
        p = normal(2.0)
    elif kind == "categorical":
        p = normal(2.0)
        y = rng.random(wl.shape, dtype=dt)
        y /= y.sum(axis=1, keepdims=True)
    elif kind == "sparse":
        p = normal(2.0)
        y = rng.integers(0, wl.shape[1], size=wl.shape[0], dtype=np.int64)
    else:
        return _make_catalogue_case(wl, kind, params, rng, normal)
    return Case(wl.loss, np.ascontiguousarray(y), np.ascontiguousarray(p), dict(params))


def _make_catalogue_case(wl, kind, params, rng, normal):
    """Inputs of the catalogue's other generator kinds (see :data:`CATALOGUE_INPUTS`).

    counts: Poisson counts t (mean 2), log-rates z ~ N(0, 0.5^2) + log 2.  positive:
    t ~ 1 + Exp(1), p = t * U(0.5, 1.5) (MSLE and MAPE defined and away from 0).  signed:
    targets in {-1, 1}, p ~ N(0, 1).  onehot: one-hot rows, logits ~ N(0, 2^2).
    distributions: probability rows t and q (uniform draws in (0.05, 1] normalised per row).
    Embeddings (N, D): rows of scale 1/sqrt(D) so distances are about 1 (both sides of the
    margins); contrastive/cosine labels are fair coins.  segmentation: 0/1 masks and
    probabilities in (0.01, 0.99).
    """
    dt = np.dtype(wl.dtype)
    shape = wl.shape
    extra = ()

    def unif(lo, hi, shape=shape):
        return (lo + (hi - lo) * rng.random(shape, dtype=np.float64)).astype(dt)

    if kind == "counts":
        y = rng.poisson(2.0, size=shape).astype(dt)
        p = normal(0.5) + dt.type(np.log(2.0))
    elif kind == "positive":
        y = (1.0 + rng.exponential(1.0, size=shape)).astype(dt)
        p = y * unif(0.5, 1.5)
    elif kind == "signed":
        y = np.where(rng.random(shape) < 0.5, -1.0, 1.0).astype(dt)
        p = normal()
    elif kind == "onehot":
        p = normal(2.0)
        y = np.zeros(shape, dt)
        y[np.arange(shape[0]), rng.integers(0, shape[1], size=shape[0])] = 1
    elif kind == "distributions":
        y = unif(0.05, 1.0)
        y /= y.sum(axis=1, keepdims=True)
        p = unif(0.05, 1.0)
        p /= p.sum(axis=1, keepdims=True)
    elif kind in ("contrastive", "triplet", "cosine"):
        n, d = shape
        s = 1.0 / math.sqrt(d)
        row_scale = unif(0.2, 2.0, (n, 1))
        x1 = normal(s)
        x2 = x1 + normal(s) * row_scale
        if kind == "triplet":
            y, p, extra = x1, x2, (x1 + normal(s) * unif(0.2, 2.0, (n, 1)),)
        else:
            labels = rng.random(n) < 0.5
            y = (labels.astype(dt) if kind == "contrastive" else
                 np.where(labels, 1.0, -1.0).astype(dt))
            p, extra = x1, (x2,)
    elif kind == "segmentation":
        y = (rng.random(shape) < 0.3).astype(dt)
        p = unif(0.01, 0.99)
    else:
        raise ValueError(f"unknown workload kind {kind!r}")
    return Case(wl.loss, np.ascontiguousarray(y), np.ascontiguousarray(p), dict(params),
                tuple(np.ascontiguousarray(a) for a in extra))


# --------------------------------------------------------------------------------------
# Threads
# --------------------------------------------------------------------------------------

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "NUMBA_NUM_THREADS")
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

# glibc malloc in the workers: arrays up to 32 MiB come from the heap, and the heap is not
# handed back to the OS between calls.  With glibc's defaults, whether a peer's temporaries
# page-fault on every call depended on what the harness had allocated before (NumPy's MSE
# on 1e5 float64 measured 0.8 ms instead of 0.09 ms).  This is the warm steady state a
# training loop reaches; it only helps the peers that allocate (fastloss allocates nothing
# large in a call with out=), so it keeps the comparison conservative.  A value already in
# the environment wins.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(32 * 2**20),
              "MALLOC_TRIM_THRESHOLD_": str(256 * 2**20)}


def available_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Threads:
    """A thread configuration: ``label`` as shown, ``n`` the count peers are given, and
    ``explicit`` False for "default" (environment untouched, fastloss ``n_threads=None``;
    peers that need a count, like scikit-learn, get the number of cores)."""
    label: str
    n: int
    explicit: bool

    @classmethod
    def parse(cls, token):
        token = token.strip().lower()
        cores = available_cores()
        if token == "default":
            return cls("default", cores, False)
        n = cores if token == "all" else int(token)
        if n < 1:
            raise ValueError(f"thread count must be >= 1, got {token!r}")
        return cls(str(n), n, True)

    def environment(self):
        env = dict(os.environ)
        if self.explicit:
            for var in THREAD_VARS:
                env[var] = str(self.n)
            if self.n == 1:
                env["XLA_FLAGS"] = XLA_ONE_THREAD
        for var, value in MALLOC_ENV.items():
            env.setdefault(var, value)
        # The workers must import this very fastloss (installed, or an in-place build),
        # and this directory's peers module.
        import fastloss
        root = os.path.dirname(os.path.dirname(os.path.abspath(fastloss.__file__)))
        here = os.path.dirname(os.path.abspath(__file__))
        env["PYTHONPATH"] = os.pathsep.join(
            [root, here] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        return env


def _cpu_busy_ticks():
    """{cpu index: busy ticks since boot} from /proc/stat (Linux), else {}."""
    out = {}
    try:
        with open("/proc/stat") as f:
            for line in f:
                name, *fields = line.split()
                if name.startswith("cpu") and name != "cpu":
                    ticks = [int(x) for x in fields]
                    out[int(name[3:])] = sum(ticks[:8]) - ticks[3] - ticks[4]
    except (OSError, ValueError, IndexError):
        return {}
    return out


def pin_to_quietest_cpus(n, probe_s=0.3):
    """Restrict this process (and the threads it will start) to the ``n`` allowed CPUs
    that were least busy over ``probe_s`` seconds; the chosen CPUs, or None if the platform
    cannot pin.  Used for configurations with fewer threads than cores, so that "1 thread"
    means one core for every peer, including those whose runtime starts helper threads
    whatever it is told (JAX dispatches to a worker thread)."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except AttributeError:
        return None
    if n >= len(allowed):
        return None
    before = _cpu_busy_ticks()
    time.sleep(probe_s)
    after = _cpu_busy_ticks()
    load = {c: after.get(c, 0) - before.get(c, 0) for c in allowed}
    chosen = sorted(sorted(allowed, key=lambda c: (load[c], c))[:n])
    os.sched_setaffinity(0, chosen)
    return chosen


def parse_threads(tokens):
    """``["1", "2"]``, ``["1,all"]`` -> unique :class:`Threads`, in the order given."""
    out = []
    for token in tokens:
        for part in str(token).split(","):
            if part.strip():
                t = Threads.parse(part)
                if t not in out:
                    out.append(t)
    return out


# --------------------------------------------------------------------------------------
# Timing and checking (run inside the worker)
# --------------------------------------------------------------------------------------

def _loop(fn, number):
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return time.perf_counter() - t0


def _busy_cpu_seconds():
    """CPU seconds the whole machine has spent busy since boot (Linux), else None."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)      # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def measure(fn, budget, min_repeats=5, max_repeats=200, min_sample=2e-3):
    """Time ``fn()`` (already called once, the untimed warm-up that also compiles).

    One sample = ``number`` back-to-back calls, with ``number`` chosen so that a sample
    lasts at least ``min_sample`` seconds; samples are repeated to fill ``budget`` seconds,
    at least ``min_repeats`` and at most ``max_repeats`` times.  Garbage collection is off
    while timing.  Returns seconds per call (median, min, quartiles) and the CPU time /
    wall time ratio over the samples (1.0 = one busy core) and ``other_cores``, how many
    cores other processes kept busy meanwhile (from /proc/stat, 10 ms resolution; None
    where unavailable): the noise indicator of a shared machine.
    """
    one = _loop(fn, 1)                                   # second warm-up, calibration
    number = max(1, math.ceil(min_sample / max(one, 1e-9)))
    _loop(fn, number)                                    # warm the calibrated loop
    per_sample = max(one * number, 1e-9)
    repeats = int(min(max(budget / per_sample, min_repeats), max_repeats))
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        busy0 = _busy_cpu_seconds()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        samples = [_loop(fn, number) / number for _ in range(repeats)]
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        busy1 = _busy_cpu_seconds()
    finally:
        if gc_was_enabled:
            gc.enable()
    other = None if busy0 is None or busy1 is None else max(0.0, (busy1 - busy0 - cpu) / wall)
    q = statistics.quantiles(samples, n=4) if len(samples) >= 2 else samples * 3
    return {"median_s": statistics.median(samples), "min_s": min(samples),
            "q1_s": q[0], "q3_s": q[2], "repeats": repeats, "number": number,
            "cpu_per_wall": cpu / wall if wall > 0 else None,
            "other_cores": None if other is None else round(other, 2)}


def measure_quietly(fn, settings, retry_clock):
    """:func:`measure`, repeated (after a pause) while other processes kept more than
    ``settings["noise_cores"]`` cores busy: at most ``settings["attempts"]`` times, and
    only while the worker's retry allowance (``retry_clock["left_s"]``, seconds) lasts, so
    a busy machine cannot stretch a run without bound.  The least disturbed attempt is
    kept and the number of attempts recorded."""
    best = None
    for attempt in range(1, settings.get("attempts", 1) + 1):
        t0 = time.perf_counter()
        stats = measure(fn, settings["budget"], settings["min_repeats"],
                        settings["max_repeats"])
        if attempt > 1:
            retry_clock["left_s"] -= time.perf_counter() - t0
        if best is None or (stats["other_cores"] or 0) < (best["other_cores"] or 0):
            best = dict(stats)
        if (stats["other_cores"] is None or stats["other_cores"] <= settings["noise_cores"]
                or retry_clock["left_s"] <= 0):
            break
        pause = settings.get("pause_s", 1.0)
        retry_clock["left_s"] -= pause
        time.sleep(pause)
    best["attempts"] = attempt
    return best


TOLERANCES = {  # value rtol, gradient rtol, gradient atol as a fraction of max |grad|
    "float32": (1e-4, 1e-4, 1e-5),
    "float64": (1e-9, 1e-9, 1e-12),
}


def check(value, grad, ref_value, ref_grad):
    """None if (value, grad) agrees with fastloss's (ref_value, ref_grad), else why not."""
    v_rtol, g_rtol, g_atol = TOLERANCES[ref_grad.dtype.name]
    if grad.shape != ref_grad.shape:
        return f"gradient shape {grad.shape}, expected {ref_grad.shape}"
    if grad.dtype != ref_grad.dtype:
        return f"gradient dtype {grad.dtype}, expected {ref_grad.dtype}"
    if not math.isfinite(value) or abs(value - ref_value) > v_rtol * abs(ref_value):
        return (f"loss {value!r} vs fastloss {ref_value!r} (relative difference "
                f"{abs(value - ref_value) / abs(ref_value):.2e} > {v_rtol:g})")
    atol = g_atol * float(np.max(np.abs(ref_grad)))
    if not np.allclose(grad, ref_grad, rtol=g_rtol, atol=atol):
        bad = ~np.isclose(grad, ref_grad, rtol=g_rtol, atol=atol)
        worst = float(np.max(np.abs(grad.astype(np.float64) - ref_grad)))
        return (f"gradient differs at {int(bad.sum())} of {grad.size} elements (max abs "
                f"difference {worst:.3g}, max |grad| {float(np.max(np.abs(ref_grad))):.3g})")
    return None


def check_all(value, grads, ref_value, ref_grads):
    """:func:`check` for one gradient or a tuple of them (losses of several arrays)."""
    if not isinstance(ref_grads, tuple):
        return check(value, np.asarray(grads), ref_value, ref_grads)
    if not isinstance(grads, tuple) or len(grads) != len(ref_grads):
        return f"{len(grads) if isinstance(grads, tuple) else 1} gradients, " \
               f"expected {len(ref_grads)}"
    for i, (g, r) in enumerate(zip(grads, ref_grads)):
        problem = check(value, np.asarray(g), ref_value, r)
        if problem:
            return f"gradient {i + 1} of {len(ref_grads)}: {problem}"
    return None


def reference(case):
    """fastloss on one thread: the value and gradient(s) every peer is checked against."""
    import fastloss
    value, grad = fastloss.get(case.loss).value_and_grad(*case.arrays, n_threads=1,
                                                        **case.params)
    return float(value), grad


def _one_workload(peer, wl, threads, settings, retry_clock):
    """Check then time one peer on one workload; a result record (no exceptions)."""
    rec = wl.as_dict()
    note = peer.notes.get(wl.loss)
    if note:
        rec["note"] = note
    reason = peer.unsupported(wl.loss)
    if reason:
        return dict(rec, status="skipped", reason=reason)
    case = make_case(wl)
    try:
        call = peer.prepare(case, threads.n)
        raw = call.run()                                      # warm-up / JIT compile
        if not peer.reference:
            value, grad = call.convert(raw)
            ref_value, ref_grad = reference(case)
            if isinstance(ref_grad, tuple):
                problem = check_all(value, grad, ref_value, ref_grad)
            else:
                problem = check(value, np.asarray(grad), ref_value, ref_grad)
            if problem:
                return dict(rec, status="wrong", reason=problem)
            rec["value"] = value
            if peer.name == "fastloss":
                rec["bitwise_equal_to_1_thread"] = bool(
                    value == ref_value and all(np.array_equal(g, r) for g, r in zip(
                        grad if isinstance(grad, tuple) else (grad,),
                        ref_grad if isinstance(ref_grad, tuple) else (ref_grad,))))
            del grad, ref_grad
        # Nothing from the check outlives it, so the heap the timed calls see does not
        # depend on what the check allocated.
        del raw
        gc.collect()
        stats = measure_quietly(call.run, settings, retry_clock)
        return dict(rec, status="ok", **stats)
    except Exception as exc:  # a peer failing must not stop the benchmark
        return dict(rec, status="error", reason=f"{type(exc).__name__}: {exc}")
    finally:
        del case
        gc.collect()


ROUND_FIELDS = ("median_s", "min_s", "q1_s", "q3_s", "repeats", "number", "cpu_per_wall",
                "other_cores", "attempts")


def combine_rounds(records, noise_cores):
    """One record from the same measurement made in several rounds (worker processes).

    A peer wrong or failing in any round is reported so.  Otherwise the time is the median
    of the rounds' medians, over the rounds that were not disturbed by other processes if
    there are any (else over all, and the record stays marked as disturbed); every round's
    figures are kept under ``rounds``.
    """
    for status in ("wrong", "error", "skipped"):
        bad = [r for r in records if r["status"] == status]
        if bad:
            return bad[0]
    quiet = [r for r in records if (r.get("other_cores") or 0) <= noise_cores] or records
    out = dict(quiet[0])
    out["median_s"] = statistics.median(r["median_s"] for r in quiet)
    out["min_s"] = min(r["min_s"] for r in quiet)
    out["other_cores"] = max((r.get("other_cores") or 0) for r in quiet)
    out["rounds_used"] = len(quiet)
    out["rounds"] = [{k: r.get(k) for k in ROUND_FIELDS} for r in records]
    for k in ("q1_s", "q3_s", "repeats", "number", "cpu_per_wall", "attempts"):
        out.pop(k, None)
    ratios = [r["cpu_per_wall"] for r in quiet if r.get("cpu_per_wall") is not None]
    out["cpu_per_wall"] = statistics.median(ratios) if ratios else None
    return out


def _threadpools():
    """The thread pools loaded in this process (library, API, threads), without paths."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [{k: v for k, v in pool.items() if k in ("user_api", "internal_api", "prefix",
                                                     "num_threads", "version")}
            for pool in threadpool_info()]


def worker(job_path, result_path):
    """Entry point of a worker process: run one peer in one thread configuration."""
    with open(job_path) as f:
        job = json.load(f)
    threads = Threads(**job["threads"])
    result = {"peer": job["peer"], "threads": threads.label, "records": []}
    if threads.explicit:
        result["pinned_cpus"] = pin_to_quietest_cpus(threads.n)
    try:
        peer = PEERS[job["peer"]]()
        result["versions"] = peer.versions()
        peer.configure(threads.n, threads.explicit)
    except ImportError as exc:
        result["missing"] = f"not installed ({exc})"
    else:
        retry_clock = {"left_s": job["settings"].get("retry_allowance_s", 0.0)}
        for wd in job["workloads"]:
            wl = Workload.from_dict(wd)
            result["records"].append(_one_workload(peer, wl, threads, job["settings"],
                                                   retry_clock))
        import fastloss
        result["fastloss_config"] = fastloss.config()
        result["threadpools"] = _threadpools()
    with open(result_path, "w") as f:
        json.dump(result, f)


# --------------------------------------------------------------------------------------
# Orchestration (parent process)
# --------------------------------------------------------------------------------------

def run_worker(peer, threads, workloads, settings):
    """Run ``worker`` in a fresh interpreter with the thread environment; its result."""
    with tempfile.TemporaryDirectory(prefix="fastloss-bench-") as tmp:
        job_path, result_path = os.path.join(tmp, "job.json"), os.path.join(tmp, "out.json")
        with open(job_path, "w") as f:
            json.dump({"peer": peer, "threads": threads.__dict__, "settings": settings,
                       "workloads": [w.as_dict() for w in workloads]}, f)
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), job_path,
                               result_path], env=threads.environment(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0 or not os.path.exists(result_path):
            tail = "\n".join((proc.stderr or "").strip().splitlines()[-5:])
            return {"peer": peer, "threads": threads.label, "records": [],
                    "failed": f"worker exited with code {proc.returncode}: {tail}"}
        with open(result_path) as f:
            return json.load(f)


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return [x for x in ("sse2", "avx", "avx2", "fma", "avx512f") if x in flags]
    except OSError:
        pass
    return []


def _memory_gib():
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def machine_info():
    """What the numbers depend on (no host name, no paths)."""
    return {
        "cpu": _cpu_model(), "cpu_flags": _cpu_flags(), "logical_cpus": os.cpu_count(),
        "cores_available": available_cores(), "memory_gib": _memory_gib(),
        "os": platform.platform(terse=True), "python": platform.python_version(),
        "numpy": np.__version__,
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def run(mode="full", threads=None, peers=None, losses=None, dtypes=None, budget=None,
        rounds=None, out_dir=DEFAULT_OUT, plots=True, command=None, log=sys.stderr):
    """Run the benchmark, write JSON + markdown + plots; the result."""
    import fastloss

    import report

    spec = MODES[mode]
    thread_cfgs = parse_threads(threads or spec["threads"])
    if "all" in (threads or spec["threads"]) and available_cores() == 1:
        thread_cfgs = thread_cfgs[:1]
    names = ["fastloss"] + [p for p in (peers or PEERS) if p not in ("fastloss", "bandwidth")]
    names.append("bandwidth")
    unknown = [p for p in names if p not in PEERS]
    if unknown:
        raise ValueError(f"unknown peer(s) {unknown}; known: {', '.join(PEERS)}")
    workloads = build_workloads(mode, losses, dtypes)
    settings = {"budget": budget or spec["budget"], "min_repeats": spec["min_repeats"],
                "max_repeats": spec["max_repeats"], "noise_cores": 0.3,
                **{k: spec[k] for k in ("attempts", "pause_s", "retry_allowance_s")},
                "rounds": rounds or spec["rounds"]}

    start = time.time()
    result = {
        "schema": 1, "mode": mode, "command": command,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(), "fastloss_config": fastloss.config(),
        "settings": settings, "tolerances": TOLERANCES,
        "worker_environment": {k: os.environ.get(k, v) for k, v in MALLOC_ENV.items()},
        "thread_configs": [t.__dict__ for t in thread_cfgs],
        "workloads": [w.as_dict() for w in workloads],
        "peers": {}, "measurements": [],
    }
    jobs = [(t, p) for t in thread_cfgs for p in names]
    rounds = settings["rounds"]
    collected = {}                      # (peer, threads, loss, shape, dtype) -> [records]
    for rnd in range(1, rounds + 1):
        for i, (tc, peer) in enumerate(jobs, 1):
            t0 = time.time()
            out = run_worker(peer, tc, workloads, settings)
            info = result["peers"].setdefault(peer, {
                "description": " ".join((PEERS[peer].__doc__ or "").split()),
                "versions": {}, "by_threads": {}})
            info["versions"].update(out.get("versions", {}))
            info["by_threads"][tc.label] = {k: out[k] for k in (
                "missing", "failed", "pinned_cpus", "threadpools", "fastloss_config")
                if k in out}
            for rec in out["records"]:
                key = (peer, tc.label, rec["loss"], tuple(rec["shape"]), rec["dtype"])
                collected.setdefault(key, []).append(rec)
            status = out.get("missing") or out.get("failed") or \
                f"{sum(r['status'] == 'ok' for r in out['records'])}/{len(workloads)} timed"
            print(f"[round {rnd}/{rounds}, {i}/{len(jobs)}] {peer:<9} threads={tc.label:<7} "
                  f"{status} ({time.time() - t0:.1f} s)", file=log, flush=True)
    for (peer, label, *_), recs in collected.items():
        rec = combine_rounds(recs, settings["noise_cores"])
        result["measurements"].append(dict(rec, peer=peer, threads=label))
    result["duration_s"] = round(time.time() - start, 1)
    result["machine"]["load_average_at_end"] = (list(os.getloadavg())
                                                if hasattr(os, "getloadavg") else None)
    report.write_outputs(result, out_dir, plots=plots, log=log)
    return result


def run_catalogue(losses=None, budget=None, out_dir=DEFAULT_OUT, command=None,
                  log=sys.stderr):
    """Catalogue mode: value_and_grad of every loss of :func:`catalogue_losses` (the
    built-in losses of ``fastloss.available()`` beyond the core six) at one medium size, float32, one thread,
    for fastloss (``out=`` preallocated), the NumPy formula and PyTorch where
    ``torch.nn.functional`` has the loss.  Same machinery as the full run: one fresh,
    pinned worker process per peer, every peer checked against fastloss before timing,
    two rounds (the median is reported, see :func:`combine_rounds`).  Writes
    ``catalogue.json``/``catalogue.md`` and prints the table."""
    import fastloss

    import report

    threads = Threads.parse("1")
    workloads = catalogue_workloads(losses)
    settings = {"budget": budget or CATALOGUE_SETTINGS["budget"],
                "min_repeats": CATALOGUE_SETTINGS["min_repeats"],
                "max_repeats": CATALOGUE_SETTINGS["max_repeats"], "noise_cores": 0.3,
                **{k: CATALOGUE_SETTINGS[k] for k in ("attempts", "pause_s",
                                                       "retry_allowance_s", "rounds")}}
    start = time.time()
    result = {
        "schema": 1, "mode": "catalogue", "command": command,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(), "fastloss_config": fastloss.config(),
        "settings": settings, "tolerances": TOLERANCES,
        "worker_environment": {k: os.environ.get(k, v) for k, v in MALLOC_ENV.items()},
        "thread_configs": [threads.__dict__],
        "workloads": [dict(w.as_dict(), params=workload_info(w.loss)[1]) for w in workloads],
        "peers": {}, "measurements": [],
    }
    rounds = settings["rounds"]
    collected = {}                                  # (peer, loss, shape) -> [records]
    for rnd in range(1, rounds + 1):
        for i, peer in enumerate(CATALOGUE_PEERS, 1):
            t0 = time.time()
            out = run_worker(peer, threads, workloads, settings)
            result["peers"][peer] = {
                "description": " ".join((PEERS[peer].__doc__ or "").split()),
                "versions": out.get("versions", {}),
                "by_threads": {threads.label: {k: out[k] for k in (
                    "missing", "failed", "pinned_cpus", "threadpools", "fastloss_config")
                    if k in out}}}
            for rec in out["records"]:
                collected.setdefault((peer, rec["loss"], tuple(rec["shape"])), []).append(rec)
            status = out.get("missing") or out.get("failed") or \
                f"{sum(r['status'] == 'ok' for r in out['records'])}/{len(workloads)} timed"
            print(f"[round {rnd}/{rounds}, {i}/{len(CATALOGUE_PEERS)}] {peer:<9} threads=1 "
                  f"{status} ({time.time() - t0:.1f} s)", file=log, flush=True)
    for (peer, *_), recs in collected.items():
        rec = combine_rounds(recs, settings["noise_cores"])
        result["measurements"].append(dict(rec, peer=peer, threads=threads.label))
    result["duration_s"] = round(time.time() - start, 1)
    result["machine"]["load_average_at_end"] = (list(os.getloadavg())
                                                if hasattr(os, "getloadavg") else None)
    report.write_outputs(result, out_dir, plots=False, log=log)
    return result


def add_arguments(parser):
    """The options of ``python bench/run.py``."""
    parser.add_argument("--quick", action="store_true",
                        help="the ~1-minute run: six losses, two sizes, float32, default "
                             "threads (writes quick.json/quick.md and plots)")
    parser.add_argument("--catalogue", action="store_true",
                        help="every built-in loss beyond the core six (derived from "
                             "fastloss.available()), one "
                             "medium size, float32, 1 thread, against the NumPy formula and "
                             "PyTorch where it has the loss (writes catalogue.json/"
                             "catalogue.md; --losses may pick a subset)")
    parser.add_argument("--threads", nargs="+", metavar="N",
                        help="thread configurations: integers, 'all' (every available core) "
                             "or 'default' (library defaults); e.g. --threads 1 all "
                             "(full run default: 1 all; quick: default)")
    parser.add_argument("--out", default=DEFAULT_OUT,
                        help="output directory (default: bench/out in the repository, "
                             "untracked; the committed results: --out bench/results)")
    parser.add_argument("--peers", help=f"comma-separated subset of {', '.join(PEERS)} "
                                        "(fastloss and the bandwidth reference always run)")
    parser.add_argument("--losses", help=f"comma-separated subset of {', '.join(LOSSES)}")
    parser.add_argument("--dtypes", help="comma-separated subset of float32,float64")
    parser.add_argument("--budget", type=float,
                        help="seconds of timing per measurement (full: 0.4, quick: 0.08)")
    parser.add_argument("--rounds", type=int,
                        help="run every worker this many times, spread over the run, and "
                             "report the median of the rounds (full: 2, quick: 1)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--from-json", metavar="FILE",
                        help="do not measure: re-render the markdown and plots of a JSON "
                             "written by an earlier run")


def _split(text):
    return [x.strip() for x in text.split(",") if x.strip()] if text else None


def _portable(arg):
    """A command-line argument as the results should record it: a path inside the repository
    (dev.py passes absolute ones) relative to the repository root, so that the committed
    command is the one to type in any checkout and names no directory of this machine."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    prefix, sep, path = arg.partition("=") if arg.startswith("--") else ("", "", arg)
    if os.path.isabs(path) and os.path.commonpath([root, os.path.abspath(path)]) == root:
        path = os.path.relpath(path, root)
    return prefix + sep + path


def run_from_args(args, argv):
    """Run ``bench`` from parsed CLI arguments; ``argv`` is recorded as the command."""
    import report
    if args.from_json:
        with open(args.from_json) as f:
            result = json.load(f)
        report.write_outputs(result, args.out, plots=not args.no_plots and
                             result["mode"] != "catalogue", log=sys.stderr)
        return 0
    losses = _split(args.losses)
    command = " ".join(["python bench/run.py"] + [shlex.quote(_portable(a)) for a in argv])
    if args.catalogue:
        known = catalogue_losses()
        for loss in losses or ():
            if loss not in known:
                raise SystemExit(f"unknown catalogue loss {loss!r}; known: "
                                 f"{', '.join(known)}")
        run_catalogue(losses=losses, budget=args.budget, out_dir=args.out, command=command)
        return 0
    for loss in losses or ():
        if loss not in LOSSES:
            raise SystemExit(f"unknown loss {loss!r}; known: {', '.join(LOSSES)}")
    run(mode="quick" if args.quick else "full", threads=args.threads,
        peers=_split(args.peers), losses=losses, dtypes=_split(args.dtypes),
        budget=args.budget, rounds=args.rounds, out_dir=args.out, plots=not args.no_plots,
        command=command)
    return 0


if __name__ == "__main__":  # worker process: python bench/harness.py JOB RESULT
    worker(sys.argv[1], sys.argv[2])
