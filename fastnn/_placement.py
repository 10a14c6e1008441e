"""Keep fastnn's pool threads off the CPU of the thread that calls the kernels.

Why. A parallel kernel runs on the calling thread (pool thread 0) and the
pool's workers. A worker that has gone to sleep (an idle pause longer than its
spin, see README "Threading") is woken by the next kernel, and Linux may wake
it on the CPU the calling thread runs on, even with the other CPU idle. The
two then take turns on one CPU for as long as the calls keep coming: each is
always busy, computing or spinning at the end of a region, so the load
balancer takes both for cache-hot and moves neither. Measured on the 2-vCPU
development VM (Linux 6.18, 2026-12-04): a 128^3 ``matmul`` took 140 us per
call instead of 27, for seconds on end, both threads waiting half of the time
on the run queue (/proc/self/task/*/schedstat) on one CPU (/proc/self/task/*/stat)
with the other idle. Moving the calling thread to the idle CPU did not help:
at the next kernel the worker was woken onto its new CPU. This was the "slow
mode" of the bench's 2-thread rows (README "Fast and slow modes on this VM").

What. :func:`maybe_check` runs before a parallel kernel (fastnn/_tuning.py
``n_chunks``), on the main Python thread: whenever that thread is on another
CPU than at the last check (read with ``rdtscp``, ~50 ns), and otherwise at
most every ``CHECK_INTERVAL_S``. (With the interval alone, a calling thread
that the scheduler had moved onto its worker's CPU, as it may after a sleep,
ran in the slow mode until the next check: 128^3 matmuls at 130 us instead of
25 us for up to 50 ms.) :func:`check` starts one parallel region in which
every thread reads its thread id and CPU (kernels/threads.py), then restricts each worker to the
calling thread's CPU set minus the CPU it is on (``os.sched_setaffinity`` on
the worker's thread id; a worker on that CPU is migrated at once). Workers
keep every other allowed CPU, and the scheduler places them freely among
those; the calling thread is never restricted, and when it moves to another
CPU the next check follows it. Only threads that ran an iteration of the
probe region (Numba's pool) are touched.

Where. Linux on x86-64 with the ``rdtscp`` instruction, Numba's ``omp`` or
``tbb`` threading layer (the ``workqueue`` layer runs no iterations on the
calling thread), and at least as many CPUs allowed as fastnn runs threads
(with more threads than CPUs the workers keep every CPU). Elsewhere, or
with ``FASTNN_THREAD_PLACEMENT=0`` in the environment, nothing here runs. If
``sched_setaffinity`` fails (a container that forbids it), the check turns
itself off for the process.
"""
import os
import platform
import sys
import threading
import time
import warnings

import numpy as np

from .kernels import threads as _threads

#: Seconds between two checks while the calling thread stays on one CPU (the
#: cost of one: a parallel region, ~5 us).
CHECK_INTERVAL_S = 0.05
#: How many times :func:`check` changed a worker's CPU set (for tests and diagnostics).
moves = 0

_last = 0.0
_checked_cpu = -1  # the calling thread's CPU at the last check
_applied = {}  # worker thread id -> the CPU set check() gave it


def _supported():
    if os.environ.get("FASTNN_THREAD_PLACEMENT", "1") == "0":
        return False
    if not sys.platform.startswith("linux") or platform.machine() not in ("x86_64", "AMD64"):
        return False
    if not hasattr(os, "sched_setaffinity"):
        return False
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return "rdtscp" in line.split()
    except OSError:
        pass
    return False


#: False where the check cannot run (see the module docstring); tests may set it.
enabled = _supported()


def maybe_check():
    """:func:`check`, when enabled, on the main thread: when that thread has changed
    CPU since the last check, else at most every ``CHECK_INTERVAL_S``.

    Placement only ever affects speed: should the check fail in an unforeseen way
    (the probe kernel not compiling on some system, say), it warns once and turns
    itself off instead of failing the op that called it.
    """
    global _last, enabled
    if not enabled:
        return
    if threading.current_thread() is not threading.main_thread():
        return
    now = time.perf_counter()
    try:
        if now - _last < CHECK_INTERVAL_S and _threads.current_cpu() == _checked_cpu:
            return
        _last = now
        check()
    except Exception as exc:  # any failure: see the docstring
        enabled = False
        warnings.warn(f"fastnn: worker thread placement turned off after an error: {exc!r}",
                      RuntimeWarning, stacklevel=2)


def thread_cpus():
    """((thread id, CPU) of the calling thread, [(thread id, CPU) per iteration of one region]).

    The region has ``numba.get_num_threads()`` iterations, one per pool thread
    (the calling thread runs one of them).
    """
    from numba import get_num_threads

    out = np.empty((get_num_threads() + 1, 2), dtype=np.int64)
    _threads.thread_cpus(out)
    return (int(out[0, 0]), int(out[0, 1])), [(int(t), int(c)) for t, c in out[1:]]


def check():
    """Restrict every pool worker to the calling thread's CPUs but its current one.

    Returns the number of workers whose CPU set changed.
    """
    global enabled, moves, _checked_cpu
    import numba
    (me, mine), pool = thread_cpus()
    _checked_cpu = mine
    if numba.threading_layer() not in ("omp", "tbb"):
        enabled = False
        return 0
    allowed = os.sched_getaffinity(0)
    if mine not in allowed:
        return 0
    # With more threads than CPUs the scheduler has to share CPUs anyway: keeping
    # every worker off one of them would leave the others more crowded (and a
    # set must not be empty). Workers then get the whole set back.
    if len(pool) <= len(allowed) and len(allowed) >= 2:
        target = frozenset(allowed - {mine})
    else:
        target = frozenset(allowed)
    changed = 0
    for tid in {t for t, _ in pool if t != me}:
        if _applied.get(tid) == target:
            continue
        try:
            os.sched_setaffinity(tid, target)
        except OSError:  # not permitted here, or the thread has exited
            enabled = False
            return changed
        _applied[tid] = target
        changed += 1
    moves += changed
    return changed
