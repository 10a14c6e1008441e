"""max_pool2d forward/backward."""
import numpy as np
import pytest

import fastnn.functional as F
import fastnn.reference as R
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
