"""im2col / col2im for NCHW convolution, and the N<->C axis swap the GEMM path needs.

Column matrix layout (the classic one, e.g. CS231n and Caffe):

    cols[(c * KH + ky) * KW + kx, (n * OH + oy) * OW + ox] = x_padded[n, c, iy, ix]

with iy, ix as in conv_direct.py (zero where the tap falls into padding). Then a
convolution is one GEMM, out2d (C_out, N*OH*OW) = w2d (C_out, C_in*KH*KW) @ cols,
followed by ``swap_nc`` to bring (C_out, N, OH*OW) back to NCHW.

im2col is parallel over rows of ``cols`` (each thread writes its own rows);
col2im is parallel over (n, c) input planes (each thread accumulates into its
own plane), so neither needs atomics or partial buffers.
"""
from numba import njit, prange

from ._config import CACHE
from ._window import valid_range
from .simd import load, store


@njit(parallel=True, cache=CACHE)
def im2col(x, cols, kh, kw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh, ow):
    """Unfold x (N, C, H, W) into cols (C*KH*KW, N*OH*OW), overwriting ``cols``.

    Both C-contiguous. Flat offsets through the simd load/store intrinsics, no
    sub-array views: a view per (row, image, output row) cost ~20 ns, which
    was most of the time for 7x7 outputs (2.7 ms of columns for issue 11's
    shape E, 0.9 ms now).
    """
    n_batch, c_in, h, wd = x.shape
    n_cols = cols.shape[1]
    zero = cols.dtype.type(0)
    for row in prange(c_in * kh * kw):
        c = row // (kh * kw)
        ky = (row // kw) % kh
        kx = row % kw
        oy_lo, oy_hi = valid_range(ky * dil_h, pad_h, stride_h, h, oh)
        ox_lo, ox_hi = valid_range(kx * dil_w, pad_w, stride_w, wd, ow)
        ix0 = ox_lo * stride_w - pad_w + kx * dil_w
        for n in range(n_batch):
            plane = (n * c_in + c) * h * wd
            for oy in range(oh):
                d = row * n_cols + (n * oh + oy) * ow
                if oy < oy_lo or oy >= oy_hi:
                    for j in range(ow):
                        store(cols, d + j, zero)
                    continue
                src = plane + (oy * stride_h - pad_h + ky * dil_h) * wd + ix0
                for j in range(ox_lo):
                    store(cols, d + j, zero)
                for t in range(ox_hi - ox_lo):
                    store(cols, d + ox_lo + t, load(x, src + t * stride_w))
                for j in range(ox_hi, ow):
                    store(cols, d + j, zero)


@njit(parallel=True, cache=CACHE)
def col2im(cols, x, kh, kw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh, ow):
    """Fold cols (C*KH*KW, N*OH*OW) back into x (N, C, H, W), summing overlaps.

    The adjoint of im2col: ``x`` is overwritten with the sum of every column
    entry that im2col would have read from each input position. Both
    C-contiguous; flat offsets as in im2col.
    """
    n_batch, c_in, h, wd = x.shape
    n_cols = cols.shape[1]
    zero = x.dtype.type(0)
    for task in prange(n_batch * c_in):
        n = task // c_in
        c = task % c_in
        plane = task * h * wd   # x[n, c] (task = n * c_in + c)
        for i in range(h * wd):
            store(x, plane + i, zero)
        for ky in range(kh):
            oy_lo, oy_hi = valid_range(ky * dil_h, pad_h, stride_h, h, oh)
            for kx in range(kw):
                ox_lo, ox_hi = valid_range(kx * dil_w, pad_w, stride_w, wd, ow)
                ix0 = ox_lo * stride_w - pad_w + kx * dil_w
                row = (c * kh + ky) * kw + kx
                for oy in range(oy_lo, oy_hi):
                    src = row * n_cols + (n * oh + oy) * ow + ox_lo
                    dst = plane + (oy * stride_h - pad_h + ky * dil_h) * wd + ix0
                    for t in range(ox_hi - ox_lo):
                        o = dst + t * stride_w
                        store(x, o, load(x, o) + load(cols, src + t))


@njit(parallel=True, cache=CACHE)
def swap_nc(src, dst):
    """dst[b, a, :] = src[a, b, :]: (A, B, L) -> (B, A, L), e.g. NCHW <-> CNHW.

    src : (A, B, L); dst : (B, A, L), overwritten. Used to move the GEMM
    result (C_out, N, OH*OW) to NCHW and grad-output NCHW to (C_out, N, OH*OW).
    """
    a_len, b_len, _ = src.shape
    for task in prange(a_len * b_len):
        a = task // b_len
        b = task % b_len
        dst[b, a, :] = src[a, b, :]
