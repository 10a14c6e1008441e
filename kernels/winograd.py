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

Each 2-D transform is done as two passes of a 1-D one on explicit SIMD vectors
(kernels/simd.py) with one tile per lane: a vector holds the same point of up
to ``lanes`` consecutive tiles of a tile row. Padding and partial edge tiles
go through a zero-filled, phase-split copy of the plane, so the inner loops
test nothing.

Every transform is two kernels, ``winograd_*_transform`` (serial) and its
``_parallel`` twin (kernels/_chunks.serial_and_parallel), and takes the
house's trailing ``n_chunks``: 1 on the calling thread; n > 1 splits the
independent items ((image, channel) planes, or output channels of the weight)
into n chunks, each written by one thread.
All arithmetic is in the arrays' dtype. The constants of B^T and A^T are small
integers, exact in either dtype; G's 1/6, 1/12 and 1/24 are rounded, so U
differs from a float64 transform by a few units in the last place (measured
max 3e-8 relative in float32; it computed in float64 before and was 1.6x
slower, the weight-grad transform 2.4x).
"""
import numpy as np
from numba import njit, prange

from ._chunks import chunk_bounds, serial_and_parallel
from ._config import CACHE, FASTMATH
from .simd import (lanes, vadd, vfma, vload, vload_first, vload_lanes, vmul, vsplat, vstore,
                   vstore_first, vsub, vzero)
from .simd_shuffle import veven, vodd, vzip_hi, vzip_lo

TILE = 4     # output tile side m
ALPHA = 6    # input tile side m + r - 1


# --------------------------------------------------------------------------- 1-D transforms
# On SIMD vectors (kernels/simd.py), one tile per lane; each returns a tuple of
# vectors. The constants come as vectors (vsplat) in the arrays' dtype: c2 = 2,
# m2 = -2 and so on, negated where a product is subtracted.

@njit(inline="always")
def _bt(d0, d1, d2, d3, d4, d5, c2, c4, m2, m4, m5):
    """B^T d for a 6-vector d: (4 d0 - 5 d2 + d4, d3 + d4 - 4 (d1 + d2),
    d4 - d3 + 4 (d1 - d2), d4 - d2 + 2 (d3 - d1), d4 - d2 - 2 (d3 - d1), 4 d1 - 5 d3 + d5)."""
    t31 = vsub(d3, d1)
    t42 = vsub(d4, d2)
    return (vfma(c4, d0, vfma(m5, d2, d4)),
            vfma(m4, vadd(d1, d2), vadd(d3, d4)),
            vfma(c4, vsub(d1, d2), vsub(d4, d3)),
            vfma(c2, t31, t42),
            vfma(m2, t31, t42),
            vfma(c4, d1, vfma(m5, d3, d5)))


@njit(inline="always")
def _at(m0, m1, m2, m3, m4, m5, c2, c4, c8):
    """A^T m for a 6-vector m: 4 values, (m0 + s12 + s34, d12 + 2 d34, s12 + 4 s34,
    d12 + 8 d34 + m5) with s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4."""
    s12, d12 = vadd(m1, m2), vsub(m1, m2)
    s34, d34 = vadd(m3, m4), vsub(m3, m4)
    return (vadd(vadd(m0, s12), s34), vfma(c2, d34, d12), vfma(c4, s34, s12),
            vadd(vfma(c8, d34, d12), m5))


@njit(inline="always")
def _a(g0, g1, g2, g3, c2, c4, c8):
    """A g for a 4-vector g (the adjoint of _at): 6 values, (g0, s02 + s13, s02 - s13,
    g0 + 2 g1 + 4 g2 + 8 g3, g0 - 2 g1 + 4 g2 - 8 g3, g3) with s02 = g0 + g2, s13 = g1 + g3."""
    s02, s13 = vadd(g0, g2), vadd(g1, g3)
    even = vfma(c4, g2, g0)
    odd = vfma(c8, g3, vmul(c2, g1))
    return (g0, vadd(s02, s13), vsub(s02, s13), vadd(even, odd), vsub(even, odd), g3)


@njit(inline="always")
def _g(g0, g1, g2, q4, q6, q12, q24, m6):
    """G g for a 3-vector g: 6 values, (g0 / 4, -(s + g1) / 6, -(s - g1) / 6,
    g0 / 24 + g1 / 12 + g2 / 6, g0 / 24 - g1 / 12 + g2 / 6, g2) with s = g0 + g2;
    q4 .. q24 are 1/4, 1/6, 1/12, 1/24 and m6 is -1/6."""
    s = vadd(g0, g2)
    even = vfma(g0, q24, vmul(g2, q6))
    odd = vmul(g1, q12)
    return (vmul(g0, q4), vmul(vadd(s, g1), m6), vmul(vsub(s, g1), m6), vadd(even, odd),
            vsub(even, odd), g2)


@njit(inline="always")
def _gt(u0, u1, u2, u3, u4, u5, q4, q6, q12, q24, m6):
    """G^T u for a 6-vector u (the adjoint of _g): 3 values, (u0 / 4 - s12 / 6 + s34 / 24,
    (u2 - u1) / 6 + (u3 - u4) / 12, (s34 - s12) / 6 + u5) with s12 = u1 + u2, s34 = u3 + u4."""
    s12, s34 = vadd(u1, u2), vadd(u3, u4)
    return (vfma(u0, q4, vfma(s34, q24, vmul(s12, m6))),
            vfma(vsub(u2, u1), q6, vmul(vsub(u3, u4), q12)),
            vfma(vsub(s34, s12), q6, u5))


@njit(inline="always")
def _load6_first(arr, o, step, cnt):
    """The first cnt lanes at o, o + step, ..., o + 5 step (zero in the others): 6 vectors."""
    return (vload_first(arr, o, cnt), vload_first(arr, o + step, cnt),
            vload_first(arr, o + 2 * step, cnt), vload_first(arr, o + 3 * step, cnt),
            vload_first(arr, o + 4 * step, cnt), vload_first(arr, o + 5 * step, cnt))


@njit(inline="always")
def _store6(arr, o, step, r):
    """The 6 vectors r to arr at o, o + step, ..., o + 5 step."""
    vstore(arr, o, r[0])
    vstore(arr, o + step, r[1])
    vstore(arr, o + 2 * step, r[2])
    vstore(arr, o + 3 * step, r[3])
    vstore(arr, o + 4 * step, r[4])
    vstore(arr, o + 5 * step, r[5])


@njit(inline="always")
def _store6_first(arr, o, step, r, cnt):
    """_store6 with the first cnt lanes of each vector only (a slab's rows, 6 points apart
    or adjacent)."""
    vstore_first(arr, o, r[0], cnt)
    vstore_first(arr, o + step, r[1], cnt)
    vstore_first(arr, o + 2 * step, r[2], cnt)
    vstore_first(arr, o + 3 * step, r[3], cnt)
    vstore_first(arr, o + 4 * step, r[4], cnt)
    vstore_first(arr, o + 5 * step, r[5], cnt)


# How the hot loops are written:
# * a task is a whole (image, channel) plane. Its tiles are taken a tile row at
#   a time, in vectors of consecutive tiles (one tile per lane, the last vector
#   of a row masked): pass 1 transforms each tile row of the 6x6 (or 4x4) tiles
#   from 6 masked loads of the phase-split plane into a small scratch of 36
#   vectors (L1), pass 2 transforms down the columns from there and stores 36
#   vectors, each to its point's row of the (36, channels*tiles) slab (see
#   _SLABS). The scalar loops before, which LLVM vectorised only over the tiles
#   of one row (14 on ResNet-18's 56x56 layer, mostly the scalar remainder
#   loop), were 1.5-2.3x slower serially;
# * the plane is first copied into a zero-padded, phase-split buffer (column
#   4 t + s at [s, t]), so padding needs no test and every load is a
#   contiguous run over tiles: 4 vectors of a row at a time, split into the 4
#   phases by two rounds of even / odd shuffles (_fill_plane); the output side
#   interleaves the phases back with zips;
# * no array views inside the task loop (a view costs an atomic reference
#   count increment and decrement); flat offsets through the simd intrinsics,
#   not 2-D indexing; no tuple indexed by a loop variable (it compiles to a
#   switch); the serial branches pass np.int64(0), not a literal 0, which would
#   compile every helper a second time for a Literal[int](0) argument.
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

    xp : (rows, 4, slots), overwritten; x C-contiguous. Each row is done 4
    vectors of the padded row at a time: masked loads (zero in the padding and
    past the plane), then two rounds of even / odd shuffles split them into
    the 4 column phases, stored as one vector each.
    """
    h, wd = x.shape[2], x.shape[3]
    hp, slots = xp.shape[0], xp.shape[2]
    w_vec = lanes(x)
    xpf = xp.reshape(-1)
    zero = vzero(x)
    row0 = (n * x.shape[1] + c) * h * wd        # flat offset of x[n, c, 0, 0]
    for y in range(hp):
        iy = y - pad_h
        dst = y * TILE * slots
        inside = 0 <= iy < h
        src = row0 + iy * wd - pad_w             # padded column P of this row is x[src + P]
        for t0 in range(0, slots, w_vec):
            cnt = min(w_vec, slots - t0)
            if inside:
                # padded columns P0 .. P0 + 4 w_vec - 1; lanes with pad_w <= P < pad_w + wd are read
                p0 = TILE * t0
                lo = pad_w - p0
                hi = pad_w + wd - p0
                v0 = vload_lanes(x, src + p0, lo, hi)
                v1 = vload_lanes(x, src + p0 + w_vec, lo - w_vec, hi - w_vec)
                v2 = vload_lanes(x, src + p0 + 2 * w_vec, lo - 2 * w_vec, hi - 2 * w_vec)
                v3 = vload_lanes(x, src + p0 + 3 * w_vec, lo - 3 * w_vec, hi - 3 * w_vec)
                even = (veven(v0, v1), veven(v2, v3))    # columns 0, 2 (mod 4) ...
                odd = (vodd(v0, v1), vodd(v2, v3))       # ... and 1, 3
                vstore_first(xpf, dst + t0, veven(even[0], even[1]), cnt)
                vstore_first(xpf, dst + slots + t0, veven(odd[0], odd[1]), cnt)
                vstore_first(xpf, dst + 2 * slots + t0, vodd(even[0], even[1]), cnt)
                vstore_first(xpf, dst + 3 * slots + t0, vodd(odd[0], odd[1]), cnt)
            else:
                for s in range(TILE):
                    vstore_first(xpf, dst + s * slots + t0, zero, cnt)


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
                    r = _bt(vload_first(xpf, src, cnt), vload_first(xpf, src + slots, cnt),
                            vload_first(xpf, src + 2 * slots, cnt),
                            vload_first(xpf, src + 3 * slots, cnt),
                            vload_first(xpf, src + 1, cnt),
                            vload_first(xpf, src + slots + 1, cnt), c2, c4, m2, m4, m5)
                    _store6(rows, i * ALPHA * w_vec, w_vec, r)
                # pass 2: V[6 p + q] = sum_i B^T[p, i] rows[i, q]
                t = base + ty * tiles_w + tx0
                step = ALPHA * w_vec
                for q in range(ALPHA):
                    o = q * w_vec
                    r = _bt(vload(rows, o), vload(rows, o + step), vload(rows, o + 2 * step),
                            vload(rows, o + 3 * step), vload(rows, o + 4 * step),
                            vload(rows, o + 5 * step), c2, c4, m2, m4, m5)
                    _store6_first(vf, q * v_row + t, ALPHA * v_row, r, cnt)


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
                    d = _load6_first(mf, src, m_row, cnt)
                    y = _at(d[0], d[1], d[2], d[3], d[4], d[5], c2, c4, c8)
                    o = p * TILE * w_vec
                    vstore(rows, o, y[0])
                    vstore(rows, o + w_vec, y[1])
                    vstore(rows, o + 2 * w_vec, y[2])
                    vstore(rows, o + 3 * w_vec, y[3])
                # pass 2: Y[a, b] = sum_p A^T[a, p] rows[p, b]
                step = TILE * w_vec
                for b in range(TILE):
                    o = b * w_vec
                    y = _at(vload(rows, o), vload(rows, o + step), vload(rows, o + 2 * step),
                            vload(rows, o + 3 * step), vload(rows, o + 4 * step),
                            vload(rows, o + 5 * step), c2, c4, c8)
                    d = b * band_w + tx0
                    vstore(bandf, d, y[0])
                    vstore(bandf, d + TILE * band_w, y[1])
                    vstore(bandf, d + 2 * TILE * band_w, y[2])
                    vstore(bandf, d + 3 * TILE * band_w, y[3])
            # interleave the phases into the output rows (two rounds of zips: 4 vectors
            # of band[a, b] -> 4 vectors of consecutive columns), cropped to the plane
            y0 = ty * TILE
            for a in range(min(TILE, oh - y0)):
                dst = ((n * out.shape[1] + k) * oh + y0 + a) * ow
                for tx0 in range(0, tiles_w, w_vec):
                    src = a * TILE * band_w + tx0
                    b0 = vload(bandf, src)
                    b1 = vload(bandf, src + band_w)
                    b2 = vload(bandf, src + 2 * band_w)
                    b3 = vload(bandf, src + 3 * band_w)
                    lo = (vzip_lo(b0, b2), vzip_lo(b1, b3))   # tiles tx0 .. + w_vec/2 - 1
                    hi = (vzip_hi(b0, b2), vzip_hi(b1, b3))   # and the rest
                    col = TILE * tx0
                    vstore_first(out, dst + col, vzip_lo(lo[0], lo[1]), ow - col)
                    vstore_first(out, dst + col + w_vec, vzip_hi(lo[0], lo[1]), ow - col - w_vec)
                    vstore_first(out, dst + col + 2 * w_vec, vzip_lo(hi[0], hi[1]),
                                 ow - col - 2 * w_vec)
                    vstore_first(out, dst + col + 3 * w_vec, vzip_hi(hi[0], hi[1]),
                                 ow - col - 3 * w_vec)


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
                    a = _a(vload_first(gpf, src, cnt), vload_first(gpf, src + tiles_w, cnt),
                           vload_first(gpf, src + 2 * tiles_w, cnt),
                           vload_first(gpf, src + 3 * tiles_w, cnt), c2, c4, c8)
                    _store6(rows, r * ALPHA * w_vec, w_vec, a)
                # pass 2: M'[6 p + q] = sum_r A[p, r] rows[r, q]
                t = base + ty * tiles_w + tx0
                step = ALPHA * w_vec
                for q in range(ALPHA):
                    o = q * w_vec
                    a = _a(vload(rows, o), vload(rows, o + step), vload(rows, o + 2 * step),
                           vload(rows, o + 3 * step), c2, c4, c8)
                    _store6_first(mf, q * m_row + t, ALPHA * m_row, a, cnt)


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
    """U[:, k, :] = G w[k, c] G^T for the output channels k in [lo, hi).

    Vectors along the input channels c, the contiguous axis of u: each k's
    filters are first transposed, element by element, to taps[t, c] (the
    9 taps of a filter are adjacent in w, 9 apart across filters); then each
    vector of channels needs 9 loads, two rounds of _g and 36 stores.
    """
    chans = w.shape[1]
    dt = u.dtype.type
    q4, q6, q12, q24 = vsplat(dt(0.25)), vsplat(dt(1 / 6)), vsplat(dt(1 / 12)), vsplat(dt(1 / 24))
    m6 = vsplat(dt(-1 / 6))
    w_vec = lanes(u)
    row = (chans + w_vec - 1) // w_vec * w_vec
    # zeros: the lanes past C_in of the last vector are loaded (and dropped at the store);
    # left uninitialised they could hold denormals, which cost microcode assists
    taps = np.zeros(9 * row, u.dtype)
    wf = w.reshape(-1)
    uf = u.reshape(-1)
    u_row = u.shape[1]
    for k in range(lo, hi):
        src = k * chans * 9
        for c in range(chans):
            for t in range(9):
                taps[t * row + c] = wf[src + c * 9 + t]
        for c0 in range(0, chans, w_vec):
            cnt = min(w_vec, chans - c0)
            g00, g01, g02 = vload(taps, c0), vload(taps, row + c0), vload(taps, 2 * row + c0)
            g10, g11, g12 = (vload(taps, 3 * row + c0), vload(taps, 4 * row + c0),
                             vload(taps, 5 * row + c0))
            g20, g21, g22 = (vload(taps, 6 * row + c0), vload(taps, 7 * row + c0),
                             vload(taps, 8 * row + c0))
            # G down each of the filter's 3 columns j: cols[j][p] = sum_i G[p, i] g[i, j]
            cols0 = _g(g00, g10, g20, q4, q6, q12, q24, m6)
            cols1 = _g(g01, g11, g21, q4, q6, q12, q24, m6)
            cols2 = _g(g02, g12, g22, q4, q6, q12, q24, m6)
            # U[6 p + q] = sum_j cols[j][p] G[q, j], one point row p at a time
            dst = k * chans + c0
            _store6_first(uf, dst, u_row,
                          _g(cols0[0], cols1[0], cols2[0], q4, q6, q12, q24, m6), cnt)
            _store6_first(uf, ALPHA * u_row + dst, u_row,
                          _g(cols0[1], cols1[1], cols2[1], q4, q6, q12, q24, m6), cnt)
            _store6_first(uf, 2 * ALPHA * u_row + dst, u_row,
                          _g(cols0[2], cols1[2], cols2[2], q4, q6, q12, q24, m6), cnt)
            _store6_first(uf, 3 * ALPHA * u_row + dst, u_row,
                          _g(cols0[3], cols1[3], cols2[3], q4, q6, q12, q24, m6), cnt)
            _store6_first(uf, 4 * ALPHA * u_row + dst, u_row,
                          _g(cols0[4], cols1[4], cols2[4], q4, q6, q12, q24, m6), cnt)
            _store6_first(uf, 5 * ALPHA * u_row + dst, u_row,
                          _g(cols0[5], cols1[5], cols2[5], q4, q6, q12, q24, m6), cnt)


def winograd_weight_transform(w, u, n_chunks):
    """U = G g G^T for every filter: w (K, C, 3, 3) -> u (36, >= K*C), u[xi, k*C + c] (_SLABS)."""
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(w.shape[0], np.int64(chunk), n_chunks)
        _weight_rows(w, u, lo, hi)


winograd_weight_transform, winograd_weight_transform_parallel = serial_and_parallel(
    winograd_weight_transform, fastmath=FASTMATH)


@njit(fastmath=FASTMATH)
def _weight_grad_rows(du, gw, lo, hi):
    """gw[k, c] = G^T dU[:, k, c] G for the output channels k in [lo, hi).

    The transpose of _weight_rows: vectors along c (contiguous in du), the 9
    results per vector to taps[t, c], then element by element to gw.
    """
    chans = gw.shape[1]
    dt = gw.dtype.type
    q4, q6, q12, q24 = vsplat(dt(0.25)), vsplat(dt(1 / 6)), vsplat(dt(1 / 12)), vsplat(dt(1 / 24))
    m6 = vsplat(dt(-1 / 6))
    w_vec = lanes(gw)
    row = (chans + w_vec - 1) // w_vec * w_vec
    taps = np.empty(9 * row, gw.dtype)
    duf = du.reshape(-1)
    gwf = gw.reshape(-1)
    du_row = du.shape[1]
    for k in range(lo, hi):
        for c0 in range(0, chans, w_vec):
            cnt = min(w_vec, chans - c0)
            src = k * chans + c0
            # G^T along each point row p: rows_p[j] = sum_q dU[6 p + q] G[q, j]
            d = _load6_first(duf, src, du_row, cnt)
            r0 = _gt(d[0], d[1], d[2], d[3], d[4], d[5], q4, q6, q12, q24, m6)
            d = _load6_first(duf, ALPHA * du_row + src, du_row, cnt)
            r1 = _gt(d[0], d[1], d[2], d[3], d[4], d[5], q4, q6, q12, q24, m6)
            d = _load6_first(duf, 2 * ALPHA * du_row + src, du_row, cnt)
            r2 = _gt(d[0], d[1], d[2], d[3], d[4], d[5], q4, q6, q12, q24, m6)
            d = _load6_first(duf, 3 * ALPHA * du_row + src, du_row, cnt)
            r3 = _gt(d[0], d[1], d[2], d[3], d[4], d[5], q4, q6, q12, q24, m6)
            d = _load6_first(duf, 4 * ALPHA * du_row + src, du_row, cnt)
            r4 = _gt(d[0], d[1], d[2], d[3], d[4], d[5], q4, q6, q12, q24, m6)
            d = _load6_first(duf, 5 * ALPHA * du_row + src, du_row, cnt)
            r5 = _gt(d[0], d[1], d[2], d[3], d[4], d[5], q4, q6, q12, q24, m6)
            # G^T down each column j: gw[., ., i, j] = sum_p G[p, i] rows_p[j], to taps[3 i + j]
            y = _gt(r0[0], r1[0], r2[0], r3[0], r4[0], r5[0], q4, q6, q12, q24, m6)
            vstore(taps, c0, y[0])
            vstore(taps, 3 * row + c0, y[1])
            vstore(taps, 6 * row + c0, y[2])
            y = _gt(r0[1], r1[1], r2[1], r3[1], r4[1], r5[1], q4, q6, q12, q24, m6)
            vstore(taps, row + c0, y[0])
            vstore(taps, 4 * row + c0, y[1])
            vstore(taps, 7 * row + c0, y[2])
            y = _gt(r0[2], r1[2], r2[2], r3[2], r4[2], r5[2], q4, q6, q12, q24, m6)
            vstore(taps, 2 * row + c0, y[0])
            vstore(taps, 5 * row + c0, y[1])
            vstore(taps, 8 * row + c0, y[2])
        dst = k * chans * 9
        for c in range(chans):
            for t in range(9):
                gwf[dst + c * 9 + t] = taps[t * row + c]


def winograd_weight_grad_transform(du, gw, n_chunks):
    """gw = G^T dU G for every filter (the adjoint of the weight transform):
    du (36, >= K*C), du[xi, k*C + c] (_SLABS) -> gw (K, C, 3, 3), overwritten."""
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(gw.shape[0], np.int64(chunk), n_chunks)
        _weight_grad_rows(du, gw, lo, hi)


winograd_weight_grad_transform, winograd_weight_grad_transform_parallel = serial_and_parallel(
    winograd_weight_grad_transform, fastmath=FASTMATH)
