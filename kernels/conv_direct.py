"""Direct 2-D convolution (cross-correlation), NCHW: forward, grad-input, grad-weight.

Index convention shared with im2col.py: output position (oy, ox) and kernel tap
(ky, kx) read input position

    iy = oy * stride_h - pad_h + ky * dil_h,    ix = ox * stride_w - pad_w + kx * dil_w

and taps that land in the padding contribute zero.

Why the data is re-laid-out first (the "packed" layout)
-------------------------------------------------------
A naive loop nest (one output plane per task, ``out_row[t] += w * x_row[t * stride]``)
runs at ~3 GFLOP/s: the rows are short (24-112), every (row, tap) pays for
clipping the padding, a run-time stride turns the vector load into a gather,
and each FMA loads and stores its accumulator. So:

* ``conv2d_pack_input`` copies the input once into zero-padded, stride-phase
  split planes: plane ``c * sh * sw + py * sw + px`` holds padded rows
  ``i * sh + py`` and columns ``j * sw + px`` (PH x PW values, flattened). A tap
  (ky, kx) of a strided or dilated conv then reads a *contiguous* run of one
  plane, starting at ``(ky*dh // sh) * PW + kx*dw // sw``, and padding needs no
  test at all (it is stored zeros).
* The output is computed in "wide" rows of PW columns (PW >= W_out): output
  (oy, ox) sits at flat position m = oy * PW + ox, so one tap is one
  unit-stride run of positions spanning several output rows. The PW - W_out
  columns at the end of each row are junk: the forward never stores them (each
  register vector is split at the row ends it spans and stored with masks), the
  backward passes get them as zeros (``conv2d_widen``).
* Register tiles with explicit SIMD vectors (kernels/simd.py; 8 or, with
  AVX-512, 16 float32 lanes), in the manner of a GEMM micro-kernel:
  - forward: OB = 4 output channels x TILE_VECTORS = 3 vectors of wide
    positions = 12 accumulators, held in registers over all C_in*kH*kW taps
    (per tap 3 input loads, 4 weight broadcasts, 12 FMAs) and stored once;
    with AVX-512's 32 registers 8 channels x 3 vectors = 24 (FORWARD_OB);
  - grad-input, its transpose: OB = 4 input channels x 3 vectors, summed over
    the C_out output channels of one spatial tap, then added to the packed
    planes once (8 channels x 3 vectors with AVX-512, INPUT_OB);
  - grad-weight: OB = 4 output channels x 2 taps = 8 vector accumulators of
    products summed along the positions (8 channels x 3 taps = 24 with
    AVX-512, WEIGHT_OB), reduced across lanes once at the end.
  The last, partial vector of a run is loaded and stored masked
  (``vload_first`` / ``vstore_first``), not element by element.
  The version before this one accumulated in L1 memory (a load and a store
  per pair of FMAs) and ran at half the speed or less.
* Tiles outside, channel blocks / taps inside: the input a tile reads stays in
  L1 while every block's weights stream past it.
* Weights are re-laid-out to (channel block, tap, OB) so the OB weights of one
  tap are adjacent, and the taps are described by two small tables (source
  plane, start offset) so the loop runs over all C_in*kH*kW taps without
  caring which of c, ky, kx changes.

The grad-input and grad-weight kernels are in kernels/conv_direct_grad.py; the
copy kernels, the forward kernels and the layout constants they share are here.

Parallel work: forward over (n, band of register tiles), grad-input over
(n, input-channel block), grad-weight over (output-channel block, input
channel, and a group of images when those are few). Each task writes only its own outputs / planes / weights, so no two
threads touch the same element and no reduction crosses the ``prange``.
"""
import numpy as np
from numba import njit, prange

from ._chunks import chunk_bounds, serial_and_parallel
from ._config import CACHE, FASTMATH
from .simd import (VECTOR_BYTES, lanes, load, prefetch_read, store, vadd, vbroadcast, vfma,
                   vload, vload_first, vload_lanes, vstore, vstore_first, vstore_lanes, vzero)
from .simd_shuffle import veven, vodd

# Channels per register block (see module docstring; the forward kernel uses
# FORWARD_OB, below, which is 8 with AVX-512).
OB = 4
# Vectors of wide output positions in the forward kernel's register tile:
# OB x 3 = 12 accumulators + 3 input vectors + 1 weight = AVX2's 16 registers.
TILE_VECTORS = 3
# The forward kernels prefetch the input vectors of the tap this many taps
# ahead. A tile's inputs over all C_in*kH*kW taps outgrow L1 when C_in is
# large, most of all at stride 2 (four phase planes per channel: ~80 KiB for
# ResNet-18's layer2.0 at C_in = 64 with AVX-512's 48-position tile): serially
# +9-15% there (104-118 -> 119-131 GFLOP/s), stride 1 within +-2.5%; 8 beat 2
# and 4 and matched 16. The AVX2 kernel (24-position tile) gained 3% there and
# 0-1.4% elsewhere (measured with AVX-512 masked out).
PREFETCH_TAPS = 8


# The copy kernels (pack, unpack, widen) move a few bytes per element:
# each exists serial and parallel (kernels/_chunks.py), and the caller runs small
# ones on its own thread (fastnn/_tuning.py CONV_COPY_PARALLEL_MIN), where waking
# the other threads would cost more than the copy. Tasks are (n, channel) planes.
# Explicit loops, no slice assignments: those pull in Numba's shape-mismatch
# error overloads, compiled again for each serial twin (+37 compile events).
def conv2d_pack_input(x, xp, stride_h, stride_w, pad_h, pad_w, packed_w, n_chunks):
    """Copy x (N, C, H, W) into padded, stride-phase planes xp (N, C*sh*sw, PH*PW).

    xp[n, c*sh*sw + py*sw + px, i*PW + j] = x[n, c, i*sh + py - pad_h, j*sw + px - pad_w],
    zero where that position is padding or outside x. Overwrites all of ``xp``.
    x and xp C-contiguous (rows are addressed from their data pointers).
    """
    n_batch, c_in = x.shape[0], x.shape[1]
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(n_batch * c_in, chunk, n_chunks)
        for task in range(lo, hi):
            _pack_plane(x, xp, task // c_in, task % c_in, stride_h, stride_w, pad_h, pad_w,
                        packed_w)


@njit(inline="always")
def _pack_plane(x, xp, n, c, stride_h, stride_w, pad_h, pad_w, packed_w):
    h, wd = x.shape[2], x.shape[3]
    ss = stride_h * stride_w
    ph = xp.shape[2] // packed_w
    zero = xp.dtype.type(0)
    w_vec = lanes(xp)
    for py in range(stride_h):
        for px in range(stride_w):
            if stride_w == 2 and px == 1:
                continue  # written together with phase 0 (below)
            dst = xp[n, c * ss + py * stride_w + px]
            # Columns j0 <= j < j1 of every packed row hold input (ix = j*sw + px - pad_w
            # in [0, W)); the rest is padding. Bounds once per phase plane, not a
            # test per element: masked vectors when stride_w is 1 or 2 (below), else a
            # strided copy loop between two zero runs.
            # (load/store: pointer addressing, no negative-index wraparound code.)
            j0, j1 = _phase_columns(px, stride_w, pad_w, wd, packed_w)
            for i in range(ph):
                iy = i * stride_h + py - pad_h
                o = i * packed_w
                if iy < 0 or iy >= h:
                    for j in range(packed_w):
                        store(dst, o + j, zero)
                    if stride_w == 2:
                        for j in range(packed_w):
                            store(dst, o + ph * packed_w + j, zero)   # phase 1's row
                    continue
                if stride_w == 2:
                    # Both column phases from one pass over the row: 2 vectors of the
                    # padded row (padded column q at row + q; lanes outside the input
                    # zero), split into even (phase 0) and odd (phase 1) columns.
                    # Phase 1's plane follows phase 0's in xp (offset ph * packed_w).
                    # Serial, ResNet-18's layer2.0 input (8, 64, 56, 56): 0.81 -> 0.53 ms
                    # (min of 9, alternating with the scalar copy per phase it replaced).
                    row = ((n * x.shape[1] + c) * h + iy) * wd - pad_w
                    for j in range(0, packed_w, w_vec):
                        q = 2 * j
                        v0 = vload_lanes(x, row + q, pad_w - q, pad_w + wd - q)
                        v1 = vload_lanes(x, row + q + w_vec, pad_w - q - w_vec,
                                         pad_w + wd - q - w_vec)
                        vstore_first(dst, o + j, veven(v0, v1), packed_w - j)
                        vstore_first(dst, o + ph * packed_w + j, vodd(v0, v1), packed_w - j)
                    continue
                if stride_w == 1:
                    # Whole vectors: lanes j0 <= j < j1 loaded from the row (the
                    # others zero, their memory untouched, so the first vector may
                    # start before the row), packed_w - j stored. The row is
                    # addressed by its flat offset in x: a view per row (x[n, c, iy])
                    # cost as much as copying a short row. Serial: shape A's input
                    # (32, 64, 32, 32), pad 1: 1.35-1.79 -> 1.06-1.35 ms; LeNet's level.
                    row = ((n * x.shape[1] + c) * h + iy) * wd - pad_w
                    for j in range(0, packed_w, w_vec):
                        vstore_first(dst, o + j, vload_lanes(x, row + j, j0 - j, j1 - j),
                                     packed_w - j)
                    continue
                src = x[n, c, iy]
                for j in range(j0):
                    store(dst, o + j, zero)
                for j in range(j0, j1):
                    store(dst, o + j, load(src, j * stride_w + px - pad_w))
                for j in range(j1, packed_w):
                    store(dst, o + j, zero)


@njit(inline="always")
def _phase_columns(px, stride_w, pad_w, wd, packed_w):
    # [j0, j1): the packed columns j of phase px whose input column
    # j*stride_w + px - pad_w lies in [0, wd); j0 = j1 when there are none.
    j0 = min(packed_w, max(0, (pad_w - px + stride_w - 1) // stride_w))
    j1 = min(packed_w, max(j0, (wd + pad_w - px + stride_w - 1) // stride_w))
    return j0, j1


conv2d_pack_input, conv2d_pack_input_parallel = serial_and_parallel(conv2d_pack_input)


def conv2d_unpack_input_grad(gxp, gx, stride_h, stride_w, pad_h, pad_w, packed_w, n_chunks):
    """The adjoint of the packing: gx[n, c, y, x] = gxp at the packed position of (y, x).

    gxp : (N, C*sh*sw, PH*PW); gx : (N, C, H, W), overwritten; both C-contiguous. Input positions the
    packed planes do not cover (rows/columns no output window reaches) get 0.
    """
    n_batch, c_in = gx.shape[0], gx.shape[1]
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(n_batch * c_in, chunk, n_chunks)
        for task in range(lo, hi):
            _unpack_plane(gxp, gx, task // c_in, task % c_in, stride_h, stride_w, pad_h, pad_w,
                          packed_w)


@njit(inline="always")
def _unpack_plane(gxp, gx, n, c, stride_h, stride_w, pad_h, pad_w, packed_w):
    # The loops of _pack_plane run backwards: phase planes outside, so that no
    # element needs a division by the run-time stride (two per element took
    # ~7.6 ns each, 0.4 ms for one LeNet-5 batch).
    h, wd = gx.shape[2], gx.shape[3]
    ss = stride_h * stride_w
    ph = gxp.shape[2] // packed_w
    zero = gx.dtype.type(0)
    dst = gx[n, c]
    for py in range(stride_h):
        for px in range(stride_w):
            src = gxp[n, c * ss + py * stride_w + px]
            j0, j1 = _phase_columns(px, stride_w, pad_w, wd, packed_w)
            for i in range(ph):
                iy = i * stride_h + py - pad_h
                if iy < 0 or iy >= h:
                    continue
                row = dst[iy]
                o = i * packed_w
                for j in range(j0, j1):
                    store(row, j * stride_w + px - pad_w, load(src, o + j))
    # Rows and columns past the packed planes' reach (no output window covers
    # them) get no gradient.
    h_cov = max(0, min(h, ph * stride_h - pad_h))
    w_cov = max(0, min(wd, packed_w * stride_w - pad_w))
    for y in range(h):
        row = dst[y]
        for xx in range(0 if y >= h_cov else w_cov, wd):
            row[xx] = zero


conv2d_unpack_input_grad, conv2d_unpack_input_grad_parallel = serial_and_parallel(
    conv2d_unpack_input_grad)


def conv2d_widen(grad_out, go_wide, packed_w, n_chunks):
    """grad_out (N, K, OH, OW) -> go_wide (N, K, OH*PW): row oy at oy*PW, zeros in columns >= OW.

    Both C-contiguous (planes are addressed from their data pointers).
    """
    n_batch, k, oh, ow = grad_out.shape
    w_vec = lanes(go_wide)
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(n_batch * k, chunk, n_chunks)
        for task in range(lo, hi):
            dst = go_wide[task // k, task % k]
            src = grad_out[task // k, task % k]
            # A row is copied and zero-padded in whole vectors: the masked load reads the
            # row's remaining ow - j values and gives zeros in the lanes past them, the
            # masked store writes the packed row's remaining packed_w - j. Serial, against
            # the element-by-element loop it replaces (interleaved, min of 30): LeNet-5's
            # (64, 16, 8, 8 -> 12) 50-63 -> 29-33 us, (64, 6, 24, 24 -> 28) 92-97 -> 64-71 us;
            # (8, 64, 56, 56 -> 58), a memory-bound copy, level.
            for oy in range(oh):
                for j in range(0, packed_w, w_vec):
                    vstore_first(dst, oy * packed_w + j,
                                 vload_first(src, oy * ow + j, ow - j), packed_w - j)


conv2d_widen, conv2d_widen_parallel = serial_and_parallel(conv2d_widen)


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def _forward_ob4(xp, wt, tap_plane, tap_off, bias, out, packed_w, n_bands):
    """out[n, o] = bias[o] + sum over taps of wt * the tap's run of packed input.

    xp : (N, P, PH*PW) packed input (``conv2d_pack_input``), C-contiguous, and
        readable for ``forward_slack(dtype)`` elements past its end (the last
        register tile of the last image may read that far; what it computes
        there is never stored).
    wt : (ceil(C_out / 4), T, 4) weights, wt[b, t, j] = w[b*4 + j, c, ky, kx] for
        tap t = (c*kH + ky)*kW + kx, zero for channels >= C_out; C-contiguous
        (``FORWARD_OB`` = 4: the AVX2 kernel; see _forward_ob8).
    tap_plane, tap_off : (T,) int64, the packed plane and start offset of each tap.
    bias : (ceil(C_out / 4) * 4,) the bias, anything past C_out; -0.0 for no bias
        (x + -0.0 is x for every x, zeros included). It is added to
        the finished sums in registers before they are stored: the same rounding
        as a separate pass over the output, without that pass (it cost 20 us
        serial on LeNet-5's conv1, and 55 us with 2 threads, whose output halves
        sit in the two cores' caches).
    out : (N, C_out, OH, OW) C-contiguous, overwritten. The kernel computes
        "wide" positions m = oy*PW + ox for m < L = (OH - 1)*PW + OW, junk
        columns ox >= OW included, and stores only the real ones: each vector is
        split at the row ends it spans (``_tile_segments``) and stored with
        masks, straight from the registers (no wide copy of the output and no
        narrowing pass: for VGG-11's conv1 that copy was most of the time).
    packed_w : PW, the packed planes' row length (>= OW).
    n_bands : tasks per image; each takes a contiguous share of the register
        tiles of every output channel (more than one keeps both threads busy
        at N = 1).

    Register tile: OB = 4 output channels x TILE_VECTORS = 3 vectors of wide
    positions = 12 accumulators held in registers over all T taps (each tap:
    3 vector loads of input, 4 weight broadcasts, 12 FMAs), then stored once.
    """
    n_batch, n_planes, plane_len = xp.shape
    n_blk, n_taps, _ = wt.shape
    c_out, oh, ow = out.shape[1], out.shape[2], out.shape[3]
    plane = oh * ow
    length = (oh - 1) * packed_w + ow
    # Without junk columns the wide positions are the output's: one long row.
    row_w, row_real = (packed_w, ow) if packed_w != ow else (length, length)
    w_vec = lanes(xp)
    tile = TILE_VECTORS * w_vec
    n_tiles = (length + tile - 1) // tile
    for task in prange(n_batch * n_bands):
        n = task // n_bands
        band = task % n_bands
        t0 = band * n_tiles // n_bands
        t1 = (band + 1) * n_tiles // n_bands
        # Row segments of the current tile: seg[q] = (first lane, lane past the
        # last, output offset of lane 0); vector k's are seg[bounds[k]:bounds[k + 1]].
        seg = np.empty((TILE_VECTORS * (w_vec + 2), 3), dtype=np.int64)
        bounds = np.empty(TILE_VECTORS + 1, dtype=np.int64)
        # Flat offset of each tap's run in image n: plane start + tap offset.
        src_off = (n * n_planes + tap_plane) * plane_len + tap_off
        # Channel blocks inside the tile loop: the input a tile reads (C_in planes
        # x its span plus the kernel's reach, ~30 KiB for 64 channels of 32x32)
        # stays in L1 while every block's weights stream past it. The other way
        # round it came from L2 for every block, at 2.5x the run time.
        for ti in range(t0, t1):
            m0 = ti * tile
            _tile_segments(m0, min(tile, length - m0), w_vec, row_w, row_real, seg, bounds)
            for b in range(n_blk):
                w0 = b * n_taps * OB
                nj = min(OB, c_out - b * OB)
                c00 = vzero(xp)
                c01 = vzero(xp)
                c02 = vzero(xp)
                c10 = vzero(xp)
                c11 = vzero(xp)
                c12 = vzero(xp)
                c20 = vzero(xp)
                c21 = vzero(xp)
                c22 = vzero(xp)
                c30 = vzero(xp)
                c31 = vzero(xp)
                c32 = vzero(xp)
                wo = w0
                for t in range(n_taps):
                    src = src_off[t] + m0
                    _prefetch_tap(xp, src_off, t, n_taps, m0, w_vec)
                    x0 = vload(xp, src)
                    x1 = vload(xp, src + w_vec)
                    x2 = vload(xp, src + 2 * w_vec)
                    wv = vbroadcast(wt, wo)
                    c00 = vfma(wv, x0, c00)
                    c01 = vfma(wv, x1, c01)
                    c02 = vfma(wv, x2, c02)
                    wv = vbroadcast(wt, wo + 1)
                    c10 = vfma(wv, x0, c10)
                    c11 = vfma(wv, x1, c11)
                    c12 = vfma(wv, x2, c12)
                    wv = vbroadcast(wt, wo + 2)
                    c20 = vfma(wv, x0, c20)
                    c21 = vfma(wv, x1, c21)
                    c22 = vfma(wv, x2, c22)
                    wv = vbroadcast(wt, wo + 3)
                    c30 = vfma(wv, x0, c30)
                    c31 = vfma(wv, x1, c31)
                    c32 = vfma(wv, x2, c32)
                    wo += OB
                # Channels b*OB + j of image n, plus their bias, each split into its
                # row segments.
                d = (n * c_out + b * OB) * plane
                _store_tile(out, d, seg, bounds, w_vec, vbroadcast(bias, b * OB), c00, c01, c02)
                if nj > 1:
                    _store_tile(out, d + plane, seg, bounds, w_vec, vbroadcast(bias, b * OB + 1),
                                c10, c11, c12)
                if nj > 2:
                    _store_tile(out, d + 2 * plane, seg, bounds, w_vec,
                                vbroadcast(bias, b * OB + 2), c20, c21, c22)
                if nj > 3:
                    _store_tile(out, d + 3 * plane, seg, bounds, w_vec,
                                vbroadcast(bias, b * OB + 3), c30, c31, c32)


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def _forward_ob8(xp, wt, tap_plane, tap_off, bias, out, packed_w, n_bands):
    """_forward_ob4 with a register tile of 8 output channels (AVX-512).

    Same arguments, except wt : (ceil(C_out / 8), T, 8) and bias :
    (ceil(C_out / 8) * 8,). With AVX-512's 32
    vector registers the tile holds 8 channels x 3 vectors = 24 accumulators
    (+ 3 input vectors + 1 weight): each tap's 3 input loads, which straddle
    cache lines for most taps, then feed 24 FMAs instead of 12. Measured
    125 -> 150 GFLOP/s on issue 11's shape A (32x64x32x32, 64 3x3 filters)
    and 118 -> 143 on B. With AVX2's 16 registers the tile would spill.
    """
    n_batch, n_planes, plane_len = xp.shape
    n_blk, n_taps, _ = wt.shape
    c_out, oh, ow = out.shape[1], out.shape[2], out.shape[3]
    plane = oh * ow
    length = (oh - 1) * packed_w + ow
    # Without junk columns the wide positions are the output's: one long row.
    row_w, row_real = (packed_w, ow) if packed_w != ow else (length, length)
    w_vec = lanes(xp)
    tile = TILE_VECTORS * w_vec
    n_tiles = (length + tile - 1) // tile
    for task in prange(n_batch * n_bands):
        n = task // n_bands
        band = task % n_bands
        t0 = band * n_tiles // n_bands
        t1 = (band + 1) * n_tiles // n_bands
        # Row segments of the current tile: seg[q] = (first lane, lane past the
        # last, output offset of lane 0); vector k's are seg[bounds[k]:bounds[k + 1]].
        seg = np.empty((TILE_VECTORS * (w_vec + 2), 3), dtype=np.int64)
        bounds = np.empty(TILE_VECTORS + 1, dtype=np.int64)
        src_off = (n * n_planes + tap_plane) * plane_len + tap_off
        for ti in range(t0, t1):
            m0 = ti * tile
            _tile_segments(m0, min(tile, length - m0), w_vec, row_w, row_real, seg, bounds)
            for b in range(n_blk):
                nj = min(8, c_out - b * 8)
                c00 = vzero(xp)
                c01 = vzero(xp)
                c02 = vzero(xp)
                c10 = vzero(xp)
                c11 = vzero(xp)
                c12 = vzero(xp)
                c20 = vzero(xp)
                c21 = vzero(xp)
                c22 = vzero(xp)
                c30 = vzero(xp)
                c31 = vzero(xp)
                c32 = vzero(xp)
                c40 = vzero(xp)
                c41 = vzero(xp)
                c42 = vzero(xp)
                c50 = vzero(xp)
                c51 = vzero(xp)
                c52 = vzero(xp)
                c60 = vzero(xp)
                c61 = vzero(xp)
                c62 = vzero(xp)
                c70 = vzero(xp)
                c71 = vzero(xp)
                c72 = vzero(xp)
                wo = b * n_taps * 8
                for t in range(n_taps):
                    src = src_off[t] + m0
                    _prefetch_tap(xp, src_off, t, n_taps, m0, w_vec)
                    x0 = vload(xp, src)
                    x1 = vload(xp, src + w_vec)
                    x2 = vload(xp, src + 2 * w_vec)
                    wv = vbroadcast(wt, wo)
                    c00 = vfma(wv, x0, c00)
                    c01 = vfma(wv, x1, c01)
                    c02 = vfma(wv, x2, c02)
                    wv = vbroadcast(wt, wo + 1)
                    c10 = vfma(wv, x0, c10)
                    c11 = vfma(wv, x1, c11)
                    c12 = vfma(wv, x2, c12)
                    wv = vbroadcast(wt, wo + 2)
                    c20 = vfma(wv, x0, c20)
                    c21 = vfma(wv, x1, c21)
                    c22 = vfma(wv, x2, c22)
                    wv = vbroadcast(wt, wo + 3)
                    c30 = vfma(wv, x0, c30)
                    c31 = vfma(wv, x1, c31)
                    c32 = vfma(wv, x2, c32)
                    wv = vbroadcast(wt, wo + 4)
                    c40 = vfma(wv, x0, c40)
                    c41 = vfma(wv, x1, c41)
                    c42 = vfma(wv, x2, c42)
                    wv = vbroadcast(wt, wo + 5)
                    c50 = vfma(wv, x0, c50)
                    c51 = vfma(wv, x1, c51)
                    c52 = vfma(wv, x2, c52)
                    wv = vbroadcast(wt, wo + 6)
                    c60 = vfma(wv, x0, c60)
                    c61 = vfma(wv, x1, c61)
                    c62 = vfma(wv, x2, c62)
                    wv = vbroadcast(wt, wo + 7)
                    c70 = vfma(wv, x0, c70)
                    c71 = vfma(wv, x1, c71)
                    c72 = vfma(wv, x2, c72)
                    wo += 8
                d = (n * c_out + b * 8) * plane
                _store_tile(out, d, seg, bounds, w_vec, vbroadcast(bias, b * 8), c00, c01, c02)
                if nj > 1:
                    _store_tile(out, d + 1 * plane, seg, bounds, w_vec,
                                vbroadcast(bias, b * 8 + 1), c10, c11, c12)
                if nj > 2:
                    _store_tile(out, d + 2 * plane, seg, bounds, w_vec,
                                vbroadcast(bias, b * 8 + 2), c20, c21, c22)
                if nj > 3:
                    _store_tile(out, d + 3 * plane, seg, bounds, w_vec,
                                vbroadcast(bias, b * 8 + 3), c30, c31, c32)
                if nj > 4:
                    _store_tile(out, d + 4 * plane, seg, bounds, w_vec,
                                vbroadcast(bias, b * 8 + 4), c40, c41, c42)
                if nj > 5:
                    _store_tile(out, d + 5 * plane, seg, bounds, w_vec,
                                vbroadcast(bias, b * 8 + 5), c50, c51, c52)
                if nj > 6:
                    _store_tile(out, d + 6 * plane, seg, bounds, w_vec,
                                vbroadcast(bias, b * 8 + 6), c60, c61, c62)
                if nj > 7:
                    _store_tile(out, d + 7 * plane, seg, bounds, w_vec,
                                vbroadcast(bias, b * 8 + 7), c70, c71, c72)


# Output channels per forward register tile, and the forward kernel, fixed at
# import like the vector width: 8 with AVX-512 (32 registers), else 4.
FORWARD_OB = 8 if VECTOR_BYTES == 64 else 4
conv2d_direct_forward = _forward_ob8 if FORWARD_OB == 8 else _forward_ob4


@njit(inline="always")
def _tile_segments(m0, count, w_vec, row_w, row_real, seg, bounds):
    # Split the wide positions m0 .. m0 + count - 1 of a tile (rows of row_w
    # positions, the first row_real of each real) into per-vector row segments:
    # seg[q] = (first lane, lane past the last, output offset of lane 0), vector
    # k's in seg[bounds[k]:bounds[k + 1]]. Once per tile, for all channel blocks.
    ns = 0
    for k in range(TILE_VECTORS):
        bounds[k] = ns
        p0 = m0 + k * w_vec
        p1 = min(m0 + count, p0 + w_vec)
        p = p0
        oy = p0 // row_w
        while p < p1:
            row = oy * row_w
            end = min(p1, row + row_real)
            if p < end:
                seg[ns, 0] = p - p0
                seg[ns, 1] = end - p0
                seg[ns, 2] = oy * row_real + (p - row) - (p - p0)
                ns += 1
            oy += 1
            p = oy * row_w
    bounds[TILE_VECTORS] = ns


@njit(inline="always")
def _store_segments(arr, d, seg, s0, s1, w_vec, v):
    # Vector v's segments seg[s0:s1] to arr at d (a channel plane's offset).
    for q in range(s0, s1):
        lo = seg[q, 0]
        hi = seg[q, 1]
        if hi - lo == w_vec:
            vstore(arr, d + seg[q, 2], v)
        else:
            vstore_lanes(arr, d + seg[q, 2], v, lo, hi)


@njit(inline="always")
def _prefetch_tap(xp, src_off, t, n_taps, m0, w_vec):
    """Prefetch the TILE_VECTORS input vectors of tap t + PREFETCH_TAPS (the last tap past the end)."""
    pf = src_off[min(t + PREFETCH_TAPS, n_taps - 1)] + m0
    for k in range(TILE_VECTORS):
        prefetch_read(xp, pf + k * w_vec)


@njit(inline="always")
def _store_tile(arr, d, seg, bounds, w_vec, bv, v0, v1, v2):
    # One channel's 3 vectors of a tile plus its bias bv, real positions only (see
    # _tile_segments).
    _store_segments(arr, d, seg, bounds[0], bounds[1], w_vec, vadd(v0, bv))
    _store_segments(arr, d, seg, bounds[1], bounds[2], w_vec, vadd(v1, bv))
    _store_segments(arr, d, seg, bounds[2], bounds[3], w_vec, vadd(v2, bv))


def forward_slack(dtype):
    """Elements past the end of the packed input that conv2d_direct_forward may read."""
    return TILE_VECTORS * VECTOR_BYTES // np.dtype(dtype).itemsize
