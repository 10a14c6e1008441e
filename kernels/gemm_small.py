"""GEMM for a C of one or two rows, without packing: a batch-1 linear layer.

The packed scheme of :mod:`fastnn.kernels.gemm` copies all of op(B) into
slivers and computes whole MR-row register tiles. With one row of C each element
of B is used once, so that copy costs as much as the product, and 5 of the 6
tile rows are thrown away. ``gemm_small_m`` computes each row of C straight from
the operands instead; fastnn/_linear.py ``gemm_into`` calls it for
0 < m <= fastnn/_tuning.py ``GEMM_SMALL_M`` below the serial-work threshold.
"""
import numpy as np
from numba import njit

from ._config import CACHE, FASTMATH
from .simd import (lanes, load, store, vbroadcast, vfma, vload, vload_first, vmul, vsplat,
                   vstore_first, vsum, vzero)


@njit(cache=CACHE, fastmath=FASTMATH)
def gemm_small_m(a, b, c, alpha, beta, trans_a, trans_b):
    """``gemm_serial`` for a C of a few rows (a batch-1 linear layer), without packing.

    Same arguments and result as ``gemm_serial``; requires m, n, k >= 1. The
    packed scheme above copies all of op(B) into slivers and computes whole
    MR-row tiles: with one row of C each element of B is used once, so the copy
    costs as much as the product, and 5 of the 6 tile rows are thrown away
    (1 x 256 @ 256 x 120: 16 us, np.dot 5 us). Here each row of C is computed
    straight from the operands:

    * op(B) = b.T (b is (N, K), a linear layer's weight): C[i, j] is the dot
      product of two contiguous rows of length K, four columns at a time (four
      independent FMA chains, one load of A for four of B), lanes summed at the end;
    * op(B) = b (K, N): C[i, :] = sum over p of A[i, p] * B[p, :], four vectors
      of C's row in registers per pass over K (the last ones masked).

    A transposed A (column i of ``a``) is first copied to a contiguous row.
    """
    m, n = c.shape
    k = a.shape[0] if trans_a else a.shape[1]
    w_vec = lanes(c)
    arow = np.empty(k, dtype=c.dtype)
    for i in range(m):
        if trans_a:
            for p in range(k):
                store(arow, p, load(a, p * m + i))
        else:
            for p in range(k):
                store(arow, p, load(a, i * k + p))
        if trans_b:
            whole = k // w_vec * w_vec
            for j0 in range(0, n, 4):
                # Four dot products at once; columns past n repeat column n - 1.
                o0 = j0 * k
                o1 = min(j0 + 1, n - 1) * k
                o2 = min(j0 + 2, n - 1) * k
                o3 = min(j0 + 3, n - 1) * k
                s0 = vzero(c)
                s1 = vzero(c)
                s2 = vzero(c)
                s3 = vzero(c)
                for p in range(0, whole, w_vec):
                    av = vload(arow, p)
                    s0 = vfma(av, vload(b, o0 + p), s0)
                    s1 = vfma(av, vload(b, o1 + p), s1)
                    s2 = vfma(av, vload(b, o2 + p), s2)
                    s3 = vfma(av, vload(b, o3 + p), s3)
                if whole < k:
                    av = vload_first(arow, whole, k - whole)
                    s0 = vfma(av, vload_first(b, o0 + whole, k - whole), s0)
                    s1 = vfma(av, vload_first(b, o1 + whole, k - whole), s1)
                    s2 = vfma(av, vload_first(b, o2 + whole, k - whole), s2)
                    s3 = vfma(av, vload_first(b, o3 + whole, k - whole), s3)
                for q in range(min(4, n - j0)):
                    v = vsum(s0) if q == 0 else vsum(s1) if q == 1 else vsum(s2) if q == 2 \
                        else vsum(s3)
                    o = i * n + j0 + q
                    store(c, o, alpha * v if beta == 0 else alpha * v + beta * load(c, o))
        else:
            for j0 in range(0, n, 4 * w_vec):
                # Four vectors of row i of C; the lanes past n are loaded as zeros
                # and never stored (vload_first / vstore_first with counts <= 0 do nothing).
                n0 = n - j0
                n1 = n0 - w_vec
                n2 = n1 - w_vec
                n3 = n2 - w_vec
                s0 = vzero(c)
                s1 = vzero(c)
                s2 = vzero(c)
                s3 = vzero(c)
                for p in range(k):
                    av = vbroadcast(arow, p)
                    o = p * n + j0
                    s0 = vfma(av, vload_first(b, o, n0), s0)
                    s1 = vfma(av, vload_first(b, o + w_vec, n1), s1)
                    s2 = vfma(av, vload_first(b, o + 2 * w_vec, n2), s2)
                    s3 = vfma(av, vload_first(b, o + 3 * w_vec, n3), s3)
                o = i * n + j0
                va = vsplat(alpha)
                if beta != 0:
                    vb = vsplat(beta)
                    s0 = vfma(vb, vload_first(c, o, n0), vmul(va, s0))
                    s1 = vfma(vb, vload_first(c, o + w_vec, n1), vmul(va, s1))
                    s2 = vfma(vb, vload_first(c, o + 2 * w_vec, n2), vmul(va, s2))
                    s3 = vfma(vb, vload_first(c, o + 3 * w_vec, n3), vmul(va, s3))
                else:
                    s0 = vmul(va, s0)
                    s1 = vmul(va, s1)
                    s2 = vmul(va, s2)
                    s3 = vmul(va, s3)
                vstore_first(c, o, s0, n0)
                vstore_first(c, o + w_vec, s1, n1)
                vstore_first(c, o + 2 * w_vec, s2, n2)
                vstore_first(c, o + 3 * w_vec, s3, n3)
