"""fastnn/_workspace.py: per-thread scratch buffers, their bound and its environment variable."""
import threading

import numpy as np
import pytest

from fastnn import _workspace


def test_slots_are_reused_and_grow_to_the_largest_request(monkeypatch):
    monkeypatch.setattr(_workspace._local, "buffers", {}, raising=False)
    a = _workspace.workspace("t_slot", (10, 10), np.float32)
    b = _workspace.workspace("t_slot", (5,), np.float32)
    assert b.base is a.base and b.shape == (5,)
    c = _workspace.workspace("t_slot", (20, 10), np.float32)
    assert c.base is not a.base and c.flags.c_contiguous
    assert _workspace.workspace("t_slot", (3, 3), np.float64).base is not c.base  # per dtype


def test_the_bound_drops_the_other_buffers_and_serves_huge_requests_fresh(monkeypatch):
    monkeypatch.setattr(_workspace._local, "buffers", {}, raising=False)
    monkeypatch.setattr(_workspace, "WORKSPACE_CACHE_BYTES", 1000 * 4)
    _workspace.workspace("t_a", (600,), np.float32)
    _workspace.workspace("t_b", (300,), np.float32)
    assert set(k for k, _ in _workspace._local.buffers) == {"t_a", "t_b"}
    _workspace.workspace("t_c", (500,), np.float32)   # 1,400 elements > 1,000: drop the rest
    assert set(k for k, _ in _workspace._local.buffers) == {"t_c"}
    huge = _workspace.workspace("t_d", (2000,), np.float32)
    assert huge.shape == (2000,) and ("t_d", np.dtype(np.float32)) not in _workspace._local.buffers


def test_each_python_thread_has_its_own_buffers():
    seen = []
    worker = threading.Thread(target=lambda: seen.append(_workspace.workspace("t_thr", (8,), np.float32)))
    worker.start()
    worker.join()
    mine = _workspace.workspace("t_thr", (8,), np.float32)
    assert not np.shares_memory(mine, seen[0])


@pytest.mark.parametrize("text,expected", [(None, 256 * 2**20), ("0", 0), ("512", 512 * 2**20),
                                           ("1.5", int(1.5 * 2**20))])
def test_bound_from_the_environment(monkeypatch, text, expected):
    if text is None:
        monkeypatch.delenv("FASTNN_WORKSPACE_MB", raising=False)
    else:
        monkeypatch.setenv("FASTNN_WORKSPACE_MB", text)
    assert _workspace._cache_bytes_from_environment() == expected


@pytest.mark.parametrize("text", ["lots", "-1", "nan"])
def test_a_bad_bound_warns_and_keeps_the_default(monkeypatch, text):
    monkeypatch.setenv("FASTNN_WORKSPACE_MB", text)
    with pytest.warns(RuntimeWarning, match="FASTNN_WORKSPACE_MB"):
        assert _workspace._cache_bytes_from_environment() == 256 * 2**20
