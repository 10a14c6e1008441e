"""Batch normalisation over (N, C, L) arrays: per-channel statistics, normalise, backward.

Dense (N, C) input is passed as (N, C, 1) and images (N, C, H, W) as (N, C, H*W),
so one set of kernels serves BatchNorm1d and BatchNorm2d. The caller turns the
statistics into per-channel coefficients (C-sized NumPy work); the kernels do
the passes over the data.

Per-channel reductions run with ``prange`` over channels: each channel's sums
belong to exactly one thread, so no partial buffers or atomics are needed. The
sums are accumulated in float64 even for float32 data: a batch of N*H*W
values summed in float32 would lose digits in the mean and, through it, in the
variance. The variance takes a second pass over (x - mean)^2 rather than
E[x^2] - mean^2, which cancels catastrophically when |mean| >> std.
"""
from numba import njit, prange

from ._config import FASTMATH


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def batch_norm_stats(x, mean, var):
    """mean[c] and biased variance var[c] of x[:, c, :] over N and L. x : (N, C, L)."""
    n_batch, chans, length = x.shape
    count = n_batch * length
    for c in prange(chans):
        s = 0.0  # float64 accumulator whatever x's dtype (module docstring)
        for n in range(n_batch):
            row = x[n, c]
            for t in range(length):
                s += row[t]
        m = s / count
        ss = 0.0
        for n in range(n_batch):
            row = x[n, c]
            for t in range(length):
                d = row[t] - m
                ss += d * d
        mean[c] = m
        var[c] = ss / count


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def batch_norm_forward(x, mean, scale, shift, out):
    """out[n, c, :] = (x[n, c, :] - mean[c]) * scale[c] + shift[c].

    With scale = weight / sqrt(var + eps) and shift = bias this is batch norm.
    x - mean is formed first (not x * scale + (shift - mean * scale)) so a
    large common offset cancels exactly before the scaling.
    """
    n_batch, chans, length = x.shape
    for task in prange(n_batch * chans):
        n = task // chans
        c = task % chans
        m, k, b = mean[c], scale[c], shift[c]
        row = x[n, c]
        orow = out[n, c]
        for t in range(length):
            orow[t] = (row[t] - m) * k + b


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def batch_norm_backward_reduce(grad_out, x, mean, sum_g, sum_gxc):
    """sum_g[c] = sum of grad_out[:, c, :]; sum_gxc[c] = sum of grad_out * (x - mean[c]).

    grad_out, x : (N, C, L); sums in float64 and stored in the outputs' dtype.
    """
    n_batch, chans, length = x.shape
    for c in prange(chans):
        m = mean[c]
        s = 0.0
        sx = 0.0
        for n in range(n_batch):
            g = grad_out[n, c]
            row = x[n, c]
            for t in range(length):
                s += g[t]
                sx += g[t] * (row[t] - m)
        sum_g[c] = s
        sum_gxc[c] = sx


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def batch_norm_backward_input(grad_out, x, mean, coef_g, coef_x, coef_1, grad_in):
    """grad_in[n, c, :] = coef_g[c] * grad_out + coef_x[c] * (x - mean[c]) + coef_1[c].

    Training mode: coef_g = w * invstd, coef_x = -coef_g * invstd^2 * sum_gxc / M,
    coef_1 = -coef_g * sum_g / M (M = N * L values per channel); eval mode:
    coef_x = coef_1 = 0. One kernel serves both.
    """
    n_batch, chans, length = x.shape
    for task in prange(n_batch * chans):
        n = task // chans
        c = task % chans
        m, a, b, d = mean[c], coef_g[c], coef_x[c], coef_1[c]
        g = grad_out[n, c]
        row = x[n, c]
        gi = grad_in[n, c]
        for t in range(length):
            gi[t] = a * g[t] + b * (row[t] - m) + d
