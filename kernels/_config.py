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

# Flags for the vectorised math functions (kernels/mathfun.py) and the
# elementwise kernels that inline them. Only ``contract`` (a*b+c -> FMA, which
# makes polynomial evaluation slightly more accurate): ``reassoc`` would let
# LLVM regroup the Cody-Waite range reduction and the polynomials and cost
# ulps, ``afn``/``arcp`` would allow approximate division. No ``nnan``/``ninf``:
# exp/sigmoid/tanh handle NaN and inf through ordinary comparisons.
MATHFUN_FASTMATH = {"contract"}
