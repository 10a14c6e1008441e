"""Embedding lookup, as torch.nn.functional.embedding (without max_norm)."""
import numpy as np

from . import _args_ext as _ce
from . import _tuning
from .kernels import embedding as _k

__all__ = ["embedding", "embedding_backward"]


def embedding(input, weight, padding_idx=None):
    """Rows of ``weight`` picked by the integer ``input``: out[...] = weight[input[...]].

    Parameters
    ----------
    input : integer ndarray of any shape, indices in [0, num_embeddings)
    weight : ndarray (num_embeddings, embedding_dim), float32 or float64
    padding_idx : None or int in [-num_embeddings, num_embeddings): that row gets
        no gradient (its lookup is an ordinary lookup, as torch)

    Returns ndarray input.shape + (embedding_dim,) of weight's dtype.
    Raises TypeError for non-integer (e.g. float) indices; ValueError for negative
    or out-of-range indices or padding_idx.
    """
    idx, w, _ = _ce.embedding_args("embedding", input, weight, padding_idx)
    flat = idx.reshape(-1)
    out = np.empty((flat.size, w.shape[1]), dtype=w.dtype)
    _tuning.run(_k, "embedding_forward", out.size, _tuning.EMBEDDING_PARALLEL_MIN, w, flat, out)
    return out.reshape(idx.shape + (w.shape[1],))


def embedding_backward(grad_output, input, weight, padding_idx=None):
    """grad_weight (num_embeddings, embedding_dim) of :func:`embedding`: a scatter-add.

    grad_weight[v] = sum of grad_output[...] over the positions where input == v
    (row padding_idx stays zero). grad_output : input.shape + (embedding_dim,).
    The indices get no gradient, so only grad_weight is returned. Thread-safe
    (each thread owns a range of columns; kernels/embedding.py).
    """
    op = "embedding_backward"
    idx, w, pad = _ce.embedding_args(op, input, weight, padding_idx)
    d = w.shape[1]
    g = _ce.grad_like(op, grad_output, np.empty(idx.shape + (d,), w.dtype))
    grad = np.zeros_like(w)
    # one column range per chunk: split only rows of at least 16 columns
    n_chunks = min(_tuning.n_chunks(g.size, _tuning.EMBEDDING_PARALLEL_MIN), d) if d >= 16 else 1
    _tuning.pick(_k, "embedding_backward", n_chunks)(g.reshape(-1, d), idx.reshape(-1), pad, grad,
                                                     n_chunks)
    return grad
