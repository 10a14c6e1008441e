"""Loss kernels: mean squared error, binary cross-entropy (on probabilities and on
logits) elementwise, and softmax cross-entropy against probability targets rowwise.

Elementwise kernels take flat arrays and write the per-element loss; the
caller applies the reduction ('mean' / 'sum' with NumPy's pairwise sum). Their
backward kernels take the upstream gradient ``g`` either as a 1-element array
(a reduced loss: the 1/count of 'mean' already folded in) or as an array of
the input's size (reduction='none'); the two cases are separate loops so each
stays a plain vectorisable loop.

These kernels are serial: losses see (N, C)-sized arrays, far too small to
repay a thread start-up, and serial kernels compile several times faster.
The elementwise ones are compiled without fast-math: the clamps below must
behave exactly at log(0) = -inf.
"""
import numpy as np
from numba import njit

from ._config import CACHE, FASTMATH
from .mathfun import sigmoid
from .softmax import row_logsumexp

# torch clamps log(p) and log(1 - p) at -100 in binary_cross_entropy, so a
# probability of exactly 0 or 1 gives a large finite loss, not inf.
BCE_LOG_MIN = -100.0
# ... and divides its gradient by max(p * (1 - p), EPSILON) with EPSILON = 1e-12
# stored as a C float: the float32 nearest 1e-12, kept exactly for parity.
BCE_GRAD_EPS = 9.999999960041972e-13


@njit(cache=CACHE)
def mse_forward(x, t, loss):
    """loss = (x - t)^2 elementwise; flat arrays."""
    for i in range(x.size):
        d = x[i] - t[i]
        loss[i] = d * d


@njit(cache=CACHE)
def mse_backward(x, t, g, grad_in):
    """grad_in = 2 (x - t) g, g of size 1 (broadcast) or x's size."""
    if g.size == 1:
        k = 2 * g[0]
        for i in range(x.size):
            grad_in[i] = k * (x[i] - t[i])
    else:
        for i in range(x.size):
            grad_in[i] = 2 * g[i] * (x[i] - t[i])


@njit(cache=CACHE)
def bce_with_logits_forward(x, t, loss):
    """loss = max(x, 0) - x t + log1p(exp(-|x|)): log(1 + exp(x)) - x t without overflow."""
    zero = loss.dtype.type(0)
    for i in range(x.size):
        v = x[i]
        loss[i] = max(v, zero) - v * t[i] + np.log1p(np.exp(-abs(v)))


@njit(cache=CACHE)
def bce_with_logits_backward(x, t, g, grad_in):
    """grad_in = (sigmoid(x) - t) g, g of size 1 or x's size."""
    if g.size == 1:
        k = g[0]
        for i in range(x.size):
            grad_in[i] = k * (sigmoid(x[i]) - t[i])
    else:
        for i in range(x.size):
            grad_in[i] = g[i] * (sigmoid(x[i]) - t[i])


@njit(cache=CACHE)
def bce_forward(p, t, loss):
    """loss = -(t max(log p, -100) + (1 - t) max(log(1 - p), -100)), torch's clamp."""
    lo = loss.dtype.type(BCE_LOG_MIN)
    for i in range(p.size):
        log_p = max(np.log(p[i]), lo)
        log_q = max(np.log1p(-p[i]), lo)
        loss[i] = -(t[i] * log_p + (1 - t[i]) * log_q)


@njit(cache=CACHE)
def bce_backward(p, t, g, grad_in):
    """grad_in = g (p - t) / max(p (1 - p), 1e-12), as torch."""
    eps = grad_in.dtype.type(BCE_GRAD_EPS)
    if g.size == 1:
        k = g[0]
        for i in range(p.size):
            grad_in[i] = k * (p[i] - t[i]) / max(p[i] * (1 - p[i]), eps)
    else:
        for i in range(p.size):
            grad_in[i] = g[i] * (p[i] - t[i]) / max(p[i] * (1 - p[i]), eps)


@njit(cache=CACHE, fastmath=FASTMATH)
def soft_cross_entropy_forward(logits, target, loss):
    """loss[r] = -sum_c target[r, c] * log_softmax(logits[r])[c]
               = logsumexp(logits[r]) * sum(target[r]) - <target[r], logits[r]>.

    logits, target : (N, C) (target rows are class probabilities); loss : (N,).
    """
    for r in range(logits.shape[0]):
        row = logits[r]
        tr = target[r]
        lse = row_logsumexp(row)
        s = loss.dtype.type(0)
        for j in range(row.size):
            s += tr[j] * (lse - row[j])
        loss[r] = s


@njit(cache=CACHE, fastmath=FASTMATH)
def soft_cross_entropy_backward(logits, target, scale, grad_in):
    """grad_in[r] = scale[r] * (softmax(logits[r]) * sum(target[r]) - target[r]).

    scale : (N,), the upstream gradient of each row's loss (grad / N for 'mean').
    """
    for r in range(logits.shape[0]):
        row = logits[r]
        tr = target[r]
        lse = row_logsumexp(row)
        total = grad_in.dtype.type(0)
        for j in range(row.size):
            total += tr[j]
        gi = grad_in[r]
        k = scale[r]
        for j in range(row.size):
            gi[j] = k * (np.exp(row[j] - lse) * total - tr[j])
