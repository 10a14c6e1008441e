"""How parallel kernels split work: contiguous, near-equal chunks, one per thread."""
from numba import njit

from ._config import CACHE


@njit(cache=CACHE, inline="always")
def chunk_range(c, n_chunks, n):
    """Bounds [lo, hi) of chunk c (0 <= c < n_chunks) when range(n) is cut into n_chunks
    contiguous pieces whose sizes differ by at most one."""
    return c * n // n_chunks, (c + 1) * n // n_chunks
