"""cross_entropy over (N, C, d1, ...) with class weights and ignore_index, and multi_margin_loss.

``cross_entropy`` here is the general path of fastnn.functional.cross_entropy:
fastnn._loss takes plain (N, C) calls itself and hands everything else
(d1, ... dimensions, class weights, targets equal to ignore_index) here. The masked
temporal softmax loss of sequence models is cross_entropy on (N, C, T)
logits with padded steps marked by ignore_index.
"""
import numpy as np

from . import _args_ext as _ce
from . import _tuning
from .kernels import losses as _losses
from .kernels import margin as _margin
from .kernels import softmax as _softmax

__all__ = ["cross_entropy", "cross_entropy_backward", "multi_margin_loss",
           "multi_margin_loss_backward"]


def _row_weights(t, w, ignore, dtype):
    """Per-row weight: w[t] (1 without class weights), 0 where t == ignore_index."""
    keep = t != ignore
    rw = np.zeros(t.shape, dtype=dtype)
    rw[keep] = 1 if w is None else w[t[keep]]
    return rw, keep


def _finish(losses, reduction, denom, shape):
    if reduction == "none":
        return losses.reshape(shape)
    total = losses.sum(dtype=losses.dtype)
    if reduction == "sum":
        return total
    with np.errstate(invalid="ignore", divide="ignore"):
        return losses.dtype.type(total / denom)  # all ignored: 0/0 = nan, as torch


def _none_shape(input):
    return (1,) if input.ndim == 1 else (input.shape[0],) + input.shape[2:]


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Softmax cross-entropy as torch.nn.functional.cross_entropy (no label_smoothing).

    Parameters
    ----------
    input : ndarray (N, C), (N, C, d1, ...) or (C,) of logits, float32 or float64
    target : integer class indices of shape (N,) / (N, d1, ...) / () in [0, C)
        or equal to ignore_index; or float class probabilities of input's shape
    weight : ndarray (C,) of class weights, or None
    ignore_index : int; targets equal to it contribute no loss and no gradient
    reduction : 'mean' (sum of w[t] * loss over non-ignored targets, divided by
        the sum of their w[t]; probabilities: divided by N*d1*...), 'sum', 'none'
        (shape (N, d1, ...))

    Raises TypeError (non-integer / non-float target, mixed dtypes) and ValueError
    (shape mismatch, indices out of range, unknown reduction).
    Notes: loss = w[t] * (logsumexp(x) - x[t]); -sum_c t_c log_softmax(x)_c for probabilities.
    """
    rows, t, w, ignore = _ce.cross_entropy_nd_args("cross_entropy", input, target, weight,
                                                   ignore_index, reduction)
    losses = np.empty(rows.shape[0], dtype=rows.dtype)
    if t.ndim == 2:
        if rows.shape[0]:
            _losses.soft_cross_entropy_forward(rows, t, losses)
        return _finish(losses, reduction, rows.shape[0], _none_shape(input))
    rw, keep = _row_weights(t, w, ignore, rows.dtype)
    safe = np.where(keep, t, 0)
    if rows.shape[0]:
        _tuning.run(_softmax, "softmax_cross_entropy_forward", rows.size,
                    _tuning.SOFTMAX_PARALLEL_MIN, rows, safe, losses)
    losses *= rw
    return _finish(losses, reduction, rw.sum(), _none_shape(input))


def cross_entropy_backward(grad_output, input, target, weight=None, ignore_index=-100,
                           reduction="mean"):
    """dL/d(input) of :func:`cross_entropy`, shaped like input.

    grad_output: a scalar for 'mean' / 'sum', an array shaped like the
    per-element losses for 'none'. Ignored targets get a zero gradient.
    """
    op = "cross_entropy_backward"
    rows, t, w, ignore = _ce.cross_entropy_nd_args(op, input, target, weight, ignore_index,
                                                   reduction)
    m, c = rows.shape
    if reduction == "none":
        g = np.asarray(grad_output, dtype=rows.dtype)
        if g.shape != _none_shape(input):
            raise ValueError(f"{op}(): grad_output must have shape {_none_shape(input)} for "
                             f"reduction='none', got {g.shape}")
        scale = np.ascontiguousarray(g).reshape(-1).copy()
    else:
        g = np.asarray(grad_output)
        if g.shape != () or not np.issubdtype(g.dtype, np.number):
            raise ValueError(f"{op}(): grad_output must be a real scalar for reduction="
                             f"{reduction!r}, got {grad_output!r}")
        scale = np.full(m, float(g), dtype=rows.dtype)
    grad = np.empty_like(rows)
    if t.ndim == 2:
        if reduction == "mean":
            scale /= m
        if m:
            _losses.soft_cross_entropy_backward(rows, t, scale, grad)
    else:
        rw, keep = _row_weights(t, w, ignore, rows.dtype)
        scale *= rw
        if reduction == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                scale /= rw.sum()
        if m:
            _tuning.run(_softmax, "softmax_cross_entropy_backward", rows.size,
                        _tuning.SOFTMAX_PARALLEL_MIN, rows, np.where(keep, t, 0), scale, grad)
    x = np.asarray(input)
    if x.ndim == 1:
        return grad.reshape(c)
    moved = (x.shape[0],) + x.shape[2:] + (c,)
    return np.ascontiguousarray(np.moveaxis(grad.reshape(moved), -1, 1))


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, reduction="mean"):
    """Multi-class hinge (SVM) loss, as torch.nn.functional.multi_margin_loss.

    input (N, C) scores, float32/float64; target (N,) integer classes; p 1 or 2;
    weight (C,) or None. loss_n = sum_{i != y} w[y] * max(0, margin - x[y] + x[i])^p / C;
    'mean' averages over N. Raises as cross_entropy does (p not in {1, 2}: ValueError).
    """
    x, t, p, margin, w = _ce.multi_margin_args("multi_margin_loss", input, target, p, margin,
                                               weight, reduction)
    w = np.ones(x.shape[1], x.dtype) if w is None else w
    losses = np.empty(x.shape[0], dtype=x.dtype)
    _margin.multi_margin_forward(x, t, w, p, margin, losses)
    return _finish(losses, reduction, x.shape[0], (x.shape[0],))


def multi_margin_loss_backward(grad_output, input, target, p=1, margin=1.0, weight=None,
                               reduction="mean"):
    """dL/d(input) (N, C) of :func:`multi_margin_loss`; grad_output scalar, or (N,) for 'none'."""
    op = "multi_margin_loss_backward"
    x, t, p, margin, w = _ce.multi_margin_args(op, input, target, p, margin, weight, reduction)
    w = np.ones(x.shape[1], x.dtype) if w is None else w
    n = x.shape[0]
    if reduction == "none":
        scale = np.ascontiguousarray(grad_output, dtype=x.dtype)
        if scale.shape != (n,):
            raise ValueError(f"{op}(): grad_output must have shape ({n},), got {scale.shape}")
    else:
        scale = np.full(n, float(grad_output) / (n if reduction == "mean" else 1), x.dtype)
    grad = np.empty_like(x)
    _margin.multi_margin_backward(x, t, w, p, margin, scale, grad)
    return grad
