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
transforms, between the NCHW images and the (36, channels, tiles) layout the
GEMM wants; tile t is (image, tile row, tile column) in row-major order.

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

Each 2-D transform is done as two passes of a 1-D one: first along image rows
for a whole band of tiles at once (contiguous, so LLVM vectorises it), then
along columns tile by tile. Padding and partial edge tiles go through a
zero-filled band buffer, so the inner loops test nothing.

Parallel kernels take the house's trailing ``n_chunks`` (kernels/_chunks.py):
1 runs serially on the calling thread; n > 1 splits the independent items
(band rows of tiles, or weight rows) into n chunks, each written by one thread.
The constants of B^T and A^T are small integers, exact in either dtype; they
are made with ``dtype.type`` so that float32 arithmetic stays float32 (a bare
``4 * x`` would promote to float64). The weight transforms, which run once per
call on the small weight, compute in float64 and round once on store.
"""
import numpy as np
from numba import njit, prange

from ._chunks import chunk_bounds
from ._config import CACHE, FASTMATH

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


# --------------------------------------------------------------------------- input transform

@njit(fastmath=FASTMATH)
def _input_rows(x, v, pad_h, pad_w, tiles_h, tiles_w, lo, hi):
    """V for the band tasks [lo, hi); task = (n * C + c) * tiles_h + tile row."""
    _, chans, h, wd = x.shape
    dt = x.dtype.type
    c2, c4, c5, zero = dt(2), dt(4), dt(5), dt(0)
    wp = tiles_w * TILE + 2                   # band width: every tile's 6 columns
    band = np.empty((ALPHA, wp), x.dtype)     # the 6 input rows of a tile row, zero-padded
    rows = np.empty((ALPHA, wp), x.dtype)     # B^T applied down the columns of the band
    x_lo = min(max(0, pad_w), wp)             # band columns [x_lo, x_hi) hold input columns
    x_hi = max(x_lo, min(wp, pad_w + wd))
    for task in range(lo, hi):
        ty = task % tiles_h
        c = (task // tiles_h) % chans
        n = task // (tiles_h * chans)
        for i in range(ALPHA):
            iy = ty * TILE + i - pad_h
            row = band[i]
            if iy < 0 or iy >= h:
                row[:] = zero
                continue
            src = x[n, c, iy]
            row[:x_lo] = zero
            for xx in range(x_lo, x_hi):
                row[xx] = src[xx - pad_w]
            row[x_hi:] = zero
        # pass 1, vectorised along the band: rows[p] = sum_i B^T[p, i] band[i]
        for xx in range(wp):
            r = _bt(band[0, xx], band[1, xx], band[2, xx], band[3, xx], band[4, xx], band[5, xx],
                    c2, c4, c5)
            for p in range(ALPHA):
                rows[p, xx] = r[p]
        # pass 2, tile by tile: V[6p + q] = sum_j rows[p, 4 tx + j] B^T[q, j]
        t0 = (n * tiles_h + ty) * tiles_w
        for p in range(ALPHA):
            rp = rows[p]
            for tx in range(tiles_w):
                b = tx * TILE
                s = _bt(rp[b], rp[b + 1], rp[b + 2], rp[b + 3], rp[b + 4], rp[b + 5], c2, c4, c5)
                for q in range(ALPHA):
                    v[p * ALPHA + q, c, t0 + tx] = s[q]


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def winograd_input_transform(x, v, pad_h, pad_w, tiles_h, tiles_w, n_chunks):
    """V = B^T d B for every 6x6 input tile: x (N, C, H, W) -> v (36, C, N*tiles_h*tiles_w).

    Tile (ty, tx) of image n reads rows ty*4 - pad_h ... + 5 and columns
    tx*4 - pad_w ... + 5 of x, zero outside the image (so padding, and the
    tiles that hang over the bottom/right edge, read zeros). ``pad_h``/``pad_w``
    may be negative (a crop: grad-input of a conv with padding > 2).
    """
    tasks = x.shape[0] * x.shape[1] * tiles_h
    if n_chunks <= 1:
        _input_rows(x, v, pad_h, pad_w, tiles_h, tiles_w, 0, tasks)
        return
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(tasks, chunk, n_chunks)
        _input_rows(x, v, pad_h, pad_w, tiles_h, tiles_w, lo, hi)


# --------------------------------------------------------------------------- output transform

@njit(fastmath=FASTMATH)
def _output_rows(m, out, tiles_h, tiles_w, lo, hi):
    """Output rows of the band tasks [lo, hi); task = (n * K + k) * tiles_h + tile row."""
    _, chans, oh, ow = out.shape
    dt = out.dtype.type
    c2, c4, c8 = dt(2), dt(4), dt(8)
    wb = tiles_w * TILE
    rows = np.empty((ALPHA, wb), out.dtype)   # A^T applied along each tile's columns
    for task in range(lo, hi):
        ty = task % tiles_h
        k = (task // tiles_h) % chans
        n = task // (tiles_h * chans)
        t0 = (n * tiles_h + ty) * tiles_w
        # pass 1, tile by tile: rows[p, 4 tx + s] = sum_q M[6p + q] A^T[s, q]
        for p in range(ALPHA):
            base = p * ALPHA
            for tx in range(tiles_w):
                t = t0 + tx
                o = _at(m[base, k, t], m[base + 1, k, t], m[base + 2, k, t], m[base + 3, k, t],
                        m[base + 4, k, t], m[base + 5, k, t], c2, c4, c8)
                for s in range(TILE):
                    rows[p, tx * TILE + s] = o[s]
        # pass 2, vectorised along the row: out[4 ty + r] = sum_p A^T[r, p] rows[p], cropped
        n_rows = min(TILE, oh - ty * TILE)
        for xx in range(ow):
            y = _at(rows[0, xx], rows[1, xx], rows[2, xx], rows[3, xx], rows[4, xx], rows[5, xx],
                    c2, c4, c8)
            for r in range(n_rows):
                out[n, k, ty * TILE + r, xx] = y[r]


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def winograd_output_transform(m, out, tiles_h, tiles_w, n_chunks):
    """Y = A^T M A for every tile: m (36, K, N*tiles_h*tiles_w) -> out (N, K, H_out, W_out).

    Overwrites ``out``; the parts of edge tiles past H_out / W_out are dropped.
    """
    tasks = out.shape[0] * out.shape[1] * tiles_h
    if n_chunks <= 1:
        _output_rows(m, out, tiles_h, tiles_w, 0, tasks)
        return
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(tasks, chunk, n_chunks)
        _output_rows(m, out, tiles_h, tiles_w, lo, hi)


# --------------------------------------------------------------------------- grad-output transform

@njit(fastmath=FASTMATH)
def _grad_output_rows(go, m, tiles_h, tiles_w, lo, hi):
    """M' for the band tasks [lo, hi); task = (n * K + k) * tiles_h + tile row."""
    _, chans, oh, ow = go.shape
    dt = go.dtype.type
    c2, c4, c8, zero = dt(2), dt(4), dt(8), dt(0)
    wb = tiles_w * TILE
    rows = np.empty((ALPHA, wb), go.dtype)    # A applied down the columns of the band
    for task in range(lo, hi):
        ty = task % tiles_h
        k = (task // tiles_h) % chans
        n = task // (tiles_h * chans)
        n_rows = min(TILE, oh - ty * TILE)
        # pass 1, vectorised along the row: rows[p] = sum_r A[p, r] go[4 ty + r] (zero past H_out)
        y0 = ty * TILE
        for xx in range(ow):
            a = _a(go[n, k, y0, xx],
                   go[n, k, y0 + 1, xx] if n_rows > 1 else zero,
                   go[n, k, y0 + 2, xx] if n_rows > 2 else zero,
                   go[n, k, y0 + 3, xx] if n_rows > 3 else zero, c2, c4, c8)
            for p in range(ALPHA):
                rows[p, xx] = a[p]
        rows[:, ow:] = zero
        # pass 2, tile by tile: M'[6p + q] = sum_s rows[p, 4 tx + s] A[q, s]
        t0 = (n * tiles_h + ty) * tiles_w
        for p in range(ALPHA):
            rp = rows[p]
            for tx in range(tiles_w):
                b = tx * TILE
                a = _a(rp[b], rp[b + 1], rp[b + 2], rp[b + 3], c2, c4, c8)
                for q in range(ALPHA):
                    m[p * ALPHA + q, k, t0 + tx] = a[q]


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def winograd_grad_output_transform(go, m, tiles_h, tiles_w, n_chunks):
    """M' = A dY A^T for every tile (the adjoint of the output transform):
    go (N, K, H_out, W_out) -> m (36, K, N*tiles_h*tiles_w); zero past the edges."""
    tasks = go.shape[0] * go.shape[1] * tiles_h
    if n_chunks <= 1:
        _grad_output_rows(go, m, tiles_h, tiles_w, 0, tasks)
        return
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(tasks, chunk, n_chunks)
        _grad_output_rows(go, m, tiles_h, tiles_w, lo, hi)


# --------------------------------------------------------------------------- weight transforms

@njit(fastmath=FASTMATH)
def _weight_rows(w, u, lo, hi):
    """U[:, k, :] = G w[k, c] G^T for the output channels k in [lo, hi), in float64."""
    chans = w.shape[1]
    for k in range(lo, hi):
        for c in range(chans):
            g = w[k, c]
            # G along each of the 3 columns, then along the 6 rows of the result
            c0 = _g(np.float64(g[0, 0]), np.float64(g[1, 0]), np.float64(g[2, 0]))
            c1 = _g(np.float64(g[0, 1]), np.float64(g[1, 1]), np.float64(g[2, 1]))
            c2 = _g(np.float64(g[0, 2]), np.float64(g[1, 2]), np.float64(g[2, 2]))
            for p in range(ALPHA):
                r = _g(c0[p], c1[p], c2[p])
                for q in range(ALPHA):
                    u[p * ALPHA + q, k, c] = r[q]


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def winograd_weight_transform(w, u, n_chunks):
    """U = G g G^T for every filter: w (K, C, 3, 3) -> u (36, K, C)."""
    if n_chunks <= 1:
        _weight_rows(w, u, 0, w.shape[0])
        return
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(w.shape[0], chunk, n_chunks)
        _weight_rows(w, u, lo, hi)


@njit(fastmath=FASTMATH)
def _weight_grad_rows(du, gw, lo, hi):
    """gw[k, c] = G^T dU[:, k, c] G for the output channels k in [lo, hi), in float64."""
    chans = gw.shape[1]
    cols = np.empty((ALPHA, 3), np.float64)
    for k in range(lo, hi):
        for c in range(chans):
            # G^T along each of the 6 rows of dU, then along the 3 columns of the result
            for p in range(ALPHA):
                b = p * ALPHA
                r = _gt(np.float64(du[b, k, c]), np.float64(du[b + 1, k, c]),
                        np.float64(du[b + 2, k, c]), np.float64(du[b + 3, k, c]),
                        np.float64(du[b + 4, k, c]), np.float64(du[b + 5, k, c]))
                for j in range(3):
                    cols[p, j] = r[j]
            for j in range(3):
                y = _gt(cols[0, j], cols[1, j], cols[2, j], cols[3, j], cols[4, j], cols[5, j])
                for i in range(3):
                    gw[k, c, i, j] = y[i]


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def winograd_weight_grad_transform(du, gw, n_chunks):
    """gw = G^T dU G for every filter (the adjoint of the weight transform):
    du (36, K, C) -> gw (K, C, 3, 3), overwritten."""
    if n_chunks <= 1:
        _weight_grad_rows(du, gw, 0, gw.shape[0])
        return
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(gw.shape[0], chunk, n_chunks)
        _weight_grad_rows(du, gw, lo, hi)
