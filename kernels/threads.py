"""Where the pool's threads run: the thread id and CPU number of each, for fastnn/_placement.py.

* ``cpu_number()``: the CPU the calling thread is running on, from ``rdtscp``,
  which loads the IA32_TSC_AUX register into ecx; Linux keeps
  ``node << 12 | cpu`` there on every CPU (its vDSO ``getcpu`` reads the same).
  One instruction, no system call.
* ``thread_id()``: the calling thread's Linux thread id, ``syscall(SYS_gettid)``
  (186 on x86-64), the id that ``os.sched_setaffinity`` takes.

Both are LLVM code that names no address (``syscall`` is linked by name), so the
kernel below is cached on disk like every other; a ctypes function pointer
would not be. x86-64 Linux only: fastnn/_placement.py checks for both, and for
the ``rdtscp`` CPU flag, before anything here is compiled.
"""
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from ._config import CACHE

SYS_GETTID = 186  # x86-64


@intrinsic
def cpu_number(typingctx):
    def codegen(context, builder, sig, args):
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.LiteralStructType([ir.IntType(64), i32]), [])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.rdtscp")
        aux = builder.extract_value(builder.call(fn, []), 1)  # (TSC, TSC_AUX)
        cpu = builder.and_(aux, ir.Constant(i32, 0xFFF))
        return builder.zext(cpu, ir.IntType(64))
    return types.int64(), codegen


@intrinsic
def thread_id(typingctx):
    def codegen(context, builder, sig, args):
        i64 = ir.IntType(64)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(i64, [i64], var_arg=True), "syscall")
        return builder.call(fn, [ir.Constant(i64, SYS_GETTID)])
    return types.int64(), codegen


@njit(cache=CACHE)
def current_cpu():
    """The CPU the calling thread runs on (~50 ns from Python, against ~100 ns for
    ctypes' ``sched_getcpu``): fastnn/_placement.py reads it before every parallel
    kernel to notice at once when the calling thread has moved."""
    return cpu_number()


@njit(parallel=True, cache=CACHE)
def thread_cpus(out):
    """out[0] = (thread id, CPU) of the calling thread, read before the parallel
    region; out[1 + t] = the same for the thread that ran iteration t of one
    region of out.shape[0] - 1 iterations.
    """
    out[0, 0] = thread_id()
    out[0, 1] = cpu_number()
    for t in prange(out.shape[0] - 1):
        out[1 + t, 0] = thread_id()
        out[1 + t, 1] = cpu_number()
