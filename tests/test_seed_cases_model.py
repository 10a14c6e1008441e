"""Seed cases 3, 4, 5, 9, 10, 14 and 15 from ../shared/SEED_CASES.md, through the public API,
on both backends (cases 1, 2, 6, 7, 8 and 13 are in test_seed_cases.py)."""
import itertools

import numpy as np
import pytest

import fastnn
from fastnn import (SGD, Concat, Conv2d, Linear, ReLU, Residual, Sequential, Sigmoid, gradcheck,
                    numerical_jacobian, summary)
from fastnn.gradcheck import numerical_gradient
from helpers import BACKENDS

XOR_X = np.array(list(itertools.product([0.0, 1.0], repeat=2)))  # (0,0) (0,1) (1,0) (1,1)
XOR_T = np.array([[0.0], [1.0], [1.0], [0.0]])


@pytest.fixture(params=BACKENDS)
def ops(request):
    with fastnn.backend(request.param):
        yield BACKENDS[request.param]  # functional ops of the backend the layers now use


def xor_net(hidden, weight_init, bias=0.0):
    l1 = Linear(2, hidden, weight_init=weight_init, rng=0, dtype=np.float64)
    l2 = Linear(hidden, 1, weight_init=weight_init, rng=1, dtype=np.float64)
    l1.params["bias"][:] = bias
    l2.params["bias"][:] = bias
    return Sequential(l1, ReLU(), l2)


def mse_step(net, opt):
    """One full-batch gradient-descent step on L = mean((y - t)^2); returns L before the step."""
    y = net(XOR_X)
    net.backward(2.0 * (y - XOR_T) / len(XOR_X))
    opt.step()
    return float(np.mean((y - XOR_T) ** 2))


# --------------------------------------------------------------------------- case 3

def test_case_3_zero_init_only_output_bias_moves(ops):
    net = xor_net(2, "zeros")
    opt = SGD(net, lr=0.25)  # b2 - 0.5 halves each step
    for _ in range(30):
        loss = mse_step(net, opt)
        l1, l2 = net[0], net[2]
        for g in (l1.grads["weight"], l1.grads["bias"], l2.grads["weight"]):
            assert np.all(g == 0.0)  # exactly zero, every step
        assert np.all(l1.params["weight"] == 0) and np.all(l2.params["weight"] == 0)
    assert l2.params["bias"][0] == pytest.approx(0.5, abs=1e-6)  # only b2 moved: to mean(t)
    assert loss == pytest.approx(0.25, abs=1e-6)                  # never fits XOR
    np.testing.assert_allclose(net(XOR_X), 0.5, atol=1e-6)


@pytest.mark.parametrize("c", [0.5, -0.3])
def test_case_3_constant_init_keeps_hidden_units_identical(ops, c):
    net = xor_net(2, lambda shape, rng=None, dtype=None: np.full(shape, c, dtype), bias=c)
    opt = SGD(net, lr=0.1)
    for _ in range(30):
        mse_step(net, opt)
        w1, b1, w2 = net[0].params["weight"], net[0].params["bias"], net[2].params["weight"]
        np.testing.assert_array_equal(w1[0], w1[1])        # equal rows of W1
        assert b1[0] == b1[1]                              # equal entries of b1
        assert w2[0, 0] == w2[0, 1]                        # equal columns of W2
    if c > 0:
        assert not np.allclose(w1, c)  # the weights did move, but in lockstep


def test_case_3_random_init_fits_xor(ops):
    net = xor_net(8, "he")
    opt = SGD(net, lr=0.2)
    losses = [mse_step(net, opt) for _ in range(300)]
    assert losses[0] > 0.1 and losses[-1] < 1e-8
    np.testing.assert_allclose(net(XOR_X), XOR_T, atol=1e-4)


# --------------------------------------------------------------------------- case 4

@pytest.mark.parametrize("n, k", [(3, 2), (5, 7)])
def test_case_4_residual_network_gradient_check(ops, rng, n, k):
    l1, l2 = Linear(n, k, rng=rng, dtype=np.float64), Linear(k, n, rng=rng, dtype=np.float64)
    l1.params["bias"][:] = rng.standard_normal(k)
    l2.params["bias"][:] = rng.standard_normal(n)
    block = Residual(l1, Sigmoid(), l2)  # y = x + W2 sigmoid(W1 x + b1) + b2
    x, r, s = rng.standard_normal((1, n)), rng.standard_normal((1, k)), rng.standard_normal((1, n))
    w1, b1, w2, b2 = l1.params["weight"], l1.params["bias"], l2.params["weight"], l2.params["bias"]

    def energy(*_):  # E = r.h + 0.5 ||y - s||^2; parameters are read from the layers
        y = block(x)
        h = ops.sigmoid(ops.linear(x, w1, b1))
        return float(np.sum(r * h) + 0.5 * np.sum((y - s) ** 2))

    # Backward with the layer API: y - s flows back through the block; r enters at h.
    y = block(x)
    x_bar = block.backward(y - s)
    w1_bar, b1_bar = l1.grads["weight"], l1.grads["bias"]
    w2_bar, b2_bar = l2.grads["weight"], l2.grads["bias"]
    x_bar = x_bar + l1.backward(block[1].backward(r))  # chain rule: h_bar gets r as well
    w1_bar, b1_bar = w1_bar + l1.grads["weight"], b1_bar + l1.grads["bias"]

    # The hand-derived backward of the seed case.
    z = x @ w1.T + b1
    h = 1 / (1 + np.exp(-z))
    y_bar = x + h @ w2.T + b2 - s
    h_bar = r + y_bar @ w2
    z_bar = h_bar * h * (1 - h)
    np.testing.assert_allclose(x_bar, z_bar @ w1 + y_bar, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w1_bar, z_bar.T @ x, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b2_bar, y_bar[0], rtol=1e-10, atol=1e-12)

    errors = gradcheck(energy, [x, w1, b1, w2, b2], [x_bar, w1_bar, b1_bar, w2_bar, b2_bar],
                       tol=1e-6)
    assert max(errors) < 1e-6


# --------------------------------------------------------------------------- case 5

def test_case_5_relu_gradients_are_exactly_zero(ops, rng):
    l1, l2 = Linear(3, 6, rng=0, dtype=np.float64), Linear(6, 2, rng=1, dtype=np.float64)
    net = Sequential(l1, ReLU(), l2)
    xs = rng.standard_normal((20, 1, 3))
    off_seen = on_seen = 0
    for i, x in enumerate(xs):
        if i == 0:  # one unit exactly at z = 0: relu'(0) = 0 as well
            l1.params["bias"][0] = -float(x[0] @ l1.params["weight"][0])
        z = x @ l1.params["weight"].T + l1.params["bias"]
        net.backward(np.ones_like(net(x)))
        off = z[0] <= 0
        assert np.all(l1.grads["weight"][off] == 0.0) and np.all(l1.grads["bias"][off] == 0.0)
        assert np.all(l2.grads["weight"][:, off] == 0.0)   # h = 0 feeds nothing forward either
        assert np.all(l1.grads["bias"][~off] != 0.0)       # live units do get gradient
        off_seen += off.sum()
        on_seen += (~off).sum()
    assert off_seen > 10 and on_seen > 10
    np.testing.assert_array_equal(ops.relu_backward(np.ones(3), np.array([-1.0, 0.0, 2.0])),
                                  [0.0, 0.0, 1.0])


# --------------------------------------------------------------------------- cases 9, 10

def conv(c_in, c_out, k, padding):
    return Conv2d(c_in, c_out, k, padding=padding, rng=0)


def test_case_9_single_conv_macs(ops):
    s = summary(Sequential(conv(192, 32, 3, 1)), (1, 192, 28, 28), verbose=False)
    assert s.output_shape == (1, 32, 28, 28)
    assert s.total_macs == 28 * 28 * 32 * 3 * 3 * 192 == 43_352_064


def test_case_9_bottleneck_macs(ops, capsys):
    s = summary(Sequential(conv(192, 16, 1, 0), conv(16, 32, 5, "same")), (1, 192, 28, 28))
    assert [r.output_shape for r in s.rows] == [(1, 16, 28, 28), (1, 32, 28, 28)]
    assert [r.macs for r in s.rows] == [2_408_448, 10_035_200]
    assert s.total_macs == 12_443_648
    printed = capsys.readouterr().out
    assert "2,408,448" in printed and "10,035,200" in printed and "12,443,648" in printed


def test_case_9_inception_block_macs(ops):
    naive = Concat(conv(192, 128, 3, 1), conv(192, 32, 5, 2))
    s = summary(Sequential(naive), (1, 192, 32, 32), verbose=False)
    assert s.output_shape == (1, 160, 32, 32)
    assert [r.macs for r in s.rows] == [383_778_816, 226_492_416, 157_286_400]
    reduced = Concat(Sequential(conv(192, 64, 1, 0), conv(64, 128, 3, 1)),
                     Sequential(conv(192, 16, 1, 0), conv(16, 32, 5, 2)))
    s = summary(reduced, (1, 192, 32, 32), verbose=False)
    leaves = [r.macs for r in s.rows if r.layer == "Conv2d"]
    assert leaves == [12_582_912, 75_497_472, 3_145_728, 13_107_200]
    assert s.total_macs == 104_333_312
    assert s.output_shape == (1, 160, 32, 32)


def test_case_10_parameter_count(ops):
    s = summary(Sequential(Linear(3, 4), ReLU(), Linear(4, 2)), (1, 3), verbose=False)
    assert [r.params for r in s.rows] == [3 * 4 + 4, 0, 4 * 2 + 2]
    assert s.total_params == 26
    assert s.total_macs == 3 * 4 + 4 * 2  # per example; biases not counted


# --------------------------------------------------------------------------- case 14

def test_case_14_computational_graph():
    # f(x, y, z) = ln(x) + exp(y) * z as a graph: a = ln x, b = exp y, c = b * z, f = a + c.
    x, y, z = np.array(1.0), np.array(3.0), np.array(2.0)
    a, b = np.log(x), np.exp(y)
    c = b * z
    f = a + c
    assert float(f) == pytest.approx(40.171074, abs=5e-7)
    # Backward by hand: each node's local derivative times the upstream gradient.
    f_bar = 1.0
    a_bar, c_bar = f_bar, f_bar              # d(a + c)
    b_bar, z_bar = c_bar * z, c_bar * b      # d(b * z)
    x_bar = a_bar / x                        # d ln x = 1 / x
    y_bar = b_bar * b                        # d exp y = exp y
    assert float(x_bar) == 1.0
    assert float(y_bar) == pytest.approx(40.171074, abs=5e-7)
    assert float(z_bar) == pytest.approx(20.085537, abs=5e-7)

    def fn(x, y, z):
        return float(np.log(x) + np.exp(y) * z)
    errors = gradcheck(fn, [x, y, z], [x_bar, y_bar, z_bar])
    assert max(errors) < 1e-8
    v = np.array([1.0, 3.0, 2.0])
    g = numerical_gradient(lambda v: np.log(v[0]) + np.exp(v[1]) * v[2], v)
    np.testing.assert_allclose(g, [1.0, 40.171074, 20.085537], atol=1e-6)


# --------------------------------------------------------------------------- case 15

def test_case_15_jacobian_shapes_and_values(ops, rng):
    n, d, k = 4, 3, 2
    x = rng.standard_normal((n, d))
    w = rng.standard_normal((k, d))
    jac = numerical_jacobian(lambda w: ops.linear(x, w), w)  # f(W) = X W^T
    assert jac.shape == (n, k, k, d)
    expected = np.einsum("ib,ja->ijab", x, np.eye(k))         # X[i, b] * (j == a)
    np.testing.assert_allclose(jac, expected, atol=1e-8)
    a = rng.standard_normal((5, 3))                            # f: R^3 -> R^5 is 5 x 3
    assert numerical_jacobian(lambda v: ops.linear(v[None], a)[0], rng.standard_normal(3)).shape \
        == (5, 3)
