"""Vectorisable building blocks for kernels: exp, sigmoid, tanh, maxnum, streaming stores.

Why this file exists: numba's llvmlite has no SVML, so ``np.exp`` / ``math.exp``
/ ``np.tanh`` inside a kernel compile to a call of the scalar C library
function, one element at a time, and the loop around them cannot vectorise
(sigmoid ran at 1.4 GB/s against torch's 3.7 GB/s). The functions here are
written in plain arithmetic, comparisons and a few tiny LLVM intrinsics, so a
loop that calls them is inlined and vectorised by LLVM (8 float32 / 4 float64
lanes with AVX2).

Use from a kernel (float32 or float64 scalars; the precision follows the
argument's type)::

    from .mathfun import exp, sigmoid, tanh, maxnum

``exp``, ``sigmoid`` and ``tanh`` are stubs dispatched with
``numba.extending.overload`` to a float32 or a float64 implementation (own
polynomial, own constants: float64 constants would silently promote float32
arithmetic to float64). They cannot be called from Python; tests wrap them in
small @njit loops.

Accuracy, max error against a 64-bit-mantissa reference (np.longdouble) over
dense sweeps (tests/test_mathfun.py; ~4e6 bit patterns per function and dtype):
float32 exp 0.99, sigmoid 2.2 (x < 0: e / (1 + e) adds two roundings to exp's),
tanh 1.5 ulp; float64 exp 1.41, sigmoid 0.62, tanh 0.67 ulp (float64 sigmoid
and tanh carry exp(r) as a double-double and finish with an error-compensated
division, see below). Special values as NumPy: exp(+inf) = inf, exp(-inf) = 0,
exp(x > 88.73) = inf, exp(x < -103.98) = 0, denormal results rounded once,
exp(NaN) = NaN; sigmoid(+-inf) = 1 / 0, tanh(+-inf) = +-1, tanh(-0.0) = -0.0,
NaN -> NaN.

Fast-math: the implementations are compiled with ``MATHFUN_FASTMATH``
(``contract`` only, see _config.py): FMA contraction makes the polynomials more
accurate, but reassociation would be free to undo the Cody-Waite split
(x - n*C1 - n*C2 computed as x - n*(C1 + C2)) and the error-free sums of the
float64 code ((1 - s) + e -> 0). ``nnan`` / ``ninf`` are never used: the
special-value handling below relies on NaN comparing false. ``exp`` is compiled
as its own function and inlined by LLVM, whose flags are per instruction, so
it keeps them inside a kernel compiled with the reassociating ``FASTMATH``
set. ``sigmoid`` and ``tanh`` (and the float64 helpers) are inlined by Numba
(``inline="always"``: as calls, the float64 loops did not vectorise and ran
~5x slower) and so take the calling kernel's flags: call them only from
kernels compiled with ``MATHFUN_FASTMATH`` or without fastmath.

Caching caveat: numba's on-disk cache of a kernel in another file is not
invalidated when this file changes; clear ``__pycache__`` / NUMBA_CACHE_DIR
after editing it.
"""
import warnings

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.errors import NumbaIRAssumptionWarning
from numba.extending import intrinsic, overload

from ._config import MATHFUN_FASTMATH

_JIT = dict(fastmath=MATHFUN_FASTMATH, error_model="numpy")

# Inlining sigmoid/tanh (inline="always") trips one of Numba's internal
# "pedantic" IR checks at compile time ("variable '_tanh_f32_v19__vphi232_0_2.1'
# is not in scope": a phi variable the inliner renamed). It is harmless (the
# compiled functions are tested value by value, tests/test_mathfun.py) but would
# be printed to users at their first sigmoid/tanh call, so only messages about
# such inlined phi variables are silenced (for every kernel that inlines them:
# activations, losses).
warnings.filterwarnings("ignore", message=r"variable '[^']*__vphi[^']*' is not in scope",
                        category=NumbaIRAssumptionWarning)

# --------------------------------------------------------------------------- intrinsics


@intrinsic
def _exp2_int(typingctx, n):
    """2**n for an integral-valued float n whose 2**n is a normal number.

    Built from bits: the biased exponent (n + 127, or n + 1023 for float64)
    shifted into the exponent field and bit-cast to a float. One integer add,
    one shift, no libm call, so it vectorises (vcvttps2dq, vpaddd, vpslld).
    """
    if n == types.float32:
        ity, bias, shift, fty = ir.IntType(32), 127, 23, ir.FloatType()
    elif n == types.float64:
        ity, bias, shift, fty = ir.IntType(64), 1023, 52, ir.DoubleType()
    else:
        return None

    def codegen(context, builder, signature, args):
        # Convert through int32 even for float64: AVX2 has a packed
        # double -> int32 conversion (vcvttpd2dq) but no double -> int64 one,
        # and without it the vectoriser gives up (exp float64 ran 10x slower).
        k = builder.fptosi(args[0], ir.IntType(32))
        if ity.width == 64:
            k = builder.sext(k, ity)
        bits = builder.shl(builder.add(k, ir.Constant(ity, bias)), ir.Constant(ity, shift))
        return builder.bitcast(bits, fty)

    return n(n), codegen


@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c rounded once (llvm.fma: one vfmadd; vectorises).

    Needed where the rounding error of a product is recovered exactly
    (``_fma(a, b, -(a * b))``): the ``contract`` flag only *allows* fusion, and
    LLVM would fold the two equal products of that expression to 0 instead.
    """
    if not (a == b == c and a in (types.float32, types.float64)):
        return None

    def codegen(context, builder, signature, args):
        lty = args[0].type
        name = "llvm.fma.f32" if a == types.float32 else "llvm.fma.f64"
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(lty, [lty] * 3), name)
        return builder.call(fn, args)

    return a(a, b, c), codegen


@intrinsic
def maxnum(typingctx, a, b):
    """llvm.maxnum(a, b): the larger of two floats of one type; a NaN operand is ignored.

    Why: a loop ``m = max(m, row[j])`` or ``m = v if v > m else m`` does not
    vectorise (the compare-and-select chain is not a recognised reduction
    without ``nnan``); ``llvm.maxnum`` is, so a max pass becomes vmaxps over 8
    lanes (the softmax max pass ran ~6x faster). maxnum(NaN, x) = x, so a
    caller that must propagate NaN handles it (the softmax kernels do: a NaN in
    a row reaches the sum of exponentials and makes the whole row NaN).
    """
    if a != b or a not in (types.float32, types.float64):
        return None

    def codegen(context, builder, signature, args):
        lty = args[0].type
        fnty = ir.FunctionType(lty, [lty, lty])
        name = "llvm.maxnum.f32" if a == types.float32 else "llvm.maxnum.f64"
        fn = cgutils.get_or_insert_function(builder.module, fnty, name)
        return builder.call(fn, args)

    return a(a, b), codegen


STREAM_BYTES = 32  # one AVX2 register: the unit of stream_store


@intrinsic
def stream_store(typingctx, out, i, buf, j):
    """out[i:i+L] = buf[j:j+L] with a non-temporal store, L = 32 bytes / itemsize.

    ``out + i`` must be 32-byte aligned (the caller peels a head loop to get
    there); ``buf`` may be unaligned. Both 1-D C-contiguous arrays of one dtype.

    Why: a normal store to memory that is not in cache first reads the line
    (read-for-ownership), so an elementwise op over arrays larger than the L3
    cache moves 3 bytes per 2 it needs (read x, read out, write out). A
    non-temporal store (vmovntps) writes the line without reading it, as
    memcpy does for large copies: relu on 64 MB went from ~70% to ~100% of
    np.copyto's bandwidth. Only worth it for outputs that will not be read
    again from cache, hence only above a size threshold.
    """
    if not (isinstance(out, types.Array) and isinstance(buf, types.Array)
            and out.dtype == buf.dtype and out.dtype in (types.float32, types.float64)
            and isinstance(i, types.Integer) and isinstance(j, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        out_ty, i_ty, buf_ty, j_ty = signature.args
        elt = context.get_data_type(out_ty.dtype)
        lanes = STREAM_BYTES // (4 if out_ty.dtype == types.float32 else 8)
        vty = ir.VectorType(elt, lanes)
        out_arr = context.make_array(out_ty)(context, builder, args[0])
        buf_arr = context.make_array(buf_ty)(context, builder, args[2])
        i_val = context.cast(builder, args[1], i_ty, types.int64)
        j_val = context.cast(builder, args[3], j_ty, types.int64)
        src = builder.gep(buf_arr.data, [j_val], inbounds=True)
        dst = builder.gep(out_arr.data, [i_val], inbounds=True)
        vec = builder.load(builder.bitcast(src, vty.as_pointer()), align=4, typ=vty)
        st = builder.store(vec, builder.bitcast(dst, vty.as_pointer()), align=STREAM_BYTES)
        st.set_metadata("nontemporal", builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)]))
        return context.get_dummy_value()

    return types.none(out, i, buf, j), codegen


@intrinsic
def address_of(typingctx, arr):
    """The address of arr's first element as an int (for alignment arithmetic).

    ``arr.ctypes.data`` would do in Python, but inside a kernel it makes numba
    refuse to cache the function ("dynamic globals").
    """
    if not isinstance(arr, types.Array):
        return None

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        return builder.ptrtoint(data, ir.IntType(64))

    return types.int64(arr), codegen


@intrinsic
def store_fence(typingctx):
    """sfence: make earlier non-temporal stores visible before later stores.

    Non-temporal stores are weakly ordered; a thread that streamed part of an
    output fences before it reports completion so every thread (and the
    caller) then sees the data.
    """
    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.VoidType(), [])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.sse.sfence")
        builder.call(fn, [])
        return context.get_dummy_value()

    return types.none(), codegen


# --------------------------------------------------------------------------- exp

# Both precisions reduce the argument the Cephes way (S. L. Moshier):
# x = n*ln2 + r, n = round(x * log2(e)), |r| <= ln2/2, with ln2 = C1 + C2 and C1
# short (few significant bits), so n*C1 is exact for every n in range
# (two-step Cody-Waite reduction). Then exp(x) = exp(r) * 2^n1 * 2^n2 with
# n1 = floor(n/2), n2 = n - n1: splitting 2^n into two normal powers of two
# covers results that overflow (n = 128 / 1024 gives inf by a correctly
# rounded multiply) and denormal results (rounded once, in the last multiply),
# with no branch.
#
# float32 (Cephes expf): exp(r) by a degree-7 polynomial, all in float32.
#
# float64 exp: Cephes exp's Pade form (1.4 ulp). For sigmoid and tanh, float64
# computes exp(r) as an unevaluated sum y_hi + y_lo (a "double-double", ~2^-100
# relative, _exp_dd below), so that they can finish with an error-compensated
# division and land within 1 ulp (a plain exp with two more roundings after it
# gave sigmoid 2.1 ulp). The reduction keeps its rounding error:
# r + r_lo = x - n*(C1 + C2) to 2^-62 (the rounding of n*C2 and
# ln2 - C1 - C2 = -2.3e-23 are negligible), and
# expm1(r + r_lo) = r + r^2/2 + r^3 P(r) + r_lo, where the leading r and the
# exact square (fma) are kept apart from the rounded rest. P: degree-9
# Chebyshev fit of (expm1(r) - r - r^2/2) / r^3 on |r| <= ln2/2 (mpmath
# chebyfit; error of r^3 P 3.4e-19 = 2^-61).
_LOG2E_F32 = np.float32(1.44269504088896341)
_C1_F32 = np.float32(0.693359375)
_C2_F32 = np.float32(-2.12194440e-4)
_EXP_P_F32 = (np.float32(1.9875691500e-4), np.float32(1.3981999507e-3),
              np.float32(8.3334519073e-3), np.float32(4.1665795894e-2),
              np.float32(1.6666665459e-1), np.float32(5.0000001201e-1))
# Beyond these the result is inf / 0 in float32; clamping keeps n small
# enough for the int32 exponent arithmetic. -104: exp(-104) = 6.8e-46 is below
# half the smallest denormal (7.0e-46), so it rounds to 0 like the true value.
_EXP_HI_F32 = np.float32(88.8)
_EXP_LO_F32 = np.float32(-104.0)

_LOG2E_F64 = 1.4426950408889634073599
_C1_F64 = 6.93145751953125e-1
_C2_F64 = 1.42860682030941723212e-6
_EXPM1_P_F64 = (2.0911229795563617e-09, 2.5100375924709717e-08, 2.7557282983917557e-07,
                2.7557268480116333e-06, 2.4801587317135252e-05, 1.984126986304067e-04,
                1.3888888888886554e-03, 8.333333333330065e-03, 4.1666666666666664e-02,
                1.6666666666666669e-01)  # highest degree first
# Cephes exp (float64 ``exp``): exp(r) = 1 + 2 r P(r^2) / (Q(r^2) - r P(r^2)).
_EXP_P_F64 = (1.26177193074810590878e-4, 3.02994407707441961300e-2, 9.99999999999999999910e-1)
_EXP_Q_F64 = (3.00198505138664455042e-6, 2.52448340349684104192e-3,
              2.27265548208155028766e-1, 2.00000000000000000009e0)
_EXP_HI_F64 = 709.8
_EXP_LO_F64 = -746.0  # exp(-746) = 2.0e-324 < half the smallest denormal

_HALF_F32 = np.float32(0.5)
_ONE_F32 = np.float32(1.0)
_TWO_F32 = np.float32(2.0)


def _exp_f32(x):
    # Clamp twice: ``xr`` keeps NaN (NaN > hi is false) and feeds the
    # polynomial, so exp(NaN) = NaN; ``xn`` maps NaN to lo (NaN > lo is false)
    # so the float -> int conversion of n never sees NaN. +-inf clamp to
    # hi / lo and come out as inf / 0.
    xr = _EXP_HI_F32 if x > _EXP_HI_F32 else x
    xr = _EXP_LO_F32 if xr < _EXP_LO_F32 else xr
    xn = xr if xr > _EXP_LO_F32 else _EXP_LO_F32
    n = np.floor(xn * _LOG2E_F32 + _HALF_F32)
    r = xr - n * _C1_F32
    r = r - n * _C2_F32
    p = _EXP_P_F32[0]
    p = p * r + _EXP_P_F32[1]
    p = p * r + _EXP_P_F32[2]
    p = p * r + _EXP_P_F32[3]
    p = p * r + _EXP_P_F32[4]
    p = p * r + _EXP_P_F32[5]
    y = p * (r * r) + r + _ONE_F32
    n1 = np.floor(n * _HALF_F32)
    return y * _exp2_int(n1) * _exp2_int(n - n1)


def _exp_dd(x, lo):
    """float64 only: (y_hi, y_lo, n) with exp(x) = (y_hi + y_lo) * 2^n to ~2^-100.

    y_hi + y_lo = exp(r) in [0.70, 1.42]; n integral-valued. ``x`` <= 709.8 or
    NaN (the caller clamps above); x < lo is clamped to lo (lo is -746 for a
    full-range exp; less for callers that cannot see results that small). NaN
    gives NaN y_hi / y_lo and a finite n.
    """
    raise NotImplementedError("callable from Numba kernels only")


@overload(_exp_dd, jit_options=_JIT, inline="always")
def _exp_dd_overload(x, lo):
    if not x == lo == types.float64:
        return None

    def impl(x, lo):
        xr = lo if x < lo else x  # keeps NaN
        xn = xr if xr > lo else lo  # NaN -> lo: n stays finite
        n = np.floor(xn * _LOG2E_F64 + 0.5)
        hi = xr - n * _C1_F64  # exact
        t = n * _C2_F64  # |t| < 2e-3: its rounding error (< 2^-62) is negligible
        r = hi - t
        r_lo = (hi - r) - t  # r + r_lo = hi - t (exact when |hi| >= |t|, else < 2^-62 off)
        rr = r * r
        rr_err = _fma(r, r, -rr)  # r^2 = rr + rr_err exactly
        # P by Estrin's scheme: a dependency chain of 4 fma instead of Horner's
        # 9 (the loop is latency-bound: ~1.4x faster).
        c = _EXPM1_P_F64  # highest degree first
        r4 = rr * rr
        p01 = c[8] * r + c[9]
        p23 = c[6] * r + c[7]
        p45 = c[4] * r + c[5]
        p67 = c[2] * r + c[3]
        p89 = c[0] * r + c[1]
        p03 = p23 * rr + p01
        p47 = p67 * rr + p45
        p = (p89 * r4 + p47) * r4 + p03
        rest = rr * (0.5 + r * p) + (0.5 * rr_err + r_lo)
        p_hi = r + rest  # Fast2Sum (|rest| < |r|): expm1 = p_hi + p_lo
        p_lo = (r - p_hi) + rest
        y_hi = 1.0 + p_hi  # Fast2Sum (|p_hi| < 1): exp(r) = y_hi + y_lo
        y_lo = ((1.0 - y_hi) + p_hi) + p_lo
        return y_hi, y_lo, n

    return impl


def _div_dd(n_hi, n_lo, d_hi, d_lo):
    """float64 only: (n_hi + n_lo) / (d_hi + d_lo), rounded once (to ~0.5 ulp). d_hi >= 1.

    One division: q = n_hi / d_hi, then its remainder (exact by fma) corrects it.
    """
    raise NotImplementedError("callable from Numba kernels only")


@overload(_div_dd, jit_options=_JIT, inline="always")
def _div_dd_overload(n_hi, n_lo, d_hi, d_lo):
    if not n_hi == n_lo == d_hi == d_lo == types.float64:
        return None

    def impl(n_hi, n_lo, d_hi, d_lo):
        rcp = 1.0 / d_hi
        q = n_hi * rcp
        rem = _fma(-q, d_hi, n_hi) + (n_lo - q * d_lo)
        return _fma(rem, rcp, q)

    return impl


def _exp_f64(x):
    # Cephes exp's Pade form, not the double-double above: as large as that
    # one, ``exp`` is no longer inlined by LLVM into the softmax loops, which
    # then do not vectorise (float64 softmax ran 2.3 -> 10.8 ns per element).
    xr = _EXP_HI_F64 if x > _EXP_HI_F64 else x
    xr = _EXP_LO_F64 if xr < _EXP_LO_F64 else xr
    xn = xr if xr > _EXP_LO_F64 else _EXP_LO_F64
    n = np.floor(xn * _LOG2E_F64 + 0.5)
    r = xr - n * _C1_F64
    r = r - n * _C2_F64
    rr = r * r
    px = r * ((_EXP_P_F64[0] * rr + _EXP_P_F64[1]) * rr + _EXP_P_F64[2])
    q = ((_EXP_Q_F64[0] * rr + _EXP_Q_F64[1]) * rr + _EXP_Q_F64[2]) * rr + _EXP_Q_F64[3]
    y = 1.0 + 2.0 * (px / (q - px))
    n1 = np.floor(n * 0.5)
    return y * _exp2_int(n1) * _exp2_int(n - n1)


def exp(x):
    """exp(x) for a float32 or float64 scalar inside a kernel (vectorisable)."""
    raise NotImplementedError("mathfun.exp is callable from Numba kernels only")


@overload(exp, jit_options=_JIT)
def _exp_overload(x):
    if x == types.float32:
        return _exp_f32
    if x == types.float64:
        return _exp_f64
    return None


# --------------------------------------------------------------------------- sigmoid

def _sigmoid_f32(x):
    # e = exp(-|x|) <= 1 never overflows. sigmoid(x) = 1 / (1 + e) for x >= 0
    # and e / (1 + e) for x < 0: one division either way, and small outputs
    # keep their relative precision (1 - 1/(1 + e) would cancel). +inf -> 1,
    # -inf -> 0 (e = 0), NaN -> NaN (e = NaN).
    e = exp(-np.abs(x))
    num = _ONE_F32 if x >= 0 else e
    return num / (_ONE_F32 + e)


def _sigmoid_f64(x):
    # As float32, with e = exp(-|x|) and 1 + e as double-doubles and a
    # compensated division: one rounding at the end.
    y_hi, y_lo, n = _exp_dd(-np.abs(x), _EXP_LO_F64)
    n1 = np.floor(n * 0.5)
    s1 = _exp2_int(n1)
    s2 = _exp2_int(n - n1)  # two factors: e may be denormal
    e_hi = y_hi * s1 * s2
    e_lo = y_lo * s1 * s2  # underflows to 0 only where it cannot matter
    d_hi = 1.0 + e_hi  # Fast2Sum, e <= 1
    d_lo = ((1.0 - d_hi) + e_hi) + e_lo
    n_hi = 1.0 if x >= 0 else e_hi
    n_lo = 0.0 if x >= 0 else e_lo
    return _div_dd(n_hi, n_lo, d_hi, d_lo)


def sigmoid(x):
    """1 / (1 + exp(-x)) for a float32 or float64 scalar inside a kernel."""
    raise NotImplementedError("mathfun.sigmoid is callable from Numba kernels only")


@overload(sigmoid, jit_options=_JIT, inline="always")
def _sigmoid_overload(x):
    if x == types.float32:
        return _sigmoid_f32
    if x == types.float64:
        return _sigmoid_f64
    return None


# --------------------------------------------------------------------------- tanh

# float32: for small |x| an odd series, because (1 - e) / (1 + e) loses
# relative accuracy as e -> 1 (at |x| = 1e-3 the subtraction cancels 10 bits):
# Cephes tanhf's minimax polynomial for |x| < 0.625. Larger |x|:
# tanh|x| = (1 - e) / (1 + e), e = exp(-2|x|) in (0, 0.29), so no cancellation
# and no overflow; sign restored at the end.
# float64: (1 - e) / (1 + e) for every |x| >= 2^-27, with e = exp(-2|x|) as a
# double-double: 1 - e is then exact however much it cancels, so no series is
# needed. Below 2^-27, tanh x = x correctly rounded (x^3/3 < 0.17 ulp).
_TANH_SMALL_F32 = np.float32(0.625)
_TANH_P_F32 = (np.float32(-5.70498872745e-3), np.float32(2.06390887954e-2),
               np.float32(-5.37397155531e-2), np.float32(1.33314422036e-1),
               np.float32(-3.33332819422e-1))
_TANH_TINY_F64 = 2.0 ** -27
_TANH_EXP_LO_F64 = -40.0


def _tanh_f32(x):
    z = x * x
    p = _TANH_P_F32[0]
    p = p * z + _TANH_P_F32[1]
    p = p * z + _TANH_P_F32[2]
    p = p * z + _TANH_P_F32[3]
    p = p * z + _TANH_P_F32[4]
    small = x + x * z * p
    small = x if z == 0 else small  # tiny x: tanh x = x, keeping tanh(-0.0) = -0.0
    a = np.abs(x)
    e = exp(-_TWO_F32 * a)
    big = (_ONE_F32 - e) / (_ONE_F32 + e)  # +-inf: e = 0 -> 1; NaN -> NaN
    big = -big if x < 0 else big
    return small if a < _TANH_SMALL_F32 else big


def _tanh_f64(x):
    a = np.abs(x)
    # e < exp(-40) = 4e-18 is too small to change the result: clamping there
    # keeps 2^n normal, one factor.
    y_hi, y_lo, n = _exp_dd(-2.0 * a, _TANH_EXP_LO_F64)
    s = _exp2_int(n)
    e_hi = y_hi * s
    e_lo = y_lo * s
    n_hi = 1.0 - e_hi  # Fast2Sum, e <= 1: 1 - e = n_hi + n_lo
    n_lo = ((1.0 - n_hi) - e_hi) - e_lo
    d_hi = 1.0 + e_hi
    d_lo = ((1.0 - d_hi) + e_hi) + e_lo
    t = _div_dd(n_hi, n_lo, d_hi, d_lo)  # +-inf: e = 0 -> 1; NaN -> NaN
    t = -t if x < 0 else t
    return x if a < _TANH_TINY_F64 else t  # keeps tanh(-0.0) = -0.0


def tanh(x):
    """tanh(x) for a float32 or float64 scalar inside a kernel (vectorisable)."""
    raise NotImplementedError("mathfun.tanh is callable from Numba kernels only")


@overload(tanh, jit_options=_JIT, inline="always")
def _tanh_overload(x):
    if x == types.float32:
        return _tanh_f32
    if x == types.float64:
        return _tanh_f64
    return None
