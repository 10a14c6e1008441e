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

get_num_threads = numba.get_num_threads
set_num_threads = numba.set_num_threads
