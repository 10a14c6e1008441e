"""Seed cases 1, 2, 6, 8 and 13 from ../shared/SEED_CASES.md, through the public API, on
both backends. (Case 6 values and Jacobian are in test_softmax.py, case 7 in
test_activations.py; the output-size formula of case 8 is also in test_conv2d.py.)"""
import itertools

import numpy as np
import pytest

import fastnn
from fastnn import Linear, ReLU, Sequential, Step
from helpers import BACKENDS


@pytest.fixture(params=BACKENDS)
def ops(request):
    with fastnn.backend(request.param):
        yield BACKENDS[request.param]  # functional ops of the backend the layers now use


def threshold_net(w1, b1, w2, b2):
    hidden, inputs = np.shape(w1)
    l1 = Linear(inputs, hidden, dtype=np.float64)
    l2 = Linear(hidden, 1, dtype=np.float64)
    l1.params["weight"][:] = w1
    l1.params["bias"][:] = b1
    l2.params["weight"][:] = [w2]
    l2.params["bias"][:] = [b2]
    return Sequential(l1, Step(), l2, Step())


def test_case_1_sorted_detector(ops, rng):
    net = threshold_net([[-1, 1, 0, 0], [0, -1, 1, 0], [0, 0, -1, 1]], [0, 0, 0], [1, 1, 1],
                        -2.5)
    fixed = np.array([[1, 2, 3, 4], [1, 3, 2, 4], [4, 3, 2, 1]], dtype=np.float64)
    np.testing.assert_array_equal(net(fixed)[:, 0], [1, 0, 0])
    x = np.array([rng.permutation(4) for _ in range(3000)]) * 1.0 + rng.random((3000, 1))
    x = np.where(rng.random((3000, 1)) < 0.5, np.sort(x, axis=1), x)  # ~half sorted
    want = np.all(np.diff(x, axis=1) > 0, axis=1).astype(np.float64)
    assert 0.3 < want.mean() < 0.7
    np.testing.assert_array_equal(net(x)[:, 0], want)


def test_case_1_variant_five_decreasing_inputs(ops, rng):
    w1 = np.zeros((4, 5))
    for i in range(4):
        w1[i, i], w1[i, i + 1] = 1.0, -1.0  # h_i = step(x_i - x_{i+1})
    net = threshold_net(w1, np.zeros(4), np.ones(4), -3.5)
    x = rng.standard_normal((3000, 5))
    x = np.where(rng.random((3000, 1)) < 0.5, -np.sort(-x, axis=1), x)
    want = np.all(np.diff(x, axis=1) < 0, axis=1).astype(np.float64)
    np.testing.assert_array_equal(net(x)[:, 0], want)


def test_case_2_xor_relu_network(ops):
    l1, l2 = Linear(2, 2, dtype=np.float64), Linear(2, 1, dtype=np.float64)
    l1.params["weight"][:] = [[1, 1], [1, 1]]
    l1.params["bias"][:] = [0, -1]
    l2.params["weight"][:] = [[1, -2]]
    l2.params["bias"][:] = [0]
    net = Sequential(l1, ReLU(), l2)
    x = np.array(list(itertools.product([0.0, 1.0], repeat=2)))  # (0,0) (0,1) (1,0) (1,1)
    np.testing.assert_array_equal(net(x)[:, 0], [0.0, 1.0, 1.0, 0.0])


def test_case_2_single_relu_layer_cannot_fit_xor(ops, rng):
    # y = relu(w.x + b): no weights fit all four points. Evidence: a dense grid of
    # (w1, w2, b) never does, and the algebra (y(0,1) = y(1,0) = 1 forces w1 = w2 =
    # 1 - b > 0 for b < 1, then y(1,1) = 2 - b >= 1 != 0) rules out the rest.
    grid = np.linspace(-3, 3, 25)
    w = np.array(list(itertools.product(grid, grid)))
    x = np.array(list(itertools.product([0.0, 1.0], repeat=2)))
    target = np.array([0.0, 1.0, 1.0, 0.0])
    layer = Linear(2, len(w), dtype=np.float64)
    layer.params["weight"][:] = w
    for b in grid:
        layer.params["bias"][:] = b
        y = ReLU()(layer(x))  # (4, len(w)): each column is one candidate network
        assert np.all(np.max(np.abs(y - target[:, None]), axis=0) > 0.1)


def test_case_6_softmax(ops):
    s = ops.softmax(np.array([2.0, 1.0, 0.1]))
    np.testing.assert_array_equal(np.round(s, 4), [0.6590, 0.2424, 0.0986])
    assert np.all(np.isfinite(ops.softmax(np.array([1000.0, 1001.0]))))


@pytest.mark.parametrize("algorithm", ["direct", "im2col"])
def test_case_8_vertical_edge_detector(ops, algorithm):
    img = np.zeros((1, 1, 6, 6))
    img[..., :3] = 10.0
    k = np.array([[[[1.0, 0.0, -1.0]] * 3]])
    conv = fastnn.Conv2d(1, 1, 3, bias=False, dtype=np.float64, algorithm=algorithm)
    conv.params["weight"][:] = k
    out = conv(img)
    np.testing.assert_array_equal(out[0, 0], np.tile([0.0, 30.0, 30.0, 0.0], (4, 1)))
    np.testing.assert_array_equal(ops.conv2d(img, k, algorithm=algorithm), out)
    assert ops.conv2d(np.zeros((1, 1, 28, 28)), np.zeros((1, 1, 3, 3)),
                      padding=1).shape[2:] == (28, 28)


def test_case_13_three_layer_relu_softmax(ops):
    ws = [[[0.2, -0.1], [0.4, 0.3]],
          [[0.1, 0.2], [-0.3, 0.4], [0.2, -0.2]],
          [[0.3, -0.2, 0.1], [-0.1, 0.2, 0.4]]]
    layers = []
    for w in ws:
        lin = Linear(len(w[0]), len(w), bias=False, dtype=np.float64)
        lin.params["weight"][:] = w
        layers += [lin, ReLU()]
    net = Sequential(*layers)
    x = np.array([[0.5, -1.0]])
    a = x
    expected = [([0.2, -0.1], [0.2, 0.0]), ([0.02, -0.06, 0.04], [0.02, 0.0, 0.04]),
                ([0.01, 0.014], [0.01, 0.014])]
    for i, (z_want, a_want) in enumerate(expected):
        z = net[2 * i](a)
        a = net[2 * i + 1](z)
        np.testing.assert_allclose(z[0], z_want, atol=1e-12)
        np.testing.assert_allclose(a[0], a_want, atol=1e-12)
    np.testing.assert_allclose(net(x), a, rtol=0, atol=0)
    np.testing.assert_array_equal(np.round(ops.softmax(a)[0], 4), [0.4990, 0.5010])
