"""A bounded, reproducible property-based fuzz test of every registered loss, both backends.

Hypothesis draws a *scenario* - a row of ``tests/cases.py`` for the loss (so the base data is
valid for it), then a shape (1-D, (N, K), (B, T, K), size-1 axes), dtypes (float16/32/64,
ints, bool, and complex / object / str), special values (NaN, +-inf, huge, tiny, -0.0, labels
out of range), memory layouts (big-endian, unaligned, read-only, strided, reversed,
Fortran), parameters (valid, negative, NaN, inf, wrong types, huge ints for ignore_index and
n_threads, unknown keywords; given at call time or bound by ``fl.get``), reductions (valid
and not), ``sample_weight`` (valid, zero, negative, NaN, inf, wrong shape, 1e-50 / 1e39
magnitudes, lists, ints, complex) and ``out=`` buffers (right, wrong shape or dtype, an input
itself, read-only, non-contiguous, big-endian, unaligned, a list, shared between inputs) -
and makes the call through ``__call__``, ``.grad`` or ``.value_and_grad`` on each backend.

The property, on each backend:

* the call returns, or raises ``ValueError`` / ``TypeError`` whose message names one of the
  arguments or parameters of the call; never any other exception (and never a crash);
* it never writes into its inputs, and when it raises it has not written into ``out``;
* a returned value is a float (an array of the per-sample shape for ``reduction="none"``),
  gradients have their input's shape and dtype (byte order aside) and are the ``out``
  buffers when those were given;

and across the two backends: the same outcome - both raise the same exception type with the
same message (the contract: one validator words every error), or both return values and
gradients that agree (``np.allclose`` with float16 / float32 / float64 tolerances, NaN in
the same places, +-inf equal).

Bounded and deterministic: ``derandomize=True`` (the examples depend only on this file and
the Hypothesis version), no example database, a fixed number of examples per loss.  On a
failure the falsifying scenario is printed; ``Scenario.reproducer()`` turns it into Python.
"""
import math
import os
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

import fastloss as fl
from fastloss._registry import REGISTRY
from cases import CASES, N_PREDS, call_args, per_sample_shape, preds_of
from memory_layouts import LAYOUTS, unaligned

#: Examples per loss (24 losses: about 25 s on two shared cores when everything passes).
EXAMPLES_PER_LOSS = int(os.environ.get("FASTLOSS_FUZZ_EXAMPLES", "75"))
#: Shrinking a failure to a minimal scenario can take minutes; it is off unless asked for
#: (FASTLOSS_FUZZ_SHRINK=1), so a failing run stays bounded too.  The first falsifying
#: scenario of each distinct failure is reported either way.
PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target] + \
    ([Phase.shrink] if os.environ.get("FASTLOSS_FUZZ_SHRINK") == "1" else [])
BACKENDS = ("cython", "numpy")
DEFAULT = "<default>"          # an argument not passed at all

LOSSES = [name for name in fl.available() if REGISTRY[name].kind != "custom"]
CASES_OF = {name: [c for c in CASES if c.loss == name] for name in LOSSES}
CASE_BY_ID = {c.id: c for c in CASES}

FLOAT_DTYPES = ["float64", "float64", "float64", "float32", "float32", "float16"]
VALID_DTYPES = FLOAT_DTYPES * 2 + ["int64", "int32", "uint8", "bool"]
BAD_DTYPES = ["complex128", "object", "str"]
VALID_LABEL_DTYPES = ["int64", "int64", "int32", "int8", "uint8", "uint64", "bool"]
BAD_LABEL_DTYPES = ["float64", "float32", "complex128", "object", "str"]
FLOAT_SPECIALS = [math.nan, math.inf, -math.inf, 1e300, -1e300, 1e-300, 5e-324, -0.0, 0.0,
                  1.0, -1.0, 2.0, 65504.0, 3.5e38, 1e-8]
LABEL_SPECIALS = [-1, -100, 2**40, -2**40, 10**18, 0, 1]   # plus "n_classes" (see build)
PARAM_VALUES = [-1, 0, 0.5, 1, 2, 1e-300, math.nan, math.inf, -math.inf, "1", None, True,
                False, 2**70, -2**70, 2**63, [1, 2], 0.25, 1.0, -0.5]
INT_PARAM_VALUES = [-100, 0, 1, 2**70, -2**70, 2**63, -2**63, 2**63 - 1, 1.5, None, "0",
                    True, np.int64(3), np.uint64(2**64 - 1)]
VALID_REDUCTIONS = ["mean", "sum", "none", "sum_over_batch_size", DEFAULT]
BAD_REDUCTIONS = ["avg", None, 3, "", "MEAN", b"mean"]
VALID_N_THREADS = [DEFAULT, DEFAULT, None, 1, 2, 3, 2**31 - 1, 2**31, 2**40, 2**70,
                   np.int64(2)]
BAD_N_THREADS = [0, -1, -2**70, 1.5, "2", True]
VALID_WEIGHTS = ["none"] * 6 + ["valid", "valid", "zeros", "one-zero", "scalar",
                 "tiny", "huge", "list", "int", "float32"]
BAD_WEIGHTS = ["negative", "nan", "inf", "wrong-shape", "complex", "per-element"]
VALID_OUTS = ["none", "right", "right"]
BAD_OUTS = ["wrong-shape", "wrong-dtype", "is-input", "overlaps-input", "read-only",
            "strided", "list", "shared", "short-tuple"]
#: In a "bad" scenario exactly one of these is drawn from its bad pool, the rest valid.
BAD_KNOBS = ["pred_dtype", "true_dtype", "labels", "weight", "out", "reduction", "n_threads",
             "param", "param", "bogus"]
METHODS = ["__call__", "grad", "value_and_grad"]


@dataclass(frozen=True)
class Scenario:
    case_id: str
    seed: int
    shape: tuple
    true_dtype: str            # DEFAULT: as the case draws it
    pred_dtypes: tuple
    specials: tuple            # ((role, position in [0, 1), index into the pool), ...)
    layouts: tuple             # ((role, layout), ...)
    weight: str
    out: str
    method: str
    reduction: object
    n_threads: object
    overrides: tuple           # ((parameter, value), ...)
    bind: bool                 # overrides bound with fl.get (else given at call time)

    def reproducer(self):
        case = CASE_BY_ID[self.case_id]
        kw = dict(case.params)
        over = dict(self.overrides)
        bound = {**kw, **over} if self.bind else kw
        call_kw = {} if self.bind else over
        if self.reduction != DEFAULT:
            call_kw["reduction"] = self.reduction
        if self.n_threads != DEFAULT:
            call_kw["n_threads"] = self.n_threads
        return (f"loss = fl.get({case.loss!r}, **{bound!r})\n"
                f"loss.{self.method}(*arrays, **{call_kw!r}, sample_weight=<{self.weight}>, "
                f"out=<{self.out}>)\n"
                f"# arrays: case {self.case_id!r} drawn with default_rng({self.seed}) at shape "
                f"{self.shape}, y_true {self.true_dtype}, inputs {self.pred_dtypes}, "
                f"specials {self.specials}, layouts {self.layouts}")


def _shapes(case):
    dim = st.integers(1, 4)
    if case.kind in ("elementwise", "segmentation"):
        return st.lists(dim, min_size=1, max_size=3).map(tuple)
    last = st.integers(1, 5)
    return st.tuples(st.lists(dim, min_size=0, max_size=2), last).map(
        lambda x: tuple(x[0]) + (x[1],))


@st.composite
def scenarios(draw, loss_name):
    """Most scenarios are valid calls (with NaN / inf / huge values, odd dtypes and layouts,
    extreme weights, huge n_threads ...); the others change exactly one knob to a bad value,
    so that each error is the one being tested."""
    case = draw(st.sampled_from(CASES_OF[loss_name]))
    n_preds = N_PREDS.get(case.kind, 1)
    spec = REGISTRY[loss_name]
    bad = draw(st.sampled_from([None] * 4 + BAD_KNOBS))

    def pick(knob, valid, invalid):
        return draw(st.sampled_from(invalid if bad == knob else valid))

    roles = ["y_true"] * (case.kind != "triplet") + [f"pred{i}" for i in range(n_preds)] + \
        ["sample_weight"]
    first = pick("pred_dtype", VALID_DTYPES, BAD_DTYPES)
    if n_preds > 1 and draw(st.integers(0, 4)) == 0:
        preds = (first,) + tuple(draw(st.sampled_from(VALID_DTYPES))
                                 for _ in range(n_preds - 1))
    else:
        preds = (first,) * n_preds
    if case.kind == "triplet":
        true_dtype = DEFAULT
    elif case.kind == "sparse":
        true_dtype = pick("true_dtype", [DEFAULT] * 7 + VALID_LABEL_DTYPES, BAD_LABEL_DTYPES)
    else:
        true_dtype = pick("true_dtype", [DEFAULT] * 16 + VALID_DTYPES, BAD_DTYPES)
    special_roles = [r for r in roles[:-1] if r != "y_true" or case.kind != "sparse"]
    specials = tuple(draw(st.lists(st.tuples(
        st.sampled_from(special_roles), st.floats(0, 1, exclude_max=True),
        st.integers(0, len(FLOAT_SPECIALS) - 1)), max_size=3)))
    if bad == "labels" and case.kind == "sparse":
        specials += (("y_true", draw(st.floats(0, 1, exclude_max=True)),
                      draw(st.integers(0, len(LABEL_SPECIALS)))),)
    layouts = tuple((role, layout) for role in roles + ["out"]
                    for layout in [draw(st.sampled_from(["native"] * 3 + list(LAYOUTS)))]
                    if layout != "native")
    overrides = {}
    if bad == "param" and spec.params:
        for name in draw(st.lists(st.sampled_from(list(spec.params)), min_size=1,
                                  max_size=2, unique=True)):
            if name == "ignore_index":
                overrides[name] = draw(st.sampled_from(INT_PARAM_VALUES))
            elif name == "class_weight":
                overrides[name] = draw(st.sampled_from(
                    ["right", "short", "negative", "nan", "2-D", "none"]))
            elif name == "class_axis":
                overrides[name] = draw(st.sampled_from([None, -1, 1, 2, 0, -4, 1.0]))
            else:
                overrides[name] = draw(st.sampled_from(PARAM_VALUES))
    if bad == "bogus":
        overrides["bogus"] = 1
    method = draw(st.sampled_from(METHODS[1:] if bad == "out" else METHODS))
    return Scenario(
        case_id=case.id, seed=draw(st.integers(0, 2**16)), shape=draw(_shapes(case)),
        true_dtype=true_dtype, pred_dtypes=preds, specials=specials, layouts=layouts,
        weight=pick("weight", VALID_WEIGHTS, BAD_WEIGHTS),
        out="none" if method == "__call__" else pick("out", VALID_OUTS, BAD_OUTS),
        method=method, reduction=pick("reduction", VALID_REDUCTIONS, BAD_REDUCTIONS),
        n_threads=pick("n_threads", VALID_N_THREADS, BAD_N_THREADS),
        overrides=tuple(overrides.items()), bind=draw(st.booleans()))


# ---- building the arrays of a scenario ---------------------------------------------------------

def _cast(a, dtype):
    with np.errstate(all="ignore"):
        if dtype == "str":
            return np.asarray(a).astype(str)
        if dtype == "object":
            return np.asarray(a).astype(object)
        return np.asarray(a).astype(dtype)


def _result_dtype(dtype):
    """The dtype a gradient is returned in for an input of ``dtype`` (None: invalid)."""
    dt = np.dtype(dtype).newbyteorder("=")
    if dt.kind == "f":
        return dt                                 # float16 stays float16
    if dt.kind in "iub":
        return np.dtype(np.float64)
    return None


def _layout(a, name):
    """``a`` in layout ``name``; layouts a dtype cannot have (an unaligned object array)
    leave it as it is."""
    try:
        return LAYOUTS[name](a)
    except (ValueError, TypeError):
        return a


def _class_weight(kind, n_classes):
    return {"right": np.linspace(0.5, 2.0, n_classes), "short": [1.0] * max(n_classes - 1, 1),
            "negative": [-1.0] + [1.0] * (n_classes - 1),
            "nan": [math.nan] + [1.0] * (n_classes - 1), "2-D": np.ones((n_classes, 1)),
            "none": None}[kind]


def build(sc):
    """(loss name, bound params, positional arrays, call kwargs, out, per-sample shape)."""
    case = CASE_BY_ID[sc.case_id]
    rng = np.random.default_rng(sc.seed)
    y_true, y_pred = case.inputs(rng, sc.shape, np.float64)
    arrays = {"y_true": None if y_true is None else np.array(y_true)}
    for i, x in enumerate(preds_of(case, y_pred)):
        arrays[f"pred{i}"] = np.array(x, dtype=np.float64)
    n_classes = sc.shape[-1]
    for role, pos, idx in sc.specials:
        a = arrays[role]
        if a is None or a.size == 0:
            continue
        flat = a.reshape(-1)
        i = int(pos * flat.size)
        if a.dtype.kind in "iu":               # integer class labels
            pool = LABEL_SPECIALS + [n_classes]
            flat[i] = pool[idx % len(pool)]
        else:
            flat[i] = FLOAT_SPECIALS[idx]
    if arrays["y_true"] is not None and sc.true_dtype != DEFAULT:
        arrays["y_true"] = _cast(arrays["y_true"], sc.true_dtype)
    for i, dt in enumerate(sc.pred_dtypes):
        arrays[f"pred{i}"] = _cast(arrays[f"pred{i}"], dt)
    preds = [arrays[f"pred{i}"] for i in range(len(sc.pred_dtypes))]
    per_shape = per_sample_shape(case, preds[0])

    w = {"none": None, "valid": rng.uniform(0.1, 2.0, per_shape),
         "zeros": np.zeros(per_shape), "one-zero": np.where(np.arange(
             int(np.prod(per_shape))).reshape(per_shape) == 0, 0.0, 1.0),
         "negative": -np.ones(per_shape), "nan": np.full(per_shape, np.nan),
         "inf": np.full(per_shape, np.inf), "wrong-shape": np.ones(per_shape + (2,)),
         "scalar": 2.0, "tiny": 1e-50 * rng.uniform(0.5, 1.0, per_shape),
         "huge": 1e39 * rng.uniform(0.5, 1.0, per_shape),
         "list": np.ones(per_shape).tolist(), "int": np.full(per_shape, 2, np.int64),
         "complex": np.ones(per_shape, complex), "float32": np.ones(per_shape, np.float32),
         "per-element": np.ones(preds[0].shape)}[sc.weight]
    arrays["sample_weight"] = w
    for role, name in sc.layouts:
        if role != "out" and isinstance(arrays.get(role), np.ndarray):
            arrays[role] = _layout(arrays[role], name)
    preds = [arrays[f"pred{i}"] for i in range(len(sc.pred_dtypes))]

    out = _out(sc, preds, dict(sc.layouts).get("out"))
    over = dict(sc.overrides)
    if "class_weight" in over:
        over["class_weight"] = _class_weight(over["class_weight"], n_classes)
    bound = {**case.params, **over} if sc.bind else dict(case.params)
    kw = {} if sc.bind else dict(over)
    if sc.reduction != DEFAULT:
        kw["reduction"] = sc.reduction
    if sc.n_threads != DEFAULT:
        kw["n_threads"] = sc.n_threads
    if w is not None:
        kw["sample_weight"] = w
    if sc.method != "__call__" and out is not None:
        kw["out"] = out
    args = call_args(case, arrays["y_true"], preds)
    return case.loss, bound, args, kw, out, per_shape


def _out(sc, preds, layout):
    if sc.out == "none":
        return None
    multi = len(preds) > 1
    shape = preds[0].shape
    dtypes = [_result_dtype(p.dtype) or np.dtype(np.float64) for p in preds]
    bufs = [np.full(shape, np.nan, dt) for dt in dtypes]
    kind = sc.out
    if kind == "wrong-shape":
        bufs[0] = np.full(shape + (1,), np.nan, dtypes[0])
    elif kind == "wrong-dtype":
        bufs[0] = np.full(shape, np.nan, np.float32 if dtypes[0] == np.float64 else np.float64)
    elif kind == "is-input":
        bufs[0] = preds[0]
    elif kind == "overlaps-input":
        bufs[0] = preds[0].reshape(-1)[::-1].reshape(shape) if preds[0].size else preds[0]
    elif kind == "read-only":
        bufs[0].flags.writeable = False
    elif kind == "strided":
        bufs[0] = np.full(shape + (2,), np.nan, dtypes[0])[..., 0]
    elif kind == "big-endian":
        bufs[0] = bufs[0].astype(bufs[0].dtype.newbyteorder(">"))
    elif kind == "unaligned":
        bufs[0] = unaligned(bufs[0])
    elif kind == "list":
        return bufs[0].tolist()
    elif kind == "shared" and multi:
        bufs = [bufs[0]] * len(bufs)
    elif kind == "short-tuple" and multi:
        bufs = bufs[:-1]
    if layout is not None and kind == "right":
        bufs = [_layout(b, layout) for b in bufs]
    return tuple(bufs) if multi else bufs[0]


# ---- running and checking -----------------------------------------------------------------------

def _snapshot(x):
    if isinstance(x, np.ndarray):
        return x.copy()
    if isinstance(x, tuple):
        return tuple(_snapshot(a) for a in x)
    return None


def _unchanged(before, after):
    if isinstance(after, np.ndarray):
        if after.dtype.kind == "O":
            return before.tolist() == after.tolist() or before is after
        return bool(np.array_equal(before, after, equal_nan=after.dtype.kind in "fc"))
    if isinstance(after, tuple):
        return all(_unchanged(b, a) for b, a in zip(before, after))
    return True


def _names(sc, args_names, kw):
    """The names an error message may cite: the array arguments, the loss's parameters and
    the keywords actually passed (not, say, sample_weight when none was given)."""
    spec = REGISTRY[CASE_BY_ID[sc.case_id].loss]
    return set(args_names) | set(spec.params) | set(kw) | {k for k, _ in sc.overrides}


def run_one(sc, backend):
    """Run the scenario on ``backend``: ("raised", type, message) or ("returned", value,
    grads, out); checks the per-backend properties on the way."""
    name, bound, args, kw, out, per_shape = build(sc)
    inputs_before = [_snapshot(a) for a in args] + [_snapshot(kw.get("sample_weight"))]
    out_before = _snapshot(out)
    outcome = result = None
    with fl.use_backend(backend):
        try:
            loss = fl.get(name, **bound)
            result = getattr(loss, sc.method)(*args, **kw)
        except (ValueError, TypeError) as exc:
            outcome = ("raised", type(exc), str(exc))
        except Exception as exc:  # noqa: BLE001 - the property: nothing else escapes
            pytest.fail(f"{backend}: {type(exc).__name__} (neither ValueError nor TypeError):"
                        f" {exc}")
    for i, (before, after) in enumerate(zip(inputs_before, list(args) +
                                            [kw.get("sample_weight")])):
        assert _unchanged(before, after), f"{backend}: the call wrote into input {i}"
    if outcome is not None:
        family = REGISTRY[name].family
        arg_names = family.inputs if family is not None else ("y_true", "y_pred")
        names = _names(sc, arg_names, kw)
        assert any(n in outcome[2] for n in names), \
            f"{backend}: {outcome[1].__name__} names no argument of the call: {outcome[2]!r}"
        # The two checks that ride in the fused pass (a label outside [0, C), a probability
        # outside [0, 1]) are read after it, so out may hold partial results (documented);
        # every other error leaves out untouched.
        in_pass = "outside [0, 1]" in outcome[2] or "outside [0, " in outcome[2]
        assert in_pass or _unchanged(out_before, out), \
            f"{backend}: raised ({outcome[2]}) after writing into out"
        return outcome
    multi = N_PREDS.get(CASE_BY_ID[sc.case_id].kind, 1) > 1
    preds = args if CASE_BY_ID[sc.case_id].kind == "triplet" else args[1:]
    value, grads = (result, None) if sc.method == "__call__" else \
        (None, result) if sc.method == "grad" else result
    reduction = kw.get("reduction", "mean")
    if value is not None:
        if reduction == "none":
            assert isinstance(value, np.ndarray) and value.shape == per_shape, \
                f"{backend}: per-sample losses of shape {np.shape(value)}, not {per_shape}"
        else:
            assert isinstance(value, float), f"{backend}: value {value!r} is not a float"
    if grads is not None:
        grads = tuple(grads) if multi else (grads,)
        assert len(grads) == len(preds)
        for i, (g, x) in enumerate(zip(grads, preds)):
            expected = _result_dtype(np.asarray(x).dtype)
            assert isinstance(g, np.ndarray) and g.shape == np.shape(x), \
                f"{backend}: gradient {i} has shape {np.shape(g)}, input {np.shape(x)}"
            assert g.dtype.newbyteorder("=") == expected, \
                f"{backend}: gradient {i} has dtype {g.dtype}, expected {expected}"
        if out is not None:
            outs = out if multi else (out,)
            assert all(g is o for g, o in zip(grads, outs)), \
                f"{backend}: the gradient is not the out buffer"
            grads = tuple(np.array(g) for g in grads)     # snapshot before the next backend
    return ("returned", value, grads)


def _tolerance(sc):
    kinds = [np.dtype(d) for d in sc.pred_dtypes if np.dtype(d).kind == "f"]
    if any(d.itemsize == 2 for d in kinds):
        return 2e-2, 2e-3
    if any(d.itemsize == 4 for d in kinds):
        return 2e-4, 2e-5
    return 1e-9, 1e-11


def _agree(a, b, rtol, atol):
    """NaN in the same places, +-inf equal, finite values close (atol scaled by the largest
    finite magnitude)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return f"shapes {a.shape} and {b.shape}"
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        return f"NaN at {np.flatnonzero(np.isnan(a))[:6]} vs {np.flatnonzero(np.isnan(b))[:6]}"
    inf_a, inf_b = np.isinf(a), np.isinf(b)
    if not np.array_equal(inf_a, inf_b) or not np.array_equal(a[inf_a], b[inf_b]):
        return f"inf at {np.flatnonzero(inf_a)[:6]} vs {np.flatnonzero(inf_b)[:6]}"
    fin = np.isfinite(a)
    if fin.any():
        scale = max(1.0, float(np.max(np.abs(a[fin]))), float(np.max(np.abs(b[fin]))))
        if not np.allclose(a[fin], b[fin], rtol=rtol, atol=atol * scale):
            i = int(np.argmax(np.abs(a[fin] - b[fin])))
            return f"{a[fin].ravel()[i]!r} vs {b[fin].ravel()[i]!r}"
    return None


def check_scenario(sc):
    """The whole property for one scenario (see the module docstring)."""
    try:
        note(sc.reproducer())
    except Exception:  # outside a Hypothesis test (the regressions below)
        pass
    results = {backend: run_one(sc, backend) for backend in BACKENDS}
    c, n = results["cython"], results["numpy"]
    assert c[0] == n[0], f"cython {c[0]} {c[1:] if c[0] == 'raised' else ''}, numpy {n[0]} " \
                         f"{n[1:] if n[0] == 'raised' else ''}"
    if c[0] == "raised":
        assert (c[1], c[2]) == (n[1], n[2]), \
            f"different errors: cython {c[1].__name__}: {c[2]!r}; numpy {n[1].__name__}: {n[2]!r}"
        return
    rtol, atol = _tolerance(sc)
    if c[1] is not None:
        why = _agree(c[1], n[1], rtol, atol)
        assert why is None, f"values differ between backends: {why}"
    if c[2] is not None:
        for i, (g1, g2) in enumerate(zip(c[2], n[2])):
            why = _agree(g1, g2, rtol, atol)
            assert why is None, f"gradient {i} differs between backends: {why}"


@pytest.mark.skipif(not fl.config()["compiled_kernels"], reason="the compiled kernels are "
                                                              "not built")
@pytest.mark.parametrize("loss_name", LOSSES)
def test_fuzz(loss_name):
    @settings(max_examples=EXAMPLES_PER_LOSS, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
              phases=PHASES, print_blob=False)
    @given(sc=scenarios(loss_name))
    def fuzz(sc):
        check_scenario(sc)

    fuzz()


# ---- regressions: one scenario per distinct failure the fuzz found -------------------------

def _sc(case_id, shape=(4, 3), pred=("float64",), true=DEFAULT, specials=(), layouts=(),
        weight="none", out="none", method="value_and_grad", reduction="mean",
        n_threads=DEFAULT, overrides=(), bind=False):
    pred = pred * N_PREDS.get(CASE_BY_ID[case_id].kind, 1)      # one dtype per input
    return Scenario(case_id, 0, shape, true, pred, specials, layouts, weight, out, method,
                    reduction, n_threads, overrides, bind)


_NAN, _INF = 0, 1          # indices into FLOAT_SPECIALS

REGRESSIONS = {
    # the compiled fast path reads big-endian arrays as native ones
    "big-endian-inputs": _sc("mse", layouts=(("y_true", "big-endian"), ("pred0", "big-endian"))),
    "big-endian-labels": _sc("scce-logits", layouts=(("y_true", "big-endian"),)),
    # ... and writes native bytes into a big-endian out= buffer
    "big-endian-out": _sc("huber", out="right", method="grad", layouts=(("out", "big-endian"),)),
    # n_threads beyond a C int / ignore_index beyond int64: OverflowError on the compiled path
    "n-threads-2**31": _sc("mse", n_threads=2**31),
    "n-threads-2**40-triplet": _sc("triplet", shape=(3, 4), n_threads=2**40),
    "ignore-index-2**70": _sc("scce-logits", overrides=(("ignore_index", 2**70),), bind=True),
    # a bound class_weight of the wrong length: the fast path words its own message
    "bound-class-weight-wrong-length": _sc("scce-logits-ignore-cw", shape=(4, 2),
                                           method="__call__"),
    # NaN target with class_weight: blamed on sample_weight (never passed), not a NaN loss
    "nan-target-class-weight": _sc("cce-logits-cw", shape=(4, 5),
                                   specials=(("y_true", 0.0, _NAN),)),
    # float32 gradients scaled by a weight rounded to float32: 1e39 -> inf, inf * 0 = NaN
    "huge-weight-float32": _sc("hinge-01", shape=(8,), pred=("float32",), weight="huge",
                               reduction="sum", method="grad"),
    # ... and 1e-50 -> 0, 0 * inf = NaN
    "tiny-weight-float32-inf-gradient": _sc("mse", shape=(4,), pred=("float32",),
                                            weight="tiny", reduction="sum", method="grad",
                                            specials=(("pred0", 0.0, _INF),)),
    # out= the prediction itself is refused for float64 but taken (and the input
    # overwritten) when the prediction is converted first (float16, ints)
    "out-is-float16-input": _sc("huber-d0.3", shape=(3,), pred=("float16",), out="is-input",
                                method="grad"),
    "out-is-float16-input-pair": _sc("contrastive", shape=(3, 4), pred=("float16",),
                                     out="is-input", method="grad"),
}


@pytest.mark.skipif(not fl.config()["compiled_kernels"], reason="the compiled kernels are "
                                                              "not built")
@pytest.mark.parametrize("name", list(REGRESSIONS))
def test_fuzz_regression(name):
    """The fuzz property on scenarios it once falsified (kept so each stays covered
    whatever the random examples are)."""
    sc = REGRESSIONS[name]
    try:
        check_scenario(sc)
    except BaseException:
        print(sc.reproducer())
        raise
