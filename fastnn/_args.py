"""Argument bundles of every functional op, shared by fastnn.functional and fastnn.reference.

Both backends validate through these functions, so they accept and reject
exactly the same inputs with exactly the same messages. Every error names the
op, the argument, what it got and what it expected, and is raised before any
kernel runs. Functions here return C-contiguous arrays (a copy only when the
input was not already contiguous) and plain-int geometry, ready for a kernel.
"""
import math

import numpy as np

from ._checks import (CONV_ALGORITHMS, REDUCTIONS, _int, choice, dim_index, dropout_probability,
                      flag, float_array, generator, pair, real_number, same_dtype,
                      same_shape)
from ._geometry import (ConvGeometry, PoolGeometry, conv_output_size, is_pointwise_conv,
                        pool_output_size, same_padding)


def conv2d_args(op, input, weight, bias, stride, padding, dilation, groups, algorithm):
    """Validate conv2d's arguments. Returns (input, weight, bias, ConvGeometry)."""
    x = float_array(op, "input", input, 4, "(N, C_in, H, W)")
    w = float_array(op, "weight", weight, 4, "(C_out, C_in, kH, kW)")
    same_dtype(op, "input", x, weight=w)
    choice(op, "algorithm", algorithm, CONV_ALGORITHMS)
    n_groups = _int(op, "groups", groups, "an int")
    if algorithm == "winograd" and n_groups != 1:
        raise ValueError(f"{op}(): algorithm='winograd' needs groups=1, got groups={groups!r}")
    if n_groups != 1:
        raise NotImplementedError(
            f"{op}(): groups={groups!r} is not supported yet; only groups=1")
    n, c_in, h, wd = x.shape
    c_out, c_w, kh, kw = w.shape
    if c_in == 0 or h == 0 or wd == 0:
        raise ValueError(f"{op}(): input must have C_in, H, W >= 1, got shape {x.shape}")
    if c_out == 0 or kh == 0 or kw == 0:
        raise ValueError(f"{op}(): weight must have C_out, kH, kW >= 1, got shape {w.shape}")
    if c_w != c_in:
        raise ValueError(
            f"{op}(): input has {c_in} channels but weight {w.shape} expects {c_w} "
            "(weight must be (C_out, C_in, kH, kW))")
    b = None
    if bias is not None:
        b = float_array(op, "bias", bias, 1, "(C_out,)")
        same_dtype(op, "input", x, bias=b)
        if b.shape[0] != c_out:
            raise ValueError(f"{op}(): bias must have shape ({c_out},) to match weight's C_out, "
                             f"got {b.shape}")
    sh, sw = pair(op, "stride", stride, 1)
    dh, dw = pair(op, "dilation", dilation, 1)
    if isinstance(padding, str):
        choice(op, "padding", padding, ("same", "valid"))
        if padding == "valid":
            pt = pb = pl = pr = 0
        else:
            if (sh, sw) != (1, 1):
                raise ValueError(
                    f"{op}(): padding='same' requires stride 1, got stride={stride!r}")
            pt, pb = same_padding(kh, dh)
            pl, pr = same_padding(kw, dw)
    else:
        pt, pl = pair(op, "padding", padding, 0)
        pb, pr = pt, pl
    eff_h, eff_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    in_h, in_w = h + pt + pb, wd + pl + pr
    if eff_h > in_h or eff_w > in_w:
        raise ValueError(
            f"{op}(): kernel of size {kh}x{kw} (dilated extent {eff_h}x{eff_w}) is larger than "
            f"the padded input {in_h}x{in_w} (input {h}x{wd}, padding {padding!r})")
    geom = ConvGeometry(sh, sw, pt, pl, pb, pr, dh, dw, kh, kw,
                        conv_output_size(h, kh, sh, pt, pb, dh),
                        conv_output_size(wd, kw, sw, pl, pr, dw))
    if algorithm == "1x1" and not is_pointwise_conv(geom):
        raise ValueError(
            f"{op}(): algorithm='1x1' needs a 1x1 kernel with stride 1 and no padding, got "
            f"kernel {kh}x{kw}, stride {(sh, sw)}, padding {padding!r}")
    if algorithm == "winograd":
        _winograd_check(op, kh, kw, geom, stride, dilation)
    return x, w, b, geom


def _winograd_check(op, kh, kw, geom, stride, dilation):
    """ValueError naming what rules out algorithm='winograd' (3x3, stride 1, dilation 1)."""
    if (kh, kw) != (3, 3):
        raise ValueError(f"{op}(): algorithm='winograd' needs a 3x3 kernel (weight of shape "
                         f"(C_out, C_in, 3, 3)), got a {kh}x{kw} kernel")
    if (geom.stride_h, geom.stride_w) != (1, 1):
        raise ValueError(f"{op}(): algorithm='winograd' needs stride=1, got stride={stride!r}")
    if (geom.dil_h, geom.dil_w) != (1, 1):
        raise ValueError(
            f"{op}(): algorithm='winograd' needs dilation=1, got dilation={dilation!r}")


def conv2d_backward_args(op, grad_output, input, weight, stride, padding, dilation, groups,
                         algorithm):
    """Validate conv2d_backward's arguments. Returns (grad_output, input, weight, geometry)."""
    x, w, _, geom = conv2d_args(op, input, weight, None, stride, padding, dilation, groups,
                                algorithm)
    go = float_array(op, "grad_output", grad_output, 4, "(N, C_out, H_out, W_out)")
    same_dtype(op, "input", x, grad_output=go)
    expected = (x.shape[0], w.shape[0], geom.out_h, geom.out_w)
    same_shape(op, "grad_output", go, "the conv2d output", expected)
    return go, x, w, geom


def linear_args(op, input, weight, bias):
    """Validate linear's arguments. Returns (input as 2-D (M, in), weight, bias, leading shape)."""
    x = float_array(op, "input", input, min_ndim=1)
    w = float_array(op, "weight", weight, 2, "(out_features, in_features)")
    same_dtype(op, "input", x, weight=w)
    if x.shape[-1] != w.shape[1]:
        raise ValueError(
            f"{op}(): input has {x.shape[-1]} features (last dimension of shape {x.shape}) but "
            f"weight {w.shape} expects in_features={w.shape[1]}")
    b = None
    if bias is not None:
        b = float_array(op, "bias", bias, 1, "(out_features,)")
        same_dtype(op, "input", x, bias=b)
        if b.shape[0] != w.shape[0]:
            raise ValueError(f"{op}(): bias must have shape ({w.shape[0]},) to match weight's "
                             f"out_features, got {b.shape}")
    lead = x.shape[:-1]
    return x.reshape(math.prod(lead), w.shape[1]), w, b, lead


def linear_backward_args(op, grad_output, input, weight):
    """Returns (grad_output 2-D, input 2-D, weight, leading shape)."""
    x2, w, _, lead = linear_args(op, input, weight, None)
    go = float_array(op, "grad_output", grad_output, min_ndim=1)
    same_dtype(op, "input", x2, grad_output=go)
    same_shape(op, "grad_output", go, "the linear output", lead + (w.shape[0],))
    return go.reshape(x2.shape[0], w.shape[0]), x2, w, lead


def matmul_args(op, input, other, keep_layout=False):
    a = float_array(op, "input", input, 2, "(M, K)", keep_layout=keep_layout)
    b = float_array(op, "other", other, 2, "(K, N)", keep_layout=keep_layout)
    same_dtype(op, "input", a, other=b)
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"{op}(): input {a.shape} and other {b.shape} cannot be multiplied: "
                         f"input has {a.shape[1]} columns, other has {b.shape[0]} rows")
    return a, b


def matmul_backward_args(op, grad_output, input, other, keep_layout=False):
    a, b = matmul_args(op, input, other, keep_layout)
    go = float_array(op, "grad_output", grad_output, 2, "(M, N)")
    same_dtype(op, "input", a, grad_output=go)
    same_shape(op, "grad_output", go, "the matmul output", (a.shape[0], b.shape[1]))
    return go, a, b


def elementwise_backward_args(op, grad_output, saved, saved_name):
    """Validate (grad_output, saved tensor) of an elementwise backward."""
    s = float_array(op, saved_name, saved)
    go = float_array(op, "grad_output", grad_output)
    same_dtype(op, saved_name, s, grad_output=go)
    same_shape(op, "grad_output", go, saved_name, s.shape)
    return go, s


def softmax_args(op, input, dim):
    x = float_array(op, "input", input, min_ndim=1)
    return x, dim_index(op, dim, x.ndim)


def softmax_backward_args(op, grad_output, output, dim):
    go, y = elementwise_backward_args(op, grad_output, output, "output")
    return go, y, dim_index(op, dim, y.ndim)


def cross_entropy_plain(op, input, target, weight, ignore_index):
    """True when cross_entropy can take the (N, C) path: 2-D input, no class weights and no
    target equal to ignore_index. Otherwise the (N, C, d1, ...) / weighted / masked path
    (fastnn._loss_ext, fastnn._reference_ext) handles the call. Checks ignore_index's type."""
    ignore_index = _int(op, "ignore_index", ignore_index, "an int")
    if weight is not None or not isinstance(input, np.ndarray) or input.ndim != 2:
        return False
    if isinstance(target, np.ndarray) and target.ndim == 1 and target.dtype.kind in "iu":
        return not (target == ignore_index).any()
    return True


def cross_entropy_args(op, input, target, reduction):
    """Validate logits (N, C) and a target: class indices (N,) or probabilities (N, C).

    Returns (input, target): target int64 (N,) for class indices, or a float
    (N, C) array of input's dtype for probability targets (tell them apart by ndim).
    """
    x = float_array(op, "input", input, 2, "(N, C) logits")
    choice(op, "reduction", reduction, REDUCTIONS)
    if not isinstance(target, np.ndarray):
        raise TypeError(f"{op}(): target must be a numpy.ndarray of class indices, "
                        f"got {type(target).__name__}")
    n, c = x.shape
    soft = np.issubdtype(target.dtype, np.floating)
    if soft and target.shape != x.shape:
        # A float (N,) target is most likely class indices stored as floats.
        exc = TypeError if target.shape == (n,) else ValueError
        raise exc(f"{op}(): a float target holds class probabilities and must have input's "
                  f"shape {x.shape}, got dtype {target.dtype} and shape {target.shape} "
                  "(class indices must be an integer array of shape (N,))")
    if not soft and not np.issubdtype(target.dtype, np.integer):
        raise TypeError(f"{op}(): target must hold integer class indices (N,) or float class "
                        f"probabilities (N, C), got dtype {target.dtype}")
    if not soft and target.shape != (n,):
        raise ValueError(f"{op}(): target must have shape ({n},) to match input {x.shape}, "
                         f"got {target.shape}")
    if c == 0:
        raise ValueError(f"{op}(): input must have at least one class, got shape {x.shape}")
    if n == 0 and reduction == "mean":
        raise ValueError(f"{op}(): input is an empty batch (N=0); reduction='mean' over no "
                         "samples is undefined")
    if soft:  # probability targets (N, C): returned as a float array of input's dtype
        t = float_array(op, "target", target)
        same_dtype(op, "input", x, target=t)
        return x, t
    if n:
        lo, hi = target.min(), target.max()
        if lo < 0 or hi >= c:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{op}(): target values must be class indices in [0, {c - 1}], "
                             f"got {bad}")
    return x, np.ascontiguousarray(target, dtype=np.int64)


def _scalar_grad(op, grad_output, reduction):
    """grad_output of a 'mean' / 'sum' loss: a real scalar (Python or NumPy, 0-d array)."""
    g = np.asarray(grad_output)
    if g.shape != () or not (np.issubdtype(g.dtype, np.floating)
                             or np.issubdtype(g.dtype, np.integer)):
        raise ValueError(f"{op}(): grad_output must be a real scalar for reduction="
                         f"{reduction!r}, got {grad_output!r}")
    return float(g)


def cross_entropy_scale(op, grad_output, x, reduction):
    """Per-sample upstream gradient (N,) for cross_entropy_backward, in x's dtype."""
    n = x.shape[0]
    if reduction == "none":
        g = float_array(op, "grad_output", grad_output, 1, "(N,) for reduction='none'")
        same_dtype(op, "input", x, grad_output=g)
        same_shape(op, "grad_output", g, "the per-sample losses", (n,))
        return g
    value = _scalar_grad(op, grad_output, reduction)
    if reduction == "mean":
        value /= n
    return np.full(n, value, dtype=x.dtype)


def max_pool2d_args(op, input, kernel_size, stride, padding, ceil_mode=False):
    """Validate max_pool2d's (or avg_pool2d's) arguments. Returns (input, PoolGeometry)."""
    x = float_array(op, "input", input, 4, "(N, C, H, W)")
    kh, kw = pair(op, "kernel_size", kernel_size, 1)
    sh, sw = (kh, kw) if stride is None else pair(op, "stride", stride, 1)
    ph, pw = pair(op, "padding", padding, 0)
    if ph > kh // 2 or pw > kw // 2:
        raise ValueError(f"{op}(): padding must be at most half the kernel size "
                         f"({kh // 2}, {kw // 2}) for kernel_size={kernel_size!r}, "
                         f"got {padding!r}")
    _, c, h, w = x.shape
    if c == 0 or h == 0 or w == 0:
        raise ValueError(f"{op}(): input must have C, H, W >= 1, got shape {x.shape}")
    if kh > h + 2 * ph or kw > w + 2 * pw:
        raise ValueError(f"{op}(): kernel_size {kh}x{kw} is larger than the padded input "
                         f"{h + 2 * ph}x{w + 2 * pw}")
    ceil_mode = flag(op, "ceil_mode", ceil_mode)
    geom = PoolGeometry(kh, kw, sh, sw, ph, pw, pool_output_size(h, kh, sh, ph, ceil_mode),
                        pool_output_size(w, kw, sw, pw, ceil_mode))
    return x, geom


def max_pool2d_backward_args(op, grad_output, input, kernel_size, stride, padding, indices,
                             ceil_mode=False):
    """Returns (grad_output, input, geometry, indices or None), indices checked in range."""
    x, geom = max_pool2d_args(op, input, kernel_size, stride, padding, ceil_mode)
    go = float_array(op, "grad_output", grad_output, 4, "(N, C, H_out, W_out)")
    same_dtype(op, "input", x, grad_output=go)
    out_shape = (x.shape[0], x.shape[1], geom.out_h, geom.out_w)
    same_shape(op, "grad_output", go, "the max_pool2d output", out_shape)
    if indices is None:
        return go, x, geom, None
    if not isinstance(indices, np.ndarray) or indices.dtype != np.int64:
        got = indices.dtype if isinstance(indices, np.ndarray) else type(indices).__name__
        raise TypeError(f"{op}(): indices must be an int64 ndarray as returned by "
                        f"max_pool2d(..., return_indices=True), got {got}")
    same_shape(op, "indices", indices, "the max_pool2d output", out_shape)
    plane = x.shape[2] * x.shape[3]
    # One pass: as uint64 a negative index is larger than any plane size.
    if indices.size and indices.view(np.uint64).max() >= plane:
        raise ValueError(f"{op}(): indices must be flat positions in [0, {plane - 1}] of an "
                         f"input plane, got values in [{indices.min()}, {indices.max()}]")
    return go, x, geom, np.ascontiguousarray(indices)


def avg_pool2d_args(op, input, kernel_size, stride, padding, ceil_mode, count_include_pad):
    """Validate avg_pool2d's arguments. Returns (input, PoolGeometry, count_include_pad)."""
    x, geom = max_pool2d_args(op, input, kernel_size, stride, padding, ceil_mode)
    return x, geom, flag(op, "count_include_pad", count_include_pad)


def avg_pool2d_backward_args(op, grad_output, input, kernel_size, stride, padding, ceil_mode,
                             count_include_pad):
    """Returns (grad_output, input, geometry, count_include_pad)."""
    x, geom, include = avg_pool2d_args(op, input, kernel_size, stride, padding, ceil_mode,
                                       count_include_pad)
    go = float_array(op, "grad_output", grad_output, 4, "(N, C, H_out, W_out)")
    same_dtype(op, "input", x, grad_output=go)
    same_shape(op, "grad_output", go, "the avg_pool2d output",
               (x.shape[0], x.shape[1], geom.out_h, geom.out_w))
    return go, x, geom, include


def adaptive_avg_pool2d_args(op, input, output_size):
    """Validate input (N, C, H, W) and output_size, which must be 1 or (1, 1)."""
    x = float_array(op, "input", input, 4, "(N, C, H, W)")
    size = pair(op, "output_size", output_size, 1)
    if size != (1, 1):
        raise NotImplementedError(f"{op}(): only output_size=1 (global average pooling) is "
                                  f"supported, got {output_size!r}")
    if x.shape[2] == 0 or x.shape[3] == 0:
        raise ValueError(f"{op}(): input must have H, W >= 1, got shape {x.shape}")
    return x


def adaptive_avg_pool2d_backward_args(op, grad_output, input, output_size):
    x = adaptive_avg_pool2d_args(op, input, output_size)
    go = float_array(op, "grad_output", grad_output, 4, "(N, C, 1, 1)")
    same_dtype(op, "input", x, grad_output=go)
    same_shape(op, "grad_output", go, "the adaptive_avg_pool2d output",
               (x.shape[0], x.shape[1], 1, 1))
    return go, x


def _channel_vector(op, name, arr, x):
    """A 1-D float array of shape (C,) with input's dtype (or None)."""
    if arr is None:
        return None
    a = float_array(op, name, arr, 1, "(C,)")
    same_dtype(op, "input", x, **{name: a})
    if a.shape[0] != x.shape[1]:
        raise ValueError(f"{op}(): {name} must have shape ({x.shape[1]},) to match input's "
                         f"{x.shape[1]} channels (input shape {x.shape}), got {a.shape}")
    return a


def batch_norm_args(op, input, running_mean, running_var, weight, bias, training, momentum,
                    eps, updating=True):
    """Validate batch_norm's arguments.

    Returns (input as (N, C, L), running_mean, running_var, weight, bias,
    training, momentum, eps). The running statistics are returned as passed
    (not copied): batch_norm updates them in place in training mode, so there
    they must be writeable (``updating``).
    """
    x = float_array(op, "input", input, min_ndim=2)
    training = flag(op, "training", training)
    momentum = real_number(op, "momentum", momentum, 0.0, 1.0)
    eps = real_number(op, "eps", eps, 0.0, float("inf"))
    if not training and (running_mean is None or running_var is None):
        raise ValueError(f"{op}(): running_mean and running_var are required when "
                         "training=False (evaluation normalises with them)")
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}(): give both running_mean and running_var, or neither")
    for name, arr in (("running_mean", running_mean), ("running_var", running_var)):
        a = _channel_vector(op, name, arr, x)
        if a is not None and training and updating and not arr.flags.writeable:
            raise ValueError(f"{op}(): {name} is read-only, but training=True updates it in "
                             "place")
    w = _channel_vector(op, "weight", weight, x)
    b = _channel_vector(op, "bias", bias, x)
    n, c = x.shape[:2]
    length = math.prod(x.shape[2:])
    if training and n * length <= 1:
        raise ValueError(f"{op}(): training needs more than 1 value per channel to compute "
                         f"batch statistics, got input of shape {x.shape}")
    return (x.reshape(n, c, length), running_mean, running_var, w, b, training, momentum,
            eps)


def batch_norm_backward_args(op, grad_output, input, running_mean, running_var, weight,
                             training, eps):
    """Returns (grad_output (N, C, L), input (N, C, L), running_mean, running_var (as
    contiguous arrays or None), weight, training, eps)."""
    x3, rm, rv, w, _, training, _, eps = batch_norm_args(
        op, input, running_mean, running_var, weight, None, training, 0.0, eps, updating=False)
    go = float_array(op, "grad_output", grad_output)
    same_dtype(op, "input", x3, grad_output=go)
    same_shape(op, "grad_output", go, "input", input.shape)
    if rm is not None:
        rm, rv = np.ascontiguousarray(rm), np.ascontiguousarray(rv)
    return go.reshape(x3.shape), x3, rm, rv, w, training, eps


def dropout_args(op, input, p, training, generator_):
    x = float_array(op, "input", input)
    return (x, dropout_probability(op, p), flag(op, "training", training),
            generator(op, "generator", generator_))


def dropout_backward_args(op, grad_output, mask, p, training):
    go = float_array(op, "grad_output", grad_output)
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
        got = mask.dtype if isinstance(mask, np.ndarray) else type(mask).__name__
        raise TypeError(f"{op}(): mask must be the bool ndarray returned by "
                        f"dropout(..., return_mask=True), got {got}")
    same_shape(op, "mask", mask, "grad_output", go.shape)
    mask = mask if mask.flags.c_contiguous else mask.copy(order="C")  # 0-d stays 0-d
    return (go, mask, dropout_probability(op, p),
            flag(op, "training", training))


def elementwise_loss_args(op, input, target, reduction):
    """input and target: float arrays of one shape and dtype; reduction checked."""
    x = float_array(op, "input", input)
    choice(op, "reduction", reduction, REDUCTIONS)
    if not isinstance(target, np.ndarray):
        raise TypeError(f"{op}(): target must be a numpy.ndarray, got {type(target).__name__}")
    if target.dtype != x.dtype:
        raise TypeError(f"{op}(): target must have input's dtype {x.dtype}, got {target.dtype}")
    t = float_array(op, "target", target)
    same_shape(op, "target", t, "input", x.shape)
    if x.size == 0 and reduction == "mean":
        raise ValueError(f"{op}(): input is empty (shape {x.shape}); reduction='mean' over no "
                         "elements is undefined")
    return x, t


def elementwise_loss_grad(op, grad_output, x, reduction):
    """The upstream gradient as a flat array: (1,) for 'mean' (1/numel folded in) and 'sum'
    (a real scalar grad_output), or x's size for 'none' (grad_output of x's shape)."""
    if reduction == "none":
        g = float_array(op, "grad_output", grad_output)
        same_dtype(op, "input", x, grad_output=g)
        same_shape(op, "grad_output", g, "the elementwise losses", x.shape)
        return g.reshape(-1)
    value = _scalar_grad(op, grad_output, reduction)
    if reduction == "mean":
        value /= x.size
    return np.full(1, value, dtype=x.dtype)
