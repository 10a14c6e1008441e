"""batch_norm forward/backward (training and evaluation), running statistics, BatchNorm layers."""
import numpy as np
import pytest

import fastnn
import fastnn.functional as F
import fastnn.reference as R
from fastnn import BatchNorm1d, BatchNorm2d
from helpers import BACKENDS, DTYPES, assert_close, check_gradients

SHAPES = {"dense": (6, 3), "seq": (3, 2, 5), "image": (2, 3, 4, 5), "batch1_image": (1, 2, 3, 3)}


def stats(rng, c, dtype):
    return (rng.standard_normal(c).astype(dtype), (rng.random(c) + 0.5).astype(dtype))


@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_matches_reference(shape, dtype, training, affine, rng):
    c = shape[1]
    x = (3 * rng.standard_normal(shape) + 1).astype(dtype)
    w, b = stats(rng, c, dtype) if affine else (None, None)
    rm, rv = stats(rng, c, dtype)
    rm2, rv2 = rm.copy(), rv.copy()
    x_before = x.copy()
    out = F.batch_norm(x, rm, rv, w, b, training, momentum=0.3, eps=1e-3)
    want = R.batch_norm(x, rm2, rv2, w, b, training, momentum=0.3, eps=1e-3)
    assert_close(out, want)
    assert_close(rm, rm2)  # both backends update the running statistics alike
    assert_close(rv, rv2)
    np.testing.assert_array_equal(x, x_before)  # input untouched
    go = rng.standard_normal(shape).astype(dtype)
    got = F.batch_norm_backward(go, x, rm, rv, w, training, eps=1e-3)
    ref = R.batch_norm_backward(go, x, rm, rv, w, training, eps=1e-3)
    for a, r in zip(got, ref):
        assert_close(a, r)


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
def test_training_formula_and_running_update(ops, rng):
    x = rng.standard_normal((8, 2, 3, 3)) * [[[[2.0]], [[0.5]]]] + [[[[1.0]], [[-3.0]]]]
    rm, rv = np.array([0.5, -1.0]), np.array([2.0, 0.25])
    rm0, rv0 = rm.copy(), rv.copy()
    w, b = np.array([1.5, -0.5]), np.array([0.1, 0.2])
    out = ops.batch_norm(x, rm, rv, w, b, training=True, momentum=0.25, eps=1e-5)
    mean = x.mean(axis=(0, 2, 3))
    var = x.var(axis=(0, 2, 3))  # biased
    want = (x - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5) * w[:, None, None] \
        + b[:, None, None]
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)
    m = 8 * 3 * 3
    np.testing.assert_allclose(rm, 0.75 * rm0 + 0.25 * mean, rtol=1e-14)
    np.testing.assert_allclose(rv, 0.75 * rv0 + 0.25 * var * m / (m - 1), rtol=1e-14)
    # normalised output: per channel mean b and std |w| (up to eps)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), b, atol=1e-12)


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
def test_eval_uses_running_stats_and_leaves_them(ops):
    x = np.array([[1.0, 2.0], [3.0, 6.0]])
    rm, rv = np.array([1.0, 2.0]), np.array([4.0, 16.0])
    out = ops.batch_norm(x, rm, rv, np.array([2.0, 1.0]), np.array([0.0, 1.0]), eps=0.0)
    np.testing.assert_allclose(out, [[0.0, 1.0], [2.0, 2.0]])
    np.testing.assert_array_equal(rm, [1.0, 2.0])
    np.testing.assert_array_equal(rv, [4.0, 16.0])


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
def test_no_running_stats_in_training_and_strided_running_stats(ops, rng):
    x = rng.standard_normal((5, 3))
    a = ops.batch_norm(x, None, None, training=True)
    buf = np.zeros((3, 2))
    buf[:, 1] = 1.0
    rm, rv = buf[:, 0], buf[:, 1]  # non-contiguous views must still be updated in place
    b = ops.batch_norm(x, rm, rv, training=True, momentum=1.0)
    np.testing.assert_allclose(a, b)
    np.testing.assert_allclose(buf[:, 0], x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(buf[:, 1], x.var(axis=0, ddof=1), rtol=1e-12)


def test_float32_statistics_survive_a_large_offset(rng):
    # Mean 1e4, std 1: float32 has ~3 decimals left after the offset; the kernels
    # sum in float64 and subtract the mean before squaring.
    x64 = 1e4 + rng.standard_normal((64, 2, 4, 4))
    out = F.batch_norm(x64.astype(np.float32), None, None, training=True)
    want = R.batch_norm(x64, None, None, training=True)
    np.testing.assert_allclose(out, want, atol=2e-3)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 2, 3)], ids=["dense", "image"])
def test_gradcheck(shape, training, rng):
    """Central differences through the batch statistics (training) or the fixed affine map."""
    c = shape[1]
    x = rng.standard_normal(shape) * 2 + 0.5
    w, b = rng.standard_normal(c), rng.standard_normal(c)
    rm, rv = rng.standard_normal(c), rng.random(c) + 0.5

    def forward(x, w, b):
        # copies: training updates running stats in place, which must not drift between calls
        return F.batch_norm(x, rm.copy(), rv.copy(), w, b, training, eps=1e-3)

    def grads(g, x, w, b):
        return F.batch_norm_backward(g, x, rm, rv, w, training, eps=1e-3)

    check_gradients(forward, grads, [x, w, b], rng)
    check_gradients(lambda x: F.batch_norm(x, rm.copy(), rv.copy(), None, None, training),
                    lambda g, x: F.batch_norm_backward(g, x, rm, rv, None, training)[:1],
                    [x], rng)


def test_reference_gradcheck(rng):
    x = rng.standard_normal((4, 2, 2, 2))
    w, b = rng.standard_normal(2), rng.standard_normal(2)
    check_gradients(lambda x, w, b: R.batch_norm(x, None, None, w, b, True),
                    lambda g, x, w, b: R.batch_norm_backward(g, x, None, None, w, True),
                    [x, w, b], rng)


@pytest.fixture(params=BACKENDS)
def backend_name(request):
    with fastnn.backend(request.param):
        yield request.param


def test_batchnorm2d_layer_train_vs_eval(backend_name, rng):
    layer = BatchNorm2d(3, momentum=0.5, dtype=np.float64)
    assert set(layer.params) == {"weight", "bias"}
    np.testing.assert_array_equal(layer.running_mean, 0.0)
    np.testing.assert_array_equal(layer.running_var, 1.0)
    x = rng.standard_normal((4, 3, 5, 5)) * 3 + 2
    y = layer.forward(x, training=True)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0.0, atol=1e-12)
    np.testing.assert_allclose(layer.running_mean, 0.5 * x.mean(axis=(0, 2, 3)), rtol=1e-12)
    g = rng.standard_normal(y.shape)
    gx = layer.backward(g)
    want = F.batch_norm_backward(g, x, None, None, layer.params["weight"], True)
    assert_close(gx, want[0])
    assert_close(layer.grads["weight"], want[1])
    assert_close(layer.grads["bias"], want[2])
    # evaluation: running statistics, untouched by the forward
    rm = layer.running_mean.copy()
    y_eval = layer.forward(x, training=False)
    np.testing.assert_array_equal(layer.running_mean, rm)
    want_eval = (x - rm[:, None, None]) / np.sqrt(layer.running_var[:, None, None] + 1e-5)
    np.testing.assert_allclose(y_eval, want_eval, rtol=1e-12)
    gx = layer.backward(g)
    np.testing.assert_allclose(gx, g / np.sqrt(layer.running_var[:, None, None] + 1e-5),
                               rtol=1e-12)


def test_running_stats_converge_to_the_data_distribution(rng):
    layer = BatchNorm1d(2, momentum=0.2, affine=False, dtype=np.float64)
    assert layer.params == {}
    for _ in range(60):
        layer.forward(rng.standard_normal((64, 2)) * [1.0, 3.0] + [5.0, -2.0], training=True)
    np.testing.assert_allclose(layer.running_mean, [5.0, -2.0], atol=0.2)
    np.testing.assert_allclose(layer.running_var, [1.0, 9.0], rtol=0.2)
    layer.forward(np.ones((1, 2)), training=False)  # a batch of one is fine in evaluation
    layer.backward(np.ones((1, 2)))
    assert layer.grads == {}


def test_layer_in_a_sequential_trains(rng):
    model = fastnn.Sequential(fastnn.Linear(4, 8, rng=0, dtype=np.float64),
                              BatchNorm1d(8, dtype=np.float64), fastnn.ReLU(),
                              fastnn.Linear(8, 3, rng=1, dtype=np.float64))
    x = rng.standard_normal((16, 4))
    t = rng.integers(0, 3, 16)
    loss_fn = fastnn.CrossEntropyLoss()
    opt = fastnn.SGD(model, lr=0.1)
    first = float(loss_fn(model.forward(x), t))
    for _ in range(20):
        loss_fn(model.forward(x), t)
        model.backward(loss_fn.backward())
        opt.step()
    assert float(loss_fn(model.forward(x), t)) < 0.7 * first


def test_layer_rank_and_constructor_errors():
    with pytest.raises(ValueError, match="4-D"):
        BatchNorm2d(3).forward(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="2-D or 3-D"):
        BatchNorm1d(3).forward(np.zeros((2, 3, 4, 4), np.float32))
    with pytest.raises(ValueError, match="num_features"):
        BatchNorm1d(0)
    with pytest.raises(ValueError, match="momentum"):
        BatchNorm2d(3, momentum=1.5)
    with pytest.raises(ValueError, match="eps"):
        BatchNorm2d(3, eps=-1.0)
    with pytest.raises(ValueError, match="more than 1 value"):
        BatchNorm1d(3).forward(np.zeros((1, 3), np.float32), training=True)
    with pytest.raises(ValueError, match="read-only"):
        rm = np.zeros(3)
        rm.flags.writeable = False
        F.batch_norm(np.zeros((4, 3)), rm, np.ones(3), training=True)


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
def test_degenerate_shapes(ops):
    c = np.ones(3, np.float32)
    x = np.zeros((0, 3), np.float32)  # empty batch: fine in evaluation
    assert ops.batch_norm(x, c, c).shape == (0, 3)
    assert [a.shape for a in ops.batch_norm_backward(x, x, c, c)] == [(0, 3), (3,), (3,)]
    x = np.ones((4, 0), np.float32)  # no channels
    e = np.ones(0, np.float32)
    assert ops.batch_norm(x, e, e.copy(), training=True).shape == (4, 0)
