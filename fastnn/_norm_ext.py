"""layer_norm and group_norm, as torch.nn.functional.layer_norm / group_norm.

Statistics are per group (layer_norm: over the trailing normalized_shape
dimensions of each sample; group_norm: over C/G channels and all spatial
positions of each sample), the variance biased (divided by the count), and
computed in float64 for both dtypes (kernels/norm.py). Backward ops recompute
the statistics and return (grad_input, grad_weight, grad_bias) (None for an
absent weight / bias).
"""
import math

import numpy as np

from . import _args_ext as _ce
from . import _tuning
from .kernels import norm as _k

__all__ = ["layer_norm", "layer_norm_backward", "group_norm", "group_norm_backward"]


def _threads(size):
    return _tuning.n_chunks(size, _tuning.NORM_PARALLEL_MIN)


def _ln(x, shape, w, b, eps):
    k = math.prod(shape)
    x2 = x.reshape(-1, k)
    wk = np.ones(k, x.dtype) if w is None else w.reshape(k)
    bk = np.zeros(k, x.dtype) if b is None else b.reshape(k)
    out = np.empty_like(x2)
    mean = np.empty(x2.shape[0])
    rstd = np.empty(x2.shape[0])
    threads = _threads(x.size)
    _tuning.pick(_k, "layer_norm_forward", threads)(x2, wk, bk, eps, out, mean, rstd, threads)
    return x2, wk, out, mean, rstd


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """(x - mean) / sqrt(var + eps) * weight + bias over the trailing ``normalized_shape`` dims.

    input (*, *normalized_shape) float32/float64; weight, bias of shape
    normalized_shape or None. Returns input's shape and dtype. ValueError when
    the trailing dimensions differ from normalized_shape or a parameter's shape
    does not match; TypeError for mixed dtypes.
    """
    x, shape, w, b, eps = _ce.layer_norm_args("layer_norm", input, normalized_shape, weight,
                                              bias, eps)
    return _ln(x, shape, w, b, eps)[2].reshape(x.shape)


def layer_norm_backward(grad_output, input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """(grad_input, grad_weight, grad_bias) of :func:`layer_norm`.

    grad_input = rstd * (gy - mean(gy) - xhat * mean(gy * xhat)) per sample,
    gy = grad_output * weight; grad_weight = sum of grad_output * xhat and
    grad_bias = sum of grad_output over the leading dimensions.
    """
    op = "layer_norm_backward"
    x, shape, w, b, eps = _ce.layer_norm_args(op, input, normalized_shape, weight, bias, eps)
    g = _ce.grad_like(op, grad_output, x)
    x2, wk, _, mean, rstd = _ln(x, shape, w, b, eps)
    threads = _threads(x.size)
    gx = np.empty_like(x2)
    partial = np.empty((threads, 2, x2.shape[1]))
    _tuning.pick(_k, "layer_norm_backward", threads)(g.reshape(x2.shape), x2, mean, rstd, wk, gx,
                                                     partial, threads)
    sums = partial.sum(axis=0).astype(x.dtype)
    return (gx.reshape(x.shape), None if w is None else sums[0].reshape(shape),
            None if b is None else sums[1].reshape(shape))


def _gn(x, groups, w, b, eps):
    n, c = x.shape[:2]
    x3 = x.reshape(n, c, -1)
    wc = np.ones(c, x.dtype) if w is None else w
    bc = np.zeros(c, x.dtype) if b is None else b
    out = np.empty_like(x3)
    mean = np.empty(n * groups)
    rstd = np.empty(n * groups)
    threads = _threads(x.size)
    _tuning.pick(_k, "group_norm_forward", threads)(x3, groups, wc, bc, eps, out, mean, rstd,
                                                    threads)
    return x3, wc, out, mean, rstd


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Group normalisation of input (N, C, *) over num_groups groups of C/num_groups channels.

    weight, bias : (C,) or None. Returns input's shape and dtype. ValueError when
    num_groups does not divide C; input must be at least 2-D.
    """
    x, g, w, b, eps = _ce.group_norm_args("group_norm", input, num_groups, weight, bias, eps)
    return _gn(x, g, w, b, eps)[2].reshape(x.shape)


def group_norm_backward(grad_output, input, num_groups, weight=None, bias=None, eps=1e-5):
    """(grad_input, grad_weight, grad_bias) of :func:`group_norm` (same formula per group as
    :func:`layer_norm_backward`, with gy = grad_output * weight[c])."""
    op = "group_norm_backward"
    x, groups, w, b, eps = _ce.group_norm_args(op, input, num_groups, weight, bias, eps)
    g = _ce.grad_like(op, grad_output, x)
    x3, wc, _, mean, rstd = _gn(x, groups, w, b, eps)
    threads = min(_threads(x.size), x.shape[0] * groups)
    gx = np.empty_like(x3)
    partial = np.empty((threads, 2, x3.shape[1]))
    _tuning.pick(_k, "group_norm_backward", threads)(g.reshape(x3.shape), x3, groups, mean, rstd, wc,
                                                     gx, partial, threads)
    sums = partial.sum(axis=0).astype(x.dtype)
    return (gx.reshape(x.shape), None if w is None else sums[0],
            None if b is None else sums[1])
