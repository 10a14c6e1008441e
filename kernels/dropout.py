"""Inverted dropout: apply a keep-mask and the 1 / keep_prob scale in one pass.

The mask itself is drawn by the caller with NumPy (fastnn.functional.dropout),
so the Numba and NumPy backends produce identical masks for the same seed.
Forward and backward are the same operation (the backward multiplies the
upstream gradient by the same mask and scale), so one kernel serves both.
"""
from numba import njit, prange

from ._chunks import chunk_bounds, serial_and_parallel
from ._config import CACHE, FASTMATH


def dropout_apply_mask(x, mask, scale, out, n_chunks):
    """out = x * (mask ? scale : 0), flat arrays of one size; mask is bool.

    ``n_chunks``: 1 = serial on the calling thread, n > 1 = n chunks across
    threads (kernels/_chunks.py).

    A multiply rather than a select, as torch does: a dropped inf or NaN gives
    NaN instead of being hidden as 0 (no ``nnan`` flag lets LLVM fold x * 0).
    """
    zero = out.dtype.type(0)
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(x.size, chunk, n_chunks)
        for i in range(lo, hi):
            out[i] = x[i] * (scale if mask[i] else zero)


dropout_apply_mask, dropout_apply_mask_parallel = serial_and_parallel(
    dropout_apply_mask, fastmath=FASTMATH)
