"""The sliding-window index convention shared by convolution, im2col and pooling.

Output position o and (dilated) kernel tap ``offset = k * dilation`` read input
position ``i = o * stride - pad + offset``; positions outside [0, in_size) are
padding.
"""
from numba import njit

from ._config import CACHE


@njit(cache=CACHE)
def valid_range(offset, pad, stride, in_size, out_size):
    """Output positions o in [lo, hi) with 0 <= o * stride - pad + offset < in_size.

    Kernels clip their loops to this range once per row and tap instead of
    testing for padding inside the innermost loop (which would stop it from
    vectorising). Returns an empty range (lo == hi) when no position is valid.
    """
    lo = 0
    t = pad - offset
    if t > 0:
        lo = (t + stride - 1) // stride
    t = in_size - 1 + pad - offset
    if t < 0:
        return lo, lo
    hi = min(out_size, t // stride + 1)
    if hi < lo:
        hi = lo
    return lo, hi
