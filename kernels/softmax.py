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

NaN and inf follow torch: the max pass uses llvm.maxnum (mathfun.maxnum), which
ignores NaN, but a NaN entry still reaches the sum of exponentials and turns
the whole row into NaN; a +inf entry gives inf - inf = NaN likewise; -inf
entries get probability 0 (log-probability -inf); a row of only -inf is NaN.

Speed: every pass over a row is a vectorised loop. ``max`` with a compare
does not vectorise, ``maxnum`` does; ``np.exp`` is a scalar libm call, the
Cephes-style ``mathfun.exp`` vectorises. The kernels are compiled with
``FASTMATH`` (reassociation lets the sums vectorise); the exp they call keeps
its own, stricter flags (flags are per instruction and survive inlining).
``error_model='numpy'``: a division by zero gives inf/NaN instead of a Python
exception, whose check would stop vectorisation.

``n_chunks`` (last argument, kernels/_chunks.py): 1 runs the rows serially on
the calling thread, n > 1 splits them into n chunks across threads; the caller
decides (fastnn/_tuning.py SOFTMAX_PARALLEL_MIN).
"""
import numpy as np
from numba import njit, prange

from ._chunks import chunk_bounds, serial_and_parallel
from ._config import CACHE, FASTMATH
from .mathfun import exp, maxnum

_JIT = dict(cache=CACHE, fastmath=FASTMATH, error_model="numpy")


@njit(**_JIT)
def _row_max(row):
    m = row[0]
    for j in range(1, row.size):
        m = maxnum(m, row[j])
    return m


@njit(**_JIT)
def row_logsumexp(row):
    """log(sum(exp(row))) computed as m + log(sum(exp(row - m))), m = max(row): no overflow.

    NaN as torch: a NaN entry (ignored by the max) reaches the sum and makes the
    result NaN; a +inf entry gives inf - inf = NaN; a row of only -inf gives NaN.
    Shared with kernels/losses.py.
    """
    m = _row_max(row)
    s = row.dtype.type(0)
    for j in range(row.size):
        s += exp(row[j] - m)
    return m + np.log(s)  # once per row: the scalar libm log is fine


@njit(**_JIT)
def _scaled_softmax_row(xr, orow, scale):
    """orow = scale * exp(xr - max xr) / sum(exp(xr - max xr)) for one row."""
    m = _row_max(xr)
    s = orow.dtype.type(0)
    for j in range(xr.size):
        e = exp(xr[j] - m)
        orow[j] = e
        s += e
    k = scale / s
    for j in range(xr.size):
        orow[j] *= k


@njit(**_JIT)
def _log_softmax_row(xr, orow):
    lse = row_logsumexp(xr)
    for j in range(xr.size):
        orow[j] = xr[j] - lse


@njit(**_JIT)
def _softmax_backward_row(g, s, gi):
    dot = gi.dtype.type(0)
    for j in range(s.size):
        dot += g[j] * s[j]
    for j in range(s.size):
        gi[j] = s[j] * (g[j] - dot)


@njit(**_JIT)
def _log_softmax_backward_row(g, lp, gi):
    total = gi.dtype.type(0)
    for j in range(g.size):
        total += g[j]
    for j in range(g.size):
        gi[j] = g[j] - exp(lp[j]) * total


def softmax_forward(x, out, n_chunks):
    """out[r] = exp(x[r] - max x[r]) / sum(exp(x[r] - max x[r]))."""
    one = out.dtype.type(1)
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(x.shape[0], chunk, n_chunks)
        for r in range(lo, hi):
            _scaled_softmax_row(x[r], out[r], one)


softmax_forward, softmax_forward_parallel = serial_and_parallel(softmax_forward, **_JIT)


def log_softmax_forward(x, out, n_chunks):
    """out[r] = x[r] - logsumexp(x[r])."""
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(x.shape[0], chunk, n_chunks)
        for r in range(lo, hi):
            _log_softmax_row(x[r], out[r])


log_softmax_forward, log_softmax_forward_parallel = serial_and_parallel(
    log_softmax_forward, **_JIT)


def softmax_backward(grad_out, y, grad_in, n_chunks):
    """grad_in[r] = y[r] * (grad_out[r] - <grad_out[r], y[r]>), y = softmax output."""
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(y.shape[0], chunk, n_chunks)
        for r in range(lo, hi):
            _softmax_backward_row(grad_out[r], y[r], grad_in[r])


softmax_backward, softmax_backward_parallel = serial_and_parallel(softmax_backward, **_JIT)


def log_softmax_backward(grad_out, logp, grad_in, n_chunks):
    """grad_in[r] = grad_out[r] - exp(logp[r]) * sum(grad_out[r]), logp = log_softmax output."""
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(logp.shape[0], chunk, n_chunks)
        for r in range(lo, hi):
            _log_softmax_backward_row(grad_out[r], logp[r], grad_in[r])


log_softmax_backward, log_softmax_backward_parallel = serial_and_parallel(
    log_softmax_backward, **_JIT)


def softmax_cross_entropy_forward(logits, target, loss, n_chunks):
    """loss[r] = logsumexp(logits[r]) - logits[r, target[r]] (= -log softmax(logits[r])[target[r]]).

    logits : (N, C); target : (N,) int64 class indices in [0, C); loss : (N,).
    """
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(logits.shape[0], chunk, n_chunks)
        for r in range(lo, hi):
            loss[r] = row_logsumexp(logits[r]) - logits[r, target[r]]


softmax_cross_entropy_forward, softmax_cross_entropy_forward_parallel = serial_and_parallel(
    softmax_cross_entropy_forward, **_JIT)


def softmax_cross_entropy_backward(logits, target, scale, grad_in, n_chunks):
    """grad_in[r] = scale[r] * (softmax(logits[r]) - onehot(target[r])).

    ``scale`` (N,) is the upstream gradient of each row's loss (for a mean over
    the batch: grad / N in every entry).
    """
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(logits.shape[0], chunk, n_chunks)
        for r in range(lo, hi):
            _scaled_softmax_row(logits[r], grad_in[r], scale[r])
            grad_in[r, target[r]] -= scale[r]


softmax_cross_entropy_backward, softmax_cross_entropy_backward_parallel = serial_and_parallel(
    softmax_cross_entropy_backward, **_JIT)
