"""mse_loss, binary_cross_entropy(_with_logits), cross_entropy with probability targets:
values, reductions, backward, loss classes."""
import numpy as np
import pytest

import fastnn
import fastnn.functional as F
import fastnn.reference as R
from fastnn import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from helpers import BACKENDS, DTYPES, assert_close, check_gradients

LOSSES = ["mse_loss", "binary_cross_entropy_with_logits", "binary_cross_entropy"]
REDUCTIONS = ["mean", "sum", "none"]


def inputs(name, shape, dtype, rng):
    if name == "binary_cross_entropy":  # probabilities, away from 0 and 1
        x = rng.uniform(0.05, 0.95, shape)
    else:
        x = 3 * rng.standard_normal(shape)
    return x.astype(dtype), rng.random(shape).astype(dtype)


def upstream(reduction, shape, dtype, rng):
    return 1.0 if reduction != "none" else rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", LOSSES)
def test_elementwise_losses_match_reference(name, dtype, reduction, rng):
    shape = (4, 3, 5)
    x, t = inputs(name, shape, dtype, rng)
    out = getattr(F, name)(x, t, reduction)
    want = getattr(R, name)(x, t, reduction)
    assert np.shape(out) == (shape if reduction == "none" else ())
    assert_close(out, want)
    g = upstream(reduction, shape, dtype, rng)
    assert_close(getattr(F, name + "_backward")(g, x, t, reduction),
                 getattr(R, name + "_backward")(g, x, t, reduction))


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
def test_known_values(ops):
    x, t = np.array([1.0, 2.0, 4.0]), np.array([0.0, 2.0, 2.0])
    assert ops.mse_loss(x, t) == pytest.approx(5 / 3, rel=1e-15)
    assert ops.mse_loss(x, t, "sum") == 5.0
    np.testing.assert_array_equal(ops.mse_loss(x, t, "none"), [1.0, 0.0, 4.0])
    np.testing.assert_allclose(ops.mse_loss_backward(1.0, x, t), [2 / 3, 0.0, 4 / 3])
    # BCE with logits at 0 is log 2; huge logits stay finite (no exp overflow)
    z = np.array([0.0, 1000.0, -1000.0, 1000.0])
    y = np.array([1.0, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(ops.binary_cross_entropy_with_logits(z, y, "none"),
                               [np.log(2), 0.0, 0.0, 1000.0], rtol=1e-15)
    np.testing.assert_allclose(ops.binary_cross_entropy_with_logits_backward(1.0, z, y, "sum"),
                               [-0.5, 0.0, 0.0, 1.0])
    # BCE on probabilities: torch clamps each log at -100
    p = np.array([0.0, 1.0, 0.5, 1.0])
    np.testing.assert_allclose(ops.binary_cross_entropy(p, y, "none"),
                               [100.0, 0.0, np.log(2), 100.0], rtol=1e-15)


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("name", LOSSES)
def test_elementwise_gradcheck(name, reduction, rng):
    x, t = inputs(name, (3, 4), np.float64, rng)
    fwd = getattr(F, name)
    bwd = getattr(F, name + "_backward")
    if reduction == "none":
        check_gradients(lambda x: fwd(x, t, "none"), lambda g, x: (bwd(g, x, t, "none"),),
                        [x], rng)
    else:  # scalar loss: d(mean)/dx
        check_gradients(lambda x: np.array([fwd(x, t, "mean")]),
                        lambda g, x: (bwd(float(g[0]), x, t, "mean"),), [x], rng)


def soft_targets(rng, n, c, dtype):
    t = rng.random((n, c))
    return (t / t.sum(axis=1, keepdims=True)).astype(dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_cross_entropy_probability_targets_match_reference(dtype, reduction, rng):
    x = (3 * rng.standard_normal((6, 5))).astype(dtype)
    t = soft_targets(rng, 6, 5, dtype)
    assert_close(F.cross_entropy(x, t, reduction=reduction), R.cross_entropy(x, t, reduction=reduction))
    g = upstream(reduction, (6,), dtype, rng)
    assert_close(F.cross_entropy_backward(g, x, t, reduction=reduction),
                 R.cross_entropy_backward(g, x, t, reduction=reduction))


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
def test_one_hot_probabilities_equal_class_indices(ops, rng):
    x = rng.standard_normal((5, 4)) * 5
    idx = np.array([0, 3, 1, 1, 2])
    onehot = np.eye(4)[idx]
    for reduction in REDUCTIONS:
        np.testing.assert_allclose(ops.cross_entropy(x, onehot, reduction=reduction),
                                   ops.cross_entropy(x, idx, reduction=reduction), rtol=1e-13)
    np.testing.assert_allclose(ops.cross_entropy_backward(1.0, x, onehot),
                               ops.cross_entropy_backward(1.0, x, idx), rtol=1e-13, atol=1e-16)
    # label smoothing: finite for extreme logits
    smooth = 0.9 * onehot + 0.1 / 4
    assert np.isfinite(ops.cross_entropy(x * 1e4, smooth))


def test_cross_entropy_probability_targets_gradcheck(rng):
    x = rng.standard_normal((3, 4))
    t = rng.random((3, 4))  # rows need not sum to 1
    check_gradients(lambda x: F.cross_entropy(x, t, reduction="none"),
                    lambda g, x: (F.cross_entropy_backward(g, x, t, reduction="none"),), [x], rng)


@pytest.fixture(params=BACKENDS)
def backend_name(request):
    with fastnn.backend(request.param):
        yield request.param


@pytest.mark.parametrize("cls,name", [(MSELoss, "mse_loss"),
                                      (BCEWithLogitsLoss, "binary_cross_entropy_with_logits"),
                                      (BCELoss, "binary_cross_entropy")])
def test_loss_classes(cls, name, backend_name, rng):
    x, t = inputs(name, (4, 3), np.float64, rng)
    for reduction in REDUCTIONS:
        loss_fn = cls(reduction)
        loss = loss_fn(x, t)
        assert_close(loss, getattr(F, name)(x, t, reduction))
        g = upstream(reduction, (4, 3), np.float64, rng)
        grad = loss_fn.backward(g) if reduction == "none" else loss_fn.backward()
        assert_close(grad, getattr(F, name + "_backward")(g, x, t, reduction))
    assert repr(cls()) == f"{cls.__name__}(reduction='mean')"
    with pytest.raises(ValueError, match="reduction"):
        cls("avg")
    with pytest.raises(RuntimeError, match="before forward"):
        cls().backward()


def test_cross_entropy_loss_class_takes_probability_targets(backend_name, rng):
    x = rng.standard_normal((4, 3))
    t = soft_targets(rng, 4, 3, np.float64)
    loss_fn = CrossEntropyLoss()
    assert_close(loss_fn(x, t), F.cross_entropy(x, t))
    assert_close(loss_fn.backward(), F.cross_entropy_backward(1.0, x, t))


def test_logistic_regression_trains_with_bce_with_logits(rng):
    x = rng.standard_normal((64, 2))
    y = (x[:, :1] + 2 * x[:, 1:] > 0).astype(np.float64)
    layer = fastnn.Linear(2, 1, rng=0, dtype=np.float64)
    opt = fastnn.SGD(layer, lr=1.0)
    loss_fn = BCEWithLogitsLoss()
    first = float(loss_fn(layer.forward(x), y))
    for _ in range(50):
        loss_fn(layer.forward(x), y)
        layer.backward(loss_fn.backward())
        opt.step()
    assert float(loss_fn(layer.forward(x), y)) < 0.3 * first


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
def test_degenerate_shapes(ops):
    one, two = np.array(1.0), np.array(2.0)
    assert ops.mse_loss(two, one) == 1.0
    none = ops.mse_loss(two, one, "none")
    assert isinstance(none, np.ndarray) and none.shape == ()
    grad = ops.mse_loss_backward(one, two, one, "none")
    assert isinstance(grad, np.ndarray) and grad.shape == () and grad == 2.0
    empty = np.zeros((0, 5))
    assert ops.mse_loss(empty, empty, "sum") == 0.0
    assert ops.binary_cross_entropy_with_logits_backward(1.0, empty, empty, "sum").shape == (0, 5)
    assert ops.cross_entropy(empty, empty, reduction="sum") == 0.0  # probability targets, empty batch
    assert ops.cross_entropy_backward(1.0, empty, empty, reduction="sum").shape == (0, 5)


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
def test_cross_entropy_ignores_minus_100_targets_as_torch(ops, rng):
    # torch's default ignore_index=-100: that row adds no loss, no gradient, and is not
    # counted by 'mean'.
    x = rng.standard_normal((4, 5))
    t = np.array([0, -100, 2, 3])
    keep = [0, 2, 3]
    np.testing.assert_allclose(ops.cross_entropy(x, t), ops.cross_entropy(x[keep], t[keep]),
                               rtol=1e-12)
    g = ops.cross_entropy_backward(1.0, x, t)
    np.testing.assert_array_equal(g[1], np.zeros(5))
    np.testing.assert_allclose(g[keep], ops.cross_entropy_backward(1.0, x[keep], t[keep]),
                               rtol=1e-12)
