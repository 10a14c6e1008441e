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
           "fans", "get_initializer", "ones", "constant", "uniform", "normal", "calculate_gain",
           "torch_default", "torch_default_bias", "init_bias"]


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


def ones(shape, rng=None, dtype=np.float32):
    """All ones (``rng`` is accepted for a uniform signature and unused)."""
    return np.ones(shape, dtype=dtype)


def constant(shape, value, rng=None, dtype=np.float32):
    """Every entry equal to ``value`` (torch.nn.init.constant_).

    Every initialiser here has the signature f(shape, rng=None, dtype=...);
    to give ``constant`` that shape (e.g. as a layer's ``weight_init``), bind
    the value: ``functools.partial(constant, value=0.5)``.
    """
    return np.full(shape, value, dtype=dtype)


def uniform(shape, rng=None, a=0.0, b=1.0, dtype=np.float32):
    """U(a, b) (torch.nn.init.uniform_; same defaults a=0, b=1)."""
    if not a <= b:
        raise ValueError(f"uniform(): need a <= b, got a={a!r}, b={b!r}")
    return np.random.default_rng(rng).uniform(a, b, size=shape).astype(dtype)


def normal(shape, rng=None, mean=0.0, std=1.0, dtype=np.float32):
    """N(mean, std^2) (torch.nn.init.normal_; same defaults mean=0, std=1)."""
    if not std >= 0:
        raise ValueError(f"normal(): std must be >= 0, got {std!r}")
    return (mean + std * np.random.default_rng(rng).standard_normal(shape)).astype(dtype)


def calculate_gain(nonlinearity, param=None):
    """torch.nn.init.calculate_gain: the std multiplier that preserves activation variance.

    'linear'/'conv2d'/'sigmoid': 1; 'tanh': 5/3; 'relu': sqrt(2);
    'leaky_relu': sqrt(2 / (1 + param^2)) (param = negative slope, default 0.01);
    'selu': 3/4.
    """
    if nonlinearity in ("linear", "conv2d", "sigmoid", "identity"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1.0 + slope * slope))
    if nonlinearity == "selu":
        return 0.75
    raise ValueError(f"calculate_gain(): unknown nonlinearity {nonlinearity!r}")


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


def kaiming_uniform(shape, rng=None, mode="fan_in", dtype=np.float32, a=0.0):
    """He et al. (2015) for ReLU: U(-b, b) with b = gain * sqrt(3 / fan).

    gain = sqrt(2 / (1 + a^2)) with ``a`` the negative slope of a following
    leaky ReLU (default 0: plain ReLU, gain sqrt(2)), as torch.nn.init's
    kaiming_uniform_ with nonlinearity='leaky_relu'; fan per ``mode``.
    """
    # sqrt(3) * gain / sqrt(fan), written so that a = 0 gives exactly sqrt(6 / fan)
    bound = math.sqrt(6.0 / ((1.0 + a * a) * _kaiming_fan(shape, mode)))
    return np.random.default_rng(rng).uniform(-bound, bound, size=shape).astype(dtype)


def kaiming_normal(shape, rng=None, mode="fan_in", dtype=np.float32, a=0.0):
    """He et al. (2015) for ReLU: N(0, std^2) with std = gain / sqrt(fan). Also called He init.

    gain = sqrt(2 / (1 + a^2)) as in :func:`kaiming_uniform` (a = 0: std = sqrt(2 / fan)).
    """
    std = math.sqrt(2.0 / ((1.0 + a * a) * _kaiming_fan(shape, mode)))  # gain / sqrt(fan)
    return (std * np.random.default_rng(rng).standard_normal(shape)).astype(dtype)


def torch_default(shape, rng=None, dtype=np.float32):
    """torch's default weight of nn.Linear / nn.Conv2d: kaiming_uniform_(w, a=sqrt(5)).

    gain = sqrt(2 / (1 + 5)) = sqrt(1/3), bound = gain * sqrt(3 / fan_in), so
    U(-b, b) with b = 1 / sqrt(fan_in) exactly (torch's reset_parameters()).
    The values follow NumPy's generator, not torch's: the same distribution, not
    the same numbers.
    """
    return kaiming_uniform(shape, rng=rng, dtype=dtype, a=math.sqrt(5.0))


def torch_default_bias(weight_shape, rng=None, dtype=np.float32):
    """torch's default bias of nn.Linear / nn.Conv2d: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    ``weight_shape`` is the layer's weight shape (fan_in from :func:`fans`);
    the result has shape (weight_shape[0],). An int ``rng`` seeds a stream
    distinct from the one the weight drew with the same int.
    """
    fan_in, _ = fans(weight_shape)
    bound = 1.0 / math.sqrt(fan_in)
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, (bool, np.bool_)):
        rng = [int(rng), 1]  # SeedSequence entropy: not the weight's stream
    return np.random.default_rng(rng).uniform(-bound, bound,
                                              size=(weight_shape[0],)).astype(dtype)


def init_bias(weight_init, weight_shape, rng=None, dtype=np.float32):
    """A layer's initial bias: torch's U(-1/sqrt(fan_in), ..) for weight_init='torch', else zeros."""
    if isinstance(weight_init, str) and weight_init == "torch":
        return torch_default_bias(weight_shape, rng, dtype)
    return np.zeros(weight_shape[0], dtype=dtype)


_BY_NAME = {
    "zeros": zeros,
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "kaiming_uniform": kaiming_uniform,
    "kaiming_normal": kaiming_normal,
    "ones": ones,
    "uniform": uniform,
    "normal": normal,
    # The names the course material uses.
    "he": kaiming_normal,
    "xavier": xavier_uniform,
    # torch.nn.Linear / Conv2d's defaults (the layers then also draw the bias as torch does).
    "torch": torch_default,
}


def get_initializer(name):
    """The initialiser called ``name`` (one of the functions above, or 'he' / 'xavier' / 'torch').

    A callable is returned as is, so a layer's ``weight_init`` may also be any
    function f(shape, rng=None, dtype=...), e.g. ``functools.partial(constant, value=0.5)``.
    """
    if callable(name):
        return name
    if name not in _BY_NAME:
        raise ValueError(f"unknown initializer {name!r}; expected one of {sorted(_BY_NAME)}")
    return _BY_NAME[name]
