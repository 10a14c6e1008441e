"""Direct 2-D convolution (cross-correlation), NCHW: forward, grad-input, grad-weight.

Index convention shared with im2col.py: output position (oy, ox) and kernel tap
(ky, kx) read input position

    iy = oy * stride_h - pad_h + ky * dil_h,    ix = ox * stride_w - pad_w + kx * dil_w

and taps that land in the padding contribute zero. The output size is taken
from the output array, so asymmetric padding (``padding='same'`` with an even
kernel) is expressed as pad_h/pad_w = top/left padding plus a larger output.

Every loop nest is ordered so that the innermost loop runs along a row of the
output (or grad-output) at unit stride and vectorises; the bounds of that loop
are clipped once per (row, tap) by ``_window.valid_range`` instead of testing
for padding inside it.

Parallel work is split so that each thread owns whole output planes, which
makes every kernel free of data races without per-thread partial buffers:
forward over (n, c_out) planes, grad-input over (n, c_in) planes, grad-weight
over (c_out, c_in) filter slices.
"""
from numba import njit, prange

from ._config import CACHE, FASTMATH
from ._window import valid_range


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def conv2d_direct_forward(x, w, out, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w):
    """out[n, o] = sum_{c, ky, kx} w[o, c, ky, kx] * x[n, c, iy, ix] (no bias).

    x : (N, C_in, H, W); w : (C_out, C_in, KH, KW); out : (N, C_out, OH, OW),
    all C-contiguous and of one dtype; ``out`` is overwritten.
    """
    n_batch, c_in, h, wd = x.shape
    c_out, _, kh, kw = w.shape
    oh, ow = out.shape[2], out.shape[3]
    zero = out.dtype.type(0)
    for task in prange(n_batch * c_out):
        n = task // c_out
        o = task % c_out
        plane = out[n, o]
        plane[:, :] = zero
        for c in range(c_in):
            xc = x[n, c]
            for ky in range(kh):
                oy_lo, oy_hi = valid_range(ky * dil_h, pad_h, stride_h, h, oh)
                for kx in range(kw):
                    ox_lo, ox_hi = valid_range(kx * dil_w, pad_w, stride_w, wd, ow)
                    width = ox_hi - ox_lo
                    wv = w[o, c, ky, kx]
                    ix0 = ox_lo * stride_w - pad_w + kx * dil_w
                    for oy in range(oy_lo, oy_hi):
                        iy = oy * stride_h - pad_h + ky * dil_h
                        orow = plane[oy, ox_lo:ox_hi]
                        xrow = xc[iy, ix0:]
                        for t in range(width):
                            orow[t] += wv * xrow[t * stride_w]


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def conv2d_direct_backward_input(grad_out, w, grad_in, stride_h, stride_w, pad_h, pad_w,
                                 dil_h, dil_w):
    """grad_in[n, c] = sum_{o, ky, kx} w[o, c, ky, kx] * grad_out[n, o] scattered back.

    grad_out : (N, C_out, OH, OW); w : (C_out, C_in, KH, KW);
    grad_in : (N, C_in, H, W), overwritten. Same dtype, C-contiguous.
    """
    n_batch, c_in, h, wd = grad_in.shape
    c_out, _, kh, kw = w.shape
    oh, ow = grad_out.shape[2], grad_out.shape[3]
    zero = grad_in.dtype.type(0)
    for task in prange(n_batch * c_in):
        n = task // c_in
        c = task % c_in
        plane = grad_in[n, c]
        plane[:, :] = zero
        for o in range(c_out):
            go = grad_out[n, o]
            for ky in range(kh):
                oy_lo, oy_hi = valid_range(ky * dil_h, pad_h, stride_h, h, oh)
                for kx in range(kw):
                    ox_lo, ox_hi = valid_range(kx * dil_w, pad_w, stride_w, wd, ow)
                    width = ox_hi - ox_lo
                    wv = w[o, c, ky, kx]
                    ix0 = ox_lo * stride_w - pad_w + kx * dil_w
                    for oy in range(oy_lo, oy_hi):
                        iy = oy * stride_h - pad_h + ky * dil_h
                        grow = go[oy, ox_lo:ox_hi]
                        irow = plane[iy, ix0:]
                        for t in range(width):
                            irow[t * stride_w] += wv * grow[t]


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def conv2d_direct_backward_weight(grad_out, x, grad_w, stride_h, stride_w, pad_h, pad_w,
                                  dil_h, dil_w):
    """grad_w[o, c, ky, kx] = sum_{n, oy, ox} grad_out[n, o, oy, ox] * x[n, c, iy, ix].

    grad_out : (N, C_out, OH, OW); x : (N, C_in, H, W);
    grad_w : (C_out, C_in, KH, KW), overwritten. Same dtype, C-contiguous.
    """
    n_batch, c_in, h, wd = x.shape
    c_out, _, kh, kw = grad_w.shape
    oh, ow = grad_out.shape[2], grad_out.shape[3]
    zero = grad_w.dtype.type(0)
    for task in prange(c_out * c_in):
        o = task // c_in
        c = task % c_in
        for ky in range(kh):
            oy_lo, oy_hi = valid_range(ky * dil_h, pad_h, stride_h, h, oh)
            for kx in range(kw):
                ox_lo, ox_hi = valid_range(kx * dil_w, pad_w, stride_w, wd, ow)
                width = ox_hi - ox_lo
                ix0 = ox_lo * stride_w - pad_w + kx * dil_w
                acc = zero
                for n in range(n_batch):
                    go = grad_out[n, o]
                    xc = x[n, c]
                    for oy in range(oy_lo, oy_hi):
                        iy = oy * stride_h - pad_h + ky * dil_h
                        grow = go[oy, ox_lo:ox_hi]
                        xrow = xc[iy, ix0:]
                        for t in range(width):
                            acc += grow[t] * xrow[t * stride_w]
                grad_w[o, c, ky, kx] = acc
