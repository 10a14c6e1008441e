"""Plain-NumPy reference implementations of every op in :mod:`fastnn.functional`.

Same function names, signatures, argument checking (shared through
``fastnn._checks``) and return conventions as fastnn.functional, written for
clarity rather than speed and sharing no computation with the Numba kernels.
They serve as the oracle of the test suite and as the ``'numpy'`` backend
(``fastnn.set_backend('numpy')``). See fastnn.functional for full docstrings.

Convolution and pooling here pad explicitly and loop over the kernel taps,
each tap being one tensordot (BLAS) over channels; pooling uses
``sliding_window_view``. The geometry (padding='same' split, output sizes,
ceil_mode windows) is computed here by enumerating window positions, not by
fastnn._geometry's formulas, so the two backends check each other; both are
pinned to torch's sizes in tests/test_geometry.py.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import _args
from . import _checks
from . import _random
from . import _reference_ext

__all__ = [
    "conv2d", "conv2d_backward", "linear", "linear_backward", "matmul", "matmul_backward",
    "relu", "relu_backward", "sigmoid", "sigmoid_backward", "tanh", "tanh_backward",
    "step", "step_backward", "softmax", "softmax_backward", "log_softmax",
    "log_softmax_backward", "cross_entropy", "cross_entropy_backward",
    "max_pool2d", "max_pool2d_backward",
    "avg_pool2d", "avg_pool2d_backward", "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward",
    "batch_norm", "batch_norm_backward", "dropout", "dropout_backward",
    "mse_loss", "mse_loss_backward", "binary_cross_entropy", "binary_cross_entropy_backward",
    "binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits_backward",
    "leaky_relu", "leaky_relu_backward",
]


# --------------------------------------------------------------------------- geometry

def _window_starts(size, extent, stride, pad_before, pad_after):
    """Starts (in padded coordinates) of every window of ``extent`` inside the padded axis."""
    return range(0, size + pad_before + pad_after - extent + 1, stride)


def _conv_geometry(x, w, g, padding):
    """conv2d geometry computed by the reference itself (strides/dilations as validated in g)."""
    kh, kw = w.shape[2], w.shape[3]
    ext_h, ext_w = g.dil_h * (kh - 1) + 1, g.dil_w * (kw - 1) + 1
    if padding == "same":  # output size = input size at stride 1; torch puts the odd pixel last
        pads_h = (ext_h - 1 - ext_h // 2, ext_h // 2)
        pads_w = (ext_w - 1 - ext_w // 2, ext_w // 2)
    elif padding == "valid":
        pads_h = pads_w = (0, 0)
    else:
        pads_h, pads_w = (g.pad_h, g.pad_h), (g.pad_w, g.pad_w)
    out_h = len(_window_starts(x.shape[2], ext_h, g.stride_h, *pads_h))
    out_w = len(_window_starts(x.shape[3], ext_w, g.stride_w, *pads_w))
    return g._replace(pad_h=pads_h[0], pad_bottom=pads_h[1], pad_w=pads_w[0],
                      pad_right=pads_w[1], out_h=out_h, out_w=out_w)


def _pool_axis(size, k, stride, pad, ceil_mode):
    """Number of pooling windows along one axis, by torch's rule, counted window by window.

    floor mode: every window inside the padded axis. ceil mode: also a last
    window that runs past the end, as long as it starts inside the input or
    the left padding.
    """
    count, start = 0, -pad  # start of the next window, in input coordinates
    while (start + k <= size + pad
           or ceil_mode and start < size and start < size + pad - k + stride):
        count += 1
        start += stride
    return count


def _pool_geometry(x, g, ceil_mode):
    """Pooling geometry computed by the reference itself (kernel/stride/padding as validated)."""
    return g._replace(out_h=_pool_axis(x.shape[2], g.kh, g.stride_h, g.pad_h, ceil_mode),
                      out_w=_pool_axis(x.shape[3], g.kw, g.stride_w, g.pad_w, ceil_mode))


# --------------------------------------------------------------------------- conv2d

def _pad_input(x, g):
    return np.pad(x, ((0, 0), (0, 0), (g.pad_h, g.pad_bottom), (g.pad_w, g.pad_right)))


def _tap(g, i, j):
    """Slices of the padded input read by kernel tap (i, j) for every output position."""
    y0, x0 = i * g.dil_h, j * g.dil_w
    return (slice(None), slice(None),
            slice(y0, y0 + g.stride_h * (g.out_h - 1) + 1, g.stride_h),
            slice(x0, x0 + g.stride_w * (g.out_w - 1) + 1, g.stride_w))


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           algorithm="auto"):
    """Reference conv2d (``algorithm`` is validated and otherwise ignored)."""
    x, w, b, g = _args.conv2d_args("conv2d", input, weight, bias, stride, padding, dilation,
                                     groups, algorithm)
    g = _conv_geometry(x, w, g, padding)
    xp = _pad_input(x, g)
    out = np.zeros((x.shape[0], w.shape[0], g.out_h, g.out_w), dtype=x.dtype)
    for i in range(g.kh):
        for j in range(g.kw):
            # (N, C_in, OH, OW) x (C_out, C_in) -> (N, OH, OW, C_out)
            contrib = np.tensordot(xp[_tap(g, i, j)], w[:, :, i, j], axes=([1], [1]))
            out += contrib.transpose(0, 3, 1, 2)
    if b is not None:
        out += b[None, :, None, None]
    return out


def conv2d_backward(grad_output, input, weight, stride=1, padding=0, dilation=1, groups=1, *,
                    algorithm="auto", input_grad=True):
    """Reference conv2d_backward: (grad_input or None, grad_weight, grad_bias)."""
    go, x, w, g = _args.conv2d_backward_args("conv2d_backward", grad_output, input, weight,
                                               stride, padding, dilation, groups, algorithm)
    input_grad = _checks.flag("conv2d_backward", "input_grad", input_grad)
    g = _conv_geometry(x, w, g, padding)
    xp = _pad_input(x, g)
    grad_xp = np.zeros_like(xp)
    grad_weight = np.zeros_like(w)
    for i in range(g.kh):
        for j in range(g.kw):
            tap = _tap(g, i, j)
            # sum over n, y, x of grad_output[n, o, y, x] * xp[n, c, tap] -> (C_out, C_in)
            grad_weight[:, :, i, j] = np.tensordot(go, xp[tap], axes=([0, 2, 3], [0, 2, 3]))
            # (N, C_out, OH, OW) x (C_out, C_in) -> (N, OH, OW, C_in)
            if input_grad:
                grad_xp[tap] += np.tensordot(go, w[:, :, i, j], axes=([1], [0])).transpose(0, 3, 1, 2)
    h, wd = x.shape[2], x.shape[3]
    grad_input = None
    if input_grad:
        grad_input = np.ascontiguousarray(grad_xp[:, :, g.pad_h:g.pad_h + h, g.pad_w:g.pad_w + wd])
    grad_bias = go.sum(axis=(0, 2, 3))
    return grad_input, grad_weight, grad_bias


# --------------------------------------------------------------------------- linear / matmul

def linear(input, weight, bias=None):
    """Reference linear: input @ weight.T + bias."""
    x2, w, b, lead = _args.linear_args("linear", input, weight, bias)
    out = x2 @ w.T
    if b is not None:
        out += b
    return out.reshape(lead + (w.shape[0],))


def linear_backward(grad_output, input, weight, *, input_grad=True):
    """Reference linear_backward: (grad_input or None, grad_weight, grad_bias)."""
    go2, x2, w, lead = _args.linear_backward_args("linear_backward", grad_output, input,
                                                    weight)
    input_grad = _checks.flag("linear_backward", "input_grad", input_grad)
    grad_input = (go2 @ w).reshape(lead + (w.shape[1],)) if input_grad else None
    return grad_input, go2.T @ x2, go2.sum(axis=0)


def matmul(input, other):
    """Reference matmul of 2-D arrays."""
    a, b = _args.matmul_args("matmul", input, other)
    return a @ b


def matmul_backward(grad_output, input, other):
    """Reference matmul_backward: (grad_output @ other.T, input.T @ grad_output)."""
    go, a, b = _args.matmul_backward_args("matmul_backward", grad_output, input, other)
    return go @ b.T, a.T @ go


# --------------------------------------------------------------------------- activations

def _into(result, out):
    """Return result, or copy it into ``out`` (already validated by _check_out)."""
    if out is None:
        return np.asarray(result)  # a 0-d input gives a 0-d array, not a NumPy scalar
    np.copyto(out, result)
    return out


def _check_out(op, out, like, reads):
    if out is not None:
        _checks.out_array(op, out, like, reads)


def relu(input, out=None):
    x = _checks.float_array("relu", "input", input)
    _check_out("relu", out, x, (("input", x),))
    # np.where keeps NaN (NaN <= 0 is False), as the kernel does.
    return _into(np.where(x <= 0, x.dtype.type(0), x), out)


def relu_backward(grad_output, input, out=None):
    go, x = _args.elementwise_backward_args("relu_backward", grad_output, input, "input")
    _check_out("relu_backward", out, x, (("grad_output", go), ("input", x)))
    # As torch's threshold_backward: x <= 0 -> 0, else (including NaN) the gradient.
    return _into(np.where(x <= 0, go.dtype.type(0), go), out)


def leaky_relu(input, negative_slope=0.01, out=None):
    slope = _checks.real_scalar("leaky_relu", "negative_slope", negative_slope)
    x = _checks.float_array("leaky_relu", "input", input)
    _check_out("leaky_relu", out, x, (("input", x),))
    return _into(np.where(x > 0, x, x * x.dtype.type(slope)), out)


def leaky_relu_backward(grad_output, input, negative_slope=0.01, out=None):
    slope = _checks.real_scalar("leaky_relu_backward", "negative_slope", negative_slope)
    s = _checks.float_array("leaky_relu_backward", "input", input)
    go, x = _args.elementwise_backward_args("leaky_relu_backward", grad_output, s, "input")
    _check_out("leaky_relu_backward", out, x, (("grad_output", go), ("input", x)))
    return _into(np.where(x > 0, go, go * x.dtype.type(slope)), out)


def sigmoid(input, out=None):
    x = _checks.float_array("sigmoid", "input", input)
    _check_out("sigmoid", out, x, (("input", x),))
    e = np.exp(-np.abs(x))
    y = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
    return _into(y, out)


def sigmoid_backward(grad_output, output, out=None):
    go, s = _args.elementwise_backward_args("sigmoid_backward", grad_output, output, "output")
    _check_out("sigmoid_backward", out, s, (("grad_output", go), ("output", s)))
    return _into(go * s * (1 - s), out)


def tanh(input, out=None):
    x = _checks.float_array("tanh", "input", input)
    _check_out("tanh", out, x, (("input", x),))
    return _into(np.tanh(x), out)


def tanh_backward(grad_output, output, out=None):
    go, t = _args.elementwise_backward_args("tanh_backward", grad_output, output, "output")
    _check_out("tanh_backward", out, t, (("grad_output", go), ("output", t)))
    return _into(go * (1 - t * t), out)


def step(input, out=None):
    x = _checks.float_array("step", "input", input)
    _check_out("step", out, x, (("input", x),))
    one, zero = x.dtype.type(1), x.dtype.type(0)
    y = np.where(np.isnan(x), x, np.where(x >= 0, one, zero))  # step(NaN) = NaN
    return _into(y, out)


def step_backward(grad_output, input, out=None):
    go, x = _args.elementwise_backward_args("step_backward", grad_output, input, "input")
    _check_out("step_backward", out, x, (("grad_output", go), ("input", x)))
    return _into(np.zeros_like(x), out)


# --------------------------------------------------------------------------- softmax

def softmax(input, dim=-1):
    x, d = _args.softmax_args("softmax", input, dim)
    e = np.exp(x - x.max(axis=d, keepdims=True)) if x.size else x.copy()
    return e / e.sum(axis=d, keepdims=True)


def softmax_backward(grad_output, output, dim=-1):
    go, s, d = _args.softmax_backward_args("softmax_backward", grad_output, output, dim)
    return s * (go - (go * s).sum(axis=d, keepdims=True))


def _logsumexp(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def log_softmax(input, dim=-1):
    x, d = _args.softmax_args("log_softmax", input, dim)
    return x - _logsumexp(x, d) if x.size else x.copy()


def log_softmax_backward(grad_output, output, dim=-1):
    go, lp, d = _args.softmax_backward_args("log_softmax_backward", grad_output, output, dim)
    return go - np.exp(lp) * go.sum(axis=d, keepdims=True)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean"):
    if not _args.cross_entropy_plain("cross_entropy", input, target, weight, ignore_index):
        return _reference_ext.cross_entropy(input, target, weight, ignore_index, reduction)
    x, t = _args.cross_entropy_args("cross_entropy", input, target, reduction)
    if x.shape[0] == 0:
        losses = np.zeros(0, dtype=x.dtype)
    elif t.ndim == 2:  # class probabilities
        losses = -(t * (x - _logsumexp(x, 1))).sum(axis=1)
    else:
        losses = _logsumexp(x, 1)[:, 0] - x[np.arange(x.shape[0]), t]
    if reduction == "none":
        return losses
    return losses.mean() if reduction == "mean" else losses.sum()


def cross_entropy_backward(grad_output, input, target, weight=None, ignore_index=-100,
                           reduction="mean"):
    if not _args.cross_entropy_plain("cross_entropy_backward", input, target, weight,
                                     ignore_index):
        return _reference_ext.cross_entropy_backward(grad_output, input, target, weight,
                                                     ignore_index, reduction)
    x, t = _args.cross_entropy_args("cross_entropy_backward", input, target, reduction)
    scale = _args.cross_entropy_scale("cross_entropy_backward", grad_output, x, reduction)
    if x.shape[0] == 0:
        return np.zeros_like(x)
    p = np.exp(x - _logsumexp(x, 1))
    if t.ndim == 2:  # class probabilities
        return (p * t.sum(axis=1, keepdims=True) - t) * scale[:, None]
    p[np.arange(x.shape[0]), t] -= 1
    return p * scale[:, None]


# --------------------------------------------------------------------------- max_pool2d

def _ceil_extra(size, k, stride, pad, out):
    """Padding needed past the bottom/right padding for a ceil_mode last window."""
    return max(0, (out - 1) * stride + k - (size + 2 * pad))


def _windows(x, g, fill=-np.inf):
    """(N, C, OH, OW, kH*kW) view of every pooling window of x padded with ``fill``."""
    eh = _ceil_extra(x.shape[2], g.kh, g.stride_h, g.pad_h, g.out_h)
    ew = _ceil_extra(x.shape[3], g.kw, g.stride_w, g.pad_w, g.out_w)
    xp = np.pad(x, ((0, 0), (0, 0), (g.pad_h, g.pad_h + eh), (g.pad_w, g.pad_w + ew)),
                constant_values=fill)
    win = sliding_window_view(xp, (g.kh, g.kw), axis=(2, 3))
    win = win[:, :, ::g.stride_h, ::g.stride_w][:, :, :g.out_h, :g.out_w]
    return win.reshape(win.shape[:4] + (g.kh * g.kw,))


def _pool(x, g):
    win = _windows(x, g)
    # np.argmax returns the first maximum, and the first NaN if there is one.
    k = win.argmax(axis=-1)
    out = np.take_along_axis(win, k[..., None], axis=-1)[..., 0]
    oy = np.arange(g.out_h)[:, None]
    ox = np.arange(g.out_w)[None, :]
    y0 = oy * g.stride_h - g.pad_h
    x0 = ox * g.stride_w - g.pad_w
    iy, ix = y0 + k // g.kw, x0 + k % g.kw
    # A window whose real entries are all -inf can "win" on a padded position;
    # report its first real position instead (as the kernel and torch do).
    pad = (iy < 0) | (iy >= x.shape[2]) | (ix < 0) | (ix >= x.shape[3])
    iy = np.where(pad, np.maximum(y0, 0), iy)
    ix = np.where(pad, np.maximum(x0, 0), ix)
    return np.ascontiguousarray(out), (iy * x.shape[3] + ix).astype(np.int64)


def max_pool2d(input, kernel_size, stride=None, padding=0, return_indices=False,
               ceil_mode=False):
    x, g = _args.max_pool2d_args("max_pool2d", input, kernel_size, stride, padding,
                                   ceil_mode)
    g = _pool_geometry(x, g, ceil_mode)
    out, indices = _pool(x, g)
    return (out, indices) if return_indices else out


def max_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, indices=None,
                        ceil_mode=False):
    go, x, g, idx = _args.max_pool2d_backward_args("max_pool2d_backward", grad_output, input,
                                                     kernel_size, stride, padding, indices,
                                                     ceil_mode)
    g = _pool_geometry(x, g, ceil_mode)
    if idx is None:
        _, idx = _pool(x, g)
    n, c, h, w = x.shape
    grad = np.zeros((n * c, h * w), dtype=x.dtype)
    planes = np.arange(n * c)[:, None]
    n_out = g.out_h * g.out_w  # explicit, not -1: n * c may be 0
    np.add.at(grad, (planes, idx.reshape(n * c, n_out)), go.reshape(n * c, n_out))
    return grad.reshape(x.shape)


# --------------------------------------------------------------------------- avg_pool2d

def _avg_divisor(g, h, w, count_include_pad, dtype):
    """(OH, OW) divisors of avg_pool2d, torch's rule (see fastnn.functional.avg_pool2d)."""
    def axis(out, stride, pad, k, size):
        start = np.arange(out) * stride - pad
        end = np.minimum(start + k, size + pad)
        if count_include_pad:
            return end - start
        return np.minimum(end, size) - np.maximum(start, 0)
    return np.outer(axis(g.out_h, g.stride_h, g.pad_h, g.kh, h),
                    axis(g.out_w, g.stride_w, g.pad_w, g.kw, w)).astype(dtype)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    x, g, include = _args.avg_pool2d_args("avg_pool2d", input, kernel_size, stride, padding,
                                            ceil_mode, count_include_pad)
    g = _pool_geometry(x, g, ceil_mode)
    sums = _windows(x, g, fill=0.0).sum(axis=-1)
    return np.ascontiguousarray(sums / _avg_divisor(g, x.shape[2], x.shape[3], include, x.dtype))


def avg_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0,
                        ceil_mode=False, count_include_pad=True):
    go, x, g, include = _args.avg_pool2d_backward_args(
        "avg_pool2d_backward", grad_output, input, kernel_size, stride, padding, ceil_mode,
        count_include_pad)
    g = _pool_geometry(x, g, ceil_mode)
    n, c, h, w = x.shape
    eh = _ceil_extra(h, g.kh, g.stride_h, g.pad_h, g.out_h)
    ew = _ceil_extra(w, g.kw, g.stride_w, g.pad_w, g.out_w)
    grad_xp = np.zeros((n, c, h + 2 * g.pad_h + eh, w + 2 * g.pad_w + ew), dtype=x.dtype)
    share = go / _avg_divisor(g, h, w, include, x.dtype)
    for i in range(g.kh):  # every tap of every window gets the window's share
        for j in range(g.kw):
            grad_xp[:, :, i:i + g.stride_h * (g.out_h - 1) + 1:g.stride_h,
                    j:j + g.stride_w * (g.out_w - 1) + 1:g.stride_w] += share
    return np.ascontiguousarray(grad_xp[:, :, g.pad_h:g.pad_h + h, g.pad_w:g.pad_w + w])


def adaptive_avg_pool2d(input, output_size):
    x = _args.adaptive_avg_pool2d_args("adaptive_avg_pool2d", input, output_size)
    return x.mean(axis=(2, 3), keepdims=True)


def adaptive_avg_pool2d_backward(grad_output, input, output_size):
    go, x = _args.adaptive_avg_pool2d_backward_args("adaptive_avg_pool2d_backward",
                                                      grad_output, input, output_size)
    return np.broadcast_to(go / (x.shape[2] * x.shape[3]), x.shape).copy()


# --------------------------------------------------------------------------- batch_norm

def _channel_stats(x3):
    """Mean and biased variance over axes 0 and 2 of (N, C, L), computed in float64."""
    x64 = x3.astype(np.float64)
    mean = x64.mean(axis=(0, 2))
    var = ((x64 - mean[None, :, None]) ** 2).mean(axis=(0, 2))
    return mean.astype(x3.dtype), var.astype(x3.dtype)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Reference batch_norm; updates running_mean / running_var in place when training."""
    x3, rm, rv, w, b, training, momentum, eps = _args.batch_norm_args(
        "batch_norm", input, running_mean, running_var, weight, bias, training, momentum, eps)
    if training:
        mean, var = _channel_stats(x3)
        if rm is not None:
            m = x3.shape[0] * x3.shape[2]
            rm[...] = (1 - momentum) * rm + momentum * mean
            rv[...] = (1 - momentum) * rv + momentum * var * (m / (m - 1))
    else:
        mean, var = rm, rv
    out = (x3 - mean[None, :, None]) / np.sqrt(var[None, :, None] + x3.dtype.type(eps))
    if w is not None:
        out = out * w[None, :, None]
    if b is not None:
        out = out + b[None, :, None]
    return out.astype(x3.dtype, copy=False).reshape(input.shape)


def batch_norm_backward(grad_output, input, running_mean, running_var, weight=None,
                        training=False, eps=1e-5):
    """Reference batch_norm_backward: (grad_input, grad_weight, grad_bias)."""
    go3, x3, rm, rv, w, training, eps = _args.batch_norm_backward_args(
        "batch_norm_backward", grad_output, input, running_mean, running_var, weight, training,
        eps)
    mean, var = _channel_stats(x3) if training else (rm, rv)
    invstd = 1 / np.sqrt(var + x3.dtype.type(eps))
    xhat = (x3 - mean[None, :, None]) * invstd[None, :, None]
    grad_bias = go3.sum(axis=(0, 2))
    grad_weight = (go3 * xhat).sum(axis=(0, 2))
    gamma = w if w is not None else np.ones_like(invstd)
    dxhat = go3 * gamma[None, :, None]
    if training:  # CS231n's simplified form of the batch-norm input gradient
        m = x3.shape[0] * x3.shape[2]
        grad_input = (invstd[None, :, None] / m) * (
            m * dxhat - dxhat.sum(axis=(0, 2), keepdims=True)
            - xhat * (dxhat * xhat).sum(axis=(0, 2), keepdims=True))
    else:
        grad_input = dxhat * invstd[None, :, None]
    return (grad_input.astype(x3.dtype, copy=False).reshape(input.shape), grad_weight,
            grad_bias)


# --------------------------------------------------------------------------- dropout

def dropout(input, p=0.5, training=True, generator=None, return_mask=False):
    """Reference dropout: the same mask as fastnn.functional.dropout for the same generator."""
    x, p, training, gen = _args.dropout_args("dropout", input, p, training, generator)
    if not training or p == 0:
        out, mask = x, np.ones(x.shape, dtype=np.bool_)
    else:
        mask = _random.dropout_mask(gen, x.shape, p)
        with np.errstate(invalid="ignore"):  # inf * 0 = NaN, as the kernel and torch
            out = np.asarray(x * mask / x.dtype.type(1 - p))  # asarray: 0-d stays an array
    return (out, mask) if return_mask else out


def dropout_backward(grad_output, mask, p, training=True):
    go, mask, p, training = _args.dropout_backward_args("dropout_backward", grad_output, mask,
                                                          p, training)
    if not training:
        return go.copy()
    with np.errstate(invalid="ignore"):
        return np.asarray(go * mask / go.dtype.type(1 - p))


# --------------------------------------------------------------------------- losses

def _reduce(losses, reduction):
    if reduction == "none":
        return np.asarray(losses)  # a 0-d input gives a 0-d array, not a NumPy scalar
    return losses.mean() if reduction == "mean" else losses.sum()


def _loss_grad(op, grad_output, x, reduction):
    g = _args.elementwise_loss_grad(op, grad_output, x, reduction)
    return g.reshape(x.shape) if reduction == "none" else g[0]


def mse_loss(input, target, reduction="mean"):
    x, t = _args.elementwise_loss_args("mse_loss", input, target, reduction)
    return _reduce((x - t) ** 2, reduction)


def mse_loss_backward(grad_output, input, target, reduction="mean"):
    x, t = _args.elementwise_loss_args("mse_loss_backward", input, target, reduction)
    return np.asarray(2 * (x - t) * _loss_grad("mse_loss_backward", grad_output, x, reduction))


def binary_cross_entropy_with_logits(input, target, reduction="mean"):
    x, t = _args.elementwise_loss_args("binary_cross_entropy_with_logits", input, target,
                                         reduction)
    return _reduce(np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x))), reduction)


def binary_cross_entropy_with_logits_backward(grad_output, input, target, reduction="mean"):
    op = "binary_cross_entropy_with_logits_backward"
    x, t = _args.elementwise_loss_args(op, input, target, reduction)
    return np.asarray((sigmoid(x) - t) * _loss_grad(op, grad_output, x, reduction))


def binary_cross_entropy(input, target, reduction="mean"):
    x, t = _args.elementwise_loss_args("binary_cross_entropy", input, target, reduction)
    _checks.probabilities("binary_cross_entropy", "input", x)
    with np.errstate(divide="ignore"):  # log(0) = -inf, then clamped at -100 as torch
        log_p = np.maximum(np.log(x), -100)
        log_q = np.maximum(np.log1p(-x), -100)
    return _reduce(-(t * log_p + (1 - t) * log_q), reduction)


def binary_cross_entropy_backward(grad_output, input, target, reduction="mean"):
    op = "binary_cross_entropy_backward"
    x, t = _args.elementwise_loss_args(op, input, target, reduction)
    _checks.probabilities(op, "input", x)
    eps = np.float32(1e-12)  # torch's EPSILON is a C float
    return np.asarray((x - t) / np.maximum(x * (1 - x), eps)
                      * _loss_grad(op, grad_output, x, reduction))


# Twins of the op families that live in their own modules (fastnn/_reference_<family>.py).
from ._reference_recurrent import *  # noqa: E402,F401,F403
from ._reference_recurrent import __all__ as _recurrent_all  # noqa: E402
from ._reference_ext import *  # noqa: E402,F401,F403
from ._reference_ext import __all__ as _ext_all  # noqa: E402

__all__ += _recurrent_all + _ext_all


# --------------------------------------------------------------------------- docstrings

# Each public function gets a header here; the full text of its
# fastnn.functional twin is appended when fastnn.functional is imported (it
# calls _document): importing it here would import Numba, which this backend
# never needs.

def _header(name, own):
    note = f" Here: {own.strip()}" if own else ""
    return (f"Plain-NumPy reference of :func:`fastnn.functional.{name}`: the same signature, "
            f"argument checks and results (up to rounding), computed with NumPy only.{note}")


_OWN_DOCS = {name: globals()[name].__doc__ for name in __all__}
for _name in __all__:
    globals()[_name].__doc__ = _header(_name, _OWN_DOCS[_name]) + (
        "\n\n    (The full documentation is fastnn.functional's; it is appended here once "
        "fastnn.functional has been imported.)")
del _name


def _document(functional):
    """Append each public function's fastnn.functional docstring to its header."""
    for name in __all__:
        twin = getattr(functional, name).__doc__ or ""
        globals()[name].__doc__ = _header(name, _OWN_DOCS[name]) + "\n\n    " + twin.lstrip()
