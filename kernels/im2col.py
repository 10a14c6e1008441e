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
from .simd import lanes, load, store, vadd, vload_first, vload_lanes, vsplat, vstore_first, vzero
from .simd_shuffle import veven, vzip_hi, vzip_lo


@njit(parallel=True, cache=CACHE)
def im2col(x, cols, kh, kw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh, ow):
    """Unfold x (N, C, H, W) into cols (C*KH*KW, N*OH*OW), overwriting ``cols``.

    Both C-contiguous. Flat offsets through the simd intrinsics, no sub-array
    views (a view per output row cost ~20 ns). Each output row is copied one
    vector of columns at a time with masked loads and stores, padding included
    (``_unfold_vector``). The vector position j is the outer loop, images and
    rows inside: the masks depend only on j and the tap, so they are computed
    once per (tap, j), not per row; a 7-wide row (ResNet's layer4) is then
    about eight instructions instead of forty.
    """
    n_batch, c_in, h, wd = x.shape
    n_cols = cols.shape[1]
    w_vec = lanes(cols)
    zero = cols.dtype.type(0)
    zeros = vzero(cols)
    for row in prange(c_in * kh * kw):
        c = row // (kh * kw)
        ky = (row // kw) % kh
        kx = row % kw
        oy_lo, oy_hi = valid_range(ky * dil_h, pad_h, stride_h, h, oh)
        ox_lo, ox_hi = valid_range(kx * dil_w, pad_w, stride_w, wd, ow)
        for j in range(0, ow, w_vec):
            # Offset in a plane of the input read by output (0, j) (it may lie in
            # the padding, outside the plane: only lanes [ox_lo - j, ox_hi - j) are
            # read, and only rows oy in [oy_lo, oy_hi)).
            x_off = (j * stride_w - pad_w + kx * dil_w) - pad_h * wd + ky * dil_h * wd
            for n in range(n_batch):
                plane = (n * c_in + c) * h * wd + x_off
                d = row * n_cols + n * oh * ow + j
                for oy in range(oh):
                    if oy < oy_lo or oy >= oy_hi:
                        vstore_first(cols, d + oy * ow, zeros, ow - j)
                    else:
                        _unfold_vector(x, plane + oy * stride_h * wd, stride_w, cols,
                                       d + oy * ow, ow - j, ox_lo - j, ox_hi - j, zero)


@njit(inline="always")
def _unfold_vector(x, src, stride_w, cols, d, count, lo, hi, zero):
    """cols[d + t] = x[src + t * stride_w] for lo <= t < hi, ``zero`` for the other t < count.

    At most one vector (t < lanes). Masked loads read only the lanes in [lo, hi);
    stride 2 loads two vectors of the input and keeps their even lanes (the odd
    elements it reads lie between two valid ones); other strides go element by
    element.
    """
    w_vec = lanes(cols)
    if stride_w == 1:
        vstore_first(cols, d, vload_lanes(x, src, lo, hi), count)
    elif stride_w == 2:
        a = vload_lanes(x, src, 2 * lo, 2 * hi - 1)
        b = vload_lanes(x, src + w_vec, 2 * lo - w_vec, 2 * hi - 1 - w_vec)
        vstore_first(cols, d, veven(a, b), count)
    else:
        for t in range(w_vec):
            if t >= count:
                break
            v = zero
            if lo <= t < hi:
                v = load(x, src + t * stride_w)
            store(cols, d + t, v)


@njit(parallel=True, cache=CACHE)
def col2im(cols, x, kh, kw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, oh, ow):
    """Fold cols (C*KH*KW, N*OH*OW) back into x (N, C, H, W), summing overlaps.

    The adjoint of im2col: ``x`` is overwritten with the sum of every column
    entry that im2col would have read from each input position. Both
    C-contiguous; flat offsets as in im2col. Each run of a column row is added
    to its input row a vector at a time for strides 1 and 2 (``_fold_run``),
    in the same order as the element-by-element loop for other strides, so
    the sums round the same way.
    """
    n_batch, c_in, h, wd = x.shape
    n_cols = cols.shape[1]
    zero = x.dtype.type(0)
    # Added to the input positions a stride-2 run skips: x + -0.0 is x for every x.
    skip = vsplat(x.dtype.type(-0.0))
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
                    _fold_run(cols, src, x, dst, ox_hi - ox_lo, stride_w, skip)


@njit(inline="always")
def _fold_run(cols, src, x, dst, count, stride_w, skip):
    """x[dst + t * stride_w] += cols[src + t] for t < count.

    Stride 1: a vector of x at a time. Stride 2: a vector of cols is
    interleaved with ``skip`` (-0.0) into two vectors covering 2 * lanes
    positions of x, the last partial one masked so that nothing past
    x[dst + 2 * (count - 1)] is read or written. Other strides, and runs shorter
    than half a vector (7 columns: E, ResNet-18's layer4), element by element:
    there the next tap's run overlaps this one's, and a masked load right after an
    overlapping masked store stalls (store forwarding fails; E's col2im took 0.47 ms
    vectorised, 0.43 ms this way). Measured in README "twelfth session".
    """
    w_vec = lanes(x)
    if stride_w == 1 and 2 * count >= w_vec:
        for t in range(0, count, w_vec):
            left = count - t
            vstore_first(x, dst + t, vadd(vload_first(x, dst + t, left),
                                          vload_first(cols, src + t, left)), left)
    elif stride_w == 2 and 2 * count >= w_vec:
        for t in range(0, count, w_vec):
            c = vload_first(cols, src + t, count - t)
            span = 2 * (count - t) - 1    # positions of x from dst + 2t to the run's last
            o = dst + 2 * t
            vstore_first(x, o, vadd(vload_first(x, o, span), vzip_lo(c, skip)), span)
            o += w_vec
            vstore_first(x, o, vadd(vload_first(x, o, span - w_vec), vzip_hi(c, skip)),
                         span - w_vec)
    else:
        for t in range(count):
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
