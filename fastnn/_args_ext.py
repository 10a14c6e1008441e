"""Argument checking for embedding, layer_norm, group_norm, multi_margin_loss and the extended
cross_entropy, shared by the compiled ops and their NumPy twins (same errors from both)."""
import numpy as np

from ._checks import REDUCTIONS, _int, choice, finite_number, float_array, same_dtype


def indices(op, name, value, limit, allow=None):
    """Integer index array with values in [0, limit) (``allow``: one extra value let through)."""
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{op}(): {name} must be a numpy.ndarray of integer indices, got "
                        f"{type(value).__name__}")
    if not np.issubdtype(value.dtype, np.integer):
        raise TypeError(f"{op}(): {name} must hold integer indices, got dtype {value.dtype}")
    idx = np.ascontiguousarray(value, dtype=np.int64)
    check = idx if allow is None else idx[idx != allow]
    if check.size:
        lo, hi = int(check.min()), int(check.max())
        if lo < 0:
            raise ValueError(f"{op}(): {name} must be non-negative indices in [0, {limit - 1}], "
                             f"got {lo}")
        if hi >= limit:
            raise ValueError(f"{op}(): {name} holds index {hi}, out of range for {limit} "
                             f"entries (valid: 0..{limit - 1})")
    return idx


def padding_index(op, padding_idx, num_embeddings):
    """padding_idx in [-V, V) -> its non-negative form, or -1 for None."""
    if padding_idx is None:
        return -1
    p = _int(op, "padding_idx", padding_idx, "an int")
    if not -num_embeddings <= p < num_embeddings:
        raise ValueError(f"{op}(): padding_idx must be in [-{num_embeddings}, "
                         f"{num_embeddings - 1}] (num_embeddings={num_embeddings}), got {p}")
    return p % num_embeddings


def embedding_args(op, input, weight, padding_idx):
    w = float_array(op, "weight", weight, 2, "(num_embeddings, embedding_dim)")
    pad = padding_index(op, padding_idx, w.shape[0])
    return indices(op, "input", input, w.shape[0]), w, pad


def _affine(op, name, value, shape, x):
    if value is None:
        return None
    a = float_array(op, name, value)
    same_dtype(op, "input", x, **{name: a})
    if a.shape != tuple(shape):
        raise ValueError(f"{op}(): {name} must have shape {tuple(shape)}, got {a.shape}")
    return a


def layer_norm_args(op, input, normalized_shape, weight, bias, eps):
    x = float_array(op, "input", input)
    if isinstance(normalized_shape, (int, np.integer)) and not isinstance(normalized_shape, bool):
        normalized_shape = (normalized_shape,)
    if not isinstance(normalized_shape, (tuple, list)) or not normalized_shape:
        raise TypeError(f"{op}(): normalized_shape must be an int or a non-empty tuple of ints, "
                        f"got {normalized_shape!r}")
    shape = tuple(_int(op, "normalized_shape", s, "an int") for s in normalized_shape)
    if len(shape) > x.ndim or x.shape[x.ndim - len(shape):] != shape:
        raise ValueError(f"{op}(): input's trailing dimensions must be normalized_shape {shape}, "
                         f"got input of shape {x.shape}")
    if 0 in shape:
        raise ValueError(f"{op}(): normalized_shape must be positive, got {shape}")
    return (x, shape, _affine(op, "weight", weight, shape, x), _affine(op, "bias", bias, shape, x),
            finite_number(op, "eps", eps, 0))


def group_norm_args(op, input, num_groups, weight, bias, eps):
    x = float_array(op, "input", input, min_ndim=2)
    g = _int(op, "num_groups", num_groups, "an int")
    c = x.shape[1]
    if g < 1 or c % g:
        raise ValueError(f"{op}(): num_groups must be a positive divisor of the {c} channels, "
                         f"got {g}")
    return (x, g, _affine(op, "weight", weight, (c,), x), _affine(op, "bias", bias, (c,), x),
            finite_number(op, "eps", eps, 0))


def grad_like(op, grad_output, x):
    g = float_array(op, "grad_output", grad_output)
    same_dtype(op, "input", x, grad_output=g)
    if g.shape != x.shape:
        raise ValueError(f"{op}(): grad_output must have the output's shape {x.shape}, got "
                         f"{g.shape}")
    return g


def class_weight(op, weight, c, x):
    return _affine(op, "weight", weight, (c,), x)


def multi_margin_args(op, input, target, p, margin, weight, reduction):
    x = float_array(op, "input", input, 2, "(N, C)")
    choice(op, "reduction", reduction, REDUCTIONS)
    if p not in (1, 2) or isinstance(p, bool):
        raise ValueError(f"{op}(): p must be 1 or 2, got {p!r}")
    if isinstance(margin, bool) or not isinstance(margin, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}(): margin must be a real number, got {margin!r}")
    n, c = x.shape
    t = indices(op, "target", target, c)
    if t.shape != (n,):
        raise ValueError(f"{op}(): target must have shape ({n},), got {t.shape}")
    w = class_weight(op, weight, c, x)
    if n == 0 and reduction == "mean":
        raise ValueError(f"{op}(): input is an empty batch; reduction='mean' is undefined")
    return x, t, int(p), float(margin), w


def cross_entropy_nd_args(op, input, target, weight, ignore_index, reduction):
    """input (N, C, d1, ...) -> (rows (M, C) C-contiguous, target (M,) int64 or (M, C) float)."""
    x = float_array(op, "input", input, min_ndim=1, keep_layout=True)
    choice(op, "reduction", reduction, REDUCTIONS)
    ignore = _int(op, "ignore_index", ignore_index, "an int")
    if not isinstance(target, np.ndarray):
        raise TypeError(f"{op}(): target must be a numpy.ndarray, got {type(target).__name__}")
    if x.ndim == 1:  # unbatched (C,), as torch
        x = x[None]
        target = target[None]
    c = x.shape[1]
    if c == 0:
        raise ValueError(f"{op}(): input must have at least one class, got shape {x.shape}")
    rows = np.ascontiguousarray(np.moveaxis(x, 1, -1)).reshape(-1, c)
    w = class_weight(op, weight, c, x)
    if np.issubdtype(target.dtype, np.floating):
        if target.shape != x.shape:
            raise ValueError(f"{op}(): probability targets must have input's shape {x.shape}, "
                             f"got {target.shape}")
        if w is not None:
            raise ValueError(f"{op}(): class weight with probability targets is not supported")
        t = float_array(op, "target", target, keep_layout=True)
        same_dtype(op, "input", x, target=t)
        return rows, np.ascontiguousarray(np.moveaxis(t, 1, -1)).reshape(-1, c), w, ignore
    expected = (x.shape[0],) + x.shape[2:]
    if target.shape != expected:
        raise ValueError(f"{op}(): class-index target must have shape {expected} for input "
                         f"{x.shape}, got {target.shape}")
    t = indices(op, "target", target, c, allow=ignore).reshape(-1)
    return rows, t, w, ignore
