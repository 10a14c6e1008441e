"""How a parallel kernel splits its work: the trailing ``n_chunks`` argument.

Every kernel that can run on several threads takes ``n_chunks`` as its last
argument: n > 1 splits the independent items (elements, rows, planes) into n
near-equal contiguous chunks, one prange iteration each. Each such kernel
exists twice (:func:`serial_and_parallel`): ``foo``, compiled without
parallel=True, runs on the calling thread with n_chunks=1 and no parallel
region to start; ``foo_parallel`` runs its chunks on the thread pool. The
caller (fastnn/, from the thresholds in fastnn/_tuning.py: ``_tuning.run``)
picks the kernel and n_chunks; kernels never do.
"""
import types

from numba import njit

from ._config import CACHE


@njit(inline="always")
def chunk_bounds(n, c, n_chunks):
    """[lo, hi) of chunk c when n items are split into n_chunks near-equal parts."""
    return c * n // n_chunks, (c + 1) * n // n_chunks


def serial_and_parallel(body, **options):
    """Compile one kernel body as two kernels: ``(serial, parallel)`` Numba dispatchers.

    ``body`` splits its work with ``for c in prange(n_chunks)`` and
    :func:`chunk_bounds`. The serial kernel is ``body`` compiled without
    ``parallel=True``: prange is then a plain range (the caller passes
    n_chunks=1), no parallel region is started, and it compiles in a fraction
    of the time (a trivial kernel: 0.04 s against 0.30 s with parallel=True).
    So a call compiles only the variant its size selects; small inputs (tests,
    the first steps of a small model) never pay for the parallel one.

    The parallel kernel compiles a copy of ``body`` named ``<name>_parallel``:
    Numba's on-disk cache names its files after the function's qualified name
    and does not key them on ``parallel``, so one function object compiled
    twice would share (and overwrite) one cache entry.
    """
    copy = types.FunctionType(body.__code__, body.__globals__, body.__name__ + "_parallel",
                              body.__defaults__, body.__closure__)
    copy.__qualname__ = body.__qualname__ + "_parallel"
    copy.__doc__ = body.__doc__
    options = {"cache": CACHE, **options}
    serial = njit(**options)(body)
    parallel = njit(parallel=True, **options)(copy)
    return serial, parallel
