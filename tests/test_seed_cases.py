"""The seed cases of ../shared/SEED_CASES.md through the public API, on both backends:
1, 2, 13 (small networks), 8 (edge detector), 3, 4, 5, 9, 10, 14, 15 (training, gradients,
summary counts, Jacobians), 11 (batch norm) and 12 (inverted dropout). Case 6 values and
Jacobian are in test_softmax.py, case 7 in test_activations.py; every case also runs as
an example script (tests/test_examples.py)."""
import itertools
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import fastnn
from fastnn import (SGD, BatchNorm1d, Concat, Conv2d, Dropout, Linear, ReLU, Residual, Sequential,
                    Sigmoid, Step, gradcheck, numerical_jacobian, summary)
from fastnn.gradcheck import numerical_gradient
from helpers import BACKENDS, DTYPES


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


XOR_X = np.array(list(itertools.product([0.0, 1.0], repeat=2)))  # (0,0) (0,1) (1,0) (1,1)
XOR_T = np.array([[0.0], [1.0], [1.0], [0.0]])


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


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("eps,decimals,want", [
    (0.0, 4, [-1.8284, -0.4142, 1.0, 2.4142, 3.8284]),
    (1e-5, 6, [-1.828425, -0.414213, 1.0, 2.414213, 3.828425]),
], ids=["eps0", "eps1e-5"])
def test_case_11_batch_norm_training(ops, dtype, eps, decimals, want):
    x = np.array([[2.0], [4.0], [6.0], [8.0], [10.0]], dtype=dtype)  # 5 values of 1 feature
    gamma, beta = np.array([2.0], dtype), np.array([1.0], dtype)
    rm, rv = np.zeros(1, dtype), np.ones(1, dtype)
    out = ops.batch_norm(x, rm, rv, gamma, beta, training=True, momentum=1.0, eps=eps)
    np.testing.assert_array_equal(np.round(out[:, 0].astype(np.float64), decimals), want)
    # momentum 1: the running statistics are the batch's: mean 6 and the UNBIASED
    # variance 10 = 8 * 5 / 4, i.e. a biased (population) variance of 8
    np.testing.assert_allclose(rm, [6.0], rtol=1e-7)
    np.testing.assert_allclose(rv, [10.0], rtol=1e-7)
    # the same through the layer
    layer = BatchNorm1d(1, eps=eps, momentum=1.0, dtype=dtype)
    layer.params["weight"][:] = 2.0
    layer.params["bias"][:] = 1.0
    out = layer.forward(x, training=True)
    np.testing.assert_array_equal(np.round(out[:, 0].astype(np.float64), decimals), want)
    np.testing.assert_allclose(layer.running_mean, [6.0], rtol=1e-7)
    np.testing.assert_allclose(layer.running_var * 4 / 5, [8.0], rtol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_case_12_inverted_dropout(ops, dtype):
    keep = 0.8  # drop rate 0.2
    h = (np.random.default_rng(0).random(10**6) + 1.0).astype(dtype)  # mean ~1.5
    layer = Dropout(keep_prob=keep, seed=2026)
    assert layer.p == pytest.approx(0.2)
    h_drop = layer.forward(h, training=True)
    kept = h_drop != 0
    assert abs(kept.mean() - keep) < 0.005
    assert abs(h_drop.mean() / h.mean() - 1) < 0.01
    np.testing.assert_allclose(h_drop[kept], h[kept] / dtype(keep), rtol=1e-6)
    # backward multiplies the upstream gradient by the same mask / keep
    g = np.full_like(h, 3.0)
    grad = layer.backward(g)
    np.testing.assert_array_equal(grad != 0, kept)
    np.testing.assert_allclose(grad[kept], 3.0 / keep, rtol=1e-6)
    # the same seed gives the same mask (functional API: p is the DROP probability)
    again, mask = ops.dropout(h, p=0.2, generator=2026, return_mask=True)
    np.testing.assert_array_equal(mask, kept)
    np.testing.assert_array_equal(again, h_drop)
    # evaluation: identity
    np.testing.assert_array_equal(layer.forward(h, training=False), h)


@pytest.mark.parametrize("script,expected", [
    ("seed_11_batchnorm.py", ["[-1.8284 -0.4142  1.      2.4142  3.8284]",
                              "[-1.828425 -0.414213  1.        2.414213  3.828425]"]),
    ("seed_12_dropout.py", ["same seed, same mask on both backends: True",
                            "evaluation is the identity: True"]),
])
def test_seed_examples_run(script, expected):
    root = pathlib.Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, str(root / "examples" / script)], capture_output=True,
                          text=True, timeout=600, cwd=root)
    assert proc.returncode == 0, proc.stderr
    for line in expected:
        assert line in proc.stdout, proc.stdout


def test_readme_training_ops_snippet_runs():
    root = pathlib.Path(__file__).resolve().parents[1]
    section = (root / "README.md").read_text().split("### Training ops", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600, cwd=root)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("(8, 3, 6, 6)") and lines[0].endswith(" 0.8")
    assert [line.split()[0] for line in lines[1:4]] == ["0", "1", "2"]
    assert lines[-1] == "(8, 1)"
