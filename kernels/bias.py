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
from .simd import lanes, vadd, vload_first, vstore_first, vzero


@njit(inline="always")
def _add_to_row(row, value):
    # A loop, not row[:] += value: inlined into a parallel=True kernel, an
    # array expression becomes a parfor of its own, which would start a
    # parallel region per row on the serial path.
    for t in range(row.size):
        row[t] += value


def bias_add(out, bias, n_chunks):
    """out[n, c, :] += bias[c], in place. out : (N, C, L); bias : (C,)."""
    n_batch, chans, length = out.shape
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(n_batch * chans, chunk, n_chunks)
        if length == 1:
            # A dense (N, F) array: each row of features in SIMD vectors, the last one
            # masked. (One task per element, its n and c found by integer division,
            # cost ~4 ns an element: 31 us for 64 x 120; LLVM's own vector loop with a
            # scalar tail ~6 us.)
            w = lanes(out)
            for n in range(lo // chans, (hi + chans - 1) // chans):
                base = n * chans
                c1 = min(hi - base, chans)
                for c in range(max(lo - base, 0), c1, w):
                    k = min(w, c1 - c)
                    vstore_first(out, base + c, vadd(vload_first(out, base + c, k),
                                                     vload_first(bias, c, k)), k)
        else:
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
    n_batch, chans, length = grad_out.shape
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(chans, chunk, n_chunks)
        if length == 1:
            # Dense (N, F): whole rows added into grad_bias[lo:hi] in SIMD vectors, not
            # a strided column sum per feature. Same order of additions per feature.
            w = lanes(grad_bias)
            for c in range(lo, hi, w):
                k = min(w, hi - c)
                acc = vzero(grad_bias)
                for n in range(n_batch):
                    acc = vadd(acc, vload_first(grad_out, n * chans + c, k))
                vstore_first(grad_bias, c, acc, k)
        else:
            for c in range(lo, hi):
                grad_bias[c] = _channel_sum(grad_out, c)


bias_reduce, bias_reduce_parallel = serial_and_parallel(bias_reduce, fastmath=FASTMATH)
