"""2-D max pooling, NCHW: forward (values and argmax indices) and backward.

Window convention as in _window.py (no dilation): output (oy, ox) covers input
rows oy * stride_h - pad_h + [0, KH) and columns ox * stride_w - pad_w + [0, KW);
padded positions never win (implicit -inf padding, as in PyTorch).

Indices are flat positions ``iy * W + ix`` within each (n, c) input plane, the
format ``torch.nn.functional.max_pool2d(..., return_indices=True)`` returns.
On ties the first maximum in row-major window order wins; a NaN in the window
wins over every number (the output is NaN, as in PyTorch), the first NaN if
there are several.

Both kernels are parallel over (n, c) planes: the backward scatter-adds only
into the plane its thread owns, so overlapping windows need no atomics.
"""
import numpy as np
from numba import njit, prange

from ._config import CACHE


@njit(parallel=True, cache=CACHE)
def max_pool2d_forward(x, out, indices, kh, kw, stride_h, stride_w, pad_h, pad_w):
    """out[n, c, oy, ox] = max over the window; indices (int64) = its flat input position.

    x : (N, C, H, W); out, indices : (N, C, OH, OW); overwritten.
    Requires pad_h <= kh // 2 and pad_w <= kw // 2 (every window holds an input).
    """
    n_batch, chans, h, wd = x.shape
    oh, ow = out.shape[2], out.shape[3]
    neg_inf = out.dtype.type(-np.inf)
    for task in prange(n_batch * chans):
        n = task // chans
        c = task % chans
        plane = x[n, c]
        for oy in range(oh):
            y0 = oy * stride_h - pad_h
            y_lo = max(y0, 0)
            y_hi = min(y0 + kh, h)
            for ox in range(ow):
                x0 = ox * stride_w - pad_w
                x_lo = max(x0, 0)
                x_hi = min(x0 + kw, wd)
                best = neg_inf
                best_idx = y_lo * wd + x_lo
                for iy in range(y_lo, y_hi):
                    for ix in range(x_lo, x_hi):
                        v = plane[iy, ix]
                        # v != v is true only for NaN: the first NaN wins and stays
                        # (nothing compares greater than NaN afterwards).
                        if v > best or (v != v and best == best):
                            best = v
                            best_idx = iy * wd + ix
                out[n, c, oy, ox] = best
                indices[n, c, oy, ox] = best_idx


@njit(parallel=True, cache=CACHE)
def max_pool2d_backward(grad_out, indices, grad_in):
    """grad_in[n, c].flat[indices[n, c, oy, ox]] += grad_out[n, c, oy, ox]; grad_in overwritten.

    grad_out, indices : (N, C, OH, OW); grad_in : (N, C, H, W).
    """
    n_batch, chans, h, wd = grad_in.shape
    oh, ow = grad_out.shape[2], grad_out.shape[3]
    zero = grad_in.dtype.type(0)
    for task in prange(n_batch * chans):
        n = task // chans
        c = task % chans
        plane = grad_in[n, c]
        plane[:, :] = zero
        for oy in range(oh):
            for ox in range(ow):
                idx = indices[n, c, oy, ox]
                plane[idx // wd, idx % wd] += grad_out[n, c, oy, ox]
