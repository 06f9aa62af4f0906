"""Memory layout does not change the answer: every registered loss, both backends.

The design contract ("Bad input") says non-native byte order, misaligned and read-only
inputs are valid input and give the native answer; non-contiguous views are copied to C
order.  So for every registered loss (each row of ``tests/cases.py`` for it, which gives it
valid data; losses of several inputs take tuples of arrays), the value and the gradient(s)
for inputs given as

    big-endian ('>f4' / '>f8', and '>i8' labels), unaligned (data one byte into a bytearray),
    both, read-only, strided, negative-stride, Fortran-ordered and transposed views

are compared with those for the same values as native C-contiguous arrays, on the same
backend.  The comparison is **bitwise** (NaN equal to NaN, signs of zeros included): the
computation dtype is the same, and both the compiled path (which copies any such array to
a native C-contiguous one before its kernel runs) and the NumPy path compute the very same
operations on the very same values.

The gradient's dtype must be the native one's up to byte order: for a '>f4' y_pred the
library may return '>f4' (y_pred's dtype, literally) or native float32.  Likewise an
``out=`` buffer of native dtype next to a big-endian y_pred may be refused (ValueError
naming out, buffer untouched) or filled - but never filled wrongly.

Each comparison is made through ``__call__``, ``.grad`` and ``.value_and_grad``, with and
without ``out=``, for reductions "mean", "sum" and "none", with and without
``sample_weight``, in float32 and float64.  The layout is applied to every array of the
call at once, and also to one array at a time (a big-endian y_pred next to a native y_true
has a different dtype from it).

``out=`` buffers that are big-endian or unaligned: the contract asks for a C-contiguous,
writable buffer of the right shape and dtype.  Whether a big-endian '>f8' buffer "has the
right dtype" is left open, so the test accepts either outcome that is not a silently
wrong gradient: the buffer is filled with exactly the native gradient (and returned), or a
ValueError naming ``out`` is raised and the buffer is left untouched.

Every mismatch of one test is collected and reported together.
"""
import numpy as np
import pytest

import fastloss as fl
from fastloss._registry import REGISTRY
from cases import CASES, call_args, grads_of, n_preds, per_sample_shape, preds_of, shape_for
from memory_layouts import LAYOUTS, OUT_LAYOUTS, native, same_bits

BACKENDS = ["cython", "numpy"]
DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]


def _registered():
    """Canonical names of the built-in losses (custom ones other tests register excluded)."""
    return [name for name in fl.available() if REGISTRY[name].kind != "custom"]


LOSS_CASES = [case for name in _registered() for case in CASES if case.loss == name]

# (layout, which arrays get it): every layout on all arrays at once, and the layouts that
# change the dtype or the pointer on one array at a time.
VARIANTS = [(layout, "all") for layout in LAYOUTS if layout != "native"] + [
    ("big-endian", "y_pred"), ("big-endian", "y_true"), ("big-endian", "sample_weight"),
    ("unaligned", "y_pred"), ("unaligned", "y_true"), ("unaligned", "sample_weight"),
    ("read-only", "y_pred"), ("strided", "y_pred"),
]


@pytest.fixture(params=BACKENDS)
def backend(request):
    if request.param == "cython" and not fl.config()["compiled_kernels"]:
        pytest.fail("the compiled kernels are not built")
    with fl.use_backend(request.param):
        yield request.param


def test_every_registered_loss_has_a_case():
    covered = {c.loss for c in LOSS_CASES}
    assert set(_registered()) <= covered, set(_registered()) - covered


def _draw(case, dtype, seed=11):
    rng = np.random.default_rng(seed)
    y_true, y_pred = case.inputs(rng, shape_for(case, 3), dtype)
    preds = preds_of(case, y_pred)
    w = rng.uniform(0.1, 2.0, size=per_sample_shape(case, preds[0]))
    return y_true, preds, w


def _transform(case, y_true, preds, w, layout, which):
    f = LAYOUTS[layout]
    if which in ("all", "y_true") and y_true is not None:
        y_true = f(y_true)
    if which in ("all", "y_pred"):
        preds = tuple(f(x) for x in preds)
    if which in ("all", "sample_weight"):
        w = f(w)
    return y_true, preds, w


def _check_value(failures, what, got, expected):
    if not same_bits(got, expected):
        failures.append(f"{what}: value {got!r} != native {expected!r}")


def _check_grads(failures, what, case, got, expected):
    got = grads_of(case, got)
    for i, (g, e) in enumerate(zip(got, expected)):
        if g.dtype.newbyteorder("=") != e.dtype or not same_bits(g, e):
            diff = np.abs(g.astype(np.float64) - e.astype(np.float64))
            failures.append(f"{what}: gradient {i} differs from native (dtype {g.dtype} vs "
                            f"{e.dtype}, max abs diff {np.nanmax(diff, initial=0):.3g})")


def _check_out_call(failures, label, case, method, args, kw, bufs, ref_value, ref_grad):
    """Call ``method(*args, out=bufs, **kw)`` (``.grad`` or ``.value_and_grad``): either it
    fills every buffer with exactly the native gradient and returns the buffers, or it raises
    a ValueError naming out and leaves them untouched (they start as NaN)."""
    case_multi = n_preds(case) > 1
    try:
        result = method(*args, out=bufs if case_multi else bufs[0], **kw)
    except ValueError as exc:
        if "out" not in str(exc):
            failures.append(f"{label}: ValueError not naming out: {exc}")
        if not all(np.isnan(b).all() for b in bufs):
            failures.append(f"{label}: refused but wrote into out")
        return
    except Exception as exc:  # a valid call: nothing else may be raised
        failures.append(f"{label}: raised {type(exc).__name__}: {exc}")
        return
    grad = result
    if method.__name__ == "value_and_grad":
        value, grad = result
        _check_value(failures, label, value, ref_value)
    grads = grad if case_multi else (grad,)
    for i, (b, e) in enumerate(zip(bufs, ref_grad)):
        if not same_bits(b, e):
            failures.append(f"{label}: out[{i}] was not filled with the native gradient "
                            f"(silently wrong)")
    if any(g is not b for g, b in zip(grads, bufs)):
        failures.append(f"{label}: did not return the out buffer(s)")


def _report(failures):
    if failures:
        shown = failures[:12]
        more = f"\n... and {len(failures) - 12} more" if len(failures) > 12 else ""
        pytest.fail(f"{len(failures)} mismatches:\n" + "\n".join(shown) + more)


# (case, layout, which input) - every combination that exists (triplet has no y_true)
COMBINATIONS = [pytest.param(case, layout, which, id=f"{case}-{layout}-{which}")
                for case in LOSS_CASES for layout, which in VARIANTS
                if not (which == "y_true" and case.kind == "triplet")]


@pytest.mark.parametrize("case, layout, which", COMBINATIONS)
def test_layout_gives_the_native_answer(case, layout, which, backend):
    loss = fl.get(case.loss, **case.params)
    failures = []
    for dtype in DTYPES:
        y_true, preds, w = _draw(case, dtype)
        t2, p2, w2 = _transform(case, y_true, preds, w, layout, which)
        args = call_args(case, y_true, preds)
        args2 = call_args(case, t2, p2)
        for weighted in (False, True):
            for reduction in REDUCTIONS:
                kw = dict(reduction=reduction, sample_weight=w if weighted else None)
                kw2 = dict(reduction=reduction, sample_weight=w2 if weighted else None)
                what = (f"{np.dtype(dtype).name} reduction={reduction}"
                        f"{' weighted' if weighted else ''}")
                ref_value = loss(*args, **kw)
                ref_vg_value, ref_grad = loss.value_and_grad(*args, **kw)
                ref_grad = grads_of(case, ref_grad)
                try:
                    _check_value(failures, f"{what} __call__", loss(*args2, **kw2), ref_value)
                    _check_grads(failures, f"{what} .grad", case, loss.grad(*args2, **kw2),
                                 ref_grad)
                    value, grad = loss.value_and_grad(*args2, **kw2)
                    _check_value(failures, f"{what} .value_and_grad", value, ref_vg_value)
                    _check_grads(failures, f"{what} .value_and_grad", case, grad, ref_grad)
                    for method in ("grad", "value_and_grad"):
                        _check_out_call(failures, f"{what} .{method}(out=native)", case,
                                        getattr(loss, method), args2, kw2,
                                        tuple(np.full_like(g, np.nan) for g in ref_grad),
                                        ref_vg_value, ref_grad)
                except Exception as exc:  # a valid call must not raise
                    failures.append(f"{what}: raised {type(exc).__name__}: {exc}")
    _report(failures)


OUT_VARIANTS = [name for name in OUT_LAYOUTS if name != "native"]


@pytest.mark.parametrize("out_layout", OUT_VARIANTS)
@pytest.mark.parametrize("case", LOSS_CASES, ids=str)
def test_out_buffer_layout_filled_correctly_or_refused(case, out_layout, backend):
    """A big-endian or unaligned out= is either filled with the native gradient or refused
    with a ValueError naming out (and left untouched) - never a silently wrong gradient."""
    loss = fl.get(case.loss, **case.params)
    make = OUT_LAYOUTS[out_layout]
    failures = []
    for dtype in DTYPES:
        y_true, preds, w = _draw(case, dtype, seed=12)
        args = call_args(case, y_true, preds)
        for weighted in (False, True):
            for reduction in REDUCTIONS:
                kw = dict(reduction=reduction, sample_weight=w if weighted else None)
                what = (f"{np.dtype(dtype).name} reduction={reduction}"
                        f"{' weighted' if weighted else ''}")
                ref_value, ref_grad = loss.value_and_grad(*args, **kw)
                ref_grad = grads_of(case, ref_grad)
                for method in ("grad", "value_and_grad"):
                    bufs = tuple(make(g.shape, g.dtype) for g in ref_grad)
                    _check_out_call(failures, f"{what} .{method}(out={out_layout})", case,
                                    getattr(loss, method), args, kw, bufs, ref_value,
                                    ref_grad)
    _report(failures)


@pytest.mark.parametrize("case", LOSS_CASES, ids=str)
def test_layouts_agree_across_backends(case):
    """The big-endian / unaligned answer of the compiled backend matches the NumPy backend
    (to the battery's tolerance: the two backends are different code)."""
    if not fl.config()["compiled_kernels"]:
        pytest.fail("the compiled kernels are not built")
    loss = fl.get(case.loss, **case.params)
    failures = []
    for dtype in DTYPES:
        tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else \
            dict(rtol=1e-12, atol=1e-14)
        y_true, preds, w = _draw(case, dtype, seed=13)
        for layout in ("big-endian", "unaligned", "big-endian-unaligned"):
            t2, p2, _ = _transform(case, y_true, preds, w, layout, "all")
            args2 = call_args(case, t2, p2)
            results = {}
            for name in BACKENDS:
                with fl.use_backend(name):
                    value, grad = loss.value_and_grad(*args2)
                    results[name] = (value, grads_of(case, grad))
            (v1, g1), (v2, g2) = results["cython"], results["numpy"]
            if not np.allclose(v1, v2, equal_nan=True, **tol):
                failures.append(f"{np.dtype(dtype).name} {layout}: value cython {v1!r} != "
                                f"numpy {v2!r}")
            for i, (a, b) in enumerate(zip(g1, g2)):
                if not np.allclose(a.astype(float), b.astype(float), equal_nan=True, **tol):
                    failures.append(f"{np.dtype(dtype).name} {layout}: gradient {i} differs "
                                    f"between backends")
    _report(failures)


def test_known_big_endian_mse():
    """The reported reproducer: big-endian float64 inputs to mse on the compiled fast path."""
    rng = np.random.default_rng(0)
    y, p = rng.normal(size=(2, 100))
    expected = fl.mse(y, p)
    for backend in BACKENDS:
        with fl.use_backend(backend):
            assert fl.mse(y.astype(">f8"), p.astype(">f8")) == fl.mse(native(y), native(p))
            assert fl.mse(y.astype(">f8"), p.astype(">f8")) == \
                pytest.approx(expected, rel=1e-12)
