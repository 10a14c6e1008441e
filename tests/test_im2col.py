"""The im2col kernel against a NumPy unfold, on rows longer and shorter than a SIMD vector.

The conv2d tests reach im2col through small images (rows of at most 9 columns); the
kernel copies each output row one vector of columns at a time with masked loads, so
here the rows also span two and three vectors, with every column stride path (1, 2,
and the element-by-element one), padding on either side and dilation. The direct conv's
input packing, the other row copy in front of a conv kernel, is checked the same way
against a NumPy reference (test_direct_pack_matches_numpy).
"""
import numpy as np
import pytest

from fastnn.kernels import im2col as _im2col
from fastnn.kernels import simd as _simd
from helpers import DTYPES


def numpy_im2col(x, kh, kw, stride, pad, dil):
    """cols[(c*kh + ky)*kw + kx, (n*oh + oy)*ow + ox] = padded x[n, c, oy*sh + ky*dh, ox*sw + kx*dw]."""
    (sh, sw), (ph, pw), (dh, dw) = stride, pad, dil
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    rows = []
    for ci in range(c):
        for ky in range(kh):
            for kx in range(kw):
                win = xp[:, ci, ky * dh:ky * dh + (oh - 1) * sh + 1:sh,
                         kx * dw:kx * dw + (ow - 1) * sw + 1:sw]
                rows.append(win.reshape(-1))
    return np.stack(rows), oh, ow


GEOMETRIES = {
    # (N, C, H, W), (kh, kw), stride, padding, dilation
    "wide_s1_pad": ((2, 2, 4, 45), (3, 3), (1, 1), (1, 2), (1, 1)),
    "wide_s2_pad": ((2, 2, 5, 70), (3, 3), (2, 2), (1, 1), (1, 1)),
    "wide_s2_odd_width": ((1, 3, 6, 33), (3, 5), (1, 2), (2, 2), (1, 1)),
    "wide_s3": ((1, 2, 5, 50), (3, 3), (2, 3), (1, 1), (1, 1)),
    "s2_dilated": ((2, 2, 9, 40), (3, 3), (2, 2), (2, 3), (2, 2)),
    "resnet_7x7": ((2, 4, 7, 7), (3, 3), (1, 1), (1, 1), (1, 1)),
    "resnet_s2_14": ((2, 4, 14, 14), (3, 3), (2, 2), (1, 1), (1, 1)),
    "one_vector_exactly": ((1, 2, 3, 2 * 16 + 2), (3, 3), (1, 1), (0, 0), (1, 1)),
    # A tap can see only padding (ox_lo > OW): kernel as large as the padded input.
    "kernel_fills_padding": ((2, 1, 1, 1), (7, 7), (1, 1), (3, 3), (1, 1)),
    "kernel_fills_padding_s2": ((1, 1, 2, 3), (5, 7), (2, 2), (2, 3), (1, 1)),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", GEOMETRIES)
def test_im2col_matches_numpy_unfold(case, dtype):
    shape, (kh, kw), stride, pad, dil = GEOMETRIES[case]
    x = np.random.default_rng(7).standard_normal(shape).astype(dtype)
    want, oh, ow = numpy_im2col(x, kh, kw, stride, pad, dil)
    # Poisoned output buffer: every element must be written, padding as 0.0.
    cols = np.full(want.shape, np.nan, dtype=dtype)
    _im2col.im2col(x, cols, kh, kw, *stride, *pad, *dil, oh, ow)
    np.testing.assert_array_equal(cols, want)


def numpy_col2im(cols, x_shape, kh, kw, stride, pad, dil, oh, ow):
    """The adjoint of numpy_im2col: each column entry added back where it was read, tap by
    tap in im2col's row order (the kernel's order, so the sums round alike)."""
    (sh, sw), (ph, pw), (dh, dw) = stride, pad, dil
    n, c, h, w = x_shape
    xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), cols.dtype)
    row = 0
    for ci in range(c):
        for ky in range(kh):
            for kx in range(kw):
                xp[:, ci, ky * dh:ky * dh + (oh - 1) * sh + 1:sh,
                   kx * dw:kx * dw + (ow - 1) * sw + 1:sw] += cols[row].reshape(n, oh, ow)
                row += 1
    return xp[:, :, ph:ph + h, pw:pw + w]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", GEOMETRIES)
def test_col2im_matches_numpy_fold(case, dtype):
    # col2im adds runs of stride 1 and 2 a vector at a time (the skipped positions of a
    # stride-2 run get -0.0): the same sums as the element loop, so equal bits.
    shape, (kh, kw), stride, pad, dil = GEOMETRIES[case]
    x = np.zeros(shape, dtype)
    _, oh, ow = numpy_im2col(x, kh, kw, stride, pad, dil)
    cols = np.random.default_rng(3).standard_normal((shape[1] * kh * kw, shape[0] * oh * ow))
    cols = cols.astype(dtype)
    got = np.full(shape, np.nan, dtype)    # overwritten, not accumulated into
    _im2col.col2im(cols, got, kh, kw, *stride, *pad, *dil, oh, ow)
    np.testing.assert_array_equal(got, numpy_col2im(cols, shape, kh, kw, stride, pad, dil, oh, ow))


def test_rows_span_several_vectors():
    """The wide cases really cover rows of 2-3 vectors at this machine's width."""
    lanes32 = _simd.VECTOR_BYTES // 4
    widths = [numpy_im2col(np.zeros(s, np.float32), *k, st, p, d)[2]
              for s, k, st, p, d in GEOMETRIES.values()]
    assert max(widths) > 2 * lanes32
    assert any(w < lanes32 for w in widths)


# The direct conv's input packing (kernels/conv_direct.py conv2d_pack_input), the other
# copy that feeds a conv kernel: stride-phase planes of the zero-padded input. Stride 2
# splits each row into its two column phases with masked loads and even/odd shuffles, a
# vector of packed columns (two of input) at a time: rows of one to several vectors, odd
# widths, padding 0-3 on either side, rows cropped at the bottom.
def numpy_pack(x, stride, pad, packed_h, packed_w):
    n, c, h, w = x.shape
    sh, sw = stride
    ph, pw = pad
    big = np.zeros((n, c, packed_h * sh + sh, packed_w * sw + sw), x.dtype)
    rows, cols = min(h, big.shape[2] - ph), min(w, big.shape[3] - pw)
    big[:, :, ph:ph + rows, pw:pw + cols] = x[:, :, :rows, :cols]
    out = np.empty((n, c * sh * sw, packed_h * packed_w), x.dtype)
    for py in range(sh):
        for px in range(sw):
            phase = big[:, :, py::sh, px::sw][:, :, :packed_h, :packed_w]
            out[:, py * sw + px::sh * sw] = phase.reshape(n, c, -1)
    return out


PACKS = [((2, 3, 9, 70), (2, 2), (1, 1)),    # 35 packed columns: 3 float32 vectors, 5 float64
         ((1, 2, 7, 37), (2, 2), (3, 0)),
         ((1, 1, 6, 64), (2, 2), (0, 3)),
         ((2, 2, 5, 33), (2, 1), (2, 2)),
         ((1, 2, 8, 50), (1, 1), (1, 1)),
         ((1, 2, 7, 40), (3, 3), (1, 2)),
         ((1, 2, 5, 45), (1, 2), (2, 1)),
         ((2, 1, 8, 41), (3, 2), (0, 2))]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape,stride,pad", PACKS)
def test_direct_pack_matches_numpy(shape, stride, pad, dtype):
    from fastnn.kernels import conv_direct
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape).astype(dtype)
    # packed rows / columns as the direct conv's layout would have them for a 3x3 window
    packed_h = -(-(shape[2] + 2 * pad[0]) // stride[0])
    packed_w = -(-(shape[3] + 2 * pad[1]) // stride[1])
    xp = np.full((shape[0], shape[1] * stride[0] * stride[1], packed_h * packed_w), np.nan, dtype)
    conv_direct.conv2d_pack_input(x, xp, stride[0], stride[1], pad[0], pad[1], packed_w, 1)
    np.testing.assert_array_equal(xp, numpy_pack(x, stride, pad, packed_h, packed_w))
