"""fastloss on Dask arrays, run on a real two-process ``distributed.LocalCluster``.

Every case of the shared battery (tests/cases.py: every registered loss), float32 and
float64, several chunkings (uneven ones included), every reduction, with and without
sample weights (ignore_index and class_weight come with the battery's rows), against the
in-memory result of the same call.  Also: each chunk is visited once by value_and_grad, the
result is deterministic, sample axes are rechunked with a warning, bad input is caught at
graph-building time (or at compute time, with the in-memory message), the kernels use one
thread per Dask thread, ``import fastloss`` does not import Dask, and the example runs.

Dask and distributed are imported unconditionally: they are in the ``test`` extra, and the
suite fails, not skips, without them.
"""
import importlib.util
import logging
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import dask
import dask.array as da
import distributed
from distributed import Client, LocalCluster

import fastloss as fl
import fastloss.dask as fldask
from cases import CASE_IDS, CASES, call_args, per_sample_shape, preds_of, shape_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REDUCTIONS = ["mean", "sum", "none", "sum_over_batch_size"]
N = 23                                   # samples: not a multiple of any chunk size below


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes on the loopback interface, one thread each; closed when this
    module's tests are done (its client's threads would otherwise run, and allocate, during
    later tests - test_api's tracemalloc check counts every thread's allocations)."""
    with dask.config.set({"distributed.comm.timeouts.connect": "30s",
                          "distributed.comm.timeouts.tcp": "30s"}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None,
                               silence_logs=logging.ERROR, death_timeout=60)
        client = Client(cluster, timeout=60)
        try:
            client.wait_for_workers(2, timeout=60)
            yield cluster, client
        finally:
            client.close(timeout=30)
            cluster.close(timeout=30)


def draw(case, shape, dtype, seed):
    rng = np.random.default_rng(seed)
    y_true, y_pred = case.inputs(rng, shape, dtype)
    preds = preds_of(case, y_pred)
    w = rng.uniform(0.1, 2.0, size=per_sample_shape(case, preds[0]))
    return y_true, preds, w


def chunked(x, batch):
    """``x`` as a Dask array chunked by ``batch`` (rows per chunk along the leading axes;
    the other axes whole: a sample is never split)."""
    if x is None:
        return None
    batch = batch[:x.ndim]
    return da.from_array(x, chunks=tuple(batch) + (-1,) * (x.ndim - len(batch)))


ALL = [(r, w) for r in REDUCTIONS for w in (False, True)]


def layouts(case, dtype, full=False):
    """(shape, chunks of the leading axes, (reduction, weighted) pairs) of a case: several
    chunkings, uneven ones among them.  ``full``: every reduction with and without weights
    on every chunking; else a selection, split between the dtypes, that still covers every
    reduction, the denominator's pre-pass, Dask and NumPy weights and per-sample losses
    (the cluster run, kept short)."""
    two = shape_for(case, ndim=2, n=N)
    three = shape_for(case, ndim=3, n=14)                       # (2, 7, K) in 1 x 4 rows
    rows = case.kind in ("elementwise", "sparse", "categorical")
    if full:
        out = [(two, (8,), ALL), (two, (12,), ALL), (two, (5,), ALL), (two, (N,), ALL)]
        if rows:
            out.append((three, (1, 4), ALL))
        if case.kind == "elementwise":
            out.append(((N,), (6,), ALL))                       # N samples of one output
        return out
    if dtype == np.float32:
        out = [(two, (8,), [("mean", True), ("none", False)])]
        if rows:
            out.append((three, (1, 4), [("mean", False)]))
        if case.kind == "elementwise":
            out.append(((N,), (6,), [("sum_over_batch_size", True)]))
        return out
    out = [(two, (12,), [("sum_over_batch_size", True), ("sum", True)])]
    if rows:
        out.append((three, (1, 4), [("none", True)]))
    return out


def assert_close(actual, expected, dtype, what):
    eps = float(np.finfo(dtype).eps)
    expected = np.asarray(expected, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    assert actual.shape == expected.shape, what
    scale = float(np.nanmax(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=8 * eps, atol=8 * eps * scale,
                               equal_nan=True, err_msg=what)


# ---- the battery on the cluster ---------------------------------------------------------------

def battery(case, full=False):
    """Lazy (value, gradients) of every layout of a case, and the in-memory results."""
    loss = fl.get(case.loss, **case.params)
    lazy, expected, labels = [], [], []
    for dtype in (np.float32, np.float64):
        for i, (shape, batch, combos) in enumerate(layouts(case, dtype, full)):
            y_true, preds, w = draw(case, shape, dtype, seed=i)
            t_d = None if y_true is None else chunked(y_true, batch)
            p_d = tuple(chunked(p, batch) for p in preds)
            w_d = chunked(w, batch)
            for reduction, weighted in combos:
                if weighted and reduction in ("sum", "none"):
                    w_arg = w                                  # a NumPy weight, Dask inputs
                else:
                    w_arg = w_d if weighted else None
                mem = loss.value_and_grad(*call_args(case, y_true, preds), reduction=reduction,
                                          sample_weight=w if weighted else None)
                value, grad = loss.value_and_grad(*call_args(case, t_d, p_d),
                                                  reduction=reduction, sample_weight=w_arg)
                grads = grad if len(preds) > 1 else (grad,)
                per_ndim = len(per_sample_shape(case, preds[0]))
                assert isinstance(value, da.Array)
                assert value.ndim == (per_ndim if reduction == "none" else 0)
                for g, p in zip(grads, p_d):
                    assert isinstance(g, da.Array) and g.chunks == p.chunks
                    assert g.dtype == p.dtype
                lazy.append((value, grads))
                expected.append((mem[0], mem[1] if len(preds) > 1 else (mem[1],)))
                labels.append((np.dtype(dtype).name, shape, batch, reduction, weighted))
    return loss, lazy, expected, labels


def check(computed, expected, labels):
    for (value, grads), (v_mem, g_mem), label in zip(computed, expected, labels):
        dtype = np.float32 if label[0] == "float32" else np.float64
        assert_close(value, v_mem, dtype, f"value {label}")
        for g, gm in zip(grads, g_mem):
            assert_close(g, gm, dtype, f"gradient {label}")


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_battery_on_cluster(cluster, case):
    """Every case of the battery on the two-process cluster, float32 and float64, uneven
    chunkings, weights (Dask and NumPy), the denominator's pre-pass: the lazy value and
    gradient(s) equal the in-memory ones.  One compute per case."""
    loss, lazy, expected, labels = battery(case)
    # the value alone (__call__) and the gradient alone (.grad), too
    y_true, preds, w = draw(case, shape_for(case, ndim=2, n=N), np.float64, seed=1)
    t_d = None if y_true is None else chunked(y_true, (8,))
    p_d = tuple(chunked(p, (8,)) for p in preds)
    only_value = loss(*call_args(case, t_d, p_d), sample_weight=chunked(w, (8,)))
    only_grad = loss.grad(*call_args(case, t_d, p_d))
    computed, v_only, g_only = dask.compute(lazy, only_value, only_grad)
    check(computed, expected, labels)
    assert_close(v_only, loss(*call_args(case, y_true, preds), sample_weight=w), np.float64,
                 "value alone")
    g_mem = loss.grad(*call_args(case, y_true, preds))
    for g, gm in zip(g_only if len(preds) > 1 else (g_only,),
                     g_mem if len(preds) > 1 else (g_mem,)):
        assert_close(g, gm, np.float64, "gradient alone")


# one case of each kind and path (row kinds, class weights, ignore_index, probabilities,
# several inputs, segmentation with a class axis): the Dask layer is the same for every loss
MATRIX = ["mse", "bce-probs", "cce-probs-ls-cw", "scce-logits-ignore-cw", "scce-probs-ls-ignore",
          "contrastive", "triplet", "dice-smooth0-classes-first"]


@pytest.mark.parametrize("case", [c for c in CASES if c.id in MATRIX], ids=MATRIX)
def test_full_matrix_in_process(case):
    """Every reduction with and without weights on every chunking, computed by the
    single-threaded local scheduler (the same graph as on a cluster)."""
    _, lazy, expected, labels = battery(case, full=True)
    check(dask.compute(lazy, scheduler="sync")[0], expected, labels)


# ---- second derivatives: one more output of the same chunk task ----------------------------

HESS_CASES = [c for c in CASES if fl.get(c.loss, **c.params).has_hessian]


def hessian_battery(case):
    """Lazy (value, gradient, Hessian) of every layout of a case with a diagonal Hessian,
    and the in-memory value_grad_hess."""
    loss = fl.get(case.loss, **case.params)
    lazy, expected, labels = [], [], []
    for dtype in (np.float32, np.float64):
        for i, (shape, batch, combos) in enumerate(layouts(case, dtype)):
            y_true, preds, w = draw(case, shape, dtype, seed=i)
            t_d = None if y_true is None else chunked(y_true, batch)
            p_d = chunked(preds[0], batch)
            for reduction, weighted in combos:
                w_arg = chunked(w, batch) if weighted else None
                mem = loss.value_grad_hess(*call_args(case, y_true, preds),
                                           reduction=reduction,
                                           sample_weight=w if weighted else None)
                value, grad, hess = loss.value_grad_hess(*call_args(case, t_d, (p_d,)),
                                                         reduction=reduction,
                                                         sample_weight=w_arg)
                assert isinstance(hess, da.Array) and hess.chunks == p_d.chunks
                assert hess.dtype == p_d.dtype
                lazy.append((value, (grad, hess)))
                expected.append((mem[0], (mem[1], mem[2])))
                labels.append((np.dtype(dtype).name, shape, batch, reduction, weighted))
    return lazy, expected, labels


@pytest.mark.parametrize("case", HESS_CASES, ids=[c.id for c in HESS_CASES])
def test_hessian_in_process(case):
    """value_grad_hess on Dask inputs: the battery's layouts (every reduction, weights, the
    denominator's pre-pass, uneven chunkings), float32 and float64, equal the in-memory
    results (sync scheduler)."""
    lazy, expected, labels = hessian_battery(case)
    check(dask.compute(lazy, scheduler="sync")[0], expected, labels)


def test_hessian_on_cluster(cluster):
    """.hess and value_grad_hess through the two-process cluster (sparse CE with
    ignore_index and class weights: the denominator's pre-pass scales the Hessian too)."""
    case = next(c for c in HESS_CASES if c.id == "scce-logits-ignore-cw")
    lazy, expected, labels = hessian_battery(case)
    check(dask.compute(lazy)[0], expected, labels)
    loss = fl.get(case.loss, **case.params)
    y_true, preds, _ = draw(case, shape_for(case, ndim=2, n=N), np.float64, seed=3)
    h = loss.hess(chunked(y_true, (8,)), chunked(preds[0], (8,))).compute()
    assert_close(h, loss.hess(y_true, preds[0]), np.float64, "hess alone")


def test_hessian_refusals_on_dask_inputs():
    x = da.ones((10, 3), chunks=5)
    with pytest.raises(NotImplementedError, match="triplet"):
        fl.triplet.value_grad_hess(x, x, x)
    with pytest.raises(ValueError, match=r"out\[1\] must be None for Dask"):
        fl.mse.value_grad_hess(x, x, out=(None, np.empty((10, 3))))


def test_ignore_index_everything_ignored(cluster):
    """Nothing counted: "mean" is NaN and the gradient 0, as in memory."""
    loss = fl.get("CrossEntropyLoss")                       # ignore_index=-100, logits
    z = np.random.default_rng(0).normal(size=(12, 3))
    y = np.full(12, -100)
    value, grad = loss.value_and_grad(da.from_array(y, chunks=5), da.from_array(z, chunks=5))
    value, grad = dask.compute(value, grad)
    assert np.isnan(value) and np.all(grad == 0)


# ---- one pass, deterministic, threads ---------------------------------------------------------

def _counting(monkeypatch, name):
    calls = []
    original = getattr(fldask, name)

    def counted(*blocks, block_info=None, **kwargs):
        calls.append(kwargs)
        return original(*blocks, block_info=block_info, **kwargs)

    monkeypatch.setattr(fldask, name, counted)
    return calls


def test_value_and_grad_visits_each_chunk_once(monkeypatch):
    """value_and_grad builds one graph; computing value and gradient together runs the fused
    kernel once per chunk, denominator pass included when weights need one."""
    calls = _counting(monkeypatch, "_fused")
    denominators = _counting(monkeypatch, "_denominator_part")
    rng = np.random.default_rng(0)
    z = da.from_array(rng.normal(size=(100, 4)), chunks=(10, 4))
    y = da.from_array(rng.integers(0, 4, size=100), chunks=10)
    w = da.from_array(rng.uniform(size=100), chunks=10)
    loss, grad = fl.sparse_categorical_cross_entropy.value_and_grad(
        y, z, from_logits=True, sample_weight=w)
    dask.compute(loss, grad, scheduler="sync")
    assert len(calls) == 10 and len(denominators) == 10
    calls.clear()
    loss, grad = fl.mse.value_and_grad(z, z * 2)              # denominator from the shape
    dask.compute(loss, grad, scheduler="sync")
    assert len(calls) == 10


def test_one_thread_per_dask_thread_unless_asked(monkeypatch):
    calls = _counting(monkeypatch, "_fused")
    x = da.ones((40, 3), chunks=(10, 3))
    fl.mse(x, x).compute(scheduler="sync")
    assert {c["n_threads"] for c in calls} == {1}
    calls.clear()
    fl.mse(x, x, n_threads=2).compute(scheduler="sync")
    assert {c["n_threads"] for c in calls} == {min(2, os.cpu_count())}


def test_deterministic_for_a_chunking(cluster):
    """The same chunking gives bitwise the same value and gradient, on the cluster and on
    the single-threaded local scheduler; another chunking agrees within rounding."""
    rng = np.random.default_rng(1)
    z = (3 * rng.normal(size=(50_000, 10))).astype(np.float32)
    y = rng.integers(0, 10, size=50_000)
    y[::7] = -100
    loss = fl.get("CrossEntropyLoss", label_smoothing=0.1)
    results = []
    for rows, scheduler in ((7000, None), (7000, "sync"), (7000, None), (20000, None)):
        v, g = loss.value_and_grad(da.from_array(y, chunks=rows),
                                   da.from_array(z, chunks=(rows, 10)))
        results.append(dask.compute(v, g, scheduler=scheduler))
    (v0, g0), (v1, g1), (v2, g2), (v3, g3) = results
    assert v0 == v1 == v2 and np.array_equal(g0, g1) and np.array_equal(g0, g2)
    v_mem, g_mem = loss.value_and_grad(y, z)
    assert_close(v3, v_mem, np.float32, "value")
    assert_close(g3, g_mem, np.float32, "gradient")


# ---- chunking, mixing NumPy and Dask ----------------------------------------------------------

def test_sample_axes_are_rechunked_with_a_warning(cluster):
    rng = np.random.default_rng(2)
    z = rng.normal(size=(30, 6))
    t = rng.normal(size=(30, 6))
    with pytest.warns(fldask.RechunkWarning, match=r"y_pred is chunked across the axes of one "
                      r"sample \(axes \(1,\) of shape \(30, 6\)\)"):
        v, g = fl.mse.value_and_grad(da.from_array(t, chunks=(30, 6)),
                                     da.from_array(z, chunks=(10, 4)))
    assert g.chunks == ((10, 10, 10), (6,))
    v, g = dask.compute(v, g)
    assert_close(v, fl.mse(t, z), np.float64, "value")
    assert_close(g, fl.mse.grad(t, z), np.float64, "gradient")
    masks = (rng.random((8, 4, 5)) < 0.5).astype(np.float64)
    probs = rng.uniform(0.05, 0.95, size=(8, 4, 5))
    with pytest.warns(fldask.RechunkWarning, match="y_true, y_pred are chunked"):
        v = fl.dice(da.from_array(masks, chunks=(3, 2, 5)), da.from_array(probs, chunks=2))
    assert_close(v.compute(), fl.dice(masks, probs), np.float64, "dice")
    with warnings.catch_warnings():
        warnings.simplefilter("error")                     # whole samples: no warning
        fl.mse(da.from_array(t, chunks=(7, 6)), da.from_array(z, chunks=(7, 6)))


def test_rechunk_keeps_chunks_within_the_chunk_size_limit():
    """Joining a sample's axes would make the chunks bigger than Dask's array.chunk-size:
    the batch axis is then chunked anew to fit."""
    z = da.ones((4000, 64), chunks=(2000, 16))
    with dask.config.set({"array.chunk-size": "64KiB"}):
        with pytest.warns(fldask.RechunkWarning):
            g = fl.mse.grad(da.zeros((4000, 64), chunks=(2000, 16)), z)
    assert g.chunks[1] == (64,) and max(g.chunks[0]) * 64 * 8 <= 64 * 1024
    assert float(abs(g - 2 / z.size).max().compute(scheduler="sync")) == 0.0


def test_numpy_and_dask_mixed(cluster):
    rng = np.random.default_rng(3)
    z = rng.normal(size=(40, 5)).astype(np.float32)
    y = rng.integers(0, 5, size=(40, 1))                     # Keras' label column
    w = rng.uniform(size=40)
    loss = fl.get("sparse_categorical_cross_entropy", from_logits=True,
                  class_weight=np.linspace(1, 2, 5))
    cases = [
        (y, da.from_array(z, chunks=(9, 5)), w),             # NumPy labels and weights
        (da.from_array(y, chunks=(13, 1)), z, None),         # only the labels lazy
        (y, z, da.from_array(w, chunks=11)),                 # only the weights lazy
        (y, da.from_array(z, chunks=(9, 5)), 2.0),           # a scalar weight broadcast
    ]
    for yt, zz, ww in cases:
        v, g = loss.value_and_grad(yt, zz, sample_weight=ww)
        v, g = dask.compute(v, g)
        v_mem, g_mem = loss.value_and_grad(y, z, sample_weight=None if ww is None else
                                           (w if not np.isscalar(ww) else ww))
        assert_close(v, v_mem, np.float32, "value")
        assert_close(g, g_mem, np.float32, "gradient")


def test_float16_and_integer_predictions(cluster):
    x16 = np.linspace(-2, 2, 60, dtype=np.float16).reshape(20, 3)
    v, g = fl.huber.value_and_grad(da.zeros((20, 3), chunks=7), da.from_array(x16, chunks=7))
    assert g.dtype == np.float16
    v, g = dask.compute(v, g)
    v_mem, g_mem = fl.huber.value_and_grad(np.zeros((20, 3)), x16)
    assert g.dtype == np.float16 and v == pytest.approx(v_mem)
    assert_close(g, g_mem, np.float16, "float16 gradient")
    xi = np.arange(12).reshape(4, 3)
    g = fl.mse.grad(da.zeros((4, 3), chunks=(2, 3)), da.from_array(xi, chunks=(2, 3)))
    assert g.dtype == np.float64
    assert_close(g.compute(), fl.mse.grad(np.zeros((4, 3)), xi), np.float64, "int")


# ---- bad input --------------------------------------------------------------------------------

def _message(call):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    return info.type, str(info.value)


BAD_AT_GRAPH_TIME = [
    ("shape mismatch", "mse", lambda a: (a(np.zeros(5)), a(np.zeros(6))), {}),
    ("complex", "mse", lambda a: (a(np.zeros(5)), a(np.zeros(5, complex))), {}),
    ("empty", "mse", lambda a: (a(np.zeros(0)), a(np.zeros(0))), {}),
    ("reduction", "mse", lambda a: (a(np.zeros(5)), a(np.zeros(5))), {"reduction": "avg"}),
    ("param", "huber", lambda a: (a(np.zeros(5)), a(np.zeros(5))), {"delta": -1.0}),
    ("unknown param", "huber", lambda a: (a(np.zeros(5)), a(np.zeros(5))), {"beta": 1.0}),
    ("n_threads", "mse", lambda a: (a(np.zeros(5)), a(np.zeros(5))), {"n_threads": 0}),
    ("float labels", "sparse_categorical_cross_entropy",
     lambda a: (a(np.zeros(4)), a(np.zeros((4, 3)))), {}),
    ("label shape", "sparse_categorical_cross_entropy",
     lambda a: (a(np.zeros(5, int)), a(np.zeros((4, 3)))), {}),
    ("swapped", "sparse_categorical_cross_entropy",
     lambda a: (a(np.zeros((4, 3))), a(np.zeros(4, int))), {}),
    ("int targets to cce", "categorical_cross_entropy",
     lambda a: (a(np.zeros(4, int)), a(np.zeros((4, 3)))), {}),
    ("class_weight", "sparse_categorical_cross_entropy",
     lambda a: (a(np.zeros(4, int)), a(np.zeros((4, 3)))), {"class_weight": [1.0, 2.0]}),
    ("weight shape", "mse", lambda a: (a(np.zeros((4, 2))), a(np.zeros((4, 2)))),
     {"sample_weight": np.ones(5)}),
    ("weight dtype", "mse", lambda a: (a(np.zeros(4)), a(np.zeros(4))),
     {"sample_weight": np.array(["a"] * 4)}),
    ("pair shapes", "contrastive",
     lambda a: (a(np.zeros(4)), a(np.zeros((4, 3))), a(np.zeros((4, 2)))), {}),
    ("pair labels", "contrastive",
     lambda a: (a(np.zeros(5)), a(np.zeros((4, 3))), a(np.zeros((4, 3)))), {}),
    ("class axis", "dice", lambda a: (a(np.zeros((4, 3))), a(np.zeros((4, 3)))),
     {"class_axis": 2}),
]


@pytest.mark.parametrize("what,name,arrays,kwargs", BAD_AT_GRAPH_TIME,
                         ids=[b[0] for b in BAD_AT_GRAPH_TIME])
def test_bad_input_at_graph_time(what, name, arrays, kwargs):
    """Raised by the call itself (nothing is computed), with the in-memory exception."""
    loss = fl.get(name)
    lazy = (lambda x: da.from_array(x, chunks=2))
    expected = _message(lambda: loss.value_and_grad(*arrays(np.asarray), **kwargs))
    assert _message(lambda: loss.value_and_grad(*arrays(lazy), **kwargs)) == expected
    assert _message(lambda: loss(*arrays(lazy), **kwargs)) == expected


def test_out_and_foreign_collections_refused():
    x = da.zeros(4, chunks=2)
    with pytest.raises(ValueError, match="out must be None for Dask inputs"):
        fl.mse.value_and_grad(x, x, out=np.empty(4))
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        fl.mse(x[x > 1], x[x > 1])


BAD_AT_COMPUTE_TIME = [
    ("label", "sparse_categorical_cross_entropy", {},
     lambda: (np.r_[np.zeros(17, int), 9, np.zeros(4, int)], np.zeros((22, 3)), None)),
    ("label, weighted mean", "sparse_categorical_cross_entropy", {"class_weight": [1, 2, 3.]},
     lambda: (np.r_[np.zeros(17, int), -4, np.zeros(4, int)], np.zeros((22, 3)), None)),
    ("probability", "binary_cross_entropy", {},
     lambda: (np.zeros((11, 2)), np.r_[np.full(19, 0.5), 1.5, 0.5, 0.5].reshape(11, 2), None)),
    ("msle", "msle", {}, lambda: (np.zeros(22), np.r_[np.zeros(13), -2.0, np.zeros(8)], None)),
    ("weight", "mse", {}, lambda: (np.zeros((11, 2)), np.zeros((11, 2)),
                                   np.r_[np.ones(8), -1.0, np.ones(2)])),
    ("weight, sum", "mse", {"reduction": "sum"},
     lambda: (np.zeros((11, 2)), np.zeros((11, 2)), np.r_[np.ones(8), np.nan, np.ones(2)])),
    ("pair label", "cosine_embedding", {},
     lambda: (np.r_[np.ones(9), 0.0, np.ones(2)], np.ones((12, 3)), np.ones((12, 3)))),
]


@pytest.mark.parametrize("what,name,kwargs,inputs", BAD_AT_COMPUTE_TIME,
                         ids=[b[0] for b in BAD_AT_COMPUTE_TIME])
def test_bad_values_at_compute_time(cluster, what, name, kwargs, inputs):
    """Values are checked in the chunk tasks; the message is the in-memory one, with the
    index in the whole array (one bad value: which chunk fails first cannot matter)."""
    loss = fl.get(name)
    a, b, c = inputs()
    lazy = lambda x: da.from_array(x, chunks=(4,) + x.shape[1:])      # noqa: E731
    if name == "cosine_embedding":
        arrays, weight = (a, b, c), None
    else:
        arrays, weight = (a, b), c
    kw = dict(kwargs, sample_weight=weight)
    expected = _message(lambda: loss.value_and_grad(*arrays, **kw))
    if weight is not None:
        kw["sample_weight"] = lazy(weight)
    v, g = loss.value_and_grad(*(lazy(x) for x in arrays), **kw)
    assert _message(lambda: dask.compute(v, g)) == expected


# ---- packaging --------------------------------------------------------------------------------

def test_import_fastloss_does_not_import_dask():
    code = ("import sys, numpy as np, fastloss as fl\n"
            "x = np.ones((4, 3))\n"
            "fl.mse(x, x); fl.mse.value_and_grad(x, x, sample_weight=np.ones(4))\n"
            "fl.mse(x.tolist(), x.tolist(), reduction='none')\n"
            "assert not any(m == 'dask' or m.startswith('dask.') for m in sys.modules), "
            "sorted(m for m in sys.modules if 'dask' in m)\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120,
                   env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))


# ---- the example ------------------------------------------------------------------------------

def test_example_dask_logistic_regression(cluster, tmp_path):
    """The example fits through the cluster (by its address, as on any cluster): the loss
    falls every iteration, the fit classifies well and points where the true weights do."""
    spec = importlib.util.spec_from_file_location(
        "example_dask_logistic_regression",
        os.path.join(ROOT, "examples", "dask_logistic_regression.py"))
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    out = tmp_path / "fig.png"
    result = example.main(out=str(out), address=cluster[0].scheduler_address, n=60_000,
                          chunk=5_000, iterations=6, verbose=False)
    losses = result["losses"]
    assert all(b < a + 1e-9 for a, b in zip(losses, losses[1:])), losses
    assert result["gradient_norms"][-1] < 1e-4 * result["gradient_norms"][0]   # converged
    assert result["accuracy"] > 0.75
    w, w_true = result["w"], result["w_true"]
    assert np.dot(w, w_true) / (np.linalg.norm(w) * np.linalg.norm(w_true)) > 0.99
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
