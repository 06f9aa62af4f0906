"""The public API around the maths: registry and aliases, dtypes, out= without allocation,
backends and the fallback, threads and threadpoolctl, configuration."""
import io
import os
import subprocess
import sys
import textwrap
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastloss as fl

CORE = ["mse", "mae", "huber", "binary_cross_entropy", "categorical_cross_entropy",
        "sparse_categorical_cross_entropy"]
compiled = pytest.mark.skipif(not fl.config()["compiled_kernels"], reason="kernels not built")


def run_python(code, **env):
    """Run code in a fresh interpreter (for import-time behaviour); return stdout+stderr."""
    full_env = dict(os.environ, **env)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=full_env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


# ---- registry -----------------------------------------------------------------------------

def test_available_lists_the_core_losses():
    assert all(name in fl.available() for name in CORE)
    for name in CORE:
        assert getattr(fl, name).name == name


@pytest.mark.parametrize("alias, name, params", [
    ("mean_squared_error", "mse", {}),
    ("MeanSquaredError", "mse", {}),
    ("MSELoss", "mse", {}),
    ("L1Loss", "mae", {}),
    ("mean_absolute_error", "mae", {}),
    ("HuberLoss", "huber", {}),
    ("binary_crossentropy", "binary_cross_entropy", {"from_logits": False}),
    ("BCELoss", "binary_cross_entropy", {"from_logits": False}),
    ("BCEWithLogitsLoss", "binary_cross_entropy", {"from_logits": True}),
    ("sigmoid_binary_cross_entropy", "binary_cross_entropy", {"from_logits": True}),
    ("categorical_crossentropy", "categorical_cross_entropy", {"from_logits": False}),
    ("softmax_cross_entropy", "categorical_cross_entropy", {"from_logits": True}),
    ("sparse_categorical_crossentropy", "sparse_categorical_cross_entropy", {}),
    ("CrossEntropyLoss", "sparse_categorical_cross_entropy",
     {"from_logits": True, "ignore_index": -100}),
    ("softmax_cross_entropy_with_integer_labels", "sparse_categorical_cross_entropy",
     {"from_logits": True}),
    ("meansquarederror", "mse", {}),          # case and underscores do not matter
    ("Mean_Squared_Error", "mse", {}),
])
def test_aliases(alias, name, params):
    loss = fl.get(alias)
    assert loss.name == name
    for key, value in params.items():
        assert loss.params[key] == value


def test_get_binds_parameters_and_calls_override_them():
    huber2 = fl.get("huber", delta=2.0)
    y, p = np.zeros(3), np.array([0.5, 1.5, 3.0])
    assert huber2(y, p) == pytest.approx(np.mean([0.125, 1.125, 2 * (3 - 1)]))
    assert huber2(y, p, delta=1.0) == fl.huber(y, p)
    assert fl.get(huber2, delta=0.5).params["delta"] == 0.5
    assert fl.get("BCEWithLogitsLoss", from_logits=False).params["from_logits"] is False
    assert "delta=2.0" in repr(huber2)


def test_docstrings_state_formula_and_semantics():
    for name in CORE:
        doc = getattr(fl, name).__doc__
        assert "Reference" in doc and "sum(w_i l_i) / sum(w_i)" in doc
        assert "sum_over_batch_size" in doc
        # the ignore_index sentence only where the loss has that parameter (issue "No traps")
        assert ("ignore_index" in doc) == ("ignore_index" in getattr(fl, name).spec.params)


# ---- semantics ------------------------------------------------------------------------------

def test_multilabel_bce_is_mean_over_last_axis():
    rng = np.random.default_rng(0)
    y = (rng.random((8, 3)) < 0.5).astype(float)
    z = rng.normal(size=(8, 3))
    per = fl.binary_cross_entropy(y, z, from_logits=True, reduction="none")
    elem = np.logaddexp(0, z) - y * z
    np.testing.assert_allclose(per, elem.mean(axis=1))
    assert fl.binary_cross_entropy(y, z, from_logits=True) == pytest.approx(elem.mean())


def test_reductions_and_weights_follow_the_documented_formulas():
    rng = np.random.default_rng(1)
    y, p = rng.normal(size=(10, 2)), rng.normal(size=(10, 2))
    w = rng.uniform(0, 2, size=10)
    per = ((p - y) ** 2).mean(axis=1)
    assert fl.mse(y, p, sample_weight=w) == pytest.approx((w * per).sum() / w.sum())
    assert fl.mse(y, p, sample_weight=w, reduction="sum_over_batch_size") == \
        pytest.approx((w * per).sum() / 10)
    assert fl.mse(y, p, sample_weight=w, reduction="sum") == pytest.approx((w * per).sum())
    np.testing.assert_allclose(fl.mse(y, p, sample_weight=w, reduction="none"), w * per)


def test_sample_weight_broadcasts_to_per_sample_shape():
    rng = np.random.default_rng(2)
    y, z = rng.integers(0, 4, size=(3, 5)), rng.normal(size=(3, 5, 4))
    w_row = np.array([1.0, 2.0, 0.5])
    full = np.repeat(w_row[:, None], 5, axis=1)
    a = fl.sparse_categorical_cross_entropy(y, z, from_logits=True, sample_weight=full)
    b = fl.sparse_categorical_cross_entropy(y, z, from_logits=True, sample_weight=w_row[:, None])
    assert a == b


def test_categorical_one_hot_equals_sparse_including_class_weight():
    rng = np.random.default_rng(3)
    y, z = rng.integers(0, 4, size=20), rng.normal(size=(20, 4))
    cw = np.array([1.0, 0.5, 2.0, 3.0])
    for reduction in ("mean", "sum", "none"):
        a = fl.sparse_categorical_cross_entropy.value_and_grad(
            y, z, from_logits=True, class_weight=cw, reduction=reduction)
        b = fl.categorical_cross_entropy.value_and_grad(
            np.eye(4)[y], z, from_logits=True, class_weight=cw, reduction=reduction)
        np.testing.assert_allclose(a[0], b[0], rtol=1e-12)
        np.testing.assert_allclose(a[1], b[1], rtol=1e-12, atol=1e-15)


# ---- dtypes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_float16_computed_in_float32_returned_in_float16(backend):
    rng = np.random.default_rng(4)
    y, p = rng.normal(size=(50, 3)).astype(np.float16), rng.normal(size=(50, 3)).astype(np.float16)
    with fl.use_backend(backend):
        value, grad = fl.mse.value_and_grad(y, p)
        ref_value, ref_grad = fl.mse.value_and_grad(y.astype(np.float32), p.astype(np.float32))
        out = np.empty_like(p)
        assert fl.mse.grad(y, p, out=out) is out
        per = fl.mse(y, p, reduction="none")
    assert grad.dtype == np.float16 and per.dtype == np.float16
    assert value == pytest.approx(ref_value, rel=1e-6)
    np.testing.assert_array_equal(grad, ref_grad.astype(np.float16))
    np.testing.assert_array_equal(out, grad)


def test_integer_and_bool_targets_are_cast():
    z = np.array([[0.3, -1.2], [2.0, 0.1]])
    yb = np.array([[True, False], [False, True]])
    assert fl.binary_cross_entropy(yb, z, from_logits=True) == \
        fl.binary_cross_entropy(yb.astype(float), z, from_logits=True)
    yi = np.array([[1, 0], [0, 1]], dtype=np.int8)
    assert fl.mse(yi, z) == fl.mse(yi.astype(float), z)
    for dt in (np.int8, np.uint8, np.int16, np.int32, np.uint32, np.int64):
        labels = np.array([1, 0], dtype=dt)
        assert fl.sparse_categorical_cross_entropy(labels, z, from_logits=True) == \
            fl.sparse_categorical_cross_entropy(np.array([1, 0]), z, from_logits=True)


def test_integer_predictions_are_computed_in_float64():
    value, grad = fl.mse.value_and_grad(np.array([0, 0, 0]), np.array([1, 2, 3]))
    assert value == pytest.approx(14 / 3) and grad.dtype == np.float64


def test_gradient_has_prediction_dtype_with_mixed_target_dtype():
    y64, p32 = np.ones(4), np.zeros(4, dtype=np.float32)
    assert fl.mse.grad(y64, p32).dtype == np.float32


def test_lists_are_accepted():
    assert fl.mse([1.0, 2.0], [1.0, 4.0]) == 2.0


# ---- out= allocates nothing -----------------------------------------------------------------

@compiled
@pytest.mark.parametrize("name, params, make", [
    ("mse", {}, lambda rng: (rng.normal(size=1_000_000), rng.normal(size=1_000_000))),
    ("sparse_categorical_cross_entropy", {"from_logits": True},
     lambda rng: (rng.integers(0, 100, size=10_000), rng.normal(size=(10_000, 100)))),
])
def test_value_and_grad_with_out_allocates_no_arrays(name, params, make):
    rng = np.random.default_rng(5)
    y, p = make(rng)
    loss = fl.get(name, **params)
    out = np.empty_like(p)
    loss.value_and_grad(y, p, out=out)            # warm up
    tracemalloc.start()
    try:
        loss.value_and_grad(y, p, out=out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10_000, f"value_and_grad(out=...) allocated {peak} bytes"


# ---- backends and the fallback ------------------------------------------------------------

def test_backend_switch():
    assert fl.backend in ("cython", "numpy")
    with fl.use_backend("numpy"):
        assert fl.backend == "numpy"
    with pytest.raises(ValueError, match="backend"):
        fl.set_backend("torch")


def test_environment_variable_forces_numpy_backend():
    out = run_python("import fastloss as fl; print('backend=' + fl.backend)",
                     FASTLOSS_BACKEND="numpy")
    assert "backend=numpy" in out


def test_missing_extension_falls_back_with_one_warning():
    code = """
        import sys, warnings
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "fastloss._kernels":
                    raise ImportError("blocked for the test")
        sys.meta_path.insert(0, Block())
        warnings.simplefilter("always")
        with warnings.catch_warnings(record=True) as caught:
            import fastloss as fl
            import numpy as np
            v = fl.mse(np.zeros(3), np.ones(3))
            fl.huber(np.zeros(3), np.ones(3))
        print("backend=" + fl.backend, "value=%g" % v, "warnings=%d" % len(caught))
        print(caught[0].message)
    """
    out = run_python(code)
    assert "backend=numpy" in out and "value=1" in out and "warnings=1" in out
    assert "NumPy backend" in out


# ---- threads --------------------------------------------------------------------------------

@compiled
def test_show_config_reports_the_build(capsys):
    fl.show_config()
    text = capsys.readouterr().out
    for key in ("version", "backend", "compiler", "openmp", "simd", "default_threads"):
        assert key in text
    buf = io.StringIO()
    fl.show_config(file=buf)
    assert "0.1.0" in buf.getvalue()


@compiled
def test_threadpoolctl_sees_and_limits_fastloss_openmp():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not fl.config()["openmp"]:
        pytest.skip("built without OpenMP")
    info = threadpoolctl.threadpool_info()
    assert any(entry["user_api"] == "openmp" for entry in info), info
    with threadpoolctl.threadpool_limits(1):
        assert fl.default_threads() == 1
    assert fl.default_threads() == min(os.cpu_count(), len(os.sched_getaffinity(0)))


@compiled
def test_omp_num_threads_is_honoured_and_cores_cap_the_default():
    out = run_python("import fastloss as fl; print('threads=%d' % fl.default_threads())",
                     OMP_NUM_THREADS="1")
    assert "threads=1" in out
    out = run_python("import fastloss as fl; print('threads=%d' % fl.default_threads())",
                     OMP_NUM_THREADS="64")
    assert f"threads={len(os.sched_getaffinity(0))}" in out


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_concurrent_calls_from_python_threads(backend):
    rng = np.random.default_rng(6)
    inputs = [(rng.integers(0, 50, size=2000), rng.normal(size=(2000, 50))) for _ in range(8)]
    loss = fl.get("CrossEntropyLoss")

    def call(args):
        with fl.use_backend(backend):       # the backend choice is per thread
            return loss.value_and_grad(*args)

    with fl.use_backend(backend):
        expected = [loss.value_and_grad(y, z) for y, z in inputs]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(call, inputs * 3))
    for i, (value, grad) in enumerate(results):
        assert value == expected[i % 8][0]
        assert np.array_equal(grad, expected[i % 8][1])


def test_use_backend_is_per_thread():
    """A ``with fl.use_backend(...)`` block in one thread does not switch another thread."""
    import threading
    inside, release = threading.Event(), threading.Event()
    seen = {}

    def worker():
        with fl.use_backend("numpy"):
            seen["worker"] = fl.backend
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=worker)
    before = fl.backend
    thread.start()
    try:
        assert inside.wait(10)
        seen["main"] = fl.backend           # while the worker is inside its block
    finally:
        release.set()
        thread.join(10)
    assert seen == {"worker": "numpy", "main": before}
    assert fl.backend == before


def test_set_backend_is_process_wide():
    import threading
    before = fl.backend
    seen = []
    try:
        fl.set_backend("numpy")
        thread = threading.Thread(target=lambda: seen.append(fl.backend))
        thread.start()
        thread.join(10)
    finally:
        fl.set_backend(before)
    assert seen == ["numpy"]
