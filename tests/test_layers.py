"""Layer classes, Sequential, CrossEntropyLoss, SGD and the backend switch, end to end."""
import numpy as np
import pytest

import fastnn
import fastnn.functional as F
from fastnn import (SGD, Conv2d, CrossEntropyLoss, Flatten, Linear, MaxPool2d, ReLU,
                    Sequential, Sigmoid, Step, Tanh)
from fastnn.gradcheck import max_norm_rel_error
from helpers import BACKENDS, numerical_grad


def small_cnn(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return Sequential(
        Conv2d(1, 3, 3, padding=1, rng=rng, dtype=dtype), ReLU(), MaxPool2d(2),
        Conv2d(3, 4, 3, padding=1, rng=rng, dtype=dtype), Tanh(), MaxPool2d(2),
        Flatten(), Linear(4 * 2 * 2, 5, rng=rng, dtype=dtype), Sigmoid(),
        Linear(5, 3, weight_init="xavier", rng=rng, dtype=dtype),
    )


@pytest.fixture(params=BACKENDS, autouse=False)
def backend_name(request):
    with fastnn.backend(request.param):
        yield request.param


def test_sequential_gradients_match_finite_differences(backend_name, rng):
    model = small_cnn()
    x = rng.standard_normal((2, 1, 8, 8))
    t = np.array([0, 2])
    loss_fn = CrossEntropyLoss()

    def loss():
        return float(loss_fn(model.forward(x), t))

    loss()
    gx = model.backward(loss_fn.backward())
    assert max_norm_rel_error(gx, numerical_grad(loss, x)) < 1e-6
    for layer, name in model.parameters():
        num = numerical_grad(loss, layer.params[name])
        err = max_norm_rel_error(layer.grads[name], num)
        assert err < 1e-6, (layer, name, err)


def test_layers_call_the_functional_ops(rng):
    x = rng.standard_normal((2, 2, 6, 6)).astype(np.float32)
    conv = Conv2d(2, 3, 3, stride=2, padding=1, rng=1)
    conv.params["bias"][:] = [0.5, -1.0, 2.0]
    y = conv(x)
    np.testing.assert_array_equal(
        y, F.conv2d(x, conv.params["weight"], conv.params["bias"], stride=2, padding=1))
    g = rng.standard_normal(y.shape).astype(np.float32)
    gx = conv.backward(g)
    want = F.conv2d_backward(g, x, conv.params["weight"], stride=2, padding=1)
    for got, expected in zip((gx, conv.grads["weight"], conv.grads["bias"]), want):
        np.testing.assert_array_equal(got, expected)
    pool = MaxPool2d(2)
    np.testing.assert_array_equal(pool(y), F.max_pool2d(y, 2))
    flat = Flatten()
    z = flat(y)
    assert z.shape == (2, 27)
    assert flat.backward(z).shape == y.shape


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layers_keep_dtype(dtype, rng):
    model = small_cnn(dtype)
    x = rng.standard_normal((3, 1, 8, 8)).astype(dtype)
    y = model(x)
    assert y.shape == (3, 3) and y.dtype == dtype
    gx = model.backward(np.ones_like(y))
    assert gx.dtype == dtype
    for layer, name in model.parameters():
        assert layer.params[name].dtype == dtype
        assert layer.grads[name].dtype == dtype


def train(model, x, t, steps, lr=0.1, momentum=0.9):
    opt = SGD(model, lr=lr, momentum=momentum)
    loss_fn = CrossEntropyLoss()
    losses = []
    for _ in range(steps):
        losses.append(float(loss_fn(model.forward(x), t)))
        model.backward(loss_fn.backward())
        opt.step()
    return losses


def test_sgd_steps_reduce_the_loss(backend_name, rng):
    model = small_cnn(np.float32)
    x = rng.standard_normal((16, 1, 8, 8)).astype(np.float32)
    t = rng.integers(0, 3, 16)
    losses = train(model, x, t, steps=20)
    assert np.all(np.diff(losses[:5]) < 0), losses  # the first steps each lower the loss
    assert losses[-1] < 0.8 * losses[0], losses


def test_both_backends_give_the_same_numbers(rng):
    x = rng.standard_normal((8, 1, 8, 8))
    t = rng.integers(0, 3, 8)
    runs = {}
    for name in BACKENDS:
        with fastnn.backend(name):
            model = small_cnn(np.float64, seed=3)
            runs[name] = (train(model, x, t, steps=5), model)
    np.testing.assert_allclose(runs["numba"][0], runs["numpy"][0], rtol=1e-10)
    for (la, na), (lb, nb) in zip(runs["numba"][1].parameters(), runs["numpy"][1].parameters()):
        np.testing.assert_allclose(la.params[na], lb.params[nb], rtol=1e-9, atol=1e-12)


def test_sgd_momentum_follows_torch_formula():
    layer = Linear(2, 1, bias=False, dtype=np.float64)
    layer.params["weight"][:] = [[1.0, 2.0]]
    opt = SGD(layer, lr=0.5, momentum=0.9)
    layer.grads = {"weight": np.array([[1.0, -1.0]])}
    opt.step()  # v = g; p = p - 0.5 g
    np.testing.assert_allclose(layer.params["weight"], [[0.5, 2.5]])
    layer.grads = {"weight": np.array([[2.0, 0.0]])}
    opt.step()  # v = 0.9 * [1, -1] + [2, 0] = [2.9, -0.9]
    np.testing.assert_allclose(layer.params["weight"], [[0.5 - 1.45, 2.5 + 0.45]])


def test_backend_switch():
    assert fastnn.get_backend() == "numba"
    with fastnn.backend("numpy"):
        assert fastnn.get_backend() == "numpy"
    assert fastnn.get_backend() == "numba"
    with pytest.raises(ValueError, match="set_backend\\(\\): name must be one of"):
        fastnn.set_backend("torch")


def test_layer_remembers_backend_of_its_forward(rng):
    # backward uses the same implementation as the forward that cached, even if
    # the process-wide backend changed in between.
    layer = ReLU()
    x = rng.standard_normal((2, 3))
    with fastnn.backend("numpy"):
        layer(x)
    assert layer._cache[0] is fastnn.reference


@pytest.mark.parametrize("layer", [Linear(2, 2), Conv2d(1, 1, 1), ReLU(), Sigmoid(), Tanh(),
                                   Step(), MaxPool2d(2), Flatten(), Sequential(ReLU())])
def test_backward_before_forward_raises(layer):
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones((1, 2), dtype=np.float32))


def test_sgd_before_backward_raises():
    with pytest.raises(RuntimeError, match="call backward\\(\\) before step\\(\\)"):
        SGD(Linear(2, 2), lr=0.1).step()


def test_initializers_are_seeded_and_scaled():
    a = Linear(400, 300, rng=7).params["weight"]
    b = Linear(400, 300, rng=7).params["weight"]
    np.testing.assert_array_equal(a, b)
    # He normal: std = sqrt(2 / fan_in)
    np.testing.assert_allclose(a.std(), np.sqrt(2 / 400), rtol=0.03)
    x = Linear(400, 300, weight_init="xavier_uniform", rng=7).params["weight"]
    bound = np.sqrt(6 / 700)
    assert np.abs(x).max() <= bound
    np.testing.assert_allclose(x.std(), bound / np.sqrt(3), rtol=0.03)
    assert not Linear(3, 2, weight_init="zeros").params["weight"].any()
    c = Conv2d(8, 4, 3, rng=1).params["weight"]
    np.testing.assert_allclose(c.std(), np.sqrt(2 / (8 * 9)), rtol=0.15)


def test_repr_lists_layers():
    text = repr(Sequential(Conv2d(1, 2, 3), ReLU(), Flatten(), Linear(8, 2)))
    assert "Conv2d(1, 2" in text and "ReLU()" in text and "Linear(in_features=8" in text
