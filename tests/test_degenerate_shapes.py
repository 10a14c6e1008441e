"""0-d arrays, empty batches and zero-length axes: same shapes and values on both backends."""
import numpy as np
import pytest

import fastnn
from fastnn import Flatten
from helpers import BACKENDS

f32 = np.float32


@pytest.fixture(params=BACKENDS.values(), ids=BACKENDS.keys())
def ops(request):
    return request.param


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "step"])
def test_elementwise_keeps_0d_shape(ops, name):
    y = getattr(ops, name)(np.array(0.5))
    assert y.shape == ()
    saved = np.array(0.5)
    assert getattr(ops, name + "_backward")(np.array(1.0), saved).shape == ()


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,dim", [((3, 0), -1), ((0, 5), 0), ((0, 5), 1)])
def test_softmax_over_empty_axes(ops, name, shape, dim):
    x = np.zeros(shape, f32)
    y = getattr(ops, name)(x, dim=dim)
    assert y.shape == shape and y.dtype == f32
    assert getattr(ops, name + "_backward")(x, y, dim=dim).shape == shape


def test_max_pool_empty_batch(ops):
    x = np.zeros((0, 2, 4, 4), f32)
    assert ops.max_pool2d(x, 2).shape == (0, 2, 2, 2)
    assert ops.max_pool2d_backward(np.zeros((0, 2, 2, 2), f32), x, 2).shape == x.shape


def test_linear_with_zero_features(ops):
    # like torch: no input features -> the output is the bias
    out = ops.linear(np.zeros((2, 0)), np.zeros((3, 0)), np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(out, [[1.0, 2.0, 3.0]] * 2)
    gx, gw, gb = ops.linear_backward(np.zeros((2, 0)), np.ones((2, 3)), np.zeros((0, 3)))
    assert gx.shape == (2, 3) and not gx.any()
    assert gw.shape == (0, 3) and gb.shape == (0,)


def test_flatten_empty_batch():
    flat = Flatten()
    assert flat(np.zeros((0, 2, 3), f32)).shape == (0, 6)
    assert flat.backward(np.zeros((0, 6), f32)).shape == (0, 2, 3)


def test_set_num_threads_accepts_numpy_ints():
    n = fastnn.get_num_threads()
    try:
        fastnn.set_num_threads(np.int64(1))
        assert fastnn.get_num_threads() == 1
    finally:
        fastnn.set_num_threads(n)
    with pytest.raises(TypeError, match="n must be an int"):
        fastnn.set_num_threads(1.0)
    with pytest.raises(ValueError, match="n must be in"):
        fastnn.set_num_threads(0)
