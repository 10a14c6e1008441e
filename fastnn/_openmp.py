"""OpenMP wait policy for fastnn's parallel kernels (set once, when fastnn is imported).

Numba's default threading layer on Linux is OpenMP (GNU libgomp). After each
parallel region libgomp's worker threads busy-wait (about 300,000 spins, a few
milliseconds) for the next one. Two things then go wrong, both measured on the
2-core development machine (README, "Threading"):

* a NumPy BLAS call (OpenBLAS, its own thread pool) right after a fastnn kernel
  finds the cores taken by spinning OpenMP threads: ``fastnn.relu`` on 1M
  floats followed by ``np.dot`` of 256x256 matrices took 8.5 ms per pair
  instead of 0.34 ms (25x);
* when other processes share the cores, every small kernel pays for threads
  spinning instead of working: the digits demo's epoch took 1.6-12.9 s instead
  of 0.25-0.32 s.

So fastnn bounds the spinning instead: ``GOMP_SPINCOUNT=3000`` (``SPIN_COUNT``)
makes an idle worker spin about 0.1 ms (3000 ``pause`` loops; ~40 ns each on
recent Intel cores, less on AMD) and then sleep. Back-to-back kernels of one
training step find their threads awake; a BLAS call or another process gets
the cores back 0.1 ms later instead of a few milliseconds later.

An earlier version set ``OMP_WAIT_POLICY=PASSIVE`` (sleep at once). That cost
~10 us of wake-up per parallel kernel call on the Zen 3 development machine,
but on the Sapphire Rapids VM that replaced it a parallel call doing 1 us of
work took 35-40 us passive and 8-10 us with the bounded spin (in a loop with
up to 50 us of Python work between calls), and fastnn.relu on 1M floats took
941 us instead of 362 us (README, "Threading").

libgomp reads the variable once, when it is loaded, which Numba does at the
first parallel kernel call; so fastnn sets it at import time, and only if the
user set none of OMP_WAIT_POLICY, GOMP_SPINCOUNT, KMP_BLOCKTIME.
``OMP_WAIT_POLICY=PASSIVE`` (sleep at once: the most polite, for machines
crowded with other jobs) or ``ACTIVE`` (spin until the next region: lowest
latency when nothing else runs) before importing fastnn overrides it. It has no
effect when an OpenMP runtime was already loaded by a parallel Numba kernel
before fastnn was imported.
"""
import os
from contextlib import contextmanager

USER_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
# Busy-wait loops before an idle libgomp worker sleeps (libgomp's default: 300,000).
SPIN_COUNT = "3000"
_set_by_fastnn = False


def use_bounded_spin():
    """Set GOMP_SPINCOUNT=SPIN_COUNT unless the user chose a wait policy; True if fastnn set it."""
    global _set_by_fastnn
    if not any(name in os.environ for name in USER_VARIABLES):
        os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT
        _set_by_fastnn = True
    return _set_by_fastnn


def describe():
    """One line: the wait policy in force and who chose it."""
    if _set_by_fastnn:
        return f"GOMP_SPINCOUNT={SPIN_COUNT} (set by fastnn at import)"
    chosen = [f"{n}={os.environ[n]}" for n in USER_VARIABLES if n in os.environ]
    return (", ".join(chosen) + " (set by the user)") if chosen else "OpenMP default (spinning)"


def user_environ():
    """A copy of os.environ without fastnn's GOMP_SPINCOUNT (for child processes)."""
    env = dict(os.environ)
    if _set_by_fastnn and env.get("GOMP_SPINCOUNT") == SPIN_COUNT:
        del env["GOMP_SPINCOUNT"]
    return env


@contextmanager
def user_environment():
    """Temporarily undo fastnn's GOMP_SPINCOUNT, e.g. while another library loads its OpenMP."""
    if not _set_by_fastnn or os.environ.get("GOMP_SPINCOUNT") != SPIN_COUNT:
        yield
        return
    del os.environ["GOMP_SPINCOUNT"]
    try:
        yield
    finally:
        os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT
