"""Batch normalisation over (N, C, L) arrays: per-channel statistics, normalise, backward.

Dense (N, C) input is passed as (N, C, 1) and images (N, C, H, W) as (N, C, H*W),
so one set of kernels serves BatchNorm1d and BatchNorm2d. The caller turns the
statistics into per-channel coefficients (C-sized NumPy work); the kernels do
the passes over the data.

Memory order: every kernel walks x in memory order, split into contiguous
chunks, one per thread. A first version reduced each channel in its own prange
task, reading x[:, c, :] with a stride of C * L: fine for images, but for
dense input that uses 4 bytes of every 64-byte cache line.

``n_chunks`` (last argument, kernels/_chunks.py): 1 runs on the calling thread
(the serial kernels), n > 1 (the ``*_parallel`` kernels) splits the rows into n contiguous chunks across threads; the caller
decides (fastnn/_tuning.py BATCHNORM_PARALLEL_MIN). Reductions go through
per-chunk partials: chunk k adds its part of the sums into ``partials[k, c]``
(no two threads write one entry), and the partials are summed per channel
afterwards, in chunk order (so results depend on n_chunks by rounding only). Sums are float64 even for float32 data: a batch
of N*H*W values summed in float32 would lose digits in the mean and, through
it, in the variance. The variance takes a second pass over (x - mean)^2 rather
than E[x^2] - mean^2, which cancels catastrophically when |mean| >> std.

Two loop shapes: for L > 1 the work is the (n, c) rows of length L (inner loop
over L, vectorised); for dense input (L = 1) the (N, C, 1) array is reshaped to
(N, C) and the inner loop runs over channels. Walking length-1 rows instead
cost ~25 ns per element (index arithmetic and the set-up of a one-element
vector loop): 25.7 ms vs 0.21 ms for the forward of 4096 x 256 float32 against
the same data laid out as (1, 256, 4096), one thread. The branch is inside each
kernel, so it adds no compiled specialisation.
"""
from numba import njit, prange

import numpy as np

from ._chunks import chunk_bounds, serial_and_parallel
from ._config import CACHE, FASTMATH


@njit(cache=CACHE)
def _merge(partials, c, count):
    """Sum over chunks of partials[:, c], divided by count."""
    s = 0.0
    for k in range(partials.shape[0]):
        s += partials[k, c]
    return s / count


@njit(inline="always")
def _sum_chunk(x, center, partials, k, n_chunks, squares):
    """partials[k, c] += sum over chunk k of x[:, c, :] of (x - center[c])^p, p = 2 if squares."""
    n_batch, chans, length = x.shape
    if length == 1:  # dense: rows n, vectorised over channels
        x2 = x.reshape(n_batch, chans)
        lo, hi = chunk_bounds(n_batch, k, n_chunks)
        for n in range(lo, hi):
            for c in range(chans):
                d = x2[n, c] - center[c]
                partials[k, c] += d * d if squares else d
        return
    lo, hi = chunk_bounds(n_batch * chans, k, n_chunks)
    for j in range(lo, hi):
        n = j // chans
        c = j - n * chans
        m = center[c]
        s = 0.0
        if squares:
            for t in range(length):
                d = x[n, c, t] - m
                s += d * d
        else:
            for t in range(length):
                s += x[n, c, t] - m
        partials[k, c] += s


def batch_norm_stats(x, mean, var, n_chunks):
    """mean[c] and biased variance var[c] of x[:, c, :] over N and L.

    x : (N, C, L); mean, var : (C,), overwritten. Two passes (the mean, then
    the squares about it), each summed in float64 into per-chunk partials
    (C-sized scratch allocated here) and merged in chunk order.
    """
    n_batch, chans, length = x.shape
    count = n_batch * length
    partials = np.zeros((n_chunks, chans))
    mean64 = np.zeros(chans)
    for k in prange(n_chunks):
        _sum_chunk(x, mean64, partials, k, n_chunks, False)
    for c in range(chans):
        mean64[c] = _merge(partials, c, count)
        for k in range(n_chunks):
            partials[k, c] = 0.0
    for k in prange(n_chunks):
        _sum_chunk(x, mean64, partials, k, n_chunks, True)
    for c in range(chans):
        mean[c] = mean64[c]
        var[c] = _merge(partials, c, count)


batch_norm_stats, batch_norm_stats_parallel = serial_and_parallel(batch_norm_stats,
                                                                  fastmath=FASTMATH)


@njit(inline="always")
def _forward_chunk(x, mean, scale, shift, out, k, n_chunks):
    n_batch, chans, length = x.shape
    if length == 1:  # dense: rows n, vectorised over channels
        x2 = x.reshape(n_batch, chans)
        out2 = out.reshape(n_batch, chans)
        lo, hi = chunk_bounds(n_batch, k, n_chunks)
        for n in range(lo, hi):
            for c in range(chans):
                out2[n, c] = (x2[n, c] - mean[c]) * scale[c] + shift[c]
        return
    lo, hi = chunk_bounds(n_batch * chans, k, n_chunks)
    for j in range(lo, hi):
        n = j // chans
        c = j - n * chans
        m, a, b = mean[c], scale[c], shift[c]
        for t in range(length):
            out[n, c, t] = (x[n, c, t] - m) * a + b


def batch_norm_forward(x, mean, scale, shift, out, n_chunks):
    """out[n, c, :] = (x[n, c, :] - mean[c]) * scale[c] + shift[c].

    With scale = weight / sqrt(var + eps) and shift = bias this is batch norm.
    x - mean is formed first (not x * scale + (shift - mean * scale)) so a
    large common offset cancels exactly before the scaling.
    """
    for k in prange(n_chunks):
        _forward_chunk(x, mean, scale, shift, out, k, n_chunks)


batch_norm_forward, batch_norm_forward_parallel = serial_and_parallel(
    batch_norm_forward, fastmath=FASTMATH)


@njit(inline="always")
def _reduce_chunk(grad_out, x, mean, partials, k, n_chunks):
    n_batch, chans, length = x.shape
    if length == 1:  # dense: rows n, vectorised over channels
        g2 = grad_out.reshape(n_batch, chans)
        x2 = x.reshape(n_batch, chans)
        lo, hi = chunk_bounds(n_batch, k, n_chunks)
        for n in range(lo, hi):
            for c in range(chans):
                g = g2[n, c]
                partials[k, 0, c] += g
                partials[k, 1, c] += g * (x2[n, c] - mean[c])
        return
    lo, hi = chunk_bounds(n_batch * chans, k, n_chunks)
    for j in range(lo, hi):
        n = j // chans
        c = j - n * chans
        m = mean[c]
        s = 0.0
        sx = 0.0
        for t in range(length):
            g = grad_out[n, c, t]
            s += g
            sx += g * (x[n, c, t] - m)
        partials[k, 0, c] += s
        partials[k, 1, c] += sx


def batch_norm_backward_reduce(grad_out, x, mean, sum_g, sum_gxc, n_chunks):
    """sum_g[c] = sum of grad_out[:, c, :]; sum_gxc[c] = sum of grad_out * (x - mean[c]).

    grad_out, x : (N, C, L); sum_g, sum_gxc : (C,), overwritten. Sums in
    float64 through per-chunk partials (allocated here).
    """
    chans = x.shape[1]
    partials = np.zeros((n_chunks, 2, chans))
    for k in prange(n_chunks):
        _reduce_chunk(grad_out, x, mean, partials, k, n_chunks)
    for c in range(chans):
        s = 0.0
        sx = 0.0
        for k in range(partials.shape[0]):
            s += partials[k, 0, c]
            sx += partials[k, 1, c]
        sum_g[c] = s
        sum_gxc[c] = sx


batch_norm_backward_reduce, batch_norm_backward_reduce_parallel = serial_and_parallel(
    batch_norm_backward_reduce, fastmath=FASTMATH)


@njit(inline="always")
def _input_grad_chunk(grad_out, x, mean, coef_g, coef_x, coef_1, grad_in, k, n_chunks):
    n_batch, chans, length = x.shape
    if length == 1:  # dense: rows n, vectorised over channels
        g2 = grad_out.reshape(n_batch, chans)
        x2 = x.reshape(n_batch, chans)
        gi2 = grad_in.reshape(n_batch, chans)
        lo, hi = chunk_bounds(n_batch, k, n_chunks)
        for n in range(lo, hi):
            for c in range(chans):
                gi2[n, c] = coef_g[c] * g2[n, c] + coef_x[c] * (x2[n, c] - mean[c]) + coef_1[c]
        return
    lo, hi = chunk_bounds(n_batch * chans, k, n_chunks)
    for j in range(lo, hi):
        n = j // chans
        c = j - n * chans
        m, a, b, d = mean[c], coef_g[c], coef_x[c], coef_1[c]
        for t in range(length):
            grad_in[n, c, t] = a * grad_out[n, c, t] + b * (x[n, c, t] - m) + d


def batch_norm_backward_input(grad_out, x, mean, coef_g, coef_x, coef_1, grad_in, n_chunks):
    """grad_in[n, c, :] = coef_g[c] * grad_out + coef_x[c] * (x - mean[c]) + coef_1[c].

    Training mode: coef_g = w * invstd, coef_x = -coef_g * invstd^2 * sum_gxc / M,
    coef_1 = -coef_g * sum_g / M (M = N * L values per channel); eval mode:
    coef_x = coef_1 = 0. One kernel serves both.
    """
    for k in prange(n_chunks):
        _input_grad_chunk(grad_out, x, mean, coef_g, coef_x, coef_1, grad_in, k, n_chunks)


batch_norm_backward_input, batch_norm_backward_input_parallel = serial_and_parallel(
    batch_norm_backward_input, fastmath=FASTMATH)
