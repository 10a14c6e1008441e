"""SIMD intrinsics that rearrange, compare and convert lanes: 2x2 max pooling's.

The vector type and the loads, stores and arithmetic are in
:mod:`fastnn.kernels.simd`, whose rules these follow (``numba.extending.intrinsic``,
usable only inside ``@njit`` code; pointer addressing with no bounds check; float32
and float64 vectors of ``simd.VECTOR_BYTES`` bytes).

* ``veven(a, b)``, ``vodd(a, b)``: the even / odd lanes of the 2 x lanes
  values ``a`` then ``b`` (one two-vector shuffle each): a row of pairs split
  into the pairs' first and second elements (2x2 max pooling).
* ``vpick(v, best, x, y)``: lane by lane, ``x`` where ``v`` beats ``best`` (is
  greater, or is NaN while ``best`` is not) and ``y`` elsewhere: the first-max,
  NaN-wins rule of max pooling (kernels/pooling.py ``_take``) as compares and a
  blend, no branch.
* ``vstore_as_int(arr, i, v, base, n)``: the first ``n`` lanes of float vector
  ``v``, truncated to ``arr``'s integer dtype, plus ``base``, to
  ``arr[i]`` .. ``arr[i + n - 1]`` (masked store, as ``vstore_first``; the
  caller keeps the values exact in the float type: integers below 2**24 in float32).
* ``vzip_lo(a, b)``, ``vzip_hi(a, b)``: the inverse of ``veven`` / ``vodd``:
  lanes ``a0 b0 a1 b1 ...`` of the lower (upper) halves of ``a`` and ``b``.
* ``vselect_eq(a, b, x, y)``: lane by lane, ``x`` where ``a == b``, else ``y``.
* ``vload_offsets(like, src, i, base, n)``: ``src[i + l] - base`` (integer
  array ``src``) for the first ``n`` lanes, ``-base`` in the others, converted
  to a vector of float array ``like``'s dtype (exact for magnitudes below 2**24
  in float32; larger ones round, so compare them only with small values).
* ``vramp(arr)``: the constant vector 0, 1, 2, ..., lanes - 1 of ``arr``'s dtype.
"""
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .simd import Vector, _element_pointer, _first_lanes_mask, _float_array, _splat, _vector_of


def _every_other(typingctx, a, b, first):
    if not (isinstance(a, Vector) and a == b):
        return None

    def codegen(context, builder, sig, args):
        count = context.get_value_type(sig.args[0]).count
        i32 = ir.IntType(32)
        pattern = ir.Constant(ir.VectorType(i32, count), [first + 2 * j for j in range(count)])
        return builder.shuffle_vector(args[0], args[1], pattern)
    return a(a, b), codegen


@intrinsic
def veven(typingctx, a, b):
    return _every_other(typingctx, a, b, 0)


@intrinsic
def vodd(typingctx, a, b):
    return _every_other(typingctx, a, b, 1)


@intrinsic
def vpick(typingctx, v, best, x, y):
    if not (isinstance(v, Vector) and v == best and x == y and isinstance(x, Vector)
            and x.count == v.count):
        return None

    def codegen(context, builder, sig, args):
        greater = builder.fcmp_ordered(">", args[0], args[1])
        v_nan = builder.fcmp_unordered("uno", args[0], args[0])
        best_num = builder.fcmp_ordered("ord", args[1], args[1])
        take = builder.or_(greater, builder.and_(v_nan, best_num))
        return builder.select(take, args[2], args[3])
    return x(v, best, x, y), codegen


@intrinsic
def vstore_as_int(typingctx, arr, idx, v, base, n):
    if not (isinstance(arr, types.Array) and isinstance(arr.dtype, types.Integer)
            and isinstance(v, Vector) and all(isinstance(t, types.Integer) for t in (idx, base, n))):
        return None

    def codegen(context, builder, sig, args):
        count = context.get_value_type(sig.args[2]).count
        elem = context.get_value_type(arr.dtype)
        vty = ir.VectorType(elem, count)
        value = builder.fptosi(args[2], vty) if arr.dtype.signed else builder.fptoui(args[2], vty)
        value = builder.add(value, _splat(builder, context.cast(builder, args[3], sig.args[3],
                                                                arr.dtype), vty))
        ptr = _element_pointer(context, builder, sig.args[0], args[0], sig.args[1], args[1])
        mask = _first_lanes_mask(context, builder, count, args[4], sig.args[4])
        align = ir.Constant(ir.IntType(32), arr.dtype.bitwidth // 8)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [vty, ptr.type, align.type, mask.type]),
            f"llvm.masked.store.v{count}i{arr.dtype.bitwidth}.p0")
        builder.call(fn, [value, ptr, align, mask])
        return context.get_dummy_value()
    return types.none(arr, idx, v, base, n), codegen


def _zip(typingctx, a, b, upper):
    if not (isinstance(a, Vector) and a == b):
        return None

    def codegen(context, builder, sig, args):
        count = context.get_value_type(sig.args[0]).count
        start = count // 2 if upper else 0
        pattern = []
        for j in range(count // 2):
            pattern += [start + j, count + start + j]
        i32 = ir.IntType(32)
        return builder.shuffle_vector(args[0], args[1], ir.Constant(ir.VectorType(i32, count),
                                                                    pattern))
    return a(a, b), codegen


@intrinsic
def vzip_lo(typingctx, a, b):
    return _zip(typingctx, a, b, False)


@intrinsic
def vzip_hi(typingctx, a, b):
    return _zip(typingctx, a, b, True)


@intrinsic
def vselect_eq(typingctx, a, b, x, y):
    if not (isinstance(a, Vector) and a == b and isinstance(x, Vector) and x == y
            and x.count == a.count):
        return None

    def codegen(context, builder, sig, args):
        return builder.select(builder.fcmp_ordered("==", args[0], args[1]), args[2], args[3])
    return x(a, b, x, y), codegen


@intrinsic
def vload_offsets(typingctx, like, src, idx, base, n):
    if not (_float_array(like) and isinstance(src, types.Array)
            and isinstance(src.dtype, types.Integer)
            and all(isinstance(t, types.Integer) for t in (idx, base, n))):
        return None
    vty = _vector_of(like.dtype)

    def codegen(context, builder, sig, args):
        count = vty.count
        elem = context.get_value_type(src.dtype)
        ity = ir.VectorType(elem, count)
        ptr = _element_pointer(context, builder, sig.args[1], args[1], sig.args[2], args[2])
        mask = _first_lanes_mask(context, builder, count, args[4], sig.args[4])
        align = ir.Constant(ir.IntType(32), src.dtype.bitwidth // 8)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ity, [ptr.type, align.type, mask.type, ity]),
            f"llvm.masked.load.v{count}i{src.dtype.bitwidth}.p0")
        loaded = builder.call(fn, [ptr, align, mask, ir.Constant(ity, [0] * count)])
        rel = builder.sub(loaded, _splat(builder, context.cast(builder, args[3], sig.args[3],
                                                               src.dtype), ity))
        fty = context.get_value_type(vty)
        return builder.sitofp(rel, fty) if src.dtype.signed else builder.uitofp(rel, fty)
    return vty(like, src, idx, base, n), codegen


@intrinsic
def vramp(typingctx, arr):
    if not _float_array(arr):
        return None
    vty = _vector_of(arr.dtype)

    def codegen(context, builder, sig, args):
        llty = context.get_value_type(sig.return_type)
        return ir.Constant(llty, [ir.Constant(llty.element, float(j)) for j in range(llty.count)])
    return vty(arr), codegen
