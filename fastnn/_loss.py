"""Losses: cross-entropy (softmax fused), MSE, binary cross-entropy (with logits) and their
backward ops (kernels/softmax.py, kernels/losses.py).
"""
import numpy as np

from . import _args
from . import _checks
from . import _loss_ext
from . import _tuning
from .kernels import losses as _losses
from .kernels import softmax as _softmax


def _reduce(losses, reduction):
    if reduction == "none":
        return losses
    return losses.mean() if reduction == "mean" else losses.sum()


def _elementwise_loss(kernel, op, input, target, reduction, probs=False):
    x, t = _args.elementwise_loss_args(op, input, target, reduction)
    if probs:
        _checks.probabilities(op, "input", x)
    losses = np.empty_like(x)
    kernel(x.reshape(-1), t.reshape(-1), losses.reshape(-1))
    return _reduce(losses, reduction)


def _elementwise_loss_backward(kernel, op, grad_output, input, target, reduction, probs=False):
    x, t = _args.elementwise_loss_args(op, input, target, reduction)
    if probs:
        _checks.probabilities(op, "input", x)
    g = _args.elementwise_loss_grad(op, grad_output, x, reduction)
    grad_input = np.empty_like(x)
    kernel(x.reshape(-1), t.reshape(-1), g, grad_input.reshape(-1))
    return grad_input


def mse_loss(input, target, reduction="mean"):
    """Mean squared error (x - t)^2, as torch.nn.functional.mse_loss.

    Parameters
    ----------
    input : ndarray of any shape, float32 or float64
    target : ndarray of input's shape and dtype
    reduction : {'mean', 'sum', 'none'}; 'mean' averages over all elements

    Returns
    -------
    A NumPy scalar of input's dtype ('mean', 'sum') or the elementwise losses
    (input's shape, 'none').

    Raises
    ------
    TypeError for non-float or mismatched dtypes; ValueError for mismatched
    shapes, an unknown reduction, or 'mean' over an empty input.
    """
    return _elementwise_loss(_losses.mse_forward, "mse_loss", input, target, reduction)


def mse_loss_backward(grad_output, input, target, reduction="mean"):
    """dL/d(input) of :func:`mse_loss`: 2 (x - t) * grad_output (/ numel for 'mean').

    grad_output : a real scalar for 'mean' / 'sum' (1.0 for the loss itself), an
    ndarray of input's shape for 'none'. Returns an ndarray of input's shape.
    """
    return _elementwise_loss_backward(_losses.mse_backward, "mse_loss_backward", grad_output,
                                      input, target, reduction)


def binary_cross_entropy_with_logits(input, target, reduction="mean"):
    """Binary cross-entropy of logits, as torch.nn.functional.binary_cross_entropy_with_logits.

    Parameters
    ----------
    input : ndarray of any shape, logits (any real value), float32 or float64
    target : ndarray of input's shape and dtype, targets in [0, 1] (not checked:
        soft targets are allowed)
    reduction : {'mean', 'sum', 'none'}

    Returns
    -------
    As :func:`mse_loss`. Elementwise loss
    -(t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))), computed as
    max(x, 0) - x t + log1p(exp(-|x|)): finite for every finite logit.

    Raises
    ------
    As :func:`mse_loss`. (pos_weight / weight are not supported.)
    """
    return _elementwise_loss(_losses.bce_with_logits_forward, "binary_cross_entropy_with_logits",
                             input, target, reduction)


def binary_cross_entropy_with_logits_backward(grad_output, input, target, reduction="mean"):
    """dL/d(input) of :func:`binary_cross_entropy_with_logits`: (sigmoid(x) - t) * grad_output
    (/ numel for 'mean'); grad_output as in :func:`mse_loss_backward`."""
    return _elementwise_loss_backward(_losses.bce_with_logits_backward,
                                      "binary_cross_entropy_with_logits_backward", grad_output,
                                      input, target, reduction)


def binary_cross_entropy(input, target, reduction="mean"):
    """Binary cross-entropy of probabilities, as torch.nn.functional.binary_cross_entropy.

    Parameters
    ----------
    input : ndarray of any shape, probabilities in [0, 1], float32 or float64
    target : ndarray of input's shape and dtype (values in [0, 1], not checked)
    reduction : {'mean', 'sum', 'none'}

    Returns
    -------
    As :func:`mse_loss`. Elementwise loss -(t log p + (1 - t) log(1 - p)), each
    log clamped below at -100 as torch does, so p = 0 or 1 gives a finite loss.
    Prefer :func:`binary_cross_entropy_with_logits` on logits: it is stabler.

    Raises
    ------
    As :func:`mse_loss`, plus ValueError when input has values outside [0, 1].
    """
    return _elementwise_loss(_losses.bce_forward, "binary_cross_entropy", input, target,
                             reduction, probs=True)


def binary_cross_entropy_backward(grad_output, input, target, reduction="mean"):
    """dL/d(input) of :func:`binary_cross_entropy`: grad_output * (p - t) / max(p (1 - p), 1e-12)
    (/ numel for 'mean'), torch's formula; grad_output as in :func:`mse_loss_backward`."""
    return _elementwise_loss_backward(_losses.bce_backward, "binary_cross_entropy_backward",
                                      grad_output, input, target, reduction, probs=True)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Softmax cross-entropy of logits against class indices or class probabilities,
    as torch.nn.functional.cross_entropy.

    Parameters
    ----------
    input : ndarray of shape (N, C), or (N, C, d1, ...) (e.g. (N, C, T) logits of a
        sequence: the masked temporal softmax loss), or (C,); unnormalised logits,
        float32 or float64
    target : integer class indices of shape (N,) / (N, d1, ...) / () in [0, C), or
        equal to ignore_index; or a float ndarray of input's shape and dtype, class
        probabilities (e.g. label-smoothed one-hot rows; rows need not sum to 1)
    weight : ndarray of shape (C,) (class weights, input's dtype) or None
    ignore_index : int (default -100, as torch); index targets equal to it add no
        loss and get a zero gradient
    reduction : {'mean', 'sum', 'none'}; 'mean' divides by the summed weights of the
        non-ignored targets (N, or N*d1*..., without weights; probabilities: N*d1*...)

    Returns
    -------
    For 'mean' / 'sum' a NumPy scalar of input's dtype; for 'none' an ndarray of
    shape (N,) / (N, d1, ...). Class indices: loss = weight[t] * (logsumexp(x) - x[t]);
    probabilities: loss = -sum_c target_c * log_softmax(x)_c. 'mean' with every target
    ignored gives NaN (0/0), as torch. Plain (N, C) calls run the fused kernels here;
    the others go through fastnn._loss_ext.

    Raises
    ------
    TypeError for targets that are neither integer nor float of input's
    dtype, and for a float target of shape (N,) (class indices stored as
    floats); ValueError for class indices outside [0, C), mismatched shapes,
    an unknown reduction, or 'mean' over an empty batch.
    """
    if not _args.cross_entropy_plain("cross_entropy", input, target, weight, ignore_index):
        return _loss_ext.cross_entropy(input, target, weight, ignore_index, reduction)
    x, t = _args.cross_entropy_args("cross_entropy", input, target, reduction)
    losses = np.empty(x.shape[0], dtype=x.dtype)
    if x.shape[0] and t.ndim == 2:
        _losses.soft_cross_entropy_forward(x, t, losses)
    elif x.shape[0]:
        _tuning.run(_softmax, "softmax_cross_entropy_forward", x.size,
                    _tuning.SOFTMAX_PARALLEL_MIN, x, t, losses)
    if reduction == "none":
        return losses
    return losses.mean() if reduction == "mean" else losses.sum()


def cross_entropy_backward(grad_output, input, target, weight=None, ignore_index=-100,
                           reduction="mean"):
    """dL/d(input) of :func:`cross_entropy`: scale_n * (softmax(input[n]) - onehot(target[n])),
    or scale_n * (softmax(input[n]) * sum(target[n]) - target[n]) for probability targets.

    Parameters
    ----------
    grad_output : scalar for reduction 'mean' / 'sum' (1.0 for the loss itself),
        ndarray of the per-element loss shape ((N,) / (N, d1, ...)) for 'none'
    input, target, weight, ignore_index, reduction : as passed to the forward

    Returns
    -------
    ndarray of input's shape; for plain (N, C) 'mean', scale_n = grad_output / N.
    """
    if not _args.cross_entropy_plain("cross_entropy_backward", input, target, weight,
                                     ignore_index):
        return _loss_ext.cross_entropy_backward(grad_output, input, target, weight, ignore_index,
                                                reduction)
    x, t = _args.cross_entropy_args("cross_entropy_backward", input, target, reduction)
    scale = _args.cross_entropy_scale("cross_entropy_backward", grad_output, x, reduction)
    grad_input = np.empty_like(x)
    if x.shape[0] and t.ndim == 2:
        _losses.soft_cross_entropy_backward(x, t, scale, grad_input)
    elif x.shape[0]:
        _tuning.run(_softmax, "softmax_cross_entropy_backward", x.size,
                    _tuning.SOFTMAX_PARALLEL_MIN, x, t, scale, grad_input)
    return grad_input
