"""Random draws shared by both backends.

The dropout mask is drawn here, with NumPy, by fastnn.functional and
fastnn.reference alike, so the same seed gives the same mask on either backend
(and for float32 and float64 input).
"""
import numpy as np


def dropout_mask(generator, shape, p):
    """Bool keep-mask of ``shape``: each entry True (kept) with probability 1 - p, independently.

    One uniform float64 draw per element from ``generator`` (a
    numpy.random.Generator, advanced by the call); u >= p keeps the element,
    an exact test of probability 1 - p for u uniform on [0, 1).
    """
    # np.asarray: for a 0-d shape the comparison gives a NumPy scalar, not an array
    return np.asarray(generator.random(shape) >= p, dtype=np.bool_)
