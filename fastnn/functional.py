"""torch.nn.functional-style ops on NumPy arrays, computed by fastnn's Numba kernels.

Every op checks its arguments (raising TypeError / ValueError that name the
argument, what it got and what it expects) before any kernel runs, allocates
its output, and calls one kernel family from :mod:`fastnn.kernels`.
:mod:`fastnn.reference` has the same functions with the same signatures in
plain NumPy.

Conventions (as torch.nn.functional):

* Images are NCHW; conv2d weights are (C_out, C_in, kH, kW); linear weights are
  (out_features, in_features). Convolution is cross-correlation.
* float32 and float64 are both supported; the output dtype is the input dtype
  and mixing dtypes raises TypeError. Other dtypes (float16, ints, complex)
  raise TypeError.
* Non-contiguous inputs (transposed, sliced, Fortran-ordered) are accepted: they
  are copied to C order once before the kernel runs. Inputs are never modified.
* Every forward op ``f`` has ``f_backward(grad_output, <saved>, ...)`` that
  returns the gradient(s) with respect to the forward's inputs, in the order of
  the forward's arguments.
"""
import functools
import math

import numba
import numpy as np
from numba import get_num_threads as _get_num_threads

from . import _checks
from . import _random
from . import _workspace
from .kernels import activations as _act
from .kernels import batchnorm as _bn
from .kernels import bias as _bias
from .kernels import conv_direct as _direct
from .kernels import gemm as _gemm
from .kernels import dropout as _dropout
from .kernels import im2col as _im2col
from .kernels import losses as _losses
from .kernels import pooling as _pool
from .kernels import softmax as _softmax

__all__ = [
    "conv2d", "conv2d_backward", "select_conv2d_algorithm",
    "linear", "linear_backward", "matmul", "matmul_backward",
    "relu", "relu_backward", "sigmoid", "sigmoid_backward", "tanh", "tanh_backward",
    "step", "step_backward",
    "softmax", "softmax_backward", "log_softmax", "log_softmax_backward",
    "cross_entropy", "cross_entropy_backward",
    "max_pool2d", "max_pool2d_backward",
    "avg_pool2d", "avg_pool2d_backward", "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward",
    "batch_norm", "batch_norm_backward", "dropout", "dropout_backward",
    "mse_loss", "mse_loss_backward", "binary_cross_entropy", "binary_cross_entropy_backward",
    "binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits_backward",
    "leaky_relu", "leaky_relu_backward",
]


# --------------------------------------------------------------------------- GEMM helper

def _gemm_into(a, b, c, trans_a=False, trans_b=False):
    """c = op(a) @ op(b) with the Numba GEMM kernel (alpha=1, beta=0)."""
    one = c.dtype.type(1)
    _gemm.gemm(a, b, c, one, c.dtype.type(0), trans_a, trans_b)
    return c


# --------------------------------------------------------------------------- conv2d

# The rule behind algorithm='auto' (README "Choosing the conv2d algorithm",
# measured with examples/bench_conv2d.py and 1-thread min-of-7 runs on the
# 2-core Zen 3 development machine, float32, forward + backward, 13 shapes
# from 9 to 1728 taps, with the register-tiled GEMM of branch gemm):
# * 1x1, stride 1, no padding: the GEMM path ('1x1') won (forward ~tie with
#   direct, backward 1.4x-3.8x faster), so POINTWISE_GEMM is on;
# * everything else: the packed direct kernel won 1.1x-4x over im2col + GEMM
#   (im2col copies the input kH*kW times; the direct kernel streams it once
#   per tap from L1/L2), up to 1728 taps (C_in*kH*kW) -- EXCEPT on tiny output
#   planes with deep reductions: the digits demo's second layer (4x4 output,
#   144 taps) ran 1.3x (fwd) / 3.8x (bwd) faster with im2col, where the direct
#   kernel's wide rows are 1/3 junk and its tasks too small; (4x4, 72 taps)
#   was a tie. Hence im2col when H_out*W_out <= SMALL_PLANE_PIXELS and the
#   taps exceed DIRECT_MAX_TAPS.
POINTWISE_GEMM = True
SMALL_PLANE_PIXELS = 16
DIRECT_MAX_TAPS = 64

# im2col works on chunks of the batch whose column matrix takes at most this
# many bytes (a chunk is never smaller than one image), so the extra memory of
# the im2col path is bounded by max(IM2COL_CHUNK_BYTES, one image's columns)
# plus C_out * (chunk images) * H_out * W_out for the GEMM result, whatever N
# is. 32 MiB keeps the per-chunk GEMMs large (hundreds of columns per image)
# while e.g. a (64, 64, 112, 112) 3x3 conv needs 29 MiB of columns instead of
# 1.8 GiB for the whole batch.
IM2COL_CHUNK_BYTES = 32 * 2**20

# Requests whose result alone would need more than this many bytes are
# compared with the memory actually available before anything is allocated.
_BIG_ALLOCATION_BYTES = 256 * 2**20


def _available_memory_bytes():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import os
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _check_allocation(op, what, shape, dtype):
    """Raise MemoryError (with the shape and byte count) if ``shape`` cannot fit in memory.

    Linux overcommits: np.empty of an absurd size may succeed and the process is
    then killed when the pages are touched, so the check is made up front.
    """
    nbytes = np.dtype(dtype).itemsize
    for s in shape:
        nbytes *= int(s)
    if nbytes > _BIG_ALLOCATION_BYTES:
        avail = _available_memory_bytes()
        if nbytes > avail:
            raise MemoryError(
                f"{op}(): the {what} of shape {tuple(int(s) for s in shape)} "
                f"({np.dtype(dtype).name}) needs {nbytes:,} bytes "
                f"({nbytes / 2**30:.1f} GiB) but only {avail:,} bytes "
                f"({avail / 2**30:.1f} GiB) of memory are available")


def select_conv2d_algorithm(input_shape, weight_shape, output_hw, dtype, stride=(1, 1),
                            padding=(0, 0)):
    """The algorithm ``conv2d(..., algorithm='auto')`` uses for these shapes.

    Parameters
    ----------
    input_shape : tuple (N, C_in, H, W)
    weight_shape : tuple (C_out, C_in, kH, kW)
    output_hw : tuple (H_out, W_out)
    dtype : numpy dtype (float32 or float64)
    stride, padding : (int, int), as passed to conv2d (padding as top/left ints)

    Returns
    -------
    str
        ``'1x1'`` for a 1x1 kernel with stride 1 and padding 0 (when
        ``POINTWISE_GEMM``, the default); ``'im2col'`` when the output plane has
        at most ``SMALL_PLANE_PIXELS`` (16) positions and the reduction depth
        C_in*kH*kW exceeds ``DIRECT_MAX_TAPS`` (64); else ``'direct'``. The
        settings come from the measurements in the README ("Choosing the conv2d
        algorithm").
    """
    _, c_in, kh, kw = weight_shape
    if POINTWISE_GEMM and kh == kw == 1 and tuple(stride) == (1, 1) and tuple(padding) == (0, 0):
        return "1x1"
    if output_hw[0] * output_hw[1] <= SMALL_PLANE_PIXELS and c_in * kh * kw > DIRECT_MAX_TAPS:
        return "im2col"
    return "direct"


def _select(x, w, g):
    return select_conv2d_algorithm(x.shape, w.shape, (g.out_h, g.out_w), x.dtype,
                                   (g.stride_h, g.stride_w), (g.pad_h, g.pad_w))


def _batch_chunks(n, bytes_per_image):
    """Split range(n) into chunks of at most IM2COL_CHUNK_BYTES of columns (>= 1 image)."""
    step = max(1, IM2COL_CHUNK_BYTES // max(1, bytes_per_image))
    return [(n0, min(n, n0 + step)) for n0 in range(0, n, step)]


def _unfold(x, g, slot):
    """The GEMM operand for images x (m, C_in, H, W): (C_in*kH*kW, m*H_out*W_out).

    For a pointwise conv it is x itself for one image and the (C, m, H*W) axis
    swap for several; otherwise the im2col matrix. Lives in a workspace.
    """
    m, c_in = x.shape[:2]
    hw = g.out_h * g.out_w
    if _checks.is_pointwise_conv(g):
        if m == 1:
            return x.reshape(c_in, hw)
        cols = _workspace.workspace(slot, (c_in, m, hw), x.dtype)
        _im2col.swap_nc(x.reshape(m, c_in, hw), cols)
        return cols.reshape(c_in, m * hw)
    cols = _workspace.workspace(slot, (c_in * g.kh * g.kw, m * hw), x.dtype)
    _im2col.im2col(x, cols, g.kh, g.kw, g.stride_h, g.stride_w, g.pad_h, g.pad_w,
                   g.dil_h, g.dil_w, g.out_h, g.out_w)
    return cols


def _gemm_forward(x, w, out, g):
    """im2col / 1x1 forward, chunked over the batch (see IM2COL_CHUNK_BYTES)."""
    n, c_out = out.shape[:2]
    hw = g.out_h * g.out_w
    w2 = w.reshape(c_out, -1)
    for n0, n1 in _batch_chunks(n, w2.shape[1] * hw * x.dtype.itemsize):
        m = n1 - n0
        cols = _unfold(x[n0:n1], g, "conv_cols")
        if m == 1:  # (C_out, H_out*W_out) is already image n0's NCHW plane
            _gemm_into(w2, cols, out[n0].reshape(c_out, hw))
        else:
            out_cn = _workspace.workspace("conv_out_cn", (c_out, m, hw), x.dtype)
            _gemm_into(w2, cols, out_cn.reshape(c_out, -1))
            _im2col.swap_nc(out_cn, out[n0:n1].reshape(m, c_out, hw))


def _gemm_backward(go, x, w, grad_input, grad_weight, g):
    """im2col / 1x1 backward, chunked over the batch; grad_weight sums over chunks."""
    n, c_out = go.shape[:2]
    hw = g.out_h * g.out_w
    w2 = w.reshape(c_out, -1)
    gw2 = grad_weight.reshape(c_out, -1)
    pointwise = _checks.is_pointwise_conv(g)
    chunks = _batch_chunks(n, w2.shape[1] * hw * x.dtype.itemsize)
    for i, (n0, n1) in enumerate(chunks):
        m = n1 - n0
        if m == 1:
            go2 = go[n0].reshape(c_out, hw)
        else:
            go_cn = _workspace.workspace("conv_go_cn", (c_out, m, hw), x.dtype)
            _im2col.swap_nc(go[n0:n1].reshape(m, c_out, hw), go_cn)
            go2 = go_cn.reshape(c_out, -1)
        cols = _unfold(x[n0:n1], g, "conv_cols")
        if i == 0:
            _gemm_into(go2, cols, gw2, trans_b=True)
        else:
            part = _workspace.workspace("conv_gw_part", gw2.shape, x.dtype)
            _gemm_into(go2, cols, part, trans_b=True)
            gw2 += part
        gi = grad_input[n0:n1]
        if pointwise and m == 1:
            _gemm_into(w2, go2, gi.reshape(w2.shape[1], hw), trans_a=True)
            continue
        dcols = _workspace.workspace("conv_dcols", (w2.shape[1], m * hw), x.dtype)
        _gemm_into(w2, go2, dcols, trans_a=True)
        if pointwise:
            _im2col.swap_nc(dcols.reshape(w2.shape[1], m, hw), gi.reshape(m, w2.shape[1], hw))
        else:
            _im2col.col2im(dcols, gi, g.kh, g.kw, g.stride_h, g.stride_w, g.pad_h, g.pad_w,
                           g.dil_h, g.dil_w, g.out_h, g.out_w)


@functools.lru_cache(maxsize=64)
def _direct_layout(c_in, g):
    """Packed-plane geometry and tap tables of the direct kernels (kernels/conv_direct.py).

    Returns (ph, pw, tap_plane, tap_off, sp_plane, sp_off): packed planes are
    PH x PW; tap_* index every (c, ky, kx) tap, sp_* every spatial (ky, kx) tap.
    Cached per geometry (callers must not modify the tables): building them with NumPy
    costs ~20 us, as much as a whole small conv.
    """
    sh, sw, dh, dw = g.stride_h, g.stride_w, g.dil_h, g.dil_w
    ph = g.out_h + ((g.kh - 1) * dh) // sh
    pw = g.out_w + ((g.kw - 1) * dw) // sw
    qy = np.arange(g.kh) * dh
    qx = np.arange(g.kw) * dw
    sp_plane = ((qy % sh)[:, None] * sw + (qx % sw)[None, :]).ravel()
    sp_off = ((qy // sh)[:, None] * pw + (qx // sw)[None, :]).ravel()
    tap_plane = (np.arange(c_in)[:, None] * (sh * sw) + sp_plane[None, :]).ravel()
    tap_off = np.tile(sp_off, c_in)
    # (Not marked read-only: Numba would compile a second specialisation for
    # read-only arrays. Only the direct kernels see them, and they only read.)
    return (ph, pw) + tuple(t.astype(np.int64) for t in (tap_plane, tap_off, sp_plane, sp_off))


def _blocked(mat, ob):
    """(R, T) -> (ceil(R / ob), T, ob) with zero rows past R: blocks of ob rows, interleaved."""
    r, t = mat.shape
    nb = -(-r // ob)
    padded = np.zeros((nb * ob, t), dtype=mat.dtype)
    padded[:r] = mat
    return np.ascontiguousarray(padded.reshape(nb, ob, t).transpose(0, 2, 1))


def _pack_input(x, g, ph, pw, slot):
    n, c_in = x.shape[:2]
    xp = _workspace.workspace(slot, (n, c_in * g.stride_h * g.stride_w, ph * pw), x.dtype)
    _direct.conv2d_pack_input(x, xp, g.stride_h, g.stride_w, g.pad_h, g.pad_w, pw)
    return xp


def _direct_forward(x, w, out, g):
    ph, pw, tap_plane, tap_off, _, _ = _direct_layout(x.shape[1], g)
    xp = _pack_input(x, g, ph, pw, "conv_xp")
    wt = _blocked(w.reshape(w.shape[0], -1), _direct.OB)
    _direct.conv2d_direct_forward(xp, wt, tap_plane, tap_off, out, pw)


def _direct_backward(go, x, w, grad_input, grad_weight, g):
    c_out, c_in = w.shape[:2]
    ss = g.stride_h * g.stride_w
    ph, pw, _, _, sp_plane, sp_off = _direct_layout(c_in, g)
    xp = _pack_input(x, g, ph, pw, "conv_xp")
    gwide = _workspace.workspace("conv_go_wide", (x.shape[0], c_out, g.out_h * pw), x.dtype)
    _direct.conv2d_widen(go, gwide, pw)
    # (C_out, C_in, S) -> rows c, columns s*C_out + o, as conv2d_direct_backward_input wants.
    w_in = w.reshape(c_out, c_in, -1).transpose(1, 2, 0).reshape(c_in, -1)
    wt = _blocked(w_in, _direct.OB)
    gxp = _workspace.workspace("conv_gxp", xp.shape, x.dtype)
    _direct.conv2d_direct_backward_input(gwide, wt, sp_plane, sp_off, gxp, pw, ss,
                                         g.out_h, g.out_w)
    _direct.conv2d_unpack_input_grad(gxp, grad_input, g.stride_h, g.stride_w, g.pad_h,
                                     g.pad_w, pw)
    _direct.conv2d_direct_backward_weight(gwide, xp, sp_plane, sp_off, grad_weight, pw,
                                          g.out_h, g.out_w)


# Bias add / bias-gradient reductions (conv2d, linear) on fewer output
# elements than this run serially on the calling thread: waking the sleeping
# OpenMP threads costs ~20-60 us per call, while one thread adds or sums a
# bias at ~0.1-0.2 ns per element (2-core Zen 3, float32; 262144 elements:
# ~20 us serial vs ~35 us parallel with the other core busy). The digits
# demo's biggest bias add is (32, 16, 8*8) = 32768 elements: ~25 us -> ~4-8 us.
BIAS_PARALLEL_MIN = 262144


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           algorithm="auto"):
    """2-D convolution (cross-correlation) over an NCHW batch, as torch.nn.functional.conv2d.

    Parameters
    ----------
    input : ndarray of shape (N, C_in, H, W), float32 or float64
    weight : ndarray of shape (C_out, C_in, kH, kW), same dtype
    bias : ndarray of shape (C_out,), same dtype, or None
    stride : int or (int, int), >= 1
    padding : int or (int, int) >= 0 (zeros on both sides), or 'valid' (no
        padding) or 'same' (output H, W = input H, W; stride 1 only; an even
        dilated kernel gets the extra row/column at the bottom/right, as torch)
    dilation : int or (int, int), >= 1
    groups : int; only 1 is supported (other values raise NotImplementedError)
    algorithm : {'auto', 'direct', 'im2col', '1x1'}, keyword-only
        'direct' runs the packed direct kernel (kernels/conv_direct.py);
        'im2col' unfolds the input into a (C_in*kH*kW, images*H_out*W_out)
        matrix, chunk by chunk of the batch, and runs one GEMM per chunk; '1x1'
        (1x1 kernel, stride 1, padding 0 only) multiplies W (C_out x C_in) by
        each image's (C_in x H*W) matrix, with no im2col; 'auto' picks with
        :func:`select_conv2d_algorithm`. All give the same result up to
        floating-point rounding.

    Returns
    -------
    ndarray of shape (N, C_out, H_out, W_out), input's dtype, where
    H_out = floor((H + pad_top + pad_bottom - dilation*(kH - 1) - 1) / stride) + 1
    and likewise W_out. Always a fresh array.

    Raises
    ------
    TypeError
        non-ndarray arguments, dtypes other than float32/float64, mixed dtypes.
    ValueError
        wrong ndim, channel mismatch, stride/dilation < 1, negative padding,
        padding='same' with stride > 1, a dilated kernel larger than the padded
        input, a bias of the wrong shape, an unknown algorithm, '1x1' for a
        kernel that is not 1x1 / stride 1 / unpadded.
    MemoryError
        the output alone needs more memory than is available (checked before
        anything is allocated; the message names the shape and byte count).
    NotImplementedError
        groups != 1.

    Notes
    -----
    out[n, o, y, x] = bias[o] + sum_{c, i, j} weight[o, c, i, j] *
    input_padded[n, c, y*stride_h + i*dilation_h, x*stride_w + j*dilation_w].

    Memory besides the output: 'im2col' at most max(IM2COL_CHUNK_BYTES = 32 MiB,
    one image's C_in*kH*kW*H_out*W_out columns) plus C_out*H_out*W_out per
    image of the chunk; 'direct' a zero-padded copy of the input; '1x1' a copy
    of the input (none for N = 1). Scratch memory up to 64 MiB per thread is
    cached and reused between calls (fastnn/_workspace.py).
    """
    x, w, b, g = _checks.conv2d_args("conv2d", input, weight, bias, stride, padding, dilation,
                                     groups, algorithm)
    if algorithm == "auto":
        algorithm = _select(x, w, g)
    n, c_out = x.shape[0], w.shape[0]
    _check_allocation("conv2d", "output", (n, c_out, g.out_h, g.out_w), x.dtype)
    out = np.empty((n, c_out, g.out_h, g.out_w), dtype=x.dtype)
    if out.size == 0:
        return out
    if algorithm == "direct":
        _direct_forward(x, w, out, g)
    else:
        _gemm_forward(x, w, out, g)
    if b is not None:
        _bias.bias_add(out.reshape(n, c_out, -1), b, out.size >= BIAS_PARALLEL_MIN)
    return out


def conv2d_backward(grad_output, input, weight, stride=1, padding=0, dilation=1, groups=1, *,
                    algorithm="auto"):
    """Gradients of :func:`conv2d` with respect to input, weight and bias.

    Parameters
    ----------
    grad_output : ndarray of shape (N, C_out, H_out, W_out), dL/d(output)
    input, weight, stride, padding, dilation, groups, algorithm
        exactly as passed to :func:`conv2d` (bias is not needed).

    Returns
    -------
    grad_input : ndarray of shape (N, C_in, H, W)
    grad_weight : ndarray of shape (C_out, C_in, kH, kW)
    grad_bias : ndarray of shape (C_out,), the sum of grad_output over N, H_out,
        W_out (returned whether or not the forward had a bias).

    Raises
    ------
    As :func:`conv2d`, plus ValueError when grad_output's shape is not the
    forward output's shape.

    Notes
    -----
    grad_weight[o, c, i, j] = sum_{n, y, x} grad_output[n, o, y, x] * input_padded[n, c, y*s + i*d, x*s + j*d];
    grad_input is the adjoint of the forward map (a transposed convolution).
    Scratch memory as :func:`conv2d`; the direct path also needs a widened copy
    of grad_output and a padded grad-input buffer.
    """
    go, x, w, g = _checks.conv2d_backward_args("conv2d_backward", grad_output, input, weight,
                                               stride, padding, dilation, groups, algorithm)
    if algorithm == "auto":
        algorithm = _select(x, w, g)
    n, c_out = x.shape[0], w.shape[0]
    grad_input = np.empty_like(x)
    grad_weight = np.empty_like(w)
    grad_bias = np.empty(c_out, dtype=x.dtype)
    if go.size == 0:  # empty batch or empty output: nothing flows back
        grad_input[...] = 0
        grad_weight[...] = 0
        grad_bias[...] = 0
        return grad_input, grad_weight, grad_bias
    if algorithm == "direct":
        _direct_backward(go, x, w, grad_input, grad_weight, g)
    else:
        _gemm_backward(go, x, w, grad_input, grad_weight, g)
    _bias.bias_reduce(go.reshape(n, c_out, -1), grad_bias, go.size >= BIAS_PARALLEL_MIN)
    return grad_input, grad_weight, grad_bias


# --------------------------------------------------------------------------- linear / matmul

def linear(input, weight, bias=None):
    """Affine map y = input @ weight.T + bias, as torch.nn.functional.linear.

    Parameters
    ----------
    input : ndarray of shape (*, in_features), float32 or float64 (any number of
        leading dimensions, e.g. (N, in_features))
    weight : ndarray of shape (out_features, in_features), same dtype
    bias : ndarray of shape (out_features,), same dtype, or None

    Returns
    -------
    ndarray of shape (*, out_features), input's dtype.

    Raises
    ------
    TypeError for non-float or mixed dtypes; ValueError for a feature-count
    mismatch or wrongly shaped weight/bias.
    """
    x2, w, b, lead = _checks.linear_args("linear", input, weight, bias)
    out = np.empty((x2.shape[0], w.shape[0]), dtype=x2.dtype)
    _gemm_into(x2, w, out, trans_b=True)
    if b is not None:
        _bias.bias_add(out.reshape(out.shape[0], out.shape[1], 1), b,
                       out.size >= BIAS_PARALLEL_MIN)
    return out.reshape(lead + (w.shape[0],))


def linear_backward(grad_output, input, weight):
    """Gradients of :func:`linear`: (grad_input, grad_weight, grad_bias).

    Parameters
    ----------
    grad_output : ndarray of shape (*, out_features)
    input : ndarray of shape (*, in_features), as passed to the forward
    weight : ndarray of shape (out_features, in_features)

    Returns
    -------
    grad_input (*, in_features) = grad_output @ weight;
    grad_weight (out_features, in_features) = grad_output^T @ input (summed over
    all leading dimensions); grad_bias (out_features,) = grad_output summed over
    all leading dimensions.
    """
    go2, x2, w, lead = _checks.linear_backward_args("linear_backward", grad_output, input,
                                                    weight)
    m, out_f = go2.shape
    grad_input = _gemm_into(go2, w, np.empty((m, w.shape[1]), dtype=x2.dtype))
    grad_weight = _gemm_into(go2, x2, np.empty_like(w), trans_a=True)
    grad_bias = np.empty(out_f, dtype=x2.dtype)
    _bias.bias_reduce(go2.reshape(m, out_f, 1), grad_bias, go2.size >= BIAS_PARALLEL_MIN)
    return grad_input.reshape(lead + (w.shape[1],)), grad_weight, grad_bias


def _gemm_operand(x):
    """A 2-D array as (C-contiguous matrix, transposed?) for the GEMM kernel, copying only if needed.

    A transposed view (x.T of a C-contiguous array, e.g. ``w.T``) is passed to
    the kernel as its C-contiguous base with the transpose flag set, instead of
    being copied: the kernel packs either layout at the same speed.
    """
    if x.flags.c_contiguous:
        return x, False
    if x.T.flags.c_contiguous:
        return x.T, True
    return np.ascontiguousarray(x), False


def matmul(input, other):
    """Matrix product of two 2-D arrays with fastnn's GEMM kernel.

    Parameters
    ----------
    input : ndarray of shape (M, K), float32 or float64
    other : ndarray of shape (K, N), same dtype

    Returns
    -------
    ndarray of shape (M, N). Raises ValueError on mismatched inner dimensions.
    """
    a, b = _checks.matmul_args("matmul", input, other, keep_layout=True)
    (a, ta), (b, tb) = _gemm_operand(a), _gemm_operand(b)
    m, n = (a.shape[1] if ta else a.shape[0]), (b.shape[0] if tb else b.shape[1])
    return _gemm_into(a, b, np.empty((m, n), dtype=a.dtype), trans_a=ta, trans_b=tb)


def matmul_backward(grad_output, input, other):
    """Gradients of :func:`matmul`: (grad_output @ other.T, input.T @ grad_output)."""
    go, a, b = _checks.matmul_backward_args("matmul_backward", grad_output, input, other,
                                            keep_layout=True)
    go = go if go.flags.c_contiguous else np.ascontiguousarray(go)
    (a, ta), (b, tb) = _gemm_operand(a), _gemm_operand(b)
    shape_a, shape_b = (a.shape[::-1] if ta else a.shape), (b.shape[::-1] if tb else b.shape)
    # other = b.T when tb, so other.T is b itself: the kernel's transpose flag flips.
    grad_input = _gemm_into(go, b, np.empty(shape_a, dtype=a.dtype), trans_b=not tb)
    grad_other = _gemm_into(a, go, np.empty(shape_b, dtype=a.dtype), trans_a=not ta)
    return grad_input, grad_other


# --------------------------------------------------------------------------- activations

# Below these sizes an elementwise call runs serially on the calling thread:
# starting a prange region costs ~2 us plus waking the other thread. Measured
# per element on one thread (2-core Zen 3, float32, in cache): relu / step /
# the backward products ~0.2 ns, sigmoid ~0.9 ns, tanh ~1.3 ns. So a parallel
# split pays off from a few tens of thousands of cheap elements, but already
# from a few thousand sigmoid / tanh elements (more work per element).
ELEMENTWISE_PARALLEL_MIN = 32768
TRANSCENDENTAL_PARALLEL_MIN = 8192
# Outputs at least this large are written with non-temporal (streaming)
# stores: they do not fit in the 32 MiB L3 next to their input, so a normal
# store would first read every output line from memory (see
# kernels/mathfun.py stream_store; relu on 64 MiB: ~70% -> ~100% of np.copyto).
STREAMING_MIN_BYTES = 16 * 2**20
# sigmoid / tanh forward do not stream: with ~1 ns of arithmetic per element,
# the streaming path (compute a block into a buffer, then store it) measured
# slower than plain stores (serial, 4M float32: 0.8 ns/element plain, 1.1-8.7
# ns streaming over four noisy runs), while relu streamed faster (0.41 vs
# 0.46). The kernels support it; tests switch it on to exercise it.
TRANSCENDENTAL_STREAMING = False


def _split(n_elements, nbytes, transcendental):
    """(n_chunks, stream) arguments of an activation kernel for an output of this size."""
    if transcendental:
        parallel = n_elements >= TRANSCENDENTAL_PARALLEL_MIN
        stream = TRANSCENDENTAL_STREAMING and nbytes >= STREAMING_MIN_BYTES
    else:
        parallel = n_elements >= ELEMENTWISE_PARALLEL_MIN
        stream = nbytes >= STREAMING_MIN_BYTES
    return (_get_num_threads() if parallel else 1), stream


def _elementwise(kernel, op, input, out, transcendental, *scalars):
    x = _checks.float_array(op, "input", input)
    if out is None:
        out = np.empty_like(x)
    else:
        _checks.out_array(op, out, x, reads=(("input", x),))
    kernel(x.reshape(-1), out.reshape(-1), *scalars, *_split(x.size, x.nbytes, transcendental))
    return out


def _elementwise_backward(kernel, op, grad_output, saved, saved_name, out, *scalars):
    go, s = _checks.elementwise_backward_args(op, grad_output, saved, saved_name)
    if out is None:
        out = np.empty_like(s)
    else:
        _checks.out_array(op, out, s, reads=(("grad_output", go), (saved_name, s)))
    kernel(go.reshape(-1), s.reshape(-1), out.reshape(-1), *scalars,
           *_split(s.size, s.nbytes, False))
    return out


_OUT_DOC = """``out``: None (a new array) or an ndarray of the result's shape and dtype,
    C-contiguous and writable, which receives the result and is returned. It may
    be one of the op's inputs (in place: each element is read before it is
    written) but not partially overlap one. Errors: TypeError / ValueError
    naming the argument (non-array or wrong dtype / wrong shape, non-contiguous,
    read-only, partial overlap)."""


def relu(input, out=None):
    """max(input, 0) elementwise; any shape, float32/float64. relu(NaN) = NaN.

    out : see below. Returns ``out`` (or a new array) of input's shape and dtype.
    """
    return _elementwise(_act.relu_forward, "relu", input, out, False)


def relu_backward(grad_output, input, out=None):
    """grad_output where input > 0, else exactly 0 (relu'(0) = 0).

    input is the forward's input; both arrays share one shape and dtype. As
    torch's threshold_backward, an input of NaN passes grad_output through
    (the test is ``input <= 0``, false for NaN). ``out`` as for :func:`relu`.
    """
    return _elementwise_backward(_act.relu_backward, "relu_backward", grad_output, input,
                                 "input", out)


def leaky_relu(input, negative_slope=0.01, out=None):
    """input where input > 0, else negative_slope * input, as torch.nn.functional.leaky_relu.

    Parameters
    ----------
    input : ndarray of any shape, float32 or float64
    negative_slope : real number (int or float; cast to input's dtype), default 0.01
    out : None or ndarray, as for :func:`relu`

    Returns ``out`` (or a new array) of input's shape and dtype; NaN -> NaN.
    Raises TypeError for a negative_slope that is not a real number (bool,
    str, complex, array).
    """
    slope = _checks.real_scalar("leaky_relu", "negative_slope", negative_slope)
    x = _checks.float_array("leaky_relu", "input", input)
    return _elementwise(_act.leaky_relu_forward, "leaky_relu", x, out, False,
                        x.dtype.type(slope))


def leaky_relu_backward(grad_output, input, negative_slope=0.01, out=None):
    """grad_output where input > 0, else negative_slope * grad_output (torch's convention:
    slope at input = 0 and at NaN). input is the forward's input; ``out`` as for :func:`relu`."""
    slope = _checks.real_scalar("leaky_relu_backward", "negative_slope", negative_slope)
    s = _checks.float_array("leaky_relu_backward", "input", input)
    return _elementwise_backward(_act.leaky_relu_backward, "leaky_relu_backward", grad_output,
                                 s, "input", out, s.dtype.type(slope))


def sigmoid(input, out=None):
    """1 / (1 + exp(-input)) elementwise, without overflow for any input; any shape.

    Max error ~1-2 ulp (vectorised exp, kernels/mathfun.py); sigmoid(+inf) = 1,
    sigmoid(-inf) = 0, NaN -> NaN. ``out`` as for :func:`relu`.
    """
    return _elementwise(_act.sigmoid_forward, "sigmoid", input, out, True)


def sigmoid_backward(grad_output, output, out=None):
    """grad_output * s * (1 - s), where ``output`` = s = sigmoid(input) from the forward."""
    return _elementwise_backward(_act.sigmoid_backward, "sigmoid_backward", grad_output, output,
                                 "output", out)


def tanh(input, out=None):
    """tanh(input) elementwise; any shape. Max error ~1-2 ulp; tanh(+-inf) = +-1.

    ``out`` as for :func:`relu`.
    """
    return _elementwise(_act.tanh_forward, "tanh", input, out, True)


def tanh_backward(grad_output, output, out=None):
    """grad_output * (1 - t^2), where ``output`` = t = tanh(input) from the forward."""
    return _elementwise_backward(_act.tanh_backward, "tanh_backward", grad_output, output,
                                 "output", out)


def step(input, out=None):
    """Hard threshold (Heaviside step): 1 where input >= 0, else 0; step(NaN) = NaN.

    The threshold unit of the perceptron / "hard-coded MLP" exercises; any
    shape, float32/float64. ``out`` as for :func:`relu`.
    """
    return _elementwise(_act.step_forward, "step", input, out, False)


def step_backward(grad_output, input, out=None):
    """Zeros: the step function's derivative is 0 everywhere except at 0, where it is undefined."""
    return _elementwise_backward(_act.step_backward, "step_backward", grad_output, input,
                                 "input", out)


for _f in (relu, relu_backward, leaky_relu, leaky_relu_backward, sigmoid, sigmoid_backward,
           tanh, tanh_backward, step, step_backward):
    _f.__doc__ += "\n    " + _OUT_DOC + "\n"
del _f


# --------------------------------------------------------------------------- softmax

def _rows_along(x, dim):
    """(rows, K) C-contiguous matrix with axis ``dim`` of x last, and its N-D shape."""
    if dim == x.ndim - 1 and x.flags.c_contiguous:
        # The common case (softmax over the last axis) is a free reshape;
        # moveaxis + np.prod cost ~20 us, 10x a whole 32 x 10 softmax.
        return x.reshape(math.prod(x.shape[:-1]), x.shape[-1]), x.shape
    moved = np.moveaxis(x, dim, -1)
    n_rows = int(np.prod(moved.shape[:-1]))  # not -1: K may be 0
    return np.ascontiguousarray(moved).reshape(n_rows, x.shape[dim]), moved.shape


def _from_rows(rows, moved_shape, dim):
    if dim == len(moved_shape) - 1:
        return rows.reshape(moved_shape)
    return np.ascontiguousarray(np.moveaxis(rows.reshape(moved_shape), -1, dim))


# Softmax-family calls on fewer elements (rows x K) than this run serially:
# a prange region costs ~2 us to start, while a softmax row of K floats takes
# ~1 ns per element on one thread, so the demo's 32 x 10 logits (~0.3 us of
# work) would spend most of their time starting threads. Measured with
# examples/bench_elementwise.py --small.
SOFTMAX_PARALLEL_MIN = 8192


def _rowwise(kernel, op, input, dim):
    """Run a row kernel along ``dim``: move dim last, rows contiguous, move it back."""
    x, d = _checks.softmax_args(op, input, dim)
    rows, shape = _rows_along(x, d)
    out = np.empty_like(rows)
    if rows.size:
        kernel(rows, out, rows.size >= SOFTMAX_PARALLEL_MIN)
    return _from_rows(out, shape, d)


def _rowwise_backward(kernel, op, grad_output, output, dim):
    go, y, d = _checks.softmax_backward_args(op, grad_output, output, dim)
    g_rows, shape = _rows_along(go, d)
    y_rows, _ = _rows_along(y, d)
    grad_input = np.empty_like(y_rows)
    if y_rows.size:
        kernel(g_rows, y_rows, grad_input, y_rows.size >= SOFTMAX_PARALLEL_MIN)
    return _from_rows(grad_input, shape, d)


def softmax(input, dim=-1):
    """softmax along ``dim``: exp(x - max) / sum(exp(x - max)), as torch.softmax.

    Parameters
    ----------
    input : ndarray of any shape with ndim >= 1, float32 or float64
    dim : int, the axis that sums to 1 (default the last; negative counts from the end)

    Returns
    -------
    ndarray of input's shape and dtype. Shift-invariant; never overflows
    (softmax([1000, 1001]) = [0.2689, 0.7311]).

    Raises
    ------
    TypeError for a non-float input or a non-int dim; ValueError for a 0-d
    input or dim out of range.
    """
    return _rowwise(_softmax.softmax_forward, "softmax", input, dim)


def softmax_backward(grad_output, output, dim=-1):
    """J^T grad_output for s = softmax(x): s * (grad_output - sum(grad_output * s, dim)).

    Parameters
    ----------
    grad_output : ndarray, dL/ds, same shape and dtype as output
    output : ndarray, the forward's result s = softmax(x, dim)
    dim : int, as passed to :func:`softmax`

    Returns
    -------
    ndarray dL/dx of output's shape and dtype. The K x K Jacobian
    diag(s) - s s^T is never formed.

    Raises
    ------
    As :func:`softmax`, plus ValueError/TypeError when grad_output's shape or
    dtype differs from output's.
    """
    return _rowwise_backward(_softmax.softmax_backward, "softmax_backward", grad_output, output,
                             dim)


def log_softmax(input, dim=-1):
    """log(softmax(input)) along ``dim``, computed as x - logsumexp(x), as torch.log_softmax.

    Shapes, dtypes and errors as :func:`softmax`; finite for any finite logits
    (log_softmax([-1e4, 0, 1e4]) = [-2e4, -1e4, 0]).
    """
    return _rowwise(_softmax.log_softmax_forward, "log_softmax", input, dim)


def log_softmax_backward(grad_output, output, dim=-1):
    """grad_output - exp(output) * sum(grad_output, dim), where ``output`` = log_softmax(x).

    Shapes, dtypes and errors as :func:`softmax_backward`.
    """
    return _rowwise_backward(_softmax.log_softmax_backward, "log_softmax_backward", grad_output,
                             output, dim)


def cross_entropy(input, target, reduction="mean"):
    """Softmax cross-entropy of logits against class indices or class probabilities,
    as torch.nn.functional.cross_entropy.

    Parameters
    ----------
    input : ndarray of shape (N, C), unnormalised logits, float32 or float64
    target : ndarray of shape (N,), integer class indices in [0, C); or a float
        ndarray of input's shape (N, C) and dtype, class probabilities (e.g.
        label-smoothed one-hot rows; rows are not required to sum to 1)
    reduction : {'mean', 'sum', 'none'}; 'mean' divides by N for both kinds of target

    Returns
    -------
    For 'mean' / 'sum' a NumPy scalar of input's dtype; for 'none' an ndarray
    of shape (N,). Class indices: loss_n = logsumexp(input[n]) - input[n, target[n]];
    probabilities: loss_n = -sum_c target[n, c] * log_softmax(input[n])[c].

    Raises
    ------
    TypeError for targets that are neither integer nor float of input's
    dtype, and for a float target of shape (N,) (class indices stored as
    floats); ValueError for class indices outside [0, C), mismatched shapes,
    an unknown reduction, or 'mean' over an empty batch.
    """
    x, t = _checks.cross_entropy_args("cross_entropy", input, target, reduction)
    losses = np.empty(x.shape[0], dtype=x.dtype)
    if x.shape[0] and t.ndim == 2:
        _losses.soft_cross_entropy_forward(x, t, losses)
    elif x.shape[0]:
        _softmax.softmax_cross_entropy_forward(x, t, losses, x.size >= SOFTMAX_PARALLEL_MIN)
    if reduction == "none":
        return losses
    return losses.mean() if reduction == "mean" else losses.sum()


def cross_entropy_backward(grad_output, input, target, reduction="mean"):
    """dL/d(input) of :func:`cross_entropy`: scale_n * (softmax(input[n]) - onehot(target[n])),
    or scale_n * (softmax(input[n]) * sum(target[n]) - target[n]) for probability targets.

    Parameters
    ----------
    grad_output : scalar for reduction 'mean' / 'sum' (1.0 for the loss itself),
        ndarray of shape (N,) for 'none'
    input, target, reduction : as passed to the forward

    Returns
    -------
    ndarray of shape (N, C); for 'mean', scale_n = grad_output / N.
    """
    x, t = _checks.cross_entropy_args("cross_entropy_backward", input, target, reduction)
    scale = _checks.cross_entropy_scale("cross_entropy_backward", grad_output, x, reduction)
    grad_input = np.empty_like(x)
    if x.shape[0] and t.ndim == 2:
        _losses.soft_cross_entropy_backward(x, t, scale, grad_input)
    elif x.shape[0]:
        _softmax.softmax_cross_entropy_backward(x, t, scale, grad_input,
                                                x.size >= SOFTMAX_PARALLEL_MIN)
    return grad_input


# --------------------------------------------------------------------------- max_pool2d

# Pooling calls whose input (N*C*H*W elements) is smaller than these run
# serially on the calling thread: waking the sleeping OpenMP threads costs
# ~20-60 us per call (OMP_WAIT_POLICY=PASSIVE), more than the digits demo's
# pooling work. Serial cost measured per input element (2-core Zen 3, float32,
# 2x2 windows, the other core busy): max_pool2d forward ~7 ns, avg_pool2d
# forward / backward ~5 ns, max_pool2d backward ~1.5 ns, global average
# forward / backward ~0.2 ns. The thresholds keep a parallel call's work well
# above the wake-up cost (~100-500 us serial at POOL_PARALLEL_MIN, ~50 us at
# GLOBAL_POOL_PARALLEL_MIN). Caveat: they were measured while another process
# kept one core busy, and then serial was as fast or faster at every size up
# to 2M elements; on an idle machine the costliest kernel (max_pool2d forward,
# ~200 us serial on the demo's (32, 16, 8, 8)) may gain from two threads below
# POOL_PARALLEL_MIN. On that demo input, kernel alone: max_pool2d_backward
# ~45-70 us parallel -> ~35-50 us serial, the global average kernels ~25 -> ~6 us.
POOL_PARALLEL_MIN = 65536
GLOBAL_POOL_PARALLEL_MIN = 262144


def _pool_parallel(x):
    """Whether a max / avg pooling kernel over input ``x`` splits planes across threads."""
    return x.size >= POOL_PARALLEL_MIN


def _max_pool_indices(x, g):
    n, c = x.shape[:2]
    out = np.empty((n, c, g.out_h, g.out_w), dtype=x.dtype)
    indices = np.empty(out.shape, dtype=np.int64)
    if out.size:
        _pool.max_pool2d_forward(x, out, indices, g.kh, g.kw, g.stride_h, g.stride_w, g.pad_h,
                                 g.pad_w, _pool_parallel(x))
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
    x, g = _checks.max_pool2d_args("max_pool2d", input, kernel_size, stride, padding,
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
    go, x, g, idx = _checks.max_pool2d_backward_args("max_pool2d_backward", grad_output, input,
                                                     kernel_size, stride, padding, indices,
                                                     ceil_mode)
    if idx is None:
        _, idx = _max_pool_indices(x, g)
    grad_input = np.empty_like(x)
    if grad_input.size:
        _pool.max_pool2d_backward(go, idx, grad_input, _pool_parallel(grad_input))
    return grad_input


# --------------------------------------------------------------------------- avg_pool2d

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
    x, g, include = _checks.avg_pool2d_args("avg_pool2d", input, kernel_size, stride, padding,
                                            ceil_mode, count_include_pad)
    out = np.empty((x.shape[0], x.shape[1], g.out_h, g.out_w), dtype=x.dtype)
    if out.size:
        _pool.avg_pool2d_forward(x, out, g.kh, g.kw, g.stride_h, g.stride_w, g.pad_h, g.pad_w,
                                 include, _pool_parallel(x))
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
    go, x, g, include = _checks.avg_pool2d_backward_args(
        "avg_pool2d_backward", grad_output, input, kernel_size, stride, padding, ceil_mode,
        count_include_pad)
    grad_input = np.empty_like(x)
    if grad_input.size:
        _pool.avg_pool2d_backward(go, grad_input, g.kh, g.kw, g.stride_h, g.stride_w, g.pad_h,
                                  g.pad_w, include, _pool_parallel(grad_input))
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
    x = _checks.adaptive_avg_pool2d_args("adaptive_avg_pool2d", input, output_size)
    n, c, h, w = x.shape
    out = np.empty((n, c, 1, 1), dtype=x.dtype)
    if out.size:
        _pool.global_avg_pool2d_forward(x.reshape(n * c, h * w), out.reshape(n * c),
                                        x.size >= GLOBAL_POOL_PARALLEL_MIN)
    return out


def adaptive_avg_pool2d_backward(grad_output, input, output_size):
    """Gradient of :func:`adaptive_avg_pool2d`: grad_output[n, c] / (H*W) over each plane.

    grad_output : (N, C, 1, 1); returns grad_input of input's shape (N, C, H, W).
    """
    go, x = _checks.adaptive_avg_pool2d_backward_args("adaptive_avg_pool2d_backward",
                                                      grad_output, input, output_size)
    n, c, h, w = x.shape
    grad_input = np.empty_like(x)
    if grad_input.size:
        _pool.global_avg_pool2d_backward(go.reshape(n * c), grad_input.reshape(n * c, h * w),
                                         grad_input.size >= GLOBAL_POOL_PARALLEL_MIN)
    return grad_input


# --------------------------------------------------------------------------- batch_norm

def _bn_chunks(x3):
    """Per-thread partial sums for the batch-norm reductions: one chunk of rows per thread."""
    return max(1, min(numba.get_num_threads(), x3.shape[0] * x3.shape[1]))


def _batch_stats(x3):
    c = x3.shape[1]
    mean = np.empty(c, dtype=x3.dtype)
    var = np.empty(c, dtype=x3.dtype)
    _bn.batch_norm_stats(x3, mean, var, np.empty((_bn_chunks(x3), c)))
    return mean, var


def _update_running_stats(running_mean, running_var, mean, var, momentum, count):
    """running = (1 - momentum) * running + momentum * batch_stat, in place (unbiased var)."""
    running_mean *= 1 - momentum
    running_mean += momentum * mean
    running_var *= 1 - momentum
    running_var += (momentum * count / (count - 1)) * var


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalisation per channel, as torch.nn.functional.batch_norm.

    Parameters
    ----------
    input : ndarray of shape (N, C), (N, C, L) or (N, C, H, W), float32 or float64
    running_mean, running_var : ndarrays of shape (C,), input's dtype, or None
        (training only: then no running statistics are kept). **Modified in
        place** when training=True, as in torch.
    weight, bias : ndarrays of shape (C,) (gamma and beta), or None (1 and 0)
    training : bool; True normalises with the batch's statistics and updates
        the running ones; False normalises with the running statistics
    momentum : float in [0, 1], weight of the new batch in the running average
    eps : float >= 0, added to the variance (eps=0 with a constant channel gives NaN)

    Returns
    -------
    ndarray of input's shape and dtype.

    Raises
    ------
    TypeError for non-float or mixed dtypes, non-bool training; ValueError for
    input with fewer than 2 dimensions, running stats / weight / bias not of
    shape (C,), missing running stats with training=False, read-only running
    stats with training=True, momentum outside [0, 1], eps < 0, and training
    with only one value per channel (N * H * W == 1).

    Notes
    -----
    With mean_c and var_c the mean and BIASED variance of channel c over the
    M = N * H * W values of the batch (training) or the running statistics
    (evaluation):

        out = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c

    Training also updates, in place (torch's convention, unbiased variance):

        running_mean = (1 - momentum) * running_mean + momentum * mean_c
        running_var  = (1 - momentum) * running_var  + momentum * var_c * M / (M - 1)

    Batch statistics are computed in float64 and stored in input's dtype.
    Ioffe & Szegedy (2015), "Batch Normalization".
    """
    x3, rm, rv, w, b, training, momentum, eps = _checks.batch_norm_args(
        "batch_norm", input, running_mean, running_var, weight, bias, training, momentum, eps)
    n, c, length = x3.shape
    dt = x3.dtype
    if training:
        mean, var = _batch_stats(x3)
        if rm is not None:
            _update_running_stats(rm, rv, mean, var, momentum, n * length)
    else:
        mean, var = np.ascontiguousarray(rm), np.ascontiguousarray(rv)
    scale = (1 / np.sqrt(var + dt.type(eps))).astype(dt)
    if w is not None:
        scale *= w
    shift = b if b is not None else np.zeros(c, dtype=dt)
    out = np.empty_like(x3)
    if out.size:
        _bn.batch_norm_forward(x3, mean, scale, shift, out)
    return out.reshape(input.shape)


def batch_norm_backward(grad_output, input, running_mean, running_var, weight=None,
                        training=False, eps=1e-5):
    """Gradients of :func:`batch_norm`: (grad_input, grad_weight, grad_bias).

    Parameters
    ----------
    grad_output : ndarray of input's shape, dL/d(output)
    input, running_mean, running_var, weight, training, eps : as passed to the
        forward (bias and momentum are not needed). In training mode the batch
        statistics are recomputed from ``input`` and the running statistics are
        neither needed (may be None) nor read; in evaluation mode they must be
        the ones the forward used.

    Returns
    -------
    grad_input : ndarray of input's shape
    grad_weight : ndarray (C,), sum over N, H, W of grad_output * x_hat
    grad_bias : ndarray (C,), sum over N, H, W of grad_output
    (grad_weight and grad_bias are returned even when weight / bias were None.)

    Notes
    -----
    x_hat = (x - mean) * invstd, invstd = 1 / sqrt(var + eps), k = weight * invstd.
    Training (the batch statistics depend on x; M values per channel):

        grad_input = k * (g - sum(g) / M - x_hat * sum(g * x_hat) / M)

    Evaluation (fixed running statistics): grad_input = k * g.
    """
    go3, x3, rm, rv, w, training, eps = _checks.batch_norm_backward_args(
        "batch_norm_backward", grad_output, input, running_mean, running_var, weight, training,
        eps)
    n, c, length = x3.shape
    dt = x3.dtype
    mean, var = _batch_stats(x3) if training else (rm, rv)
    invstd = (1 / np.sqrt(var + dt.type(eps))).astype(dt)
    sum_g = np.zeros(c, dtype=dt)
    sum_gxc = np.zeros(c, dtype=dt)
    if x3.size:
        _bn.batch_norm_backward_reduce(go3, x3, mean, sum_g, sum_gxc,
                                       np.empty((_bn_chunks(x3), 2, c)))
    grad_weight = sum_gxc * invstd
    k = invstd * w if w is not None else invstd
    if training:
        count = n * length
        coef_x = -k * invstd * invstd * sum_gxc / dt.type(count)
        coef_1 = -k * sum_g / dt.type(count)
    else:
        coef_x = coef_1 = np.zeros(c, dtype=dt)
    grad_input = np.empty_like(x3)
    if x3.size:
        _bn.batch_norm_backward_input(go3, x3, mean, k, coef_x, coef_1, grad_input)
    return grad_input.reshape(input.shape), grad_weight, sum_g


# --------------------------------------------------------------------------- dropout

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
    x, p, training, gen = _checks.dropout_args("dropout", input, p, training, generator)
    if not training or p == 0:
        out, mask = x, np.ones(x.shape, dtype=np.bool_)
    else:
        mask = _random.dropout_mask(gen, x.shape, p)
        out = np.empty_like(x)
        _dropout.dropout_apply_mask(x.reshape(-1), mask.reshape(-1), x.dtype.type(1 / (1 - p)),
                                    out.reshape(-1))
    return (out, mask) if return_mask else out


def dropout_backward(grad_output, mask, p, training=True):
    """Gradient of :func:`dropout`: grad_output * mask / (1 - p).

    grad_output : ndarray of the input's shape; mask : the bool ndarray from
    ``dropout(..., return_mask=True)``; p, training : as passed to the forward
    (with training=False the forward was the identity, and so is this: a copy
    of grad_output). Returns grad_input of grad_output's shape and dtype.
    """
    go, mask, p, training = _checks.dropout_backward_args("dropout_backward", grad_output, mask,
                                                          p, training)
    if not training:
        return go.copy()
    grad_input = np.empty_like(go)
    _dropout.dropout_apply_mask(go.reshape(-1), mask.reshape(-1), go.dtype.type(1 / (1 - p)),
                                grad_input.reshape(-1))
    return grad_input


# --------------------------------------------------------------------------- losses

def _reduce(losses, reduction):
    if reduction == "none":
        return losses
    return losses.mean() if reduction == "mean" else losses.sum()


def _elementwise_loss(kernel, op, input, target, reduction, probs=False):
    x, t = _checks.elementwise_loss_args(op, input, target, reduction)
    if probs:
        _checks.probabilities(op, "input", x)
    losses = np.empty_like(x)
    kernel(x.reshape(-1), t.reshape(-1), losses.reshape(-1))
    return _reduce(losses, reduction)


def _elementwise_loss_backward(kernel, op, grad_output, input, target, reduction, probs=False):
    x, t = _checks.elementwise_loss_args(op, input, target, reduction)
    if probs:
        _checks.probabilities(op, "input", x)
    g = _checks.elementwise_loss_grad(op, grad_output, x, reduction)
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


# --------------------------------------------------------------------------- further op families
# Each lives in its own private module; imported here so that fastnn.functional stays the one
# public namespace (DESIGN.md: functional.py becomes a facade of family modules).
from ._recurrent import *  # noqa: E402,F401,F403  (rnn_tanh, lstm, gru, *_cell, *_backward)
from ._recurrent import __all__ as _recurrent_all  # noqa: E402
from ._embedding import embedding, embedding_backward  # noqa: E402
from ._norm_ext import (group_norm, group_norm_backward, layer_norm,  # noqa: E402
                        layer_norm_backward)
from ._loss_ext import multi_margin_loss, multi_margin_loss_backward  # noqa: E402

__all__ += _recurrent_all + [
    "embedding", "embedding_backward", "layer_norm", "layer_norm_backward", "group_norm",
    "group_norm_backward", "multi_margin_loss", "multi_margin_loss_backward"]
