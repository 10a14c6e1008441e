"""relu, sigmoid, tanh, step and their derivatives."""
import numpy as np
import pytest

import fastnn.functional as F
import fastnn.reference as R
from helpers import BACKENDS, DTYPES, assert_close, check_gradients

SHAPES = [(1,), (7,), (3, 5), (2, 3, 4, 5)]
# backward takes the forward input (relu, step) or the forward output (sigmoid, tanh).
ACTIVATIONS = {"relu": "input", "sigmoid": "output", "tanh": "output", "step": "input"}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_forward_and_backward_match_reference(name, shape, dtype, rng):
    x = (3 * rng.standard_normal(shape)).astype(dtype)
    x.flat[0] = 0.0  # the kink / threshold itself
    y = getattr(F, name)(x)
    assert_close(y, getattr(R, name)(x))
    go = rng.standard_normal(shape).astype(dtype)
    saved = x if ACTIVATIONS[name] == "input" else y
    assert_close(getattr(F, name + "_backward")(go, saved),
                 getattr(R, name + "_backward")(go, saved))


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_gradcheck(name, rng):
    x = rng.standard_normal((3, 4))
    x[np.abs(x) < 1e-3] = 0.5  # keep relu away from its kink

    def grads(g, x):
        saved = x if ACTIVATIONS[name] == "input" else getattr(F, name)(x)
        return (getattr(F, name + "_backward")(g, saved),)

    check_gradients(getattr(F, name), grads, [x], rng)


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
def test_known_values(ops):
    x = np.array([-2.0, -0.0, 0.0, 1e-300, 3.0])
    np.testing.assert_array_equal(ops.relu(x), [0.0, 0.0, 0.0, 1e-300, 3.0])
    np.testing.assert_array_equal(ops.step(x), [0.0, 1.0, 1.0, 1.0, 1.0])  # step(0) = 1
    np.testing.assert_array_equal(ops.relu_backward(np.ones(5), x), [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(ops.step_backward(np.ones(5), x), np.zeros(5))
    np.testing.assert_allclose(ops.sigmoid(np.array([0.0, -5.0])), [0.5, 0.0066928509],
                               rtol=1e-8)
    np.testing.assert_allclose(ops.tanh(np.array([0.5])), [np.tanh(0.5)], rtol=1e-15)


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
def test_sigmoid_saturation_seed_case_7(ops):
    # y = sigmoid(-5), L = 0.5 (y - 1)^2: dL/dz = (y - t) y (1 - y) = -0.0066036.
    z = np.array([-5.0])
    y = ops.sigmoid(z)
    dz = ops.sigmoid_backward(y - 1.0, y)
    np.testing.assert_allclose(y, [0.0066929], atol=5e-8)
    np.testing.assert_allclose(dz, [-0.0066036], atol=5e-8)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_sigmoid_is_finite_for_extreme_inputs(dtype):
    x = np.array([-1e4, -100.0, 100.0, 1e4], dtype=dtype)
    y = F.sigmoid(x)
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y, [0.0, 0.0, 1.0, 1.0], atol=1e-30)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_nan_propagates(name):
    x = np.array([np.nan, 1.0])
    assert np.isnan(getattr(F, name)(x)[0])


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_non_contiguous_input_is_not_modified(name, rng):
    base = rng.standard_normal((6, 8))
    x = base[::2, 1::3]
    before = base.copy()
    assert_close(getattr(F, name)(x), getattr(R, name)(np.ascontiguousarray(x)))
    np.testing.assert_array_equal(base, before)
