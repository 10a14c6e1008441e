"""2-D pooling, NCHW: max pooling (values and argmax indices), average pooling and
global (adaptive, output 1x1) average pooling, each with its backward.

Window convention as in _window.py (no dilation): output (oy, ox) covers input
rows oy * stride_h - pad_h + [0, KH) and columns ox * stride_w - pad_w + [0, KW);
padded positions never win (implicit -inf padding, as in PyTorch).

Indices are flat positions ``iy * W + ix`` within each (n, c) input plane, the
format ``torch.nn.functional.max_pool2d(..., return_indices=True)`` returns.
On ties the first maximum in row-major window order wins; a NaN in the window
wins over every number (the output is NaN, as in PyTorch), the first NaN if
there are several.

All kernels are parallel over (n, c) planes: a backward scatter-adds only
into the plane its thread owns, so overlapping windows need no atomics.

ceil_mode (torch semantics) only changes the output size, which the caller
computes: the extra last window may run past the padded input, and every
kernel clips windows to the input anyway.
"""
import numpy as np
from numba import njit, prange

from ._config import CACHE, FASTMATH



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


@njit(cache=CACHE)
def _avg_window(o, stride, pad, k, size, count_include_pad):
    """Clipped input range [lo, hi) of window o along one axis, and its divisor factor.

    torch's rule: with count_include_pad the divisor counts padding but not the
    overhang of a ceil_mode window past the padded input (the window is first
    clipped to [-pad, size + pad)); without it, only real input positions count.
    """
    start = o * stride - pad
    end = min(start + k, size + pad)
    lo = max(start, 0)
    hi = min(end, size)
    return lo, hi, (end - start) if count_include_pad else (hi - lo)


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def avg_pool2d_forward(x, out, kh, kw, stride_h, stride_w, pad_h, pad_w, count_include_pad):
    """out[n, c, oy, ox] = sum of the window / divisor (see _avg_window); out overwritten.

    x : (N, C, H, W); out : (N, C, OH, OW). Padding counts as zeros.
    """
    n_batch, chans, h, wd = x.shape
    oh, ow = out.shape[2], out.shape[3]
    for task in prange(n_batch * chans):
        n = task // chans
        c = task % chans
        plane = x[n, c]
        for oy in range(oh):
            y_lo, y_hi, div_y = _avg_window(oy, stride_h, pad_h, kh, h, count_include_pad)
            for ox in range(ow):
                x_lo, x_hi, div_x = _avg_window(ox, stride_w, pad_w, kw, wd, count_include_pad)
                s = out.dtype.type(0)
                for iy in range(y_lo, y_hi):
                    for ix in range(x_lo, x_hi):
                        s += plane[iy, ix]
                out[n, c, oy, ox] = s / (div_y * div_x)


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def avg_pool2d_backward(grad_out, grad_in, kh, kw, stride_h, stride_w, pad_h, pad_w,
                        count_include_pad):
    """grad_in[window] += grad_out[n, c, oy, ox] / divisor for every window; grad_in overwritten.

    grad_out : (N, C, OH, OW); grad_in : (N, C, H, W).
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
            y_lo, y_hi, div_y = _avg_window(oy, stride_h, pad_h, kh, h, count_include_pad)
            for ox in range(ow):
                x_lo, x_hi, div_x = _avg_window(ox, stride_w, pad_w, kw, wd, count_include_pad)
                g = grad_out[n, c, oy, ox] / (div_y * div_x)
                for iy in range(y_lo, y_hi):
                    for ix in range(x_lo, x_hi):
                        plane[iy, ix] += g


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def global_avg_pool2d_forward(x, out):
    """out[r] = mean of x[r, :]. x : (N*C, H*W) planes as rows; out : (N*C,)."""
    rows, length = x.shape
    for r in prange(rows):
        row = x[r]
        s = out.dtype.type(0)
        for t in range(length):
            s += row[t]
        out[r] = s / length


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def global_avg_pool2d_backward(grad_out, grad_in):
    """grad_in[r, :] = grad_out[r] / (H*W). grad_out : (N*C,); grad_in : (N*C, H*W)."""
    rows, length = grad_in.shape
    for r in prange(rows):
        g = grad_out[r] / length
        gi = grad_in[r]
        for t in range(length):
            gi[t] = g
