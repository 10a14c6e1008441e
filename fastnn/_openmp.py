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

``OMP_WAIT_POLICY=PASSIVE`` makes idle OpenMP threads sleep at once. It costs
about 10 us of wake-up per parallel kernel call on an idle machine. libgomp
reads the variable once, when it is loaded, which Numba does at the first
parallel kernel call; so fastnn sets it at import time, and only if the user set
none of OMP_WAIT_POLICY, GOMP_SPINCOUNT, KMP_BLOCKTIME. To keep spinning (lowest
latency for many tiny kernels and no BLAS in between), set OMP_WAIT_POLICY=ACTIVE
before importing fastnn. It has no effect when an OpenMP runtime was already
loaded by a parallel Numba kernel before fastnn was imported.
"""
import os
from contextlib import contextmanager

USER_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
_set_by_fastnn = False


def use_passive_wait_policy():
    """Set OMP_WAIT_POLICY=PASSIVE unless the user chose a wait policy; True if fastnn set it."""
    global _set_by_fastnn
    if not any(name in os.environ for name in USER_VARIABLES):
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        _set_by_fastnn = True
    return _set_by_fastnn


def describe():
    """One line: the wait policy in force and who chose it."""
    if _set_by_fastnn:
        return "OMP_WAIT_POLICY=PASSIVE (set by fastnn at import)"
    chosen = [f"{n}={os.environ[n]}" for n in USER_VARIABLES if n in os.environ]
    return (", ".join(chosen) + " (set by the user)") if chosen else "OpenMP default (spinning)"


def user_environ():
    """A copy of os.environ without fastnn's OMP_WAIT_POLICY (for child processes)."""
    env = dict(os.environ)
    if _set_by_fastnn and env.get("OMP_WAIT_POLICY") == "PASSIVE":
        del env["OMP_WAIT_POLICY"]
    return env


@contextmanager
def user_environment():
    """Temporarily undo fastnn's OMP_WAIT_POLICY, e.g. while another library loads its OpenMP."""
    if not _set_by_fastnn or os.environ.get("OMP_WAIT_POLICY") != "PASSIVE":
        yield
        return
    del os.environ["OMP_WAIT_POLICY"]
    try:
        yield
    finally:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
