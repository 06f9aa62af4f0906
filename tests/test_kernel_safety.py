"""No traps in the compiled kernels: what a kernel reads it checks where it reads it.

* A class label outside [0, C) that reaches a sparse kernel (a concurrent writer can change it
  after the Cython layer's check: the kernels run without the GIL) is never used as an index:
  its row contributes 0 and the call raises.
* A probability-mode y_pred outside [0, 1] is found inside the fused pass and raises
  (ValueError naming y_pred); NaN passes through as NaN.
* Segmentation scratch does not depend on OpenMP thread numbers: calls from many threads at
  once are safe and exact.
* An explicit n_threads is capped at the CPUs available and at the number of blocks."""
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastloss as fl

pytestmark = pytest.mark.skipif(not fl.config()["compiled_kernels"], reason="kernels not built")

FL_ERR_LABEL, FL_ERR_PROB_RANGE = 1, 2


@pytest.fixture(autouse=True)
def cython_backend():
    with fl.use_backend("cython"):
        yield


def kernels():
    from fastloss import _kernels
    return _kernels


# ---- labels ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["scce_logit", "scce_prob"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bad_label_row_contributes_zero_and_is_flagged(name, dtype):
    K = kernels()
    rng = np.random.default_rng(0)
    n, C = 50, 7
    p = rng.random((n, C)).astype(dtype)
    if name == "scce_prob":
        p /= p.sum(axis=1, keepdims=True)
    labels = rng.integers(0, C, n)
    bad_rows = [3, 17, 49]
    for row, value in zip(bad_rows, [C, -1, 1 << 50]):
        labels[row] = value
    grad = np.full_like(p, 7.0)
    total, flags = K._sparse_unchecked(K.KERNELS[name], labels, p, grad)
    assert flags == FL_ERR_LABEL
    assert not grad[bad_rows].any()

    good = np.setdiff1d(np.arange(n), bad_rows)
    ref_grad = np.empty_like(p[good])
    ref_total, ref_flags = K._sparse_unchecked(K.KERNELS[name], labels[good],
                                               np.ascontiguousarray(p[good]), ref_grad)
    assert ref_flags == 0
    assert total == pytest.approx(ref_total, rel=1e-6)
    np.testing.assert_array_equal(grad[good], ref_grad)


def test_ignored_label_is_not_an_error():
    K = kernels()
    p = np.random.default_rng(1).normal(size=(4, 3))
    labels = np.array([0, -100, 2, -100])
    grad = np.ones_like(p)
    total, flags = K._sparse_unchecked(K.KERNELS["scce_logit"], labels, p, grad,
                                       ignore_index=-100)
    assert flags == 0
    assert not grad[[1, 3]].any()


def test_label_changed_during_the_call_never_crashes():
    """A writer flips a label between a valid and a huge value while the kernel runs: each
    call either succeeds or raises ValueError; it never reads outside the arrays."""
    K = kernels()
    rng = np.random.default_rng(2)
    n, C = 40_000, 16
    z = rng.normal(size=(n, C)).astype(np.float32)
    labels = rng.integers(0, C, n)
    grad = np.empty_like(z)
    stop = threading.Event()

    def writer():
        rows = np.arange(n - 64, n)
        while not stop.is_set():
            labels[rows] = 1 << 40
            labels[rows] = 1

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    outcomes = {"ok": 0, "raised": 0}
    try:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            try:
                K.run(K.KERNELS["scce_logit"], labels, z, C, grad, None, None, None, 2,
                      0.0, 0.0, 0.0, 0.0, None, 2)
                outcomes["ok"] += 1
            except ValueError as e:
                assert "y_true" in str(e)
                outcomes["raised"] += 1
    finally:
        stop.set()
        t.join()
    assert sum(outcomes.values()) > 0


def test_bad_label_through_public_api_raises():
    with pytest.raises(ValueError, match="y_true"):
        fl.sparse_categorical_cross_entropy(np.array([0, 3]), np.full((2, 3), 1 / 3))


# ---- probabilities outside [0, 1] --------------------------------------------------------------

def test_probability_above_one_raises_naming_y_pred():
    y = np.array([0.0, 1.0, 1.0])
    p = np.array([0.2, 1.5, 0.7])
    with pytest.raises(ValueError, match="y_pred"):
        fl.binary_cross_entropy(y, p)
    with pytest.raises(ValueError, match="y_pred"):
        fl.binary_cross_entropy.value_and_grad(y, p, out=np.empty_like(p))
    with pytest.raises(ValueError, match="y_pred"):
        fl.binary_cross_entropy(y, -p)


def _prob_calls(p):
    """(name, call) for every probability-mode kernel, on y_pred = p (shape (4, 3))."""
    t = np.eye(3)[[0, 1, 2, 0]]
    labels = np.array([0, 1, 2, 0])
    return [
        ("bce_prob", lambda: fl.binary_cross_entropy(t, p)),
        ("cce_prob", lambda: fl.categorical_cross_entropy(t, p)),
        ("scce_prob", lambda: fl.sparse_categorical_cross_entropy(labels, p)),
        ("binary_focal_prob", lambda: fl.binary_focal(t, p)),
        ("categorical_focal_prob", lambda: fl.categorical_focal(t, p)),
        ("kl_prob", lambda: fl.kl_divergence(t, p)),
        ("tversky_prob", lambda: fl.dice(t, p)),
    ]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [1.0000001, 2.0, -1e-30, np.inf, -np.inf])
def test_every_probability_kernel_flags_out_of_range(bad, dtype):
    p = np.full((4, 3), 0.3, dtype=dtype)
    p[2, 1] = bad
    if dtype == np.float32 and bad == 1.0000001:
        p[2, 1] = np.nextafter(np.float32(1), np.float32(2))
    for name, call in _prob_calls(p):
        with pytest.raises(ValueError, match="y_pred"):
            call()


def test_probability_nan_and_bounds_are_not_errors():
    p = np.full((4, 3), 0.3)
    p[0, 0], p[1, 1], p[2, 2] = 0.0, 1.0, np.nan
    for name, call in _prob_calls(p):
        value = call()
        assert np.isnan(value), name


def test_probability_flag_in_a_large_multi_block_call():
    n = 300_000
    y = (np.random.default_rng(3).random(n) < 0.5).astype(np.float32)
    p = np.random.default_rng(4).random(n).astype(np.float32)
    fl.binary_cross_entropy(y, p, n_threads=2)
    p[n - 1] = 1.25
    with pytest.raises(ValueError, match="y_pred"):
        fl.binary_cross_entropy(y, p, n_threads=2)


# ---- segmentation scratch and threads ---------------------------------------------------------

@pytest.mark.parametrize("classes", [3, 300])
def test_segmentation_from_many_threads_at_once(classes):
    rng = np.random.default_rng(5)
    t = (rng.random((64, 16, classes)) < 0.4).astype(np.float32)
    x = rng.normal(size=(64, 16, classes)).astype(np.float32)

    def call(_):
        return fl.tversky.value_and_grad(t, x, class_axis=-1, from_logits=True, alpha=0.3,
                                         beta=0.7, n_threads=2)

    ref_value, ref_grad = fl.tversky.value_and_grad(t, x, class_axis=-1, from_logits=True,
                                                    alpha=0.3, beta=0.7, n_threads=1)
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(call, range(24)))
    for value, grad in results:
        assert value == ref_value
        np.testing.assert_array_equal(grad, ref_grad)


def test_thousand_threads_equals_one_bitwise():
    rng = np.random.default_rng(6)
    y = rng.normal(size=200_000).astype(np.float32)
    p = rng.normal(size=200_000).astype(np.float32)
    v1, g1 = fl.mse.value_and_grad(y, p, n_threads=1)
    v2, g2 = fl.mse.value_and_grad(y, p, n_threads=1000)
    assert v1 == v2
    np.testing.assert_array_equal(g1, g2)
    t = (rng.random((40, 3, 32, 32)) < 0.5).astype(np.float64)
    x = rng.random((40, 3, 32, 32))
    a = fl.dice.value_and_grad(t, x, n_threads=1)
    b = fl.dice.value_and_grad(t, x, n_threads=1000)
    assert a[0] == b[0]
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc")
def test_explicit_thread_count_is_capped_at_the_cpus():
    cpus = len(os.sched_getaffinity(0))
    y = np.zeros(2_000_000, np.float32)
    before = len(os.listdir("/proc/self/task"))
    fl.mse(y, y, n_threads=64)
    after = len(os.listdir("/proc/self/task"))
    assert after - before <= cpus
