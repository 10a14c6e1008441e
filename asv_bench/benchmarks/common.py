"""Shared shapes, input builders and helpers for the fastnn asv benchmarks.

The shapes are the issue's targets, the same as ``python -m fastnn bench``
(fastnn/bench.py). Every builder returns C-contiguous float32 arrays from a
fixed seed, so every benchmark and every implementation sees the same data.
"""
import inspect

import numpy as np

import fastnn

SEED = 0

GEMM_SIZES = [64, 256, 512, 1024, 2048]
GEMM_TRANSPOSE_SIZE = 1024
GEMM_LAYOUTS = ["A@B", "A@B^T", "A^T@B"]

# readable id -> (N, C_in, H=W, C_out, R=S, padding, stride)
CONV_SHAPES = {
    "N32 C64 32x32 K64 3x3 p1": (32, 64, 32, 64, 3, 1, 1),
    "N1 C192 28x28 K32 3x3 p1": (1, 192, 28, 32, 3, 1, 1),
    "N64 C1 28x28 K6 5x5 p0": (64, 1, 28, 6, 5, 0, 1),
    "N8 C3 224x224 K64 7x7 p3 s2": (8, 3, 224, 64, 7, 3, 2),
}

ELEMENTWISE_SIZE = 16 * 2**20        # 16M float32 = 64 MiB per array
SOFTMAX_SHAPE = (4096, 1000)

# readable id -> (N, C, H=W, kernel_size, stride)
POOL_SHAPES = {
    "N64 C16 8x8 k2": (64, 16, 8, 2, 2),        # the digits demo's first pool
    "N32 C64 32x32 k2": (32, 64, 32, 2, 2),
    "N8 C64 112x112 k3 s2": (8, 64, 112, 3, 2),
}

# readable id -> (batch, in_features, out_features)
LINEAR_SHAPES = {
    "N32 128->10": (32, 128, 10),               # the digits demo's classifier
    "N256 784->512": (256, 784, 512),
    "N1024 4096->1000": (1024, 4096, 1000),
}


def rng(seed=SEED):
    """A freshly seeded generator, so every benchmark sees the same data."""
    return np.random.default_rng(seed)


def randn(*shape, dtype=np.float32, seed=SEED):
    """C-contiguous standard-normal array of ``shape`` and ``dtype`` (float32 by default)."""
    return rng(seed).standard_normal(shape).astype(dtype)


def gemm_operands(n, layout, dtype=np.float32):
    """(a, b) such that a @ b is the n x n x n product ``layout`` (transposes are views)."""
    a, b = randn(n, n, dtype=dtype, seed=1), randn(n, n, dtype=dtype, seed=2)
    if layout == "A@B^T":
        return a, b.T
    if layout == "A^T@B":
        return a.T, b
    return a, b


def conv_inputs(shape_id):
    """x, weight, bias, grad_output and the conv2d keyword arguments for ``shape_id``."""
    n, c, hw, k, r, pad, stride = CONV_SHAPES[shape_id]
    x = randn(n, c, hw, hw, seed=1)
    w = randn(k, c, r, r, seed=2) * np.float32(1.0 / np.sqrt(c * r * r))
    b = randn(k, seed=3)
    out_hw = (hw + 2 * pad - r) // stride + 1
    go = randn(n, k, out_hw, out_hw, seed=4)
    return x, w, b, go, {"stride": stride, "padding": pad}


def pool_inputs(shape_id):
    """x, grad_output and (kernel_size, stride) for ``shape_id``."""
    n, c, hw, k, s = POOL_SHAPES[shape_id]
    out_hw = (hw - k) // s + 1
    return randn(n, c, hw, hw, seed=1), randn(n, c, out_hw, out_hw, seed=2), k, s


def linear_inputs(shape_id):
    """x, weight, bias, grad_output for ``shape_id``."""
    n, f_in, f_out = LINEAR_SHAPES[shape_id]
    w = randn(f_out, f_in, seed=2) * np.float32(1.0 / np.sqrt(f_in))
    return randn(n, f_in, seed=1), w, randn(f_out, seed=3), randn(n, f_out, seed=4)


def accepts_out(fn):
    """True when ``fn`` takes an ``out=`` argument (fastnn's elementwise ops may)."""
    return "out" in inspect.signature(fn).parameters


def require_torch():
    """Call in ``setup``: PyTorch with fastnn's thread count; asv skips when it is absent.

    Imported through fastnn.bench.import_torch, so torch's own OpenMP runtime
    starts with the user's wait policy, not fastnn's.
    """
    from fastnn.bench import import_torch
    torch = import_torch()
    if torch is None:
        raise NotImplementedError("PyTorch is not installed")
    torch.set_num_threads(fastnn.get_num_threads())
    return torch
