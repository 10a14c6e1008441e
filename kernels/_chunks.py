"""How a parallel kernel splits its work: the trailing ``n_chunks`` argument.

Every kernel that can run on several threads takes ``n_chunks`` as its last
argument: 1 (or less) runs one loop on the calling thread, with no parallel
region to start; n > 1 splits the independent items (elements, rows, planes)
into n near-equal contiguous chunks, one prange iteration each. The caller
(fastnn/, from the thresholds in fastnn/_tuning.py) decides; kernels never do.
"""
from numba import njit


@njit(inline="always")
def chunk_bounds(n, c, n_chunks):
    """[lo, hi) of chunk c when n items are split into n_chunks near-equal parts."""
    return c * n // n_chunks, (c + 1) * n // n_chunks
