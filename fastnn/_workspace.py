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
* Bounded: at most ``WORKSPACE_CACHE_BYTES`` per thread are kept (256 MiB, or
  ``FASTNN_WORKSPACE_MB`` from the environment, read at import). A request
  larger than that is served by a fresh ``np.empty`` (and not kept); growing a
  slot past the bound first drops the other cached buffers. The bound must hold
  a whole training step's slots, or every step re-allocates them: ResNet-18's
  conv layers at batch 8 use 187 MiB of slots (Winograd's transformed weights
  alone 36 MiB), and with the earlier 64 MiB bound a forward + backward pass over
  them dropped the cache 3 times and re-allocated 30-32 buffers, taking 217-234 ms
  against 171-190 ms with none.
* Workspaces are scratch: their content is garbage on entry and they must never
  be returned to the caller (outputs are always fresh arrays).
"""
import os
import threading
import warnings

import numpy as np

DEFAULT_CACHE_MB = 256


def _cache_bytes_from_environment():
    """The per-thread bound in bytes: FASTNN_WORKSPACE_MB (MiB, a number >= 0) or the default."""
    text = os.environ.get("FASTNN_WORKSPACE_MB")
    if text is None:
        return DEFAULT_CACHE_MB * 2**20
    try:
        mib = float(text)
        if not 0 <= mib < 2**40:
            raise ValueError
    except ValueError:
        warnings.warn(f"FASTNN_WORKSPACE_MB={text!r} is not a size in MiB (a number >= 0); "
                      f"using the default {DEFAULT_CACHE_MB}", RuntimeWarning, stacklevel=2)
        return DEFAULT_CACHE_MB * 2**20
    return int(mib * 2**20)


WORKSPACE_CACHE_BYTES = _cache_bytes_from_environment()

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
