"""The Numba GEMM kernel and the matmul/linear ops built on it."""
import numpy as np
import pytest

import fastnn.functional as F
import fastnn.reference as R
from fastnn.kernels import gemm as gemm_kernel
from helpers import DTYPES, assert_close, check_gradients

# Sizes straddle the kernel's 256-wide packing blocks and are odd on purpose.
SHAPES = [(1, 1, 1), (3, 5, 7), (17, 1, 9), (64, 33, 65), (257, 300, 5), (6, 513, 259)]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_gemm_kernel_matches_numpy(m, k, n, trans_a, trans_b, dtype, rng):
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    c0 = rng.standard_normal((m, n)).astype(dtype)
    c = c0.copy()
    alpha, beta = dtype(0.75), dtype(-1.5)
    gemm_kernel.gemm(a, b, c, alpha, beta, trans_a, trans_b)
    opa = a.T if trans_a else a
    opb = b.T if trans_b else b
    want = (0.75 * (opa.astype(np.float64) @ opb.astype(np.float64))
            - 1.5 * c0.astype(np.float64)).astype(dtype)
    assert_close(c, want)


def test_gemm_beta_zero_ignores_nan_in_output(rng):
    # BLAS convention: with beta = 0 the old contents of C are never read.
    a = rng.standard_normal((5, 4))
    b = rng.standard_normal((4, 3))
    c = np.full((5, 3), np.nan)
    gemm_kernel.gemm(a, b, c, 1.0, 0.0, False, False)
    np.testing.assert_allclose(c, a @ b, rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("a_shape,b_shape", [((1, 1), (1, 1)), ((7, 3), (3, 9)),
                                             ((2, 300), (300, 260))])
def test_matmul_matches_reference(a_shape, b_shape, dtype, rng):
    a = rng.standard_normal(a_shape).astype(dtype)
    b = rng.standard_normal(b_shape).astype(dtype)
    assert_close(F.matmul(a, b), R.matmul(a, b))
    go = rng.standard_normal((a_shape[0], b_shape[1])).astype(dtype)
    for got, want in zip(F.matmul_backward(go, a, b), R.matmul_backward(go, a, b)):
        assert_close(got, want)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("x_shape", [(1, 5), (4, 5), (2, 3, 5)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_matches_reference(x_shape, with_bias, dtype, rng):
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal((6, 5)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype) if with_bias else None
    out = F.linear(x, w, b)
    assert out.shape == x_shape[:-1] + (6,)
    assert_close(out, R.linear(x, w, b))
    go = rng.standard_normal(out.shape).astype(dtype)
    for got, want in zip(F.linear_backward(go, x, w), R.linear_backward(go, x, w)):
        assert_close(got, want)


def test_linear_gradcheck(rng):
    x = rng.standard_normal((3, 4))
    w = rng.standard_normal((5, 4))
    b = rng.standard_normal(5)

    def grads(g, x, w, b):
        return F.linear_backward(g, x, w)

    check_gradients(lambda x, w, b: F.linear(x, w, b), grads, [x, w, b], rng)


def test_matmul_gradcheck(rng):
    a = rng.standard_normal((3, 4))
    b = rng.standard_normal((4, 2))
    check_gradients(F.matmul, lambda g, a, b: F.matmul_backward(g, a, b), [a, b], rng)


def test_matmul_accepts_non_contiguous_and_leaves_inputs_alone(rng):
    a = rng.standard_normal((6, 8))[:, ::2]
    b = rng.standard_normal((4, 5)).T.copy().T  # Fortran order
    a0, b0 = a.copy(), b.copy()
    np.testing.assert_allclose(F.matmul(a, b), a @ b, rtol=1e-12)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)
