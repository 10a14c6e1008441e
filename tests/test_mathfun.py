"""Accuracy and special values of the vectorised exp / sigmoid / tanh (kernels/mathfun.py).

Errors are measured in ulps of the float32 (float64) result against NumPy's
extended precision (np.longdouble: a 64-bit mantissa on x86-64, 11 bits more
than float64; the float64 sweeps are skipped where it is not wider), over dense
sweeps of bit patterns, vectorised (no Python loops over elements).
"""
import numpy as np
import pytest
from numba import njit

import fastnn.functional as F
from fastnn.kernels import mathfun

MAX_ULP_F32 = 2.0
MAX_ULP_F64 = 1.0  # sigmoid, tanh; measured max 0.62, 0.67
MAX_ULP_EXP_F64 = 1.5  # Cephes exp's Pade form; measured max 1.41
needs_wide_longdouble = pytest.mark.skipif(
    np.finfo(np.longdouble).nmant < 63, reason="np.longdouble is not wider than float64 here")


# Wrappers compiled per test run (no cache=True: a cached wrapper would not see
# edits to mathfun.py, which it inlines).
@njit(fastmath={"contract"}, error_model="numpy")
def _exp_array(x, out):
    for i in range(x.size):
        out[i] = mathfun.exp(x[i])


@njit
def _max_reduce(x):
    m = x[0]
    for i in range(1, x.size):
        m = mathfun.maxnum(m, x[i])
    return m


def ulp_error(actual, exact, dtype):
    """|actual - exact| in units of the spacing of ``exact`` rounded to dtype (denormals: of the smallest denormal)."""
    exact = np.asarray(exact, dtype=np.longdouble)
    rounded = exact.astype(dtype)
    spacing = np.spacing(np.abs(rounded)).astype(np.longdouble)
    err = np.abs(actual.astype(np.longdouble) - exact) / spacing
    same = actual.astype(np.longdouble) == exact.astype(dtype).astype(np.longdouble)
    return np.where(same, 0.0, err).astype(np.float64)


def float32_sweep(lo, hi, step=37):
    """Every ``step``-th float32 in [lo, hi] by bit pattern (so densest near 0, like floats)."""
    def magnitudes(a, b):  # 0 <= a <= b
        bits = np.arange(np.float32(a).view(np.int32), np.float32(b).view(np.int32) + 1, step,
                         dtype=np.int32)
        return bits.view(np.float32)

    parts = []
    if hi >= 0:
        parts.append(magnitudes(max(lo, 0.0), hi))
    if lo < 0:
        parts.append(-magnitudes(max(-hi, 0.0), -lo))
    return np.concatenate(parts)


def float64_sweep(lo, hi, n):
    """About n float64 magnitudes in [lo, hi] > 0, evenly spaced in bit pattern, both signs.

    The stride is odd, so the low mantissa bits take all values (no aliasing
    with round numbers)."""
    a, b = np.array([lo, hi], np.float64).view(np.int64)
    step = max(1, (int(b) - int(a)) // n) | 1
    m = np.arange(int(a), int(b) + 1, step, dtype=np.int64).view(np.float64)
    return np.concatenate([m, -m])


def run_exp(x):
    out = np.empty_like(x)
    _exp_array(x, out)
    return out


def test_exp_float32_dense_sweep():
    x = float32_sweep(-103.0, 88.7)  # ~2.2e7 / 37 points, normal and denormal results
    assert x.size > 500_000 and x.min() < -102 and x.max() > 88
    exact = np.exp(x.astype(np.longdouble))
    err = ulp_error(run_exp(x), exact, np.float32)
    assert err.max() <= MAX_ULP_F32, (err.max(), x[err.argmax()])


@needs_wide_longdouble
def test_exp_float64_dense_sweep(rng):
    x = float64_sweep(1e-300, 745.0, 1_000_000)
    x = np.concatenate([x[x < 709.7], rng.uniform(-745.13, -708, 100_000)])  # denormal results
    exact = np.exp(x.astype(np.longdouble))
    err = ulp_error(run_exp(x), exact, np.float64)
    assert err.max() <= MAX_ULP_EXP_F64, (err.max(), x[err.argmax()])


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_exp_special_values(dtype):
    big = 88.8 if dtype == np.float32 else 709.8
    tiny = -104.0 if dtype == np.float32 else -746.0
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, big, 1e30, tiny, -1e30], dtype=dtype)
    with np.errstate(over="ignore"):
        want = np.exp(x)
    np.testing.assert_array_equal(run_exp(x), want)


def test_sigmoid_float32_dense_sweep():
    x = float32_sweep(-100.0, 100.0, step=41)  # includes denormal results below -87.3
    x64 = x.astype(np.longdouble)
    exact = 1 / (1 + np.exp(-x64))
    y = F.sigmoid(x)
    # e / (1 + e) for x < 0 compounds exp's ~1 ulp with two roundings: measured
    # max 2.3 ulp of the result's own spacing near the top of a binade, which
    # is a relative error of 1.2 float32 epsilons.
    err = ulp_error(y, exact, np.float32)
    assert err.max() <= 2.5, (err.max(), x[err.argmax()])
    normal = np.abs(exact) >= np.finfo(np.float32).tiny
    rel = np.abs(y[normal] - exact[normal]) / exact[normal]
    assert rel.max() <= 2 * np.finfo(np.float32).eps, (rel.max(), x[normal][rel.argmax()])


def test_tanh_float32_dense_sweep():
    x = float32_sweep(-12.0, 12.0, step=41)
    x = np.concatenate([x, float32_sweep(1e-30, 1e-3, step=997)])  # tiny |x|: tanh x ~ x
    exact = np.tanh(x.astype(np.longdouble))
    err = ulp_error(F.tanh(x), exact, np.float32)
    assert err.max() <= MAX_ULP_F32, (err.max(), x[err.argmax()])


@needs_wide_longdouble
def test_sigmoid_float64_dense_sweep(rng):
    # Every ~2^40th bit pattern from 1e-300 (sigmoid ~ 1/2) to 745 (denormal
    # results for x < -708; x > 37 saturates at 1), plus a uniform sample.
    x = np.concatenate([float64_sweep(1e-300, 745.0, 1_500_000), rng.uniform(-40, 40, 500_000)])
    exact = 1 / (1 + np.exp(-x.astype(np.longdouble)))
    err = ulp_error(F.sigmoid(x), exact, np.float64)
    assert err.max() <= MAX_ULP_F64, (err.max(), x[err.argmax()])


@needs_wide_longdouble
def test_tanh_float64_dense_sweep(rng):
    # 1e-300 .. 2^-27: tanh x = x; up to 20: the (1 - e) / (1 + e) path; beyond: +-1.
    x = np.concatenate([float64_sweep(1e-300, 25.0, 1_500_000), rng.uniform(-3, 3, 500_000)])
    exact = np.tanh(x.astype(np.longdouble))
    err = ulp_error(F.tanh(x), exact, np.float64)
    assert err.max() <= MAX_ULP_F64, (err.max(), x[err.argmax()])


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_sigmoid_tanh_special_values(dtype):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30], dtype=dtype)
    np.testing.assert_array_equal(F.sigmoid(x), [np.nan, 1, 0, 0.5, 0.5, 1, 0])
    t = F.tanh(x)
    np.testing.assert_array_equal(t, [np.nan, 1, -1, 0, 0, 1, -1])
    assert np.signbit(t[4]) and not np.signbit(t[3])  # tanh(-0.0) = -0.0, as NumPy


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_maxnum_reduction(dtype, rng):
    x = rng.standard_normal(1001).astype(dtype)
    assert _max_reduce(x) == x.max()
    x[17] = np.nan  # maxnum ignores NaN (callers that must propagate it do so themselves)
    assert _max_reduce(x) == np.nanmax(x)
    x[3] = np.inf
    assert _max_reduce(x) == np.inf
