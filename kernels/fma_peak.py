"""The machine's measured fp32/fp64 FMA throughput: the compute roof of ``python -m fastnn bench``.

A nominal peak (cores x FMA units x lanes x 2 x clock) rests on two numbers
the OS does not reliably give: the clock the cores sustain under vector load
(turbo, AVX-512 licences, a VM's reported base clock) and the number of
vector FMA units (one or two per core, by CPU model). This kernel measures
the roof instead: each thread runs ``reps`` rounds of 12 independent vector
FMA chains that never touch memory, so nothing but the FMA units limits it
(12 chains cover 2 units x 4 cycles of latency). It uses the same SIMD vectors
as the GEMM (kernels/simd.py), so the roof is the one fastnn's kernels can
reach. On the 2-core AVX-512 development VM it measured 252-255 GFLOP/s on 2
threads, against a nominal 256 (2.0 GHz from /proc/cpuinfo).

Every chain's sum is stored to its own place: with the sums stored to one
place, LLVM deletes all chains but one and the loop measures FMA latency, not
throughput (a first benchmark script here reported a 1.7x higher "peak" so).
"""
import numpy as np
from numba import njit, prange

from .simd import lanes, vfma, vload, vstore, vzero


@njit
def _chains(seed, out, o, reps):
    # One thread's share: 12 FMA chains for reps rounds, sums stored at out[o:]
    # (each to its own place, see the module docstring).
    w = lanes(seed)
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


@njit(parallel=True)
def fma_peak(seed, out, reps, n_chunks):
    """Run 12 x ``reps`` vector FMAs on each of ``n_chunks`` threads; returns nothing.

    seed : float array of >= 2 vectors (the FMA operands; values near 1 keep
        the sums finite). out : same dtype, >= n_chunks x 12 vectors, receives
        the sums so that the loop is not optimised away.
    FLOP done: n_chunks * reps * 12 * lanes(seed) * 2. No ``cache=True``: it is
        compiled only when the bench runs (under a second).
    """
    for t in prange(n_chunks):
        _chains(seed, out, np.int64(t) * 12 * lanes(seed), reps)
