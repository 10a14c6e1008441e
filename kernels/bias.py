"""Per-channel bias: add it to an (N, C, L) array, and reduce a gradient to it.

Dense (N, F) arrays are passed as (N, F, 1) and images (N, C, H, W) as
(N, C, H*W) views, so one pair of kernels serves linear and conv2d.

``n_chunks`` (last argument, kernels/_chunks.py): 1 runs serially on the calling
thread, n > 1 splits the (n, c) rows into n chunks across threads; the caller
decides (fastnn/_tuning.py BIAS_PARALLEL_MIN). The loop bodies are
``inline="always"`` helpers, written once and inlined into both loops.
"""
from numba import njit, prange

from ._chunks import chunk_bounds, serial_and_parallel
from ._config import CACHE, FASTMATH


@njit(inline="always")
def _add_to_row(row, value):
    # A loop, not row[:] += value: inlined into a parallel=True kernel, an
    # array expression becomes a parfor of its own, which would start a
    # parallel region per row on the serial path.
    for t in range(row.size):
        row[t] += value


def bias_add(out, bias, n_chunks):
    """out[n, c, :] += bias[c], in place. out : (N, C, L); bias : (C,)."""
    n_batch, chans, _ = out.shape
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(n_batch * chans, chunk, n_chunks)
        for task in range(lo, hi):
            n = task // chans
            c = task % chans
            _add_to_row(out[n, c], bias[c])


bias_add, bias_add_parallel = serial_and_parallel(bias_add)


@njit(inline="always")
def _channel_sum(grad_out, c):
    """Sum over n and l of grad_out[n, c, l]."""
    n_batch, _, length = grad_out.shape
    acc = grad_out.dtype.type(0)
    for n in range(n_batch):
        row = grad_out[n, c]
        for t in range(length):
            acc += row[t]
    return acc


def bias_reduce(grad_out, grad_bias, n_chunks):
    """grad_bias[c] = sum over n and l of grad_out[n, c, l]. grad_out : (N, C, L); grad_bias : (C,)."""
    chans = grad_out.shape[1]
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(chans, chunk, n_chunks)
        for c in range(lo, hi):
            grad_bias[c] = _channel_sum(grad_out, c)


bias_reduce, bias_reduce_parallel = serial_and_parallel(bias_reduce, fastmath=FASTMATH)
