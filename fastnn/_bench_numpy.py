"""Idiomatic NumPy versions of the benchmarked ops: the bench's "numpy" column.

What a NumPy user would write: ufuncs with ``out=`` into a preallocated array
for the elementwise ops, the max-shifted exp for the softmax family, ``np.dot``
for GEMM, and for conv2d im2col through ``sliding_window_view`` with one
``np.tensordot`` (one BLAS GEMM) per product. They are not fastnn.reference
(the test oracle, written for clarity: a tensordot per kernel tap for conv2d,
allocating ``np.where`` for the activations), which the bench reports in its
own "reference" column. tests/test_bench.py checks these against the reference.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


# --------------------------------------------------------------------------- elementwise (out=)

def relu(x, out):
    return np.maximum(x, 0, out=out)


def sigmoid(x, out):
    np.negative(x, out=out)
    np.exp(out, out=out)
    out += 1
    return np.reciprocal(out, out=out)


def tanh(x, out):
    return np.tanh(x, out=out)


def relu_backward(grad_output, input, out):
    return np.multiply(grad_output, input > 0, out=out)


def sigmoid_backward(grad_output, output, out):
    np.subtract(1, output, out=out)
    out *= output
    out *= grad_output
    return out


def tanh_backward(grad_output, output, out):
    np.multiply(output, output, out=out)
    np.subtract(1, out, out=out)
    out *= grad_output
    return out


# --------------------------------------------------------------------------- softmax family

def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    e /= e.sum(axis=-1, keepdims=True)
    return e


def log_softmax(x):
    z = x - x.max(axis=-1, keepdims=True)
    z -= np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return z


def cross_entropy(x, target):
    """Mean negative log-likelihood of integer class ``target`` under softmax(x)."""
    m = x.max(axis=-1, keepdims=True)
    lse = np.log(np.exp(x - m).sum(axis=-1)) + m[:, 0]
    return (lse - x[np.arange(len(x)), target]).mean()


# --------------------------------------------------------------------------- conv2d (im2col)

def _pad(x, before, after):
    if before == 0 and after == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (before, after), (before, after)))


def conv2d(x, weight, bias, stride, padding):
    """NCHW cross-correlation: windows (N, C, OH, OW, R, S) contracted with the weight."""
    r = weight.shape[2]
    win = sliding_window_view(_pad(x, padding, padding), (r, r), axis=(2, 3))
    win = win[:, :, ::stride, ::stride]
    out = np.tensordot(win, weight, axes=([1, 4, 5], [1, 2, 3]))   # (N, OH, OW, K)
    if bias is not None:
        out += bias
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def conv2d_backward(grad_output, x, weight, stride, padding):
    """(grad_input, grad_weight, grad_bias): im2col for grad_weight, and grad_input as the
    full correlation of the stride-dilated grad_output with the flipped kernel."""
    n, c, h, w_ = x.shape
    k, _, r, _ = weight.shape
    win = sliding_window_view(_pad(x, padding, padding), (r, r), axis=(2, 3))
    win = win[:, :, ::stride, ::stride]
    grad_weight = np.tensordot(grad_output, win, axes=([0, 2, 3], [0, 2, 3]))   # (K, C, R, S)
    grad_bias = grad_output.sum(axis=(0, 2, 3))
    oh, ow = grad_output.shape[2:]
    if stride > 1:
        dilated = np.zeros((n, k, (oh - 1) * stride + 1, (ow - 1) * stride + 1), x.dtype)
        dilated[:, :, ::stride, ::stride] = grad_output
    else:
        dilated = grad_output
    # rows / columns of the padded input that the strided windows never reached get zero
    extra_h = h + 2 * padding - (dilated.shape[2] + r - 1)
    extra_w = w_ + 2 * padding - (dilated.shape[3] + r - 1)
    full = np.pad(dilated, ((0, 0), (0, 0), (r - 1, r - 1 + extra_h), (r - 1, r - 1 + extra_w)))
    gwin = sliding_window_view(full, (r, r), axis=(2, 3))
    grad_xp = np.tensordot(gwin, weight[:, :, ::-1, ::-1], axes=([1, 4, 5], [0, 2, 3]))
    grad_input = grad_xp[:, padding:padding + h, padding:padding + w_].transpose(0, 3, 1, 2)
    return np.ascontiguousarray(grad_input), grad_weight, grad_bias
