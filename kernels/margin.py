"""Multi-class margin (hinge / SVM) loss, as torch.nn.functional.multi_margin_loss.

loss[n] = sum_{i != y} w[y] * max(0, margin - x[n, y] + x[n, i])^p / C,
y = target[n], p in {1, 2}; w : (C,) class weights (ones when none).
"""
from numba import njit

from ._config import CACHE

_JIT = dict(cache=CACHE, error_model="numpy")


@njit(**_JIT)
def multi_margin_forward(x, target, weight, p, margin, loss):
    """x : (N, C); target : (N,) int64; weight : (C,); p : 1 or 2; loss : (N,) output."""
    n_rows, c = x.shape
    for n in range(n_rows):
        y = target[n]
        xy = x[n, y]
        s = 0.0
        for i in range(c):
            if i == y:
                continue
            z = margin - xy + x[n, i]
            if z > 0:
                s += z if p == 1 else z * z
        loss[n] = s * weight[y] / c


@njit(**_JIT)
def multi_margin_backward(x, target, weight, p, margin, scale, grad_in):
    """grad_in[n] = d loss[n] / d x[n] * scale[n]; shapes as the forward, scale : (N,)."""
    n_rows, c = x.shape
    for n in range(n_rows):
        y = target[n]
        xy = x[n, y]
        f = scale[n] * weight[y] / c
        acc = 0.0
        for i in range(c):
            if i == y:
                grad_in[n, i] = 0
                continue
            z = margin - xy + x[n, i]
            g = 0.0
            if z > 0:
                g = f if p == 1 else 2.0 * z * f
            grad_in[n, i] = g
            acc += g
        grad_in[n, y] = -acc
