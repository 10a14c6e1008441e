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


def test_maybe_check_is_throttled_and_main_thread_only(monkeypatch):
    calls = []
    cpu = [0]
    monkeypatch.setattr(P, "check", lambda: calls.append(1))
    monkeypatch.setattr(P._threads, "current_cpu", lambda: cpu[0])
    monkeypatch.setattr(P, "_checked_cpu", 0)
    monkeypatch.setattr(P, "enabled", True)
    monkeypatch.setattr(P, "_last", 0.0)
    P.maybe_check()
    P.maybe_check()  # within CHECK_INTERVAL_S of the first, on the same CPU
    assert calls == [1]
    cpu[0] = 1       # the calling thread moved: checked again at once
    P.maybe_check()
    assert calls == [1, 1]
    monkeypatch.setattr(P, "_checked_cpu", 1)
    P.maybe_check()
    assert calls == [1, 1]
    calls.clear()
    monkeypatch.setattr(P, "_last", 0.0)
    worker = threading.Thread(target=P.maybe_check)
    worker.start()
    worker.join()
    assert calls == []
    monkeypatch.setattr(P, "enabled", False)
    monkeypatch.setattr(P, "_last", 0.0)
    P.maybe_check()
    assert calls == []


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
