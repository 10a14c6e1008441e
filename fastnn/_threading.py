"""Which Numba threading layer runs fastnn's parallel kernels, chosen so that
calling fastnn from several Python threads at once is safe.

Numba has three layers (https://numba.readthedocs.io/en/stable/user/threading-layer.html):

* ``omp`` (OpenMP) and ``tbb`` are thread-safe: parallel kernels may be
  launched from several Python threads at the same time;
* ``workqueue`` is not: a second concurrent launch aborts the whole process
  ("Numba workqueue threading layer is terminating: Concurrent access has been
  detected"), which no try/except can catch.

:func:`configure` runs once, when Numba is first imported by fastnn
(fastnn/_numba.py), before any kernel is launched:

1. If the user chose a layer (the NUMBA_THREADING_LAYER environment variable,
   or ``numba.config.THREADING_LAYER`` set before importing fastnn), it is
   respected.
2. Otherwise fastnn asks Numba for ``'threadsafe'`` (tbb if installed, else
   omp) when one of them can be loaded, which is the same layer Numba's
   default order would pick, but never silently the workqueue.
3. If the layer is, or will be, the workqueue (chosen by the user, or nothing
   else loads), fastnn warns once and serialises its public ops
   (fastnn.functional) with one process-wide lock, so concurrent calls wait
   for each other instead of aborting.
"""
import functools
import importlib
import threading
import warnings

import numba

#: The layer fastnn asked for or found ('threadsafe', 'omp', 'tbb', 'workqueue', ...)
requested_layer = None
#: True when fastnn.functional's ops are serialised by a lock (workqueue layer).
serialised = False


def _threadsafe_layer_available():
    """True if Numba can load the omp or tbb threading layer here."""
    try:
        importlib.import_module("numba.np.ufunc.omppool")
        return True
    except ImportError:
        pass
    try:
        from numba.np.ufunc import parallel
        parallel._check_tbb_version_compatible()  # what Numba itself checks before tbb
        importlib.import_module("numba.np.ufunc.tbbpool")
        return True
    except Exception:  # ImportError, or an incompatible TBB
        return False


def _launched_layer():
    """The layer Numba already launched (before fastnn was imported), or None."""
    from numba.np.ufunc import parallel
    return numba.threading_layer() if parallel._is_initialized else None


def configure():
    """Choose the threading layer (see the module docstring). Returns its name."""
    global requested_layer
    layer = _launched_layer()
    if layer is None:
        layer = str(numba.config.THREADING_LAYER).lower()
        if layer == "default":
            if _threadsafe_layer_available():
                layer = numba.config.THREADING_LAYER = "threadsafe"
            else:
                layer = "workqueue"  # what Numba's default falls back to
    requested_layer = layer
    if layer == "workqueue":
        warnings.warn(
            "fastnn: Numba's threading layer is 'workqueue', which aborts the process when "
            "parallel kernels run from several Python threads at once; fastnn serialises its "
            "ops with a lock. Install tbb or OpenMP (or unset NUMBA_THREADING_LAYER) for "
            "concurrent calls.", RuntimeWarning, stacklevel=3)
    return layer


def _locked(fn, lock):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with lock:
            return fn(*args, **kwargs)
    wrapper._fastnn_serialised = True
    return wrapper


_lock = threading.RLock()  # re-entrant: an op may call another public op


def serialise_if_needed(module):
    """Serialise ``module``'s public ops (see :func:`serialise`) if the layer is the workqueue.

    fastnn.functional calls this at the end of its import: :func:`configure`
    runs while it is being imported, before its functions exist."""
    if requested_layer == "workqueue":
        serialise(module)


def serialise(module):
    """Wrap every public function of ``module`` (its __all__) in one process-wide lock."""
    global serialised
    for name in module.__all__:
        fn = getattr(module, name)
        if callable(fn) and not getattr(fn, "_fastnn_serialised", False):
            setattr(module, name, _locked(fn, _lock))
    serialised = True
