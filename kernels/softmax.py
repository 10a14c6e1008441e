"""Row softmax, log-softmax, their backward passes, and fused softmax cross-entropy.

All kernels work on C-contiguous 2-D arrays (rows, K) and reduce along the last
axis; the caller moves the reduced axis last. Rows are independent and are
split across threads.

Numerics: every row is shifted by its maximum before exponentiating, so no
exp overflows (softmax([1000, 1001]) is finite) and the result is
shift-invariant. Backward passes apply the Jacobian without forming it:

    softmax:      J = diag(s) - s s^T,     J^T g = s * (g - <g, s>)
    log_softmax:  J = I - 1 s^T,           J^T g = g - s * sum(g)
    cross-entropy with logits z, class t:  dL/dz = softmax(z) - onehot(t)
"""
import numpy as np
from numba import njit, prange

from ._config import CACHE, FASTMATH


@njit(cache=CACHE, fastmath=FASTMATH)
def _row_max(row):
    m = row[0]
    for j in range(1, row.size):
        v = row[j]
        if v > m:
            m = v
    return m


@njit(cache=CACHE, fastmath=FASTMATH)
def _row_logsumexp(row):
    """log(sum(exp(row))) computed as m + log(sum(exp(row - m)))."""
    m = _row_max(row)
    s = row.dtype.type(0)
    for j in range(row.size):
        s += np.exp(row[j] - m)
    return m + np.log(s)


@njit(cache=CACHE, fastmath=FASTMATH)
def _scaled_softmax_row(xr, orow, scale):
    """orow = scale * exp(xr - max xr) / sum(exp(xr - max xr)) for one row."""
    m = _row_max(xr)
    s = orow.dtype.type(0)
    for j in range(xr.size):
        e = np.exp(xr[j] - m)
        orow[j] = e
        s += e
    k = scale / s
    for j in range(xr.size):
        orow[j] *= k


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def softmax_forward(x, out):
    """out[r] = exp(x[r] - max x[r]) / sum(exp(x[r] - max x[r]))."""
    one = out.dtype.type(1)
    for r in prange(x.shape[0]):
        _scaled_softmax_row(x[r], out[r], one)


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def log_softmax_forward(x, out):
    """out[r] = x[r] - logsumexp(x[r])."""
    for r in prange(x.shape[0]):
        xr = x[r]
        lse = _row_logsumexp(xr)
        orow = out[r]
        for j in range(xr.size):
            orow[j] = xr[j] - lse


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def softmax_backward(grad_out, y, grad_in):
    """grad_in[r] = y[r] * (grad_out[r] - <grad_out[r], y[r]>), y = softmax output."""
    for r in prange(y.shape[0]):
        g = grad_out[r]
        s = y[r]
        dot = grad_in.dtype.type(0)
        for j in range(s.size):
            dot += g[j] * s[j]
        gi = grad_in[r]
        for j in range(s.size):
            gi[j] = s[j] * (g[j] - dot)


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def log_softmax_backward(grad_out, logp, grad_in):
    """grad_in[r] = grad_out[r] - exp(logp[r]) * sum(grad_out[r]), logp = log_softmax output."""
    for r in prange(logp.shape[0]):
        g = grad_out[r]
        lp = logp[r]
        total = grad_in.dtype.type(0)
        for j in range(g.size):
            total += g[j]
        gi = grad_in[r]
        for j in range(g.size):
            gi[j] = g[j] - np.exp(lp[j]) * total


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def softmax_cross_entropy_forward(logits, target, loss):
    """loss[r] = logsumexp(logits[r]) - logits[r, target[r]] (= -log softmax(logits[r])[target[r]]).

    logits : (N, C); target : (N,) int64 class indices in [0, C); loss : (N,).
    """
    for r in prange(logits.shape[0]):
        row = logits[r]
        loss[r] = _row_logsumexp(row) - row[target[r]]


@njit(parallel=True, cache=CACHE, fastmath=FASTMATH)
def softmax_cross_entropy_backward(logits, target, scale, grad_in):
    """grad_in[r] = scale[r] * (softmax(logits[r]) - onehot(target[r])).

    ``scale`` (N,) is the upstream gradient of each row's loss (for a mean over
    the batch: grad / N in every entry).
    """
    for r in prange(logits.shape[0]):
        _scaled_softmax_row(logits[r], grad_in[r], scale[r])
        grad_in[r, target[r]] -= scale[r]
