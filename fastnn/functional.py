"""torch.nn.functional-style ops on NumPy arrays, computed by fastnn's Numba kernels.

Every op checks its arguments (raising TypeError / ValueError that name the
argument, what it got and what it expects) before any kernel runs, allocates
its output, and calls one kernel family from :mod:`fastnn.kernels`.
:mod:`fastnn.reference` has the same functions with the same signatures in
plain NumPy.

Conventions (as torch.nn.functional):

* Images are NCHW; conv2d weights are (C_out, C_in, kH, kW); linear weights are
  (out_features, in_features). Convolution is cross-correlation.
* float32 and float64 are both supported; the output dtype is the input dtype
  and mixing dtypes raises TypeError. Other dtypes (float16, ints, complex)
  raise TypeError.
* Non-contiguous inputs (transposed, sliced, Fortran-ordered) are accepted: they
  are copied to C order once before the kernel runs. Inputs are never modified.
* Every forward op ``f`` has ``f_backward(grad_output, <saved>, ...)`` that
  returns the gradient(s) with respect to the forward's inputs, in the order of
  the forward's arguments.
"""
import math

import numpy as np
from numba import get_num_threads as _get_num_threads

from . import _checks
from .kernels import activations as _act
from .kernels import bias as _bias
from .kernels import conv_direct as _direct
from .kernels import gemm as _gemm
from .kernels import im2col as _im2col
from .kernels import pooling as _pool
from .kernels import softmax as _softmax

__all__ = [
    "conv2d", "conv2d_backward", "select_conv2d_algorithm",
    "linear", "linear_backward", "matmul", "matmul_backward",
    "relu", "relu_backward", "sigmoid", "sigmoid_backward", "tanh", "tanh_backward",
    "step", "step_backward",
    "softmax", "softmax_backward", "log_softmax", "log_softmax_backward",
    "cross_entropy", "cross_entropy_backward",
    "max_pool2d", "max_pool2d_backward",
    "leaky_relu", "leaky_relu_backward",
]


# --------------------------------------------------------------------------- GEMM helper

def _gemm_into(a, b, c, trans_a=False, trans_b=False):
    """c = op(a) @ op(b) with the Numba GEMM kernel (alpha=1, beta=0)."""
    one = c.dtype.type(1)
    _gemm.gemm(a, b, c, one, c.dtype.type(0), trans_a, trans_b)
    return c


# --------------------------------------------------------------------------- conv2d

# Measured on the development machine (2-core AMD EPYC Zen 3, float32, median
# of 5 after warm-up; README "Choosing the conv2d algorithm"): im2col + the
# Numba GEMM beat the direct kernel on all 13 shapes tried, from 9 taps
# (C_in*kH*kW) to 1728, by 1.1x-9x forward and 1.3x-8x backward. So 'auto'
# takes im2col unless its column matrix (C_in*kH*kW x N*H_out*W_out) would
# need more than IM2COL_MAX_BYTES; the direct kernel needs no extra memory.
IM2COL_MAX_BYTES = 512 * 2**20


def select_conv2d_algorithm(input_shape, weight_shape, output_hw, dtype):
    """The algorithm ``conv2d(..., algorithm='auto')`` uses for these shapes.

    Parameters
    ----------
    input_shape : tuple (N, C_in, H, W)
    weight_shape : tuple (C_out, C_in, kH, kW)
    output_hw : tuple (H_out, W_out)
    dtype : numpy dtype (float32 or float64)

    Returns
    -------
    str
        ``'im2col'`` when its column matrix takes at most ``IM2COL_MAX_BYTES``
        (512 MiB), else ``'direct'``.
    """
    n = input_shape[0]
    _, c_in, kh, kw = weight_shape
    col_bytes = c_in * kh * kw * n * output_hw[0] * output_hw[1] * np.dtype(dtype).itemsize
    return "im2col" if col_bytes <= IM2COL_MAX_BYTES else "direct"


def _im2col_matrix(x, geom):
    n, c_in = x.shape[:2]
    cols = np.empty((c_in * geom.kh * geom.kw, n * geom.out_h * geom.out_w), dtype=x.dtype)
    _im2col.im2col(x, cols, geom.kh, geom.kw, geom.stride_h, geom.stride_w, geom.pad_h,
                   geom.pad_w, geom.dil_h, geom.dil_w, geom.out_h, geom.out_w)
    return cols


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           algorithm="auto"):
    """2-D convolution (cross-correlation) over an NCHW batch, as torch.nn.functional.conv2d.

    Parameters
    ----------
    input : ndarray of shape (N, C_in, H, W), float32 or float64
    weight : ndarray of shape (C_out, C_in, kH, kW), same dtype
    bias : ndarray of shape (C_out,), same dtype, or None
    stride : int or (int, int), >= 1
    padding : int or (int, int) >= 0 (zeros on both sides), or 'valid' (no
        padding) or 'same' (output H, W = input H, W; stride 1 only; an even
        dilated kernel gets the extra row/column at the bottom/right, as torch)
    dilation : int or (int, int), >= 1
    groups : int; only 1 is supported (other values raise NotImplementedError)
    algorithm : {'auto', 'direct', 'im2col'}, keyword-only
        'direct' loops over the filter taps; 'im2col' unfolds the input into a
        (C_in*kH*kW, N*H_out*W_out) matrix and runs one GEMM; 'auto' picks with
        :func:`select_conv2d_algorithm`. All give the same result up to
        floating-point rounding.

    Returns
    -------
    ndarray of shape (N, C_out, H_out, W_out), input's dtype, where
    H_out = floor((H + pad_top + pad_bottom - dilation*(kH - 1) - 1) / stride) + 1
    and likewise W_out.

    Raises
    ------
    TypeError
        non-ndarray arguments, dtypes other than float32/float64, mixed dtypes.
    ValueError
        wrong ndim, channel mismatch, stride/dilation < 1, negative padding,
        padding='same' with stride > 1, a dilated kernel larger than the padded
        input, a bias of the wrong shape, an unknown algorithm.
    NotImplementedError
        groups != 1.

    Notes
    -----
    out[n, o, y, x] = bias[o] + sum_{c, i, j} weight[o, c, i, j] *
    input_padded[n, c, y*stride_h + i*dilation_h, x*stride_w + j*dilation_w].
    """
    x, w, b, g = _checks.conv2d_args("conv2d", input, weight, bias, stride, padding, dilation,
                                     groups, algorithm)
    if algorithm == "auto":
        algorithm = select_conv2d_algorithm(x.shape, w.shape, (g.out_h, g.out_w), x.dtype)
    n, c_out = x.shape[0], w.shape[0]
    out = np.empty((n, c_out, g.out_h, g.out_w), dtype=x.dtype)
    if out.size == 0:
        return out
    if algorithm == "direct":
        _direct.conv2d_direct_forward(x, w, out, g.stride_h, g.stride_w, g.pad_h, g.pad_w,
                                      g.dil_h, g.dil_w)
    else:
        cols = _im2col_matrix(x, g)
        out_cn = np.empty((c_out, n, g.out_h * g.out_w), dtype=x.dtype)
        _gemm_into(w.reshape(c_out, -1), cols, out_cn.reshape(c_out, -1))
        _im2col.swap_nc(out_cn, out.reshape(n, c_out, -1))
    if b is not None:
        _bias.bias_add(out.reshape(n, c_out, -1), b)
    return out


def conv2d_backward(grad_output, input, weight, stride=1, padding=0, dilation=1, groups=1, *,
                    algorithm="auto"):
    """Gradients of :func:`conv2d` with respect to input, weight and bias.

    Parameters
    ----------
    grad_output : ndarray of shape (N, C_out, H_out, W_out), dL/d(output)
    input, weight, stride, padding, dilation, groups, algorithm
        exactly as passed to :func:`conv2d` (bias is not needed).

    Returns
    -------
    grad_input : ndarray of shape (N, C_in, H, W)
    grad_weight : ndarray of shape (C_out, C_in, kH, kW)
    grad_bias : ndarray of shape (C_out,), the sum of grad_output over N, H_out,
        W_out (returned whether or not the forward had a bias).

    Raises
    ------
    As :func:`conv2d`, plus ValueError when grad_output's shape is not the
    forward output's shape.

    Notes
    -----
    grad_weight[o, c, i, j] = sum_{n, y, x} grad_output[n, o, y, x] * input_padded[n, c, y*s + i*d, x*s + j*d];
    grad_input is the adjoint of the forward map (a transposed convolution).
    """
    go, x, w, g = _checks.conv2d_backward_args("conv2d_backward", grad_output, input, weight,
                                               stride, padding, dilation, groups, algorithm)
    if algorithm == "auto":
        algorithm = select_conv2d_algorithm(x.shape, w.shape, (g.out_h, g.out_w), x.dtype)
    n, c_out = x.shape[0], w.shape[0]
    grad_input = np.empty_like(x)
    grad_weight = np.empty_like(w)
    grad_bias = np.empty(c_out, dtype=x.dtype)
    if go.size == 0:  # empty batch or empty output: nothing flows back
        grad_input[...] = 0
        grad_weight[...] = 0
        grad_bias[...] = 0
        return grad_input, grad_weight, grad_bias
    go3 = go.reshape(n, c_out, -1)
    if algorithm == "direct":
        _direct.conv2d_direct_backward_input(go, w, grad_input, g.stride_h, g.stride_w,
                                             g.pad_h, g.pad_w, g.dil_h, g.dil_w)
        _direct.conv2d_direct_backward_weight(go, x, grad_weight, g.stride_h, g.stride_w,
                                              g.pad_h, g.pad_w, g.dil_h, g.dil_w)
    else:
        go_cn = np.empty((c_out, n, go3.shape[2]), dtype=x.dtype)
        _im2col.swap_nc(go3, go_cn)
        go2 = go_cn.reshape(c_out, -1)
        cols = _im2col_matrix(x, g)
        _gemm_into(go2, cols, grad_weight.reshape(c_out, -1), trans_b=True)
        # cols is not needed any more: reuse its memory for d(cols) = W^T @ G.
        _gemm_into(w.reshape(c_out, -1), go2, cols, trans_a=True)
        _im2col.col2im(cols, grad_input, g.kh, g.kw, g.stride_h, g.stride_w, g.pad_h, g.pad_w,
                       g.dil_h, g.dil_w, g.out_h, g.out_w)
    _bias.bias_reduce(go3, grad_bias)
    return grad_input, grad_weight, grad_bias


# --------------------------------------------------------------------------- linear / matmul

def linear(input, weight, bias=None):
    """Affine map y = input @ weight.T + bias, as torch.nn.functional.linear.

    Parameters
    ----------
    input : ndarray of shape (*, in_features), float32 or float64 (any number of
        leading dimensions, e.g. (N, in_features))
    weight : ndarray of shape (out_features, in_features), same dtype
    bias : ndarray of shape (out_features,), same dtype, or None

    Returns
    -------
    ndarray of shape (*, out_features), input's dtype.

    Raises
    ------
    TypeError for non-float or mixed dtypes; ValueError for a feature-count
    mismatch or wrongly shaped weight/bias.
    """
    x2, w, b, lead = _checks.linear_args("linear", input, weight, bias)
    out = np.empty((x2.shape[0], w.shape[0]), dtype=x2.dtype)
    _gemm_into(x2, w, out, trans_b=True)
    if b is not None:
        _bias.bias_add(out.reshape(out.shape[0], out.shape[1], 1), b)
    return out.reshape(lead + (w.shape[0],))


def linear_backward(grad_output, input, weight):
    """Gradients of :func:`linear`: (grad_input, grad_weight, grad_bias).

    Parameters
    ----------
    grad_output : ndarray of shape (*, out_features)
    input : ndarray of shape (*, in_features), as passed to the forward
    weight : ndarray of shape (out_features, in_features)

    Returns
    -------
    grad_input (*, in_features) = grad_output @ weight;
    grad_weight (out_features, in_features) = grad_output^T @ input (summed over
    all leading dimensions); grad_bias (out_features,) = grad_output summed over
    all leading dimensions.
    """
    go2, x2, w, lead = _checks.linear_backward_args("linear_backward", grad_output, input,
                                                    weight)
    m, out_f = go2.shape
    grad_input = _gemm_into(go2, w, np.empty((m, w.shape[1]), dtype=x2.dtype))
    grad_weight = _gemm_into(go2, x2, np.empty_like(w), trans_a=True)
    grad_bias = np.empty(out_f, dtype=x2.dtype)
    _bias.bias_reduce(go2.reshape(m, out_f, 1), grad_bias)
    return grad_input.reshape(lead + (w.shape[1],)), grad_weight, grad_bias


def matmul(input, other):
    """Matrix product of two 2-D arrays with fastnn's GEMM kernel.

    Parameters
    ----------
    input : ndarray of shape (M, K), float32 or float64
    other : ndarray of shape (K, N), same dtype

    Returns
    -------
    ndarray of shape (M, N). Raises ValueError on mismatched inner dimensions.
    """
    a, b = _checks.matmul_args("matmul", input, other)
    return _gemm_into(a, b, np.empty((a.shape[0], b.shape[1]), dtype=a.dtype))


def matmul_backward(grad_output, input, other):
    """Gradients of :func:`matmul`: (grad_output @ other.T, input.T @ grad_output)."""
    go, a, b = _checks.matmul_backward_args("matmul_backward", grad_output, input, other)
    grad_input = _gemm_into(go, b, np.empty_like(a), trans_b=True)
    grad_other = _gemm_into(a, go, np.empty_like(b), trans_a=True)
    return grad_input, grad_other


# --------------------------------------------------------------------------- activations

# Below these sizes an elementwise call runs serially on the calling thread:
# starting a prange region costs ~2 us plus waking the other thread. Measured
# per element on one thread (2-core Zen 3, float32, in cache): relu / step /
# the backward products ~0.2 ns, sigmoid ~0.9 ns, tanh ~1.3 ns. So a parallel
# split pays off from a few tens of thousands of cheap elements, but already
# from a few thousand sigmoid / tanh elements (more work per element).
ELEMENTWISE_PARALLEL_MIN = 32768
TRANSCENDENTAL_PARALLEL_MIN = 8192
# Outputs at least this large are written with non-temporal (streaming)
# stores: they do not fit in the 32 MiB L3 next to their input, so a normal
# store would first read every output line from memory (see
# kernels/mathfun.py stream_store; relu on 64 MiB: ~70% -> ~100% of np.copyto).
STREAMING_MIN_BYTES = 16 * 2**20
# sigmoid / tanh forward do not stream: with ~1 ns of arithmetic per element,
# the streaming path (compute a block into a buffer, then store it) measured
# slower than plain stores (serial, 4M float32: 0.8 ns/element plain, 1.1-8.7
# ns streaming over four noisy runs), while relu streamed faster (0.41 vs
# 0.46). The kernels support it; tests switch it on to exercise it.
TRANSCENDENTAL_STREAMING = False


def _split(n_elements, nbytes, transcendental):
    """(n_chunks, stream) arguments of an activation kernel for an output of this size."""
    if transcendental:
        parallel = n_elements >= TRANSCENDENTAL_PARALLEL_MIN
        stream = TRANSCENDENTAL_STREAMING and nbytes >= STREAMING_MIN_BYTES
    else:
        parallel = n_elements >= ELEMENTWISE_PARALLEL_MIN
        stream = nbytes >= STREAMING_MIN_BYTES
    return (_get_num_threads() if parallel else 1), stream


def _elementwise(kernel, op, input, out, transcendental, *scalars):
    x = _checks.float_array(op, "input", input)
    if out is None:
        out = np.empty_like(x)
    else:
        _checks.out_array(op, out, x, reads=(("input", x),))
    kernel(x.reshape(-1), out.reshape(-1), *scalars, *_split(x.size, x.nbytes, transcendental))
    return out


def _elementwise_backward(kernel, op, grad_output, saved, saved_name, out, *scalars):
    go, s = _checks.elementwise_backward_args(op, grad_output, saved, saved_name)
    if out is None:
        out = np.empty_like(s)
    else:
        _checks.out_array(op, out, s, reads=(("grad_output", go), (saved_name, s)))
    kernel(go.reshape(-1), s.reshape(-1), out.reshape(-1), *scalars,
           *_split(s.size, s.nbytes, False))
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
    return _elementwise(_act.relu_forward, "relu", input, out, False)


def relu_backward(grad_output, input, out=None):
    """grad_output where input > 0, else exactly 0 (relu'(0) = 0).

    input is the forward's input; both arrays share one shape and dtype. As
    torch's threshold_backward, an input of NaN passes grad_output through
    (the test is ``input <= 0``, false for NaN). ``out`` as for :func:`relu`.
    """
    return _elementwise_backward(_act.relu_backward, "relu_backward", grad_output, input,
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
    return _elementwise(_act.leaky_relu_forward, "leaky_relu", x, out, False,
                        x.dtype.type(slope))


def leaky_relu_backward(grad_output, input, negative_slope=0.01, out=None):
    """grad_output where input > 0, else negative_slope * grad_output (torch's convention:
    slope at input = 0 and at NaN). input is the forward's input; ``out`` as for :func:`relu`."""
    slope = _checks.real_scalar("leaky_relu_backward", "negative_slope", negative_slope)
    s = _checks.float_array("leaky_relu_backward", "input", input)
    return _elementwise_backward(_act.leaky_relu_backward, "leaky_relu_backward", grad_output,
                                 s, "input", out, s.dtype.type(slope))


def sigmoid(input, out=None):
    """1 / (1 + exp(-input)) elementwise, without overflow for any input; any shape.

    Max error ~1-2 ulp (vectorised exp, kernels/mathfun.py); sigmoid(+inf) = 1,
    sigmoid(-inf) = 0, NaN -> NaN. ``out`` as for :func:`relu`.
    """
    return _elementwise(_act.sigmoid_forward, "sigmoid", input, out, True)


def sigmoid_backward(grad_output, output, out=None):
    """grad_output * s * (1 - s), where ``output`` = s = sigmoid(input) from the forward."""
    return _elementwise_backward(_act.sigmoid_backward, "sigmoid_backward", grad_output, output,
                                 "output", out)


def tanh(input, out=None):
    """tanh(input) elementwise; any shape. Max error ~1-2 ulp; tanh(+-inf) = +-1.

    ``out`` as for :func:`relu`.
    """
    return _elementwise(_act.tanh_forward, "tanh", input, out, True)


def tanh_backward(grad_output, output, out=None):
    """grad_output * (1 - t^2), where ``output`` = t = tanh(input) from the forward."""
    return _elementwise_backward(_act.tanh_backward, "tanh_backward", grad_output, output,
                                 "output", out)


def step(input, out=None):
    """Hard threshold (Heaviside step): 1 where input >= 0, else 0; step(NaN) = NaN.

    The threshold unit of the perceptron / "hard-coded MLP" exercises; any
    shape, float32/float64. ``out`` as for :func:`relu`.
    """
    return _elementwise(_act.step_forward, "step", input, out, False)


def step_backward(grad_output, input, out=None):
    """Zeros: the step function's derivative is 0 everywhere except at 0, where it is undefined."""
    return _elementwise_backward(_act.step_backward, "step_backward", grad_output, input,
                                 "input", out)


for _f in (relu, relu_backward, leaky_relu, leaky_relu_backward, sigmoid, sigmoid_backward,
           tanh, tanh_backward, step, step_backward):
    _f.__doc__ += "\n    " + _OUT_DOC + "\n"
del _f


# --------------------------------------------------------------------------- softmax

def _rows_along(x, dim):
    """(rows, K) C-contiguous matrix with axis ``dim`` of x last, and its N-D shape."""
    if dim == x.ndim - 1 and x.flags.c_contiguous:
        # The common case (softmax over the last axis) is a free reshape;
        # moveaxis + np.prod cost ~20 us, 10x a whole 32 x 10 softmax.
        return x.reshape(math.prod(x.shape[:-1]), x.shape[-1]), x.shape
    moved = np.moveaxis(x, dim, -1)
    n_rows = int(np.prod(moved.shape[:-1]))  # not -1: K may be 0
    return np.ascontiguousarray(moved).reshape(n_rows, x.shape[dim]), moved.shape


def _from_rows(rows, moved_shape, dim):
    if dim == len(moved_shape) - 1:
        return rows.reshape(moved_shape)
    return np.ascontiguousarray(np.moveaxis(rows.reshape(moved_shape), -1, dim))


# Softmax-family calls on fewer elements (rows x K) than this run serially:
# a prange region costs ~2 us to start, while a softmax row of K floats takes
# ~1 ns per element on one thread, so the demo's 32 x 10 logits (~0.3 us of
# work) would spend most of their time starting threads. Measured with
# examples/bench_elementwise.py --small.
SOFTMAX_PARALLEL_MIN = 8192


def _rowwise(kernel, op, input, dim):
    """Run a row kernel along ``dim``: move dim last, rows contiguous, move it back."""
    x, d = _checks.softmax_args(op, input, dim)
    rows, shape = _rows_along(x, d)
    out = np.empty_like(rows)
    if rows.size:
        kernel(rows, out, rows.size >= SOFTMAX_PARALLEL_MIN)
    return _from_rows(out, shape, d)


def _rowwise_backward(kernel, op, grad_output, output, dim):
    go, y, d = _checks.softmax_backward_args(op, grad_output, output, dim)
    g_rows, shape = _rows_along(go, d)
    y_rows, _ = _rows_along(y, d)
    grad_input = np.empty_like(y_rows)
    if y_rows.size:
        kernel(g_rows, y_rows, grad_input, y_rows.size >= SOFTMAX_PARALLEL_MIN)
    return _from_rows(grad_input, shape, d)


def softmax(input, dim=-1):
    """softmax along ``dim``: exp(x - max) / sum(exp(x - max)), as torch.softmax.

    Parameters
    ----------
    input : ndarray of any shape with ndim >= 1, float32 or float64
    dim : int, the axis that sums to 1 (default the last; negative counts from the end)

    Returns
    -------
    ndarray of input's shape and dtype. Shift-invariant; never overflows
    (softmax([1000, 1001]) = [0.2689, 0.7311]).

    Raises
    ------
    TypeError for a non-float input or a non-int dim; ValueError for a 0-d
    input or dim out of range.
    """
    return _rowwise(_softmax.softmax_forward, "softmax", input, dim)


def softmax_backward(grad_output, output, dim=-1):
    """J^T grad_output for s = softmax(x): s * (grad_output - sum(grad_output * s, dim)).

    Parameters
    ----------
    grad_output : ndarray, dL/ds, same shape and dtype as output
    output : ndarray, the forward's result s = softmax(x, dim)
    dim : int, as passed to :func:`softmax`

    Returns
    -------
    ndarray dL/dx of output's shape and dtype. The K x K Jacobian
    diag(s) - s s^T is never formed.

    Raises
    ------
    As :func:`softmax`, plus ValueError/TypeError when grad_output's shape or
    dtype differs from output's.
    """
    return _rowwise_backward(_softmax.softmax_backward, "softmax_backward", grad_output, output,
                             dim)


def log_softmax(input, dim=-1):
    """log(softmax(input)) along ``dim``, computed as x - logsumexp(x), as torch.log_softmax.

    Shapes, dtypes and errors as :func:`softmax`; finite for any finite logits
    (log_softmax([-1e4, 0, 1e4]) = [-2e4, -1e4, 0]).
    """
    return _rowwise(_softmax.log_softmax_forward, "log_softmax", input, dim)


def log_softmax_backward(grad_output, output, dim=-1):
    """grad_output - exp(output) * sum(grad_output, dim), where ``output`` = log_softmax(x).

    Shapes, dtypes and errors as :func:`softmax_backward`.
    """
    return _rowwise_backward(_softmax.log_softmax_backward, "log_softmax_backward", grad_output,
                             output, dim)


def cross_entropy(input, target, reduction="mean"):
    """Softmax cross-entropy of logits against class indices, as torch.nn.functional.cross_entropy.

    Parameters
    ----------
    input : ndarray of shape (N, C), unnormalised logits, float32 or float64
    target : ndarray of shape (N,), integer class indices in [0, C)
    reduction : {'mean', 'sum', 'none'}

    Returns
    -------
    For 'mean' / 'sum' a NumPy scalar of input's dtype; for 'none' an ndarray
    of shape (N,). loss_n = logsumexp(input[n]) - input[n, target[n]].

    Raises
    ------
    TypeError for non-integer targets; ValueError for targets outside [0, C),
    mismatched N, an unknown reduction, or 'mean' over an empty batch.
    """
    x, t = _checks.cross_entropy_args("cross_entropy", input, target, reduction)
    losses = np.empty(x.shape[0], dtype=x.dtype)
    if x.shape[0]:
        _softmax.softmax_cross_entropy_forward(x, t, losses, x.size >= SOFTMAX_PARALLEL_MIN)
    if reduction == "none":
        return losses
    return losses.mean() if reduction == "mean" else losses.sum()


def cross_entropy_backward(grad_output, input, target, reduction="mean"):
    """dL/d(input) of :func:`cross_entropy`: scale_n * (softmax(input[n]) - onehot(target[n])).

    Parameters
    ----------
    grad_output : scalar for reduction 'mean' / 'sum' (1.0 for the loss itself),
        ndarray of shape (N,) for 'none'
    input, target, reduction : as passed to the forward

    Returns
    -------
    ndarray of shape (N, C); for 'mean', scale_n = grad_output / N.
    """
    x, t = _checks.cross_entropy_args("cross_entropy_backward", input, target, reduction)
    scale = _checks.cross_entropy_scale("cross_entropy_backward", grad_output, x, reduction)
    grad_input = np.empty_like(x)
    if x.shape[0]:
        _softmax.softmax_cross_entropy_backward(x, t, scale, grad_input,
                                                x.size >= SOFTMAX_PARALLEL_MIN)
    return grad_input


# --------------------------------------------------------------------------- max_pool2d

def _max_pool_indices(x, g):
    n, c = x.shape[:2]
    out = np.empty((n, c, g.out_h, g.out_w), dtype=x.dtype)
    indices = np.empty(out.shape, dtype=np.int64)
    if out.size:
        _pool.max_pool2d_forward(x, out, indices, g.kh, g.kw, g.stride_h, g.stride_w, g.pad_h,
                                 g.pad_w)
    return out, indices


def max_pool2d(input, kernel_size, stride=None, padding=0, return_indices=False):
    """2-D max pooling over an NCHW batch, as torch.nn.functional.max_pool2d.

    Parameters
    ----------
    input : ndarray of shape (N, C, H, W), float32 or float64
    kernel_size : int or (int, int), >= 1
    stride : int or (int, int), >= 1; default kernel_size
    padding : int or (int, int), 0 <= padding <= kernel_size // 2; padded
        positions act as -inf (they never win)
    return_indices : bool; also return the argmax positions

    Returns
    -------
    out : ndarray of shape (N, C, H_out, W_out), H_out = floor((H + 2p - k) / s) + 1
    indices : int64 ndarray of the same shape (only if return_indices), the flat
        position iy * W + ix of each maximum in its input plane (torch's format).
        Ties go to the first maximum in row-major window order; NaN wins.
    """
    x, g = _checks.max_pool2d_args("max_pool2d", input, kernel_size, stride, padding)
    out, indices = _max_pool_indices(x, g)
    return (out, indices) if return_indices else out


def max_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, indices=None):
    """Gradient of :func:`max_pool2d` with respect to its input.

    Each grad_output value is routed to the input position that won its window
    (overlapping windows add up). ``indices`` from ``max_pool2d(...,
    return_indices=True)`` skips recomputing the argmax; they are checked to lie
    inside the input plane.

    Returns
    -------
    grad_input : ndarray of shape (N, C, H, W)
    """
    go, x, g, idx = _checks.max_pool2d_backward_args("max_pool2d_backward", grad_output, input,
                                                     kernel_size, stride, padding, indices)
    if idx is None:
        _, idx = _max_pool_indices(x, g)
    grad_input = np.empty_like(x)
    if grad_input.size:
        _pool.max_pool2d_backward(go, idx, grad_input)
    return grad_input
