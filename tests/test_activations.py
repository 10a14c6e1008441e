"""relu, sigmoid, tanh, step and their derivatives."""
import numpy as np
import pytest

import fastnn.functional as F
from fastnn import _tuning
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


# --------------------------------------------------------------------------- out=, paths, leaky_relu

ALL_OPS = dict(ACTIVATIONS, leaky_relu="input")


def _call(ops, name, *args, **kw):
    return getattr(ops, name)(*args, **kw)


@pytest.fixture(params=["serial", "parallel", "streaming"])
def path(request, monkeypatch):
    """Force each kernel path of fastnn.functional on small arrays."""
    if request.param != "serial":
        monkeypatch.setattr(_tuning, "ELEMENTWISE_PARALLEL_MIN", 1)
        monkeypatch.setattr(_tuning, "TRANSCENDENTAL_PARALLEL_MIN", 1)
    if request.param == "streaming":
        monkeypatch.setattr(_tuning, "STREAMING_MIN_BYTES", 0)
    return request.param


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", ALL_OPS)
def test_every_kernel_path_matches_reference(name, dtype, path, rng):
    # 1001 elements: odd, so chunks and streaming blocks have unaligned ends;
    # the slice [1:] starts the output off a 32-byte boundary.
    x = (3 * rng.standard_normal(1002)).astype(dtype)[1:]
    x[::97] = 0.0
    go = rng.standard_normal(1001).astype(dtype)
    y = _call(F, name, x)
    assert_close(y, _call(R, name, x))
    saved = x if ALL_OPS[name] == "input" else y
    assert_close(_call(F, name + "_backward", go, saved), _call(R, name + "_backward", go, saved))


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
@pytest.mark.parametrize("name", ALL_OPS)
def test_out_receives_result_and_may_alias_input(ops, name, rng):
    x = rng.standard_normal((4, 5)).astype(np.float32)
    want = _call(ops, name, x)
    out = np.full_like(x, 7.0)
    assert _call(ops, name, x, out=out) is out
    np.testing.assert_array_equal(out, want)
    inplace = x.copy()
    assert _call(ops, name, inplace, out=inplace) is inplace  # documented: out may be input
    np.testing.assert_array_equal(inplace, want)
    go = rng.standard_normal((4, 5)).astype(np.float32)
    saved = x if ALL_OPS[name] == "input" else want
    gwant = _call(ops, name + "_backward", go, saved)
    g = go.copy()
    assert _call(ops, name + "_backward", g, saved, out=g) is g
    np.testing.assert_array_equal(g, gwant)


BAD_OUTS = [
    ("list", lambda x: [0.0] * x.size, TypeError, "out must be a numpy.ndarray"),
    ("dtype", lambda x: np.empty(x.shape, np.float64), TypeError, "dtype"),
    ("shape", lambda x: np.empty(x.size, np.float32), ValueError, "shape"),
    ("non_contiguous", lambda x: np.empty((4, 10), np.float32)[:, ::2], ValueError,
     "C-contiguous"),
    ("read_only", lambda x: np.frombuffer(bytes(x.nbytes), np.float32).reshape(x.shape),
     ValueError, "read-only"),
]


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
@pytest.mark.parametrize("bad", BAD_OUTS, ids=[b[0] for b in BAD_OUTS])
@pytest.mark.parametrize("name", ["relu", "sigmoid_backward"])
def test_bad_out_is_rejected(ops, name, bad, rng):
    _, make, exc, fragment = bad
    x = rng.standard_normal((4, 5)).astype(np.float32)
    args = (x,) if name == "relu" else (x, x)
    with pytest.raises(exc, match=fragment):
        _call(ops, name, *args, out=make(x))


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
def test_out_partially_overlapping_input_is_rejected(ops):
    buf = np.arange(11, dtype=np.float32)
    with pytest.raises(ValueError, match="overlaps"):
        ops.relu(buf[:10], out=buf[1:])


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
def test_nan_semantics_match_torch(ops):
    # torch.relu(NaN) = NaN; threshold_backward passes g where x is NaN (x <= 0
    # is false); leaky_relu(NaN) = NaN, its backward gives slope * g (x > 0 false).
    x = np.array([np.nan, -1.0, 0.0, 2.0])
    g = np.array([5.0, 5.0, 5.0, 5.0])
    np.testing.assert_array_equal(ops.relu(x), [np.nan, 0, 0, 2])
    np.testing.assert_array_equal(ops.relu_backward(g, x), [5, 0, 0, 5])
    np.testing.assert_array_equal(ops.leaky_relu(x, 0.1), [np.nan, -0.1, 0, 2])
    np.testing.assert_array_equal(ops.leaky_relu_backward(g, x, 0.1), [0.5, 0.5, 0.5, 5])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
def test_leaky_relu_values(ops, dtype):
    x = np.array([-2.0, -0.5, 0.0, 3.0], dtype=dtype)
    y = ops.leaky_relu(x, negative_slope=0.2)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, [-0.4, -0.1, 0.0, 3.0], rtol=1e-6)
    np.testing.assert_allclose(ops.leaky_relu(x), [-0.02, -0.005, 0.0, 3.0], rtol=1e-6)
    np.testing.assert_allclose(ops.leaky_relu(x, 1), x)  # an int slope is a real number


def test_leaky_relu_gradcheck(rng):
    x = rng.standard_normal((3, 4))
    x[np.abs(x) < 1e-3] = 0.5
    check_gradients(lambda x: F.leaky_relu(x, 0.3),
                    lambda g, x: (F.leaky_relu_backward(g, x, 0.3),), [x], rng)


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
@pytest.mark.parametrize("slope", [True, "0.1", 1j, None, np.array([0.1])],
                         ids=["bool", "str", "complex", "none", "array"])
def test_leaky_relu_rejects_non_real_slope(ops, slope):
    x = np.zeros(3, np.float32)
    with pytest.raises(TypeError, match="negative_slope must be a real number"):
        ops.leaky_relu(x, slope)
    with pytest.raises(TypeError, match="negative_slope must be a real number"):
        ops.leaky_relu_backward(x, x, slope)


@pytest.mark.parametrize("backend", BACKENDS)
def test_leaky_relu_layer(backend, rng):
    import fastnn
    layer = fastnn.LeakyReLU(0.25)
    assert repr(layer) == "LeakyReLU(negative_slope=0.25)"
    x = rng.standard_normal((3, 4))
    g = rng.standard_normal((3, 4))
    with fastnn.backend(backend):
        np.testing.assert_array_equal(layer(x), np.where(x > 0, x, 0.25 * x))
        np.testing.assert_array_equal(layer.backward(g), np.where(x > 0, g, 0.25 * g))
    with pytest.raises(TypeError, match="negative_slope"):
        fastnn.LeakyReLU("steep")
