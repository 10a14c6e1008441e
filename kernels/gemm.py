"""General matrix multiply (GEMM): C = alpha * op(A) @ op(B) + beta * C.

The classic GotoBLAS/BLIS scheme, written with the explicit SIMD vectors of
:mod:`fastnn.kernels.simd` (AVX2 + FMA: 16 ymm registers of 8 float32 or
4 float64 lanes; with AVX-512F the vectors are zmm, twice as wide, so NR and
the sliver sizes below double; the figures are the AVX2 ones):

* Register tile (``_micro_kernel``): an MR x NR = 6 x (2
  vectors) block of C (6 x 16 float32, 6 x 8 float64) lives in 12 ymm
  registers for a whole pass over K. Each step of K loads 2 vectors of B,
  broadcasts the 6 values of A one at a time and does 12 FMAs: 12 accumulators
  + 2 B + 1 A = 15 of the 16 registers. 12 independent FMA chains also cover
  the FMA latency (2 FMA units x 4-5 cycles latency needs >= 10 in flight).
  (6 x 16 beat 4 x 24 and 8 x 8 in BLIS's and OpenBLAS's own Zen kernels; it is
  the largest tile that fits the register file.)
* Packing: op(B)[k0:k0+kc, j0:j0+nc] is copied into a panel of NR-column
  "slivers" (``_pack_b``), each sliver kc x NR contiguous in the order the
  micro-kernel reads it; op(A)[i0:i0+mc, k0:k0+kc] likewise into MR-row slivers
  (``_pack_a``). Packing makes every load of the hot loop unit-stride whatever
  the transposes. Edge slivers are padded by repeating the last valid row or
  column, so the micro-kernel always computes a full tile; the extra results
  are simply not written back (only the valid h x w corner of an edge tile is
  stored, through a scalar path).
* Cache blocking: a B sliver (KC x NR = 16 KiB) stays in L1 while the
  micro-kernel sweeps the A block (MC x KC = 144 KiB float32) held in L2; the
  B panel (KC x NC = 4 MiB float32) is shared by both threads from L3.
* Threads (``gemm_parallel``): with at most MC rows (convolution-shaped
  products such as 64 x 32768, batch-sized linear layers), or at least
  COLUMN_SPLIT_MIN columns per thread, each thread takes its own share of the
  columns and runs the whole product on them with private buffers: one
  parallel region per call, no barrier. Otherwise (many rows, few columns)
  each B panel is packed by all threads together, then each thread takes one
  rectangle of C, a balanced share of the row slivers (or of the column
  slivers if that is better balanced), pipelined so that one parallel region
  packs the next panel and computes with the current one: one region per K
  block. No two threads write the same element of C.
* Many small products of one shape (Winograd's 36, fastnn/_winograd.py) go to
  ``gemm_batched``: one parallel region, each thread running whole products on
  private buffers, as ``_gemm_columns`` does for a column split.
* Small products (fastnn/_tuning.py GEMM_SERIAL_WORK) run on the calling
  thread without packing, in :mod:`fastnn.kernels.gemm_small`: the caller
  (fastnn/_linear.py ``gemm_into``) picks that or ``gemm_parallel`` and hands
  the parallel one a reusable workspace of ``workspace_size(k, n, threads,
  dtype)`` elements. Keeping the serial and the parallel kernels apart
  (instead of one ``@njit(parallel=True)`` function with an ``if``) also
  keeps compile time down: Numba re-optimises every callee inside every
  function that calls it, so each extra layer or call site of the
  micro-kernel costs seconds of LLVM time.

Indices into arrays in the hot loops go through the ``simd`` intrinsics, which
address memory from the data pointer: plain ``arr[i]`` indexing with a signed
``i`` makes Numba emit negative-index wraparound code that stops LLVM from
emitting plain vector loads.
"""
import numpy as np
from numba import njit, prange

from ._config import CACHE, FASTMATH
from .simd import (VECTOR_BYTES, lanes, load, prefetch, store, vbroadcast, vfma, vload, vmul,
                   vsplat, vstore, vtranspose, vzero)

# Rows of the register tile. 6 rows x 2 vectors = 12 accumulators (see above).
MR = 6
# Depth of one packed block. A B sliver (KC x 16 float32) is then 16 KiB, half
# of the 32 KiB L1 data cache, leaving room for the A values streamed past it;
# a long K block also amortises loading/storing the C tile (once per block).
KC = 256
# Rows of the A block a thread packs per K block: MC x KC float32 = 144 KiB
# (288 KiB float64), well inside the 512 KiB L2 of a Zen 3 core. A multiple of
# MR so that only the last block of a thread has a partial sliver.
MC = 144
# Columns of the shared B panel: KC x NC float32 = 2 MiB (two of them are in
# use at once, see gemm_parallel), a share of the 32 MiB L3 that both cores
# read. A multiple of NR (16 float32, 8 float64).
NC = 2048
# Columns of C per thread from which gemm_parallel splits C by columns with
# nothing shared (each thread packs all of A) even when M > MC. Measured on 2
# threads, AVX-512: level with the shared-panel pipeline (+-2%) from 128 columns
# per thread up when the threads are awake, and 5-28% faster when they sleep
# between parallel regions (OMP_WAIT_POLICY=PASSIVE, a stand-in for slow
# wake-ups): 256 x 784 x 1152 (conv E's forward) 2.30 -> 1.80 ms, 512 x 4608 x
# 392 7.67 -> 6.65 ms, since the pipeline has a region and a barrier per K block.
COLUMN_SPLIT_MIN = 128
# Products with m * n * k below this many multiply-adds run on one thread.


@njit(cache=CACHE)
def _blocking(k, n, nr):
    """K block depth, B panel width and packed-panel size for a k x n op(B).

    Equal K blocks (K = 257 -> 129 + 128, not 256 + 1) and equal panels, so
    that no step is a sliver-thin pass that pays overhead for no work.
    """
    nkb = (k + KC - 1) // KC
    kcb = (k + nkb - 1) // nkb
    njb = (n + NC - 1) // NC
    ncb = (n + njb - 1) // njb
    return kcb, ncb, kcb * ((ncb + nr - 1) // nr) * nr


def sliver_columns(dtype):
    """NR, the columns of C in one register tile and one packed B sliver: two SIMD
    vectors of ``dtype`` (plain Python, for the dispatch in fastnn/_linear.py)."""
    return 2 * VECTOR_BYTES // np.dtype(dtype).itemsize


def workspace_size(k, n, threads, dtype):
    """Elements of ``dtype`` in the scratch buffer that ``gemm_parallel`` needs.

    Plain Python (called by the dispatch in fastnn/_linear.py) over the jitted
    layout, plus the slack that ``_aligned`` may skip."""
    nr = sliver_columns(dtype)
    return int(_workspace_layout(k, n, threads, nr)[2]) + ALIGN_BYTES // np.dtype(dtype).itemsize


# Packed panels start on a cache-line boundary. Every B sliver is then aligned
# too (its offset is a multiple of NR elements), so no vector load of the hot
# loop straddles two cache lines: with 64-byte AVX-512 vectors an unaligned
# load always does, and the micro-kernel measured ~25% slower for it.
ALIGN_BYTES = 64


@njit(cache=CACHE)
def _aligned(work, size):
    """The first ``size`` elements of ``work`` from its first 64-byte-aligned element.

    ``work`` needs ``size + ALIGN_BYTES // itemsize`` elements (workspace_size counts them).
    """
    skip = ((-work.ctypes.data) % ALIGN_BYTES) // work.itemsize
    return work[skip:skip + size]


@njit(cache=CACHE)
def _workspace_layout(k, n, threads, nr):
    """Sizes in the parallel workspace: (panel, per_thread, total) elements.

    Layout: max(2, threads) B panels of ``panel`` elements (two pipelined
    shared panels, or one private panel per thread in the column split), then
    per thread an A block (MC x kcb) and edge-tile scratch (MR x NR).
    """
    kcb = _blocking(k, n, nr)[0]
    panel = kcb * ((min(NC, n) + nr - 1) // nr) * nr
    per_thread = MC * kcb + MR * nr
    return panel, per_thread, max(2, threads) * panel + threads * per_thread


@njit(inline="always")
def _op_strides(x, trans):
    # Flat-offset strides of op(X) = X or X.T for a C-contiguous 2-D x:
    # element (i, p) of op(X) is at i * s_row + p * s_col.
    if trans:
        return 1, x.shape[1]
    return x.shape[1], 1


@njit(cache=CACHE, fastmath=FASTMATH)
def _pack_a(a, trans_a, m, i0, mc, k0, kc, pa, pa0):
    """Copy op(A)[i0:i0+mc, k0:k0+kc] into ``pa[pa0:]`` as MR-row slivers.

    Element (i0 + s*MR + r, k0 + p) goes to ``pa[pa0 + s*kc*MR + p*MR + r]``:
    for each step p the micro-kernel finds its MR values of A side by side.
    Rows past the end of A repeat row m - 1 (results discarded at write-back).
    """
    sr, sc = _op_strides(a, trans_a)
    ns = (mc + MR - 1) // MR
    s0 = 0
    if trans_a:
        # op(A) = a.T: a column of op(A) is a row of a. Walk each row of a once,
        # left to right, handing MR consecutive values to each sliver, so the
        # reads stream. Going sliver by sliver instead reads MR values from each
        # of kc rows a whole row of a apart (8 KiB for M = 2048): a new page per read.
        # Slivers 0..full-1 have all MR rows inside op(A); the edge one follows.
        full = min(ns, (m - i0) // MR)
        for p in range(kc):
            src = (k0 + p) * sc + i0
            dst = pa0 + p * MR
            for _ in range(full):
                for r in range(MR):
                    store(pa, dst + r, load(a, src + r))
                src += MR
                dst += kc * MR
        s0 = full
    for s in range(s0, ns):
        ib = i0 + s * MR
        o0 = min(ib, m - 1) * sr + k0 * sc
        o1 = min(ib + 1, m - 1) * sr + k0 * sc
        o2 = min(ib + 2, m - 1) * sr + k0 * sc
        o3 = min(ib + 3, m - 1) * sr + k0 * sc
        o4 = min(ib + 4, m - 1) * sr + k0 * sc
        o5 = min(ib + 5, m - 1) * sr + k0 * sc
        dst = pa0 + s * kc * MR
        for p in range(kc):
            q = p * sc
            store(pa, dst, load(a, o0 + q))
            store(pa, dst + 1, load(a, o1 + q))
            store(pa, dst + 2, load(a, o2 + q))
            store(pa, dst + 3, load(a, o3 + q))
            store(pa, dst + 4, load(a, o4 + q))
            store(pa, dst + 5, load(a, o5 + q))
            dst += MR


@njit(cache=CACHE, fastmath=FASTMATH)
def _pack_b(b, trans_b, n, k0, kc, j0, nc, pb, s0, s1):
    """Copy slivers s0..s1-1 of op(B)[k0:k0+kc, j0:j0+nc] into ``pb``.

    Element (k0 + p, j0 + s*NR + q) goes to ``pb[s*kc*NR + p*NR + q]``, so the
    micro-kernel reads a sliver as one contiguous stream. Columns past the end
    of B repeat column n - 1 (results discarded at write-back).
    """
    w_vec = lanes(pb)
    nr = 2 * w_vec
    sr, sc = _op_strides(b, trans_b)
    # Slivers s0..full-1 are whole; at most the last one sticks out of the panel.
    full = min(s1, nc // nr)
    if sc == 1 and full > s0:
        # Row-major B: walk each row of the panel once, left to right (two
        # vector copies per sliver), so the reads stream through memory. Going
        # sliver by sliver instead reads 64 bytes from each of kc rows that are
        # a whole row of B apart (128 KiB for N = 32768): a TLB miss per read,
        # which made packing a third of the run time for 64 x 32768 outputs.
        for p in range(kc):
            src = (k0 + p) * sr + j0 + s0 * nr
            dst = s0 * kc * nr + p * nr
            for _ in range(s0, full):
                vstore(pb, dst, vload(b, src))
                vstore(pb, dst + w_vec, vload(b, src + w_vec))
                src += nr
                dst += kc * nr
        s0 = full
    if sr == 1 and full > s0:
        # Transposed B (row-major b is (N, K)): a sliver's nr columns of op(B)
        # are nr rows of b. Copy them in lanes x lanes blocks through an
        # in-register transpose (simd.vtranspose): contiguous loads along the
        # rows of b, contiguous stores of the sliver's rows, where the scalar
        # loop below does one load and one store per element.
        whole = kc // w_vec * w_vec
        for s in range(s0, full):
            jb = j0 + s * nr
            dst = s * kc * nr
            for half in range(2):
                src = (jb + half * w_vec) * sc + k0
                for p in range(0, whole, w_vec):
                    vtranspose(b, src + p, sc, pb, dst + p * nr + half * w_vec, nr)
            for p in range(whole, kc):
                for q in range(nr):
                    store(pb, dst + p * nr + q, load(b, k0 + p + (jb + q) * sc))
        s0 = full
    for s in range(s0, s1):
        # The edge sliver (columns past n repeat column n - 1), in either
        # layout. The inner loop has a constant trip count, so LLVM unrolls it
        # instead of vectorising a strided loop, which is much cheaper to compile.
        jb = j0 + s * nr
        dst = s * kc * nr
        for p in range(kc):
            row = (k0 + p) * sr
            for q in range(nr):
                store(pb, dst + q, load(b, row + min(jb + q, n - 1) * sc))
            dst += nr


@njit(cache=CACHE, fastmath=FASTMATH)
def _micro_kernel(pa, a_off, pb, b_off, kc, c, off, h, w, alpha, beta, tile):
    """C[h x w at flat offset off] = alpha * A sliver @ B sliver + beta * C.

    The A sliver is at ``pa[a_off:]`` (kc x MR), the B sliver at ``pb[b_off:]``
    (kc x NR). A full tile (h == MR, w == NR) is written straight from the
    registers; an edge tile is first stored to ``pa[tile:tile + MR*NR]`` (a few
    hundred bytes of scratch after the packed A block) and written back by
    ``_write_edge``.
    """
    w_vec = lanes(pb)
    nr = 2 * w_vec
    # The 12 accumulators, row r, vector half 0/1: named variables (not an
    # array) so that LLVM keeps each one in a register for the whole loop.
    c00 = vzero(pb)
    c01 = vzero(pb)
    c10 = vzero(pb)
    c11 = vzero(pb)
    c20 = vzero(pb)
    c21 = vzero(pb)
    c30 = vzero(pb)
    c31 = vzero(pb)
    c40 = vzero(pb)
    c41 = vzero(pb)
    c50 = vzero(pb)
    c51 = vzero(pb)
    n = c.shape[1]
    # Ask for the C tile's cache lines now, while the K loop runs: at 2048^3 C
    # (16 MiB) is far outside L2, and its rows are a whole row of C apart, so
    # the loads/stores after the loop missed to L3 or memory on every tile.
    for r in range(h):
        prefetch(c, off + r * n)
        prefetch(c, off + r * n + w - 1)
    for _ in range(kc):
        b0 = vload(pb, b_off)
        b1 = vload(pb, b_off + w_vec)
        av = vbroadcast(pa, a_off)
        c00 = vfma(av, b0, c00)
        c01 = vfma(av, b1, c01)
        av = vbroadcast(pa, a_off + 1)
        c10 = vfma(av, b0, c10)
        c11 = vfma(av, b1, c11)
        av = vbroadcast(pa, a_off + 2)
        c20 = vfma(av, b0, c20)
        c21 = vfma(av, b1, c21)
        av = vbroadcast(pa, a_off + 3)
        c30 = vfma(av, b0, c30)
        c31 = vfma(av, b1, c31)
        av = vbroadcast(pa, a_off + 4)
        c40 = vfma(av, b0, c40)
        c41 = vfma(av, b1, c41)
        av = vbroadcast(pa, a_off + 5)
        c50 = vfma(av, b0, c50)
        c51 = vfma(av, b1, c51)
        a_off += MR
        b_off += nr
    if h == MR and w == nr:
        va = vsplat(alpha)
        if beta == 0:
            # beta == 0 never reads C (BLAS convention: C may hold NaN).
            vstore(c, off, vmul(va, c00))
            vstore(c, off + w_vec, vmul(va, c01))
            vstore(c, off + n, vmul(va, c10))
            vstore(c, off + n + w_vec, vmul(va, c11))
            vstore(c, off + 2 * n, vmul(va, c20))
            vstore(c, off + 2 * n + w_vec, vmul(va, c21))
            vstore(c, off + 3 * n, vmul(va, c30))
            vstore(c, off + 3 * n + w_vec, vmul(va, c31))
            vstore(c, off + 4 * n, vmul(va, c40))
            vstore(c, off + 4 * n + w_vec, vmul(va, c41))
            vstore(c, off + 5 * n, vmul(va, c50))
            vstore(c, off + 5 * n + w_vec, vmul(va, c51))
        else:
            vb = vsplat(beta)
            vstore(c, off, vfma(vb, vload(c, off), vmul(va, c00)))
            vstore(c, off + w_vec, vfma(vb, vload(c, off + w_vec), vmul(va, c01)))
            vstore(c, off + n, vfma(vb, vload(c, off + n), vmul(va, c10)))
            vstore(c, off + n + w_vec, vfma(vb, vload(c, off + n + w_vec), vmul(va, c11)))
            o = off + 2 * n
            vstore(c, o, vfma(vb, vload(c, o), vmul(va, c20)))
            vstore(c, o + w_vec, vfma(vb, vload(c, o + w_vec), vmul(va, c21)))
            o = off + 3 * n
            vstore(c, o, vfma(vb, vload(c, o), vmul(va, c30)))
            vstore(c, o + w_vec, vfma(vb, vload(c, o + w_vec), vmul(va, c31)))
            o = off + 4 * n
            vstore(c, o, vfma(vb, vload(c, o), vmul(va, c40)))
            vstore(c, o + w_vec, vfma(vb, vload(c, o + w_vec), vmul(va, c41)))
            o = off + 5 * n
            vstore(c, o, vfma(vb, vload(c, o), vmul(va, c50)))
            vstore(c, o + w_vec, vfma(vb, vload(c, o + w_vec), vmul(va, c51)))
        return
    vstore(pa, tile, c00)
    vstore(pa, tile + w_vec, c01)
    vstore(pa, tile + nr, c10)
    vstore(pa, tile + nr + w_vec, c11)
    vstore(pa, tile + 2 * nr, c20)
    vstore(pa, tile + 2 * nr + w_vec, c21)
    vstore(pa, tile + 3 * nr, c30)
    vstore(pa, tile + 3 * nr + w_vec, c31)
    vstore(pa, tile + 4 * nr, c40)
    vstore(pa, tile + 4 * nr + w_vec, c41)
    vstore(pa, tile + 5 * nr, c50)
    vstore(pa, tile + 5 * nr + w_vec, c51)
    _write_edge(c, off, pa, tile, h, w, alpha, beta)


# Inlined into the micro-kernel at Numba IR level: as a separate function, every
# micro-kernel call increfs and decrefs the arrays it passes to it (pa, c), four
# atomic operations per tile on reference counts that both threads share;
# serial 64^3 and 96^3 products measured ~20% faster without them.
@njit(inline="always")
def _write_edge(c, off, pa, tile, h, w, alpha, beta):
    """C[h x w corner at flat offset off] = alpha * tile + beta * C[same]."""
    n = c.shape[1]
    nr = 2 * lanes(c)
    for r in range(h):
        for q in range(w):
            x = alpha * load(pa, tile + r * nr + q)
            o = off + r * n + q
            if beta == 0:
                store(c, o, x)
            else:
                store(c, o, x + beta * load(c, o))


@njit(cache=CACHE, fastmath=FASTMATH)
def _block(a, trans_a, c, pb, k0, kc, j0, nc, r0, r1, s0, s1, pa, pa0, alpha, beta):
    """One thread's share of one (K block, B panel) step.

    C[rows of row slivers r0..r1-1, columns of panel slivers s0..s1-1] =
    alpha * op(A)[those rows, k0:k0+kc] @ panel + beta * C[same]. A is packed
    MC rows at a time into ``pa[pa0:pa0 + MC*kc]``, the tile scratch follows
    it (``MR*NR`` more elements).
    """
    m, n = c.shape
    nr = 2 * lanes(pb)
    step = MC // MR
    tile = pa0 + MC * kc
    for rb in range(r0, r1, step):
        re = min(rb + step, r1)
        _pack_a(a, trans_a, m, rb * MR, min(re * MR, m) - rb * MR, k0, kc, pa, pa0)
        # Column slivers outside, row slivers inside: one B sliver stays in L1
        # while the packed A block (in L2) streams past it.
        for s in range(s0, s1):
            j = j0 + s * nr
            w = min(nr, j0 + nc - j)
            for r in range(rb, re):
                i = r * MR
                _micro_kernel(pa, pa0 + (r - rb) * kc * MR, pb, s * kc * nr, kc,
                              c, i * n + j, min(MR, m - i), w, alpha, beta, tile)


@njit(cache=CACHE, fastmath=FASTMATH)
def _gemm_columns(a, b, c, alpha, beta, trans_a, trans_b, col0, col1, work, pb0, pa0):
    """C[:, col0:col1] of ``gemm`` on the calling thread, nothing shared.

    Packs its own B panels into ``work[pb0:]`` and A blocks into
    ``work[pa0:]`` (sizes as in ``_workspace_layout``). Requires m, k >= 1.
    """
    m, n = c.shape
    k = a.shape[0] if trans_a else a.shape[1]
    nr = 2 * lanes(c)
    kcb, ncb, pb_size = _blocking(k, col1 - col0, nr)
    pb = work[pb0:pb0 + pb_size]
    ms = (m + MR - 1) // MR
    # A literal 0 argument would make Numba compile separate Literal[int](0)
    # specialisations of _pack_b and _block: pass a typed int64 zero instead.
    zero = np.int64(0)
    for j0 in range(col0, col1, ncb):
        nc = min(ncb, col1 - j0)
        ns = (nc + nr - 1) // nr
        for k0 in range(0, k, kcb):
            kc = min(kcb, k - k0)
            # The first K block applies beta; later blocks accumulate onto it.
            beta_k = beta if k0 == 0 else c.dtype.type(1)
            _pack_b(b, trans_b, n, k0, kc, j0, nc, pb, zero, ns)
            _block(a, trans_a, c, pb, k0, kc, j0, nc, zero, ms, zero, ns, work, pa0,
                   alpha, beta_k)


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def gemm_parallel(a, b, c, alpha, beta, trans_a, trans_b, work, n_chunks):
    """C = alpha * op(A) @ op(B) + beta * C on ``n_chunks`` threads; ``work`` is scratch.

    work : 1-D ndarray of c's dtype with at least ``workspace_size(k, n,
        n_chunks, c.dtype)`` elements (the layout plus alignment slack). Requires
        m, n, k >= 1.

    M <= MC or N >= COLUMN_SPLIT_MIN * n_chunks: a column split with nothing
    shared (see ``_gemm_columns``). Otherwise software-pipelined so that one
    parallel region does two things: in region ``st`` every thread packs its
    share of B panel ``st`` (into buffer st % 2) and computes its rectangle of
    step ``st - 1`` (from the other buffer, packed by all threads in the
    previous region; the end of a region is the barrier). One region per (K block, panel) step instead of two halves the
    thread synchronisations, and one prange instead of two shortens compile.
    """
    m, n = c.shape
    k = a.shape[0] if trans_a else a.shape[1]
    nr = 2 * lanes(c)
    kcb, ncb, pb_size = _blocking(k, n, nr)
    panel, per_thread, total = _workspace_layout(k, n, n_chunks, nr)
    if work.size < total + ALIGN_BYTES // work.itemsize:
        raise ValueError("gemm_parallel: work is smaller than workspace_size(k, n, n_chunks, dtype)")
    work = _aligned(work, total)
    pa_base = max(2, n_chunks) * panel
    ms = (m + MR - 1) // MR  # row slivers of C
    # Few rows (m <= MC: all of A fits one packed block; convolution-shaped
    # products, batch-sized linear layers) or enough columns for every thread:
    # give each thread its own columns and let it run the whole product on
    # them with private buffers. One parallel region per call, no shared panel
    # and no barrier; the price is that every thread packs all of A (at most
    # MC rows, or a small share of its work when it has many columns).
    # Both cases share the one prange loop below: each prange body is compiled
    # into a function of its own with every kernel it calls linked in and
    # optimised again, so a second loop would cost seconds of compile time.
    by_columns = m <= MC or n >= COLUMN_SPLIT_MIN * n_chunks
    nst = (n + nr - 1) // nr  # column slivers of C (by_columns)
    nkb = (k + kcb - 1) // kcb
    nsteps = nkb * ((n + ncb - 1) // ncb)
    for st in range(1 if by_columns else nsteps + 1):
        for t in prange(n_chunks):
            # prange indices are unsigned: cast, or the callees get compiled
            # a second time for uint64 arguments.
            t = np.int64(t)
            if by_columns:
                col0 = t * nst // n_chunks * nr
                col1 = min((t + 1) * nst // n_chunks * nr, n)
                if col1 > col0:
                    _gemm_columns(a, b, c, alpha, beta, trans_a, trans_b, col0, col1, work,
                                  t * panel, pa_base + t * per_thread)
                continue
            if st < nsteps:
                j0 = st // nkb * ncb
                k0 = st % nkb * kcb
                nc = min(ncb, n - j0)
                ns = (nc + nr - 1) // nr
                pb = work[st % 2 * panel:st % 2 * panel + pb_size]
                _pack_b(b, trans_b, n, k0, min(kcb, k - k0), j0, nc, pb,
                        t * ns // n_chunks, (t + 1) * ns // n_chunks)
            if st > 0:
                j0 = (st - 1) // nkb * ncb
                k0 = (st - 1) % nkb * kcb
                nc = min(ncb, n - j0)
                ns = (nc + nr - 1) // nr  # column slivers in this panel
                # The first K block applies beta; later ones accumulate.
                beta_k = beta if k0 == 0 else c.dtype.type(1)
                # Split rows or columns, whichever leaves the busiest thread
                # the fewest tiles (ties: rows, each thread packs only its A).
                r0, r1, s0, s1 = np.int64(0), ms, np.int64(0), ns
                if (ms + n_chunks - 1) // n_chunks * ns <= ms * ((ns + n_chunks - 1) // n_chunks):
                    r0, r1 = t * ms // n_chunks, (t + 1) * ms // n_chunks
                else:
                    s0, s1 = t * ns // n_chunks, (t + 1) * ns // n_chunks
                pb = work[(st - 1) % 2 * panel:(st - 1) % 2 * panel + pb_size]
                _block(a, trans_a, c, pb, k0, min(kcb, k - k0), j0, nc, r0, r1, s0, s1,
                       work, pa_base + t * per_thread, alpha, beta_k)


def batched_workspace_size(k, n, threads, dtype):
    """Elements of ``dtype`` in the scratch buffer that ``gemm_batched`` needs:
    one private B panel and A block per thread (``_gemm_columns``), plus alignment slack."""
    panel, per_thread, _ = _workspace_layout(k, n, 1, sliver_columns(dtype))
    return int(threads * (panel + per_thread)) + ALIGN_BYTES // np.dtype(dtype).itemsize


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def gemm_batched(a, b, c, m, n, k, alpha, beta, trans_a, trans_b, work, n_chunks):
    """C[p] = alpha * op(A[p]) @ op(B[p]) + beta * C[p] for every p, each product on one thread.

    a : (P, >= m*k), b : (P, >= k*n), c : (P, >= m*n), C-contiguous, one dtype:
    row p of each starts with the C-contiguous matrix A[p] (m x k, or k x m
    when ``trans_a``), B[p] (k x n, or n x k when ``trans_b``) and C[p] (m x n).
    work : 1-D scratch of >= ``batched_workspace_size(k, n, n_chunks, dtype)``
    elements. Requires m, n, k >= 1.

    For many small products (Winograd's 36 GEMMs, fastnn/_winograd.py): thread
    t runs products t*P/n_chunks .. (t+1)*P/n_chunks - 1 whole, each as
    one thread of ``gemm_parallel``'s column split would, with its own
    packing buffers. One parallel region
    for all P products; calling ``gemm_parallel`` once per product cost a
    region per product and split each one (256 x 256 x 128 on ResNet-18's
    layer3) too finely for two threads to gain much.
    """
    nr = 2 * lanes(c)
    panel, per_thread, _ = _workspace_layout(k, n, np.int64(1), nr)
    own = panel + per_thread
    if work.size < n_chunks * own + ALIGN_BYTES // work.itemsize:
        raise ValueError("gemm_batched: work is smaller than "
                         "batched_workspace_size(k, n, n_chunks, dtype)")
    work = _aligned(work, n_chunks * own)
    n_batch = a.shape[0]
    a_rows, a_cols = (k, m) if trans_a else (m, k)
    b_rows, b_cols = (n, k) if trans_b else (k, n)
    for t in prange(n_chunks):
        t = np.int64(t)  # (see gemm_parallel: unsigned prange indices)
        for p in range(t * n_batch // n_chunks, (t + 1) * n_batch // n_chunks):
            _gemm_columns(a[p, :m * k].reshape(a_rows, a_cols),
                          b[p, :k * n].reshape(b_rows, b_cols),
                          c[p, :m * n].reshape(m, n), alpha, beta, trans_a, trans_b,
                          np.int64(0), n, work, t * own, t * own + panel)
