"""Optional parity with PyTorch (float64, rtol 1e-7) for batch_norm, avg/adaptive/ceil-mode
pooling and the losses, forward and backward, on both backends. Skipped without torch."""
import numpy as np
import pytest

from helpers import BACKENDS

torch = pytest.importorskip("torch")
TF = torch.nn.functional
RTOL = 1e-7


def close(a, b):
    np.testing.assert_allclose(a, b.detach().numpy() if torch.is_tensor(b) else b, rtol=RTOL,
                               atol=RTOL * max(1.0, float(np.max(np.abs(a))) if np.size(a) else 1))


def leaf(a):
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


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
    close(getattr(ops, name)(x, t, reduction), yt)
    close(getattr(ops, name + "_backward")(g, x, t, reduction), xt.grad)
