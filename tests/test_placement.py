"""fastnn/_placement.py: pool workers kept off the calling thread's CPU."""
import os
import subprocess
import sys
import threading

import numba
import pytest

from fastnn import _placement as P

needs_placement = pytest.mark.skipif(not P._supported(), reason="x86-64 Linux with rdtscp only")


@needs_placement
def test_thread_cpus_reports_thread_ids_and_cpus():
    allowed = os.sched_getaffinity(0)
    cpu = min(allowed)
    os.sched_setaffinity(0, {cpu})  # the calling thread can only be on this CPU
    try:
        (me, mine), pool = P.thread_cpus()
        now = P._threads.current_cpu()
    finally:
        os.sched_setaffinity(0, allowed)
    assert now == cpu
    assert (me, mine) == (threading.get_native_id(), cpu)
    assert len(pool) == numba.get_num_threads()
    tasks = {int(t) for t in os.listdir("/proc/self/task")}
    for tid, c in pool:
        assert tid in tasks and c in allowed
        if tid == me:
            assert c == cpu


@needs_placement
def test_check_restricts_workers_to_the_other_cpus():
    if numba.threading_layer() not in ("omp", "tbb"):
        pytest.skip("placement runs with the omp and tbb layers only")
    allowed = os.sched_getaffinity(0)
    if len(allowed) < 2 or numba.get_num_threads() < 2 or numba.get_num_threads() > len(allowed):
        pytest.skip("needs 2 or more threads and at least as many CPUs")
    P._applied.clear()
    try:
        P.check()
        (me, mine), pool = P.thread_cpus()
        workers = {t for t, _ in pool if t != me}
        assert workers
        for tid in workers:
            # The set check() applied: every allowed CPU but the one the caller was on then.
            assert os.sched_getaffinity(tid) == P._applied[tid]
            assert len(allowed - P._applied[tid]) == 1 and P._applied[tid] < allowed
        if all(os.sched_getaffinity(t) == allowed - {mine} for t in workers):
            # The caller has not moved since: no worker shares its CPU.
            assert all(c != mine for t, c in pool if t != me)
    finally:
        for tid in P._applied:
            try:
                os.sched_setaffinity(tid, allowed)
            except OSError:
                pass
        P._applied.clear()


class _Fake:
    """thread_cpus() results and sched_*affinity calls, without touching real threads."""

    def __init__(self, monkeypatch, cpus=(0, 1)):
        self.allowed = set(cpus)
        self.calls = []
        self.probe = None
        monkeypatch.setattr(P, "thread_cpus", lambda: self.probe)
        monkeypatch.setattr(P, "_applied", {})
        monkeypatch.setattr(P, "_checked_cpu", -1)
        monkeypatch.setattr(P, "_workers", ())
        monkeypatch.setattr(P, "_pool_size", 0)
        monkeypatch.setattr(P, "enabled", True)
        monkeypatch.setattr(numba, "threading_layer", lambda: "omp")
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(self.allowed))
        monkeypatch.setattr(os, "sched_setaffinity",
                            lambda pid, cpus: self.calls.append((pid, set(cpus))))


def test_check_follows_the_calling_thread(monkeypatch):
    fake = _Fake(monkeypatch)
    fake.probe = ((10, 1), [(10, 1), (11, 1)])     # worker 11 woken on the caller's CPU
    assert P.check() == 1
    assert fake.calls == [(11, {0})]
    assert P._checked_cpu == 1                     # maybe_check compares the caller's CPU with it
    fake.probe = ((10, 1), [(10, 1), (11, 0)])
    assert P.check() == 0                           # already restricted: no system call
    fake.probe = ((10, 0), [(10, 0), (11, 0)])     # the caller moved to CPU 0
    assert P.check() == 1
    assert fake.calls == [(11, {0}), (11, {1})]


def test_check_gives_workers_every_cpu_when_oversubscribed(monkeypatch):
    fake = _Fake(monkeypatch)
    fake.probe = ((10, 1), [(10, 1), (11, 0), (12, 0)])   # 3 threads, 2 CPUs
    assert P.check() == 2
    assert sorted(fake.calls) == [(11, {0, 1}), (12, {0, 1})]
    fake = _Fake(monkeypatch, cpus=(3,))
    fake.probe = ((10, 3), [(10, 3), (11, 3)])            # one CPU allowed
    P.check()
    assert fake.calls == [(11, {3})]


def test_check_turns_itself_off_when_not_permitted(monkeypatch):
    fake = _Fake(monkeypatch)
    fake.probe = ((10, 1), [(10, 1), (11, 1)])

    def refuse(pid, cpus):
        raise PermissionError(1, "Operation not permitted")
    monkeypatch.setattr(os, "sched_setaffinity", refuse)
    assert P.check() == 0
    assert P.enabled is False
    monkeypatch.setattr(numba, "threading_layer", lambda: "workqueue")
    monkeypatch.setattr(P, "enabled", True)
    assert P.check() == 0 and P.enabled is False


def test_maybe_check_probes_rarely_and_follows_the_caller_at_once(monkeypatch):
    calls = []
    cpu = [0]
    monkeypatch.setattr(P, "check", lambda: calls.append("probe"))
    monkeypatch.setattr(P, "restrict", lambda c: calls.append(("restrict", c)))
    monkeypatch.setattr(P._threads, "current_cpu", lambda: cpu[0])
    monkeypatch.setattr(P, "_checked_cpu", 0)
    monkeypatch.setattr(P, "_pool_size", 2)
    monkeypatch.setattr(P, "enabled", True)
    monkeypatch.setattr(P, "_last", 0.0)
    P.maybe_check(2)
    P.maybe_check(2)  # within PROBE_INTERVAL_S of the probe, on the same CPU: nothing
    assert calls == ["probe"]
    cpu[0] = 1        # the calling thread moved: the known workers follow, no probe
    P.maybe_check(2)
    assert calls == ["probe", ("restrict", 1)]
    P.maybe_check(4)  # more threads than the probe saw: probe again
    assert calls == ["probe", ("restrict", 1), "probe"]
    calls.clear()
    monkeypatch.setattr(P, "_last", 0.0)
    worker = threading.Thread(target=P.maybe_check, args=(2,))
    worker.start()
    worker.join()
    assert calls == []  # main thread only
    monkeypatch.setattr(P, "enabled", False)
    P.maybe_check(2)
    assert calls == []


def test_restrict_uses_the_known_workers_without_a_probe(monkeypatch):
    fake = _Fake(monkeypatch)
    monkeypatch.setattr(P, "thread_cpus", lambda: pytest.fail("restrict must not probe"))
    monkeypatch.setattr(P, "_workers", (11,))
    monkeypatch.setattr(P, "_pool_size", 2)
    assert P.restrict(0) == 1 and fake.calls == [(11, {1})]
    assert P.restrict(0) == 0                       # unchanged: no system call
    assert P.restrict(1) == 1 and fake.calls[-1] == (11, {0})
    assert P._checked_cpu == 1

    def gone(pid, cpus):
        raise ProcessLookupError(3, "No such process")
    monkeypatch.setattr(os, "sched_setaffinity", gone)
    monkeypatch.setattr(P, "_last", 123.0)
    assert P.restrict(0) == 0
    assert P.enabled and P._last == 0.0             # an exited thread: probe again next time


def test_maybe_check_turns_itself_off_on_an_unexpected_error(monkeypatch):
    def broken():
        raise RuntimeError("probe failed")
    monkeypatch.setattr(P, "check", broken)
    monkeypatch.setattr(P, "enabled", True)
    monkeypatch.setattr(P, "_last", 0.0)
    with pytest.warns(RuntimeWarning, match="placement turned off.*probe failed"):
        P.maybe_check()
    assert P.enabled is False


def test_environment_variable_turns_it_off():
    code = "import fastnn._placement as P; print(P.enabled)"
    env = dict(os.environ, FASTNN_THREAD_PLACEMENT="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("backward", [False, True])
def test_im2col_path_places_workers_before_its_first_kernel(monkeypatch, backward):
    # kernels/im2col.py's kernels take no n_chunks: the im2col forward (unfold first) and
    # backward (axis swap first) place the workers before them, not only at the GEMM.
    import numpy as np
    from fastnn import _conv, _tuning, functional as F
    from fastnn.kernels import im2col
    events = []
    monkeypatch.setattr(_tuning, "get_num_threads", lambda: 2)
    monkeypatch.setattr(P, "maybe_check", lambda threads=0: events.append("check"))
    for name in ("im2col", "swap_nc"):
        kernel = getattr(im2col, name)
        monkeypatch.setattr(_conv._im2col, name,
                            lambda *a, _k=kernel, _n=name: (events.append(_n), _k(*a)))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    if backward:
        go = rng.standard_normal((2, 4, 6, 6)).astype(np.float32)
        F.conv2d_backward(go, x, w, padding=1, algorithm="im2col")
    else:
        F.conv2d(x, w, padding=1, algorithm="im2col")
    assert events[0] == "check" and events[1] == ("swap_nc" if backward else "im2col")
