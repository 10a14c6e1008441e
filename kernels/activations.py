"""Elementwise activations and their derivatives: relu, leaky_relu, sigmoid, tanh, step.

All kernels take flat (1-D) C-contiguous arrays; the caller reshapes. Forward
kernels write ``out``; backward kernels write ``grad_in`` from the upstream
gradient and what the forward saved (its input for relu, leaky_relu and step,
its output for sigmoid and tanh, whose derivatives are cheapest in terms of
the output). Each element is read before its output is written, so ``out``
may be the input array itself (in place); partial overlap is not allowed.

The last argument of every kernel, ``n_chunks``, says how the work is split
(kernels/_chunks.py); the caller (fastnn/_activation.py) chooses the kernel
and n_chunks from the size:

* ``relu_forward`` etc. (serial, n_chunks=1): one vectorised loop on the
  calling thread. Starting a prange region costs ~2 us plus waking the other
  thread, more than a whole small call (relu on 32x64 floats takes ~0.2 us).
* ``relu_forward_parallel`` etc.: one contiguous chunk per thread (pass the
  thread count; read in Python because ``numba.get_num_threads()`` inside a
  kernel defeats the on-disk cache).
* ``relu_forward_stream`` etc. (all but sigmoid / tanh forward): parallel, writing the
  output with non-temporal stores (see mathfun.stream_store). For outputs much
  larger than the caches this avoids reading every output line before
  overwriting it, a third of the memory traffic of a memory-bound op; for
  outputs that fit in cache it would only push the result out to memory
  before its next use.

Each variant is a separate kernel so that a call compiles only the one its
size selects (README "First run").

Every kernel is one scalar function (``_relu`` etc.) mapped over the arrays by
``_span1`` / ``_span2`` (``_stream1`` / ``_stream2``); LLVM inlines it into the loop and vectorises it.

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

from ._chunks import chunk_bounds, serial_and_parallel
from ._config import CACHE, MATHFUN_FASTMATH
from .mathfun import STREAM_BYTES, address_of, sigmoid, store_fence, stream_store, tanh

# Elements per block of the streaming path: computed into an L1-resident
# buffer (8 KiB of float32), then streamed out with aligned vector stores.
_BLOCK = 2048

_ZERO = np.float32(0.0)  # exact in both dtypes; keeps float32 arithmetic float32
_ONE = np.float32(1.0)

_FLAGS = MATHFUN_FASTMATH  # contract only: no reassociation of the exp polynomials

_JIT = dict(fastmath=_FLAGS, error_model="numpy")
_KERNEL = dict(cache=CACHE, **_JIT)


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


def _span1(op, x, out, p, lo, hi):
    """out[i] = f(x[i], p) for lo <= i < hi, f = the scalar function named ``op``.

    ``op`` is a string literal in the calling kernel: the overload below picks
    the scalar function at compile time, so it is inlined into the loop and
    vectorised. (Passing the function itself as an argument makes numba call
    it through a pointer: no vectorisation, and no on-disk cache.) The loop
    runs over views sliced here and indexed from 0: no wraparound checks.
    """


def _span2(op, a, b, out, p, lo, hi):
    """out[i] = f(a[i], b[i], p) for lo <= i < hi; as _span1 with two inputs."""


def _stream1(op, x, out, p, lo, hi):
    """As _span1 on [lo, hi), writing out with non-temporal stores (mathfun.stream_store):
    blocks of _BLOCK results go to an L1-resident buffer, then stream out in aligned vectors."""


def _stream2(op, a, b, out, p, lo, hi):
    """As _stream1 with two inputs."""


@overload(_span1, prefer_literal=True, jit_options=_JIT)
def _span1_overload(op, x, out, p, lo, hi):
    if not isinstance(op, types.StringLiteral):
        return None
    f = _UNARY[op.literal_value]

    def impl(op, x, out, p, lo, hi):
        xs = x[lo:hi]
        os = out[lo:hi]
        for j in range(xs.size):
            os[j] = f(xs[j], p)

    return impl


@overload(_span2, prefer_literal=True, jit_options=_JIT)
def _span2_overload(op, a, b, out, p, lo, hi):
    if not isinstance(op, types.StringLiteral):
        return None
    f = _BINARY[op.literal_value]

    def impl(op, a, b, out, p, lo, hi):
        as_ = a[lo:hi]
        bs = b[lo:hi]
        os = out[lo:hi]
        for j in range(os.size):
            os[j] = f(as_[j], bs[j], p)

    return impl


@overload(_stream1, prefer_literal=True, jit_options=_JIT)
def _stream1_overload(op, x, out, p, lo, hi):
    if not isinstance(op, types.StringLiteral):
        return None
    f = _UNARY[op.literal_value]

    def impl(op, x, out, p, lo, hi):
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
        for j in range(i, hi):  # the tail, shorter than one vector
            out[j] = f(x[j], p)

    return impl


@overload(_stream2, prefer_literal=True, jit_options=_JIT)
def _stream2_overload(op, a, b, out, p, lo, hi):
    if not isinstance(op, types.StringLiteral):
        return None
    f = _BINARY[op.literal_value]

    def impl(op, a, b, out, p, lo, hi):
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
        for j in range(i, hi):
            out[j] = f(a[j], b[j], p)

    return impl


# The kernels below are all the same few lines around a different scalar
# function. They are spelled out (not generated) so each one is an ordinary,
# separately cached function with a readable name in profiles. Each forward
# and backward exists three times: serial and parallel (one body,
# serial_and_parallel), and a parallel streaming kernel for relu, leaky_relu
# and step (sigmoid and tanh measured slower streaming: they are
# compute-bound). ``p`` is the op's scalar parameter (the slope) or a 0 of the
# output's dtype.

# --------------------------------------------------------------------------- relu

@njit(cache=CACHE, fastmath=_FLAGS, error_model="numpy", inline="always")
def _relu(v, p):
    return _ZERO if v <= _ZERO else v


@njit(cache=CACHE, fastmath=_FLAGS, error_model="numpy", inline="always")
def _relu_grad(g, v, p):
    return _ZERO if v <= _ZERO else g


def relu_forward(x, out, n_chunks):
    """out = max(x, 0); relu(NaN) = NaN."""
    p = out.dtype.type(0)
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(x.size, c, n_chunks)
        _span1("relu", x, out, p, lo, hi)


def relu_backward(grad_out, x, grad_in, n_chunks):
    """grad_in = 0 where x <= 0, else grad_out (relu'(0) = 0; x = NaN passes grad_out, as torch)."""
    p = grad_in.dtype.type(0)
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(x.size, c, n_chunks)
        _span2("relu_grad", grad_out, x, grad_in, p, lo, hi)


@njit(parallel=True, **_KERNEL)
def relu_forward_stream(x, out, n_chunks):
    """relu_forward with non-temporal stores."""
    p = out.dtype.type(0)
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(x.size, c, n_chunks)
        _stream1("relu", x, out, p, lo, hi)


@njit(parallel=True, **_KERNEL)
def relu_backward_stream(grad_out, x, grad_in, n_chunks):
    """relu_backward with non-temporal stores."""
    p = grad_in.dtype.type(0)
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(x.size, c, n_chunks)
        _stream2("relu_grad", grad_out, x, grad_in, p, lo, hi)


relu_forward, relu_forward_parallel = serial_and_parallel(relu_forward, **_JIT)
relu_backward, relu_backward_parallel = serial_and_parallel(relu_backward, **_JIT)


# --------------------------------------------------------------------------- leaky_relu

@njit(cache=CACHE, fastmath=_FLAGS, error_model="numpy", inline="always")
def _leaky(v, slope):
    return v if v > _ZERO else v * slope


@njit(cache=CACHE, fastmath=_FLAGS, error_model="numpy", inline="always")
def _leaky_grad(g, v, slope):
    return g if v > _ZERO else g * slope


def leaky_relu_forward(x, out, negative_slope, n_chunks):
    """out = x where x > 0, else negative_slope * x (NaN -> NaN). negative_slope: out's dtype."""
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(x.size, c, n_chunks)
        _span1("leaky", x, out, negative_slope, lo, hi)


def leaky_relu_backward(grad_out, x, grad_in, negative_slope, n_chunks):
    """grad_in = grad_out where x > 0, else negative_slope * grad_out (torch's convention at 0 and NaN)."""
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(x.size, c, n_chunks)
        _span2("leaky_grad", grad_out, x, grad_in, negative_slope, lo, hi)


@njit(parallel=True, **_KERNEL)
def leaky_relu_forward_stream(x, out, negative_slope, n_chunks):
    """leaky_relu_forward with non-temporal stores."""
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(x.size, c, n_chunks)
        _stream1("leaky", x, out, negative_slope, lo, hi)


@njit(parallel=True, **_KERNEL)
def leaky_relu_backward_stream(grad_out, x, grad_in, negative_slope, n_chunks):
    """leaky_relu_backward with non-temporal stores."""
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(x.size, c, n_chunks)
        _stream2("leaky_grad", grad_out, x, grad_in, negative_slope, lo, hi)


leaky_relu_forward, leaky_relu_forward_parallel = serial_and_parallel(leaky_relu_forward, **_JIT)
leaky_relu_backward, leaky_relu_backward_parallel = serial_and_parallel(leaky_relu_backward,
                                                                        **_JIT)


# --------------------------------------------------------------------------- sigmoid

@njit(cache=CACHE, fastmath=_FLAGS, error_model="numpy", inline="always")
def _sigmoid(v, p):
    return sigmoid(v)


@njit(cache=CACHE, fastmath=_FLAGS, error_model="numpy", inline="always")
def _sigmoid_grad(g, s, p):
    return g * s * (_ONE - s)


def sigmoid_forward(x, out, n_chunks):
    """out = 1 / (1 + exp(-x)), without overflow for any x (see mathfun.sigmoid)."""
    p = out.dtype.type(0)
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(x.size, c, n_chunks)
        _span1("sigmoid", x, out, p, lo, hi)


def sigmoid_backward(grad_out, y, grad_in, n_chunks):
    """grad_in = grad_out * y * (1 - y), where y = sigmoid(x) is the forward output."""
    p = grad_in.dtype.type(0)
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(y.size, c, n_chunks)
        _span2("sigmoid_grad", grad_out, y, grad_in, p, lo, hi)


@njit(parallel=True, **_KERNEL)
def sigmoid_backward_stream(grad_out, y, grad_in, n_chunks):
    """sigmoid_backward with non-temporal stores."""
    p = grad_in.dtype.type(0)
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(y.size, c, n_chunks)
        _stream2("sigmoid_grad", grad_out, y, grad_in, p, lo, hi)


sigmoid_forward, sigmoid_forward_parallel = serial_and_parallel(sigmoid_forward, **_JIT)
sigmoid_backward, sigmoid_backward_parallel = serial_and_parallel(sigmoid_backward, **_JIT)


# --------------------------------------------------------------------------- tanh

@njit(cache=CACHE, fastmath=_FLAGS, error_model="numpy", inline="always")
def _tanh(v, p):
    return tanh(v)


@njit(cache=CACHE, fastmath=_FLAGS, error_model="numpy", inline="always")
def _tanh_grad(g, t, p):
    return g * (_ONE - t * t)


def tanh_forward(x, out, n_chunks):
    """out = tanh(x) (see mathfun.tanh)."""
    p = out.dtype.type(0)
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(x.size, c, n_chunks)
        _span1("tanh", x, out, p, lo, hi)


def tanh_backward(grad_out, y, grad_in, n_chunks):
    """grad_in = grad_out * (1 - y^2), where y = tanh(x) is the forward output."""
    p = grad_in.dtype.type(0)
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(y.size, c, n_chunks)
        _span2("tanh_grad", grad_out, y, grad_in, p, lo, hi)


@njit(parallel=True, **_KERNEL)
def tanh_backward_stream(grad_out, y, grad_in, n_chunks):
    """tanh_backward with non-temporal stores."""
    p = grad_in.dtype.type(0)
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(y.size, c, n_chunks)
        _stream2("tanh_grad", grad_out, y, grad_in, p, lo, hi)


tanh_forward, tanh_forward_parallel = serial_and_parallel(tanh_forward, **_JIT)
tanh_backward, tanh_backward_parallel = serial_and_parallel(tanh_backward, **_JIT)


# --------------------------------------------------------------------------- step

@njit(cache=CACHE, fastmath=_FLAGS, error_model="numpy", inline="always")
def _step(v, p):
    # v >= 0 -> 1, v < 0 -> 0, NaN (both comparisons false) -> NaN.
    return _ONE if v >= _ZERO else (_ZERO if v < _ZERO else v)


@njit(cache=CACHE, fastmath=_FLAGS, error_model="numpy", inline="always")
def _step_grad(g, v, p):
    return _ZERO * p  # p is 0 in the grad_in dtype: keeps the result's type


def step_forward(x, out, n_chunks):
    """Hard threshold (Heaviside step): out = 1 if x >= 0 else 0; step(NaN) = NaN."""
    p = out.dtype.type(0)
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(x.size, c, n_chunks)
        _span1("step", x, out, p, lo, hi)


def step_backward(grad_out, x, grad_in, n_chunks):
    """grad_in = 0: the step function's derivative is 0 wherever it exists (x != 0)."""
    p = grad_in.dtype.type(0)
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(x.size, c, n_chunks)
        _span2("step_grad", grad_out, x, grad_in, p, lo, hi)


@njit(parallel=True, **_KERNEL)
def step_forward_stream(x, out, n_chunks):
    """step_forward with non-temporal stores."""
    p = out.dtype.type(0)
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(x.size, c, n_chunks)
        _stream1("step", x, out, p, lo, hi)


@njit(parallel=True, **_KERNEL)
def step_backward_stream(grad_out, x, grad_in, n_chunks):
    """step_backward with non-temporal stores."""
    p = grad_in.dtype.type(0)
    for c in prange(n_chunks):
        lo, hi = chunk_bounds(x.size, c, n_chunks)
        _stream2("step_grad", grad_out, x, grad_in, p, lo, hi)


step_forward, step_forward_parallel = serial_and_parallel(step_forward, **_JIT)
step_backward, step_backward_parallel = serial_and_parallel(step_backward, **_JIT)


# Scalar functions by name, for _span1 / _span2 (resolved when a kernel compiles).
_UNARY = {"relu": _relu, "leaky": _leaky, "sigmoid": _sigmoid, "tanh": _tanh, "step": _step}
_BINARY = {"relu_grad": _relu_grad, "leaky_grad": _leaky_grad, "sigmoid_grad": _sigmoid_grad,
           "tanh_grad": _tanh_grad, "step_grad": _step_grad}
