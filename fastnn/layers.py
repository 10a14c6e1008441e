"""Layer classes: ``forward(x, training)`` caches what ``backward(grad)`` needs.

Each layer holds its parameters in ``params`` (name -> ndarray, updated in place
by optimizers) and, after ``backward``, their gradients in ``grads`` (same
names; overwritten, not accumulated, by every backward). ``backward`` returns
the gradient with respect to the layer's input.

Layers compute with the current backend (``fastnn.set_backend``): the Numba
kernels of fastnn.functional or the NumPy reference. The backend is read at
``forward`` and the matching backward is used, so switching between a forward
and its backward is harmless.
"""
import numpy as np

from . import _backend, _checks
from .init import get_initializer

__all__ = ["Layer", "Linear", "Conv2d", "ReLU", "Sigmoid", "Tanh", "Step", "MaxPool2d",
           "Flatten", "LeakyReLU"]


class Layer:
    """Base class. Subclasses implement ``forward`` and ``backward``."""

    def __init__(self):
        self.params = {}
        self.grads = {}
        self._cache = None

    def forward(self, x, training=True):
        """Compute the output for ``x`` and cache what backward needs.

        ``training`` selects training-mode behaviour for layers that have one
        (none of the layers in this module do; they accept it for uniformity).
        """
        raise NotImplementedError

    def backward(self, grad_output):
        """Gradient with respect to the last forward's input; fills ``grads``."""
        raise NotImplementedError

    def __call__(self, x, training=True):
        return self.forward(x, training)

    def parameters(self):
        """(layer, name) for each parameter, as optimizers consume them."""
        return [(self, name) for name in self.params]

    def _saved(self):
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward() called before forward()")
        return self._cache


def _positive_int(owner, name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < 1:
        raise ValueError(f"{owner}(): {name} must be a positive int, got {value!r}")
    return int(value)


def _dtype(owner, dtype):
    dt = np.dtype(dtype)
    if dt not in _checks.FLOAT_DTYPES:
        raise TypeError(f"{owner}(): dtype must be float32 or float64, got {dt}")
    return dt


class Linear(Layer):
    """Fully connected layer y = x @ weight.T + bias.

    Parameters
    ----------
    in_features, out_features : int >= 1
    bias : bool, whether to learn a bias (initialised to zeros)
    weight_init : str, one of fastnn.init's names ('kaiming_normal' = 'he'
        (default), 'kaiming_uniform', 'xavier_uniform' = 'xavier',
        'xavier_normal', 'zeros')
    rng : None, int seed or numpy Generator for the initialiser
    dtype : float32 (default) or float64

    ``params``: 'weight' (out_features, in_features), 'bias' (out_features,).
    Input (*, in_features) -> output (*, out_features).
    """

    def __init__(self, in_features, out_features, bias=True, *, weight_init="kaiming_normal",
                 rng=None, dtype=np.float32):
        super().__init__()
        self.in_features = _positive_int("Linear", "in_features", in_features)
        self.out_features = _positive_int("Linear", "out_features", out_features)
        dt = _dtype("Linear", dtype)
        init = get_initializer(weight_init)
        self.params["weight"] = init((self.out_features, self.in_features), rng=rng, dtype=dt)
        if bias:
            self.params["bias"] = np.zeros(self.out_features, dtype=dt)

    def forward(self, x, training=True):
        self._cache = (_backend.ops(), x)
        return self._cache[0].linear(x, self.params["weight"], self.params.get("bias"))

    def backward(self, grad_output):
        F, x = self._saved()
        gx, gw, gb = F.linear_backward(grad_output, x, self.params["weight"])
        self.grads = {"weight": gw}
        if "bias" in self.params:
            self.grads["bias"] = gb
        return gx

    def __repr__(self):
        return (f"Linear(in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={'bias' in self.params})")


class Conv2d(Layer):
    """2-D convolution layer over NCHW input (see fastnn.functional.conv2d).

    Parameters
    ----------
    in_channels, out_channels : int >= 1
    kernel_size : int or (int, int)
    stride, padding, dilation : as fastnn.functional.conv2d (padding may be
        'same' or 'valid')
    bias : bool, whether to learn a bias (initialised to zeros)
    algorithm : 'auto' (default), 'direct' or 'im2col'
    weight_init, rng, dtype : as :class:`Linear`

    ``params``: 'weight' (C_out, C_in, kH, kW), 'bias' (C_out,).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 bias=True, *, algorithm="auto", weight_init="kaiming_normal", rng=None,
                 dtype=np.float32):
        super().__init__()
        self.in_channels = _positive_int("Conv2d", "in_channels", in_channels)
        self.out_channels = _positive_int("Conv2d", "out_channels", out_channels)
        self.kernel_size = _checks.pair("Conv2d", "kernel_size", kernel_size, 1)
        # Checked here so a bad layer fails when built, not at its first forward.
        _checks.pair("Conv2d", "stride", stride, 1)
        _checks.pair("Conv2d", "dilation", dilation, 1)
        if isinstance(padding, str):
            _checks.choice("Conv2d", "padding", padding, ("same", "valid"))
        else:
            _checks.pair("Conv2d", "padding", padding, 0)
        _checks.choice("Conv2d", "algorithm", algorithm, _checks.CONV_ALGORITHMS)
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.algorithm = algorithm
        dt = _dtype("Conv2d", dtype)
        init = get_initializer(weight_init)
        shape = (self.out_channels, self.in_channels) + self.kernel_size
        self.params["weight"] = init(shape, rng=rng, dtype=dt)
        if bias:
            self.params["bias"] = np.zeros(self.out_channels, dtype=dt)

    def _geometry(self):
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                    algorithm=self.algorithm)

    def forward(self, x, training=True):
        self._cache = (_backend.ops(), x)
        return self._cache[0].conv2d(x, self.params["weight"], self.params.get("bias"),
                                     **self._geometry())

    def backward(self, grad_output):
        F, x = self._saved()
        gx, gw, gb = F.conv2d_backward(grad_output, x, self.params["weight"],
                                       **self._geometry())
        self.grads = {"weight": gw}
        if "bias" in self.params:
            self.grads["bias"] = gb
        return gx

    def __repr__(self):
        return (f"Conv2d({self.in_channels}, {self.out_channels}, "
                f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding!r}, dilation={self.dilation}, "
                f"bias={'bias' in self.params})")


class _Activation(Layer):
    """An elementwise activation whose backward needs its input or its output."""
    name = None
    saves_output = False

    def forward(self, x, training=True):
        F = _backend.ops()
        y = getattr(F, self.name)(x)
        self._cache = (F, y if self.saves_output else x)
        return y

    def backward(self, grad_output):
        F, saved = self._saved()
        return getattr(F, self.name + "_backward")(grad_output, saved)

    def __repr__(self):
        return f"{type(self).__name__}()"


class ReLU(_Activation):
    """max(x, 0) elementwise; gradient exactly 0 where x <= 0."""
    name = "relu"


class LeakyReLU(_Activation):
    """x where x > 0, else negative_slope * x, as torch.nn.LeakyReLU.

    Parameters
    ----------
    negative_slope : real number, default 0.01 (TypeError otherwise)
    """
    name = "leaky_relu"

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = _checks.real_scalar("LeakyReLU", "negative_slope",
                                                  negative_slope)

    def forward(self, x, training=True):
        F = _backend.ops()
        self._cache = (F, x)
        return F.leaky_relu(x, self.negative_slope)

    def backward(self, grad_output):
        F, x = self._saved()
        return F.leaky_relu_backward(grad_output, x, self.negative_slope)

    def __repr__(self):
        return f"LeakyReLU(negative_slope={self.negative_slope})"


class Sigmoid(_Activation):
    """1 / (1 + exp(-x)) elementwise."""
    name = "sigmoid"
    saves_output = True


class Tanh(_Activation):
    """tanh(x) elementwise."""
    name = "tanh"
    saves_output = True


class Step(_Activation):
    """Hard threshold: 1 where x >= 0 else 0; its gradient is 0 (not trainable by backprop)."""
    name = "step"


class MaxPool2d(Layer):
    """2-D max pooling (see fastnn.functional.max_pool2d); caches the argmax indices."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = _checks.pair("MaxPool2d", "kernel_size", kernel_size, 1)
        self.stride = self.kernel_size if stride is None else \
            _checks.pair("MaxPool2d", "stride", stride, 1)
        self.padding = _checks.pair("MaxPool2d", "padding", padding, 0)

    def forward(self, x, training=True):
        F = _backend.ops()
        out, indices = F.max_pool2d(x, self.kernel_size, self.stride, self.padding,
                                    return_indices=True)
        self._cache = (F, x, indices)
        return out

    def backward(self, grad_output):
        F, x, indices = self._saved()
        return F.max_pool2d_backward(grad_output, x, self.kernel_size, self.stride,
                                     self.padding, indices=indices)

    def __repr__(self):
        return (f"MaxPool2d(kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding})")


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...), as torch.nn.Flatten(start_dim=1)."""

    def forward(self, x, training=True):
        if not isinstance(x, np.ndarray) or x.ndim < 1:
            raise ValueError("Flatten.forward(): x must be an ndarray with a batch dimension, "
                             f"got {getattr(x, 'shape', type(x).__name__)}")
        self._cache = x.shape
        return x.reshape(x.shape[0], int(np.prod(x.shape[1:])))  # not -1: N may be 0

    def backward(self, grad_output):
        shape = self._saved()
        flat = (shape[0], int(np.prod(shape[1:])))
        if not isinstance(grad_output, np.ndarray) or grad_output.shape != flat:
            got = getattr(grad_output, "shape", type(grad_output).__name__)
            raise ValueError(f"Flatten.backward(): grad_output must have shape {flat}, got {got}")
        return grad_output.reshape(shape)

    def __repr__(self):
        return "Flatten()"
