"""Inverted dropout: reproducible NumPy masks, the fused mask-and-scale kernel, backward, layer."""
import numpy as np
import pytest

import fastnn
import fastnn.functional as F
import fastnn.reference as R
from fastnn import Dropout
from helpers import BACKENDS, DTYPES, assert_close, check_gradients


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_matches_reference_with_the_same_mask(p, dtype, rng):
    x = rng.standard_normal((3, 4, 5, 6)).astype(dtype)
    out, mask = F.dropout(x, p, generator=123, return_mask=True)
    r_out, r_mask = R.dropout(x, p, generator=123, return_mask=True)
    np.testing.assert_array_equal(mask, r_mask)  # masks are drawn with NumPy in fastnn
    assert mask.dtype == np.bool_ and mask.shape == x.shape
    assert_close(out, r_out)
    np.testing.assert_allclose(out, np.where(mask, x / dtype(1 - p), 0), rtol=1e-6)
    go = rng.standard_normal(x.shape).astype(dtype)
    assert_close(F.dropout_backward(go, mask, p), R.dropout_backward(go, mask, p))


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
def test_identity_when_not_training_or_p_zero(ops, rng):
    x = rng.standard_normal((4, 5))
    for kwargs in (dict(p=0.5, training=False), dict(p=0.0)):
        out, mask = ops.dropout(x, generator=0, return_mask=True, **kwargs)
        np.testing.assert_array_equal(out, x)
        assert mask.all()
        g = rng.standard_normal(x.shape)
        grad = ops.dropout_backward(g, mask, kwargs["p"], kwargs.get("training", True))
        np.testing.assert_array_equal(grad, g)


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
def test_generator_forms(ops):
    x = np.ones(1000)
    a = ops.dropout(x, 0.5, generator=7)
    b = ops.dropout(x, 0.5, generator=np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)  # an int seed is default_rng(seed)
    gen = np.random.default_rng(7)
    first, second = ops.dropout(x, 0.5, generator=gen), ops.dropout(x, 0.5, generator=gen)
    np.testing.assert_array_equal(first, a)
    assert not np.array_equal(first, second)  # a Generator advances
    assert not np.array_equal(ops.dropout(x, 0.5), ops.dropout(x, 0.5))  # None: fresh entropy
    # float32 and float64 inputs get the same mask for the same seed
    m32 = ops.dropout(x.astype(np.float32), 0.3, generator=1, return_mask=True)[1]
    m64 = ops.dropout(x, 0.3, generator=1, return_mask=True)[1]
    np.testing.assert_array_equal(m32, m64)


def test_nan_and_inf_propagate_like_torch():
    x = np.array([np.nan, np.inf, 1.0, np.nan])
    mask = np.array([True, False, False, False])
    out = F.dropout_backward(x, mask, 0.5)  # the same kernel as the forward
    assert np.isnan(out[0]) and np.isnan(out[1]) and out[2] == 0.0 and np.isnan(out[3])
    np.testing.assert_array_equal(np.isnan(out), np.isnan(R.dropout_backward(x, mask, 0.5)))


def test_gradcheck(rng):
    x = rng.standard_normal((3, 7))
    _, mask = F.dropout(x, 0.4, generator=5, return_mask=True)
    check_gradients(lambda x: F.dropout(x, 0.4, generator=5),  # the same mask every call
                    lambda g, x: (F.dropout_backward(g, mask, 0.4),), [x], rng)


@pytest.fixture(params=BACKENDS)
def backend_name(request):
    with fastnn.backend(request.param):
        yield request.param


def test_layer_forward_backward_train_and_eval(backend_name, rng):
    layer = Dropout(0.25, seed=3)
    x = rng.standard_normal((50, 40))
    y = layer.forward(x, training=True)
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / 0.75)
    g = rng.standard_normal(x.shape)
    np.testing.assert_allclose(layer.backward(g), np.where(kept, g / 0.75, 0.0))
    assert 0.7 < kept.mean() < 0.8
    y_eval = layer.forward(x, training=False)
    np.testing.assert_array_equal(y_eval, x)
    np.testing.assert_array_equal(layer.backward(g), g)


def test_layer_seed_reproduces_masks_across_backends(rng):
    x = rng.standard_normal((20, 30))
    with fastnn.backend("numba"):
        a = Dropout(0.5, seed=11)
        ya = [a.forward(x) for _ in range(3)]
    with fastnn.backend("numpy"):
        b = Dropout(0.5, seed=11)
        yb = [b.forward(x) for _ in range(3)]
    for u, v in zip(ya, yb):
        np.testing.assert_allclose(u, v, rtol=1e-15)
    assert not np.array_equal(ya[0], ya[1])  # a fresh mask every forward


def test_layer_p_and_keep_prob():
    assert Dropout().p == 0.5
    assert Dropout(0.2).p == 0.2
    layer = Dropout(keep_prob=0.8)
    assert layer.p == pytest.approx(0.2) and layer.keep_prob == pytest.approx(0.8)
    assert Dropout(0.2, keep_prob=0.8).p == pytest.approx(0.2)  # consistent: fine
    assert Dropout(keep_prob=1.0).p == 0.0
    with pytest.raises(ValueError, match="keep_prob"):
        Dropout(0.5, keep_prob=0.8)
    with pytest.raises(ValueError, match="keep_prob"):
        Dropout(keep_prob=0.0)
    with pytest.raises(ValueError, match="keep_prob"):
        Dropout(keep_prob=1.5)
    with pytest.raises(ValueError, match="p must be in"):
        Dropout(1.0)
    with pytest.raises(TypeError, match="seed"):
        Dropout(0.5, seed="abc")
    with pytest.raises(RuntimeError, match="before forward"):
        Dropout().backward(np.ones(3))


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
def test_degenerate_shapes(ops):
    out, mask = ops.dropout(np.array(0.5), 0.5, generator=1, return_mask=True)
    assert out.shape == () and mask.shape == () and isinstance(mask, np.ndarray)
    assert ops.dropout_backward(np.array(1.0), mask, 0.5).shape == ()
    out, mask = ops.dropout(np.zeros((0, 3), np.float32), 0.5, generator=1, return_mask=True)
    assert out.shape == (0, 3) and out.dtype == np.float32
    assert ops.dropout_backward(out, mask, 0.5).shape == (0, 3)
