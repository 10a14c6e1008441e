"""Reusable scratch buffers for the hot paths (im2col columns, packed inputs, ...).

glibc serves every allocation above ~128 KiB with a fresh mmap, so a kernel that
allocates a multi-MB workspace per call pays a page fault per 4 KiB page each
time (measured: torch's 7x7 stem conv went from 103 to 305 GFLOP/s when memory
was reused). ``workspace(slot, shape, dtype)`` hands out a view of a cached
buffer instead.

* The cache is per Python thread (``threading.local``), so two threads running
  convolutions at the same time never share scratch memory.
* A buffer is keyed by (slot, dtype): one call that needs several scratch arrays
  at once asks for different slots. A slot's buffer grows to the largest size
  asked for and is then reused for every smaller request.
* Bounded: at most ``WORKSPACE_CACHE_BYTES`` per thread are kept. A request
  larger than that is served by a fresh ``np.empty`` (and not kept); growing a
  slot past the bound first drops the other cached buffers.
* Workspaces are scratch: their content is garbage on entry and they must never
  be returned to the caller (outputs are always fresh arrays).
"""
import threading

import numpy as np

WORKSPACE_CACHE_BYTES = 64 * 2**20

_local = threading.local()


def workspace(slot, shape, dtype):
    """An uninitialised C-contiguous array of ``shape`` and ``dtype`` from the cache."""
    dtype = np.dtype(dtype)
    size = 1
    for s in shape:
        size *= int(s)
    nbytes = size * dtype.itemsize
    if nbytes > WORKSPACE_CACHE_BYTES:
        return np.empty(shape, dtype)
    cache = getattr(_local, "buffers", None)
    if cache is None:
        cache = _local.buffers = {}
    key = (slot, dtype)
    buf = cache.get(key)
    if buf is None or buf.size < size:
        cache.pop(key, None)
        if sum(b.nbytes for b in cache.values()) + nbytes > WORKSPACE_CACHE_BYTES:
            cache.clear()
        buf = cache[key] = np.empty(size, dtype)
    return buf[:size].reshape(shape)


def clear():
    """Drop this thread's cached buffers (their memory returns to the system)."""
    getattr(_local, "buffers", {}).clear()
