"""The kernels' own vectorised exp/log/log1p/expm1 (src/fl_vmath.h) against libm, at every
SIMD level this machine runs: whole float range including subnormals, special values exact;
the two polynomials of bounded domain (coshm1_small, log1p_small) on their domains."""
import numpy as np
import pytest

import fastloss as fl

if not fl.config()["compiled_kernels"]:
    pytest.skip("the compiled kernels are not built", allow_module_level=True)

from fastloss import _kernels as K  # noqa: E402

LEVELS = K.simd_levels()
FUNCS = {"exp": np.exp, "log": np.log, "log1p": np.log1p, "expm1": np.expm1,
         "log1p_rcp": np.log1p, "log1p_nodiv": np.log1p}
MAX_ULP = 4


def ulp_distance(actual, expected):
    """ULPs between two arrays of one float dtype (NaN == NaN counts as 0)."""
    if actual.dtype == np.float32:
        a = actual.view(np.int32).astype(np.int64)
        b = expected.view(np.int32).astype(np.int64)
        a = np.where(a < 0, -(a & 0x7FFFFFFF), a)
        b = np.where(b < 0, -(b & 0x7FFFFFFF), b)
        d = np.abs(a - b)
    else:
        a = actual.view(np.int64)
        b = expected.view(np.int64)
        a = np.where(a < 0, -(a & 0x7FFFFFFFFFFFFFFF), a)
        b = np.where(b < 0, -(b & 0x7FFFFFFFFFFFFFFF), b)
        opposite = (a < 0) != (b < 0)      # a - b could overflow int64: far apart anyway
        d = np.where(opposite, 2**62, np.abs(np.where(opposite, 0, a - b)))
    both_nan = np.isnan(actual) & np.isnan(expected)
    return np.where(both_nan, 0, d)


def samples(dtype, n):
    """Random bit patterns (every exponent, both signs, subnormals, inf, NaN), plus the
    ranges where each function does its interesting work."""
    rng = np.random.default_rng(12)
    if dtype == np.float32:
        bits = rng.integers(0, 2**32, size=n, dtype=np.uint64).astype(np.uint32).view(np.float32)
        tiny = np.float32(1.4e-45)
    else:
        bits = rng.integers(-2**63, 2**63 - 1, size=n, dtype=np.int64).view(np.float64)
        tiny = 5e-324
    finfo = np.finfo(dtype)
    dense = [rng.uniform(-800, 800, n // 4), rng.uniform(-2, 4, n // 4),
             rng.uniform(-110, -80, n // 8), rng.uniform(-750, -700, n // 8),
             np.exp(rng.uniform(np.log(finfo.tiny) - 30, np.log(finfo.max), n // 4)),
             rng.uniform(-1e-6, 1e-6, n // 8), -np.exp(rng.uniform(-60, 0, n // 8))]
    subnormal = np.arange(1, 4096) * tiny
    return np.concatenate([bits.astype(dtype), *[d.astype(dtype) for d in dense],
                           subnormal.astype(dtype)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("level", LEVELS)
def test_accuracy_against_libm(level, name, dtype):
    x = samples(dtype, 2_000_000)
    with np.errstate(all="ignore"):
        expected = FUNCS[name](x.astype(np.float64)).astype(dtype)
    actual = K.vmath(name, x, level)
    d = ulp_distance(actual, expected)
    worst = int(np.argmax(d))
    assert d[worst] <= MAX_ULP, (f"{name}({x[worst]!r}) = {actual[worst]!r}, libm "
                                 f"{expected[worst]!r}: {d[worst]} ULP")


def _reference(name, x):
    """name(x) in extended precision (long double where the platform has it), rounded."""
    xl = x.astype(np.longdouble)
    if name == "coshm1_small":
        y = 2 * np.sinh(xl / 2) ** 2
    elif name == "expm1_nonpos":
        y = np.expm1(xl)
    else:
        y = np.log1p(xl)
    return y.astype(x.dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("level", LEVELS)
def test_log1p_above_minus_one(level, dtype):
    """fl_log1p_rcp_gtm1 with fl_log1p_rcp_guess (msle's log1p): every x > -1 of the samples,
    +inf and NaN against libm; x <= -1 is NaN (the Python layer refuses it before)."""
    x = samples(dtype, 2_000_000)
    x = x[~(x <= -1)]
    with np.errstate(all="ignore"):
        expected = np.log1p(x.astype(np.float64)).astype(dtype)
    actual = K.vmath("log1p_gtm1", x, level)
    d = ulp_distance(actual, expected)
    worst = int(np.argmax(d))
    assert d[worst] <= MAX_ULP, (f"log1p_gtm1({x[worst]!r}) = {actual[worst]!r}, libm "
                                 f"{expected[worst]!r}: {d[worst]} ULP")
    special = np.array([np.inf, np.nan, 0.0, -0.0, -1.0, -2.0, -np.inf], dtype=dtype)
    np.testing.assert_array_equal(K.vmath("log1p_gtm1", special, level),
                                  np.array([np.inf, np.nan, 0, 0, np.nan, np.nan, np.nan],
                                           dtype=dtype))


# the domain each bounded polynomial is written for (see fl_vmath.h)
BOUNDED = {"coshm1_small": (-2.0, 2.0), "log1p_small": (0.0, 1.0 / 32),
           "expm1_nonpos": (-800.0, 0.0), "log1p_rcp_bounded": (0.0, 4.0)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", BOUNDED)
@pytest.mark.parametrize("level", LEVELS)
def test_bounded_polynomials_on_their_domain(level, name, dtype):
    lo, hi = BOUNDED[name]
    rng = np.random.default_rng(7)
    edge = hi if hi > 0 else lo
    x = np.concatenate([rng.uniform(lo, hi, 1_000_000), rng.uniform(-2.0, 2.0, 100_000),
                        np.sign(edge) * np.exp(rng.uniform(-700, np.log(abs(edge)), 100_000)),
                        [lo, hi, 0.0, -0.0], np.arange(1, 200) * 1.4e-45]).astype(dtype)
    x = x[(x >= lo) & (x <= hi)]
    actual = K.vmath(name, x, level)
    d = ulp_distance(actual, _reference(name, x))
    worst = int(np.argmax(d))
    assert d[worst] <= MAX_ULP, f"{name}({x[worst]!r}) = {actual[worst]!r}: {d[worst]} ULP"
    assert (actual[x == 0] == 0).all()


SPECIAL = {
    "exp": [(np.nan, np.nan), (np.inf, np.inf), (-np.inf, 0.0), (0.0, 1.0), (-0.0, 1.0),
            (1000.0, np.inf), (-1000.0, 0.0)],
    "log": [(np.nan, np.nan), (np.inf, np.inf), (0.0, -np.inf), (-0.0, -np.inf),
            (-1.0, np.nan), (-np.inf, np.nan), (1.0, 0.0)],
    "log1p": [(np.nan, np.nan), (np.inf, np.inf), (-1.0, -np.inf), (-2.0, np.nan),
              (0.0, 0.0), (-np.inf, np.nan)],
    "expm1": [(np.nan, np.nan), (np.inf, np.inf), (-np.inf, -1.0), (0.0, 0.0),
              (1000.0, np.inf), (-1000.0, -1.0), (-100.0, -1.0)],
}
SPECIAL["log1p_rcp"] = SPECIAL["log1p_nodiv"] = SPECIAL["log1p"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("level", LEVELS)
def test_special_values_exact(level, name, dtype):
    x = np.array([s[0] for s in SPECIAL[name]], dtype=dtype)
    expected = np.array([s[1] for s in SPECIAL[name]], dtype=dtype)
    actual = K.vmath(name, x, level)
    np.testing.assert_array_equal(actual, expected)
    if name in ("log1p", "log1p_rcp", "log1p_nodiv", "expm1"):   # -0 kept, tiny x as is
        tiny = np.array([-0.0, 1e-30, -1e-30], dtype=dtype)
        np.testing.assert_array_equal(K.vmath(name, tiny, level), tiny)
        assert np.signbit(K.vmath(name, tiny[:1], level)[0])


def test_levels_and_switching():
    assert LEVELS[0] == "baseline"
    assert K.simd_level() in LEVELS
    current = K.simd_level()
    try:
        for level in LEVELS:
            K.set_simd_level(level)
            assert K.simd_level() == level
            assert fl.mse(np.zeros(3), np.ones(3)) == 1.0
    finally:
        K.set_simd_level(current)
    with pytest.raises(ValueError, match="not available"):
        K.set_simd_level("sse9")
    assert fl.config()["simd"] == current
