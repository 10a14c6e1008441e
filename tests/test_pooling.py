"""Pooling: max_pool2d forward/backward (incl. ceil_mode and indices), avg_pool2d and
adaptive_avg_pool2d against the reference and finite differences."""
import numpy as np
import pytest

import fastnn.functional as F
import fastnn.reference as R
import fastnn
from fastnn import AdaptiveAvgPool2d, AvgPool2d, GlobalAvgPool2d, MaxPool2d
from helpers import BACKENDS, DTYPES, assert_close, check_gradients


CASES = {
    "2x2": ((2, 3, 8, 8), dict(kernel_size=2)),
    "batch1_odd": ((1, 2, 7, 5), dict(kernel_size=2)),
    "3x3_stride2": ((2, 2, 9, 9), dict(kernel_size=3, stride=2)),
    "overlap_stride1": ((1, 3, 5, 6), dict(kernel_size=3, stride=1)),
    "padding": ((2, 1, 6, 7), dict(kernel_size=3, stride=2, padding=1)),
    "rect": ((1, 2, 6, 9), dict(kernel_size=(2, 3), stride=(1, 3))),
    "1x1": ((2, 2, 3, 3), dict(kernel_size=1)),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES)
def test_matches_reference(case, dtype, rng):
    shape, kw = CASES[case]
    x = rng.standard_normal(shape).astype(dtype)
    out, idx = F.max_pool2d(x, return_indices=True, **kw)
    r_out, r_idx = R.max_pool2d(x, return_indices=True, **kw)
    assert_close(out, r_out)
    np.testing.assert_array_equal(idx, r_idx)
    go = rng.standard_normal(out.shape).astype(dtype)
    want = R.max_pool2d_backward(go, x, **kw)
    assert_close(F.max_pool2d_backward(go, x, **kw), want)
    assert_close(F.max_pool2d_backward(go, x, indices=idx, **kw), want)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape", [(2, 3, 10, 70), (1, 2, 7, 71), (1, 1, 4, 33), (3, 1, 2, 2)])
def test_2x2_vector_path_ties_nans_and_row_ends_match_reference(shape, dtype, rng):
    # 2x2 / stride 2 runs lanes outputs per step (kernels/pooling.py, 8 or 16 float32 lanes):
    # rows of several whole vectors plus a partial one, odd widths, small integers (ties
    # in most windows), NaN and +-inf; values and first-in-row-major indices as the reference.
    x = rng.integers(-3, 4, shape).astype(dtype)
    x.flat[rng.choice(x.size, x.size // 9, replace=False)] = np.nan
    x.flat[rng.choice(x.size, x.size // 9, replace=False)] = np.inf
    x.flat[rng.choice(x.size, x.size // 9, replace=False)] = -np.inf
    for ceil_mode in (False, True):
        out, idx = F.max_pool2d(x, 2, ceil_mode=ceil_mode, return_indices=True)
        r_out, r_idx = R.max_pool2d(x, 2, ceil_mode=ceil_mode, return_indices=True)
        np.testing.assert_array_equal(out, r_out)   # NaN where the reference has NaN
        np.testing.assert_array_equal(idx, r_idx)
    # Backward through the same vectors: gradients with NaN and inf go where the indices
    # point, zeros everywhere else (odd last row / column included).
    out, idx = F.max_pool2d(x, 2, return_indices=True)
    go = rng.standard_normal(out.shape).astype(dtype)
    go.flat[::7] = np.nan
    go.flat[3::11] = np.inf
    for ops in (F, R):
        got = ops.max_pool2d_backward(go, x, 2, indices=idx)
        np.testing.assert_array_equal(got, R.max_pool2d_backward(go, x, 2, indices=idx))
    # An index moved to another window (allowed: it is honoured where it points) sends
    # the whole plane down the general scatter, on a plane of several vectors too.
    moved = idx.copy()
    moved[0, 0, 0, 0] = moved[0, 0, -1, -1]
    np.testing.assert_array_equal(F.max_pool2d_backward(go, x, 2, indices=moved),
                                  R.max_pool2d_backward(go, x, 2, indices=moved))


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
def test_known_values_and_first_max_wins_ties(ops):
    x = np.array([[[[1.0, 5.0, 2.0, 2.0],
                    [3.0, 4.0, 2.0, 2.0],
                    [0.0, -1.0, 7.0, 7.0],
                    [-2.0, -3.0, 7.0, 6.0]]]])
    out, idx = ops.max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(out, [[[[5.0, 2.0], [0.0, 7.0]]]])
    # indices are flat positions in each H*W input plane; ties go to the first in row-major order
    np.testing.assert_array_equal(idx, [[[[1, 2], [8, 10]]]])
    grad = ops.max_pool2d_backward(np.ones((1, 1, 2, 2)), x, 2)
    want = np.zeros((4, 4))
    want.flat[[1, 2, 8, 10]] = 1.0
    np.testing.assert_array_equal(grad[0, 0], want)


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
def test_backward_honours_indices_outside_their_window(ops):
    # 2x2 / stride 2 takes a one-pass backward that assumes each index lies in its own
    # window (kernels/pooling.py); hand-built indices that do not must still be scattered
    # where they point, as torch does.
    x = np.zeros((1, 2, 4, 4))
    go = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 2, 2).repeat(2, axis=1)
    idx = np.array([[0, 2], [8, 10]]).reshape(1, 1, 2, 2).repeat(2, axis=1)
    idx[0, 1] = [[15, 15], [0, 5]]  # channel 1: two windows send theirs elsewhere
    grad = ops.max_pool2d_backward(go, x, 2, indices=idx)
    want = np.zeros((2, 16))
    want[0, [0, 2, 8, 10]] = [1.0, 2.0, 3.0, 4.0]
    want[1, 15] = 1.0 + 2.0
    want[1, 0] = 3.0
    want[1, 5] = 4.0
    np.testing.assert_array_equal(grad.reshape(2, 16), want)


def test_overlapping_windows_accumulate_gradient():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 1.0  # the max of all four 2x2 windows
    grad = F.max_pool2d_backward(np.ones((1, 1, 2, 2)), x, 2, stride=1)
    assert grad[0, 0, 1, 1] == 4.0
    assert grad.sum() == 4.0


def test_padding_is_never_the_max():
    x = -np.ones((1, 1, 2, 2))
    out = F.max_pool2d(x, 2, stride=2, padding=1)
    np.testing.assert_array_equal(out, -np.ones((1, 1, 2, 2)))


def test_gradcheck(rng):
    # distinct values so the argmax is stable under the finite-difference step
    x = rng.permutation(2 * 2 * 6 * 6).reshape(2, 2, 6, 6).astype(np.float64) / 10
    check_gradients(lambda x: F.max_pool2d(x, 3, stride=2, padding=1),
                    lambda g, x: (F.max_pool2d_backward(g, x, 3, stride=2, padding=1),),
                    [x], rng)


AVG_CASES = {
    "2x2": ((2, 3, 8, 8), dict(kernel_size=2)),
    "batch1_odd": ((1, 2, 7, 5), dict(kernel_size=2)),
    "3x3_stride2_pad": ((2, 2, 9, 8), dict(kernel_size=3, stride=2, padding=1)),
    "pad_no_count": ((2, 2, 9, 8), dict(kernel_size=3, stride=2, padding=1,
                                        count_include_pad=False)),
    "overlap_stride1": ((1, 3, 5, 6), dict(kernel_size=3, stride=1)),
    "rect": ((1, 2, 6, 9), dict(kernel_size=(2, 3), stride=(1, 3))),
    "ceil": ((2, 2, 7, 7), dict(kernel_size=2, ceil_mode=True)),
    "ceil_pad": ((1, 2, 6, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    "ceil_pad_no_count": ((1, 2, 6, 7), dict(kernel_size=3, stride=2, padding=1,
                                             ceil_mode=True, count_include_pad=False)),
    "ceil_rect": ((1, 1, 7, 8), dict(kernel_size=(2, 3), stride=(3, 2), ceil_mode=True)),
    "1x1": ((2, 2, 3, 3), dict(kernel_size=1)),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", AVG_CASES)
def test_avg_pool_matches_reference(case, dtype, rng):
    shape, kw = AVG_CASES[case]
    x = rng.standard_normal(shape).astype(dtype)
    out = F.avg_pool2d(x, **kw)
    assert_close(out, R.avg_pool2d(x, **kw))
    go = rng.standard_normal(out.shape).astype(dtype)
    assert_close(F.avg_pool2d_backward(go, x, **kw), R.avg_pool2d_backward(go, x, **kw))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", [c for c in AVG_CASES if "ceil" in c])
def test_max_pool_ceil_mode_matches_reference(case, dtype, rng):
    shape, kw = AVG_CASES[case]
    kw = {k: v for k, v in kw.items() if k != "count_include_pad"}
    x = rng.standard_normal(shape).astype(dtype)
    out, idx = F.max_pool2d(x, return_indices=True, **kw)
    r_out, r_idx = R.max_pool2d(x, return_indices=True, **kw)
    assert_close(out, r_out)
    np.testing.assert_array_equal(idx, r_idx)
    go = rng.standard_normal(out.shape).astype(dtype)
    assert_close(F.max_pool2d_backward(go, x, **kw), R.max_pool2d_backward(go, x, **kw))


# (H, kernel, stride, padding) -> (floor output size, ceil_mode output size), from torch 2.13
SIZES = [((7, 2, 2, 0), (3, 4)), ((6, 3, 2, 1), (3, 4)), ((5, 2, 2, 1), (3, 3)),
         ((8, 3, 3, 0), (2, 3)), ((4, 3, 2, 1), (2, 3))]


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
@pytest.mark.parametrize("geometry,sizes", SIZES, ids=[str(s[0]) for s in SIZES])
def test_ceil_mode_output_sizes(geometry, sizes, ops):
    h, k, s, p = geometry
    x = np.zeros((1, 1, h, h))
    for ceil_mode, size in zip((False, True), sizes):
        assert ops.max_pool2d(x, k, s, p, ceil_mode=ceil_mode).shape == (1, 1, size, size)
        assert ops.avg_pool2d(x, k, s, p, ceil_mode=ceil_mode).shape == (1, 1, size, size)


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
def test_avg_pool_known_values(ops):
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    # torch 2.13: the ceil_mode overhang past the (padded) input never counts in the divisor
    np.testing.assert_allclose(ops.avg_pool2d(x, 2, 2, ceil_mode=True)[0, 0],
                               [[3.0, 4.5], [7.5, 9.0]])
    np.testing.assert_allclose(ops.avg_pool2d(x, 2, 2, 1, ceil_mode=True)[0, 0],
                               [[0.25, 1.25], [2.75, 7.0]])
    np.testing.assert_allclose(
        ops.avg_pool2d(x, 2, 2, 1, ceil_mode=True, count_include_pad=False)[0, 0],
        [[1.0, 2.5], [5.5, 7.0]])
    grad = ops.avg_pool2d_backward(np.ones((1, 1, 2, 2)), x, 2, 2, ceil_mode=True)
    np.testing.assert_allclose(grad[0, 0], [[0.25, 0.25, 0.5], [0.25, 0.25, 0.5],
                                            [0.5, 0.5, 1.0]])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_adaptive_avg_pool_matches_reference_and_mean(dtype, rng):
    x = rng.standard_normal((3, 4, 5, 7)).astype(dtype)
    out = F.adaptive_avg_pool2d(x, 1)
    assert out.shape == (3, 4, 1, 1)
    assert_close(out, R.adaptive_avg_pool2d(x, (1, 1)))
    np.testing.assert_allclose(out[..., 0, 0], x.mean(axis=(2, 3)), rtol=1e-5)
    go = rng.standard_normal(out.shape).astype(dtype)
    grad = F.adaptive_avg_pool2d_backward(go, x, 1)
    assert_close(grad, R.adaptive_avg_pool2d_backward(go, x, 1))
    assert_close(grad, np.broadcast_to(go / dtype(35), x.shape).copy())


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
def test_adaptive_sizes_other_than_one_are_not_implemented(ops):
    with pytest.raises(NotImplementedError, match="output_size"):
        ops.adaptive_avg_pool2d(np.zeros((1, 1, 4, 4)), 2)
    with pytest.raises(NotImplementedError, match="output_size"):
        AdaptiveAvgPool2d((1, 2))


@pytest.mark.parametrize("kw", [dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                     count_include_pad=False),
                                dict(kernel_size=(2, 3), stride=1)],
                         ids=["ceil_pad", "ceil_pad_no_count", "rect_overlap"])
def test_avg_pool_gradcheck(kw, rng):
    x = rng.standard_normal((2, 2, 6, 7))
    check_gradients(lambda x: F.avg_pool2d(x, **kw),
                    lambda g, x: (F.avg_pool2d_backward(g, x, **kw),), [x], rng)


def test_adaptive_and_max_ceil_gradcheck(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    check_gradients(lambda x: F.adaptive_avg_pool2d(x, 1),
                    lambda g, x: (F.adaptive_avg_pool2d_backward(g, x, 1),), [x], rng)
    x = rng.permutation(2 * 2 * 7 * 7).reshape(2, 2, 7, 7).astype(np.float64) / 10
    check_gradients(lambda x: F.max_pool2d(x, 2, ceil_mode=True),
                    lambda g, x: (F.max_pool2d_backward(g, x, 2, ceil_mode=True),), [x], rng)


@pytest.fixture(params=BACKENDS)
def backend_name(request):
    with fastnn.backend(request.param):
        yield request.param


def test_pooling_layers(backend_name, rng):
    x = rng.standard_normal((2, 3, 7, 7))
    g_shape = {}
    for layer, fwd, bwd in [
        (AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
         lambda x: F.avg_pool2d(x, 3, 2, 1, True, False),
         lambda g, x: F.avg_pool2d_backward(g, x, 3, 2, 1, True, False)),
        (GlobalAvgPool2d(), lambda x: F.adaptive_avg_pool2d(x, 1),
         lambda g, x: F.adaptive_avg_pool2d_backward(g, x, 1)),
        (AdaptiveAvgPool2d(1), lambda x: F.adaptive_avg_pool2d(x, 1),
         lambda g, x: F.adaptive_avg_pool2d_backward(g, x, 1)),
        (MaxPool2d(2, ceil_mode=True), lambda x: F.max_pool2d(x, 2, ceil_mode=True),
         lambda g, x: F.max_pool2d_backward(g, x, 2, ceil_mode=True)),
    ]:
        y = layer.forward(x)
        assert_close(y, fwd(x))
        g = rng.standard_normal(y.shape)
        assert_close(layer.backward(g), bwd(g, x))
        g_shape[repr(layer)] = y.shape
    assert g_shape["GlobalAvgPool2d()"] == (2, 3, 1, 1)
    assert g_shape["MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), "
                   "ceil_mode=True)"] == (2, 3, 4, 4)


def test_pool_layer_constructor_errors():
    with pytest.raises(TypeError, match="ceil_mode"):
        MaxPool2d(2, ceil_mode="yes")
    with pytest.raises(TypeError, match="count_include_pad"):
        AvgPool2d(2, count_include_pad=None)
    with pytest.raises(ValueError, match="kernel_size"):
        AvgPool2d(0)


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
def test_empty_batch(ops):
    x = np.zeros((0, 2, 4, 4), np.float32)
    assert ops.avg_pool2d(x, 2).shape == (0, 2, 2, 2)
    assert ops.avg_pool2d_backward(np.zeros((0, 2, 2, 2), np.float32), x, 2).shape == x.shape
    assert ops.adaptive_avg_pool2d(x, 1).shape == (0, 2, 1, 1)
    assert ops.adaptive_avg_pool2d_backward(np.zeros((0, 2, 1, 1), np.float32), x,
                                            1).shape == x.shape
