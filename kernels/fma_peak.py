"""The machine's measured fp32/fp64 FMA throughput: the compute roof of ``python -m fastnn bench``.

A nominal peak (cores x FMA units x lanes x 2 x clock) needs the clock, and on
virtual machines /proc/cpuinfo reports the nominal base clock, not the turbo
clock the cores actually run at (measured: 2.0 GHz reported, ~3.4 GHz
delivered), which made "% roof" flatter fastnn by 1.7x. This kernel measures
the roof instead: each thread runs ``reps`` rounds of 12 independent vector
FMA chains that never touch memory, so nothing but the FMA units limits it
(12 chains cover 2 units x 4-5 cycles of latency). It uses the same SIMD
vectors as the GEMM (kernels/simd.py), so the roof is the one fastnn's
kernels can reach.
"""
from numba import njit, prange

from .simd import lanes, vfma, vload, vstore, vzero


@njit(parallel=True)
def fma_peak(seed, out, reps, n_chunks):
    """Run 12 x ``reps`` vector FMAs on each of ``n_chunks`` threads; returns nothing.

    seed : float array of >= 2 vectors (the FMA operands; values near 1 keep
        the sums finite). out : same dtype, >= n_chunks x 12 vectors, receives
        the sums so that the loop is not optimised away.
    FLOP done: n_chunks * reps * 12 * lanes(seed) * 2. No ``cache=True``: it is
    compiled only when the bench runs (under a second).
    """
    w = lanes(seed)
    for t in prange(n_chunks):
        x = vload(seed, 0)
        y = vload(seed, w)
        c0 = vzero(seed)
        c1 = vzero(seed)
        c2 = vzero(seed)
        c3 = vzero(seed)
        c4 = vzero(seed)
        c5 = vzero(seed)
        c6 = vzero(seed)
        c7 = vzero(seed)
        c8 = vzero(seed)
        c9 = vzero(seed)
        c10 = vzero(seed)
        c11 = vzero(seed)
        for _ in range(reps):
            c0 = vfma(x, y, c0)
            c1 = vfma(x, y, c1)
            c2 = vfma(x, y, c2)
            c3 = vfma(x, y, c3)
            c4 = vfma(x, y, c4)
            c5 = vfma(x, y, c5)
            c6 = vfma(x, y, c6)
            c7 = vfma(x, y, c7)
            c8 = vfma(x, y, c8)
            c9 = vfma(x, y, c9)
            c10 = vfma(x, y, c10)
            c11 = vfma(x, y, c11)
        o = t * 12 * w
        vstore(out, o, c0)
        vstore(out, o + w, c1)
        vstore(out, o + 2 * w, c2)
        vstore(out, o + 3 * w, c3)
        vstore(out, o + 4 * w, c4)
        vstore(out, o + 5 * w, c5)
        vstore(out, o + 6 * w, c6)
        vstore(out, o + 7 * w, c7)
        vstore(out, o + 8 * w, c8)
        vstore(out, o + 9 * w, c9)
        vstore(out, o + 10 * w, c10)
        vstore(out, o + 11 * w, c11)
