"""Regression benchmarks: ``value_and_grad`` of every loss in ``fl.available()``.

    pytest bench/ --benchmark-only                       # run
    pytest bench/ --benchmark-only --benchmark-autosave  # keep a record to compare against
    pytest bench/ --benchmark-only --benchmark-compare   # compare with the last saved run

Each loss gets inputs from ``INPUTS`` (by kind of target) at two sizes and two dtypes, and
is called with a preallocated ``out=`` buffer and the default thread count, as a training
loop would.  This tracks fastloss against its own history; the comparison with other
libraries is ``python bench/run.py``.
"""
import numpy as np
import pytest

import fastloss as fl

SIZES = {"1e4": 10_000, "1e6": 1_000_000}      # elements of y_pred
N_CLASSES = 128                                 # width of the class axis (CE losses)
DTYPES = ("float32", "float64")


def _regression(rng, n, dtype):
    y = rng.standard_normal(n).astype(dtype)
    return y, y + rng.standard_normal(n).astype(dtype)


def _binary_logits(rng, n, dtype):
    return (rng.random(n) < 0.5).astype(dtype), (2 * rng.standard_normal(n)).astype(dtype)


def _categorical_logits(rng, n, dtype):
    z = (2 * rng.standard_normal((n // N_CLASSES, N_CLASSES))).astype(dtype)
    t = rng.random(z.shape).astype(dtype)
    return t / t.sum(axis=1, keepdims=True), z


def _sparse_logits(rng, n, dtype):
    z = (2 * rng.standard_normal((n // N_CLASSES, N_CLASSES))).astype(dtype)
    return rng.integers(0, N_CLASSES, z.shape[0]), z


# loss name -> (input maker, keyword arguments of the call)
INPUTS = {
    "mse": (_regression, {}),
    "mae": (_regression, {}),
    "huber": (_regression, {"delta": 1.0}),
    "binary_cross_entropy": (_binary_logits, {"from_logits": True}),
    "categorical_cross_entropy": (_categorical_logits, {"from_logits": True}),
    "sparse_categorical_cross_entropy": (_sparse_logits, {"from_logits": True}),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("name", fl.available())
def test_value_and_grad(benchmark, name, size, dtype):
    if name not in INPUTS:
        pytest.skip(f"no benchmark inputs for loss {name!r}: add a row to INPUTS in "
                    f"{__name__}")
    make, kwargs = INPUTS[name]
    y, p = make(np.random.default_rng(0), SIZES[size], dtype)
    out = np.empty_like(p)
    loss = fl.get(name)
    benchmark.group = f"{name} {size}"
    benchmark.extra_info.update(elements=p.size, shape=list(p.shape), dtype=dtype)
    value, grad = benchmark(loss.value_and_grad, y, p, out=out, **kwargs)
    assert np.isfinite(value) and grad is out


def test_every_current_loss_has_inputs():
    """The six losses of fastloss 0.1 must all be benchmarked (not silently skipped)."""
    assert {"mse", "mae", "huber", "binary_cross_entropy", "categorical_cross_entropy",
            "sparse_categorical_cross_entropy"} <= set(INPUTS)
