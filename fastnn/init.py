"""Weight initialisers. Each returns a new array of the given shape and dtype.

Fan-in / fan-out follow torch.nn.init: for a linear weight (out_features,
in_features) fan_in = in_features and fan_out = out_features; for a conv
weight (C_out, C_in, kH, kW) fan_in = C_in*kH*kW and fan_out = C_out*kH*kW.

``rng`` is anything ``numpy.random.default_rng`` accepts: None (fresh entropy),
an int seed, or a ``numpy.random.Generator`` (used as is, so consecutive calls
draw different values).
"""
import math

import numpy as np

__all__ = ["zeros", "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal",
           "fans", "get_initializer"]


def fans(shape):
    """(fan_in, fan_out) of a weight of ``shape`` (2-D linear or 4-D conv). ValueError otherwise."""
    shape = tuple(shape)
    if len(shape) == 2:
        return shape[1], shape[0]
    if len(shape) == 4:
        taps = shape[2] * shape[3]
        return shape[1] * taps, shape[0] * taps
    raise ValueError(f"fans(): shape must be 2-D (out, in) or 4-D (C_out, C_in, kH, kW), "
                     f"got {shape}")


def zeros(shape, rng=None, dtype=np.float32):
    """All zeros (``rng`` is accepted for a uniform signature and unused)."""
    return np.zeros(shape, dtype=dtype)


def xavier_uniform(shape, rng=None, gain=1.0, dtype=np.float32):
    """Glorot & Bengio (2010): U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(shape)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return np.random.default_rng(rng).uniform(-a, a, size=shape).astype(dtype)


def xavier_normal(shape, rng=None, gain=1.0, dtype=np.float32):
    """Glorot & Bengio (2010): N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(shape)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return (std * np.random.default_rng(rng).standard_normal(shape)).astype(dtype)


def _kaiming_fan(shape, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = fans(shape)
    return fan_in if mode == "fan_in" else fan_out


def kaiming_uniform(shape, rng=None, mode="fan_in", dtype=np.float32):
    """He et al. (2015) for ReLU: U(-b, b) with b = sqrt(2) * sqrt(3 / fan)."""
    bound = math.sqrt(6.0 / _kaiming_fan(shape, mode))
    return np.random.default_rng(rng).uniform(-bound, bound, size=shape).astype(dtype)


def kaiming_normal(shape, rng=None, mode="fan_in", dtype=np.float32):
    """He et al. (2015) for ReLU: N(0, std^2) with std = sqrt(2 / fan). Also called He init."""
    std = math.sqrt(2.0 / _kaiming_fan(shape, mode))
    return (std * np.random.default_rng(rng).standard_normal(shape)).astype(dtype)


_BY_NAME = {
    "zeros": zeros,
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "kaiming_uniform": kaiming_uniform,
    "kaiming_normal": kaiming_normal,
    # The names the course material uses.
    "he": kaiming_normal,
    "xavier": xavier_uniform,
}


def get_initializer(name):
    """The initialiser called ``name`` (one of the functions above, or 'he' / 'xavier')."""
    if name not in _BY_NAME:
        raise ValueError(f"unknown initializer {name!r}; expected one of {sorted(_BY_NAME)}")
    return _BY_NAME[name]
