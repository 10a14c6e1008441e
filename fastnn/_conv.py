"""conv2d and conv2d_backward: the direct, im2col, 1x1 and Winograd algorithms, the static
"auto" rule and the list of algorithms that fastnn._autotune measures (kernels/conv_direct.py,
kernels/im2col.py, fastnn/_winograd.py; the GEMM through fastnn._linear).
"""
import functools

import numpy as np

from . import _args
from . import _autotune
from . import _checks
from . import _geometry
from . import _workspace
from . import _tuning
from ._linear import gemm_into
from ._winograd import winograd_applicable, winograd_backward, winograd_forward  # noqa: F401
from .kernels import bias as _bias
from .kernels import conv_direct as _direct
from .kernels import conv_direct_grad as _direct_grad
from .kernels import conv_weight_cvec as _weight_cvec
from .kernels import im2col as _im2col
from .kernels import simd as _simd


def select_conv2d_algorithm(input_shape, weight_shape, output_hw, dtype, stride=(1, 1),
                            padding=(0, 0), *, pass_name="forward", dilation=(1, 1)):
    """The algorithm ``conv2d(..., algorithm='auto')`` uses for these shapes.

    Parameters
    ----------
    input_shape : tuple (N, C_in, H, W)
    weight_shape : tuple (C_out, C_in, kH, kW)
    output_hw : tuple (H_out, W_out)
    dtype : numpy dtype (float32 or float64)
    stride, padding : (int, int), as passed to conv2d (padding as top/left ints)
    pass_name : {'forward', 'backward'}, keyword-only: which call the pick is for
    dilation : (int, int), keyword-only, default (1, 1)

    Returns
    -------
    str
        With P = H_out*W_out output positions per image, D = C_in*kH*kW taps, K = C_out,
        and T = get_num_threads() (constants in fastnn/_tuning.py):

        0. 3x3 kernel, stride 1, dilation 1, C_in and C_out >= ``WINOGRAD_MIN_CHANNELS``
           (64), C_in * C_out >= ``WINOGRAD_MIN_CHANNEL_PRODUCT`` (4096), P >=
           ``WINOGRAD_MIN_PLANE`` (196) and N * P >= ``WINOGRAD_MIN_POSITIONS`` (784):
           ``'winograd'``.
        1. 1x1 kernel, stride 1, padding 0 (when ``POINTWISE_GEMM``): ``'1x1'``, except
           the forward pass with C_in <= ``POINTWISE_DIRECT_MAX_CIN`` (64) and P >=
           ``POINTWISE_DIRECT_MIN_PLANE`` (784), which is ``'direct'``.
        2. any other 1x1 kernel (strided or padded): ``'im2col'``.
        3. ``'im2col'`` when P <= ``SMALL_PLANE_PIXELS`` (16) and D > ``DIRECT_MAX_TAPS``
           (64); or P <= ``MEDIUM_PLANE_PIXELS`` (256) and K*D >=
           ``IM2COL_MEDIUM_PLANE_WORK`` (65,536); or K*D >= ``IM2COL_MIN_WORK_FORWARD``
           (262,144) forward / ``IM2COL_MIN_WORK_BACKWARD`` (65,536) backward; or,
           backward only, fewer than ``DIRECT_BACKWARD_MIN_TASKS`` (2) x T tasks for the
           direct grad-input kernel (N x ceil(C_in / 4)).
        4. else ``'direct'``.

        Fitted on the bench shapes A-F, ResNet-18, VGG-11, MobileNet-v1's pointwise
        layers and small layers (LeNet-5, the digits demo) with
        examples/fit_conv_rule.py; the table is in the README ("Choosing the conv2d
        algorithm"). With autotuning on (:func:`fastnn.set_conv_autotune`) this rule
        still decides every call under ``AUTOTUNE_MIN_MACS``.
    """
    _checks.choice("select_conv2d_algorithm", "pass_name", pass_name, ("forward", "backward"))
    n, c_in = input_shape[:2]
    c_out, _, kh, kw = weight_shape
    plane = output_hw[0] * output_hw[1]
    backward = pass_name == "backward"
    if ((kh, kw) == (3, 3) and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1)
            and min(c_in, c_out) >= _tuning.WINOGRAD_MIN_CHANNELS
            and c_in * c_out >= _tuning.WINOGRAD_MIN_CHANNEL_PRODUCT
            and plane >= _tuning.WINOGRAD_MIN_PLANE
            and n * plane >= _tuning.WINOGRAD_MIN_POSITIONS):
        return "winograd"
    if kh == kw == 1:
        if _tuning.POINTWISE_GEMM and tuple(stride) == (1, 1) and tuple(padding) == (0, 0):
            if (not backward and c_in <= _tuning.POINTWISE_DIRECT_MAX_CIN
                    and plane >= _tuning.POINTWISE_DIRECT_MIN_PLANE):
                return "direct"
            return "1x1"
        if not (tuple(stride) == (1, 1) and tuple(padding) == (0, 0)):
            return "im2col"
    taps = c_in * kh * kw
    work = c_out * taps
    if plane <= _tuning.SMALL_PLANE_PIXELS and taps > _tuning.DIRECT_MAX_TAPS:
        return "im2col"
    if plane <= _tuning.MEDIUM_PLANE_PIXELS and work >= _tuning.IM2COL_MEDIUM_PLANE_WORK:
        return "im2col"
    if work >= (_tuning.IM2COL_MIN_WORK_BACKWARD if backward else _tuning.IM2COL_MIN_WORK_FORWARD):
        return "im2col"
    tasks = n * -(-c_in // _direct_grad.INPUT_OB)     # of the direct grad-input kernel
    if backward and tasks < _tuning.DIRECT_BACKWARD_MIN_TASKS * _tuning.get_num_threads():
        return "im2col"
    return "direct"


# Every algorithm conv2d can run (not 'auto'); applicable_algorithms says which fit a call.
ALGORITHMS = tuple(a for a in _checks.CONV_ALGORITHMS if a != "auto")


def applicable_algorithms(x_shape, w_shape, geom):
    """The algorithms that can run a conv2d call, in the order autotuning times them.

    Parameters
    ----------
    x_shape : tuple (N, C_in, H, W)
    w_shape : tuple (C_out, C_in, kH, kW)
    geom : fastnn._geometry.ConvGeometry of the call

    Returns
    -------
    tuple of str
        ``('direct', 'im2col')``, plus ``'winograd'`` for a 3x3 kernel with stride 1 and
        dilation 1, or ``('direct', '1x1')`` for a 1x1 kernel with stride 1
        and no padding (there 'im2col' runs the very same GEMM path as '1x1': the
        columns are the input itself, so it is not timed twice). A new algorithm is
        added here and in :func:`_run_forward` / :func:`_run_backward`; 'auto' then
        measures it too.
    """
    if _geometry.is_pointwise_conv(geom):
        return ("direct", "1x1")
    if winograd_applicable(w_shape, geom):
        return ("direct", "im2col", "winograd")
    return ("direct", "im2col")


def _static(pass_name, x, w, geom):
    return select_conv2d_algorithm(x.shape, w.shape, (geom.out_h, geom.out_w), x.dtype,
                                   (geom.stride_h, geom.stride_w), (geom.pad_h, geom.pad_w),
                                   pass_name=pass_name, dilation=(geom.dil_h, geom.dil_w))


def _macs(x, w, geom):
    return x.shape[0] * w.shape[0] * w.shape[1] * w.shape[2] * w.shape[3] * geom.out_h * geom.out_w


def _auto(pass_name, x, w, geom, groups, run):
    """'auto' for one call: the static rule, or the measured winner (fastnn._autotune)."""
    static = _static(pass_name, x, w, geom)
    macs = _macs(x, w, geom)
    candidates = applicable_algorithms(x.shape, w.shape, geom)
    if not _autotune.tunes(macs, candidates):
        return static
    return _autotune.choose(_autotune.make_key(pass_name, x, w, geom, groups), macs, candidates,
                            static, run)


def _batch_chunks(n, bytes_per_image):
    """Split range(n) into chunks of at most _tuning.IM2COL_CHUNK_BYTES of columns (>= 1 image)."""
    step = max(1, _tuning.IM2COL_CHUNK_BYTES // max(1, bytes_per_image))
    return [(n0, min(n, n0 + step)) for n0 in range(0, n, step)]


def _unfold(x, geom, slot):
    """The GEMM operand for images x (m, C_in, H, W): (C_in*kH*kW, m*H_out*W_out).

    For a pointwise conv it is x itself for one image and the (C, m, H*W) axis
    swap for several; otherwise the im2col matrix. Lives in a workspace.
    """
    m, c_in = x.shape[:2]
    hw = geom.out_h * geom.out_w
    if _geometry.is_pointwise_conv(geom):
        if m == 1:
            return x.reshape(c_in, hw)
        cols = _workspace.workspace(slot, (c_in, m, hw), x.dtype)
        _im2col.swap_nc(x.reshape(m, c_in, hw), cols)
        return cols.reshape(c_in, m * hw)
    cols = _workspace.workspace(slot, (c_in * geom.kh * geom.kw, m * hw), x.dtype)
    _im2col.im2col(x, cols, geom.kh, geom.kw, geom.stride_h, geom.stride_w, geom.pad_h, geom.pad_w,
                   geom.dil_h, geom.dil_w, geom.out_h, geom.out_w)
    return cols


def _gemm_forward(x, w, out, geom):
    """im2col / 1x1 forward, chunked over the batch (see _tuning.IM2COL_CHUNK_BYTES)."""
    n, c_out = out.shape[:2]
    hw = geom.out_h * geom.out_w
    w2 = w.reshape(c_out, -1)
    # im2col and swap_nc take no n_chunks, so nothing else places the workers before the
    # first of them: E's forward took 2.47-2.66 ms without this, 2.34-2.43 with it.
    _tuning.before_parallel()
    for n0, n1 in _batch_chunks(n, w2.shape[1] * hw * x.dtype.itemsize):
        m = n1 - n0
        cols = _unfold(x[n0:n1], geom, "conv_cols")
        if m == 1:  # (C_out, H_out*W_out) is already image n0's NCHW plane
            gemm_into(w2, cols, out[n0].reshape(c_out, hw))
        else:
            out_cn = _workspace.workspace("conv_out_cn", (c_out, m, hw), x.dtype)
            gemm_into(w2, cols, out_cn.reshape(c_out, -1))
            _im2col.swap_nc(out_cn, out[n0:n1].reshape(m, c_out, hw))


def _gemm_backward(go, x, w, grad_input, grad_weight, geom):
    """im2col / 1x1 backward, chunked over the batch; grad_weight sums over chunks."""
    n, c_out = go.shape[:2]
    hw = geom.out_h * geom.out_w
    w2 = w.reshape(c_out, -1)
    gw2 = grad_weight.reshape(c_out, -1)
    pointwise = _geometry.is_pointwise_conv(geom)
    chunks = _batch_chunks(n, w2.shape[1] * hw * x.dtype.itemsize)
    _tuning.before_parallel()   # (as in _gemm_forward)
    for i, (n0, n1) in enumerate(chunks):
        m = n1 - n0
        if m == 1:
            go2 = go[n0].reshape(c_out, hw)
        else:
            go_cn = _workspace.workspace("conv_go_cn", (c_out, m, hw), x.dtype)
            _im2col.swap_nc(go[n0:n1].reshape(m, c_out, hw), go_cn)
            go2 = go_cn.reshape(c_out, -1)
        cols = _unfold(x[n0:n1], geom, "conv_cols")
        if i == 0:
            gemm_into(go2, cols, gw2, trans_b=True)
        else:
            part = _workspace.workspace("conv_gw_part", gw2.shape, x.dtype)
            gemm_into(go2, cols, part, trans_b=True)
            gw2 += part
        if grad_input is None:
            continue
        gi = grad_input[n0:n1]
        if pointwise and m == 1:
            gemm_into(w2, go2, gi.reshape(w2.shape[1], hw), trans_a=True)
            continue
        dcols = _workspace.workspace("conv_dcols", (w2.shape[1], m * hw), x.dtype)
        gemm_into(w2, go2, dcols, trans_a=True)
        if pointwise:
            _im2col.swap_nc(dcols.reshape(w2.shape[1], m, hw), gi.reshape(m, w2.shape[1], hw))
        else:
            _im2col.col2im(dcols, gi, geom.kh, geom.kw, geom.stride_h, geom.stride_w, geom.pad_h, geom.pad_w,
                           geom.dil_h, geom.dil_w, geom.out_h, geom.out_w)


@functools.lru_cache(maxsize=64)
def _direct_layout(c_in, geom):
    """Packed-plane geometry and tap tables of the direct kernels (kernels/conv_direct.py).

    Returns (packed_h, packed_w, tap_plane, tap_off, sp_plane, sp_off): packed planes are
    packed_h x packed_w; tap_* index every (c, ky, kx) tap, sp_* every spatial (ky, kx) tap.
    Cached per geometry (callers must not modify the tables): building them with NumPy
    costs ~20 us, as much as a whole small conv.
    """
    sh, sw, dh, dw = geom.stride_h, geom.stride_w, geom.dil_h, geom.dil_w
    packed_h = geom.out_h + ((geom.kh - 1) * dh) // sh
    packed_w = geom.out_w + ((geom.kw - 1) * dw) // sw
    qy = np.arange(geom.kh) * dh
    qx = np.arange(geom.kw) * dw
    sp_plane = ((qy % sh)[:, None] * sw + (qx % sw)[None, :]).ravel()
    sp_off = ((qy // sh)[:, None] * packed_w + (qx // sw)[None, :]).ravel()
    tap_plane = (np.arange(c_in)[:, None] * (sh * sw) + sp_plane[None, :]).ravel()
    tap_off = np.tile(sp_off, c_in)
    # (Not marked read-only: Numba would compile a second specialisation for
    # read-only arrays. Only the direct kernels see them, and they only read.)
    return (packed_h, packed_w) + tuple(t.astype(np.int64) for t in (tap_plane, tap_off, sp_plane, sp_off))


def _blocked(mat, ob):
    """(R, T) -> (ceil(R / ob), T, ob) with zero rows past R: blocks of ob rows, interleaved."""
    r, t = mat.shape
    nb = -(-r // ob)
    if r % ob:
        padded = np.zeros((nb * ob, t), dtype=mat.dtype)
        padded[:r] = mat
        mat = padded
    return np.ascontiguousarray(mat.reshape(nb, ob, t).transpose(0, 2, 1))


def _blocked_input_weights(w, ob):
    """w (C_out, C_in, kH, kW) -> wt (ceil(C_in / ob), kH*kW*C_out, ob) for the grad-input kernel:
    wt[b, s*C_out + o, j] = w[o, b*ob + j, s] (tap s = ky*kW + kx), zero for channels >= C_in.

    One transposing copy (plus the zero padding when C_in % ob): half the time of
    transposing to (C_in, S*C_out) first and blocking that (B's weights 126 -> 81 us).
    """
    c_out, c_in = w.shape[:2]
    s = w.shape[2] * w.shape[3]
    nb = -(-c_in // ob)
    w3 = w.reshape(c_out, c_in, s)
    if c_in % ob:
        padded = np.zeros((c_out, nb * ob, s), dtype=w.dtype)
        padded[:, :c_in] = w3
        w3 = padded
    return np.ascontiguousarray(w3.reshape(c_out, nb, ob, s).transpose(1, 3, 0, 2)).reshape(
        nb, s * c_out, ob)


def _workspace_with_slack(slot, shape, dtype):
    """A workspace of ``shape`` followed by ``forward_slack`` readable elements.

    The direct kernels' last register tile reads up to that far past the end of
    the packed input / widened gradient; the values read there never reach an output.
    """
    size = shape[0] * shape[1] * shape[2]
    flat = _workspace.workspace(slot, (size + _direct.forward_slack(dtype),), dtype)
    return flat[:size].reshape(shape)


def _copy_kernel(name, size, *args):
    """Run one of the direct conv's copy kernels, serial below CONV_COPY_PARALLEL_MIN elements."""
    _tuning.run(_direct, name, size, _tuning.CONV_COPY_PARALLEL_MIN, *args)


def _pack_input(x, geom, packed_h, packed_w, slot):
    n, c_in = x.shape[:2]
    xp = _workspace_with_slack(slot, (n, c_in * geom.stride_h * geom.stride_w, packed_h * packed_w),
                               x.dtype)
    _copy_kernel("conv2d_pack_input", xp.size, x, xp, geom.stride_h, geom.stride_w, geom.pad_h,
                 geom.pad_w, packed_w)
    return xp


def _direct_forward(x, w, out, geom, bias=None):
    packed_h, packed_w, tap_plane, tap_off, _, _ = _direct_layout(x.shape[1], geom)
    # The kernel adds the bias as it stores (-0.0, the identity of +, for none).
    c_out, ob = w.shape[0], _direct.FORWARD_OB
    bias_blk = np.full(-(-c_out // ob) * ob, -0.0, dtype=x.dtype)
    if bias is not None:
        bias_blk[:c_out] = bias
    # The NumPy weight re-layout first, so that the two parallel regions (pack,
    # kernel) run back to back: the pool's threads still spin between them. With
    # the re-layout in between they went to sleep, and waking them again cost
    # ~0.4 ms on shape B's 1 ms forward (2-core VM).
    wt = _blocked(w.reshape(w.shape[0], -1), _direct.FORWARD_OB)
    xp = _pack_input(x, geom, packed_h, packed_w, "conv_xp")
    length = (geom.out_h - 1) * packed_w + geom.out_w
    _tuning.before_parallel()   # the kernel always runs on every thread; the pack may not
    _direct.conv2d_direct_forward(xp, wt, tap_plane, tap_off, bias_blk, out, packed_w,
                                  _forward_bands(out.shape[0], length, x.dtype))


def _forward_bands(n, length, dtype):
    """Tasks per image for conv2d_direct_forward over ``length`` wide positions:
    enough for 4 per thread, at most one per register tile."""
    tile = _direct.TILE_VECTORS * _simd.VECTOR_BYTES // np.dtype(dtype).itemsize
    return max(1, min(-(-length // tile), -(-4 * _tuning.get_num_threads() // n)))


def _direct_backward(go, x, w, grad_input, grad_weight, geom):
    c_out, c_in = w.shape[:2]
    ss = geom.stride_h * geom.stride_w
    packed_h, packed_w, _, _, sp_plane, sp_off = _direct_layout(c_in, geom)
    if grad_input is not None:
        # The NumPy re-layout before the first parallel region (see _direct_forward).
        wt = _blocked_input_weights(w, _direct_grad.INPUT_OB)
    xp = _pack_input(x, geom, packed_h, packed_w, "conv_xp")
    channel_vectors = _channel_vector_weight_grad(c_out, c_in * geom.kh * geom.kw,
                                                  geom.out_h * geom.out_w, x.dtype)
    if grad_input is not None or not channel_vectors:
        go_wide = _workspace_with_slack("conv_go_wide",
                                        (x.shape[0], c_out, geom.out_h * packed_w), x.dtype)
        _copy_kernel("conv2d_widen", go_wide.size, go, go_wide, packed_w)
    if grad_input is not None:
        gxp = _workspace.workspace("conv_gxp", xp.shape, x.dtype)
        _tuning.before_parallel()   # (as in _direct_forward)
        _direct_grad.conv2d_direct_backward_input(go_wide, wt, sp_plane, sp_off, gxp, packed_w,
                                                  ss, geom.out_h, geom.out_w)
        _copy_kernel("conv2d_unpack_input_grad", grad_input.size, gxp, grad_input,
                     geom.stride_h, geom.stride_w, geom.pad_h, geom.pad_w, packed_w)
    if channel_vectors:
        _weight_grad_cvec(go, xp, sp_plane, sp_off, grad_weight, packed_w, geom)
    else:
        _tuning.before_parallel()
        _direct_grad.conv2d_direct_backward_weight(
            go_wide, xp, sp_plane, sp_off, grad_weight, packed_w, geom.out_h, geom.out_w,
            _weight_groups(x.shape[0], c_out, c_in, _direct_grad.WEIGHT_OB))


def _channel_vector_weight_grad(c_out, taps, out_positions, dtype):
    """Whether the direct backward's grad-weight runs kernels/conv_weight_cvec.py (vectors
    along output channels): C_out a multiple of the lanes per vector, at least
    ``_tuning.CONV_CVEC_WEIGHT_MIN_TAPS`` taps (C_in * kH * kW: the work per element of the
    channels-last copy of grad_output it makes), and a grad_output of at most
    ``_tuning.CONV_CVEC_WEIGHT_MAX_BYTES`` per image (it stays in L1)."""
    itemsize = np.dtype(dtype).itemsize
    return (c_out % (_simd.VECTOR_BYTES // itemsize) == 0
            and taps >= _tuning.CONV_CVEC_WEIGHT_MIN_TAPS
            and out_positions * c_out * itemsize <= _tuning.CONV_CVEC_WEIGHT_MAX_BYTES)


def _weight_grad_cvec(go, xp, sp_plane, sp_off, grad_weight, packed_w, geom):
    """grad_weight (every element) with kernels/conv_weight_cvec.py, from grad_output
    transposed to channels-last."""
    n, c_out = go.shape[:2]
    c_in, kh, kw = grad_weight.shape[1:]
    lanes = _simd.VECTOR_BYTES // go.dtype.itemsize
    n_pos = geom.out_h * geom.out_w
    go_t = _workspace.workspace("conv_go_t", (n, n_pos, c_out), go.dtype)
    np.copyto(go_t, go.reshape(n, c_out, n_pos).transpose(0, 2, 1))
    groups = _weight_groups(n, c_out, c_in, lanes)
    gw_t = np.empty((groups, c_out // lanes, c_in, kh * kw, lanes), dtype=go.dtype)
    _tuning.before_parallel()
    _weight_cvec.conv2d_weight_grad_cvec(go_t, xp, sp_plane, sp_off, gw_t, packed_w,
                                         geom.out_h, geom.out_w)
    total = gw_t[0] if groups == 1 else gw_t.sum(axis=0)
    # (block, c, tap, lane) -> (block * lanes + lane, c, tap): output channel first.
    grad_weight[...] = total.transpose(0, 3, 1, 2).reshape(c_out, c_in, kh, kw)


def _weight_groups(n, c_out, c_in, ob):
    """Image groups for a grad-weight kernel whose tasks are (block of ``ob`` output
    channels, input channel): 1, or enough for 2 tasks per thread when those are fewer."""
    tasks = -(-c_out // ob) * c_in
    return max(1, min(n, -(-2 * _tuning.get_num_threads() // tasks)))


def _run_forward(algorithm, x, w, out, geom, bias=None):
    """Write conv2d(x, w, bias) into every element of ``out`` with ``algorithm``."""
    if algorithm == "direct":
        _direct_forward(x, w, out, geom, bias)   # the bias added in the kernel
        return
    if algorithm == "winograd":
        winograd_forward(x, w, out, geom)
    else:   # 'im2col' and '1x1' share the chunked GEMM path (_unfold tells them apart)
        _gemm_forward(x, w, out, geom)
    if bias is not None:
        _tuning.run(_bias, "bias_add", out.size, _tuning.BIAS_PARALLEL_MIN,
                    out.reshape(out.shape[0], out.shape[1], -1), bias)


def _run_backward(algorithm, go, x, w, grad_input, grad_weight, geom):
    """Write grad_input (unless it is None) and grad_weight (every element) with ``algorithm``."""
    if algorithm == "direct":
        _direct_backward(go, x, w, grad_input, grad_weight, geom)
    elif algorithm == "winograd":
        winograd_backward(go, x, w, grad_input, grad_weight, geom)
    else:
        _gemm_backward(go, x, w, grad_input, grad_weight, geom)


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
    algorithm : {'auto', 'direct', 'im2col', '1x1', 'winograd'}, keyword-only
        'direct' runs the packed direct kernel (kernels/conv_direct.py);
        'im2col' unfolds the input into a (C_in*kH*kW, images*H_out*W_out)
        matrix, chunk by chunk of the batch, and runs one GEMM per chunk; '1x1'
        (1x1 kernel, stride 1, padding 0 only) multiplies W (C_out x C_in) by
        each image's (C_in x H*W) matrix, with no im2col; 'winograd' (3x3
        kernel, stride 1, dilation 1, groups 1 only; any padding) runs Lavin &
        Gray's F(4x4, 3x3) algorithm: 36 GEMMs on transformed 6x6 tiles, 4x
        fewer multiplies (see Notes for its float32 error); 'auto' times every
        applicable algorithm on the first call of each new (pass, shapes, stride,
        padding, dilation, groups, dtype, threads) key of at least
        ``_tuning.AUTOTUNE_MIN_MACS`` multiply-adds and reuses the fastest
        (fastnn/_autotune.py; :func:`fastnn.set_conv_autotune`), and otherwise
        picks with :func:`select_conv2d_algorithm`. All give the same result up
        to floating-point rounding.

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
        kernel that is not 1x1 / stride 1 / unpadded, 'winograd' for a kernel
        that is not 3x3 or a stride, dilation or groups other than 1 (the
        message names the argument).
    MemoryError
        the output alone needs more memory than is available (checked before
        anything is allocated; the message names the shape and byte count).
    NotImplementedError
        groups != 1.

    Notes
    -----
    out[n, o, y, x] = bias[o] + sum_{c, i, j} weight[o, c, i, j] *
    input_padded[n, c, y*stride_h + i*dilation_h, x*stride_w + j*dilation_w].

    Memory besides the output: 'im2col' at most max(_tuning.IM2COL_CHUNK_BYTES = 32 MiB,
    one image's C_in*kH*kW*H_out*W_out columns) plus C_out*H_out*W_out per
    image of the chunk; 'direct' a zero-padded copy of the input; '1x1' a copy
    of the input (none for N = 1); 'winograd' 36*C_out*C_in for the transformed
    weights plus 36*(C_in + C_out)*tiles per image (tiles = ceil(H_out/4) *
    ceil(W_out/4)), batch-chunked to at most max(32 MiB, one image). Scratch
    memory up to 64 MiB per thread is cached and reused between calls
    (fastnn/_workspace.py).

    'winograd' is less accurate in float32 than the other algorithms (its
    transforms multiply by up to 8 and divide by 24, and cancel): measured
    max |error| / max |output| against a float64 reference, with standard
    normal inputs and He-scaled weights, 7e-6 to 1.2e-5 on bench shapes A (N32
    C64 32x32 K64) and B (N1 C192 28x28 K32) and ResNet-18's 56x56 and 7x7
    layers, forward and both gradients, against 1e-6 to 3e-6 for 'direct' and
    2e-7 to 5e-7 for 'im2col'. In float64 the difference is at rounding level
    (~1e-15).
    """
    x, w, b, geom = _args.conv2d_args("conv2d", input, weight, bias, stride, padding, dilation,
                                     groups, algorithm)
    n, c_out = x.shape[0], w.shape[0]
    _checks.check_allocation("conv2d", "output", (n, c_out, geom.out_h, geom.out_w), x.dtype)
    out = np.empty((n, c_out, geom.out_h, geom.out_w), dtype=x.dtype)
    if out.size == 0:
        return out
    if algorithm == "auto":
        algorithm = _auto("forward", x, w, geom, groups,
                          lambda alg: _run_forward(alg, x, w, out, geom))
    _run_forward(algorithm, x, w, out, geom, b)
    return out


def conv2d_backward(grad_output, input, weight, stride=1, padding=0, dilation=1, groups=1, *,
                    algorithm="auto", input_grad=True):
    """Gradients of :func:`conv2d` with respect to input, weight and bias.

    Parameters
    ----------
    grad_output : ndarray of shape (N, C_out, H_out, W_out), dL/d(output)
    input, weight, stride, padding, dilation, groups, algorithm
        exactly as passed to :func:`conv2d` (bias is not needed).
    input_grad : bool, keyword-only, default True
        False: grad_input is not computed and None is returned in its place (the
        input is data, e.g. a network's first layer; torch skips that gradient the
        same way for inputs that do not require grad). 'auto' uses the pick measured
        for the full backward of the same call shape.

    Returns
    -------
    grad_input : ndarray of shape (N, C_in, H, W), or None when ``input_grad`` is False
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

    'winograd' computes both gradients with Winograd transforms: grad_input is
    the F(4x4, 3x3) convolution of grad_output with the 180-degree rotated,
    in/out-swapped weight and padding 2 - p; grad_weight = G^T dU G with
    dU[xi] = sum over tiles of (A dY A^T)[xi] @ V[xi]^T (the chain rule through
    the forward formula; 36 GEMMs over the tiles). float32 error as for
    :func:`conv2d`.
    """
    go, x, w, geom = _args.conv2d_backward_args("conv2d_backward", grad_output, input, weight,
                                               stride, padding, dilation, groups, algorithm)
    input_grad = _checks.flag("conv2d_backward", "input_grad", input_grad)
    n, c_out = x.shape[0], w.shape[0]
    grad_input = np.empty_like(x) if input_grad else None
    grad_weight = np.empty_like(w)
    grad_bias = np.empty(c_out, dtype=x.dtype)
    if go.size == 0:  # empty batch or empty output: nothing flows back
        if grad_input is not None:
            grad_input[...] = 0
        grad_weight[...] = 0
        grad_bias[...] = 0
        return grad_input, grad_weight, grad_bias
    if algorithm == "auto":
        algorithm = _auto("backward", x, w, geom, groups,
                          lambda alg: _run_backward(alg, go, x, w, grad_input, grad_weight, geom))
    _run_backward(algorithm, go, x, w, grad_input, grad_weight, geom)
    _tuning.run(_bias, "bias_reduce", go.size, _tuning.BIAS_PARALLEL_MIN,
                go.reshape(n, c_out, -1), grad_bias)
    return grad_input, grad_weight, grad_bias
