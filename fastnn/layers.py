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
import math

import numpy as np

from . import _backend, _checks
from ._modes import LayerModes
from .init import get_initializer, init_bias

__all__ = ["Layer", "Linear", "Conv2d", "ReLU", "Sigmoid", "Tanh", "Step", "MaxPool2d",
           "Flatten", "BatchNorm1d", "BatchNorm2d", "Dropout", "AvgPool2d", "AdaptiveAvgPool2d",
           "GlobalAvgPool2d", "LeakyReLU"]


class Layer(LayerModes):
    """Base class. Subclasses implement ``forward`` and ``backward``.

    From :class:`fastnn._modes.LayerModes` every layer gets ``train()``,
    ``eval()``, ``predict(x, batch_size)``, the ``training`` attribute that
    ``forward`` uses when ``training`` is not passed, and the check that
    ``backward`` does not differentiate the wrong forward (see fastnn._modes).
    """

    def __init__(self):
        self.params = {}
        self.grads = {}
        self._cache = None

    def forward(self, x, training=True):
        """Compute the output for ``x`` and cache what backward needs.

        ``training`` selects training-mode behaviour for layers that have one
        (BatchNorm1d, BatchNorm2d, Dropout; the others accept it for uniformity).
        Not given (or None), it is the layer's mode: ``self.training``, set by
        ``train()`` / ``eval()`` (True for a new layer).
        """
        raise NotImplementedError

    def backward(self, grad_output):
        """Gradient with respect to the last forward's input; fills ``grads``.

        RuntimeError when forward ran more than once since the previous
        backward and this gradient may belong to an earlier one (fastnn._modes).
        Layers with ``skips_input_grad`` True (Linear, Conv2d, Sequential) also
        take ``input_grad=False``: the input's gradient is not computed and None
        is returned (for a network's first layer, whose input is data).
        """
        raise NotImplementedError

    # True when backward() accepts input_grad=False (see backward).
    skips_input_grad = False

    def __call__(self, x, training=None):
        return self.forward(x, training)

    def parameters(self):
        """(layer, name) for each parameter, as optimizers consume them."""
        return [(self, name) for name in self.params]

    # ------------------------------------------------------------------ model-level hooks
    # Used by fastnn.summary, fastnn.gradcheck and save/load. A new layer class gets
    # sensible defaults from all of them; override where the default is wrong.

    def macs(self, input_shape, output_shape):
        """Multiply-accumulates of one forward pass from ``input_shape`` to ``output_shape``.

        One multiply-add is one MAC; bias additions are not counted. The default
        is 0, the convention for activations, pooling, normalisation, dropout and
        reshapes; :class:`Linear` and :class:`Conv2d` override it and containers
        sum their children.
        """
        return 0

    def children(self):
        """(name, layer) for each direct sub-layer: [] for a leaf layer; containers override it."""
        return []

    def named_layers(self, prefix=""):
        """(dotted name, layer) for this layer (name ``prefix``) and every layer inside it."""
        yield prefix, self
        for name, child in self.children():
            yield from child.named_layers(f"{prefix}{name}.")

    def state_dict(self):
        """{dotted name: ndarray} of every parameter and buffer of this layer and its children.

        A parameter ``weight`` of the second layer of a Sequential is ``'1.weight'``.
        Buffers are arrays a layer keeps that are not trained by gradient descent
        (e.g. batch-norm running statistics): a layer lists them in a ``buffers``
        dict attribute (name -> ndarray, updated in place), next to ``params``.
        The arrays are the live ones, not copies; :meth:`load_state_dict` writes
        into them in place.
        """
        state = {}
        for prefix, layer in self.named_layers():
            for name, array in layer.params.items():
                state[prefix + name] = array
            for name, array in getattr(layer, "buffers", {}).items():
                state[prefix + name] = array
        return state

    def load_state_dict(self, state):
        """Copy the arrays of ``state`` ({name: ndarray}, as :meth:`state_dict`) into this layer.

        Every name must be present and no other (ValueError naming the missing or
        unexpected ones); each array must have the stored array's shape
        (ValueError naming it) and is cast to the stored array's dtype. Values are
        written in place, so optimizers keep referring to the same arrays.
        """
        own = self.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            raise ValueError(f"{type(self).__name__}.load_state_dict(): state does not match "
                             f"the model: missing {missing}, unexpected {unexpected}")
        for name, array in own.items():
            value = np.asarray(state[name])
            if value.shape != array.shape:
                raise ValueError(f"{type(self).__name__}.load_state_dict(): {name!r} has shape "
                                 f"{value.shape}, the model expects {array.shape}")
        for name, array in own.items():
            array[...] = state[name]

    def config(self):
        """Constructor keyword arguments (JSON-able) that rebuild this layer, or None if unknown.

        :func:`fastnn.save` stores the architecture only when every layer of a
        model returns a config; otherwise the file holds the parameters alone and
        must be loaded into an already built model (``model.load_state(path)``).
        The default is {} for a class that keeps Layer's argument-free
        constructor (ReLU, Flatten, ...) and None otherwise: the safe answer for
        a layer whose constructor arguments are not recorded.
        """
        return {} if type(self).__init__ is Layer.__init__ else None

    def save(self, path):
        """Save parameters, buffers and (if known) the architecture: :func:`fastnn.save`."""
        from .serialization import save
        save(self, path)

    def load_state(self, path):
        """Load parameters and buffers saved by :meth:`save`: :func:`fastnn.load_state`."""
        from .serialization import load_state
        load_state(self, path)

    def _saved(self):
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward() called before forward()")
        return self._cache


class Linear(Layer):
    """Fully connected layer y = x @ weight.T + bias.

    Parameters
    ----------
    in_features, out_features : int >= 1
    bias : bool, whether to learn a bias (initialised to zeros, except with
        weight_init='torch')
    weight_init : str, one of fastnn.init's names ('kaiming_normal' = 'he'
        (default), 'kaiming_uniform', 'xavier_uniform' = 'xavier',
        'xavier_normal', 'zeros'), or 'torch': torch's default initialisation
        of weight *and* bias, both U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    rng : None, int seed or numpy Generator for the initialiser
    dtype : float32 (default) or float64

    ``params``: 'weight' (out_features, in_features), 'bias' (out_features,).
    Input (*, in_features) -> output (*, out_features).
    """

    skips_input_grad = True

    def __init__(self, in_features, out_features, bias=True, *, weight_init="kaiming_normal",
                 rng=None, dtype=np.float32):
        super().__init__()
        self.in_features = _checks.positive_int("Linear", "in_features", in_features)
        self.out_features = _checks.positive_int("Linear", "out_features", out_features)
        dt = _checks.float_dtype("Linear", dtype)
        init = get_initializer(weight_init)
        self.params["weight"] = init((self.out_features, self.in_features), rng=rng, dtype=dt)
        if bias:
            self.params["bias"] = init_bias(weight_init, self.params["weight"].shape, rng, dt)

    def forward(self, x, training=True):
        self._cache = (_backend.ops(), x)
        return self._cache[0].linear(x, self.params["weight"], self.params.get("bias"))

    def backward(self, grad_output, input_grad=True):
        """As :meth:`Layer.backward`; ``input_grad=False`` skips the input gradient
        (one GEMM fewer) and returns None: for a first layer, whose input is data."""
        F, x = self._saved()
        gx, gw, gb = F.linear_backward(grad_output, x, self.params["weight"],
                                       input_grad=input_grad)
        self.grads = {"weight": gw}
        if "bias" in self.params:
            self.grads["bias"] = gb
        return gx

    def macs(self, input_shape, output_shape):
        """rows * in_features * out_features, rows = prod(input_shape[:-1]); biases not counted."""
        rows = int(np.prod(input_shape[:-1], dtype=np.int64))
        return rows * self.in_features * self.out_features

    def config(self):
        return dict(in_features=self.in_features, out_features=self.out_features,
                    bias="bias" in self.params, dtype=self.params["weight"].dtype.name)

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
    bias : bool, whether to learn a bias (zeros; U(-1/sqrt(fan_in), ..) with
        weight_init='torch')
    algorithm : 'auto' (default), 'direct', 'im2col', '1x1' or 'winograd'
    weight_init, rng, dtype : as :class:`Linear`

    ``params``: 'weight' (C_out, C_in, kH, kW), 'bias' (C_out,).
    """

    skips_input_grad = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 bias=True, *, algorithm="auto", weight_init="kaiming_normal", rng=None,
                 dtype=np.float32):
        super().__init__()
        self.in_channels = _checks.positive_int("Conv2d", "in_channels", in_channels)
        self.out_channels = _checks.positive_int("Conv2d", "out_channels", out_channels)
        self.kernel_size = _checks.pair("Conv2d", "kernel_size", kernel_size, 1)
        # Checked and normalised here, so a bad layer fails when built, not at its first
        # forward, and every call passes plain int pairs.
        self.stride = _checks.pair("Conv2d", "stride", stride, 1)
        self.dilation = _checks.pair("Conv2d", "dilation", dilation, 1)
        if isinstance(padding, str):
            self.padding = _checks.choice("Conv2d", "padding", padding, ("same", "valid"))
        else:
            self.padding = _checks.pair("Conv2d", "padding", padding, 0)
        _checks.choice("Conv2d", "algorithm", algorithm, _checks.CONV_ALGORITHMS)
        self.algorithm = algorithm
        dt = _checks.float_dtype("Conv2d", dtype)
        init = get_initializer(weight_init)
        shape = (self.out_channels, self.in_channels) + self.kernel_size
        self.params["weight"] = init(shape, rng=rng, dtype=dt)
        if bias:
            self.params["bias"] = init_bias(weight_init, shape, rng, dt)

    def _geometry(self):
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                    algorithm=self.algorithm)

    def forward(self, x, training=True):
        self._cache = (_backend.ops(), x)
        return self._cache[0].conv2d(x, self.params["weight"], self.params.get("bias"),
                                     **self._geometry())

    def backward(self, grad_output, input_grad=True):
        """As :meth:`Layer.backward`; ``input_grad=False`` skips the input gradient
        (the grad-input pass of the convolution) and returns None: for a first layer."""
        F, x = self._saved()
        gx, gw, gb = F.conv2d_backward(grad_output, x, self.params["weight"],
                                       **self._geometry(), input_grad=input_grad)
        self.grads = {"weight": gw}
        if "bias" in self.params:
            self.grads["bias"] = gb
        return gx

    def macs(self, input_shape, output_shape):
        """N * C_out * H_out * W_out * C_in * kH * kW (bias adds not counted; groups is always 1)."""
        n, c_out, h_out, w_out = output_shape
        kh, kw = self.kernel_size
        return int(n) * c_out * int(h_out) * int(w_out) * self.in_channels * kh * kw

    def config(self):
        return dict(in_channels=self.in_channels, out_channels=self.out_channels,
                    kernel_size=list(self.kernel_size), stride=_jsonable(self.stride),
                    padding=_jsonable(self.padding), dilation=_jsonable(self.dilation),
                    bias="bias" in self.params, algorithm=self.algorithm,
                    dtype=self.params["weight"].dtype.name)

    def __repr__(self):
        return (f"Conv2d({self.in_channels}, {self.out_channels}, "
                f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding!r}, dilation={self.dilation}, "
                f"bias={'bias' in self.params})")


def _jsonable(value):
    """An int, str or pair as plain JSON values (tuples become lists, numpy ints become ints)."""
    if isinstance(value, (tuple, list)):
        return [int(v) for v in value]
    return value if isinstance(value, str) else int(value)


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
    """2-D max pooling (see fastnn.functional.max_pool2d); caches the argmax indices.

    ``ceil_mode=True`` rounds the output size up (torch semantics).
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        super().__init__()
        self.kernel_size = _checks.pair("MaxPool2d", "kernel_size", kernel_size, 1)
        self.stride = self.kernel_size if stride is None else \
            _checks.pair("MaxPool2d", "stride", stride, 1)
        self.padding = _checks.pair("MaxPool2d", "padding", padding, 0)
        self.ceil_mode = _checks.flag("MaxPool2d", "ceil_mode", ceil_mode)
        # Checked here so a bad layer fails when built, not at its first forward.
        half = (self.kernel_size[0] // 2, self.kernel_size[1] // 2)
        if self.padding[0] > half[0] or self.padding[1] > half[1]:
            raise ValueError(f"MaxPool2d(): padding must be at most half the kernel size {half} "
                             f"for kernel_size={kernel_size!r}, got {padding!r}")

    def forward(self, x, training=True):
        F = _backend.ops()
        out, indices = F.max_pool2d(x, self.kernel_size, self.stride, self.padding,
                                    return_indices=True, ceil_mode=self.ceil_mode)
        self._cache = (F, x, indices)
        return out

    def backward(self, grad_output):
        F, x, indices = self._saved()
        return F.max_pool2d_backward(grad_output, x, self.kernel_size, self.stride,
                                     self.padding, indices=indices, ceil_mode=self.ceil_mode)

    def config(self):
        return dict(kernel_size=list(self.kernel_size), stride=list(self.stride),
                    padding=list(self.padding), ceil_mode=self.ceil_mode)

    def __repr__(self):
        return (f"MaxPool2d(kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, ceil_mode={self.ceil_mode})")


class AvgPool2d(Layer):
    """2-D average pooling (see fastnn.functional.avg_pool2d).

    Parameters
    ----------
    kernel_size, stride (default kernel_size), padding : int or (int, int)
    ceil_mode : bool, round the output size up (torch semantics)
    count_include_pad : bool, whether zero padding counts in the divisor (default True)
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True):
        super().__init__()
        self.kernel_size = _checks.pair("AvgPool2d", "kernel_size", kernel_size, 1)
        self.stride = self.kernel_size if stride is None else \
            _checks.pair("AvgPool2d", "stride", stride, 1)
        self.padding = _checks.pair("AvgPool2d", "padding", padding, 0)
        self.ceil_mode = _checks.flag("AvgPool2d", "ceil_mode", ceil_mode)
        self.count_include_pad = _checks.flag("AvgPool2d", "count_include_pad",
                                              count_include_pad)

    def _geometry(self):
        return dict(kernel_size=self.kernel_size, stride=self.stride, padding=self.padding,
                    ceil_mode=self.ceil_mode, count_include_pad=self.count_include_pad)

    def forward(self, x, training=True):
        self._cache = (_backend.ops(), x)
        return self._cache[0].avg_pool2d(x, **self._geometry())

    def backward(self, grad_output):
        F, x = self._saved()
        return F.avg_pool2d_backward(grad_output, x, **self._geometry())

    def config(self):
        return dict(kernel_size=list(self.kernel_size), stride=list(self.stride),
                    padding=list(self.padding), ceil_mode=self.ceil_mode,
                    count_include_pad=self.count_include_pad)

    def __repr__(self):
        return (f"AvgPool2d(kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, ceil_mode={self.ceil_mode}, "
                f"count_include_pad={self.count_include_pad})")


class AdaptiveAvgPool2d(Layer):
    """Adaptive average pooling (N, C, H, W) -> (N, C, 1, 1); only output_size=1 is supported.

    Other output sizes raise NotImplementedError when the layer is built.
    """

    def __init__(self, output_size=1):
        super().__init__()
        size = _checks.pair(type(self).__name__, "output_size", output_size, 1)
        if size != (1, 1):
            raise NotImplementedError(f"{type(self).__name__}(): only output_size=1 (global "
                                      f"average pooling) is supported, got {output_size!r}")
        self.output_size = 1

    def forward(self, x, training=True):
        self._cache = (_backend.ops(), x)
        return self._cache[0].adaptive_avg_pool2d(x, self.output_size)

    def backward(self, grad_output):
        F, x = self._saved()
        return F.adaptive_avg_pool2d_backward(grad_output, x, self.output_size)

    def config(self):
        return dict(output_size=self.output_size)

    def __repr__(self):
        return f"AdaptiveAvgPool2d(output_size={self.output_size})"


class GlobalAvgPool2d(AdaptiveAvgPool2d):
    """Global average pooling: the mean of each channel plane, (N, C, H, W) -> (N, C, 1, 1).

    The same as AdaptiveAvgPool2d(1); follow it with Flatten() for (N, C).
    """

    def __init__(self):
        super().__init__(1)

    def config(self):
        return {}

    def __repr__(self):
        return "GlobalAvgPool2d()"


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...), as torch.nn.Flatten(start_dim=1)."""

    def forward(self, x, training=True):
        if not isinstance(x, np.ndarray) or x.ndim < 1:
            raise ValueError("Flatten.forward(): x must be an ndarray with a batch dimension, "
                             f"got {getattr(x, 'shape', type(x).__name__)}")
        self._cache = x.shape
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))  # not -1: N may be 0

    def backward(self, grad_output):
        shape = self._saved()
        flat = (shape[0], math.prod(shape[1:]))
        if not isinstance(grad_output, np.ndarray) or grad_output.shape != flat:
            got = getattr(grad_output, "shape", type(grad_output).__name__)
            raise ValueError(f"Flatten.backward(): grad_output must have shape {flat}, got {got}")
        return grad_output.reshape(shape)

    def __repr__(self):
        return "Flatten()"


# Normalisation and dropout layers live in fastnn/layers_norm.py; re-exported here.
from .layers_norm import BatchNorm1d, BatchNorm2d, Dropout  # noqa: E402
