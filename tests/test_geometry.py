"""Output sizes and padding splits, pinned to torch's results (hard-coded here, so the
test needs no torch): the shared geometry (fastnn._geometry, used by the Numba
backend) and the reference backend's own window counting must both give them."""
import numpy as np
import pytest

import fastnn.functional as F
import fastnn.reference as R
from fastnn import _geometry

# (H, W, kH, kW, stride, padding, dilation) -> torch.nn.functional.conv2d output (H_out, W_out),
# recorded with torch 2.13.0.
CONV = [((6, 6, 3, 3, 1, 0, 1), (4, 4)), ((28, 28, 3, 3, 1, 1, 1), (28, 28)),
        ((7, 9, 3, 2, 2, 1, 1), (4, 5)), ((10, 11, 4, 3, 1, "same", 1), (10, 11)),
        ((9, 8, 2, 2, 1, "same", 2), (9, 8)), ((13, 13, 3, 3, 2, 2, 2), (7, 7)),
        ((5, 17, 5, 1, (2, 3), (2, 0), (1, 2)), (3, 6)), ((224, 224, 7, 7, 2, 3, 1), (112, 112)),
        ((14, 14, 3, 3, 2, 1, 1), (7, 7)), ((8, 8, 4, 4, 1, "valid", 1), (5, 5))]

# (H, W, kernel_size, stride, padding, ceil_mode) -> torch max_pool2d output (H_out, W_out).
POOL = [((8, 8, 2, None, 0, False), (4, 4)), ((7, 7, 2, 2, 0, False), (3, 3)),
        ((7, 7, 2, 2, 0, True), (4, 4)), ((7, 7, 3, 2, 1, True), (4, 4)),
        ((6, 6, 3, 2, 1, True), (4, 4)), ((5, 5, 3, 3, 1, True), (2, 2)),
        ((10, 9, 3, 2, 0, True), (5, 4)), ((4, 4, 2, 3, 1, True), (2, 2)),
        ((1, 1, 1, 1, 0, True), (1, 1)), ((9, 9, 4, 3, 2, True), (4, 4)),
        ((9, 9, 4, 3, 2, False), (4, 4)), ((6, 7, (3, 2), (2, 3), (1, 1), True), (4, 3))]


@pytest.mark.parametrize("backend", [F, R], ids=["numba", "numpy"])
@pytest.mark.parametrize("case,expected", CONV, ids=[str(c[0]) for c in CONV])
def test_conv2d_output_size_matches_torch(backend, case, expected):
    h, w, kh, kw, stride, padding, dilation = case
    x = np.zeros((1, 1, h, w), np.float64)
    weight = np.zeros((1, 1, kh, kw), np.float64)
    out = backend.conv2d(x, weight, stride=stride, padding=padding, dilation=dilation)
    assert out.shape[2:] == expected


@pytest.mark.parametrize("backend", [F, R], ids=["numba", "numpy"])
@pytest.mark.parametrize("case,expected", POOL, ids=[str(c[0]) for c in POOL])
def test_pool_output_size_matches_torch(backend, case, expected):
    h, w, k, stride, padding, ceil_mode = case
    x = np.zeros((1, 1, h, w), np.float64)
    assert backend.max_pool2d(x, k, stride, padding, ceil_mode=ceil_mode).shape[2:] == expected
    assert backend.avg_pool2d(x, k, stride, padding, ceil_mode=ceil_mode).shape[2:] == expected


@pytest.mark.parametrize("backend", [F, R], ids=["numba", "numpy"])
def test_same_padding_puts_the_odd_pixel_last(backend, rng):
    # torch: an even kernel under padding='same' pads (1 before, 2 after) for k = 4.
    x = rng.standard_normal((1, 2, 6, 5))
    weight = rng.standard_normal((3, 2, 4, 4))
    padded = np.pad(x, ((0, 0), (0, 0), (1, 2), (1, 2)))
    np.testing.assert_allclose(backend.conv2d(x, weight, padding="same"),
                               R.conv2d(padded, weight), rtol=1e-12, atol=1e-12)
    assert _geometry.same_padding(4, 1) == (1, 2)
    assert _geometry.same_padding(3, 2) == (2, 2)
