"""Inverted dropout with a reproducible NumPy mask (kernels/dropout.py).
"""
import numpy as np

from . import _args
from . import _random
from . import _tuning
from .kernels import dropout as _dropout


def dropout(input, p=0.5, training=True, generator=None, return_mask=False):
    """Inverted dropout, as torch.nn.functional.dropout, with a reproducible NumPy mask.

    Parameters
    ----------
    input : ndarray of any shape, float32 or float64
    p : float in [0, 1), the probability of DROPPING an element (torch's p).
        The keep probability of the course material is keep_prob = 1 - p.
    training : bool; False (or p == 0) makes dropout the identity
    generator : None (fresh OS entropy), an int seed, or a numpy.random.Generator
        (advanced by each call that draws a mask). The mask is drawn with NumPy
        in fastnn (fastnn._random.dropout_mask), so fastnn.functional and
        fastnn.reference give the same mask for the same seed.
    return_mask : bool; also return the mask that :func:`dropout_backward` needs

    Returns
    -------
    out : ndarray of input's shape and dtype: input * mask / (1 - p). In the
        identity case it is ``input`` itself (no copy, as torch).
    mask : bool ndarray of input's shape, True where the element was kept
        (only with return_mask; all True in the identity case).

    Raises
    ------
    ValueError for p outside [0, 1) (p=1 would divide by zero), TypeError for
    a non-float input, a non-bool training or a bad generator.

    Notes
    -----
    mask ~ Bernoulli(1 - p) elementwise, out = mask * input / (1 - p), so
    E[out] = input (Srivastava et al. 2014, "inverted" scaling at training time).
    """
    x, p, training, gen = _args.dropout_args("dropout", input, p, training, generator)
    if not training or p == 0:
        out, mask = x, np.ones(x.shape, dtype=np.bool_)
    else:
        mask = _random.dropout_mask(gen, x.shape, p)
        out = np.empty_like(x)
        _tuning.run(_dropout, "dropout_apply_mask", x.size, _tuning.ELEMENTWISE_PARALLEL_MIN,
                    x.reshape(-1), mask.reshape(-1), x.dtype.type(1 / (1 - p)), out.reshape(-1))
    return (out, mask) if return_mask else out


def dropout_backward(grad_output, mask, p, training=True):
    """Gradient of :func:`dropout`: grad_output * mask / (1 - p).

    grad_output : ndarray of the input's shape; mask : the bool ndarray from
    ``dropout(..., return_mask=True)``; p, training : as passed to the forward
    (with training=False the forward was the identity, and so is this: a copy
    of grad_output). Returns grad_input of grad_output's shape and dtype.
    """
    go, mask, p, training = _args.dropout_backward_args("dropout_backward", grad_output, mask,
                                                          p, training)
    if not training:
        return go.copy()
    grad_input = np.empty_like(go)
    _tuning.run(_dropout, "dropout_apply_mask", go.size, _tuning.ELEMENTWISE_PARALLEL_MIN,
                go.reshape(-1), mask.reshape(-1), go.dtype.type(1 / (1 - p)),
                grad_input.reshape(-1))
    return grad_input
