"""Direct 2-D convolution, backward: grad-input and grad-weight kernels.

The packed layout, the "wide" positions and the register tiles are described in
kernels/conv_direct.py (the forward kernels and the copy kernels that build the
packed input and the widened gradient these kernels read).
"""
import numpy as np
from numba import njit, prange

from ._config import CACHE, FASTMATH
from .conv_direct import FORWARD_OB, OB, TILE_VECTORS
from .simd import (lanes, vadd, vbroadcast, vfma, vload, vload_first, vstore, vstore_first,
                   vsum, vzero)


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def _backward_input_ob4(go_wide, wt, sp_plane, sp_off, gxp, packed_w, ss, oh, ow):
    """Packed grad-input: gxp[n, c*ss + plane(s), off(s) + m] += w[o, c, s] * go_wide[n, o, m].

    ``conv2d_direct_backward_input`` is this kernel, or ``_backward_input_ob8``
    with AVX-512 (INPUT_OB, below).

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
                # The last tile: only its first length - m0 positions are real.
                count = min(tile, length - m0)
                _add_vectors(gxp, d, w_vec, count, c00, c01, c02)
                if nj > 1:
                    _add_vectors(gxp, d + step, w_vec, count, c10, c11, c12)
                if nj > 2:
                    _add_vectors(gxp, d + 2 * step, w_vec, count, c20, c21, c22)
                if nj > 3:
                    _add_vectors(gxp, d + 3 * step, w_vec, count, c30, c31, c32)


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def _backward_input_ob8(go_wide, wt, sp_plane, sp_off, gxp, packed_w, ss, oh, ow):
    """_backward_input_ob4 with a register tile of 8 input channels (AVX-512).

    Same arguments, except wt : (ceil(C_in / 8), kH*kW*C_out, 8). As in the
    forward's ``_forward_ob8``: 8 channels x 3 vectors = 24 accumulators (+ 3
    gradient vectors + 1 weight) of AVX-512's 32 registers, so each output
    channel's 3 loads of go_wide feed 24 FMAs instead of 12.
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
        nj = min(8, c_in - b * 8)
        for j in range(nj):
            for p in range(ss):
                gxp[n, (b * 8 + j) * ss + p, :] = zero
        step = ss * plane_len
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
                c40 = vzero(gxp)
                c41 = vzero(gxp)
                c42 = vzero(gxp)
                c50 = vzero(gxp)
                c51 = vzero(gxp)
                c52 = vzero(gxp)
                c60 = vzero(gxp)
                c61 = vzero(gxp)
                c62 = vzero(gxp)
                c70 = vzero(gxp)
                c71 = vzero(gxp)
                c72 = vzero(gxp)
                wo = (b * n_w + s * c_out) * 8
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
                    g += wide_len
                d = ((n * c_in + b * 8) * ss + sp_plane[s]) * plane_len + sp_off[s] + m0
                count = min(tile, length - m0)
                _add_vectors(gxp, d, w_vec, count, c00, c01, c02)
                if nj > 1:
                    _add_vectors(gxp, d + 1 * step, w_vec, count, c10, c11, c12)
                if nj > 2:
                    _add_vectors(gxp, d + 2 * step, w_vec, count, c20, c21, c22)
                if nj > 3:
                    _add_vectors(gxp, d + 3 * step, w_vec, count, c30, c31, c32)
                if nj > 4:
                    _add_vectors(gxp, d + 4 * step, w_vec, count, c40, c41, c42)
                if nj > 5:
                    _add_vectors(gxp, d + 5 * step, w_vec, count, c50, c51, c52)
                if nj > 6:
                    _add_vectors(gxp, d + 6 * step, w_vec, count, c60, c61, c62)
                if nj > 7:
                    _add_vectors(gxp, d + 7 * step, w_vec, count, c70, c71, c72)


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def _backward_weight_ob4(go_wide, xp, sp_plane, sp_off, grad_w, packed_w, oh, ow, n_groups):
    """grad_w[o, c, ky, kx] = sum_{n, m} go_wide[n, o, m] * xp[n, c*ss + plane(s), off(s) + m].

    go_wide : (N, C_out, OH*PW) widened grad_output (junk columns zero, so they add 0).
    xp : (N, C_in*sh*sw, PH*PW) packed input. sp_plane, sp_off : (kH*kW,) as in
    ``conv2d_direct_backward_input``. grad_w : (C_out, C_in, kH, kW), overwritten.
    go_wide and xp C-contiguous. n_groups : image groups (>= 1, <= N), see below.

    Each task owns the weights of OB output channels x one input channel for
    one group of images, so no reduction crosses the prange; the groups' sums
    are added after it. One group unless (C_out / OB) x C_in is too small to
    keep the threads busy (LeNet-5's conv1: 6 x 1 channels). Each
    pass handles 4 output channels x 2 taps with 8 vector accumulators (6
    vector loads per 8 FMAs); the accumulators of all passes live in a small
    per-task array (``acc``, L1) and are reduced across lanes once at the end.
    Images outside, passes inside: the image's planes the passes read (the
    task's input plane, 4 gradient planes) stay in L1 over all kH*kW taps.
    With the batch inside each pass instead (the version before), every pass
    streamed the whole batch from L2, ~100 bytes per cycle for LeNet-5's conv2.
    """
    n_batch, c_out, wide_len = go_wide.shape
    c_in, kh, kw = grad_w.shape[1], grad_w.shape[2], grad_w.shape[3]
    n_planes, plane_len = xp.shape[1], xp.shape[2]
    ss = n_planes // c_in
    n_sp = kh * kw
    n_pass = (n_sp + 1) // 2
    n_blk = (c_out + OB - 1) // OB
    w_vec = lanes(xp)
    length = (oh - 1) * packed_w + ow
    n_vec = length // w_vec   # whole vectors; the rest is one masked vector
    rest = length - n_vec * w_vec
    # Image groups: each sums its own share of the batch into partial[g]; more
    # than one only when there are too few (block, channel) tasks for the threads.
    partial = np.empty((n_groups,) + grad_w.shape, dtype=grad_w.dtype)
    for task in prange(n_groups * n_blk * c_in):
        g = task // (n_blk * c_in)
        b = task // c_in % n_blk
        c = task % c_in
        o0 = b * OB
        nj = min(OB, c_out - o0)
        # acc[(pass * 8 + k) * w_vec:]: accumulator k (a0..a7 below) of each pass.
        acc = np.zeros(n_pass * 8 * w_vec, dtype=grad_w.dtype)
        for n in range(g * n_batch // n_groups, (g + 1) * n_batch // n_groups):
            # Channels past C_out (last block) re-read the last real one; never stored.
            h0 = (n * c_out + o0) * wide_len
            h1 = (n * c_out + o0 + min(1, nj - 1)) * wide_len
            h2 = (n * c_out + o0 + min(2, nj - 1)) * wide_len
            h3 = (n * c_out + o0 + min(3, nj - 1)) * wide_len
            plane0 = (n * n_planes + c * ss) * plane_len
            for ps in range(n_pass):
                s = 2 * ps
                s2 = min(s + 1, n_sp - 1)   # odd tap count: the last pass repeats a tap
                u0 = plane0 + sp_plane[s] * plane_len + sp_off[s]
                v0 = plane0 + sp_plane[s2] * plane_len + sp_off[s2]
                e = ps * 8 * w_vec
                a0 = vload(acc, e)
                a1 = vload(acc, e + w_vec)
                a2 = vload(acc, e + 2 * w_vec)
                a3 = vload(acc, e + 3 * w_vec)
                a4 = vload(acc, e + 4 * w_vec)
                a5 = vload(acc, e + 5 * w_vec)
                a6 = vload(acc, e + 6 * w_vec)
                a7 = vload(acc, e + 7 * w_vec)
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
                if rest > 0:
                    # The last length % w_vec positions: one masked vector (zero
                    # lanes beyond them). A scalar loop here took more time than
                    # all the whole vectors on LeNet-5's conv2 (92 = 5 x 16 + 12).
                    m = n_vec * w_vec
                    u = vload_first(xp, u0 + m, rest)
                    v = vload_first(xp, v0 + m, rest)
                    g0 = vload_first(go_wide, h0 + m, rest)
                    g1 = vload_first(go_wide, h1 + m, rest)
                    g2 = vload_first(go_wide, h2 + m, rest)
                    g3 = vload_first(go_wide, h3 + m, rest)
                    a0 = vfma(g0, u, a0)
                    a1 = vfma(g1, u, a1)
                    a2 = vfma(g2, u, a2)
                    a3 = vfma(g3, u, a3)
                    a4 = vfma(g0, v, a4)
                    a5 = vfma(g1, v, a5)
                    a6 = vfma(g2, v, a6)
                    a7 = vfma(g3, v, a7)
                vstore(acc, e, a0)
                vstore(acc, e + w_vec, a1)
                vstore(acc, e + 2 * w_vec, a2)
                vstore(acc, e + 3 * w_vec, a3)
                vstore(acc, e + 4 * w_vec, a4)
                vstore(acc, e + 5 * w_vec, a5)
                vstore(acc, e + 6 * w_vec, a6)
                vstore(acc, e + 7 * w_vec, a7)
        for ps in range(n_pass):
            for k in range(8):
                # Accumulator k: output channel o0 + k % 4, tap 2*ps (k < 4) or 2*ps + 1.
                s = 2 * ps + k // 4
                j = k % 4
                if s < n_sp and j < nj:
                    e = (ps * 8 + k) * w_vec
                    partial[g, o0 + j, c, s // kw, s % kw] = vsum(vload(acc, e))
    # Sum the groups' partial gradients (serial; n_groups > 1 only for small filters).
    for o in range(grad_w.shape[0]):
        for c in range(c_in):
            for ky in range(kh):
                for kx in range(kw):
                    total = partial[0, o, c, ky, kx]
                    for g in range(1, n_groups):
                        total += partial[g, o, c, ky, kx]
                    grad_w[o, c, ky, kx] = total


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def _backward_weight_ob8(go_wide, xp, sp_plane, sp_off, grad_w, packed_w, oh, ow, n_groups):
    """_backward_weight_ob4 with 8 output channels x 3 taps per pass (AVX-512).

    Same arguments and result. 24 accumulators (AVX-512 has 32 registers): per
    vector of positions 8 gradient loads + 3 input loads feed 24 FMAs, where the
    4 x 2 pass needs 6 loads for 8 FMAs (and the input loads mostly straddle
    cache lines), which left that kernel bound by loads. Three taps per pass
    is one kernel row of a 3x3 filter. The last, partial vector of positions
    is loaded masked (masking every load measured ~10% slower on shape A).
    """
    n_batch, c_out, wide_len = go_wide.shape
    c_in, kh, kw = grad_w.shape[1], grad_w.shape[2], grad_w.shape[3]
    n_planes, plane_len = xp.shape[1], xp.shape[2]
    ss = n_planes // c_in
    n_sp = kh * kw
    n_pass = (n_sp + 2) // 3
    n_blk = (c_out + 7) // 8
    w_vec = lanes(xp)
    length = (oh - 1) * packed_w + ow
    n_vec = length // w_vec   # whole vectors; the rest is one masked vector
    rest = length - n_vec * w_vec
    # Image groups: each sums its own share of the batch into partial[g]; more
    # than one only when there are too few (block, channel) tasks for the threads.
    partial = np.empty((n_groups,) + grad_w.shape, dtype=grad_w.dtype)
    for task in prange(n_groups * n_blk * c_in):
        g = task // (n_blk * c_in)
        b = task // c_in % n_blk
        c = task % c_in
        o0 = b * 8
        nj = min(8, c_out - o0)
        # acc[(pass * 24 + t * 8 + j) * w_vec:]: channel o0 + j, tap 3 * pass + t.
        acc = np.zeros(n_pass * 24 * w_vec, dtype=grad_w.dtype)
        for n in range(g * n_batch // n_groups, (g + 1) * n_batch // n_groups):
            # Channels past C_out (last block) re-read the last real one; never stored.
            h0 = (n * c_out + o0 + min(0, nj - 1)) * wide_len
            h1 = (n * c_out + o0 + min(1, nj - 1)) * wide_len
            h2 = (n * c_out + o0 + min(2, nj - 1)) * wide_len
            h3 = (n * c_out + o0 + min(3, nj - 1)) * wide_len
            h4 = (n * c_out + o0 + min(4, nj - 1)) * wide_len
            h5 = (n * c_out + o0 + min(5, nj - 1)) * wide_len
            h6 = (n * c_out + o0 + min(6, nj - 1)) * wide_len
            h7 = (n * c_out + o0 + min(7, nj - 1)) * wide_len
            plane0 = (n * n_planes + c * ss) * plane_len
            for ps in range(n_pass):
                # Taps past the last (last pass) repeat it; never stored.
                s0 = min(3 * ps + 0, n_sp - 1)
                x00 = plane0 + sp_plane[s0] * plane_len + sp_off[s0]
                s1 = min(3 * ps + 1, n_sp - 1)
                x10 = plane0 + sp_plane[s1] * plane_len + sp_off[s1]
                s2 = min(3 * ps + 2, n_sp - 1)
                x20 = plane0 + sp_plane[s2] * plane_len + sp_off[s2]
                e = ps * 24 * w_vec
                a00 = vload(acc, e + 0 * w_vec)
                a01 = vload(acc, e + 1 * w_vec)
                a02 = vload(acc, e + 2 * w_vec)
                a03 = vload(acc, e + 3 * w_vec)
                a04 = vload(acc, e + 4 * w_vec)
                a05 = vload(acc, e + 5 * w_vec)
                a06 = vload(acc, e + 6 * w_vec)
                a07 = vload(acc, e + 7 * w_vec)
                a10 = vload(acc, e + 8 * w_vec)
                a11 = vload(acc, e + 9 * w_vec)
                a12 = vload(acc, e + 10 * w_vec)
                a13 = vload(acc, e + 11 * w_vec)
                a14 = vload(acc, e + 12 * w_vec)
                a15 = vload(acc, e + 13 * w_vec)
                a16 = vload(acc, e + 14 * w_vec)
                a17 = vload(acc, e + 15 * w_vec)
                a20 = vload(acc, e + 16 * w_vec)
                a21 = vload(acc, e + 17 * w_vec)
                a22 = vload(acc, e + 18 * w_vec)
                a23 = vload(acc, e + 19 * w_vec)
                a24 = vload(acc, e + 20 * w_vec)
                a25 = vload(acc, e + 21 * w_vec)
                a26 = vload(acc, e + 22 * w_vec)
                a27 = vload(acc, e + 23 * w_vec)
                for m in range(0, n_vec * w_vec, w_vec):
                    u0 = vload(xp, x00 + m)
                    u1 = vload(xp, x10 + m)
                    u2 = vload(xp, x20 + m)
                    gv = vload(go_wide, h0 + m)
                    a00 = vfma(gv, u0, a00)
                    a10 = vfma(gv, u1, a10)
                    a20 = vfma(gv, u2, a20)
                    gv = vload(go_wide, h1 + m)
                    a01 = vfma(gv, u0, a01)
                    a11 = vfma(gv, u1, a11)
                    a21 = vfma(gv, u2, a21)
                    gv = vload(go_wide, h2 + m)
                    a02 = vfma(gv, u0, a02)
                    a12 = vfma(gv, u1, a12)
                    a22 = vfma(gv, u2, a22)
                    gv = vload(go_wide, h3 + m)
                    a03 = vfma(gv, u0, a03)
                    a13 = vfma(gv, u1, a13)
                    a23 = vfma(gv, u2, a23)
                    gv = vload(go_wide, h4 + m)
                    a04 = vfma(gv, u0, a04)
                    a14 = vfma(gv, u1, a14)
                    a24 = vfma(gv, u2, a24)
                    gv = vload(go_wide, h5 + m)
                    a05 = vfma(gv, u0, a05)
                    a15 = vfma(gv, u1, a15)
                    a25 = vfma(gv, u2, a25)
                    gv = vload(go_wide, h6 + m)
                    a06 = vfma(gv, u0, a06)
                    a16 = vfma(gv, u1, a16)
                    a26 = vfma(gv, u2, a26)
                    gv = vload(go_wide, h7 + m)
                    a07 = vfma(gv, u0, a07)
                    a17 = vfma(gv, u1, a17)
                    a27 = vfma(gv, u2, a27)
                if rest > 0:
                    # The last length % w_vec positions: masked loads, zero lanes past them.
                    m = n_vec * w_vec
                    k = rest
                    u0 = vload_first(xp, x00 + m, k)
                    u1 = vload_first(xp, x10 + m, k)
                    u2 = vload_first(xp, x20 + m, k)
                    gv = vload_first(go_wide, h0 + m, k)
                    a00 = vfma(gv, u0, a00)
                    a10 = vfma(gv, u1, a10)
                    a20 = vfma(gv, u2, a20)
                    gv = vload_first(go_wide, h1 + m, k)
                    a01 = vfma(gv, u0, a01)
                    a11 = vfma(gv, u1, a11)
                    a21 = vfma(gv, u2, a21)
                    gv = vload_first(go_wide, h2 + m, k)
                    a02 = vfma(gv, u0, a02)
                    a12 = vfma(gv, u1, a12)
                    a22 = vfma(gv, u2, a22)
                    gv = vload_first(go_wide, h3 + m, k)
                    a03 = vfma(gv, u0, a03)
                    a13 = vfma(gv, u1, a13)
                    a23 = vfma(gv, u2, a23)
                    gv = vload_first(go_wide, h4 + m, k)
                    a04 = vfma(gv, u0, a04)
                    a14 = vfma(gv, u1, a14)
                    a24 = vfma(gv, u2, a24)
                    gv = vload_first(go_wide, h5 + m, k)
                    a05 = vfma(gv, u0, a05)
                    a15 = vfma(gv, u1, a15)
                    a25 = vfma(gv, u2, a25)
                    gv = vload_first(go_wide, h6 + m, k)
                    a06 = vfma(gv, u0, a06)
                    a16 = vfma(gv, u1, a16)
                    a26 = vfma(gv, u2, a26)
                    gv = vload_first(go_wide, h7 + m, k)
                    a07 = vfma(gv, u0, a07)
                    a17 = vfma(gv, u1, a17)
                    a27 = vfma(gv, u2, a27)
                vstore(acc, e + 0 * w_vec, a00)
                vstore(acc, e + 1 * w_vec, a01)
                vstore(acc, e + 2 * w_vec, a02)
                vstore(acc, e + 3 * w_vec, a03)
                vstore(acc, e + 4 * w_vec, a04)
                vstore(acc, e + 5 * w_vec, a05)
                vstore(acc, e + 6 * w_vec, a06)
                vstore(acc, e + 7 * w_vec, a07)
                vstore(acc, e + 8 * w_vec, a10)
                vstore(acc, e + 9 * w_vec, a11)
                vstore(acc, e + 10 * w_vec, a12)
                vstore(acc, e + 11 * w_vec, a13)
                vstore(acc, e + 12 * w_vec, a14)
                vstore(acc, e + 13 * w_vec, a15)
                vstore(acc, e + 14 * w_vec, a16)
                vstore(acc, e + 15 * w_vec, a17)
                vstore(acc, e + 16 * w_vec, a20)
                vstore(acc, e + 17 * w_vec, a21)
                vstore(acc, e + 18 * w_vec, a22)
                vstore(acc, e + 19 * w_vec, a23)
                vstore(acc, e + 20 * w_vec, a24)
                vstore(acc, e + 21 * w_vec, a25)
                vstore(acc, e + 22 * w_vec, a26)
                vstore(acc, e + 23 * w_vec, a27)
        for ps in range(n_pass):
            for t in range(3):
                s = 3 * ps + t
                for j in range(nj):
                    if s < n_sp:
                        e = (ps * 24 + t * 8 + j) * w_vec
                        partial[g, o0 + j, c, s // kw, s % kw] = vsum(vload(acc, e))
    # Sum the groups' partial gradients (serial; n_groups > 1 only for small filters).
    for o in range(grad_w.shape[0]):
        for c in range(c_in):
            for ky in range(kh):
                for kx in range(kw):
                    total = partial[0, o, c, ky, kx]
                    for g in range(1, n_groups):
                        total += partial[g, o, c, ky, kx]
                    grad_w[o, c, ky, kx] = total


# Like FORWARD_OB: the 8-channel kernels where AVX-512 gives them the registers.
# The grad-input's 8-channel tile idles half its lanes for C_in <= 4 (shape D,
# C_in = 3: 30 ms against 21 with the 4-channel tile, measured). Both tiles per
# call was measured too: the second kernel costs 5.6 s more cold compile (and one
# compile event); a 4-channel branch inside this kernel, 4.3 s (7.7 -> 12 s). All
# for layers that are mostly first layers, whose input gradient training skips
# (input_grad=False). So one tile per CPU.
INPUT_OB = FORWARD_OB
conv2d_direct_backward_input = _backward_input_ob8 if INPUT_OB == 8 else _backward_input_ob4
WEIGHT_OB = FORWARD_OB
conv2d_direct_backward_weight = _backward_weight_ob8 if WEIGHT_OB == 8 else _backward_weight_ob4


@njit(inline="always")
def _add_vectors(arr, d, w_vec, count, v0, v1, v2):
    # arr[d : d + count] += the first count (<= 3 * w_vec) lanes of v0, v1, v2.
    if count == 3 * w_vec:
        vstore(arr, d, vadd(vload(arr, d), v0))
        vstore(arr, d + w_vec, vadd(vload(arr, d + w_vec), v1))
        vstore(arr, d + 2 * w_vec, vadd(vload(arr, d + 2 * w_vec), v2))
    else:
        k = min(count, w_vec)
        vstore_first(arr, d, vadd(vload_first(arr, d, k), v0), k)
        k = max(0, min(count - w_vec, w_vec))
        vstore_first(arr, d + w_vec, vadd(vload_first(arr, d + w_vec, k), v1), k)
        k = max(0, count - 2 * w_vec)
        vstore_first(arr, d + 2 * w_vec, vadd(vload_first(arr, d + 2 * w_vec, k), v2), k)
