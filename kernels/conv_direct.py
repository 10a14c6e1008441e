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
  (oy, ox) sits at flat position oy * PW + ox, so one tap is one unit-stride
  loop over up to ACC_LEN positions spanning several output rows. The PW - W_out
  columns at the end of each row are junk and are dropped when copying out.
* Register blocking: one pass of the inner loop updates OB = 4 output channels
  from TWO taps (8 weights held in registers): per vector of 8 positions it
  loads 2 input vectors and 4 accumulators, does 8 FMAs and stores 4
  accumulators. With one tap per pass it was store-bound (1 store per FMA) and
  1.6x slower; 3-4 taps need more than AVX2's 16 vector registers.
* The accumulators for ACC_LEN wide positions x OB channels (16 KiB in
  float32) stay in the 32 KiB L1 cache while every tap streams past them.
* Weights are re-laid-out to (channel block, tap, OB) so the OB weights of one
  tap are adjacent, and the taps are described by two small tables (source
  plane, start offset) so the loop runs over all C_in*kH*kW taps without
  caring which of c, ky, kx changes.

Parallel work: forward over (n, output-channel block), grad-input over
(n, input-channel block), grad-weight over (output-channel block, input
channel). Each task writes only its own output planes / weights, so no two
threads touch the same element and no reduction crosses the ``prange``.
"""
import numpy as np
from numba import njit, prange

from ._config import CACHE, FASTMATH

# Channels per register block (see module docstring) and wide positions per
# accumulator chunk: OB * ACC_LEN float32 = 16 KiB, half of Zen 3's L1d.
OB = 4
ACC_LEN = 1024


@njit(parallel=True, cache=CACHE)
def conv2d_pack_input(x, xp, stride_h, stride_w, pad_h, pad_w, packed_w):
    """Copy x (N, C, H, W) into padded, stride-phase planes xp (N, C*sh*sw, PH*PW).

    xp[n, c*sh*sw + py*sw + px, i*PW + j] = x[n, c, i*sh + py - pad_h, j*sw + px - pad_w],
    zero where that position is padding or outside x. Overwrites all of ``xp``.
    """
    n_batch, c_in, h, wd = x.shape
    ss = stride_h * stride_w
    ph = xp.shape[2] // packed_w
    zero = xp.dtype.type(0)
    for task in prange(n_batch * c_in):
        n = task // c_in
        c = task % c_in
        for py in range(stride_h):
            for px in range(stride_w):
                dst = xp[n, c * ss + py * stride_w + px]
                for i in range(ph):
                    iy = i * stride_h + py - pad_h
                    row = dst[i * packed_w:(i + 1) * packed_w]
                    if iy < 0 or iy >= h:
                        row[:] = zero
                        continue
                    src = x[n, c, iy]
                    for j in range(packed_w):
                        ix = j * stride_w + px - pad_w
                        row[j] = src[ix] if 0 <= ix < wd else zero


@njit(parallel=True, cache=CACHE)
def conv2d_unpack_input_grad(gxp, gx, stride_h, stride_w, pad_h, pad_w, packed_w):
    """The adjoint of the packing: gx[n, c, y, x] = gxp at the packed position of (y, x).

    gxp : (N, C*sh*sw, PH*PW); gx : (N, C, H, W), overwritten. Input positions the
    packed planes do not cover (rows/columns no output window reaches) get 0.
    """
    n_batch, c_in, h, wd = gx.shape
    ss = stride_h * stride_w
    ph = gxp.shape[2] // packed_w
    zero = gx.dtype.type(0)
    for task in prange(n_batch * c_in):
        n = task // c_in
        c = task % c_in
        for y in range(h):
            yy = y + pad_h
            i = yy // stride_h
            row = gx[n, c, y]
            if i >= ph:
                row[:] = zero
                continue
            base = c * ss + (yy % stride_h) * stride_w
            for xx in range(wd):
                xq = xx + pad_w
                j = xq // stride_w
                if j < packed_w:
                    row[xx] = gxp[n, base + xq % stride_w, i * packed_w + j]
                else:
                    row[xx] = zero


@njit(parallel=True, cache=CACHE)
def conv2d_widen(grad_out, go_wide, packed_w):
    """grad_out (N, K, OH, OW) -> go_wide (N, K, OH*PW): row oy at oy*PW, zeros in columns >= OW."""
    n_batch, k, oh, ow = grad_out.shape
    zero = go_wide.dtype.type(0)
    for task in prange(n_batch * k):
        n = task // k
        o = task % k
        dst = go_wide[n, o]
        for oy in range(oh):
            dst[oy * packed_w:oy * packed_w + ow] = grad_out[n, o, oy]
            dst[oy * packed_w + ow:(oy + 1) * packed_w] = zero


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def conv2d_direct_forward(xp, wt, tap_plane, tap_off, out, packed_w):
    """out[n, o] = sum over taps of wt * the tap's run of packed input (no bias).

    xp : (N, P, PH*PW) packed input (``conv2d_pack_input``).
    wt : (ceil(C_out / OB), T, OB) weights, wt[b, t, j] = w[b*OB + j, c, ky, kx] for
        tap t = (c*kH + ky)*kW + kx, zero for channels >= C_out.
    tap_plane, tap_off : (T,) int64, the packed plane and start offset of each tap.
    out : (N, C_out, OH, OW), overwritten. packed_w : packed row width PW >= OW.
    """
    n_batch = xp.shape[0]
    n_blk, n_taps, _ = wt.shape
    c_out, oh, ow = out.shape[1], out.shape[2], out.shape[3]
    rows = max(1, min(oh, ACC_LEN // packed_w))
    for task in prange(n_batch * n_blk):
        n = task // n_blk
        b = task % n_blk
        acc = np.empty((OB, rows * packed_w), dtype=out.dtype)
        a0 = acc[0]
        a1 = acc[1]
        a2 = acc[2]
        a3 = acc[3]
        xn = xp[n]
        wb = wt[b]
        for oy0 in range(0, oh, rows):
            nr = min(rows, oh - oy0)
            length = (nr - 1) * packed_w + ow
            base = oy0 * packed_w
            acc[:, :] = 0
            for t in range(0, n_taps - 1, 2):
                s0 = xn[tap_plane[t], base + tap_off[t]:]
                s1 = xn[tap_plane[t + 1], base + tap_off[t + 1]:]
                w00, w01, w02, w03 = wb[t, 0], wb[t, 1], wb[t, 2], wb[t, 3]
                w10, w11, w12, w13 = wb[t + 1, 0], wb[t + 1, 1], wb[t + 1, 2], wb[t + 1, 3]
                for m in range(length):
                    u = s0[m]
                    v = s1[m]
                    a0[m] += w00 * u + w10 * v
                    a1[m] += w01 * u + w11 * v
                    a2[m] += w02 * u + w12 * v
                    a3[m] += w03 * u + w13 * v
            if n_taps % 2 == 1:
                t = n_taps - 1
                s0 = xn[tap_plane[t], base + tap_off[t]:]
                w00, w01, w02, w03 = wb[t, 0], wb[t, 1], wb[t, 2], wb[t, 3]
                for m in range(length):
                    u = s0[m]
                    a0[m] += w00 * u
                    a1[m] += w01 * u
                    a2[m] += w02 * u
                    a3[m] += w03 * u
            for j in range(OB):
                o = b * OB + j
                if o < c_out:
                    for r in range(nr):
                        out[n, o, oy0 + r, :] = acc[j, r * packed_w:r * packed_w + ow]


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def conv2d_direct_backward_input(go_wide, wt, sp_plane, sp_off, gxp, packed_w, ss, oh, ow):
    """Packed grad-input: gxp[n, c*ss + plane(s), off(s) + m] += w[o, c, s] * go_wide[n, o, m].

    go_wide : (N, C_out, OH*PW) widened grad_output (``conv2d_widen``; its junk columns
        are zero, so scattering them adds nothing).
    wt : (ceil(C_in / OB), kH*kW*C_out, OB), wt[b, s*C_out + o, j] = w[o, b*OB + j, s]
        for spatial tap s = ky*kW + kx, zero for channels >= C_in.
    sp_plane, sp_off : (kH*kW,) the phase plane (0 .. ss-1) and start offset of
        each spatial tap; ss = stride_h * stride_w.
    gxp : (N, C_in*ss, PH*PW), overwritten.

    The transpose of the forward loop: the accumulators are the packed planes of
    OB input channels, the streamed operands the gradients of 2 output channels.
    """
    n_batch, c_out = go_wide.shape[0], go_wide.shape[1]
    n_blk, n_w, _ = wt.shape
    n_sp = n_w // c_out
    c_in = gxp.shape[1] // ss
    plane_len = gxp.shape[2]
    rows = max(1, min(oh, ACC_LEN // packed_w))
    zero = gxp.dtype.type(0)
    for task in prange(n_batch * n_blk):
        n = task // n_blk
        b = task % n_blk
        gn = go_wide[n]
        wb = wt[b]
        nj = min(OB, c_in - b * OB)
        for j in range(nj):
            for p in range(ss):
                gxp[n, (b * OB + j) * ss + p, :] = zero
        # The last block's channels past C_in (zero weights) scatter into scratch
        # rows: aliasing them onto a real plane would add 0 * inf = NaN.
        scratch = np.zeros((OB, plane_len if nj < OB else 1), dtype=gxp.dtype)
        for oy0 in range(0, oh, rows):
            nr = min(rows, oh - oy0)
            length = (nr - 1) * packed_w + ow
            base = oy0 * packed_w
            for s in range(n_sp):
                start = base + sp_off[s]
                p = sp_plane[s]
                d0 = gxp[n, (b * OB) * ss + p, start:]
                d1 = gxp[n, (b * OB + 1) * ss + p, start:] if nj > 1 else scratch[1, start:]
                d2 = gxp[n, (b * OB + 2) * ss + p, start:] if nj > 2 else scratch[2, start:]
                d3 = gxp[n, (b * OB + 3) * ss + p, start:] if nj > 3 else scratch[3, start:]
                for o in range(0, c_out - 1, 2):
                    g0 = gn[o, base:]
                    g1 = gn[o + 1, base:]
                    r = s * c_out + o
                    w00, w01, w02, w03 = wb[r, 0], wb[r, 1], wb[r, 2], wb[r, 3]
                    w10, w11, w12, w13 = wb[r + 1, 0], wb[r + 1, 1], wb[r + 1, 2], wb[r + 1, 3]
                    for m in range(length):
                        u = g0[m]
                        v = g1[m]
                        d0[m] += w00 * u + w10 * v
                        d1[m] += w01 * u + w11 * v
                        d2[m] += w02 * u + w12 * v
                        d3[m] += w03 * u + w13 * v
                if c_out % 2 == 1:
                    o = c_out - 1
                    g0 = gn[o, base:]
                    r = s * c_out + o
                    w00, w01, w02, w03 = wb[r, 0], wb[r, 1], wb[r, 2], wb[r, 3]
                    for m in range(length):
                        u = g0[m]
                        d0[m] += w00 * u
                        d1[m] += w01 * u
                        d2[m] += w02 * u
                        d3[m] += w03 * u


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def conv2d_direct_backward_weight(go_wide, xp, sp_plane, sp_off, grad_w, packed_w, oh, ow):
    """grad_w[o, c, ky, kx] = sum_{n, m} go_wide[n, o, m] * xp[n, c*ss + plane(s), off(s) + m].

    go_wide : (N, C_out, OH*PW) widened grad_output (junk columns zero, so they add 0).
    xp : (N, C_in*sh*sw, PH*PW) packed input. sp_plane, sp_off : (kH*kW,) as in
    ``conv2d_direct_backward_input``. grad_w : (C_out, C_in, kH, kW), overwritten.

    Each task owns the weights of OB output channels x one input channel and
    sums over the whole batch itself, so no reduction crosses the prange. Each
    pass handles 4 output channels x 2 taps with 8 vector accumulators (the
    reduction vectorises under the ``reassoc`` flag).
    """
    n_batch, c_out = go_wide.shape[0], go_wide.shape[1]
    c_in, kh, kw = grad_w.shape[1], grad_w.shape[2], grad_w.shape[3]
    ss = xp.shape[1] // c_in
    n_sp = kh * kw
    n_blk = (c_out + OB - 1) // OB
    rows = max(1, min(oh, ACC_LEN // packed_w))
    zero = grad_w.dtype.type(0)
    for task in prange(n_blk * c_in):
        b = task // c_in
        c = task % c_in
        o0 = b * OB
        nj = min(OB, c_out - o0)
        sums = np.zeros((n_sp, OB), dtype=grad_w.dtype)
        for n in range(n_batch):
            gn = go_wide[n]
            for oy0 in range(0, oh, rows):
                nr = min(rows, oh - oy0)
                length = (nr - 1) * packed_w + ow
                base = oy0 * packed_w
                g0 = gn[o0, base:]
                g1 = gn[o0 + min(1, nj - 1), base:]
                g2 = gn[o0 + min(2, nj - 1), base:]
                g3 = gn[o0 + min(3, nj - 1), base:]
                # Two taps per pass: 6 loads feed 8 FMAs (one tap: 5 loads per 4 FMAs,
                # load-bound on 2 loads/cycle).
                for s in range(0, n_sp - 1, 2):
                    src = xp[n, c * ss + sp_plane[s], base + sp_off[s]:]
                    srd = xp[n, c * ss + sp_plane[s + 1], base + sp_off[s + 1]:]
                    acc0 = zero
                    acc1 = zero
                    acc2 = zero
                    acc3 = zero
                    acc4 = zero
                    acc5 = zero
                    acc6 = zero
                    acc7 = zero
                    for m in range(length):
                        u = src[m]
                        v = srd[m]
                        h0 = g0[m]
                        h1 = g1[m]
                        h2 = g2[m]
                        h3 = g3[m]
                        acc0 += h0 * u
                        acc1 += h1 * u
                        acc2 += h2 * u
                        acc3 += h3 * u
                        acc4 += h0 * v
                        acc5 += h1 * v
                        acc6 += h2 * v
                        acc7 += h3 * v
                    sums[s, 0] += acc0
                    sums[s, 1] += acc1
                    sums[s, 2] += acc2
                    sums[s, 3] += acc3
                    sums[s + 1, 0] += acc4
                    sums[s + 1, 1] += acc5
                    sums[s + 1, 2] += acc6
                    sums[s + 1, 3] += acc7
                if n_sp % 2 == 1:
                    s = n_sp - 1
                    src = xp[n, c * ss + sp_plane[s], base + sp_off[s]:]
                    acc0 = zero
                    acc1 = zero
                    acc2 = zero
                    acc3 = zero
                    for m in range(length):
                        v = src[m]
                        acc0 += g0[m] * v
                        acc1 += g1[m] * v
                        acc2 += g2[m] * v
                        acc3 += g3[m] * v
                    sums[s, 0] += acc0
                    sums[s, 1] += acc1
                    sums[s, 2] += acc2
                    sums[s, 3] += acc3
        for j in range(nj):
            for s in range(n_sp):
                grad_w[o0 + j, c, s // kw, s % kw] = sums[s, j]
