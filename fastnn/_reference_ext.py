"""Plain-NumPy twins of fastnn._embedding, fastnn._norm_ext and fastnn._loss_ext.

Same signatures, checks and results. fastnn.reference re-exports all but
``cross_entropy`` / ``cross_entropy_backward`` (the extended cross-entropy
stays private until it replaces the (N, C) one; see fastnn/_loss_ext.py).
"""
import numpy as np

from . import _args_ext as _ce

__all__ = ["embedding", "embedding_backward", "layer_norm", "layer_norm_backward",
           "group_norm", "group_norm_backward", "multi_margin_loss",
           "multi_margin_loss_backward"]


def embedding(input, weight, padding_idx=None):
    idx, w, _ = _ce.embedding_args("embedding", input, weight, padding_idx)
    return w[idx]


def embedding_backward(grad_output, input, weight, padding_idx=None):
    op = "embedding_backward"
    idx, w, pad = _ce.embedding_args(op, input, weight, padding_idx)
    g = _ce.grad_like(op, grad_output, np.empty(idx.shape + (w.shape[1],), w.dtype))
    grad = np.zeros_like(w)
    np.add.at(grad, idx.reshape(-1), g.reshape(-1, w.shape[1]))
    if pad >= 0:
        grad[pad] = 0
    return grad


def _normalise(x, axes, eps):
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=axes, keepdims=True)
    var = x64.var(axis=axes, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    return (x64 - mean) * rstd, rstd


def _norm_backward(g, xhat, rstd, gy, axes):
    m1 = gy.mean(axis=axes, keepdims=True)
    m2 = (gy * xhat).mean(axis=axes, keepdims=True)
    return rstd * (gy - m1 - xhat * m2)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    x, shape, w, b, eps = _ce.layer_norm_args("layer_norm", input, normalized_shape, weight,
                                              bias, eps)
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    xhat, _ = _normalise(x, axes, eps)
    out = xhat * (1.0 if w is None else w) + (0.0 if b is None else b)
    return out.astype(x.dtype)


def layer_norm_backward(grad_output, input, normalized_shape, weight=None, bias=None, eps=1e-5):
    op = "layer_norm_backward"
    x, shape, w, b, eps = _ce.layer_norm_args(op, input, normalized_shape, weight, bias, eps)
    g = _ce.grad_like(op, grad_output, x).astype(np.float64)
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    lead = tuple(range(x.ndim - len(shape)))
    xhat, rstd = _normalise(x, axes, eps)
    gy = g * (1.0 if w is None else w)
    gx = _norm_backward(g, xhat, rstd, gy, axes)
    gw = None if w is None else (g * xhat).sum(axis=lead).astype(x.dtype)
    gb = None if b is None else g.sum(axis=lead).astype(x.dtype)
    return gx.astype(x.dtype), gw, gb


def _groups(x, groups):
    return x.reshape(x.shape[0], groups, -1)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    x, g, w, b, eps = _ce.group_norm_args("group_norm", input, num_groups, weight, bias, eps)
    xhat, _ = _normalise(_groups(x, g), 2, eps)
    xhat = xhat.reshape(x.shape)
    bshape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    out = xhat * (1.0 if w is None else w.reshape(bshape)) + \
        (0.0 if b is None else b.reshape(bshape))
    return out.astype(x.dtype)


def group_norm_backward(grad_output, input, num_groups, weight=None, bias=None, eps=1e-5):
    op = "group_norm_backward"
    x, groups, w, b, eps = _ce.group_norm_args(op, input, num_groups, weight, bias, eps)
    g = _ce.grad_like(op, grad_output, x).astype(np.float64)
    bshape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    xhat, rstd = _normalise(_groups(x, groups), 2, eps)
    gy = g * (1.0 if w is None else w.reshape(bshape))
    gx = _norm_backward(None, xhat, rstd, _groups(gy, groups), 2).reshape(x.shape)
    xhat = xhat.reshape(x.shape)
    red = (0,) + tuple(range(2, x.ndim))
    gw = None if w is None else (g * xhat).sum(axis=red).astype(x.dtype)
    gb = None if b is None else g.sum(axis=red).astype(x.dtype)
    return gx.astype(x.dtype), gw, gb


def _margins(x, t, p, margin):
    n, c = x.shape
    z = margin - x[np.arange(n), t][:, None] + x
    z[np.arange(n), t] = 0
    return np.maximum(z, 0) ** p, z


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, reduction="mean"):
    x, t, p, margin, w = _ce.multi_margin_args("multi_margin_loss", input, target, p, margin,
                                               weight, reduction)
    h, _ = _margins(x.astype(np.float64), t, p, margin)
    losses = h.sum(axis=1) / x.shape[1] * (1.0 if w is None else w[t])
    losses = losses.astype(x.dtype)
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else x.dtype.type(losses.sum() / x.shape[0])


def multi_margin_loss_backward(grad_output, input, target, p=1, margin=1.0, weight=None,
                               reduction="mean"):
    op = "multi_margin_loss_backward"
    x, t, p, margin, w = _ce.multi_margin_args(op, input, target, p, margin, weight, reduction)
    n, c = x.shape
    _, z = _margins(x.astype(np.float64), t, p, margin)
    dz = (z > 0) * (1.0 if p == 1 else 2 * z)
    dz[np.arange(n), t] = 0
    scale = np.asarray(grad_output, np.float64) * np.ones(n)
    if reduction == "mean":
        scale = scale / n
    scale = scale * (1.0 if w is None else w[t]) / c
    grad = dz * scale[:, None]
    grad[np.arange(n), t] = -grad.sum(axis=1)
    return grad.astype(x.dtype)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """NumPy twin of fastnn._loss_ext.cross_entropy."""
    rows, t, w, ignore = _ce.cross_entropy_nd_args("cross_entropy", input, target, weight,
                                                   ignore_index, reduction)
    r = rows.astype(np.float64)
    mx = r.max(axis=1, keepdims=True) if r.size else 0
    logp = r - mx - np.log(np.exp(r - mx).sum(axis=1, keepdims=True))
    x = np.asarray(input)
    shape = (1,) if x.ndim == 1 else (x.shape[0],) + x.shape[2:]
    if t.ndim == 2:
        losses = -(t * logp).sum(axis=1)
        denom = rows.shape[0]
    else:
        keep = t != ignore
        safe = np.where(keep, t, 0)
        wt = np.where(keep, 1.0 if w is None else (w[safe] if w is not None else 1.0), 0.0)
        losses = -logp[np.arange(len(t)), safe] * wt
        denom = wt.sum()
    losses = losses.astype(rows.dtype)
    if reduction == "none":
        return losses.reshape(shape)
    if reduction == "sum":
        return losses.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        return rows.dtype.type(losses.astype(np.float64).sum() / denom)


def cross_entropy_backward(grad_output, input, target, weight=None, ignore_index=-100,
                           reduction="mean"):
    """NumPy twin of fastnn._loss_ext.cross_entropy_backward."""
    rows, t, w, ignore = _ce.cross_entropy_nd_args("cross_entropy_backward", input, target,
                                                   weight, ignore_index, reduction)
    r = rows.astype(np.float64)
    m, c = r.shape
    p = np.exp(r - r.max(axis=1, keepdims=True)) if r.size else r
    p = p / p.sum(axis=1, keepdims=True) if r.size else p
    g = np.asarray(grad_output, np.float64).reshape(-1) * np.ones(m)
    if t.ndim == 2:
        grad = (p * t.sum(axis=1, keepdims=True) - t) * (g / (m if reduction == "mean" else 1))[:, None]
    else:
        keep = t != ignore
        safe = np.where(keep, t, 0)
        wt = np.where(keep, 1.0 if w is None else w[safe], 0.0)
        scale = g * wt
        if reduction == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                scale = scale / wt.sum()
        onehot = np.zeros_like(p)
        onehot[np.arange(m), safe] = 1
        grad = (p - onehot) * scale[:, None]
    x = np.asarray(input)
    if x.ndim == 1:
        return grad.reshape(c).astype(rows.dtype)
    moved = (x.shape[0],) + x.shape[2:] + (c,)
    return np.ascontiguousarray(np.moveaxis(grad.reshape(moved), -1, 1)).astype(rows.dtype)
