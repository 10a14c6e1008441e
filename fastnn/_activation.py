"""Elementwise activations and their derivatives (kernels/activations.py).
"""
import numpy as np

from . import _args
from . import _checks
from . import _tuning
from .kernels import activations as _act


def _kernel(name, n_elements, nbytes, transcendental):
    """(kernel, n_chunks): the variant of activation kernel ``name`` for this output.

    Serial or parallel by size (sigmoid and tanh forward, compute-bound, go
    parallel sooner). Outputs of at least STREAMING_MIN_BYTES of the
    memory-bound kernels (all but sigmoid / tanh forward, which measured slower
    streaming) go to the streaming kernel (kernels/activations.py).
    """
    if not transcendental and nbytes >= _tuning.STREAMING_MIN_BYTES:
        return getattr(_act, name + "_stream"), _tuning.n_chunks(n_elements, 1)
    threshold = (_tuning.TRANSCENDENTAL_PARALLEL_MIN if transcendental
                 else _tuning.ELEMENTWISE_PARALLEL_MIN)
    return _tuning.variant(_act, name, n_elements, threshold)


def _elementwise(name, op, input, out, transcendental, *scalars):
    x = _checks.float_array(op, "input", input)
    if out is None:
        out = np.empty_like(x)
    else:
        _checks.out_array(op, out, x, reads=(("input", x),))
    kernel, n_chunks = _kernel(name, x.size, x.nbytes, transcendental)
    kernel(x.reshape(-1), out.reshape(-1), *scalars, n_chunks)
    return out


def _elementwise_backward(name, op, grad_output, saved, saved_name, out, *scalars):
    go, s = _args.elementwise_backward_args(op, grad_output, saved, saved_name)
    if out is None:
        out = np.empty_like(s)
    else:
        _checks.out_array(op, out, s, reads=(("grad_output", go), (saved_name, s)))
    kernel, n_chunks = _kernel(name, s.size, s.nbytes, False)
    kernel(go.reshape(-1), s.reshape(-1), out.reshape(-1), *scalars, n_chunks)
    return out


_OUT_DOC = """``out``: None (a new array) or an ndarray of the result's shape and dtype,
    C-contiguous and writable, which receives the result and is returned. It may
    be one of the op's inputs (in place: each element is read before it is
    written) but not partially overlap one. Errors: TypeError / ValueError
    naming the argument (non-array or wrong dtype / wrong shape, non-contiguous,
    read-only, partial overlap)."""


def relu(input, out=None):
    """max(input, 0) elementwise; any shape, float32/float64. relu(NaN) = NaN.

    out : see below. Returns ``out`` (or a new array) of input's shape and dtype.
    """
    return _elementwise("relu_forward", "relu", input, out, False)


def relu_backward(grad_output, input, out=None):
    """grad_output where input > 0, else exactly 0 (relu'(0) = 0).

    input is the forward's input; both arrays share one shape and dtype. As
    torch's threshold_backward, an input of NaN passes grad_output through
    (the test is ``input <= 0``, false for NaN). ``out`` as for :func:`relu`.
    """
    return _elementwise_backward("relu_backward", "relu_backward", grad_output, input,
                                 "input", out)


def leaky_relu(input, negative_slope=0.01, out=None):
    """input where input > 0, else negative_slope * input, as torch.nn.functional.leaky_relu.

    Parameters
    ----------
    input : ndarray of any shape, float32 or float64
    negative_slope : real number (int or float; cast to input's dtype), default 0.01
    out : None or ndarray, as for :func:`relu`

    Returns ``out`` (or a new array) of input's shape and dtype; NaN -> NaN.
    Raises TypeError for a negative_slope that is not a real number (bool,
    str, complex, array).
    """
    slope = _checks.real_scalar("leaky_relu", "negative_slope", negative_slope)
    x = _checks.float_array("leaky_relu", "input", input)
    return _elementwise("leaky_relu_forward", "leaky_relu", x, out, False,
                        x.dtype.type(slope))


def leaky_relu_backward(grad_output, input, negative_slope=0.01, out=None):
    """grad_output where input > 0, else negative_slope * grad_output (torch's convention:
    slope at input = 0 and at NaN). input is the forward's input; ``out`` as for :func:`relu`."""
    slope = _checks.real_scalar("leaky_relu_backward", "negative_slope", negative_slope)
    s = _checks.float_array("leaky_relu_backward", "input", input)
    return _elementwise_backward("leaky_relu_backward", "leaky_relu_backward", grad_output,
                                 s, "input", out, s.dtype.type(slope))


def sigmoid(input, out=None):
    """1 / (1 + exp(-input)) elementwise, without overflow for any input; any shape.

    Max error ~1-2 ulp (vectorised exp, kernels/mathfun.py); sigmoid(+inf) = 1,
    sigmoid(-inf) = 0, NaN -> NaN. ``out`` as for :func:`relu`.
    """
    return _elementwise("sigmoid_forward", "sigmoid", input, out, True)


def sigmoid_backward(grad_output, output, out=None):
    """grad_output * s * (1 - s), where ``output`` = s = sigmoid(input) from the forward."""
    return _elementwise_backward("sigmoid_backward", "sigmoid_backward", grad_output, output,
                                 "output", out)


def tanh(input, out=None):
    """tanh(input) elementwise; any shape. Max error ~1-2 ulp; tanh(+-inf) = +-1.

    ``out`` as for :func:`relu`.
    """
    return _elementwise("tanh_forward", "tanh", input, out, True)


def tanh_backward(grad_output, output, out=None):
    """grad_output * (1 - t^2), where ``output`` = t = tanh(input) from the forward."""
    return _elementwise_backward("tanh_backward", "tanh_backward", grad_output, output,
                                 "output", out)


def step(input, out=None):
    """Hard threshold (Heaviside step): 1 where input >= 0, else 0; step(NaN) = NaN.

    The threshold unit of the perceptron / "hard-coded MLP" exercises; any
    shape, float32/float64. ``out`` as for :func:`relu`.
    """
    return _elementwise("step_forward", "step", input, out, False)


def step_backward(grad_output, input, out=None):
    """Zeros: the step function's derivative is 0 everywhere except at 0, where it is undefined."""
    return _elementwise_backward("step_backward", "step_backward", grad_output, input,
                                 "input", out)


for _f in (relu, relu_backward, leaky_relu, leaky_relu_backward, sigmoid, sigmoid_backward,
           tanh, tanh_backward, step, step_backward):
    _f.__doc__ += "\n    " + _OUT_DOC + "\n"
del _f
