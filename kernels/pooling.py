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

All kernels split the work over (n, c) planes: a backward scatter-adds only
into the plane its thread owns, so overlapping windows need no atomics.
``n_chunks`` (last argument, kernels/_chunks.py): 1 runs the planes serially on
the calling thread (a call too small to pay for waking the OpenMP threads),
n > 1 splits them into n chunks across threads; the caller decides
(fastnn/_tuning.py POOL_PARALLEL_MIN, GLOBAL_POOL_PARALLEL_MIN). The per-plane
work is an ``inline="always"`` helper, so each loop body is written once and
is inlined into both the serial and the prange loop (one compiled
specialisation per dtype). The helpers use explicit loops, never array
expressions (see _zero_plane).

ceil_mode (torch semantics) only changes the output size, which the caller
computes: the extra last window may run past the padded input, and every
kernel clips windows to the input anyway.
"""
import numpy as np
from numba import njit, prange

from ._chunks import chunk_bounds, serial_and_parallel
from ._config import CACHE, FASTMATH
from .simd import lanes, vadd, vload_first, vsplat, vstore_first, vsum, vzero
from .simd_shuffle import (veven, vload_offsets, vodd, vpick, vramp, vselect_eq, vstore_as_int,
                           vzip_hi, vzip_lo)


@njit(inline="always")
def _take(v, i, best, best_i):
    """(value, index) after window element ``v`` at flat index ``i`` is compared with the best.

    ``v`` wins if it is greater, or if it is NaN and the best is not (the first
    NaN wins and stays: nothing compares greater than NaN afterwards). Written
    with selects and non-short-circuit ``&``/``|`` so LLVM emits no branch: on
    unordered data the branchy ``if v > best or ...`` mispredicted about once
    per window and ran 2-5x slower (2x2 windows on 64x6x24x24, serial).
    """
    take = (v > best) | ((v != v) & (best == best))
    return (v if take else best), (i if take else best_i)


@njit(inline="always")
def _max_pool_plane(plane, out, indices, kh, kw, stride_h, stride_w, pad_h, pad_w):
    """max_pool2d_forward for one input plane (H, W) into out, indices (OH, OW)."""
    h, wd = plane.shape
    oh, ow = out.shape
    neg_inf = out.dtype.type(-np.inf)
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
                    best, best_idx = _take(plane[iy, ix], iy * wd + ix, best, best_idx)
            out[oy, ox] = best
            indices[oy, ox] = best_idx


@njit(inline="always")
def _two_by_two(kh, kw, stride_h, stride_w, pad_h, pad_w, out_shape, in_shape):
    """Whether the unrolled 2x2 paths apply: 2x2 windows, stride 2, no padding, every
    window inside the plane (ceil_mode can add a last window that sticks out; the
    unrolled paths read or write whole windows). Shapes are (N, C, H, W)."""
    return (kh == 2 and kw == 2 and stride_h == 2 and stride_w == 2 and pad_h == 0
            and pad_w == 0 and 2 * out_shape[2] <= in_shape[2]
            and 2 * out_shape[3] <= in_shape[3])


@njit(inline="always")
def _window_positions_2x2(like, wd):
    """The four positions of each lane's 2x2 window, as offsets from its row pair's start.

    Vectors of ``like``'s dtype: 0, 2, 4, ... (first row, left column), 1, 3, 5, ...,
    then the same plus ``wd`` (second row), for a plane ``wd`` elements wide.
    """
    ramp = vramp(like)
    first = vadd(ramp, ramp)
    one = vsplat(like.dtype.type(1))
    second = vadd(first, one)
    third = vadd(first, vsplat(like.dtype.type(wd)))
    return first, second, third, vadd(third, one)


@njit(inline="always")
def _max_pool_plane_2x2(plane, out, indices):
    """_max_pool_plane for 2x2 windows, stride 2, no padding, every window inside the plane.

    ``lanes`` outputs at a time with explicit SIMD vectors (kernels/simd.py, simd_shuffle.py): the
    2 x lanes inputs of each of the two rows are loaded as two vectors and split
    into the windows' left and right elements (``veven`` / ``vodd``); the four
    window elements are then compared in row-major order with ``vpick``, the
    same rule as ``_take`` (start from the first element, a later one wins if
    greater or if it is the first NaN). A second vector carries the winner's
    offset from the row pair's start (0, 2, 4, ... for the windows' first
    columns, from ``vramp``), exact in float32 for rows shorter than
    ``MAX_SIMD_WIDTH``, and ``vstore_as_int`` stores it as the int64 index.
    The last, partial vector of a row is loaded and stored masked.

    Serial CPU time against the scalar unrolled loop it replaces (one window at a
    time, the same comparisons), min of 20 interleaved in one process, two runs:
    LeNet-5's pools 64x6x24x24 348-361 -> 54-56 us and 64x16x8x8 101-105 -> 48-50 us;
    32x32x32x32 1.66-1.80 -> 0.34-0.36 ms; 16x64x56x56 and 8x64x112x112, which
    stream from memory, level to 10% faster (1.12-1.29 -> 1.07-1.27 ms, 3.3 -> 2.9-3.1 ms).
    """
    wd = plane.shape[1]
    oh, ow = out.shape
    w_vec = lanes(plane)
    first, second, third, fourth = _window_positions_2x2(plane, wd)
    for oy in range(oh):
        r0 = 2 * oy * wd
        r1 = r0 + wd
        for ox in range(0, ow, w_vec):
            # 2 * count inputs per row; a count >= lanes loads and stores whole vectors.
            count = ow - ox
            n0 = 2 * count
            t0 = vload_first(plane, r0 + 2 * ox, n0)
            t1 = vload_first(plane, r0 + 2 * ox + w_vec, n0 - w_vec)
            b0 = vload_first(plane, r1 + 2 * ox, n0)
            b1 = vload_first(plane, r1 + 2 * ox + w_vec, n0 - w_vec)
            best = veven(t0, t1)
            at = first
            v = vodd(t0, t1)
            at = vpick(v, best, second, at)
            best = vpick(v, best, v, best)
            v = veven(b0, b1)
            at = vpick(v, best, third, at)
            best = vpick(v, best, v, best)
            v = vodd(b0, b1)
            at = vpick(v, best, fourth, at)
            best = vpick(v, best, v, best)
            vstore_first(out, oy * ow + ox, best, count)
            vstore_as_int(indices, oy * ow + ox, at, r0 + 2 * ox, count)


# Rows at least this wide take the general loops: the SIMD paths' float32 offsets
# (< 2 * width + 2) must stay exact integers (< 2**24).
MAX_SIMD_WIDTH = 2 ** 22


def max_pool2d_forward(x, out, indices, kh, kw, stride_h, stride_w, pad_h, pad_w, n_chunks):
    """out[n, c, oy, ox] = max over the window; indices (int64) = its flat input position.

    x : (N, C, H, W); out, indices : (N, C, OH, OW); overwritten.
    Requires pad_h <= kh // 2 and pad_w <= kw // 2 (every window holds an input).
    """
    n_batch, chans = x.shape[0], x.shape[1]
    two_by_two = _two_by_two(kh, kw, stride_h, stride_w, pad_h, pad_w, out.shape, x.shape) \
        and x.shape[3] < MAX_SIMD_WIDTH
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(n_batch * chans, chunk, n_chunks)
        for task in range(lo, hi):
            n = task // chans
            c = task % chans
            if two_by_two:
                _max_pool_plane_2x2(x[n, c], out[n, c], indices[n, c])
            else:
                _max_pool_plane(x[n, c], out[n, c], indices[n, c], kh, kw, stride_h, stride_w,
                                pad_h, pad_w)


max_pool2d_forward, max_pool2d_forward_parallel = serial_and_parallel(max_pool2d_forward)


@njit(inline="always")
def _zero_plane(plane):
    # Explicit loops, not plane[:, :] = 0: the helpers are inlined into a
    # parallel=True kernel, where an array expression becomes a parfor of its
    # own, which starts a parallel region per plane on the serial path.
    zero = plane.dtype.type(0)
    for iy in range(plane.shape[0]):
        for ix in range(plane.shape[1]):
            plane[iy, ix] = zero


@njit(inline="always")
def _max_pool_backward_plane(grad_out, indices, grad_in):
    """max_pool2d_backward for one plane: grad_out, indices (OH, OW); grad_in (H, W)."""
    wd = grad_in.shape[1]
    oh, ow = grad_out.shape
    _zero_plane(grad_in)
    for oy in range(oh):
        for ox in range(ow):
            idx = indices[oy, ox]
            grad_in[idx // wd, idx % wd] += grad_out[oy, ox]


@njit(inline="always")
def _max_pool_backward_plane_2x2(grad_out, indices, grad_in):
    """_max_pool_backward_plane for 2x2 windows, stride 2, no padding, every window inside.

    The windows are disjoint, so each input position is written once, with its
    window's gradient or zero: one pass along each pair of input rows, ``lanes``
    windows at a time (kernels/simd.py, simd_shuffle.py). Each index becomes its offset from the
    row pair's start (``vload_offsets``), which is compared with the four
    positions of each window (0, 2, 4, ... for the windows' first columns,
    from ``vramp``) to place the gradient (``vselect_eq``); the left and right
    columns are then interleaved back into rows (``vzip_lo`` / ``vzip_hi``) and
    stored, the last partial vector masked. Returns False, with grad_in partly
    written, if an index lies outside its window (indices a user built by
    hand): the caller then runs the general scatter.

    Serial CPU time against the one-window-at-a-time loop it replaces (min of 40,
    three alternating pairs of processes): 64x6x24x24 154-201 -> 55-65 us,
    64x16x12x12 115-147 -> 74-87 us, 32x32x32x32 0.74-1.1 -> 0.36-0.42 ms.
    """
    h, wd = grad_in.shape
    oh, ow = grad_out.shape
    w_vec = lanes(grad_in)
    first, second, third, fourth = _window_positions_2x2(grad_in, wd)
    one = vsplat(grad_in.dtype.type(1))
    zero = vzero(grad_in)
    for oy in range(oh):
        row0 = 2 * oy * wd
        row1 = row0 + wd
        row_hits = zero   # windows whose index lies inside them (sums < 2**22: exact)
        for ox in range(0, ow, w_vec):
            count = ow - ox
            g = vload_first(grad_out, oy * ow + ox, count)
            # Lanes past count: offset -(row0 + 2*ox) <= 0, never a window's position.
            at = vload_offsets(grad_in, indices, oy * ow + ox, row0 + 2 * ox, count)
            hit = vselect_eq(at, first, one, zero)
            hit = vselect_eq(at, second, one, hit)
            hit = vselect_eq(at, third, one, hit)
            hit = vselect_eq(at, fourth, one, hit)
            row_hits = vadd(row_hits, hit)
            top_left = vselect_eq(at, first, g, zero)
            top_right = vselect_eq(at, second, g, zero)
            bottom_left = vselect_eq(at, third, g, zero)
            bottom_right = vselect_eq(at, fourth, g, zero)
            n2 = 2 * count
            vstore_first(grad_in, row0 + 2 * ox, vzip_lo(top_left, top_right), n2)
            vstore_first(grad_in, row0 + 2 * ox + w_vec, vzip_hi(top_left, top_right),
                         n2 - w_vec)
            vstore_first(grad_in, row1 + 2 * ox, vzip_lo(bottom_left, bottom_right), n2)
            vstore_first(grad_in, row1 + 2 * ox + w_vec, vzip_hi(bottom_left, bottom_right),
                         n2 - w_vec)
        if vsum(row_hits) != ow:
            return False   # an index outside its window: the caller scatters the plane
        for ix in range(2 * ow, wd):  # the odd last column no window covers
            grad_in[2 * oy, ix] = 0
            grad_in[2 * oy + 1, ix] = 0
    for iy in range(2 * oh, h):  # the odd last row
        for ix in range(wd):
            grad_in[iy, ix] = 0
    return True


@njit(inline="always")
def _max_pool_backward_plane_2x2_narrow(grad_out, indices, grad_in):
    """_max_pool_backward_plane_2x2 one window at a time, for rows of at most lanes / 4 windows.

    There the vector path leaves three quarters of its lanes idle: LeNet-5's
    64x16x8x8 (4 windows a row) took 55-69 us serial with it, 38-55 us this way
    (6 windows a row: 104 against 147 us the other way round).
    """
    h, wd = grad_in.shape
    oh, ow = grad_out.shape
    zero = grad_in.dtype.type(0)
    hits = 0   # input positions that took their window's gradient: oh*ow if all inside
    for oy in range(oh):
        iy = 2 * oy
        row0 = iy * wd
        for ix in range(2 * ow):
            ox = ix >> 1
            g = grad_out[oy, ox]
            k = indices[oy, ox] - row0
            top = k == ix
            bottom = k == ix + wd
            hits += top + bottom
            grad_in[iy, ix] = g if top else zero
            grad_in[iy + 1, ix] = g if bottom else zero
        for ix in range(2 * ow, wd):  # the odd last column no window covers
            grad_in[iy, ix] = zero
            grad_in[iy + 1, ix] = zero
    for iy in range(2 * oh, h):  # the odd last row
        for ix in range(wd):
            grad_in[iy, ix] = zero
    return hits == oh * ow


def max_pool2d_backward(grad_out, indices, grad_in, kh, kw, stride_h, stride_w, pad_h, pad_w,
                        n_chunks):
    """grad_in[n, c].flat[indices[n, c, oy, ox]] += grad_out[n, c, oy, ox]; grad_in overwritten.

    grad_out, indices : (N, C, OH, OW); grad_in : (N, C, H, W). The window
    geometry (as max_pool2d_forward) only picks the path: 2x2 windows with
    stride 2 and no padding, all inside the plane, take the one-pass
    _max_pool_backward_plane_2x2 (vectors of windows), or its one-window-at-a-time
    twin when a row has at most lanes / 4 windows; any index is still honoured
    wherever it points.
    """
    n_batch, chans = grad_in.shape[0], grad_in.shape[1]
    two_by_two = _two_by_two(kh, kw, stride_h, stride_w, pad_h, pad_w, grad_out.shape,
                             grad_in.shape) and grad_in.shape[3] < MAX_SIMD_WIDTH
    narrow = 4 * grad_out.shape[3] <= lanes(grad_in)
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(n_batch * chans, chunk, n_chunks)
        for task in range(lo, hi):
            n = task // chans
            c = task % chans
            if two_by_two and narrow:
                ok = _max_pool_backward_plane_2x2_narrow(grad_out[n, c], indices[n, c],
                                                         grad_in[n, c])
            elif two_by_two:
                ok = _max_pool_backward_plane_2x2(grad_out[n, c], indices[n, c], grad_in[n, c])
            else:
                ok = False
            if not ok:
                _max_pool_backward_plane(grad_out[n, c], indices[n, c], grad_in[n, c])


max_pool2d_backward, max_pool2d_backward_parallel = serial_and_parallel(max_pool2d_backward)


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


@njit(inline="always")
def _avg_pool_plane(plane, out, kh, kw, stride_h, stride_w, pad_h, pad_w, count_include_pad):
    """avg_pool2d_forward for one input plane (H, W) into out (OH, OW)."""
    h, wd = plane.shape
    oh, ow = out.shape
    for oy in range(oh):
        y_lo, y_hi, div_y = _avg_window(oy, stride_h, pad_h, kh, h, count_include_pad)
        for ox in range(ow):
            x_lo, x_hi, div_x = _avg_window(ox, stride_w, pad_w, kw, wd, count_include_pad)
            s = out.dtype.type(0)
            for iy in range(y_lo, y_hi):
                for ix in range(x_lo, x_hi):
                    s += plane[iy, ix]
            out[oy, ox] = s / (div_y * div_x)


def avg_pool2d_forward(x, out, kh, kw, stride_h, stride_w, pad_h, pad_w, count_include_pad,
                       n_chunks):
    """out[n, c, oy, ox] = sum of the window / divisor (see _avg_window); out overwritten.

    x : (N, C, H, W); out : (N, C, OH, OW). Padding counts as zeros.
    """
    n_batch, chans = x.shape[0], x.shape[1]
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(n_batch * chans, chunk, n_chunks)
        for task in range(lo, hi):
            n = task // chans
            c = task % chans
            _avg_pool_plane(x[n, c], out[n, c], kh, kw, stride_h, stride_w, pad_h, pad_w,
                            count_include_pad)


avg_pool2d_forward, avg_pool2d_forward_parallel = serial_and_parallel(
    avg_pool2d_forward, fastmath=FASTMATH)


@njit(inline="always")
def _avg_pool_backward_plane(grad_out, grad_in, kh, kw, stride_h, stride_w, pad_h, pad_w,
                             count_include_pad):
    """avg_pool2d_backward for one plane: grad_out (OH, OW) into grad_in (H, W)."""
    h, wd = grad_in.shape
    oh, ow = grad_out.shape
    _zero_plane(grad_in)
    for oy in range(oh):
        y_lo, y_hi, div_y = _avg_window(oy, stride_h, pad_h, kh, h, count_include_pad)
        for ox in range(ow):
            x_lo, x_hi, div_x = _avg_window(ox, stride_w, pad_w, kw, wd, count_include_pad)
            g = grad_out[oy, ox] / (div_y * div_x)
            for iy in range(y_lo, y_hi):
                for ix in range(x_lo, x_hi):
                    grad_in[iy, ix] += g


def avg_pool2d_backward(grad_out, grad_in, kh, kw, stride_h, stride_w, pad_h, pad_w,
                        count_include_pad, n_chunks):
    """grad_in[window] += grad_out[n, c, oy, ox] / divisor for every window; grad_in overwritten.

    grad_out : (N, C, OH, OW); grad_in : (N, C, H, W).
    """
    n_batch, chans = grad_in.shape[0], grad_in.shape[1]
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(n_batch * chans, chunk, n_chunks)
        for task in range(lo, hi):
            n = task // chans
            c = task % chans
            _avg_pool_backward_plane(grad_out[n, c], grad_in[n, c], kh, kw, stride_h, stride_w,
                                     pad_h, pad_w, count_include_pad)


avg_pool2d_backward, avg_pool2d_backward_parallel = serial_and_parallel(
    avg_pool2d_backward, fastmath=FASTMATH)


@njit(inline="always")
def _row_mean(row):
    s = row.dtype.type(0)
    for t in range(row.size):
        s += row[t]
    return s / row.size


def global_avg_pool2d_forward(x, out, n_chunks):
    """out[r] = mean of x[r, :]. x : (N*C, H*W) planes as rows; out : (N*C,)."""
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(x.shape[0], chunk, n_chunks)
        for r in range(lo, hi):
            out[r] = _row_mean(x[r])


global_avg_pool2d_forward, global_avg_pool2d_forward_parallel = serial_and_parallel(
    global_avg_pool2d_forward, fastmath=FASTMATH)


@njit(inline="always")
def _fill_row(row, value):
    # A loop, not row[:] = value (see _zero_plane).
    for t in range(row.size):
        row[t] = value


def global_avg_pool2d_backward(grad_out, grad_in, n_chunks):
    """grad_in[r, :] = grad_out[r] / (H*W). grad_out : (N*C,); grad_in : (N*C, H*W)."""
    rows, length = grad_in.shape
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(rows, chunk, n_chunks)
        for r in range(lo, hi):
            _fill_row(grad_in[r], grad_out[r] / length)


global_avg_pool2d_backward, global_avg_pool2d_backward_parallel = serial_and_parallel(
    global_avg_pool2d_backward, fastmath=FASTMATH)
