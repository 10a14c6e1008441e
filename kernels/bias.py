"""Per-channel bias: add it to an (N, C, L) array, and reduce a gradient to it.

Dense (N, F) arrays are passed as (N, F, 1) and images (N, C, H, W) as
(N, C, H*W) views, so one pair of kernels serves linear and conv2d.

``parallel`` (last argument): split the work across threads with prange, or
run serially on the calling thread when the whole call is too small to pay
for starting a parallel region (~20-60 us to wake the sleeping OpenMP
threads, far more than adding a bias to the digits demo's few thousand
elements); the caller decides (fastnn.functional.BIAS_PARALLEL_MIN). The
loop bodies are ``inline="always"`` helpers, written once and inlined into
both loops.
"""
from numba import njit, prange

from ._config import CACHE, FASTMATH


@njit(inline="always")
def _add_to_row(row, value):
    # A loop, not row[:] += value: inlined into a parallel=True kernel, an
    # array expression becomes a parfor of its own, which would start a
    # parallel region per row on the serial path.
    for t in range(row.size):
        row[t] += value


@njit(parallel=True, cache=CACHE)
def bias_add(out, bias, parallel):
    """out[n, c, :] += bias[c], in place. out : (N, C, L); bias : (C,)."""
    n_batch, chans, _ = out.shape
    if not parallel:
        for task in range(n_batch * chans):
            n = task // chans
            c = task % chans
            _add_to_row(out[n, c], bias[c])
        return
    for task in prange(n_batch * chans):
        n = task // chans
        c = task % chans
        _add_to_row(out[n, c], bias[c])


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


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def bias_reduce(grad_out, grad_bias, parallel):
    """grad_bias[c] = sum over n and l of grad_out[n, c, l]. grad_out : (N, C, L); grad_bias : (C,)."""
    chans = grad_out.shape[1]
    if not parallel:
        for c in range(chans):
            grad_bias[c] = _channel_sum(grad_out, c)
        return
    for c in prange(chans):
        grad_bias[c] = _channel_sum(grad_out, c)
