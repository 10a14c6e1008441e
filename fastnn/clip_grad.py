"""Gradient clipping, as torch.nn.utils.clip_grad_norm_ / clip_grad_value_ (in place)."""
import math

import numpy as np

from . import _checks

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(op, parameters):
    """The gradient arrays to clip: from a model (every (layer, name) of ``parameters()``
    that has a gradient in ``layer.grads``), or an ndarray / iterable of ndarrays."""
    if hasattr(parameters, "parameters") and callable(parameters.parameters):
        parameters = parameters.parameters()
    if isinstance(parameters, np.ndarray):
        parameters = [parameters]
    grads = []
    for item in parameters:
        if isinstance(item, tuple) and len(item) == 2 and hasattr(item[0], "grads"):
            g = item[0].grads.get(item[1])
            if g is None:
                continue
        else:
            g = item
        if not isinstance(g, np.ndarray) or not np.issubdtype(g.dtype, np.floating):
            raise TypeError(f"{op}(): parameters must be a model, (layer, name) pairs or float "
                            f"ndarrays of gradients, got {type(g).__name__}")
        grads.append(g)
    return grads


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients together so that their total norm is at most ``max_norm``.

    total = (sum over all gradient elements of |g|^norm_type)^(1/norm_type)
    (norm_type=inf: max |g|); every gradient is multiplied in place by
    min(1, max_norm / (total + 1e-6)), as torch. Returns the total norm
    (before clipping) as a float.

    parameters : a fastnn model (its layers' ``grads`` are clipped), a list of
        (layer, name) pairs, or an ndarray / iterable of gradient ndarrays.
    Raises ValueError for max_norm <= 0 or not finite, norm_type <= 0; RuntimeError
    when error_if_nonfinite=True and the total norm is NaN or inf (nothing is
    modified then).
    """
    op = "clip_grad_norm_"
    max_norm = _checks.real_scalar(op, "max_norm", max_norm)
    if not (max_norm > 0 and math.isfinite(max_norm)):
        raise ValueError(f"{op}(): max_norm must be a finite number > 0, got {max_norm!r}")
    norm_type = _checks.real_scalar(op, "norm_type", norm_type)
    if not norm_type > 0:
        raise ValueError(f"{op}(): norm_type must be > 0 or inf, got {norm_type!r}")
    grads = _grads(op, parameters)
    if not grads:
        return 0.0
    if math.isinf(norm_type):
        total = max(float(np.max(np.abs(g))) if g.size else 0.0 for g in grads)
    else:
        total = sum(float(np.sum(np.abs(g.astype(np.float64)) ** norm_type)) for g in grads)
        total = total ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"{op}(): the total norm of order {norm_type} of the gradients is "
                           f"{total}, so they cannot be clipped; pass error_if_nonfinite=False "
                           "to clip anyway")
    coef = min(1.0, max_norm / (total + 1e-6))
    for g in grads:
        g *= g.dtype.type(coef)
    return total


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient element to [-clip_value, clip_value] in place (clip_value > 0).

    parameters as :func:`clip_grad_norm_`. Raises ValueError for clip_value <= 0.
    """
    op = "clip_grad_value_"
    clip_value = _checks.real_scalar(op, "clip_value", clip_value)
    if not clip_value > 0:
        raise ValueError(f"{op}(): clip_value must be > 0, got {clip_value!r}")
    for g in _grads(op, parameters):
        np.clip(g, -clip_value, clip_value, out=g)
