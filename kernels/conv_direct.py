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
  columns at the end of each row are junk: the forward drops them
  (``conv2d_narrow``), the backward passes get them as zeros (``conv2d_widen``).
* Register tiles with explicit SIMD vectors (kernels/simd.py; 8 or, with
  AVX-512, 16 float32 lanes), in the manner of a GEMM micro-kernel:
  - forward: OB = 4 output channels x TILE_VECTORS = 3 vectors of wide
    positions = 12 accumulators, held in registers over all C_in*kH*kW taps
    (per tap 3 input loads, 4 weight broadcasts, 12 FMAs) and stored once;
  - grad-input, its transpose: OB = 4 input channels x 3 vectors, summed over
    the C_out output channels of one spatial tap, then added to the packed
    planes once;
  - grad-weight: OB = 4 output channels x 2 taps = 8 vector accumulators of
    products summed along the positions, reduced across lanes once per pass.
  The version before this one accumulated in L1 memory (a load and a store
  per pair of FMAs) and ran at half the speed or less.
* Tiles outside, channel blocks / taps inside: the input a tile reads stays in
  L1 while every block's weights stream past it.
* Weights are re-laid-out to (channel block, tap, OB) so the OB weights of one
  tap are adjacent, and the taps are described by two small tables (source
  plane, start offset) so the loop runs over all C_in*kH*kW taps without
  caring which of c, ky, kx changes.

Parallel work: forward over (n, band of register tiles), grad-input over
(n, input-channel block), grad-weight over (output-channel block, input
channel). Each task writes only its own outputs / planes / weights, so no two
threads touch the same element and no reduction crosses the ``prange``.
"""
import numpy as np
from numba import njit, prange

from ._chunks import chunk_bounds, serial_and_parallel
from ._config import CACHE, FASTMATH
from .simd import VECTOR_BYTES, lanes, load, store, vadd, vbroadcast, vfma, vload, vstore, vzero

# Channels per register block (see module docstring).
OB = 4
# Vectors of wide output positions in the forward kernel's register tile:
# OB x 3 = 12 accumulators + 3 input vectors + 1 weight = AVX2's 16 registers.
TILE_VECTORS = 3


# The copy kernels (pack, unpack, widen, narrow) move a few bytes per element:
# each exists serial and parallel (kernels/_chunks.py), and the caller runs small
# ones on its own thread (fastnn/_tuning.py CONV_COPY_PARALLEL_MIN), where waking
# the other threads would cost more than the copy. Tasks are (n, channel) planes.
# Explicit loops, no slice assignments: those pull in Numba's shape-mismatch
# error overloads, compiled again for each serial twin (+37 compile events).
def conv2d_pack_input(x, xp, stride_h, stride_w, pad_h, pad_w, packed_w, n_chunks):
    """Copy x (N, C, H, W) into padded, stride-phase planes xp (N, C*sh*sw, PH*PW).

    xp[n, c*sh*sw + py*sw + px, i*PW + j] = x[n, c, i*sh + py - pad_h, j*sw + px - pad_w],
    zero where that position is padding or outside x. Overwrites all of ``xp``.
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
    for py in range(stride_h):
        for px in range(stride_w):
            dst = xp[n, c * ss + py * stride_w + px]
            for i in range(ph):
                iy = i * stride_h + py - pad_h
                row = dst[i * packed_w:(i + 1) * packed_w]
                if iy < 0 or iy >= h:
                    for j in range(packed_w):
                        row[j] = zero
                    continue
                src = x[n, c, iy]
                for j in range(packed_w):
                    ix = j * stride_w + px - pad_w
                    row[j] = src[ix] if 0 <= ix < wd else zero


conv2d_pack_input, conv2d_pack_input_parallel = serial_and_parallel(conv2d_pack_input)


def conv2d_unpack_input_grad(gxp, gx, stride_h, stride_w, pad_h, pad_w, packed_w, n_chunks):
    """The adjoint of the packing: gx[n, c, y, x] = gxp at the packed position of (y, x).

    gxp : (N, C*sh*sw, PH*PW); gx : (N, C, H, W), overwritten. Input positions the
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
    h, wd = gx.shape[2], gx.shape[3]
    ss = stride_h * stride_w
    ph = gxp.shape[2] // packed_w
    zero = gx.dtype.type(0)
    for y in range(h):
        yy = y + pad_h
        i = yy // stride_h
        row = gx[n, c, y]
        if i >= ph:
            for xx in range(wd):
                row[xx] = zero
            continue
        base = c * ss + (yy % stride_h) * stride_w
        for xx in range(wd):
            xq = xx + pad_w
            j = xq // stride_w
            if j < packed_w:
                row[xx] = gxp[n, base + xq % stride_w, i * packed_w + j]
            else:
                row[xx] = zero


conv2d_unpack_input_grad, conv2d_unpack_input_grad_parallel = serial_and_parallel(
    conv2d_unpack_input_grad)


def conv2d_widen(grad_out, go_wide, packed_w, n_chunks):
    """grad_out (N, K, OH, OW) -> go_wide (N, K, OH*PW): row oy at oy*PW, zeros in columns >= OW."""
    n_batch, k, oh, ow = grad_out.shape
    zero = go_wide.dtype.type(0)
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(n_batch * k, chunk, n_chunks)
        for task in range(lo, hi):
            dst = go_wide[task // k, task % k]
            src = grad_out[task // k, task % k]
            for oy in range(oh):
                for ox in range(ow):
                    dst[oy * packed_w + ox] = src[oy, ox]
                for ox in range(oy * packed_w + ow, (oy + 1) * packed_w):
                    dst[ox] = zero


conv2d_widen, conv2d_widen_parallel = serial_and_parallel(conv2d_widen)


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def conv2d_direct_forward(xp, wt, tap_plane, tap_off, out_wide, n_bands):
    """out_wide[n, o, m] = sum over taps of wt * the tap's run of packed input (no bias).

    xp : (N, P, PH*PW) packed input (``conv2d_pack_input``), C-contiguous, and
        readable for ``forward_slack(dtype)`` elements past its end (the last
        register tile of the last image may read that far; what it computes
        there is never stored).
    wt : (ceil(C_out / OB), T, OB) weights, wt[b, t, j] = w[b*OB + j, c, ky, kx] for
        tap t = (c*kH + ky)*kW + kx, zero for channels >= C_out; C-contiguous.
    tap_plane, tap_off : (T,) int64, the packed plane and start offset of each tap.
    out_wide : (N, C_out, L) C-contiguous, the output in wide rows: output
        (oy, ox) at m = oy*PW + ox, L = (OH - 1)*PW + OW. Overwritten; the junk
        columns (ox >= OW) get junk (``conv2d_narrow`` drops them; with PW == OW
        there are none and out_wide can be the output array itself).
    n_bands : tasks per image; each takes a contiguous share of the register
        tiles of every output channel (more than one keeps both threads busy
        at N = 1).

    Register tile: OB = 4 output channels x TILE_VECTORS = 3 vectors of wide
    positions = 12 accumulators held in registers over all T taps (each tap:
    3 vector loads of input, 4 weight broadcasts, 12 FMAs), then stored once.
    """
    n_batch, n_planes, plane_len = xp.shape
    n_blk, n_taps, _ = wt.shape
    c_out, length = out_wide.shape[1], out_wide.shape[2]
    w_vec = lanes(xp)
    tile = TILE_VECTORS * w_vec
    n_tiles = (length + tile - 1) // tile
    for task in prange(n_batch * n_bands):
        n = task // n_bands
        band = task % n_bands
        t0 = band * n_tiles // n_bands
        t1 = (band + 1) * n_tiles // n_bands
        # Flat offset of each tap's run in image n: plane start + tap offset.
        src_off = (n * n_planes + tap_plane) * plane_len + tap_off
        # Scratch for a partial tile; 3-D like out_wide so that either can be
        # the destination of the stores below.
        buf = np.empty((1, 1, OB * tile), dtype=xp.dtype)
        # Channel blocks inside the tile loop: the input a tile reads (C_in planes
        # x its span plus the kernel's reach, ~30 KiB for 64 channels of 32x32)
        # stays in L1 while every block's weights stream past it. The other way
        # round it came from L2 for every block, at 2.5x the run time.
        for ti in range(t0, t1):
            m0 = ti * tile
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
                # Rows of channels b*OB + j in out_wide; a full tile is stored
                # straight from the registers, the last (partial) one through buf.
                d = (n * c_out + b * OB) * length + m0
                full = m0 + tile <= length
                if not full:
                    d = np.int64(0)
                    dst = buf
                    step = tile
                else:
                    dst = out_wide
                    step = length
                vstore(dst, d, c00)
                vstore(dst, d + w_vec, c01)
                vstore(dst, d + 2 * w_vec, c02)
                if nj > 1:
                    vstore(dst, d + step, c10)
                    vstore(dst, d + step + w_vec, c11)
                    vstore(dst, d + step + 2 * w_vec, c12)
                if nj > 2:
                    vstore(dst, d + 2 * step, c20)
                    vstore(dst, d + 2 * step + w_vec, c21)
                    vstore(dst, d + 2 * step + 2 * w_vec, c22)
                if nj > 3:
                    vstore(dst, d + 3 * step, c30)
                    vstore(dst, d + 3 * step + w_vec, c31)
                    vstore(dst, d + 3 * step + 2 * w_vec, c32)
                if not full:
                    for j in range(nj):
                        out_wide[n, b * OB + j, m0:] = buf[0, 0, j * tile:j * tile + length - m0]


def conv2d_narrow(out_wide, out, packed_w, n_chunks):
    """out[n, o, oy, :] = out_wide[n, o, oy*PW : oy*PW + OW]: drop the junk columns."""
    n_batch, c_out, oh, ow = out.shape
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(n_batch * c_out, chunk, n_chunks)
        for task in range(lo, hi):
            src = out_wide[task // c_out, task % c_out]
            dst = out[task // c_out, task % c_out]
            for oy in range(oh):
                for ox in range(ow):
                    dst[oy, ox] = src[oy * packed_w + ox]


conv2d_narrow, conv2d_narrow_parallel = serial_and_parallel(conv2d_narrow)


def forward_slack(dtype):
    """Elements past the end of the packed input that conv2d_direct_forward may read."""
    return TILE_VECTORS * VECTOR_BYTES // np.dtype(dtype).itemsize


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def conv2d_direct_backward_input(go_wide, wt, sp_plane, sp_off, gxp, packed_w, ss, oh, ow):
    """Packed grad-input: gxp[n, c*ss + plane(s), off(s) + m] += w[o, c, s] * go_wide[n, o, m].

    go_wide : (N, C_out, OH*PW) widened grad_output (``conv2d_widen``; its junk
        columns are zero, so scattering them adds nothing), C-contiguous and
        readable for ``forward_slack(dtype)`` elements past its end.
    wt : (ceil(C_in / OB), kH*kW*C_out, OB), wt[b, s*C_out + o, j] = w[o, b*OB + j, s]
        for spatial tap s = ky*kW + kx, zero for channels >= C_in.
    sp_plane, sp_off : (kH*kW,) the phase plane (0 .. ss-1) and start offset of
        each spatial tap; ss = stride_h * stride_w.
    gxp : (N, C_in*ss, PH*PW), C-contiguous, overwritten.

    The transpose of the forward kernel, with the same register tile: for each
    tile of 3 vectors of wide positions and each spatial tap, OB = 4 input
    channels x 3 vectors of sums over the C_out output channels stay in
    registers, then are added to the packed planes once. Each task owns image
    n's planes of OB input channels, so no two threads write the same element.
    """
    n_batch, c_out, wide_len = go_wide.shape
    n_blk, n_w, _ = wt.shape
    n_sp = n_w // c_out
    c_in = gxp.shape[1] // ss
    plane_len = gxp.shape[2]
    w_vec = lanes(gxp)
    tile = TILE_VECTORS * w_vec
    length = (oh - 1) * packed_w + ow
    n_tiles = (length + tile - 1) // tile
    zero = gxp.dtype.type(0)
    for task in prange(n_batch * n_blk):
        n = task // n_blk
        b = task % n_blk
        nj = min(OB, c_in - b * OB)
        for j in range(nj):
            for p in range(ss):
                gxp[n, (b * OB + j) * ss + p, :] = zero
        buf = np.empty(OB * tile, dtype=gxp.dtype)
        step = ss * plane_len   # from one input channel's planes to the next
        # Tiles outside, taps inside: the tile's C_out x 3 vectors of go_wide
        # stay in L1 while all kH*kW taps use them.
        for ti in range(n_tiles):
            m0 = ti * tile
            for s in range(n_sp):
                c00 = vzero(gxp)
                c01 = vzero(gxp)
                c02 = vzero(gxp)
                c10 = vzero(gxp)
                c11 = vzero(gxp)
                c12 = vzero(gxp)
                c20 = vzero(gxp)
                c21 = vzero(gxp)
                c22 = vzero(gxp)
                c30 = vzero(gxp)
                c31 = vzero(gxp)
                c32 = vzero(gxp)
                wo = (b * n_w + s * c_out) * OB
                g = n * c_out * wide_len + m0
                for _ in range(c_out):
                    x0 = vload(go_wide, g)
                    x1 = vload(go_wide, g + w_vec)
                    x2 = vload(go_wide, g + 2 * w_vec)
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
                    g += wide_len
                d = ((n * c_in + b * OB) * ss + sp_plane[s]) * plane_len + sp_off[s] + m0
                if m0 + tile <= length:
                    _add_vectors(gxp, d, w_vec, c00, c01, c02)
                    if nj > 1:
                        _add_vectors(gxp, d + step, w_vec, c10, c11, c12)
                    if nj > 2:
                        _add_vectors(gxp, d + 2 * step, w_vec, c20, c21, c22)
                    if nj > 3:
                        _add_vectors(gxp, d + 3 * step, w_vec, c30, c31, c32)
                else:
                    # The last tile: only its first length - m0 positions are real.
                    vstore(buf, 0, c00)
                    vstore(buf, w_vec, c01)
                    vstore(buf, 2 * w_vec, c02)
                    vstore(buf, tile, c10)
                    vstore(buf, tile + w_vec, c11)
                    vstore(buf, tile + 2 * w_vec, c12)
                    vstore(buf, 2 * tile, c20)
                    vstore(buf, 2 * tile + w_vec, c21)
                    vstore(buf, 2 * tile + 2 * w_vec, c22)
                    vstore(buf, 3 * tile, c30)
                    vstore(buf, 3 * tile + w_vec, c31)
                    vstore(buf, 3 * tile + 2 * w_vec, c32)
                    for j in range(nj):
                        for q in range(length - m0):
                            store(gxp, d + j * step + q,
                                  load(gxp, d + j * step + q) + buf[j * tile + q])


@njit(inline="always")
def _add_vectors(arr, d, w_vec, v0, v1, v2):
    # arr[d : d + 3 vectors] += (v0, v1, v2)
    vstore(arr, d, vadd(vload(arr, d), v0))
    vstore(arr, d + w_vec, vadd(vload(arr, d + w_vec), v1))
    vstore(arr, d + 2 * w_vec, vadd(vload(arr, d + 2 * w_vec), v2))


@njit(inline="always")
def _lane_sum(v, tmp):
    # The sum of the lanes of v (tmp: scratch of one vector). Outside hot loops only.
    vstore(tmp, 0, v)
    total = tmp[0]
    for i in range(1, tmp.size):
        total += tmp[i]
    return total


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def conv2d_direct_backward_weight(go_wide, xp, sp_plane, sp_off, grad_w, packed_w, oh, ow):
    """grad_w[o, c, ky, kx] = sum_{n, m} go_wide[n, o, m] * xp[n, c*ss + plane(s), off(s) + m].

    go_wide : (N, C_out, OH*PW) widened grad_output (junk columns zero, so they add 0).
    xp : (N, C_in*sh*sw, PH*PW) packed input. sp_plane, sp_off : (kH*kW,) as in
    ``conv2d_direct_backward_input``. grad_w : (C_out, C_in, kH, kW), overwritten.
    go_wide and xp C-contiguous.

    Each task owns the weights of OB output channels x one input channel and
    sums over the whole batch itself, so no reduction crosses the prange. Each
    pass handles 4 output channels x 2 taps with 8 vector accumulators (6
    vector loads per 8 FMAs) over every image, reduced across lanes once.
    """
    n_batch, c_out, wide_len = go_wide.shape
    c_in, kh, kw = grad_w.shape[1], grad_w.shape[2], grad_w.shape[3]
    n_planes, plane_len = xp.shape[1], xp.shape[2]
    ss = n_planes // c_in
    n_sp = kh * kw
    n_blk = (c_out + OB - 1) // OB
    w_vec = lanes(xp)
    length = (oh - 1) * packed_w + ow
    n_vec = length // w_vec   # whole vectors; the rest is a scalar tail
    for task in prange(n_blk * c_in):
        b = task // c_in
        c = task % c_in
        o0 = b * OB
        nj = min(OB, c_out - o0)
        sums = np.zeros((n_sp, OB), dtype=grad_w.dtype)
        tmp = np.empty(w_vec, dtype=grad_w.dtype)
        for s in range(0, n_sp, 2):
            s2 = min(s + 1, n_sp - 1)   # odd tap count: the last pass repeats a tap
            # Vector sums over all images, reduced across lanes once at the end
            # (per image it cost more than the products on LeNet's 8x8 planes);
            # the positions past the last whole vector go to scalar sums.
            a0 = vzero(xp)
            a1 = vzero(xp)
            a2 = vzero(xp)
            a3 = vzero(xp)
            a4 = vzero(xp)
            a5 = vzero(xp)
            a6 = vzero(xp)
            a7 = vzero(xp)
            r0 = r1 = r2 = r3 = r4 = r5 = r6 = r7 = grad_w.dtype.type(0)
            for n in range(n_batch):
                # Channels past C_out (last block) re-read the last real one; never stored.
                h0 = (n * c_out + o0) * wide_len
                h1 = (n * c_out + o0 + min(1, nj - 1)) * wide_len
                h2 = (n * c_out + o0 + min(2, nj - 1)) * wide_len
                h3 = (n * c_out + o0 + min(3, nj - 1)) * wide_len
                plane0 = (n * n_planes + c * ss) * plane_len
                u0 = plane0 + sp_plane[s] * plane_len + sp_off[s]
                v0 = plane0 + sp_plane[s2] * plane_len + sp_off[s2]
                for q in range(n_vec):
                    m = q * w_vec
                    u = vload(xp, u0 + m)
                    v = vload(xp, v0 + m)
                    g0 = vload(go_wide, h0 + m)
                    g1 = vload(go_wide, h1 + m)
                    g2 = vload(go_wide, h2 + m)
                    g3 = vload(go_wide, h3 + m)
                    a0 = vfma(g0, u, a0)
                    a1 = vfma(g1, u, a1)
                    a2 = vfma(g2, u, a2)
                    a3 = vfma(g3, u, a3)
                    a4 = vfma(g0, v, a4)
                    a5 = vfma(g1, v, a5)
                    a6 = vfma(g2, v, a6)
                    a7 = vfma(g3, v, a7)
                for m in range(n_vec * w_vec, length):
                    u = load(xp, u0 + m)
                    v = load(xp, v0 + m)
                    g0 = load(go_wide, h0 + m)
                    g1 = load(go_wide, h1 + m)
                    g2 = load(go_wide, h2 + m)
                    g3 = load(go_wide, h3 + m)
                    r0 += g0 * u
                    r1 += g1 * u
                    r2 += g2 * u
                    r3 += g3 * u
                    r4 += g0 * v
                    r5 += g1 * v
                    r6 += g2 * v
                    r7 += g3 * v
            sums[s, 0] = r0 + _lane_sum(a0, tmp)
            sums[s, 1] = r1 + _lane_sum(a1, tmp)
            sums[s, 2] = r2 + _lane_sum(a2, tmp)
            sums[s, 3] = r3 + _lane_sum(a3, tmp)
            if s2 != s:
                sums[s2, 0] = r4 + _lane_sum(a4, tmp)
                sums[s2, 1] = r5 + _lane_sum(a5, tmp)
                sums[s2, 2] = r6 + _lane_sum(a6, tmp)
                sums[s2, 3] = r7 + _lane_sum(a7, tmp)
        for j in range(nj):
            for s in range(n_sp):
                grad_w[o0 + j, c, s // kw, s % kw] = sums[s, j]
