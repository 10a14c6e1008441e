"""Per-channel bias: add it to an (N, C, L) array, and reduce a gradient to it.

Dense (N, F) arrays are passed as (N, F, 1) and images (N, C, H, W) as
(N, C, H*W) views, so one pair of kernels serves linear and conv2d.
"""
from numba import njit, prange

from ._config import CACHE, FASTMATH


@njit(parallel=True, cache=CACHE)
def bias_add(out, bias):
    """out[n, c, :] += bias[c], in place. out : (N, C, L); bias : (C,)."""
    n_batch, chans, _ = out.shape
    for task in prange(n_batch * chans):
        n = task // chans
        c = task % chans
        out[n, c, :] += bias[c]


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def bias_reduce(grad_out, grad_bias):
    """grad_bias[c] = sum over n and l of grad_out[n, c, l]. grad_out : (N, C, L); grad_bias : (C,)."""
    n_batch, chans, length = grad_out.shape
    for c in prange(chans):
        acc = grad_bias.dtype.type(0)
        for n in range(n_batch):
            row = grad_out[n, c]
            for t in range(length):
                acc += row[t]
        grad_bias[c] = acc
