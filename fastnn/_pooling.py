"""max, average and adaptive average pooling and their backward ops (kernels/pooling.py).
"""
import numpy as np

from . import _args
from . import _tuning
from .kernels import pooling as _kpool


def _pool(name, x, *args):
    """Run max / avg pooling kernel ``name`` (kernels/pooling.py), serial or parallel by x's size."""
    _tuning.run(_kpool, name, x.size, _tuning.POOL_PARALLEL_MIN, *args)


def _max_pool_indices(x, g):
    n, c = x.shape[:2]
    out = np.empty((n, c, g.out_h, g.out_w), dtype=x.dtype)
    indices = np.empty(out.shape, dtype=np.int64)
    if out.size:
        _pool("max_pool2d_forward", x, x, out, indices, g.kh, g.kw, g.stride_h, g.stride_w,
              g.pad_h, g.pad_w)
    return out, indices


def max_pool2d(input, kernel_size, stride=None, padding=0, return_indices=False,
               ceil_mode=False):
    """2-D max pooling over an NCHW batch, as torch.nn.functional.max_pool2d.

    Parameters
    ----------
    input : ndarray of shape (N, C, H, W), float32 or float64
    kernel_size : int or (int, int), >= 1
    stride : int or (int, int), >= 1; default kernel_size
    padding : int or (int, int), 0 <= padding <= kernel_size // 2; padded
        positions act as -inf (they never win)
    return_indices : bool; also return the argmax positions
    ceil_mode : bool; round the output size up instead of down (torch semantics:
        the extra last window is kept only if it starts inside the input or the
        top/left padding; it is clipped to the input). Keyword in practice: it
        comes after return_indices here, unlike torch's positional order.

    Returns
    -------
    out : ndarray of shape (N, C, H_out, W_out), H_out = floor((H + 2p - k) / s) + 1
        (ceil instead of floor with ceil_mode, see above)
    indices : int64 ndarray of the same shape (only if return_indices), the flat
        position iy * W + ix of each maximum in its input plane (torch's format).
        Ties go to the first maximum in row-major window order; NaN wins.
    """
    x, g = _args.max_pool2d_args("max_pool2d", input, kernel_size, stride, padding,
                                   ceil_mode)
    out, indices = _max_pool_indices(x, g)
    return (out, indices) if return_indices else out


def max_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, indices=None,
                        ceil_mode=False):
    """Gradient of :func:`max_pool2d` with respect to its input.

    Each grad_output value is routed to the input position that won its window
    (overlapping windows add up). ``indices`` from ``max_pool2d(...,
    return_indices=True)`` skips recomputing the argmax; they are checked to lie
    inside the input plane.

    Returns
    -------
    grad_input : ndarray of shape (N, C, H, W)
    """
    go, x, g, idx = _args.max_pool2d_backward_args("max_pool2d_backward", grad_output, input,
                                                     kernel_size, stride, padding, indices,
                                                     ceil_mode)
    if idx is None:
        _, idx = _max_pool_indices(x, g)
    grad_input = np.empty_like(x)
    if grad_input.size:
        _pool("max_pool2d_backward", grad_input, go, idx, grad_input, g.kh, g.kw, g.stride_h,
              g.stride_w, g.pad_h, g.pad_w)
    return grad_input


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """2-D average pooling over an NCHW batch, as torch.nn.functional.avg_pool2d.

    Parameters
    ----------
    input : ndarray of shape (N, C, H, W), float32 or float64
    kernel_size : int or (int, int), >= 1
    stride : int or (int, int), >= 1; default kernel_size
    padding : int or (int, int), 0 <= padding <= kernel_size // 2 (zeros)
    ceil_mode : bool; round the output size up (as :func:`max_pool2d`)
    count_include_pad : bool; whether zero padding counts in the divisor

    Returns
    -------
    ndarray of shape (N, C, H_out, W_out), input's dtype; H_out as max_pool2d.

    Raises
    ------
    TypeError / ValueError as :func:`max_pool2d`; TypeError for non-bool
    ceil_mode or count_include_pad.

    Notes
    -----
    out = (sum of the input values in the window) / divisor. Each window is
    first clipped to the padded input [-pad, H + pad) (a ceil_mode window can
    run past it); divisor = that clipped window's area if count_include_pad,
    else the number of real input positions in it (torch's rule).
    """
    x, g, include = _args.avg_pool2d_args("avg_pool2d", input, kernel_size, stride, padding,
                                            ceil_mode, count_include_pad)
    out = np.empty((x.shape[0], x.shape[1], g.out_h, g.out_w), dtype=x.dtype)
    if out.size:
        _pool("avg_pool2d_forward", x, x, out, g.kh, g.kw, g.stride_h, g.stride_w, g.pad_h,
              g.pad_w, include)
    return out


def avg_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0,
                        ceil_mode=False, count_include_pad=True):
    """Gradient of :func:`avg_pool2d` with respect to its input.

    Each grad_output value, divided by its window's divisor, is added to every
    input position of the window (overlapping windows add up).

    Returns
    -------
    grad_input : ndarray of shape (N, C, H, W)
    """
    go, x, g, include = _args.avg_pool2d_backward_args(
        "avg_pool2d_backward", grad_output, input, kernel_size, stride, padding, ceil_mode,
        count_include_pad)
    grad_input = np.empty_like(x)
    if grad_input.size:
        _pool("avg_pool2d_backward", grad_input, go, grad_input, g.kh, g.kw, g.stride_h,
              g.stride_w, g.pad_h, g.pad_w, include)
    return grad_input


def adaptive_avg_pool2d(input, output_size):
    """Adaptive average pooling to ``output_size``; only 1 (global average pooling) is supported.

    Parameters
    ----------
    input : ndarray of shape (N, C, H, W), float32 or float64, H, W >= 1
    output_size : 1 or (1, 1); other sizes raise NotImplementedError

    Returns
    -------
    ndarray of shape (N, C, 1, 1): the mean of each (n, c) plane, as
    torch.nn.functional.adaptive_avg_pool2d(input, 1).
    """
    x = _args.adaptive_avg_pool2d_args("adaptive_avg_pool2d", input, output_size)
    n, c, h, w = x.shape
    out = np.empty((n, c, 1, 1), dtype=x.dtype)
    if out.size:
        _tuning.run(_kpool, "global_avg_pool2d_forward", x.size, _tuning.GLOBAL_POOL_PARALLEL_MIN,
                    x.reshape(n * c, h * w), out.reshape(n * c))
    return out


def adaptive_avg_pool2d_backward(grad_output, input, output_size):
    """Gradient of :func:`adaptive_avg_pool2d`: grad_output[n, c] / (H*W) over each plane.

    grad_output : (N, C, 1, 1); returns grad_input of input's shape (N, C, H, W).
    """
    go, x = _args.adaptive_avg_pool2d_backward_args("adaptive_avg_pool2d_backward",
                                                      grad_output, input, output_size)
    n, c, h, w = x.shape
    grad_input = np.empty_like(x)
    if grad_input.size:
        _tuning.run(_kpool, "global_avg_pool2d_backward", grad_input.size,
                    _tuning.GLOBAL_POOL_PARALLEL_MIN, go.reshape(n * c),
                    grad_input.reshape(n * c, h * w))
    return grad_input
