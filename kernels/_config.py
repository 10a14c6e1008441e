"""Compilation settings shared by every kernel module.

Kept in one place so the floating-point contract of the library is visible at a
glance and changed deliberately.
"""

# LLVM fast-math flags for kernels whose results may be re-associated: GEMM,
# convolution, reductions. Chosen one by one rather than ``fastmath=True``:
#   reassoc  lets LLVM reorder sums, which is what vectorises a reduction loop
#            (results then differ from a left-to-right sum by rounding only);
#   contract fuses a*b+c into one FMA instruction;
#   nsz      ignores the sign of zero;
#   arcp     allows x / y -> x * (1 / y);
#   afn      allows approximate library functions.
# Left out on purpose: ``nnan`` and ``ninf``. With them LLVM may assume no NaN
# or inf ever occurs and delete NaN checks (max-pool's NaN propagation, for
# one), so a NaN input could silently turn into a finite wrong answer.
FASTMATH = {"reassoc", "contract", "nsz", "arcp", "afn"}

# On-disk caching of compiled kernels: every kernel is decorated with
# ``@njit(cache=CACHE, ...)``. Numba picks the cache directory when a cache=True
# function is *decorated* (at import): NUMBA_CACHE_DIR if set, else __pycache__
# next to the source, else the user-wide directory (~/.cache/numba); if none of
# them is writable it raises RuntimeError and the import fails. So:
#   FASTNN_NO_CACHE=1  turns caching off (nothing is written anywhere; kernels
#                      are compiled in every process). Read once, here, before
#                      any kernel module is imported.
#   otherwise          caching is on, and one probe below (a trivial function
#                      decorated from this directory, so it meets the same
#                      locator search as the kernels) checks that Numba found
#                      somewhere to write; if not, caching is turned off with a
#                      warning instead of failing the import.
import os
import warnings

from numba import njit


def _probe():  # pragma: no cover - never called, only decorated
    return 0


def _cache_enabled():
    if os.environ.get("FASTNN_NO_CACHE", "").strip() not in ("", "0"):
        return False
    try:
        njit(cache=True)(_probe)
    except RuntimeError as exc:
        warnings.warn(f"fastnn: kernels will not be cached on disk ({exc}); set NUMBA_CACHE_DIR "
                      "to a writable directory, or FASTNN_NO_CACHE=1 to silence this warning",
                      RuntimeWarning, stacklevel=2)
        return False
    return True


CACHE = _cache_enabled()

# Flags for the vectorised math functions (kernels/mathfun.py) and the
# elementwise kernels that inline them. Only ``contract`` (a*b+c -> FMA, which
# makes polynomial evaluation slightly more accurate): ``reassoc`` would let
# LLVM regroup the Cody-Waite range reduction and the polynomials and cost
# ulps, ``afn``/``arcp`` would allow approximate division. No ``nnan``/``ninf``:
# exp/sigmoid/tanh handle NaN and inf through ordinary comparisons.
MATHFUN_FASTMATH = {"contract"}
