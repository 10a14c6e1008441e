"""Winograd F(4x4, 3x3) convolution transforms (Lavin & Gray, "Fast Algorithms for
Convolutional Neural Networks", CVPR 2016).

A 3x3, stride-1 convolution is computed tile by tile: each 4x4 block of the
output needs a 6x6 block of the input, d. With the interpolation points
0, 1, -1, 2, -2 and infinity,

    Y (4x4) = A^T [ U (.) V ] A,   U = G g G^T (6x6),   V = B^T d B (6x6)

(``(.)`` is the element-wise product), 36 multiplies per tile and channel
instead of 4*4*9 = 144. Summed over input channels, the element-wise products
become 36 independent GEMMs, one per point xi = 6*p + q of the 6x6 tile:

    M[xi] (K, T) = U[xi] (K, C) @ V[xi] (C, T)

which fastnn/_winograd.py runs on the ordinary GEMM. This file holds only the
transforms, between the NCHW images and the layout the GEMM wants: a 2-D
(36, >= channels*tiles) array whose row xi starts with the (channels, tiles)
matrix of point xi (see _SLABS below); tile t is (image, tile row, tile
column) in row-major order.

    B^T = [4  0 -5  0  1  0]    G = [ 1/4     0     0 ]    A^T = [1 1  1 1  1 0]
          [0 -4 -4  1  1  0]        [-1/6  -1/6  -1/6 ]          [0 1 -1 2 -2 0]
          [0  4 -4 -1  1  0]        [-1/6   1/6  -1/6 ]          [0 1  1 4  4 0]
          [0 -2 -1  2  1  0]        [1/24  1/12   1/6 ]          [0 1 -1 8 -8 1]
          [0  2 -1 -2  1  0]        [1/24 -1/12   1/6 ]
          [0  4  0 -5  0  1]        [   0     0     1 ]

The backward pass reuses them: grad-input is the same convolution of
grad_output with the flipped, transposed weight; grad-weight follows from the
forward formula by the chain rule, dL/dU = (A dY A^T) (.) V summed over tiles
(again 36 GEMMs) and dL/dg = G^T (dL/dU) G. So two more transforms: the
adjoint of the output transform (``winograd_grad_output_transform``) and of the
weight transform (``winograd_weight_grad_transform``).

Each 2-D transform is done as two passes of a 1-D one: first down the columns,
element-wise across a whole row of tiles (contiguous, so LLVM vectorises it),
then along each tile's columns. Padding and partial edge tiles go through a
zero-filled copy of the plane, so the inner loops test nothing.

Every transform is two kernels, ``winograd_*_transform`` (serial) and its
``_parallel`` twin (kernels/_chunks.serial_and_parallel), and takes the
house's trailing ``n_chunks``: 1 on the calling thread; n > 1 splits the
independent items ((image, channel) planes, or output channels of the weight)
into n chunks, each written by one thread.
The constants of B^T and A^T are small integers, exact in either dtype; they
are made with ``dtype.type`` so that float32 arithmetic stays float32 (a bare
``4 * x`` would promote to float64). The weight transforms, which run once per
call on the small weight, compute in float64 and round once on store.
"""
import numpy as np
from numba import njit, prange

from ._chunks import chunk_bounds, serial_and_parallel
from ._config import CACHE, FASTMATH
from .simd import (lanes, vadd, vfma, vload, vload_first, vmul, vsplat, vstore, vstore_first,
                   vsub)

TILE = 4     # output tile side m
ALPHA = 6    # input tile side m + r - 1


# --------------------------------------------------------------------------- 1-D transforms
# Each returns a tuple of scalars; c2/c4/c5/c8 are 2, 4, 5, 8 in the arrays' dtype.

@njit(inline="always")
def _bt(d0, d1, d2, d3, d4, d5, c2, c4, c5):
    """B^T d for a 6-vector d."""
    return (c4 * d0 - c5 * d2 + d4,
            d3 + d4 - c4 * (d1 + d2),
            d4 - d3 + c4 * (d1 - d2),
            d4 - d2 + c2 * (d3 - d1),
            d4 - d2 - c2 * (d3 - d1),
            c4 * d1 - c5 * d3 + d5)


@njit(inline="always")
def _at(m0, m1, m2, m3, m4, m5, c2, c4, c8):
    """A^T m for a 6-vector m: 4 values."""
    s12, d12 = m1 + m2, m1 - m2
    s34, d34 = m3 + m4, m3 - m4
    return (m0 + s12 + s34, d12 + c2 * d34, s12 + c4 * s34, d12 + c8 * d34 + m5)


@njit(inline="always")
def _a(g0, g1, g2, g3, c2, c4, c8):
    """A g for a 4-vector g (the adjoint of _at): 6 values."""
    s02, s13 = g0 + g2, g1 + g3
    return (g0, s02 + s13, s02 - s13, g0 + c2 * g1 + c4 * g2 + c8 * g3,
            g0 - c2 * g1 + c4 * g2 - c8 * g3, g3)


@njit(inline="always")
def _g(g0, g1, g2):
    """G g for a 3-vector g (float64): 6 values."""
    s = g0 + g2
    return (g0 / 4.0, -(s + g1) / 6.0, -(s - g1) / 6.0,
            g0 / 24.0 + g1 / 12.0 + g2 / 6.0, g0 / 24.0 - g1 / 12.0 + g2 / 6.0, g2)


@njit(inline="always")
def _gt(u0, u1, u2, u3, u4, u5):
    """G^T u for a 6-vector u (float64): 3 values (the adjoint of _g)."""
    return (u0 / 4.0 - (u1 + u2) / 6.0 + (u3 + u4) / 24.0,
            (u2 - u1) / 6.0 + (u3 - u4) / 12.0,
            (u3 + u4 - u1 - u2) / 6.0 + u5)


# The same 1-D transforms on SIMD vectors (kernels/simd.py), one tile per lane;
# the constants come as vectors (vsplat), negated where a product is subtracted.

@njit(inline="always")
def _bt_v(d0, d1, d2, d3, d4, d5, c2, c4, m2, m4, m5):
    """_bt on vectors; m2, m4, m5 are -2, -4, -5."""
    t31 = vsub(d3, d1)
    t42 = vsub(d4, d2)
    return (vfma(c4, d0, vfma(m5, d2, d4)),
            vfma(m4, vadd(d1, d2), vadd(d3, d4)),
            vfma(c4, vsub(d1, d2), vsub(d4, d3)),
            vfma(c2, t31, t42),
            vfma(m2, t31, t42),
            vfma(c4, d1, vfma(m5, d3, d5)))


@njit(inline="always")
def _at_v(m0, m1, m2, m3, m4, m5, c2, c4, c8):
    """_at on vectors."""
    s12, d12 = vadd(m1, m2), vsub(m1, m2)
    s34, d34 = vadd(m3, m4), vsub(m3, m4)
    return (vadd(vadd(m0, s12), s34), vfma(c2, d34, d12), vfma(c4, s34, s12),
            vadd(vfma(c8, d34, d12), m5))


@njit(inline="always")
def _a_v(g0, g1, g2, g3, c2, c4, c8):
    """_a on vectors."""
    s02, s13 = vadd(g0, g2), vadd(g1, g3)
    even = vfma(c4, g2, g0)
    odd = vfma(c8, g3, vmul(c2, g1))
    return (g0, vadd(s02, s13), vsub(s02, s13), vadd(even, odd), vsub(even, odd), g3)


# How the hot loops are written (found by profiling earlier versions, whose
# transforms took longer than the 36 GEMMs; the rules were not timed one by one):
# * a task is a whole (image, channel) plane, and the tile-order loops write
#   (or read) the (36, channels*tiles) arrays point row by point row: 6 runs
#   of a plane's tiles at a time, not 36 short runs per tile row (that made the
#   input transform of bench shape A ~2x slower);
# * the plane is first copied into a zero-padded, phase-split buffer (column
#   4 t + s at [s, t]), so padding needs no test and every pass reads
#   contiguous runs over tiles, which LLVM vectorises;
# * no array views inside the task loop (a view costs an atomic reference
#   count increment and decrement); the tile offset is unsigned (np.uint64),
#   since Numba's wraparound test for a negative signed index stops
#   vectorisation; no tuple indexed by a loop variable (it compiles to a switch);
#   the serial branches pass np.int64(0), not a literal 0, which would compile
#   every helper a second time for a Literal[int](0) argument.
#
# _SLABS: the transformed tiles (and the GEMM results) are 2-D (36, slab): row
# xi holds the (channels, tiles) matrix of point xi, and the caller pads each
# row to an odd number of 64-byte lines so that the rows do not all map to the
# same cache sets (with e.g. 64 x 2048 float32 they would be 512 KiB apart).
# The planes are taken channel by channel, images fastest (plane = c * N + n),
# because the tiles of one channel are adjacent in every row: consecutive
# planes then write (or read) each row sequentially. The order before,
# channels fastest, jumped by a whole channel's tiles (N * tiles per image)
# in each of the 36 rows from one plane to the next, and made the input
# transform of bench shape A 1.7x slower (serial, 23 -> 13.4 ms).


@njit(fastmath=FASTMATH)
def _fill_plane(x, n, c, pad_h, pad_w, xp):
    """xp[y, s, t] = x[n, c, y - pad_h, 4 t + s - pad_w], zero outside the plane.

    xp : (rows, 4, slots), overwritten.
    """
    h, wd = x.shape[2], x.shape[3]
    hp, slots = xp.shape[0], xp.shape[2]
    flat = xp.reshape(-1)
    zero = xp.dtype.type(0)
    for e in range(flat.size):
        flat[e] = zero
    ix_lo, ix_hi = max(0, -pad_w), min(wd, TILE * slots - pad_w)
    for iy in range(max(0, -pad_h), min(h, hp - pad_h)):
        y = iy + pad_h
        for ix in range(ix_lo, ix_hi):
            xx = np.uint64(ix + pad_w)     # >= 0: unsigned, so % and // are a mask and a shift
            xp[y, xx & np.uint64(TILE - 1), xx >> np.uint64(2)] = x[n, c, iy, ix]


# --------------------------------------------------------------------------- input transform

@njit(fastmath=FASTMATH)
def _input_planes(x, v, pad_h, pad_w, tiles_h, tiles_w, lo, hi):
    """V for the planes [lo, hi); plane = c * N + n (see _SLABS for the order)."""
    n_images = x.shape[0]
    n_tiles = n_images * tiles_h * tiles_w
    dt = x.dtype.type
    c2, c4 = vsplat(dt(2)), vsplat(dt(4))
    m2, m4, m5 = vsplat(dt(-2)), vsplat(dt(-4)), vsplat(dt(-5))
    w_vec = lanes(x)
    slots = tiles_w + 1                              # tile tx reads slots tx and tx + 1
    xp = np.empty((tiles_h * TILE + 2, TILE, slots), x.dtype)
    xpf = xp.reshape(-1)
    rows = np.empty(ALPHA * ALPHA * w_vec, x.dtype)  # B^T along each tile row (i) of d
    vf = v.reshape(-1)
    v_row = v.shape[1]
    for task in range(lo, hi):
        n = task % n_images
        c = task // n_images
        _fill_plane(x, n, c, pad_h, pad_w, xp)
        base = c * n_tiles + n * tiles_h * tiles_w   # v[:, c, first tile of image n]
        for ty in range(tiles_h):
            for tx0 in range(0, tiles_w, w_vec):
                cnt = min(w_vec, tiles_w - tx0)      # tiles tx0 .. tx0 + cnt - 1, one per lane
                # pass 1: rows[i, q] = sum_j d[i, j] B^T[q, j]; d[i, j] of tile tx is
                # xp[4 ty + i, j % 4, tx + j // 4]: one contiguous run over the tiles
                for i in range(ALPHA):
                    src = (TILE * ty + i) * TILE * slots + tx0
                    r = _bt_v(vload_first(xpf, src, cnt), vload_first(xpf, src + slots, cnt),
                              vload_first(xpf, src + 2 * slots, cnt),
                              vload_first(xpf, src + 3 * slots, cnt),
                              vload_first(xpf, src + 1, cnt),
                              vload_first(xpf, src + slots + 1, cnt), c2, c4, m2, m4, m5)
                    o = i * ALPHA * w_vec
                    vstore(rows, o, r[0])
                    vstore(rows, o + w_vec, r[1])
                    vstore(rows, o + 2 * w_vec, r[2])
                    vstore(rows, o + 3 * w_vec, r[3])
                    vstore(rows, o + 4 * w_vec, r[4])
                    vstore(rows, o + 5 * w_vec, r[5])
                # pass 2: V[6 p + q] = sum_i B^T[p, i] rows[i, q]
                t = base + ty * tiles_w + tx0
                step = ALPHA * w_vec
                for q in range(ALPHA):
                    o = q * w_vec
                    r = _bt_v(vload(rows, o), vload(rows, o + step), vload(rows, o + 2 * step),
                              vload(rows, o + 3 * step), vload(rows, o + 4 * step),
                              vload(rows, o + 5 * step), c2, c4, m2, m4, m5)
                    vstore_first(vf, q * v_row + t, r[0], cnt)
                    vstore_first(vf, (ALPHA + q) * v_row + t, r[1], cnt)
                    vstore_first(vf, (2 * ALPHA + q) * v_row + t, r[2], cnt)
                    vstore_first(vf, (3 * ALPHA + q) * v_row + t, r[3], cnt)
                    vstore_first(vf, (4 * ALPHA + q) * v_row + t, r[4], cnt)
                    vstore_first(vf, (5 * ALPHA + q) * v_row + t, r[5], cnt)


def winograd_input_transform(x, v, pad_h, pad_w, tiles_h, tiles_w, n_chunks):
    """V = B^T d B for every 6x6 input tile: x (N, C, H, W) -> v (36, >= C*T).

    T = N*tiles_h*tiles_w. v[xi, c*T + t] is point xi of channel c of tile t:
    each row's first C*T entries are the (C, T) GEMM operand of point xi (see
    _SLABS above). Tile (ty, tx) of image n reads rows ty*4 - pad_h ... + 5 and columns
    tx*4 - pad_w ... + 5 of x, zero outside the image (so padding, and the
    tiles that hang over the bottom/right edge, read zeros). ``pad_h``/``pad_w``
    may be negative (a crop: grad-input of a conv with padding > 2).
    """
    tasks = x.shape[0] * x.shape[1]
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(tasks, np.int64(chunk), n_chunks)
        _input_planes(x, v, pad_h, pad_w, tiles_h, tiles_w, lo, hi)


winograd_input_transform, winograd_input_transform_parallel = serial_and_parallel(
    winograd_input_transform, fastmath=FASTMATH)


# --------------------------------------------------------------------------- output transform

@njit(fastmath=FASTMATH)
def _output_planes(m, out, tiles_h, tiles_w, lo, hi):
    """Output planes [lo, hi); plane = k * N + n."""
    n_images, _, oh, ow = out.shape
    n_tiles = n_images * tiles_h * tiles_w
    dt = out.dtype.type
    c2, c4, c8 = vsplat(dt(2)), vsplat(dt(4)), vsplat(dt(8))
    w_vec = lanes(out)
    mf = m.reshape(-1)
    m_row = m.shape[1]
    rows = np.empty(ALPHA * TILE * w_vec, out.dtype)   # A^T along each point row (p) of M
    # A tile row's 4 x 4 outputs, phase-split: band[a, b, tx] = Y[a, b] of tile tx,
    # output row 4 ty + a, column 4 tx + b; whole vectors (rounded-up rows).
    band_w = (tiles_w + w_vec - 1) // w_vec * w_vec
    band = np.empty((TILE, TILE, band_w), out.dtype)
    bandf = band.reshape(-1)
    for task in range(lo, hi):
        n = task % n_images
        k = task // n_images
        base = k * n_tiles + n * tiles_h * tiles_w   # m[:, k, first tile of image n]
        for ty in range(tiles_h):
            for tx0 in range(0, tiles_w, w_vec):
                cnt = min(w_vec, tiles_w - tx0)
                t = base + ty * tiles_w + tx0
                # pass 1: rows[p, b] = sum_q M[6 p + q] A^T[b, q]
                for p in range(ALPHA):
                    src = p * ALPHA * m_row + t
                    y = _at_v(vload_first(mf, src, cnt), vload_first(mf, src + m_row, cnt),
                              vload_first(mf, src + 2 * m_row, cnt),
                              vload_first(mf, src + 3 * m_row, cnt),
                              vload_first(mf, src + 4 * m_row, cnt),
                              vload_first(mf, src + 5 * m_row, cnt), c2, c4, c8)
                    o = p * TILE * w_vec
                    vstore(rows, o, y[0])
                    vstore(rows, o + w_vec, y[1])
                    vstore(rows, o + 2 * w_vec, y[2])
                    vstore(rows, o + 3 * w_vec, y[3])
                # pass 2: Y[a, b] = sum_p A^T[a, p] rows[p, b]
                step = TILE * w_vec
                for b in range(TILE):
                    o = b * w_vec
                    y = _at_v(vload(rows, o), vload(rows, o + step), vload(rows, o + 2 * step),
                              vload(rows, o + 3 * step), vload(rows, o + 4 * step),
                              vload(rows, o + 5 * step), c2, c4, c8)
                    d = b * band_w + tx0
                    vstore(bandf, d, y[0])
                    vstore(bandf, d + TILE * band_w, y[1])
                    vstore(bandf, d + 2 * TILE * band_w, y[2])
                    vstore(bandf, d + 3 * TILE * band_w, y[3])
            # interleave the phases into the output rows, cropped to the plane
            y0 = ty * TILE
            for a in range(min(TILE, oh - y0)):
                for xx in range(ow):
                    col = np.uint64(xx)
                    out[n, k, y0 + a, xx] = band[a, col & np.uint64(TILE - 1), col >> np.uint64(2)]


def winograd_output_transform(m, out, tiles_h, tiles_w, n_chunks):
    """Y = A^T M A for every tile: m (36, >= K*T) -> out (N, K, H_out, W_out).

    T = N*tiles_h*tiles_w; m[xi, k*T + t] is point xi of channel k of tile t
    (the GEMM's (K, T) result).
    Overwrites ``out``; the parts of edge tiles past H_out / W_out are dropped.
    """
    tasks = out.shape[0] * out.shape[1]
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(tasks, np.int64(chunk), n_chunks)
        _output_planes(m, out, tiles_h, tiles_w, lo, hi)


winograd_output_transform, winograd_output_transform_parallel = serial_and_parallel(
    winograd_output_transform, fastmath=FASTMATH)


# --------------------------------------------------------------------------- grad-output transform

@njit(fastmath=FASTMATH)
def _grad_output_planes(go, m, tiles_h, tiles_w, lo, hi):
    """M' for the planes [lo, hi); plane = k * N + n."""
    n_images = go.shape[0]
    n_tiles = n_images * tiles_h * tiles_w
    dt = go.dtype.type
    c2, c4, c8 = vsplat(dt(2)), vsplat(dt(4)), vsplat(dt(8))
    w_vec = lanes(go)
    gp = np.empty((tiles_h * TILE, TILE, tiles_w), go.dtype)  # the plane, zero-padded, phase-split
    gpf = gp.reshape(-1)
    rows = np.empty(TILE * ALPHA * w_vec, go.dtype)   # A along each tile row (r) of dY
    mf = m.reshape(-1)
    m_row = m.shape[1]
    for task in range(lo, hi):
        n = task % n_images
        k = task // n_images
        _fill_plane(go, n, k, np.int64(0), np.int64(0), gp)  # not literal 0s: one signature
        base = k * n_tiles + n * tiles_h * tiles_w
        for ty in range(tiles_h):
            for tx0 in range(0, tiles_w, w_vec):
                cnt = min(w_vec, tiles_w - tx0)
                # pass 1: rows[r, q] = sum_s A[q, s] dY[r, s]; dY[r, s] of tile tx is
                # gp[4 ty + r, s, tx]
                for r in range(TILE):
                    src = (TILE * ty + r) * TILE * tiles_w + tx0
                    a = _a_v(vload_first(gpf, src, cnt), vload_first(gpf, src + tiles_w, cnt),
                             vload_first(gpf, src + 2 * tiles_w, cnt),
                             vload_first(gpf, src + 3 * tiles_w, cnt), c2, c4, c8)
                    o = r * ALPHA * w_vec
                    vstore(rows, o, a[0])
                    vstore(rows, o + w_vec, a[1])
                    vstore(rows, o + 2 * w_vec, a[2])
                    vstore(rows, o + 3 * w_vec, a[3])
                    vstore(rows, o + 4 * w_vec, a[4])
                    vstore(rows, o + 5 * w_vec, a[5])
                # pass 2: M'[6 p + q] = sum_r A[p, r] rows[r, q]
                t = base + ty * tiles_w + tx0
                step = ALPHA * w_vec
                for q in range(ALPHA):
                    o = q * w_vec
                    a = _a_v(vload(rows, o), vload(rows, o + step), vload(rows, o + 2 * step),
                             vload(rows, o + 3 * step), c2, c4, c8)
                    vstore_first(mf, q * m_row + t, a[0], cnt)
                    vstore_first(mf, (ALPHA + q) * m_row + t, a[1], cnt)
                    vstore_first(mf, (2 * ALPHA + q) * m_row + t, a[2], cnt)
                    vstore_first(mf, (3 * ALPHA + q) * m_row + t, a[3], cnt)
                    vstore_first(mf, (4 * ALPHA + q) * m_row + t, a[4], cnt)
                    vstore_first(mf, (5 * ALPHA + q) * m_row + t, a[5], cnt)


def winograd_grad_output_transform(go, m, tiles_h, tiles_w, n_chunks):
    """M' = A dY A^T for every tile (the adjoint of the output transform):
    go (N, K, H_out, W_out) -> m (36, >= K*T) laid out as in the output transform;
    zero past the edges."""
    tasks = go.shape[0] * go.shape[1]
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(tasks, np.int64(chunk), n_chunks)
        _grad_output_planes(go, m, tiles_h, tiles_w, lo, hi)


winograd_grad_output_transform, winograd_grad_output_transform_parallel = serial_and_parallel(
    winograd_grad_output_transform, fastmath=FASTMATH)


# --------------------------------------------------------------------------- weight transforms

@njit(fastmath=FASTMATH)
def _weight_rows(w, u, lo, hi):
    """U[:, k, :] = G w[k, c] G^T for the output channels k in [lo, hi), in float64.

    The innermost loops run over the input channel c, the contiguous axis of u.
    """
    chans = w.shape[1]
    cols = np.empty((3, ALPHA, chans), np.float64)   # G applied down each filter column j
    for k in range(lo, hi):
        for j in range(3):
            for c in range(chans):
                g = _g(np.float64(w[k, c, 0, j]), np.float64(w[k, c, 1, j]),
                       np.float64(w[k, c, 2, j]))
                cols[j, 0, c] = g[0]
                cols[j, 1, c] = g[1]
                cols[j, 2, c] = g[2]
                cols[j, 3, c] = g[3]
                cols[j, 4, c] = g[4]
                cols[j, 5, c] = g[5]
        k0 = np.uint64(k * chans)
        for p in range(ALPHA):
            b = p * ALPHA
            for c in range(chans):
                g = _g(cols[0, p, c], cols[1, p, c], cols[2, p, c])
                i = k0 + np.uint64(c)
                u[b, i] = g[0]
                u[b + 1, i] = g[1]
                u[b + 2, i] = g[2]
                u[b + 3, i] = g[3]
                u[b + 4, i] = g[4]
                u[b + 5, i] = g[5]


def winograd_weight_transform(w, u, n_chunks):
    """U = G g G^T for every filter: w (K, C, 3, 3) -> u (36, >= K*C), u[xi, k*C + c] (_SLABS)."""
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(w.shape[0], np.int64(chunk), n_chunks)
        _weight_rows(w, u, lo, hi)


winograd_weight_transform, winograd_weight_transform_parallel = serial_and_parallel(
    winograd_weight_transform, fastmath=FASTMATH)


@njit(fastmath=FASTMATH)
def _weight_grad_rows(du, gw, lo, hi):
    """gw[k, c] = G^T dU[:, k, c] G for the output channels k in [lo, hi), in float64.

    Innermost loops over c (contiguous in du), as in _weight_rows.
    """
    chans = gw.shape[1]
    rows = np.empty((ALPHA, 3, chans), np.float64)   # G^T applied along each row p of dU
    for k in range(lo, hi):
        k0 = np.uint64(k * chans)
        for p in range(ALPHA):
            b = p * ALPHA
            for c in range(chans):
                i = k0 + np.uint64(c)
                r = _gt(np.float64(du[b, i]), np.float64(du[b + 1, i]),
                        np.float64(du[b + 2, i]), np.float64(du[b + 3, i]),
                        np.float64(du[b + 4, i]), np.float64(du[b + 5, i]))
                rows[p, 0, c] = r[0]
                rows[p, 1, c] = r[1]
                rows[p, 2, c] = r[2]
        for j in range(3):
            for c in range(chans):
                y = _gt(rows[0, j, c], rows[1, j, c], rows[2, j, c], rows[3, j, c],
                        rows[4, j, c], rows[5, j, c])
                gw[k, c, 0, j] = y[0]
                gw[k, c, 1, j] = y[1]
                gw[k, c, 2, j] = y[2]


def winograd_weight_grad_transform(du, gw, n_chunks):
    """gw = G^T dU G for every filter (the adjoint of the weight transform):
    du (36, >= K*C), du[xi, k*C + c] (_SLABS) -> gw (K, C, 3, 3), overwritten."""
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(gw.shape[0], np.int64(chunk), n_chunks)
        _weight_grad_rows(du, gw, lo, hi)


winograd_weight_grad_transform, winograd_weight_grad_transform_parallel = serial_and_parallel(
    winograd_weight_grad_transform, fastmath=FASTMATH)
