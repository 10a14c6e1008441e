"""conv2d algorithm='winograd': F(4x4, 3x3) transforms (kernels/winograd.py) around 36 GEMMs.

Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016).
For a 3x3, stride-1, dilation-1, groups-1 convolution:

* forward: V = B^T d B of every 6x6 input tile (36, C_in, tiles), U = G g G^T
  of every filter (36, C_out, C_in), M[xi] = U[xi] @ V[xi] for the 36 points,
  Y = A^T M A per 4x4 output tile;
* grad_input: the same convolution of grad_output with the flipped filter,
  in and out channels swapped, padding 2 - p (negative = a crop, for p > 2);
* grad_weight: by the chain rule through the forward formula,
  dU[xi] = sum over tiles of (A dY A^T)[xi] @ V[xi]^T (36 GEMMs accumulating
  over batch chunks), then dg = G^T dU G.

The transformed tiles are batch-chunked so that V and M together stay within
``_tuning.IM2COL_CHUNK_BYTES`` (never less than one image). Scratch arrays come
from the per-thread workspace cache.
"""
import numpy as np

from . import _tuning
from . import _workspace
from .kernels import gemm as _gemm
from .kernels import winograd as _wino

TILE, ALPHA = _wino.TILE, _wino.ALPHA
POINTS = ALPHA * ALPHA


def winograd_applicable(weight_shape, geom, groups=1):
    """Whether conv2d(..., algorithm='winograd') applies: 3x3 kernel, stride, dilation, groups 1.

    Parameters
    ----------
    weight_shape : tuple (C_out, C_in, kH, kW)
    geom : fastnn._geometry.ConvGeometry of the call
    groups : int
    """
    return (tuple(weight_shape[2:]) == (3, 3) and geom.stride_h == geom.stride_w == 1
            and geom.dil_h == geom.dil_w == 1 and groups == 1)


def _tiles(out_h, out_w):
    return -(-out_h // TILE), -(-out_w // TILE)


def _chunks(n, bytes_per_image):
    step = max(1, _tuning.IM2COL_CHUNK_BYTES // max(1, bytes_per_image))
    return [(n0, min(n, n0 + step)) for n0 in range(0, n, step)]


def _slab(rows, cols, dtype, slot):
    """A (36, >= rows*cols) workspace: row xi starts with point xi's C-contiguous
    (rows, cols) matrix.

    Each row is padded to an odd number of 64-byte lines so that the 36 rows
    do not share cache sets (see kernels/winograd.py, _SLABS).
    """
    per_line = 64 // dtype.itemsize
    lines = -(-rows * cols // per_line)
    lines += 1 - lines % 2
    return _workspace.workspace(slot, (POINTS, lines * per_line), dtype)


def _gemm36(a, b, c, m, n, k, trans_b=False, accumulate=False):
    """c[xi] = a[xi] @ op(b[xi]) (+= with ``accumulate``) for the 36 points, on the slabs.

    a : (m, k) matrices, b : (k, n), or (n, k) with ``trans_b``, c : (m, n), each
    in a slab from :func:`_slab`. One parallel region, each thread running whole
    products (kernels/gemm.py gemm_batched); serial below GEMM_SERIAL_WORK in all.
    """
    dtype = c.dtype
    threads = _tuning.n_chunks(POINTS * m * n * k, _tuning.GEMM_SERIAL_WORK)
    work = _workspace.workspace("gemm_pack", (_gemm.batched_workspace_size(k, n, threads, dtype),),
                                dtype)
    _gemm.gemm_batched(a, b, c, m, n, k, dtype.type(1), dtype.type(1 if accumulate else 0),
                       False, trans_b, work, threads)


def _transform(name, size, *args):
    """Run transform kernel ``name`` (kernels/winograd.py), serial or parallel by ``size``."""
    _tuning.run(_wino, name, size, _tuning.WINOGRAD_PARALLEL_MIN, *args)


def _weight_transform(w, slot):
    """The 36 (C_out, C_in) matrices U[xi] of w (C_out, C_in, 3, 3), in a slab workspace."""
    u = _slab(w.shape[0], w.shape[1], w.dtype, slot)
    _transform("winograd_weight_transform", w.size * 4, w, u)
    return u


def _convolve(x, u, out, pad_h, pad_w):
    """out = the stride-1 3x3 convolution of x (N, C, H, W) whose filters have transform u.

    u : the (K, C) matrices U[xi] in a slab (:func:`_weight_transform`); out : (N, K,
    H_out, W_out), overwritten; the input is read with pad_h / pad_w zero rows /
    columns before it (negative: cropped) and zeros past its bottom / right edge.
    """
    n, c = x.shape[:2]
    k, oh, ow = out.shape[1:]
    th, tw = _tiles(oh, ow)
    per_image = th * tw
    for n0, n1 in _chunks(n, POINTS * (c + k) * per_image * x.dtype.itemsize):
        tiles = (n1 - n0) * per_image
        v = _slab(c, tiles, x.dtype, "wino_v")
        _transform("winograd_input_transform", v.size, x[n0:n1], v, pad_h, pad_w, th, tw)
        m = _slab(k, tiles, x.dtype, "wino_m")
        _gemm36(u, v, m, k, tiles, c)
        _transform("winograd_output_transform", m.size, m, out[n0:n1], th, tw)


def winograd_forward(x, w, out, geom):
    """conv2d forward (no bias) into ``out`` (N, C_out, H_out, W_out)."""
    _convolve(x, _weight_transform(w, "wino_u"), out, geom.pad_h, geom.pad_w)


def winograd_backward(go, x, w, grad_input, grad_weight, geom):
    """conv2d_backward's grad_input (unless None) and grad_weight, overwritten, both by
    Winograd transforms."""
    # grad_input[n, c, y, x] = sum_{k, i, j} go_padded[n, k, y + i, x + j] w[k, c, 2 - i, 2 - j]
    # with go padded by 2 - pad: a stride-1 3x3 convolution of go.
    if grad_input is not None:
        w_flip = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        _convolve(go, _weight_transform(w_flip, "wino_u"), grad_input, 2 - geom.pad_h,
                  2 - geom.pad_w)

    n, c = x.shape[:2]
    k, oh, ow = go.shape[1:]
    th, tw = _tiles(oh, ow)
    per_image = th * tw
    # (the grad-input pass is done with its transformed weights: reuse their workspace, which
    # keeps two 36*C_out*C_in arrays from overflowing the 64 MiB workspace cache on deep layers)
    du = _slab(k, c, x.dtype, "wino_u")
    for i, (n0, n1) in enumerate(_chunks(n, POINTS * (c + k) * per_image * x.dtype.itemsize)):
        tiles = (n1 - n0) * per_image
        v = _slab(c, tiles, x.dtype, "wino_v")
        _transform("winograd_input_transform", v.size, x[n0:n1], v, geom.pad_h, geom.pad_w, th, tw)
        mg = _slab(k, tiles, x.dtype, "wino_m")
        _transform("winograd_grad_output_transform", mg.size, go[n0:n1], mg, th, tw)
        _gemm36(mg, v, du, k, c, tiles, trans_b=True, accumulate=i > 0)
    _transform("winograd_weight_grad_transform", du.size, du, grad_weight)
