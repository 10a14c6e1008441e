"""Shared test utilities: tolerances, comparisons, central-difference gradients."""
import numpy as np

import fastnn.functional as F
import fastnn.reference as R
from fastnn.gradcheck import max_norm_rel_error

# Tolerances per dtype. atol is relative to the largest |expected| value, so a
# sum that cancels to ~0 is judged against the size of its terms.
TOL = {
    np.dtype(np.float32): dict(rtol=1e-4, atol=1e-5),
    np.dtype(np.float64): dict(rtol=1e-9, atol=1e-12),
}
DTYPES = [np.float32, np.float64]
BACKENDS = {"numba": F, "numpy": R}


def assert_close(actual, expected, dtype=None):
    """Same shape and dtype, values equal within the dtype's tolerance."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    tol = TOL[np.dtype(dtype or expected.dtype)]
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=tol["rtol"], atol=tol["atol"] * scale)


def numerical_grad(f, x, h=1e-6):
    """Central-difference gradient of the scalar function f at x (float64). x is restored."""
    assert x.dtype == np.float64
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        plus = f()
        flat[i] = old - h
        minus = f()
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * h)
    return grad


# The max-norm measure under its old (misleading: it is not CS231n's element-wise
# one) name, for tests written before the rename; new code uses max_norm_rel_error.
rel_error = max_norm_rel_error


def check_gradients(forward, backward_grads, inputs, rng, tol=1e-7):
    """Compare analytic gradients with central differences of L = sum(forward(*inputs) * G).

    Judged by the max-norm relative error (fastnn.max_norm_rel_error): observed
    <= ~2e-9 for correct backwards of the ops, so tol = 1e-7 is strict yet
    noise-free for arrays of any size (the element-wise rel_error grows with it).

    forward(*inputs) -> output array; backward_grads(G, *inputs) -> tuple of
    gradients, one per entry of ``inputs`` (None to skip one).
    """
    out = forward(*inputs)
    g = rng.standard_normal(out.shape)
    analytic = backward_grads(g, *inputs)
    assert len(analytic) == len(inputs)
    for k, (x, ga) in enumerate(zip(inputs, analytic)):
        if ga is None:
            continue
        num = numerical_grad(lambda: float(np.sum(forward(*inputs) * g)), x)
        err = max_norm_rel_error(ga, num)
        assert err < tol, f"gradient of input {k}: relative error {err:.2e}"
