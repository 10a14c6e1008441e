"""Which implementation the layer classes call, and how many threads kernels use.

The backend is a process-wide setting: ``'numba'`` (fastnn.functional, the
compiled kernels; the default) or ``'numpy'`` (fastnn.reference, plain NumPy).
Both expose the same functions, so a model runs unchanged on either.
"""
from contextlib import contextmanager

import numpy as np

BACKENDS = ("numba", "numpy")
_current = "numba"


def set_backend(name):
    """Make the layer classes use ``name``: 'numba' (compiled kernels) or 'numpy' (reference).

    Raises ValueError for any other name. The setting is process-wide.
    """
    global _current
    if name not in BACKENDS:
        raise ValueError(f"set_backend(): name must be one of {BACKENDS}, got {name!r}")
    _current = name


def get_backend():
    """The name of the current backend, 'numba' or 'numpy'."""
    return _current


@contextmanager
def backend(name):
    """Context manager: ``with fastnn.backend('numpy'): ...`` switches, then restores."""
    previous = _current
    set_backend(name)
    try:
        yield
    finally:
        set_backend(previous)


# The two modules, imported on first use (importing fastnn.functional imports Numba). Every
# layer call asks for one: a dict lookup is ~0.1 us, a function-level import ~1.5 us.
_modules = {}


def ops():
    """The module implementing the current backend's ops (same functions in both)."""
    module = _modules.get(_current)
    if module is None:
        if _current == "numba":
            from . import functional as module
        else:
            from . import reference as module
        _modules[_current] = module
    return module


def set_num_threads(n):
    """Use ``n`` threads in the parallel kernels (1 <= n <= NUMBA_NUM_THREADS).

    The upper bound is fixed when Numba starts: the NUMBA_NUM_THREADS
    environment variable, by default the number of CPU cores. Raises ValueError
    outside that range, TypeError for a non-integer. As in Numba, the setting
    applies to the calling Python thread; other threads keep NUMBA_NUM_THREADS
    until they call it themselves.
    """
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"set_num_threads(): n must be an int, got {n!r}")
    n = int(n)
    from . import _numba  # imports Numba on first use (fastnn/_numba.py)
    limit = _numba.numba.config.NUMBA_NUM_THREADS
    if not 1 <= n <= limit:
        raise ValueError(f"set_num_threads(): n must be in [1, {limit}] (NUMBA_NUM_THREADS), "
                         f"got {n}")
    _numba.set_num_threads(n)


def get_num_threads():
    """The number of threads the parallel kernels use."""
    from . import _numba
    return _numba.get_num_threads()
