"""Numba, imported when the first kernel is needed, not by ``import fastnn``.

Importing Numba takes 0.3-0.4 s (llvmlite alone ~0.3 s), several times
``import numpy``. So ``import fastnn`` does not: the layers, the model
containers, the optimizers and the NumPy reference backend never need it.
The modules that call kernels (fastnn.functional's family modules, through
fastnn/_tuning.py, and fastnn._backend's thread-count functions) import this
module first, which imports Numba and chooses its threading layer
(fastnn/_threading.py) before any kernel is launched.
"""
import numba

from . import _threading

_threading.configure()

set_num_threads = numba.set_num_threads

try:   # Numba's internals, checked once here; without them, the public function below
    from numba.np.ufunc import parallel as _parallel
    _parallel._is_initialized, _parallel._launch_threads
except (ImportError, AttributeError):
    _parallel = None


def get_num_threads():
    """numba.get_num_threads (the calling thread's count), without taking its two
    locks once the thread pool has started.

    Every parallel kernel call asks for the count (fastnn/_tuning.py n_chunks):
    the public function, which first makes sure the pool is launched under a
    process lock and a thread lock, took 1.38 us a call; the threading layer's
    own getter, once ``_is_initialized`` says the pool runs, ~0.2 us. LeNet-5's
    training step asks ~20 times.
    """
    global _parallel
    if _parallel is not None and _parallel._is_initialized:
        try:
            threads = _parallel._get_num_threads()
        except (AttributeError, TypeError):   # internals changed: the public function from now on
            _parallel = None
        else:
            if threads > 0:
                return threads
    return numba.get_num_threads()
