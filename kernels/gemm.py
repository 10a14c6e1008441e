"""General matrix multiply (GEMM): C = alpha * op(A) @ op(B) + beta * C.

A straightforward cache-blocked kernel written for clarity first:

* op(B) is copied ("packed") into a contiguous panel of at most KC x NC
  elements, so that the innermost loop reads it at unit stride whether or not B
  is transposed, and the panel stays in the L2 cache while every row of C is
  updated with it.
* The innermost loop, ``c_row[j] += a_ik * b_row[j]``, runs over contiguous
  memory and LLVM vectorises it into FMA instructions.
* Rows of C are independent, so they are split across threads with ``prange``;
  no two threads ever write the same element.

It is not tuned to the machine's peak (no register tiling); the benchmark in
``asv_bench/benchmarks/bench_gemm.py`` measures it against NumPy's BLAS.
"""
import numpy as np
from numba import njit, prange

from ._config import CACHE, FASTMATH

# Depth (rows of op(B)) and width (columns) of one packed panel. KC x NC float32
# values = 256 KiB, which fits the 512 KiB-1 MiB L2 caches of current x86 cores
# with room left for the rows of A and C being streamed past it.
KC = 256
NC = 256


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def gemm(a, b, c, alpha, beta, trans_a, trans_b):
    """C = alpha * op(A) @ op(B) + beta * C, in place in ``c``.

    a : ndarray (M, K), or (K, M) when ``trans_a``; C-contiguous.
    b : ndarray (K, N), or (N, K) when ``trans_b``; C-contiguous.
    c : ndarray (M, N), C-contiguous, same dtype; overwritten.
    alpha, beta : scalars of the arrays' dtype. With beta == 0 the old content
        of ``c`` is ignored (as in BLAS), so ``c`` may be uninitialised memory.
    """
    m, n = c.shape
    k = a.shape[0] if trans_a else a.shape[1]
    zero = c.dtype.type(0)

    for i in prange(m):
        if beta == zero:
            c[i, :] = zero
        else:
            c[i, :] *= beta
    if k == 0:
        return

    panel = np.empty((min(KC, k), min(NC, n)), dtype=c.dtype)
    for j0 in range(0, n, NC):
        nc = min(NC, n - j0)
        for k0 in range(0, k, KC):
            kc = min(KC, k - k0)
            # Pack op(B)[k0:k0+kc, j0:j0+nc] into panel[:kc, :nc].
            for kk in prange(kc):
                prow = panel[kk]
                if trans_b:
                    for jj in range(nc):
                        prow[jj] = b[j0 + jj, k0 + kk]
                else:
                    brow = b[k0 + kk, j0:j0 + nc]
                    for jj in range(nc):
                        prow[jj] = brow[jj]
            for i in prange(m):
                crow = c[i, j0:j0 + nc]
                for kk in range(kc):
                    if trans_a:
                        a_ik = alpha * a[k0 + kk, i]
                    else:
                        a_ik = alpha * a[i, k0 + kk]
                    prow = panel[kk]
                    for jj in range(nc):
                        crow[jj] += a_ik * prow[jj]
