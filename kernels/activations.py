"""Elementwise activations and their derivatives: relu, leaky_relu, sigmoid, tanh, step.

All kernels take flat (1-D) C-contiguous arrays; the caller reshapes. Forward
kernels write ``out``; backward kernels write ``grad_in`` from the upstream
gradient and what the forward saved (its input for relu, leaky_relu and step,
its output for sigmoid and tanh, whose derivatives are cheapest in terms of
the output). Each element is read before its output is written, so ``out``
may be the input array itself (in place); partial overlap is not allowed.

The last two arguments of every kernel say how the work is split; the caller
(fastnn.functional) chooses them from the size:

* ``n_chunks`` <= 1: one vectorised loop on the calling thread. Starting a
  prange region costs ~2 us plus waking the other thread, more than a whole
  small call (relu on 32x64 floats takes ~0.2 us). Otherwise one contiguous
  chunk per thread (pass the thread count; read in Python because
  ``numba.get_num_threads()`` inside a kernel defeats the on-disk cache).
* ``stream``: write the output with non-temporal stores (see
  mathfun.stream_store). For outputs much larger than the caches this avoids
  reading every output line before overwriting it, a third of the memory
  traffic of a memory-bound op; for outputs that fit in cache it would only
  push the result out to memory before its next use.

Every kernel is one scalar function (``_relu`` etc.) mapped over the arrays by
``_span1`` / ``_span2``; LLVM inlines it into the loop and vectorises it.

NaN semantics follow PyTorch: each comparison is written so that a NaN input
takes the branch that returns NaN (``v <= 0`` is false for NaN), and
relu_backward / leaky_relu_backward pass the gradient where the input is NaN
(torch's threshold_backward: ``x <= 0 ? 0 : g``). sigmoid and tanh are
kernels/mathfun.py's vectorisable ones (max error float32 2.2 / 1.5 ulp,
float64 0.62 / 0.67 ulp; same special values as NumPy).
"""
import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from ._chunks import chunk_bounds
from ._config import CACHE, MATHFUN_FASTMATH
from .mathfun import STREAM_BYTES, address_of, sigmoid, store_fence, stream_store, tanh

# Elements per block of the streaming path: computed into an L1-resident
# buffer (8 KiB of float32), then streamed out with aligned vector stores.
_BLOCK = 2048

_ZERO = np.float32(0.0)  # exact in both dtypes; keeps float32 arithmetic float32
_ONE = np.float32(1.0)

_FLAGS = MATHFUN_FASTMATH  # contract only: no reassociation of the exp polynomials

_JIT = dict(fastmath=_FLAGS, error_model="numpy")


# --------------------------------------------------------------------------- drivers

@njit(cache=CACHE, inline="always")
def _aligned_start(out, lo, hi):
    """First index i in [lo, hi] where out[i] sits on a STREAM_BYTES boundary (hi if none)."""
    size = out.itemsize
    addr = address_of(out) + lo * size
    miss = addr % STREAM_BYTES
    if miss % size:
        return hi  # misaligned element type: never reaches a boundary
    start = lo + ((STREAM_BYTES - miss) % STREAM_BYTES) // size
    return min(start, hi)


def _span1(op, x, out, p, lo, hi, stream):
    """out[i] = f(x[i], p) for lo <= i < hi, f = the scalar function named ``op``.

    With ``stream``, blocks of out are written with non-temporal stores. ``op``
    is a string literal in the calling kernel: the overload below picks the
    scalar function at compile time, so it is inlined into the loop and
    vectorised. (Passing the function itself as an argument makes numba call
    it through a pointer: no vectorisation, and no on-disk cache.)
    """


def _span2(op, a, b, out, p, lo, hi, stream):
    """out[i] = f(a[i], b[i], p) for lo <= i < hi; as _span1 with two inputs."""


@overload(_span1, prefer_literal=True, jit_options=_JIT)
def _span1_overload(op, x, out, p, lo, hi, stream):
    if not isinstance(op, types.StringLiteral):
        return None
    f = _UNARY[op.literal_value]

    def impl(op, x, out, p, lo, hi, stream):
        if stream:
            lanes = STREAM_BYTES // out.itemsize
            start = _aligned_start(out, lo, hi)
            for i in range(lo, start):
                out[i] = f(x[i], p)
            buf = np.empty(_BLOCK, dtype=out.dtype)
            i = start
            while hi - i >= lanes:
                m = min(_BLOCK, (hi - i) // lanes * lanes)
                xs = x[i:i + m]  # views indexed from 0: no wraparound checks in the loop
                bs = buf[:m]
                for j in range(xs.size):
                    bs[j] = f(xs[j], p)
                for j in range(0, m, lanes):
                    stream_store(out, i + j, buf, j)
                i += m
            store_fence()
            lo = i
        xs = x[lo:hi]
        os = out[lo:hi]
        for j in range(xs.size):
            os[j] = f(xs[j], p)

    return impl


@overload(_span2, prefer_literal=True, jit_options=_JIT)
def _span2_overload(op, a, b, out, p, lo, hi, stream):
    if not isinstance(op, types.StringLiteral):
        return None
    f = _BINARY[op.literal_value]

    def impl(op, a, b, out, p, lo, hi, stream):
        if stream:
            lanes = STREAM_BYTES // out.itemsize
            start = _aligned_start(out, lo, hi)
            for i in range(lo, start):
                out[i] = f(a[i], b[i], p)
            buf = np.empty(_BLOCK, dtype=out.dtype)
            i = start
            while hi - i >= lanes:
                m = min(_BLOCK, (hi - i) // lanes * lanes)
                as_ = a[i:i + m]
                bs = b[i:i + m]
                os = buf[:m]
                for j in range(os.size):
                    os[j] = f(as_[j], bs[j], p)
                for j in range(0, m, lanes):
                    stream_store(out, i + j, buf, j)
                i += m
            store_fence()
            lo = i
        as_ = a[lo:hi]
        bs = b[lo:hi]
        os = out[lo:hi]
        for j in range(os.size):
            os[j] = f(as_[j], bs[j], p)

    return impl


# The kernels below are all the same five lines around a different scalar
# function. They are spelled out (not generated) so each one is an ordinary,
# separately cached @njit function with a readable name in profiles.

# --------------------------------------------------------------------------- relu

@njit(cache=CACHE, fastmath=_FLAGS, error_model="numpy", inline="always")
def _relu(v, p):
    return _ZERO if v <= _ZERO else v


@njit(cache=CACHE, fastmath=_FLAGS, error_model="numpy", inline="always")
def _relu_grad(g, v, p):
    return _ZERO if v <= _ZERO else g


@njit(parallel=True, cache=CACHE, fastmath=_FLAGS, error_model="numpy")
def relu_forward(x, out, stream, n_chunks):
    """out = max(x, 0); relu(NaN) = NaN."""
    p = out.dtype.type(0)
    if n_chunks <= 1:  # serial: no parallel region to start
        _span1("relu", x, out, p, 0, x.size, stream)
        return
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(x.size, c, n_chunks)
        _span1("relu", x, out, p, lo, hi, stream)


@njit(parallel=True, cache=CACHE, fastmath=_FLAGS, error_model="numpy")
def relu_backward(grad_out, x, grad_in, stream, n_chunks):
    """grad_in = 0 where x <= 0, else grad_out (relu'(0) = 0; x = NaN passes grad_out, as torch)."""
    p = grad_in.dtype.type(0)
    if n_chunks <= 1:  # serial: no parallel region to start
        _span2("relu_grad", grad_out, x, grad_in, p, 0, x.size, stream)
        return
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(x.size, c, n_chunks)
        _span2("relu_grad", grad_out, x, grad_in, p, lo, hi, stream)


# --------------------------------------------------------------------------- leaky_relu

@njit(cache=CACHE, fastmath=_FLAGS, error_model="numpy", inline="always")
def _leaky(v, slope):
    return v if v > _ZERO else v * slope


@njit(cache=CACHE, fastmath=_FLAGS, error_model="numpy", inline="always")
def _leaky_grad(g, v, slope):
    return g if v > _ZERO else g * slope


@njit(parallel=True, cache=CACHE, fastmath=_FLAGS, error_model="numpy")
def leaky_relu_forward(x, out, negative_slope, stream, n_chunks):
    """out = x where x > 0, else negative_slope * x (NaN -> NaN). negative_slope: out's dtype."""
    if n_chunks <= 1:  # serial: no parallel region to start
        _span1("leaky", x, out, negative_slope, 0, x.size, stream)
        return
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(x.size, c, n_chunks)
        _span1("leaky", x, out, negative_slope, lo, hi, stream)


@njit(parallel=True, cache=CACHE, fastmath=_FLAGS, error_model="numpy")
def leaky_relu_backward(grad_out, x, grad_in, negative_slope, stream, n_chunks):
    """grad_in = grad_out where x > 0, else negative_slope * grad_out (torch's convention at 0 and NaN)."""
    if n_chunks <= 1:  # serial: no parallel region to start
        _span2("leaky_grad", grad_out, x, grad_in, negative_slope, 0, x.size, stream)
        return
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(x.size, c, n_chunks)
        _span2("leaky_grad", grad_out, x, grad_in, negative_slope, lo, hi, stream)


# --------------------------------------------------------------------------- sigmoid

@njit(cache=CACHE, fastmath=_FLAGS, error_model="numpy", inline="always")
def _sigmoid(v, p):
    return sigmoid(v)


@njit(cache=CACHE, fastmath=_FLAGS, error_model="numpy", inline="always")
def _sigmoid_grad(g, s, p):
    return g * s * (_ONE - s)


@njit(parallel=True, cache=CACHE, fastmath=_FLAGS, error_model="numpy")
def sigmoid_forward(x, out, stream, n_chunks):
    """out = 1 / (1 + exp(-x)), without overflow for any x (see mathfun.sigmoid)."""
    p = out.dtype.type(0)
    if n_chunks <= 1:  # serial: no parallel region to start
        _span1("sigmoid", x, out, p, 0, x.size, stream)
        return
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(x.size, c, n_chunks)
        _span1("sigmoid", x, out, p, lo, hi, stream)


@njit(parallel=True, cache=CACHE, fastmath=_FLAGS, error_model="numpy")
def sigmoid_backward(grad_out, y, grad_in, stream, n_chunks):
    """grad_in = grad_out * y * (1 - y), where y = sigmoid(x) is the forward output."""
    p = grad_in.dtype.type(0)
    if n_chunks <= 1:  # serial: no parallel region to start
        _span2("sigmoid_grad", grad_out, y, grad_in, p, 0, y.size, stream)
        return
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(y.size, c, n_chunks)
        _span2("sigmoid_grad", grad_out, y, grad_in, p, lo, hi, stream)


# --------------------------------------------------------------------------- tanh

@njit(cache=CACHE, fastmath=_FLAGS, error_model="numpy", inline="always")
def _tanh(v, p):
    return tanh(v)


@njit(cache=CACHE, fastmath=_FLAGS, error_model="numpy", inline="always")
def _tanh_grad(g, t, p):
    return g * (_ONE - t * t)


@njit(parallel=True, cache=CACHE, fastmath=_FLAGS, error_model="numpy")
def tanh_forward(x, out, stream, n_chunks):
    """out = tanh(x) (see mathfun.tanh)."""
    p = out.dtype.type(0)
    if n_chunks <= 1:  # serial: no parallel region to start
        _span1("tanh", x, out, p, 0, x.size, stream)
        return
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(x.size, c, n_chunks)
        _span1("tanh", x, out, p, lo, hi, stream)


@njit(parallel=True, cache=CACHE, fastmath=_FLAGS, error_model="numpy")
def tanh_backward(grad_out, y, grad_in, stream, n_chunks):
    """grad_in = grad_out * (1 - y^2), where y = tanh(x) is the forward output."""
    p = grad_in.dtype.type(0)
    if n_chunks <= 1:  # serial: no parallel region to start
        _span2("tanh_grad", grad_out, y, grad_in, p, 0, y.size, stream)
        return
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(y.size, c, n_chunks)
        _span2("tanh_grad", grad_out, y, grad_in, p, lo, hi, stream)


# --------------------------------------------------------------------------- step

@njit(cache=CACHE, fastmath=_FLAGS, error_model="numpy", inline="always")
def _step(v, p):
    # v >= 0 -> 1, v < 0 -> 0, NaN (both comparisons false) -> NaN.
    return _ONE if v >= _ZERO else (_ZERO if v < _ZERO else v)


@njit(cache=CACHE, fastmath=_FLAGS, error_model="numpy", inline="always")
def _step_grad(g, v, p):
    return _ZERO * p  # p is 0 in the grad_in dtype: keeps the result's type


@njit(parallel=True, cache=CACHE, fastmath=_FLAGS, error_model="numpy")
def step_forward(x, out, stream, n_chunks):
    """Hard threshold (Heaviside step): out = 1 if x >= 0 else 0; step(NaN) = NaN."""
    p = out.dtype.type(0)
    if n_chunks <= 1:  # serial: no parallel region to start
        _span1("step", x, out, p, 0, x.size, stream)
        return
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(x.size, c, n_chunks)
        _span1("step", x, out, p, lo, hi, stream)


@njit(parallel=True, cache=CACHE, fastmath=_FLAGS, error_model="numpy")
def step_backward(grad_out, x, grad_in, stream, n_chunks):
    """grad_in = 0: the step function's derivative is 0 wherever it exists (x != 0)."""
    p = grad_in.dtype.type(0)
    if n_chunks <= 1:  # serial: no parallel region to start
        _span2("step_grad", grad_out, x, grad_in, p, 0, x.size, stream)
        return
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(x.size, c, n_chunks)
        _span2("step_grad", grad_out, x, grad_in, p, lo, hi, stream)


# Scalar functions by name, for _span1 / _span2 (resolved when a kernel compiles).
_UNARY = {"relu": _relu, "leaky": _leaky, "sigmoid": _sigmoid, "tanh": _tanh, "step": _step}
_BINARY = {"relu_grad": _relu_grad, "leaky_grad": _leaky_grad, "sigmoid_grad": _sigmoid_grad,
           "tanh_grad": _tanh_grad, "step_grad": _step_grad}
