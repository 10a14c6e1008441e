"""Batch normalisation, training and evaluation mode, and its backward op (kernels/batchnorm.py).
"""
import numpy as np

from . import _args
from . import _tuning
from .kernels import batchnorm as _kbn


def _bn(name, x3, *args):
    """Run batch-norm kernel ``name`` (kernels/batchnorm.py) for (N, C, L) input ``x3``,
    serial or parallel by its size."""
    _tuning.run(_kbn, name, x3.size, _tuning.BATCHNORM_PARALLEL_MIN, *args)


def _batch_stats(x3):
    c = x3.shape[1]
    mean = np.empty(c, dtype=x3.dtype)
    var = np.empty(c, dtype=x3.dtype)
    _bn("batch_norm_stats", x3, x3, mean, var)
    return mean, var


def _update_running_stats(running_mean, running_var, mean, var, momentum, count):
    """running = (1 - momentum) * running + momentum * batch_stat, in place (unbiased var)."""
    running_mean *= 1 - momentum
    running_mean += momentum * mean
    running_var *= 1 - momentum
    running_var += (momentum * count / (count - 1)) * var


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalisation per channel, as torch.nn.functional.batch_norm.

    Parameters
    ----------
    input : ndarray of shape (N, C), (N, C, L) or (N, C, H, W), float32 or float64
    running_mean, running_var : ndarrays of shape (C,), input's dtype, or None
        (training only: then no running statistics are kept). **Modified in
        place** when training=True, as in torch.
    weight, bias : ndarrays of shape (C,) (gamma and beta), or None (1 and 0)
    training : bool; True normalises with the batch's statistics and updates
        the running ones; False normalises with the running statistics
    momentum : float in [0, 1], weight of the new batch in the running average
    eps : float >= 0, added to the variance (eps=0 with a constant channel gives NaN)

    Returns
    -------
    ndarray of input's shape and dtype.

    Raises
    ------
    TypeError for non-float or mixed dtypes, non-bool training; ValueError for
    input with fewer than 2 dimensions, running stats / weight / bias not of
    shape (C,), missing running stats with training=False, read-only running
    stats with training=True, momentum outside [0, 1], eps < 0, and training
    with only one value per channel (N * H * W == 1).

    Notes
    -----
    With mean_c and var_c the mean and BIASED variance of channel c over the
    M = N * H * W values of the batch (training) or the running statistics
    (evaluation):

        out = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c

    Training also updates, in place (torch's convention, unbiased variance):

        running_mean = (1 - momentum) * running_mean + momentum * mean_c
        running_var  = (1 - momentum) * running_var  + momentum * var_c * M / (M - 1)

    Batch statistics are computed in float64 and stored in input's dtype.
    Ioffe & Szegedy (2015), "Batch Normalization".
    """
    x3, rm, rv, w, b, training, momentum, eps = _args.batch_norm_args(
        "batch_norm", input, running_mean, running_var, weight, bias, training, momentum, eps)
    n, c, length = x3.shape
    dt = x3.dtype
    if training:
        mean, var = _batch_stats(x3)
        if rm is not None:
            _update_running_stats(rm, rv, mean, var, momentum, n * length)
    else:
        mean, var = np.ascontiguousarray(rm), np.ascontiguousarray(rv)
    scale = (1 / np.sqrt(var + dt.type(eps))).astype(dt)
    if w is not None:
        scale *= w
    shift = b if b is not None else np.zeros(c, dtype=dt)
    out = np.empty_like(x3)
    if out.size:
        _bn("batch_norm_forward", x3, x3, mean, scale, shift, out)
    return out.reshape(input.shape)


def batch_norm_backward(grad_output, input, running_mean, running_var, weight=None,
                        training=False, eps=1e-5):
    """Gradients of :func:`batch_norm`: (grad_input, grad_weight, grad_bias).

    Parameters
    ----------
    grad_output : ndarray of input's shape, dL/d(output)
    input, running_mean, running_var, weight, training, eps : as passed to the
        forward (bias and momentum are not needed). In training mode the batch
        statistics are recomputed from ``input`` and the running statistics are
        neither needed (may be None) nor read; in evaluation mode they must be
        the ones the forward used.

    Returns
    -------
    grad_input : ndarray of input's shape
    grad_weight : ndarray (C,), sum over N, H, W of grad_output * x_hat
    grad_bias : ndarray (C,), sum over N, H, W of grad_output
    (grad_weight and grad_bias are returned even when weight / bias were None.)

    Notes
    -----
    x_hat = (x - mean) * invstd, invstd = 1 / sqrt(var + eps), k = weight * invstd.
    Training (the batch statistics depend on x; M values per channel):

        grad_input = k * (g - sum(g) / M - x_hat * sum(g * x_hat) / M)

    Evaluation (fixed running statistics): grad_input = k * g.
    """
    go3, x3, rm, rv, w, training, eps = _args.batch_norm_backward_args(
        "batch_norm_backward", grad_output, input, running_mean, running_var, weight, training,
        eps)
    n, c, length = x3.shape
    dt = x3.dtype
    mean, var = _batch_stats(x3) if training else (rm, rv)
    invstd = (1 / np.sqrt(var + dt.type(eps))).astype(dt)
    sum_g = np.zeros(c, dtype=dt)
    sum_gxc = np.zeros(c, dtype=dt)
    if x3.size:
        _bn("batch_norm_backward_reduce", x3, go3, x3, mean, sum_g, sum_gxc)
    grad_weight = sum_gxc * invstd
    k = invstd * w if w is not None else invstd
    if training:
        count = n * length
        coef_x = -k * invstd * invstd * sum_gxc / dt.type(count)
        coef_1 = -k * sum_g / dt.type(count)
    else:
        coef_x = coef_1 = np.zeros(c, dtype=dt)
    grad_input = np.empty_like(x3)
    if x3.size:
        _bn("batch_norm_backward_input", x3, go3, x3, mean, k, coef_x, coef_1, grad_input)
    return grad_input.reshape(input.shape), grad_weight, sum_g
