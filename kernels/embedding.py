"""Embedding lookup (a gather of rows) and its backward (a scatter-add of rows).

weight : (V, D); indices : (M,) int64 in [0, V) (checked by the caller).
The backward adds grad_out[m] into row indices[m] of grad_weight. Several m
may hit the same row, so a prange over m would race. The parallel kernel
instead splits the embedding dimension D into one contiguous column range per
thread: every thread walks all indices but writes only its own columns, so no
element is written by two threads (thread-safe, deterministic, and each
thread's sums are added in the same order as the serial kernel's).
"""
from numba import njit, prange

from ._chunks import chunk_bounds, serial_and_parallel

from ._config import CACHE

_JIT = dict(cache=CACHE, error_model="numpy")


def embedding_forward(weight, indices, out, n_chunks):
    """out[m] = weight[indices[m]]; out : (M, D). n_chunks: 1 = serial, else rows split in chunks."""
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(indices.size, chunk, n_chunks)
        for m in range(lo, hi):
            out[m] = weight[indices[m]]


embedding_forward, embedding_forward_parallel = serial_and_parallel(embedding_forward, **_JIT)


@njit(inline="always")
def _scatter_columns(grad_out, indices, padding_idx, grad_weight, lo, hi):
    for m in range(indices.size):
        row = indices[m]
        if row == padding_idx:
            continue
        src = grad_out[m]
        dst = grad_weight[row]
        for k in range(lo, hi):
            dst[k] += src[k]


def embedding_backward(grad_out, indices, padding_idx, grad_weight, n_chunks):
    """grad_weight[indices[m]] += grad_out[m] for every m with indices[m] != padding_idx.

    grad_weight : (V, D), zeroed by the caller; padding_idx : -1 for none.
    n_chunks <= 1: serial; otherwise one column range of D per chunk (no two chunks write
    the same element, so the scatter-add is race-free).
    """
    d = grad_weight.shape[1]
    for chunk in prange(n_chunks):
        lo, hi = chunk_bounds(d, chunk, n_chunks)
        _scatter_columns(grad_out, indices, padding_idx, grad_weight, lo, hi)


embedding_backward, embedding_backward_parallel = serial_and_parallel(embedding_backward, **_JIT)
