"""The shapes, input builders and helpers of the fastnn asv benchmarks, from fastnn._bench_common.

The shape tables, the seeded input builders and the idle-wait of the timing
helper are shared with ``python -m fastnn bench`` and examples/bench_*.py
(fastnn/_bench_common.py), so all three time the same inputs. asv does its own
timing (each benchmark in its own process); ``warm`` runs the untimed warm-up
call and then waits, as the bench does, until the other thread pools (OpenBLAS
spins ~0.1 s after a call) are idle, so the first sample does not start in the
warm-up's wake.
"""
import inspect

import fastnn
from fastnn._bench_common import (
    CONV_IDS, CONV_SHAPES, ELEMENTWISE_SIZE, GEMM_LAYOUTS, GEMM_SIZES, GEMM_TRANSPOSE_SIZE,
    LINEAR_SHAPES, POOL_SHAPES, SEED, SOFTMAX_SHAPE, conv_inputs, gemm_operands, import_torch,
    linear_inputs, pool_inputs, randn, rng, wait_until_idle)

__all__ = ["CONV_IDS", "CONV_SHAPES", "ELEMENTWISE_SIZE", "GEMM_LAYOUTS", "GEMM_SIZES",
           "GEMM_TRANSPOSE_SIZE", "LINEAR_SHAPES", "POOL_SHAPES", "SEED", "SOFTMAX_SHAPE",
           "conv_inputs", "gemm_operands", "linear_inputs", "pool_inputs", "randn", "rng",
           "wait_until_idle", "warm", "accepts_out", "require_torch"]


def warm(*calls):
    """Call each of ``calls`` once (compile / cache load, untimed), then wait for idle threads."""
    for call in calls:
        call()
    wait_until_idle()


def accepts_out(fn):
    """True when ``fn`` takes an ``out=`` argument (fastnn's elementwise ops may)."""
    return "out" in inspect.signature(fn).parameters


def require_torch():
    """Call in ``setup``: PyTorch with fastnn's thread count; asv skips when it is absent.

    Imported through fastnn._bench_common.import_torch, so torch's own OpenMP
    runtime starts with the user's wait policy, not fastnn's.
    """
    torch = import_torch()
    if torch is None:
        raise NotImplementedError("PyTorch is not installed")
    torch.set_num_threads(fastnn.get_num_threads())
    return torch
