"""Initialisers: values, bounds and moments follow torch.nn.init's formulas."""
import functools
import math

import numpy as np
import pytest

from fastnn import Linear, init


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_constant_initialisers(dtype):
    np.testing.assert_array_equal(init.zeros((2, 3), dtype=dtype), np.zeros((2, 3)))
    np.testing.assert_array_equal(init.ones((2, 3), dtype=dtype), np.ones((2, 3)))
    c = init.constant((4,), 0.25, dtype=dtype)
    assert c.dtype == dtype
    np.testing.assert_array_equal(c, [0.25] * 4)


def test_uniform_and_normal_moments():
    u = init.uniform((200, 500), rng=0, a=-2.0, b=4.0, dtype=np.float64)
    assert u.min() >= -2.0 and u.max() < 4.0
    assert abs(u.mean() - 1.0) < 0.02 and abs(u.var() - 36 / 12) < 0.03
    n = init.normal((200, 500), rng=0, mean=3.0, std=0.5, dtype=np.float64)
    assert abs(n.mean() - 3.0) < 0.005 and abs(n.std() - 0.5) < 0.005
    with pytest.raises(ValueError, match="a <= b"):
        init.uniform((2,), a=1.0, b=0.0)
    with pytest.raises(ValueError, match="std must be >= 0"):
        init.normal((2,), std=-1.0)


@pytest.mark.parametrize("shape", [(300, 200), (64, 32, 3, 3)], ids=["linear", "conv"])
def test_fan_based_initialisers(shape):
    fan_in, fan_out = init.fans(shape)
    cases = [
        (init.xavier_uniform, dict(), "uniform", math.sqrt(6 / (fan_in + fan_out))),
        (init.xavier_uniform, dict(gain=2.0), "uniform", 2 * math.sqrt(6 / (fan_in + fan_out))),
        (init.xavier_normal, dict(), "normal", math.sqrt(2 / (fan_in + fan_out))),
        (init.kaiming_uniform, dict(), "uniform", math.sqrt(6 / fan_in)),
        (init.kaiming_uniform, dict(mode="fan_out", a=0.2), "uniform",
         math.sqrt(3) * math.sqrt(2 / 1.04) / math.sqrt(fan_out)),
        (init.kaiming_normal, dict(), "normal", math.sqrt(2 / fan_in)),
        (init.kaiming_normal, dict(a=1.0), "normal", math.sqrt(1 / fan_in)),
    ]
    for fn, kw, kind, scale in cases:
        w = fn(shape, rng=1, dtype=np.float64, **kw)
        assert w.shape == shape
        if kind == "uniform":  # U(-b, b): max close to b, std b / sqrt(3)
            assert np.abs(w).max() <= scale and np.abs(w).max() > 0.99 * scale
            assert abs(w.std() - scale / math.sqrt(3)) < 0.03 * scale
        else:
            assert abs(w.std() - scale) < 0.03 * scale
        assert abs(w.mean()) < 0.03 * scale


def test_calculate_gain_matches_torch_values():
    assert init.calculate_gain("relu") == math.sqrt(2)
    assert init.calculate_gain("tanh") == 5 / 3
    assert init.calculate_gain("leaky_relu") == math.sqrt(2 / (1 + 0.01 ** 2))
    assert init.calculate_gain("sigmoid") == 1.0
    with pytest.raises(ValueError, match="unknown nonlinearity"):
        init.calculate_gain("swish")


def test_seeded_and_usable_as_layer_weight_init():
    np.testing.assert_array_equal(init.kaiming_normal((3, 4), rng=5),
                                  init.kaiming_normal((3, 4), rng=5))
    assert not np.array_equal(init.normal((3, 4), rng=5), init.normal((3, 4), rng=6))
    layer = Linear(3, 2, weight_init=functools.partial(init.constant, value=0.5))
    np.testing.assert_array_equal(layer.params["weight"], np.full((2, 3), 0.5, np.float32))
    assert Linear(3, 2, weight_init="ones").params["weight"].sum() == 6
    with pytest.raises(ValueError, match="unknown initializer"):
        Linear(3, 2, weight_init="glorot")
