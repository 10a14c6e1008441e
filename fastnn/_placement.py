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

What. Before a parallel kernel (fastnn/_tuning.py ``n_chunks``), on the main
Python thread, :func:`maybe_check` keeps every pool worker restricted to the
calling thread's CPU set minus the CPU the calling thread is on
(``os.sched_setaffinity`` on the worker's thread id; a worker on that CPU is
migrated at once, a sleeping one is woken elsewhere). The calling thread is
never restricted, and the workers keep every other allowed CPU. Two steps:

* a probe (:func:`check`, at most every ``PROBE_INTERVAL_S`` or when more
  threads are asked for than it saw): one parallel region in which every
  thread reads its thread id and CPU (kernels/threads.py), which tells the
  pool's worker ids; only threads that ran an iteration of it are touched;
* in between, before every parallel kernel, the calling thread's CPU is read
  with ``rdtscp`` (~50 ns), and when it has changed the known workers are
  restricted again at once (:func:`restrict`, a system call per worker).

With a probe every 50 ms and no per-call test (the first version), a calling
thread that the scheduler had moved onto its worker's CPU, as it often is
after a sleep, ran in the slow mode until the next probe: half of the 128^3
matmul samples after idle waits took 130 us a call instead of 25-45.

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

#: Seconds between two probes of the pool (one parallel region in which every
#: thread reads its id and CPU, ~5 us when the workers are awake). A probe finds
#: the pool's threads and restricts them; in between, a move of the calling
#: thread is followed without a probe (see :func:`maybe_check`).
PROBE_INTERVAL_S = 1.0
#: How many times a worker's CPU set was changed (for tests and diagnostics).
moves = 0

_last = 0.0          # perf_counter() of the last probe
_checked_cpu = -1    # the calling thread's CPU when the workers were last restricted
_workers = ()        # the pool's thread ids from the last probe, the calling thread's excluded
_pool_size = 0       # pool threads the last probe saw (the calling thread included)
_applied = {}        # worker thread id -> the CPU set it was given


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


def maybe_check(threads=0):
    """Keep the pool's workers off the calling thread's CPU; call before a parallel kernel
    that runs ``threads`` threads. Does nothing unless enabled and on the main thread.

    * Every ``PROBE_INTERVAL_S``, or when ``threads`` is more than the last probe
      saw (a larger team may bring new threads): :func:`check`, a probe region.
    * Otherwise, when the calling thread is on another CPU than when the workers
      were last restricted (``rdtscp``, ~50 ns): the known workers are restricted
      again at once, with no parallel region (:func:`restrict`).

    Why not probe every time the caller moves: after an idle pause the calling
    thread often wakes on its worker's CPU, and a probe there first wakes the
    worker on the wrong CPU, then migrates it, and the kernel's own region wakes
    it a second time: the first 128^3 matmul after a 0.1 s sleep took 730 us,
    against ~400 us when the sleeping worker's CPU set is changed before it is woken.

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
        if now - _last >= PROBE_INTERVAL_S or threads > _pool_size:
            _last = now
            check()
        else:
            cpu = _threads.current_cpu()
            if cpu != _checked_cpu:
                restrict(cpu)
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
    """Probe the pool and restrict every worker to the calling thread's CPUs but its current one.

    Returns the number of workers whose CPU set changed.
    """
    global enabled, _workers, _pool_size
    import numba
    (me, mine), pool = thread_cpus()
    if numba.threading_layer() not in ("omp", "tbb"):
        enabled = False
        return 0
    _workers = tuple(sorted({t for t, _ in pool if t != me}))
    _pool_size = len(pool)
    return restrict(mine)


def restrict(mine):
    """Restrict the workers the last probe found to the calling thread's CPUs but ``mine``.

    Returns the number of workers whose CPU set changed. A worker that has
    exited is dropped (the next maybe_check probes again); any other refusal
    turns placement off.
    """
    global enabled, moves, _checked_cpu, _last
    _checked_cpu = mine
    allowed = os.sched_getaffinity(0)
    if mine not in allowed:
        return 0
    # With more threads than CPUs the scheduler has to share CPUs anyway: keeping
    # every worker off one of them would leave the others more crowded (and a
    # set must not be empty). Workers then get the whole set back.
    if _pool_size <= len(allowed) and len(allowed) >= 2:
        target = frozenset(allowed - {mine})
    else:
        target = frozenset(allowed)
    changed = 0
    for tid in _workers:
        if _applied.get(tid) == target:
            continue
        try:
            os.sched_setaffinity(tid, target)
        except ProcessLookupError:  # the thread has exited: find the pool again
            _last = 0.0
            continue
        except OSError:  # not permitted here
            enabled = False
            break
        _applied[tid] = target
        changed += 1
    moves += changed
    return changed
