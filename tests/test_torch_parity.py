"""Optional parity with PyTorch for every functional op: conv2d (every algorithm), linear,
matmul, relu / leaky_relu / sigmoid / tanh / step, softmax / log_softmax, cross_entropy,
max_pool2d (with torch's indices), avg / adaptive pooling, batch_norm, dropout and the
elementwise losses, forward and backward (torch autograd with ``.backward(g)``), on both
backends.

float64, rtol 1e-7. The atol is 1e-7 times the largest |expected| value (at least 1e-7):
outputs that are sums of many terms (conv, GEMM, gradients) can cancel to near 0, where
torch and fastnn, summing in different orders, agree to ~1e-16 of the TERMS' size but not
to 1e-7 of the tiny result. Shapes are small and seeded (the ``rng`` fixture).
Skipped without torch.
"""
import numpy as np
import pytest

from helpers import BACKENDS


torch = pytest.importorskip("torch")
TF = torch.nn.functional
RTOL = 1e-7


def close(a, b):
    b = b.detach().numpy() if torch.is_tensor(b) else np.asarray(b)
    a = np.asarray(a)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert a.dtype == np.float64, a.dtype
    scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=RTOL * scale)


def leaf(a):
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


backends = pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())


# --------------------------------------------------------------------------- conv2d

# (N, C_in, H, W), (C_out, kH, kW), stride, padding, dilation
CONVS = [
    ((2, 3, 7, 6), (4, 3, 3), 1, 0, 1),
    ((1, 2, 8, 9), (3, 3, 2), (2, 1), (1, 2), 1),
    ((2, 2, 9, 8), (2, 3, 3), 2, 1, (2, 1)),
    ((2, 3, 6, 7), (3, 2, 4), 1, "same", 1),        # even kernel: extra pad bottom/right
    ((1, 2, 7, 7), (2, 3, 2), 1, "same", (2, 3)),
    ((2, 1, 5, 6), (3, 2, 3), 1, "valid", 1),
    ((2, 5, 4, 3), (6, 1, 1), 1, 0, 1),             # pointwise: '1x1' is valid
    ((1, 20, 5, 5), (3, 3, 3), 1, 0, 1),             # 180 taps, 3x3 plane: auto = im2col
]


def _algorithms(wshape, stride, padding):
    pointwise = wshape[1:] == (1, 1) and stride == 1 and padding == 0
    return ["auto", "direct", "im2col"] + (["1x1"] if pointwise else [])


CONV_CASES = [pytest.param(case, alg, id=f"{i}-{alg}")
              for i, case in enumerate(CONVS) for alg in _algorithms(*case[1:2], *case[2:4])]


@backends
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("case,algorithm", CONV_CASES)
@pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")  # torch's, about torch
def test_conv2d(case, algorithm, with_bias, ops, rng):
    xshape, (c_out, kh, kw), stride, padding, dilation = case
    x = rng.standard_normal(xshape)
    w = rng.standard_normal((c_out, xshape[1], kh, kw))
    b = rng.standard_normal(c_out) if with_bias else None
    xt, wt = leaf(x), leaf(w)
    bt = leaf(b) if with_bias else None
    yt = TF.conv2d(xt, wt, bt, stride, padding, dilation)
    g = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(g))
    kw_ = dict(stride=stride, padding=padding, dilation=dilation, algorithm=algorithm)
    close(ops.conv2d(x, w, b, **kw_), yt)
    gx, gw, gb = ops.conv2d_backward(g, x, w, **kw_)
    close(gx, xt.grad)
    close(gw, wt.grad)
    if with_bias:
        close(gb, bt.grad)
    else:  # grad_bias is returned anyway: the sum of grad_output over N, H, W
        close(gb, torch.tensor(g).sum(dim=(0, 2, 3)))


# --------------------------------------------------------------------------- linear / matmul

@backends
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("lead", [(), (5,), (2, 3)], ids=["1d", "2d", "3d"])
def test_linear(lead, with_bias, ops, rng):
    x, w = rng.standard_normal(lead + (7,)), rng.standard_normal((4, 7))
    b = rng.standard_normal(4) if with_bias else None
    xt, wt = leaf(x), leaf(w)
    bt = leaf(b) if with_bias else None
    yt = TF.linear(xt, wt, bt)
    g = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(g))
    close(ops.linear(x, w, b), yt)
    gx, gw, gb = ops.linear_backward(g, x, w)
    close(gx, xt.grad)
    close(gw, wt.grad)
    close(gb, bt.grad if with_bias else torch.tensor(g).reshape(-1, 4).sum(dim=0))


@backends
@pytest.mark.parametrize("mkn", [(1, 1, 1), (5, 3, 7), (9, 260, 6), (4, 8, 258)],
                         ids=["1x1x1", "small", "deepK", "wideN"])
def test_matmul(mkn, ops, rng):
    m, k, n = mkn
    a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    at, bt = leaf(a), leaf(b)
    yt = at @ bt
    g = rng.standard_normal((m, n))
    yt.backward(torch.tensor(g))
    close(ops.matmul(a, b), yt)
    ga, gb = ops.matmul_backward(g, a, b)
    close(ga, at.grad)
    close(gb, bt.grad)
    # transposed views (the functional backend passes them to the GEMM with transpose flags)
    close(ops.matmul(np.ascontiguousarray(a.T).T, np.ascontiguousarray(b.T).T), yt)


# --------------------------------------------------------------------------- activations

def _activation_input(rng, shape):
    x = rng.uniform(-6, 6, shape)
    x.reshape(-1)[::5] = 0.0  # exact zeros: relu'(0) = 0 in both, step(0) = 1
    return x


@backends
@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("shape", [(), (7,), (3, 4, 5)], ids=["0d", "1d", "3d"])
def test_activation(name, shape, ops, rng):
    x = _activation_input(rng, shape)
    xt = leaf(x)
    yt = getattr(torch, name)(xt)
    g = rng.standard_normal(shape)
    yt.backward(torch.tensor(g))
    y = getattr(ops, name)(x)
    assert isinstance(y, np.ndarray)  # also for 0-d input (the reference once gave a scalar)
    close(y, yt)
    # relu_backward takes the forward's input; sigmoid / tanh backward take its output
    saved = x if name == "relu" else y
    grad_input = getattr(ops, name + "_backward")(g, saved)
    assert isinstance(grad_input, np.ndarray)
    close(grad_input, xt.grad)


@backends
@pytest.mark.parametrize("slope", [0.01, 0.2, -0.5, 1.5])
@pytest.mark.parametrize("shape", [(), (7,), (3, 4, 5)], ids=["0d", "1d", "3d"])
def test_leaky_relu(slope, shape, ops, rng):
    x = _activation_input(rng, shape)
    xt = leaf(x)
    yt = TF.leaky_relu(xt, negative_slope=slope)
    g = rng.standard_normal(shape)
    yt.backward(torch.tensor(g))
    close(ops.leaky_relu(x, slope), yt)
    close(ops.leaky_relu_backward(g, x, slope), xt.grad)


@backends
@pytest.mark.parametrize("shape", [(), (7,), (3, 4, 5)], ids=["0d", "1d", "3d"])
def test_step_is_heaviside_with_value_1_at_0(shape, ops, rng):
    x = _activation_input(rng, shape)
    expected = torch.heaviside(torch.tensor(x), torch.tensor(1.0, dtype=torch.float64))
    np.testing.assert_array_equal(ops.step(x), expected.numpy())
    # torch has no derivative for heaviside ("not implemented"); fastnn's is 0 everywhere
    np.testing.assert_array_equal(ops.step_backward(rng.standard_normal(shape), x),
                                  np.zeros(shape))


@backends
def test_step_nan_differs_from_torch_heaviside(ops):
    # Documented difference: fastnn propagates NaN (step(NaN) = NaN); torch.heaviside(NaN, 1)
    # returns 0 (NaN is neither == 0 nor > 0). Only fastnn's behaviour is asserted.
    assert np.isnan(ops.step(np.array([np.nan]))[0])


# --------------------------------------------------------------------------- softmax

SOFTMAX_CASES = [((6,), 0), ((3, 5), -1), ((3, 5), 0), ((2, 3, 4), 1), ((2, 3, 4, 2), -3),
                 ((2, 3, 4, 2), 3)]


@backends
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,dim", SOFTMAX_CASES, ids=[f"{s}-dim{d}" for s, d in SOFTMAX_CASES])
def test_softmax(name, shape, dim, ops, rng):
    x = rng.standard_normal(shape) * 5
    xt = leaf(x)
    yt = getattr(torch, name)(xt, dim)
    g = rng.standard_normal(shape)
    yt.backward(torch.tensor(g))
    y = getattr(ops, name)(x, dim)
    close(y, yt)
    close(getattr(ops, name + "_backward")(g, y, dim), xt.grad)


@backends
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("nc", [(1, 1), (5, 3), (8, 11)], ids=["1x1", "5x3", "8x11"])
def test_cross_entropy_class_indices(nc, reduction, ops, rng):
    n, c = nc
    x = rng.standard_normal((n, c)) * 3
    target = rng.integers(0, c, n)
    xt = leaf(x)
    yt = TF.cross_entropy(xt, torch.tensor(target), reduction=reduction)
    g = rng.standard_normal(n) if reduction == "none" else 0.7
    yt.backward(torch.tensor(g))
    close(ops.cross_entropy(x, target, reduction=reduction), yt)
    close(ops.cross_entropy_backward(g, x, target, reduction=reduction), xt.grad)


# --------------------------------------------------------------------------- max_pool2d

MAX_POOLS = [dict(kernel_size=2), dict(kernel_size=3, stride=1), dict(kernel_size=3, stride=2,
             padding=1), dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1)),
             dict(kernel_size=3, stride=2, ceil_mode=True),
             dict(kernel_size=(3, 2), stride=2, padding=(1, 0), ceil_mode=True),
             dict(kernel_size=4, stride=3, padding=2, ceil_mode=True)]


@backends
@pytest.mark.parametrize("shape", [(2, 3, 7, 8), (1, 1, 5, 5)], ids=["2x3x7x8", "1x1x5x5"])
@pytest.mark.parametrize("kw", MAX_POOLS, ids=range(len(MAX_POOLS)))
def test_max_pool2d(kw, shape, ops, rng):
    x = rng.standard_normal(shape)
    xt = leaf(x)
    yt, it = TF.max_pool2d(xt, **kw, return_indices=True)
    g = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(g))
    y, idx = ops.max_pool2d(x, **kw, return_indices=True)
    close(y, yt)
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx, it.numpy())
    close(ops.max_pool2d_backward(g, x, **kw), xt.grad)
    close(ops.max_pool2d_backward(g, x, **kw, indices=idx), xt.grad)


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", [(6, 3), (3, 3, 4), (2, 3, 4, 5)], ids=["2d", "3d", "4d"])
def test_batch_norm(shape, training, ops, rng):
    x = rng.standard_normal(shape) * 2 + 1
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    rm, rv = rng.standard_normal(3), rng.random(3) + 0.5
    trm, trv = torch.tensor(rm), torch.tensor(rv)
    xt, wt, bt = leaf(x), leaf(w), leaf(b)
    yt = TF.batch_norm(xt, trm, trv, wt, bt, training, 0.3, 1e-4)
    g = rng.standard_normal(shape)
    yt.backward(torch.tensor(g))
    rm_in, rv_in = rm.copy(), rv.copy()
    close(ops.batch_norm(x, rm, rv, w, b, training, 0.3, 1e-4), yt)
    close(rm, trm)
    close(rv, trv)
    gx, gw, gb = ops.batch_norm_backward(g, x, rm_in, rv_in, w, training, 1e-4)
    close(gx, xt.grad)
    close(gw, wt.grad)
    close(gb, bt.grad)


POOLS = [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
         dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
         dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
         dict(kernel_size=(2, 3), stride=(3, 2), ceil_mode=True),
         dict(kernel_size=2, stride=2, padding=1, ceil_mode=True, count_include_pad=False)]


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
@pytest.mark.parametrize("kw", POOLS, ids=range(len(POOLS)))
def test_pooling(kw, ops, rng):
    x = rng.standard_normal((2, 2, 7, 8))
    for name in ("avg_pool2d", "max_pool2d"):
        args = kw if name == "avg_pool2d" else {k: v for k, v in kw.items()
                                                  if k != "count_include_pad"}
        xt = leaf(x)
        yt = getattr(TF, name)(xt, **args)
        g = rng.standard_normal(tuple(yt.shape))
        yt.backward(torch.tensor(g))
        close(getattr(ops, name)(x, **args), yt)
        close(getattr(ops, name + "_backward")(g, x, **args), xt.grad)


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
def test_adaptive_avg_pool(ops, rng):
    x = rng.standard_normal((2, 3, 5, 4))
    xt = leaf(x)
    yt = TF.adaptive_avg_pool2d(xt, 1)
    g = rng.standard_normal((2, 3, 1, 1))
    yt.backward(torch.tensor(g))
    close(ops.adaptive_avg_pool2d(x, 1), yt)
    close(ops.adaptive_avg_pool2d_backward(g, x, 1), xt.grad)


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", ["mse_loss", "binary_cross_entropy_with_logits",
                                  "binary_cross_entropy", "cross_entropy"])
def test_losses(name, reduction, ops, rng):
    x = rng.standard_normal((4, 5)) * 4
    t = rng.random((4, 5))
    if name == "binary_cross_entropy":
        x = rng.random((4, 5))
        x[0, :2] = [0.0, 1.0]  # exercise the log clamp and the gradient's epsilon
    xt = leaf(x)
    yt = getattr(TF, name)(xt, torch.tensor(t), reduction=reduction)
    g = rng.standard_normal(tuple(yt.shape)) if reduction == "none" else 1.0
    yt.backward(torch.tensor(g) if reduction == "none" else None)
    close(getattr(ops, name)(x, t, reduction=reduction), yt)
    close(getattr(ops, name + "_backward")(g, x, t, reduction=reduction), xt.grad)
