"""Shared helpers for the fastnn asv benchmarks."""
import numpy as np

try:  # PyTorch (CPU) is an optional point of comparison.
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    torch = None

SEED = 0


def rng(seed=SEED):
    """A freshly seeded generator, so every benchmark sees the same data."""
    return np.random.default_rng(seed)


def randn(*shape, dtype=np.float32, seed=SEED):
    """C-contiguous standard-normal array of ``shape`` and ``dtype`` (float32 by default)."""
    return rng(seed).standard_normal(shape).astype(dtype)


def require_torch():
    """Call in ``setup``: asv skips the benchmark when PyTorch is not installed."""
    if torch is None:
        raise NotImplementedError("PyTorch is not installed")
    return torch
