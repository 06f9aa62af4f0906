"""Bad input gets the same exception and the same message on every path.

The design contract ("Bad input"): "the same message on every path (the per-call fast path
only decides whether a call is already well formed; one validator words every error)".  A
call can take three paths:

compiled-fast
    the compiled backend as it is: ``Loss.__call__`` / ``.value_and_grad`` first offer the
    call to ``fastloss._kernels.fast``, which runs the kernel when no ``sample_weight`` is
    given and the arrays are kernel-ready, and returns None otherwise.
compiled-general
    the compiled backend with ``fastloss._kernels.fast`` replaced by a function returning
    None, so every call goes through ``Loss._run`` (validation, then ``_kernels.run``).
    ``sample_weight=None`` does *not* force this path: the fast path is taken when
    ``sample_weight is None``, and None is the default.  Patching the one function all
    losses call is simpler and surer than patching ``Loss._fast`` / ``Loss._fast_for`` on
    every instance (the module-level losses and those ``fl.get`` returns).
numpy
    the NumPy backend (``fl.use_backend("numpy")``), which never calls the compiled code.

:func:`outcomes` runs one call under each path and returns ``(type(exc), str(exc))`` or the
returned value for each; the tests compare them.  The rows are those of
``tests/test_bad_input.py``'s ``BAD`` table, plus disagreements a review found.
"""
import contextlib

import numpy as np
import pytest

import fastloss as fl
from fastloss import _config
from test_bad_input import BAD

PATHS = ("compiled-fast", "compiled-general", "numpy")

pytestmark = pytest.mark.skipif(not fl.config()["compiled_kernels"],
                                reason="the compiled kernels are not built")


class _Spy:
    """Wraps ``_kernels.fast``: records whether the fast path took (ran or refused) a call."""

    def __init__(self, fast):
        self.fast = fast
        self.decided = []

    def __call__(self, *args):
        try:
            result = self.fast(*args)
        except BaseException as exc:
            self.decided.append(f"raised {type(exc).__name__}")
            raise
        self.decided.append("declined" if result is None else "ran")
        return result


@contextlib.contextmanager
def on_path(path):
    """Run the enclosed calls on ``path``; yields the spy of the fast path (or None)."""
    kernels = _config._kernels
    assert kernels is not None and hasattr(kernels, "fast"), \
        "fastloss._kernels.fast is gone: update how this test forces the paths"
    original = kernels.fast
    if path == "numpy":
        with fl.use_backend("numpy"):
            yield None
        return
    spy = _Spy(original) if path == "compiled-fast" else None
    kernels.fast = spy if spy is not None else (lambda *args: None)
    try:
        with fl.use_backend("cython"):
            yield spy
    finally:
        kernels.fast = original


def outcomes(call):
    """{path: ("raised", type, message) or ("returned", result)}, and what the fast path did
    on the compiled-fast path (e.g. ["ran"], ["declined"], ["raised ValueError"])."""
    results, fast_did = {}, []
    for path in PATHS:
        with on_path(path) as spy:
            try:
                results[path] = ("returned", call())
            except Exception as exc:
                results[path] = ("raised", type(exc), str(exc))
            if spy is not None:
                fast_did = spy.decided
    return results, fast_did


def _describe(results, fast_did):
    lines = [f"  {path}: " + (f"{r[1].__name__}: {r[2]}" if r[0] == "raised"
                              else f"returned {r[1]!r}")[:300]
             for path, r in results.items()]
    return "\n".join(lines) + f"\n  (fast path: {', '.join(fast_did) or 'not reached'})"


def assert_same_error(call, exc_type=(ValueError, TypeError), words=()):
    """The call raises on every path, the same exception type with the same message."""
    results, fast_did = outcomes(call)
    detail = _describe(results, fast_did)
    assert all(r[0] == "raised" for r in results.values()), "not raised everywhere:\n" + detail
    kinds = {(r[1], r[2]) for r in results.values()}
    assert len(kinds) == 1, "the paths disagree:\n" + detail
    (typ, message), = kinds
    assert issubclass(typ, exc_type), detail
    for word in words:
        assert word in message, f"{word!r} not in the message:\n{detail}"
    return message


def _values_close(a, b, rtol=1e-12, atol=1e-14):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


# ---- the path forcing itself ----------------------------------------------------------------

def test_paths_are_really_taken():
    """A well-formed call runs on the fast path in compiled-fast, never reaches it in
    compiled-general, and sample_weight=None does not keep it off the fast path."""
    y, p = np.zeros((4, 3)), np.ones((4, 3))
    with on_path("compiled-fast") as spy:
        fl.mse(y, p)
        fl.mse.value_and_grad(y, p, sample_weight=None)
        fl.mse(y, p, sample_weight=np.ones(4))
    assert spy.decided == ["ran", "ran"]      # a given sample_weight skips the fast path
    original = _config._kernels.fast
    calls = []
    _config._kernels.fast = lambda *a: calls.append(a)
    try:
        with on_path("compiled-general"):
            assert fl.mse(y, p) == 1.0
    finally:
        _config._kernels.fast = original
    assert not calls


# ---- the BAD table on every path --------------------------------------------------------------

@pytest.mark.parametrize("call, exc, words", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_same_error_on_every_path(call, exc, words):
    assert_same_error(call, exc, words)


# ---- disagreements found by a review ---------------------------------------------------------

rng = np.random.default_rng(21)
N, C = 8, 5
LABELS5 = rng.integers(0, C, size=N)
Z5 = rng.normal(size=(N, C))
CW5 = np.linspace(0.5, 2.0, C)


@pytest.mark.parametrize("method", ["__call__", "grad", "value_and_grad"])
@pytest.mark.parametrize("from_logits", [True, False])
def test_bound_class_weight_of_wrong_length(method, from_logits):
    """class_weight bound by fl.get with 3 entries, used with 5 classes: one message naming
    class_weight on every path (the fast path must not word its own)."""
    loss = fl.get("sparse_categorical_cross_entropy", class_weight=[1, 1, 1],
                  from_logits=from_logits)
    z = Z5 if from_logits else np.exp(Z5) / np.exp(Z5).sum(axis=1, keepdims=True)
    assert_same_error(lambda: getattr(loss, method)(LABELS5, z), ValueError,
                      ["class_weight", "3", "5 classes"])


def test_bound_class_weight_of_wrong_length_call_time_parameter():
    """The same with from_logits given at call time (the fast path's per-call cache)."""
    loss = fl.get("sparse_categorical_cross_entropy", class_weight=[1, 1, 1])
    assert_same_error(lambda: loss(LABELS5, Z5, from_logits=True), ValueError,
                      ["class_weight", "5 classes"])


@pytest.mark.parametrize("loss_name", ["categorical_cross_entropy", "categorical_focal"])
@pytest.mark.parametrize("from_logits", [True, False])
def test_nan_target_with_class_weight_gives_nan_not_a_sample_weight_error(loss_name,
                                                                          from_logits):
    """A NaN in y_true with class_weight: a NaN loss (the contract: a NaN input gives a NaN
    loss), on every path - and never an error blaming sample_weight, which was not passed."""
    t = np.eye(C)[LABELS5]
    t[2, 1] = np.nan
    z = Z5 if from_logits else np.exp(Z5) / np.exp(Z5).sum(axis=1, keepdims=True)
    loss = fl.get(loss_name, class_weight=CW5, from_logits=from_logits)
    for reduction in ("mean", "sum", "none"):
        results, fast_did = outcomes(lambda: loss.value_and_grad(t, z, reduction=reduction))
        detail = f"reduction={reduction}\n" + _describe(results, fast_did)
        for path, r in results.items():
            if r[0] == "raised":
                assert "sample_weight" not in r[2], f"{path} blames sample_weight:\n{detail}"
            assert r[0] == "returned", f"{path} raised on a NaN target:\n{detail}"
        values = [np.asarray(r[1][0]) for r in results.values()]
        if reduction == "none":
            for v in values:
                assert np.array_equal(np.flatnonzero(np.isnan(v)), [2]), detail
        else:
            assert all(np.isnan(v) for v in values), detail


IGNORE_CALLS = {
    "scce-logits": lambda ii, **kw: fl.sparse_categorical_cross_entropy.value_and_grad(
        LABELS5, Z5, from_logits=True, ignore_index=ii, **kw),
    "scce-probs-bound": lambda ii, **kw: fl.get(
        "sparse_categorical_cross_entropy", ignore_index=ii).value_and_grad(
        LABELS5, np.full((N, C), 1.0 / C), **kw),
    "CrossEntropyLoss-weighted": lambda ii, **kw: fl.get(
        "CrossEntropyLoss", ignore_index=ii, class_weight=CW5).value_and_grad(
        LABELS5, Z5, **kw),
}


@pytest.mark.parametrize("ignore_index", [2**70, -2**70, 2**63, -2**63 - 1],
                         ids=["2**70", "-2**70", "2**63", "-2**63-1"])
@pytest.mark.parametrize("which", list(IGNORE_CALLS))
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_huge_ignore_index_same_outcome_on_every_path(which, ignore_index, reduction):
    """An ignore_index no int64 label can equal: either a clear ValueError naming
    ignore_index on every path, or the same value as without ignore_index on every path."""
    call = IGNORE_CALLS[which]
    results, fast_did = outcomes(lambda: call(ignore_index, reduction=reduction))
    detail = _describe(results, fast_did)
    kinds = {r[0] for r in results.values()}
    assert len(kinds) == 1, "some paths raise, some return:\n" + detail
    if kinds == {"raised"}:
        assert len({(r[1], r[2]) for r in results.values()}) == 1, detail
        r = results["numpy"]
        assert r[1] is ValueError and "ignore_index" in r[2], detail
        return
    with on_path("numpy"):
        expected = call(None, reduction=reduction)
    for path, r in results.items():
        value, grad = r[1]
        assert _values_close(value, expected[0]), f"{path}: value\n{detail}"
        assert _values_close(grad, expected[1]), f"{path}: gradient\n{detail}"


A4, P4, N4 = rng.normal(size=(3, N, 4))
THREAD_CALLS = {
    "mse": lambda nt: fl.mse.value_and_grad(Z5, Z5[::-1].copy(), n_threads=nt),
    "mse-none": lambda nt: fl.mse.value_and_grad(Z5, Z5[::-1].copy(), n_threads=nt,
                                                 reduction="none"),
    "mse-weighted": lambda nt: fl.mse.value_and_grad(Z5, Z5[::-1].copy(), n_threads=nt,
                                                     sample_weight=np.ones(N)),
    "scce": lambda nt: fl.sparse_categorical_cross_entropy.value_and_grad(
        LABELS5, Z5, from_logits=True, n_threads=nt),
    "triplet": lambda nt: fl.triplet.value_and_grad(A4, P4, N4, n_threads=nt),
    "dice": lambda nt: fl.dice.value_and_grad((Z5 > 0).astype(float), 1 / (1 + np.exp(-Z5)),
                                              n_threads=nt),
}


@pytest.mark.parametrize("n_threads", [2**31 - 1, 2**31, 2**40, 2**63, 2**70],
                         ids=["2**31-1", "2**31", "2**40", "2**63", "2**70"])
@pytest.mark.parametrize("which", list(THREAD_CALLS))
def test_huge_n_threads_is_valid_and_capped(which, n_threads):
    """An explicit n_threads larger than the CPUs is valid and capped (the contract), so
    every path returns the n_threads=1 answer (bitwise on the compiled paths)."""
    call = THREAD_CALLS[which]
    results, fast_did = outcomes(lambda: call(n_threads))
    detail = _describe(results, fast_did)
    for path, r in results.items():
        assert r[0] == "returned", f"{path} refused n_threads={n_threads}:\n" + detail
    for path in PATHS:
        with on_path(path):
            expected = call(1)
        value, grads = results[path][1]
        grads, expected_grads = (grads, expected[1]) if isinstance(grads, tuple) else \
            ((grads,), (expected[1],))
        if path == "numpy":
            assert _values_close(value, expected[0]), detail
        else:
            assert np.array_equal(value, expected[0], equal_nan=True), detail
        for g, e in zip(grads, expected_grads, strict=True):
            assert np.array_equal(g, e, equal_nan=True), f"{path}: gradient\n{detail}"
