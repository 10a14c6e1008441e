"""Layer normalisation and group normalisation, forward and backward.

Both normalise groups of contiguous elements with their own mean and
variance (biased, as torch), then apply an elementwise affine map:

* layer_norm: x viewed as (M, K), one group per row (K = the product of
  normalized_shape); weight and bias (K,) per column.
* group_norm: x viewed as (N, C, L) (L = spatial size), one group per
  (n, g) of C/G consecutive channels; weight and bias (C,) per channel.

Forward kernels save mean and rstd = 1 / sqrt(var + eps) per group for the
backward. Backward of a group with xhat = (x - mean) * rstd and
gy = grad_out * weight: grad_x = rstd * (gy - mean(gy) - xhat * mean(gy * xhat)).
The parameter gradients (sums over groups of grad_out * xhat and grad_out)
are reductions across rows: each thread accumulates into its own partial
buffer, merged at the end (DESIGN.md: no += into a shared array from prange).

``n_chunks`` (last argument, kernels/_chunks.py): 1 runs serially, n > 1 splits
rows / groups into n chunks across threads (the caller decides from the size,
fastnn/_tuning.py NORM_PARALLEL_MIN). Statistics are accumulated in float64 for both dtypes (two passes:
mean, then the centred sum of squares), so float32 results do not lose
precision on long rows.
"""
import numpy as np
from numba import njit, prange

from ._chunks import chunk_bounds, serial_and_parallel

from ._config import CACHE

_JIT = dict(cache=CACHE, error_model="numpy")


@njit(inline="always")
def _stats(row, eps):
    s = 0.0
    for k in range(row.size):
        s += row[k]
    mean = s / row.size
    v = 0.0
    for k in range(row.size):
        d = row[k] - mean
        v += d * d
    return mean, 1.0 / np.sqrt(v / row.size + eps)


@njit(inline="always")
def _ln_row(x, w, b, eps, out, mean, rstd, r):
    m, rs = _stats(x[r], eps)
    mean[r] = m
    rstd[r] = rs
    xr, orow = x[r], out[r]
    for k in range(xr.size):
        orow[k] = (xr[k] - m) * rs * w[k] + b[k]


def layer_norm_forward(x, weight, bias, eps, out, mean, rstd, n_chunks):
    """x, out : (M, K); weight, bias : (K,) (ones / zeros without affine); mean, rstd : (M,)."""
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(x.shape[0], chunk, n_chunks)
        for r in range(lo, hi):
            _ln_row(x, weight, bias, eps, out, mean, rstd, r)


layer_norm_forward, layer_norm_forward_parallel = serial_and_parallel(layer_norm_forward, **_JIT)


@njit(inline="always")
def _ln_back_row(go, x, mean, rstd, w, gx, r, gw, gb):
    gr, xr, gxr = go[r], x[r], gx[r]
    m, rs = mean[r], rstd[r]
    k_len = xr.size
    s1 = 0.0
    s2 = 0.0
    for k in range(k_len):
        xh = (xr[k] - m) * rs
        gy = gr[k] * w[k]
        s1 += gy
        s2 += gy * xh
        gw[k] += gr[k] * xh
        gb[k] += gr[k]
    s1 /= k_len
    s2 /= k_len
    for k in range(k_len):
        xh = (xr[k] - m) * rs
        gxr[k] = rs * (gr[k] * w[k] - s1 - xh * s2)


def layer_norm_backward(grad_out, x, mean, rstd, weight, grad_in, partial, n_chunks):
    """grad_in (M, K); partial : (n_chunks, 2, K) float64 scratch, returned with the per-thread
    sums of grad_out * xhat (partial[:, 0]) and grad_out (partial[:, 1]); the caller adds them up.
    """
    m_rows = x.shape[0]
    partial[:] = 0.0
    for t in prange(n_chunks):
        lo, hi = chunk_bounds(m_rows, t, n_chunks)
        for r in range(lo, hi):
            _ln_back_row(grad_out, x, mean, rstd, weight, grad_in, r, partial[t, 0],
                         partial[t, 1])


layer_norm_backward, layer_norm_backward_parallel = serial_and_parallel(
    layer_norm_backward, **_JIT)


@njit(inline="always")
def _gn_group(x, w, b, eps, out, mean, rstd, groups, task):
    n = task // groups
    g = task % groups
    cg = x.shape[1] // groups
    length = x.shape[2]
    s = 0.0
    for c in range(g * cg, (g + 1) * cg):
        for l_ in range(length):
            s += x[n, c, l_]
    cnt = cg * length
    m = s / cnt
    v = 0.0
    for c in range(g * cg, (g + 1) * cg):
        for l_ in range(length):
            d = x[n, c, l_] - m
            v += d * d
    rs = 1.0 / np.sqrt(v / cnt + eps)
    mean[task] = m
    rstd[task] = rs
    for c in range(g * cg, (g + 1) * cg):
        a = rs * w[c]
        sh = b[c] - m * a
        xr, orow = x[n, c], out[n, c]
        for l_ in range(length):
            orow[l_] = xr[l_] * a + sh


def group_norm_forward(x, groups, weight, bias, eps, out, mean, rstd, n_chunks):
    """x, out : (N, C, L); weight, bias : (C,); mean, rstd : (N * groups,)."""
    tasks = x.shape[0] * groups
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(tasks, chunk, n_chunks)
        for task in range(lo, hi):
            _gn_group(x, weight, bias, eps, out, mean, rstd, groups, task)


group_norm_forward, group_norm_forward_parallel = serial_and_parallel(group_norm_forward, **_JIT)


@njit(inline="always")
def _gn_back_group(go, x, mean, rstd, w, gx, groups, task, gw, gb):
    n = task // groups
    g = task % groups
    cg = x.shape[1] // groups
    length = x.shape[2]
    m, rs = mean[task], rstd[task]
    s1 = 0.0
    s2 = 0.0
    for c in range(g * cg, (g + 1) * cg):
        sw = 0.0
        sb = 0.0
        for l_ in range(length):
            xh = (x[n, c, l_] - m) * rs
            sw += go[n, c, l_] * xh
            sb += go[n, c, l_]
        gw[c] += sw
        gb[c] += sb
        s1 += sb * w[c]
        s2 += sw * w[c]
    cnt = cg * length
    s1 /= cnt
    s2 /= cnt
    for c in range(g * cg, (g + 1) * cg):
        for l_ in range(length):
            xh = (x[n, c, l_] - m) * rs
            gx[n, c, l_] = rs * (go[n, c, l_] * w[c] - s1 - xh * s2)


def group_norm_backward(grad_out, x, groups, mean, rstd, weight, grad_in, partial, n_chunks):
    """grad_in (N, C, L); partial : (n_chunks, 2, C) float64 per-thread sums of
    grad_out * xhat and grad_out per channel (the caller adds them up)."""
    tasks = x.shape[0] * groups
    partial[:] = 0.0
    for t in prange(n_chunks):
        lo, hi = chunk_bounds(tasks, t, n_chunks)
        for task in range(lo, hi):
            _gn_back_group(grad_out, x, mean, rstd, weight, grad_in, groups, task,
                           partial[t, 0], partial[t, 1])


group_norm_backward, group_norm_backward_parallel = serial_and_parallel(
    group_norm_backward, **_JIT)
