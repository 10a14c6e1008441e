"""softmax and log_softmax along any axis, and their backward ops (kernels/softmax.py).
"""
import math

import numpy as np

from . import _args
from . import _tuning
from .kernels import softmax as _softmax


def _rows_along(x, dim):
    """(rows, K) C-contiguous matrix with axis ``dim`` of x last, and its N-D shape."""
    if dim == x.ndim - 1 and x.flags.c_contiguous:
        # The common case (softmax over the last axis) is a free reshape;
        # moveaxis + np.prod cost ~20 us, 10x a whole 32 x 10 softmax.
        return x.reshape(math.prod(x.shape[:-1]), x.shape[-1]), x.shape
    moved = np.moveaxis(x, dim, -1)
    n_rows = math.prod(moved.shape[:-1])  # not -1: K may be 0
    return np.ascontiguousarray(moved).reshape(n_rows, x.shape[dim]), moved.shape


def _from_rows(rows, moved_shape, dim):
    if dim == len(moved_shape) - 1:
        return rows.reshape(moved_shape)
    return np.ascontiguousarray(np.moveaxis(rows.reshape(moved_shape), -1, dim))


def _rowwise(kernel, op, input, dim):
    """Run row kernel ``kernel`` (its name in kernels/softmax.py) along ``dim``: move dim last, rows contiguous, move it back."""
    x, d = _args.softmax_args(op, input, dim)
    rows, shape = _rows_along(x, d)
    out = np.empty_like(rows)
    if rows.size:
        _tuning.run(_softmax, kernel, rows.size, _tuning.SOFTMAX_PARALLEL_MIN, rows, out)
    return _from_rows(out, shape, d)


def _rowwise_backward(kernel, op, grad_output, output, dim):
    go, y, d = _args.softmax_backward_args(op, grad_output, output, dim)
    g_rows, shape = _rows_along(go, d)
    y_rows, _ = _rows_along(y, d)
    grad_input = np.empty_like(y_rows)
    if y_rows.size:
        _tuning.run(_softmax, kernel, y_rows.size, _tuning.SOFTMAX_PARALLEL_MIN, g_rows, y_rows,
                    grad_input)
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
    return _rowwise("softmax_forward", "softmax", input, dim)


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
    return _rowwise_backward("softmax_backward", "softmax_backward", grad_output, output,
                             dim)


def log_softmax(input, dim=-1):
    """log(softmax(input)) along ``dim``, computed as x - logsumexp(x), as torch.log_softmax.

    Shapes, dtypes and errors as :func:`softmax`; finite for any finite logits
    (log_softmax([-1e4, 0, 1e4]) = [-2e4, -1e4, 0]).
    """
    return _rowwise("log_softmax_forward", "log_softmax", input, dim)


def log_softmax_backward(grad_output, output, dim=-1):
    """grad_output - exp(output) * sum(grad_output, dim), where ``output`` = log_softmax(x).

    Shapes, dtypes and errors as :func:`softmax_backward`.
    """
    return _rowwise_backward("log_softmax_backward", "log_softmax_backward", grad_output,
                             output, dim)
