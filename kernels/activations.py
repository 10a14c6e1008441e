"""Elementwise activations and their derivatives: relu, sigmoid, tanh, step.

All kernels take flat (1-D) C-contiguous arrays; the caller reshapes. Forward
kernels write ``out``; backward kernels write ``grad_in`` from the upstream
gradient and what the forward saved (its input for relu and step, its output for
sigmoid and tanh, whose derivatives are cheapest in terms of the output).

NaN propagates as in NumPy and PyTorch: each comparison is written so that a
NaN input takes the branch that returns it (``v <= 0`` is false for NaN).
The transcendental kernels are compiled without fast-math: their accuracy is
that of the C library's expf/exp and tanhf/tanh.
"""
import numpy as np
from numba import njit, prange

from ._config import CACHE


@njit(parallel=True, cache=CACHE)
def relu_forward(x, out):
    """out = max(x, 0); relu(NaN) = NaN."""
    zero = out.dtype.type(0)
    for i in prange(x.size):
        v = x[i]
        out[i] = zero if v <= zero else v


@njit(parallel=True, cache=CACHE)
def relu_backward(grad_out, x, grad_in):
    """grad_in = grad_out where x > 0, else exactly 0 (relu'(0) = 0)."""
    zero = grad_in.dtype.type(0)
    for i in prange(x.size):
        grad_in[i] = grad_out[i] if x[i] > zero else zero


@njit(parallel=True, cache=CACHE)
def sigmoid_forward(x, out):
    """out = 1 / (1 + exp(-x)), evaluated without overflow for any x.

    With e = exp(-|x|) <= 1: sigmoid(x) = 1 / (1 + e) for x >= 0 and
    e / (1 + e) for x < 0, so exp never overflows and small outputs keep their
    relative precision (1 - 1/(1 + e) would cancel to 0).
    """
    one = out.dtype.type(1)
    for i in prange(x.size):
        v = x[i]
        e = np.exp(-np.abs(v))
        r = one / (one + e)
        out[i] = r if v >= 0 else e * r


@njit(parallel=True, cache=CACHE)
def sigmoid_backward(grad_out, y, grad_in):
    """grad_in = grad_out * y * (1 - y), where y = sigmoid(x) is the forward output."""
    one = grad_in.dtype.type(1)
    for i in prange(y.size):
        s = y[i]
        grad_in[i] = grad_out[i] * s * (one - s)


@njit(parallel=True, cache=CACHE)
def tanh_forward(x, out):
    """out = tanh(x)."""
    for i in prange(x.size):
        out[i] = np.tanh(x[i])


@njit(parallel=True, cache=CACHE)
def tanh_backward(grad_out, y, grad_in):
    """grad_in = grad_out * (1 - y^2), where y = tanh(x) is the forward output."""
    one = grad_in.dtype.type(1)
    for i in prange(y.size):
        t = y[i]
        grad_in[i] = grad_out[i] * (one - t * t)


@njit(parallel=True, cache=CACHE)
def step_forward(x, out):
    """Hard threshold (Heaviside step): out = 1 if x >= 0 else 0; step(NaN) = NaN."""
    zero = out.dtype.type(0)
    one = out.dtype.type(1)
    for i in prange(x.size):
        v = x[i]
        if v >= zero:
            out[i] = one
        elif v < zero:
            out[i] = zero
        else:
            out[i] = v


@njit(parallel=True, cache=CACHE)
def step_backward(grad_out, x, grad_in):
    """grad_in = 0: the step function's derivative is 0 wherever it exists (x != 0)."""
    zero = grad_in.dtype.type(0)
    for i in prange(x.size):
        grad_in[i] = zero
