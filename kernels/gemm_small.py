"""GEMM for small products, on the calling thread and without packing.

Both kernels compute C = alpha * op(A) @ op(B) + beta * C in place in ``c``:
a : (M, K), or (K, M) when ``trans_a``; b : (K, N), or (N, K) when
``trans_b``; c : (M, N); all C-contiguous, one dtype (float32/float64);
alpha, beta : scalars of that dtype; with beta == 0 the old content of ``c``
is never read (as in BLAS), so ``c`` may be uninitialised memory. They
require m, n, k >= 1.

The packed scheme of :mod:`fastnn.kernels.gemm` copies op(A) and op(B) into
slivers so that a large product streams from the caches. Below
fastnn/_tuning.py ``GEMM_SERIAL_WORK`` multiply-adds the operands already sit
in L1/L2 and that copy is a fifth or more of the work, so fastnn/_linear.py
``gemm_into`` calls one of these instead:

* ``gemm_small_m``: a row of C (or one dot product) at a time, for C of one
  or two rows (a batch-1 linear layer), where a 6-row tile would be mostly
  thrown away;
* ``gemm_small``: the packed kernel's 6-row register tile, reading A and B in
  place.
"""
import numpy as np
from numba import njit

from ._config import CACHE, FASTMATH
from .gemm import MR, _pack_b
from .simd import (lanes, load, store, vbroadcast, vfma, vload, vload_first, vmul, vsplat,
                   vstore_first, vsum, vzero)


@njit(cache=CACHE, fastmath=FASTMATH)
def gemm_small_m(a, b, c, alpha, beta, trans_a, trans_b):
    """C = alpha * op(A) @ op(B) + beta * C for a C of a few rows (a batch-1 linear layer).

    Arguments as in the module docstring. The
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


@njit(cache=CACHE, fastmath=FASTMATH)
def gemm_small(a, b, c, alpha, beta, trans_a, trans_b):
    """C = alpha * op(A) @ op(B) + beta * C for a small product, A read in place.

    Arguments as in the module docstring. The
    register tile is the packed kernel's (MR = 6 rows x 2 vectors of C, 12
    accumulators, fastnn/kernels/gemm.py), but its operands are read where they
    are: at 64 x 64 x 64 all of A and B (16 KiB each, float32) sit in L1, so
    packing them buys nothing and costs about a fifth of the product.

    * A: the 6 values broadcast per step of K are read from 6 rows of ``a``
      (or, transposed, from 6 neighbours in one row); the last row tile
      repeats row m - 1 and stores only the valid rows.
    * B = b (K, N): the two vectors per step of K are loaded from row p of
      ``b``; at the right edge with masked loads (lanes past n read as 0).
    * B = b.T (b is (N, K), a linear layer's weight): columns of op(B) are
      rows of b, so B is first packed into 2-vector slivers (``_pack_b``,
      lanes x lanes in-register transposes) and read from there. With few
      columns most of each sliver is padding: gemm_into sends those products
      (and those with at most GEMM_SMALL_M_NT rows, where one tile does not
      pay for the copy) to ``gemm_small_m``.
    """
    m, n = c.shape
    k = a.shape[0] if trans_a else a.shape[1]
    w_vec = lanes(c)
    nr = 2 * w_vec
    zero = np.int64(0)
    # Element (i, p) of op(A) is at a[i * a_row + p * a_col].
    a_row, a_col = (np.int64(1), np.int64(m)) if trans_a else (np.int64(k), np.int64(1))
    if trans_b:
        ns = (n + nr - 1) // nr
        src = np.empty(k * ns * nr, dtype=c.dtype)
        _pack_b(b, trans_b, n, zero, k, zero, n, src, zero, ns)
    else:
        src = b.reshape(k * n)
    for j0 in range(0, n, nr):
        # Element (p, j0 + q) of op(B) is at src[b0 + p * b_step + q]. A packed
        # sliver is padded to whole vectors; b itself is read only up to column n.
        if trans_b:
            b0, b_step, loaded = j0 * k, nr, nr
        else:
            b0, b_step, loaded = j0, n, n - j0
        full = loaded >= nr
        cols = n - j0  # lanes of C to store (counts >= w_vec store a whole vector)
        for i0 in range(0, m, MR):
            o0 = i0 * a_row
            o1 = min(i0 + 1, m - 1) * a_row
            o2 = min(i0 + 2, m - 1) * a_row
            o3 = min(i0 + 3, m - 1) * a_row
            o4 = min(i0 + 4, m - 1) * a_row
            o5 = min(i0 + 5, m - 1) * a_row
            c00 = vzero(c)
            c01 = vzero(c)
            c10 = vzero(c)
            c11 = vzero(c)
            c20 = vzero(c)
            c21 = vzero(c)
            c30 = vzero(c)
            c31 = vzero(c)
            c40 = vzero(c)
            c41 = vzero(c)
            c50 = vzero(c)
            c51 = vzero(c)
            bo = b0
            ao = zero
            for _ in range(k):
                # The branch is the same on every step: LLVM hoists it out of the loop.
                if full:
                    v0 = vload(src, bo)
                    v1 = vload(src, bo + w_vec)
                else:
                    v0 = vload_first(src, bo, loaded)
                    v1 = vload_first(src, bo + w_vec, loaded - w_vec)
                av = vbroadcast(a, o0 + ao)
                c00 = vfma(av, v0, c00)
                c01 = vfma(av, v1, c01)
                av = vbroadcast(a, o1 + ao)
                c10 = vfma(av, v0, c10)
                c11 = vfma(av, v1, c11)
                av = vbroadcast(a, o2 + ao)
                c20 = vfma(av, v0, c20)
                c21 = vfma(av, v1, c21)
                av = vbroadcast(a, o3 + ao)
                c30 = vfma(av, v0, c30)
                c31 = vfma(av, v1, c31)
                av = vbroadcast(a, o4 + ao)
                c40 = vfma(av, v0, c40)
                c41 = vfma(av, v1, c41)
                av = vbroadcast(a, o5 + ao)
                c50 = vfma(av, v0, c50)
                c51 = vfma(av, v1, c51)
                bo += b_step
                ao += a_col
            rows = min(MR, m - i0)
            o = i0 * n + j0
            _store_row(c, o, c00, c01, cols, alpha, beta)
            if rows > 1:
                _store_row(c, o + n, c10, c11, cols, alpha, beta)
            if rows > 2:
                _store_row(c, o + 2 * n, c20, c21, cols, alpha, beta)
            if rows > 3:
                _store_row(c, o + 3 * n, c30, c31, cols, alpha, beta)
            if rows > 4:
                _store_row(c, o + 4 * n, c40, c41, cols, alpha, beta)
            if rows > 5:
                _store_row(c, o + 5 * n, c50, c51, cols, alpha, beta)


@njit(inline="always")
def _store_row(c, o, s0, s1, cols, alpha, beta):
    """C[row at flat offset o, first ``cols`` of 2 vectors] = alpha * (s0, s1) + beta * C[same].

    beta == 0 never reads C (BLAS convention: C may hold NaN).
    """
    w_vec = lanes(c)
    va = vsplat(alpha)
    s0 = vmul(va, s0)
    s1 = vmul(va, s1)
    if beta != 0:
        vb = vsplat(beta)
        s0 = vfma(vb, vload_first(c, o, cols), s0)
        s1 = vfma(vb, vload_first(c, o + w_vec, cols - w_vec), s1)
    vstore_first(c, o, s0, cols)
    vstore_first(c, o + w_vec, s1, cols - w_vec)
