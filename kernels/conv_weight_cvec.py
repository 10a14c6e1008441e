"""Direct conv grad-weight with vectors along the output channels, for small output planes.

grad_w[o, c, ky, kx] = sum over n, oy, ox of grad_output[n, o, oy, ox] * input at
(oy, ox) + tap, with the packed input of kernels/conv_direct.py (zero padding stored,
stride phases split into planes: tap s of channel c reads plane c*ss + sp_plane[s]
at offset sp_off[s] + oy*PW + ox).

``conv2d_direct_backward_weight`` (kernels/conv_direct_grad.py) runs its vectors
along the "wide" output rows (PW >= OW positions each, the PW - OW junk columns
zeroed). On a small plane most of those lanes are junk: LeNet-5's conv2 (8x8 output,
PW = 12) uses 64 of the 96 positions its vectors cover, and with 8 channels x 3
taps per pass it reloads and stores its 24 accumulators for every image and pass.
It ran at 46-48 GFLOP/s on one core there.

Here a vector holds ``lanes`` consecutive output channels of one output position
(grad_output transposed to channels-last, ``go_t``), and each of TAPS = 9
accumulators is one tap of one input channel: per position one vector load of
the gradient, 9 broadcasts of input values and 9 FMAs, real positions only, and
the accumulators stay in registers over the whole batch of a pass. A 3x3 filter
is one pass, a 5x5 three (27 tap slots for 25 taps; the extra slots repeat the last
tap and are not stored). 9 accumulators + the gradient vector + a broadcast fit
AVX2's 16 registers as well as AVX-512's 32.

Suited to C_out a multiple of ``lanes`` (no idle lanes) and a grad_output of a few
KiB per image, which stays in L1 while each (channel block, input channel) task
sweeps it once per pass (fastnn/_conv.py ``_channel_vector_weight_grad`` decides).
"""
from numba import njit, prange

from ._config import CACHE, FASTMATH
from .simd import lanes, vbroadcast, vfma, vload, vstore, vzero

# Taps per pass: 9 accumulators (see above).
TAPS = 9


@njit(inline="always")
def _tap_offset(sp_plane, sp_off, s, plane_len):
    # Offset of tap s's run from its input channel's first plane; a slot past the last
    # tap repeats the last one.
    s = min(s, sp_plane.shape[0] - 1)
    return sp_plane[s] * plane_len + sp_off[s]


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def conv2d_weight_grad_cvec(go_t, xp, sp_plane, sp_off, gw_t, packed_w, oh, ow):
    """Partial grad-weight sums per image group, vectors along output channels.

    go_t : (N, OH*OW, Kp) grad_output channels-last, Kp = C_out rounded up to a
        multiple of ``lanes`` (channels past C_out zero). C-contiguous.
    xp : (N, C_in*ss, PH*PW) packed input (``conv2d_pack_input``), C-contiguous.
    sp_plane, sp_off : (kH*kW,) int64: each spatial tap's stride-phase plane and
        start offset (fastnn/_conv.py ``_direct_layout``).
    gw_t : (G, Kp // lanes, C_in, kH*kW, lanes), overwritten:
        gw_t[g, b, c, s, j] = the sum over group g's images of the gradient of
        weight [b*lanes + j, c, tap s]. G image groups (G = 1 unless there are
        fewer (channel block, input channel) tasks than threads); the caller
        sums the groups and transposes.
    packed_w, oh, ow : PW, OH, OW.
    """
    n_groups, n_kb, c_in, n_sp, _ = gw_t.shape
    n_batch, n_pos, kp = go_t.shape
    n_planes, plane_len = xp.shape[1], xp.shape[2]
    ss = n_planes // c_in
    w_vec = lanes(go_t)
    n_pass = (n_sp + TAPS - 1) // TAPS
    for task in prange(n_groups * n_kb * c_in):
        g = task // (n_kb * c_in)
        kb = task // c_in % n_kb
        c = task % c_in
        out = ((g * n_kb + kb) * c_in + c) * n_sp
        for ps in range(n_pass):
            # The pass's taps (slots past the last tap are computed, never stored).
            s = ps * TAPS
            t0 = _tap_offset(sp_plane, sp_off, s, plane_len)
            t1 = _tap_offset(sp_plane, sp_off, s + 1, plane_len)
            t2 = _tap_offset(sp_plane, sp_off, s + 2, plane_len)
            t3 = _tap_offset(sp_plane, sp_off, s + 3, plane_len)
            t4 = _tap_offset(sp_plane, sp_off, s + 4, plane_len)
            t5 = _tap_offset(sp_plane, sp_off, s + 5, plane_len)
            t6 = _tap_offset(sp_plane, sp_off, s + 6, plane_len)
            t7 = _tap_offset(sp_plane, sp_off, s + 7, plane_len)
            t8 = _tap_offset(sp_plane, sp_off, s + 8, plane_len)
            a0 = vzero(go_t)
            a1 = vzero(go_t)
            a2 = vzero(go_t)
            a3 = vzero(go_t)
            a4 = vzero(go_t)
            a5 = vzero(go_t)
            a6 = vzero(go_t)
            a7 = vzero(go_t)
            a8 = vzero(go_t)
            for n in range(g * n_batch // n_groups, (g + 1) * n_batch // n_groups):
                plane0 = (n * n_planes + c * ss) * plane_len
                grad0 = n * n_pos * kp + kb * w_vec
                for oy in range(oh):
                    xr = plane0 + oy * packed_w
                    gr = grad0 + oy * ow * kp
                    for ox in range(ow):
                        gv = vload(go_t, gr + ox * kp)
                        x = xr + ox
                        a0 = vfma(gv, vbroadcast(xp, x + t0), a0)
                        a1 = vfma(gv, vbroadcast(xp, x + t1), a1)
                        a2 = vfma(gv, vbroadcast(xp, x + t2), a2)
                        a3 = vfma(gv, vbroadcast(xp, x + t3), a3)
                        a4 = vfma(gv, vbroadcast(xp, x + t4), a4)
                        a5 = vfma(gv, vbroadcast(xp, x + t5), a5)
                        a6 = vfma(gv, vbroadcast(xp, x + t6), a6)
                        a7 = vfma(gv, vbroadcast(xp, x + t7), a7)
                        a8 = vfma(gv, vbroadcast(xp, x + t8), a8)
            vstore(gw_t, (out + s) * w_vec, a0)
            if s + 1 < n_sp:
                vstore(gw_t, (out + s + 1) * w_vec, a1)
            if s + 2 < n_sp:
                vstore(gw_t, (out + s + 2) * w_vec, a2)
            if s + 3 < n_sp:
                vstore(gw_t, (out + s + 3) * w_vec, a3)
            if s + 4 < n_sp:
                vstore(gw_t, (out + s + 4) * w_vec, a4)
            if s + 5 < n_sp:
                vstore(gw_t, (out + s + 5) * w_vec, a5)
            if s + 6 < n_sp:
                vstore(gw_t, (out + s + 6) * w_vec, a6)
            if s + 7 < n_sp:
                vstore(gw_t, (out + s + 7) * w_vec, a7)
            if s + 8 < n_sp:
                vstore(gw_t, (out + s + 8) * w_vec, a8)
