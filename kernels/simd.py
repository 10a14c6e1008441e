"""Explicit SIMD vectors for Numba kernels (AVX2 + FMA ymm, or AVX-512F zmm).

Why this module exists: LLVM's auto-vectoriser turns simple loops into vector
code, but it will not keep a 2-D block of partial sums in registers across a
loop (register tiling), which is what a GEMM near the machine's peak needs. Here
a vector of 8 float32 (or 4 float64) lanes is a first-class Numba value whose
LLVM type is ``<8 x float>`` (``<4 x double>``); the kernel names each
accumulator as a local variable and LLVM maps each to one ymm register.

The functions below are ``numba.extending.intrinsic``: usable only inside
``@njit`` code, they emit a handful of LLVM instructions each.

* ``vload(arr, i)`` / ``vstore(arr, i, v)``: ``lanes(arr)`` consecutive elements
  starting at flat element offset ``i`` of a C-contiguous array (any ndim).
  The address is computed from the array's data pointer, so there is NO bounds
  check and NO negative-index wraparound: the caller guarantees
  ``0 <= i`` and ``i + lanes <= arr.size``. (Ordinary ``arr[i]`` indexing with a
  possibly negative ``i`` makes Numba emit a select on ``i < 0``, which breaks
  consecutive loads into gathers.) Unaligned access is allowed.
* ``load(arr, i)`` / ``store(arr, i, x)``: one element at flat offset ``i``,
  same pointer addressing and same caller guarantee as ``vload``/``vstore``
  (for packing loops, where wraparound code would bloat every access).
* ``vload_first(arr, i, n)`` / ``vstore_first(arr, i, v, n)``: the same for
  only the first ``n`` lanes (0 <= n <= lanes), through LLVM's masked load /
  store (one ``vmovups`` with a mask register on AVX-512, ``vmaskmovps`` on
  AVX2). The other lanes of the loaded vector are 0, the memory behind them is
  neither read nor written, so the caller guarantees ``i + n <= arr.size`` only:
  a partial last vector needs no scalar tail loop and no slack past the array.
* ``vload_lanes(arr, i, lo, hi)``: lanes ``lo`` .. ``hi - 1`` of the vector at
  ``arr[i]`` (masked load), zeros in the others; as ``vstore_lanes``, only the
  loaded elements must lie in the array (``i`` may be negative).
* ``vstore_lanes(arr, i, v, lo, hi)``: lanes ``lo`` .. ``hi - 1`` of ``v`` to
  ``arr[i + lo]`` .. ``arr[i + hi - 1]`` (masked store; ``i`` itself may be
  negative, only the stored elements must lie in the array): one row segment of
  a vector that spans several rows of an output plane.
* ``prefetch(arr, i)``: a hint (``llvm.prefetch``, one ``prefetchw``/``prefetcht0``)
  to bring the cache line holding element ``i`` into L1 for writing. It
  changes no value and never faults (a hint for an address outside the array
  is dropped), so a caller may ask for a line it might not use.
  ``prefetch_read(arr, i)``: the same for reading (``prefetcht0``).
* ``vtranspose(src, i, si, dst, j, sj)``: a lanes x lanes block, transposed:
  reads row r (``lanes`` elements) at ``src[i + r*si]`` and writes it as
  column r of ``dst`` (row c at ``dst[j + c*sj]``), in registers: log2(lanes)
  stages of two-vector shuffles (each exchanging one bit of the row and lane
  index), 64 for 16 x 16 float32. Same pointer addressing and caller guarantee
  as ``vload``/``vstore`` for every row.
* ``vbroadcast(arr, i)``: element ``i`` of ``arr`` in every lane (one
  ``vbroadcastss``/``vbroadcastsd`` from memory).
* ``vsplat(x)``: scalar ``x`` (float32 or float64) in every lane.
* ``vzero(arr)``: a zero vector of ``arr``'s dtype.
* ``vfma(a, b, c)``: ``a * b + c`` lane by lane, one rounding (``llvm.fma``,
  a single ``vfmadd`` instruction on FMA hardware).
* ``vmul(a, b)``, ``vadd(a, b)``, ``vsub(a, b)``: lane-wise product, sum, difference.
* ``vsum(v)``: the sum of the lanes of ``v`` as a scalar
  (``llvm.vector.reduce.fadd`` with ``reassoc``: a log2(lanes)-step tree of
  shuffles and adds, not a lane-by-lane chain; the order of the additions is
  therefore not left to right).
* ``lanes(arr)``: lanes per vector for ``arr``'s dtype (8 for float32, 4 for
  float64), a compile-time constant that LLVM folds.

The shuffles, compares and integer conversions of 2x2 max pooling (``veven``,
``vpick``, ``vzip_lo``, ...) are in :mod:`fastnn.kernels.simd_shuffle`.

Only float32 and float64 arrays are accepted; other dtypes fail at typing time.
The width is fixed at import (``VECTOR_BYTES``): 32 bytes (AVX2, 16 ymm
registers), or 64 bytes when the CPU has AVX-512F (32 zmm registers).
"""
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model



def _host_vector_bytes():
    """64 (one zmm register) when the CPU Numba compiles for has AVX-512F, else 32 (ymm).

    Read from the same feature string that Numba puts in its cache key
    (NUMBA_CPU_FEATURES if set, else LLVM's view of the host), so a cached
    kernel is only ever reused on a CPU that gets the same width.
    """
    return 64 if "+avx512f" in _host_vector_features() else 32


def _host_vector_features():
    """The CPU features Numba compiles for, as a list like ['+avx2', '-avx512f', ...]."""
    from numba import config
    from numba.core.codegen import get_host_cpu_features
    features = config.CPU_FEATURES if config.CPU_FEATURES is not None else get_host_cpu_features()
    return features.split(",")


# Vector width in bytes, fixed at import: with AVX-512 a vector of 16 float32
# doubles the work per FMA instruction, and the 32 zmm registers hold the same
# register tiles as AVX2's 16 ymm with room to spare. (LLVM's auto-vectoriser
# stays on 256-bit vectors on Intel CPUs; only these explicit vectors use zmm.)
VECTOR_BYTES = _host_vector_bytes()


class Vector(types.Type):
    """Numba type of a SIMD vector of ``count`` values of ``dtype``."""

    def __init__(self, dtype, count):
        self.dtype = dtype
        self.count = count
        super().__init__(name=f"Vector({dtype} x {count})")


@register_model(Vector)
class _VectorModel(models.PrimitiveModel):
    # The value is held as an LLVM vector, so it lives in one register.
    def __init__(self, dmm, fe_type):
        elem = dmm.lookup(fe_type.dtype).get_value_type()
        super().__init__(dmm, fe_type, ir.VectorType(elem, fe_type.count))


_FLOATS = (types.float32, types.float64)


def _vector_of(dtype):
    return Vector(dtype, VECTOR_BYTES // (dtype.bitwidth // 8))


def _float_array(arr):
    return isinstance(arr, types.Array) and arr.dtype in _FLOATS


def _element_pointer(context, builder, arrty, arr, idxty, idx):
    data = context.make_array(arrty)(context, builder, arr).data
    return builder.gep(data, [context.cast(builder, idx, idxty, types.intp)])


def _splat(builder, scalar, vty):
    # insertelement into lane 0, then a shuffle with an all-zero mask copies it
    # to every lane; LLVM emits one vbroadcastss/sd.
    undef = ir.Constant(vty, ir.Undefined)
    first = builder.insert_element(undef, scalar, ir.Constant(ir.IntType(32), 0))
    mask = ir.Constant(ir.VectorType(ir.IntType(32), vty.count), [0] * vty.count)
    return builder.shuffle_vector(first, undef, mask)


@intrinsic
def lanes(typingctx, arr):
    if not _float_array(arr):
        return None
    count = _vector_of(arr.dtype).count

    def codegen(context, builder, sig, args):
        return context.get_constant(types.intp, count)
    return types.intp(arr), codegen


@intrinsic
def vload(typingctx, arr, idx):
    if not (_float_array(arr) and isinstance(idx, types.Integer)):
        return None
    vty = _vector_of(arr.dtype)

    def codegen(context, builder, sig, args):
        ptr = _element_pointer(context, builder, sig.args[0], args[0], sig.args[1], args[1])
        llty = context.get_value_type(sig.return_type)
        # align = element size: the address need not be 32-byte aligned.
        return builder.load(builder.bitcast(ptr, llty.as_pointer()), align=arr.dtype.bitwidth // 8)
    return vty(arr, idx), codegen


@intrinsic
def vstore(typingctx, arr, idx, vec):
    if not (_float_array(arr) and isinstance(idx, types.Integer) and vec == _vector_of(arr.dtype)):
        return None

    def codegen(context, builder, sig, args):
        ptr = _element_pointer(context, builder, sig.args[0], args[0], sig.args[1], args[1])
        llty = context.get_value_type(sig.args[2])
        builder.store(args[2], builder.bitcast(ptr, llty.as_pointer()),
                      align=arr.dtype.bitwidth // 8)
        return context.get_dummy_value()
    return types.none(arr, idx, vec), codegen


def _lane_index(context, builder, value, valty, count):
    # A lane bound as <count x i32>: clamped to [-1, count] in 64 bits first, so
    # that the 32-bit compare below cannot wrap (any bound outside that range
    # gives the same mask as the clamped one).
    i64 = ir.IntType(64)
    v = context.cast(builder, value, valty, types.int64)
    lo, hi = ir.Constant(i64, -1), ir.Constant(i64, count)
    v = builder.select(builder.icmp_signed("<", v, lo), lo, v)
    v = builder.select(builder.icmp_signed(">", v, hi), hi, v)
    return _splat(builder, builder.trunc(v, ir.IntType(32)), ir.VectorType(ir.IntType(32), count))


def _first_lanes_mask(context, builder, count, n, nty):
    # <count x i1>: lane k is on when k < n. 32-bit lane indices: with 16 lanes
    # one vpcmpd into a mask register; 64-bit ones took two compares and a
    # merge, which was most of the cost of a masked copy of a 7-wide row.
    iota = ir.Constant(ir.VectorType(ir.IntType(32), count), list(range(count)))
    return builder.icmp_signed("<", iota, _lane_index(context, builder, n, nty, count))


def _lane_range_mask(context, builder, count, lo, loty, hi, hity):
    # <count x i1>: lane k is on when lo <= k < hi.
    iota = ir.Constant(ir.VectorType(ir.IntType(32), count), list(range(count)))
    return builder.and_(builder.icmp_signed(">=", iota, _lane_index(context, builder, lo, loty, count)),
                        _first_lanes_mask(context, builder, count, hi, hity))


def _masked_intrinsic(builder, op, llty, bitwidth, arg_types):
    # llvm.masked.load / llvm.masked.store for vector type llty (opaque pointers: ".p0").
    ret = llty if op == "load" else ir.VoidType()
    return cgutils.get_or_insert_function(builder.module, ir.FunctionType(ret, arg_types),
                                          f"llvm.masked.{op}.v{llty.count}f{bitwidth}.p0")


def _masked_store(context, builder, sig, args, mask):
    # Store vector args[2] to element args[1] of array args[0], the lanes of ``mask`` only.
    ptr = _element_pointer(context, builder, sig.args[0], args[0], sig.args[1], args[1])
    llty = context.get_value_type(sig.args[2])
    bitwidth = sig.args[0].dtype.bitwidth
    align = ir.Constant(ir.IntType(32), bitwidth // 8)
    fn = _masked_intrinsic(builder, "store", llty, bitwidth, [llty, ptr.type, align.type, mask.type])
    builder.call(fn, [args[2], ptr, align, mask])
    return context.get_dummy_value()


@intrinsic
def vload_first(typingctx, arr, idx, n):
    if not (_float_array(arr) and isinstance(idx, types.Integer) and isinstance(n, types.Integer)):
        return None
    vty = _vector_of(arr.dtype)

    def codegen(context, builder, sig, args):
        ptr = _element_pointer(context, builder, sig.args[0], args[0], sig.args[1], args[1])
        llty = context.get_value_type(sig.return_type)
        mask = _first_lanes_mask(context, builder, llty.count, args[2], sig.args[2])
        align = ir.Constant(ir.IntType(32), arr.dtype.bitwidth // 8)
        zero = ir.Constant(llty, [ir.Constant(llty.element, 0.0)] * llty.count)
        fn = _masked_intrinsic(builder, "load", llty, arr.dtype.bitwidth,
                               [ptr.type, align.type, mask.type, llty])
        return builder.call(fn, [ptr, align, mask, zero])
    return vty(arr, idx, n), codegen


@intrinsic
def vstore_first(typingctx, arr, idx, vec, n):
    if not (_float_array(arr) and isinstance(idx, types.Integer)
            and vec == _vector_of(arr.dtype) and isinstance(n, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        count = context.get_value_type(sig.args[2]).count
        mask = _first_lanes_mask(context, builder, count, args[3], sig.args[3])
        return _masked_store(context, builder, sig, args, mask)
    return types.none(arr, idx, vec, n), codegen


@intrinsic
def vload_lanes(typingctx, arr, idx, lo, hi):
    if not (_float_array(arr) and isinstance(idx, types.Integer) and isinstance(lo, types.Integer)
            and isinstance(hi, types.Integer)):
        return None
    vty = _vector_of(arr.dtype)

    def codegen(context, builder, sig, args):
        ptr = _element_pointer(context, builder, sig.args[0], args[0], sig.args[1], args[1])
        llty = context.get_value_type(sig.return_type)
        mask = _lane_range_mask(context, builder, llty.count, args[2], sig.args[2], args[3],
                                sig.args[3])
        align = ir.Constant(ir.IntType(32), arr.dtype.bitwidth // 8)
        zero = ir.Constant(llty, [ir.Constant(llty.element, 0.0)] * llty.count)
        fn = _masked_intrinsic(builder, "load", llty, arr.dtype.bitwidth,
                               [ptr.type, align.type, mask.type, llty])
        return builder.call(fn, [ptr, align, mask, zero])
    return vty(arr, idx, lo, hi), codegen


@intrinsic
def vstore_lanes(typingctx, arr, idx, vec, lo, hi):
    if not (_float_array(arr) and isinstance(idx, types.Integer) and vec == _vector_of(arr.dtype)
            and isinstance(lo, types.Integer) and isinstance(hi, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        count = context.get_value_type(sig.args[2]).count
        mask = _lane_range_mask(context, builder, count, args[3], sig.args[3], args[4], sig.args[4])
        return _masked_store(context, builder, sig, args, mask)
    return types.none(arr, idx, vec, lo, hi), codegen


@intrinsic
def load(typingctx, arr, idx):
    if not (_float_array(arr) and isinstance(idx, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        return builder.load(_element_pointer(context, builder, sig.args[0], args[0],
                                             sig.args[1], args[1]))
    return arr.dtype(arr, idx), codegen


@intrinsic
def store(typingctx, arr, idx, x):
    if not (_float_array(arr) and isinstance(idx, types.Integer) and x == arr.dtype):
        return None

    def codegen(context, builder, sig, args):
        builder.store(args[2], _element_pointer(context, builder, sig.args[0], args[0],
                                                sig.args[1], args[1]))
        return context.get_dummy_value()
    return types.none(arr, idx, x), codegen


def _prefetch(typingctx, arr, idx, rw):
    if not (_float_array(arr) and isinstance(idx, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        ptr = _element_pointer(context, builder, sig.args[0], args[0], sig.args[1], args[1])
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32]),
            "llvm.prefetch.p0")
        # rw (1: the line will be written), locality = 3 (keep in all levels), data cache.
        builder.call(fn, [ptr, ir.Constant(i32, rw), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()
    return types.none(arr, idx), codegen


@intrinsic
def prefetch(typingctx, arr, idx):
    return _prefetch(typingctx, arr, idx, 1)


@intrinsic
def prefetch_read(typingctx, arr, idx):
    return _prefetch(typingctx, arr, idx, 0)


def _transpose_stage(builder, rows, block):
    # Rows i and i + block (bit ``block`` of i clear) swap their off-diagonal
    # blocks of ``block`` lanes: element (i, j | block) <-> (i | block, j).
    # After the stages for every bit, element (i, j) is at (j, i).
    count = len(rows)
    i32 = ir.IntType(32)
    low = [j if j & block == 0 else count + j - block for j in range(count)]
    high = [j + block if j & block == 0 else count + j for j in range(count)]
    low = ir.Constant(ir.VectorType(i32, count), low)
    high = ir.Constant(ir.VectorType(i32, count), high)
    out = list(rows)
    for i in range(count):
        if i & block == 0:
            out[i] = builder.shuffle_vector(rows[i], rows[i + block], low)
            out[i + block] = builder.shuffle_vector(rows[i], rows[i + block], high)
    return out


@intrinsic
def vtranspose(typingctx, src, src_off, src_stride, dst, dst_off, dst_stride):
    if not (_float_array(src) and _float_array(dst) and dst.dtype == src.dtype and all(
            isinstance(t, types.Integer) for t in (src_off, src_stride, dst_off, dst_stride))):
        return None
    count = _vector_of(src.dtype).count

    def codegen(context, builder, sig, args):
        llty = context.get_value_type(_vector_of(src.dtype))
        align = src.dtype.bitwidth // 8
        step = context.cast(builder, args[2], sig.args[2], types.intp)
        at = context.cast(builder, args[1], sig.args[1], types.intp)
        rows = []
        for _ in range(count):
            ptr = _element_pointer(context, builder, sig.args[0], args[0], types.intp, at)
            rows.append(builder.load(builder.bitcast(ptr, llty.as_pointer()), align=align))
            at = builder.add(at, step)
        block = count // 2
        while block:
            rows = _transpose_stage(builder, rows, block)
            block //= 2
        step = context.cast(builder, args[5], sig.args[5], types.intp)
        at = context.cast(builder, args[4], sig.args[4], types.intp)
        for row in rows:
            ptr = _element_pointer(context, builder, sig.args[3], args[3], types.intp, at)
            builder.store(row, builder.bitcast(ptr, llty.as_pointer()), align=align)
            at = builder.add(at, step)
        return context.get_dummy_value()
    return types.none(src, src_off, src_stride, dst, dst_off, dst_stride), codegen


@intrinsic
def vbroadcast(typingctx, arr, idx):
    if not (_float_array(arr) and isinstance(idx, types.Integer)):
        return None
    vty = _vector_of(arr.dtype)

    def codegen(context, builder, sig, args):
        ptr = _element_pointer(context, builder, sig.args[0], args[0], sig.args[1], args[1])
        return _splat(builder, builder.load(ptr), context.get_value_type(sig.return_type))
    return vty(arr, idx), codegen


@intrinsic
def vsplat(typingctx, x):
    if x not in _FLOATS:
        return None
    vty = _vector_of(x)

    def codegen(context, builder, sig, args):
        return _splat(builder, args[0], context.get_value_type(sig.return_type))
    return vty(x), codegen


@intrinsic
def vzero(typingctx, arr):
    if not _float_array(arr):
        return None
    vty = _vector_of(arr.dtype)

    def codegen(context, builder, sig, args):
        llty = context.get_value_type(sig.return_type)
        return ir.Constant(llty, [ir.Constant(llty.element, 0.0)] * llty.count)
    return vty(arr), codegen


@intrinsic
def vmul(typingctx, a, b):
    if not (isinstance(a, Vector) and a == b):
        return None

    def codegen(context, builder, sig, args):
        return builder.fmul(args[0], args[1])
    return a(a, b), codegen


@intrinsic
def vadd(typingctx, a, b):
    if not (isinstance(a, Vector) and a == b):
        return None

    def codegen(context, builder, sig, args):
        return builder.fadd(args[0], args[1])
    return a(a, b), codegen


@intrinsic
def vsub(typingctx, a, b):
    if not (isinstance(a, Vector) and a == b):
        return None

    def codegen(context, builder, sig, args):
        return builder.fsub(args[0], args[1])
    return a(a, b), codegen


@intrinsic
def vfma(typingctx, a, b, c):
    if not (isinstance(a, Vector) and a == b == c):
        return None

    def codegen(context, builder, sig, args):
        llty = context.get_value_type(sig.return_type)
        fnty = ir.FunctionType(llty, [llty, llty, llty])
        suffix = f"v{llty.count}f{a.dtype.bitwidth}"
        fn = cgutils.get_or_insert_function(builder.module, fnty, f"llvm.fma.{suffix}")
        return builder.call(fn, args)
    return a(a, b, c), codegen


@intrinsic
def vsum(typingctx, v):
    if not isinstance(v, Vector):
        return None

    def codegen(context, builder, sig, args):
        llty = context.get_value_type(sig.args[0])
        elem = llty.element
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(elem, [elem, llty]),
            f"llvm.vector.reduce.fadd.v{llty.count}f{v.dtype.bitwidth}")
        # Start value -0.0 (the identity of fadd); reassoc lets LLVM add in a tree.
        return builder.call(fn, [ir.Constant(elem, -0.0), args[0]], fastmath=("reassoc",))
    return v.dtype(v), codegen
