"""NaN and +-inf: every op propagates them as NumPy / PyTorch do, never turns them into finite wrong answers.

Each test states the expected values explicitly (so it means something without
torch) and, where torch is importable, also compares with torch CPU. The last
tests guard the compilation flags: kernels/_config.py FASTMATH must never gain
``nnan`` / ``ninf`` (with them LLVM may delete NaN checks).
"""
import numpy as np
import pytest
from numba import njit

import fastnn.functional as F
from fastnn.kernels import _config

from helpers import BACKENDS, DTYPES

nan, inf = np.nan, np.inf

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # torch is optional: the explicit values below still run
    torch = None

pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")
backends = pytest.mark.parametrize("ops", list(BACKENDS.values()), ids=list(BACKENDS))
dtypes = pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])


def same(actual, expected):
    """Equal values with NaN in the same places (and equal dtypes)."""
    actual = np.asarray(actual)
    expected = np.asarray(expected, dtype=actual.dtype)
    np.testing.assert_array_equal(actual, expected)


SPECIAL = [nan, inf, -inf, 0.0, -1.5, 2.0]

# (op, expected output on SPECIAL): NumPy's values.
ELEMENTWISE = [
    ("relu", [nan, inf, 0.0, 0.0, 0.0, 2.0]),
    ("sigmoid", [nan, 1.0, 0.0, 0.5, 1 / (1 + np.exp(1.5)), 1 / (1 + np.exp(-2.0))]),
    ("tanh", [nan, 1.0, -1.0, 0.0, np.tanh(-1.5), np.tanh(2.0)]),
    ("step", [nan, 1.0, 0.0, 1.0, 0.0, 1.0]),  # np.heaviside(x, 1); torch.heaviside(nan) is 0
]


@backends
@dtypes
@pytest.mark.parametrize("name,expected", ELEMENTWISE, ids=[e[0] for e in ELEMENTWISE])
def test_activation_special_values(ops, dtype, name, expected):
    x = np.array(SPECIAL, dtype)
    out = getattr(ops, name)(x)
    np.testing.assert_allclose(out, np.array(expected, dtype), rtol=1e-6, equal_nan=True)
    assert out.dtype == dtype


@needs_torch
@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_activation_special_values_match_torch(name):
    x = np.array(SPECIAL)
    expected = getattr(torch, name)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(getattr(F, name)(x), expected, rtol=1e-12, equal_nan=True)


@backends
def test_relu_backward_is_zero_at_minus_inf_and_passes_plus_inf(ops):
    x = np.array([-inf, inf, 0.0, -1.0, 3.0])
    g = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    same(ops.relu_backward(g, x), [0.0, 2.0, 0.0, 0.0, 5.0])


@backends
def test_nan_upstream_gradient_propagates(ops):
    g = np.array([nan, 1.0])
    same(ops.sigmoid_backward(g, np.array([0.5, 0.5])), [nan, 0.25])
    same(ops.tanh_backward(g, np.array([0.0, 0.0])), [nan, 1.0])
    same(ops.relu_backward(g, np.array([1.0, 1.0])), [nan, 1.0])


@backends
def test_relu_backward_at_nan_passes_gradient_like_torch(ops):
    x = np.array([nan, -1.0, 2.0])
    same(ops.relu_backward(np.array([5.0, 5.0, 5.0]), x), [5.0, 0.0, 5.0])


# --------------------------------------------------------------------------- softmax family
# (row, softmax, log_softmax), as torch gives them: an +inf or NaN anywhere, or a
# row that is all -inf, makes the whole row NaN; a single -inf is an exact 0.
SOFTMAX_ROWS = [
    ([inf, 1.0], [nan, nan], [nan, nan]),
    ([inf, inf], [nan, nan], [nan, nan]),
    ([nan, 1.0], [nan, nan], [nan, nan]),
    ([-inf, -inf], [nan, nan], [nan, nan]),
    ([-inf, 0.0], [0.0, 1.0], [-inf, 0.0]),
    ([1e4, 0.0, -1e4], [1.0, 0.0, 0.0], [0.0, -1e4, -2e4]),
    ([1000.0, 1001.0], [1 / (1 + np.e), np.e / (1 + np.e)],
     [-np.log1p(np.e), -np.log1p(1 / np.e)]),
]


@backends
@dtypes
@pytest.mark.parametrize("row,soft,logsoft", SOFTMAX_ROWS, ids=[str(r[0]) for r in SOFTMAX_ROWS])
def test_softmax_rows_with_special_values(ops, dtype, row, soft, logsoft):
    # the special row sits between two ordinary rows, which must stay unaffected
    x = np.array([[0.0] * len(row), row, [1.0] * len(row)], dtype)
    s, ls = ops.softmax(x, dim=1), ops.log_softmax(x, dim=1)
    # log_softmax(x) = x - lse: in float32 that difference is only good to an ulp of |x|
    atol = 4 * np.finfo(dtype).eps * max([1.0] + [abs(v) for v in row if np.isfinite(v)])
    np.testing.assert_allclose(s[1], np.array(soft, dtype), rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(ls[1], np.array(logsoft, dtype), rtol=1e-6, atol=atol,
                               equal_nan=True)
    for r in (0, 2):
        np.testing.assert_allclose(s[r], 1 / len(row), rtol=1e-6)
        np.testing.assert_allclose(ls[r], -np.log(len(row)), rtol=1e-6)


@needs_torch
@pytest.mark.parametrize("row", [r[0] for r in SOFTMAX_ROWS], ids=[str(r[0]) for r in SOFTMAX_ROWS])
def test_softmax_special_rows_match_torch(row):
    x = np.array([row])
    t = torch.from_numpy(x)
    np.testing.assert_allclose(F.softmax(x), TF.softmax(t, -1).numpy(), rtol=1e-12,
                               equal_nan=True)
    np.testing.assert_allclose(F.log_softmax(x), TF.log_softmax(t, -1).numpy(), rtol=1e-12,
                               equal_nan=True)


@backends
@dtypes
def test_log_softmax_of_large_logits_is_finite(ops, dtype):
    x = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4, -1e4]], dtype)
    out = ops.log_softmax(x)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, np.array([[0, -1e4, -2e4], [-np.log(3)] * 3], dtype),
                               rtol=1e-6, atol=4 * np.finfo(dtype).eps * 1e4)


@backends
@dtypes
def test_cross_entropy_with_minus_inf_non_target_logit_is_finite(ops, dtype):
    x = np.array([[0.0, -inf, 1.0], [2.0, 0.0, -inf]], dtype)
    t = np.array([0, 1])
    losses = ops.cross_entropy(x, t, reduction="none")
    expected = [np.log1p(np.e), np.log1p(np.exp(2.0))]   # the -inf class contributes exp(-inf) = 0
    np.testing.assert_allclose(losses, np.array(expected, dtype), rtol=1e-6)
    grad = ops.cross_entropy_backward(1.0, x, t, reduction="sum")
    assert np.all(np.isfinite(grad))
    p = 1 / (1 + np.e)
    np.testing.assert_allclose(grad[0], np.array([p - 1, 0.0, 1 - p], dtype), rtol=1e-6,
                               atol=1e-7)
    assert grad[0, 1] == 0 and grad[1, 2] == 0


@backends
def test_cross_entropy_with_minus_inf_target_logit_is_inf(ops):
    x = np.array([[-inf, 0.0]])
    assert ops.cross_entropy(x, np.array([0])) == inf
    same(ops.cross_entropy_backward(1.0, x, np.array([0])), [[-1.0, 1.0]])


@backends
def test_cross_entropy_nan_logit_gives_nan_loss_for_that_sample_only(ops):
    x = np.array([[nan, 0.0], [0.0, 0.0]])
    losses = ops.cross_entropy(x, np.array([1, 1]), reduction="none")
    assert np.isnan(losses[0]) and losses[1] == pytest.approx(np.log(2))


@needs_torch
def test_cross_entropy_special_logits_match_torch():
    x = np.array([[0.0, -inf, 1.0], [-inf, 0.0, 3.0], [1e4, -1e4, 0.0]])
    t = np.array([0, 0, 1])
    tx = torch.tensor(x, requires_grad=True)
    loss = TF.cross_entropy(tx, torch.from_numpy(t), reduction="sum")
    loss.backward()
    np.testing.assert_allclose(F.cross_entropy(x, t, reduction="none"),
                               TF.cross_entropy(torch.from_numpy(x), torch.from_numpy(t),
                                                reduction="none").numpy(), rtol=1e-12)
    np.testing.assert_allclose(F.cross_entropy_backward(1.0, x, t, reduction="sum"), tx.grad.numpy(),
                               rtol=1e-12, atol=1e-300)


# --------------------------------------------------------------------------- max_pool2d

@backends
@dtypes
def test_max_pool_nan_wins_every_window_it_is_in(ops, dtype):
    x = np.arange(16, dtype=dtype).reshape(1, 1, 4, 4)
    x[0, 0, 1, 1] = nan
    x[0, 0, 2, 3] = inf
    out, idx = ops.max_pool2d(x, 2, stride=1, return_indices=True)
    expected = np.array([[nan, nan, 7], [nan, nan, inf], [13, 14, inf]], dtype)
    same(out[0, 0], expected)
    assert idx[0, 0, 0, 0] == 5 and idx[0, 0, 1, 2] == 11   # the NaN, the +inf
    # the gradient goes to the NaN's position, as it won
    grad = ops.max_pool2d_backward(np.ones_like(out), x, 2, stride=1)
    assert grad[0, 0, 1, 1] == 4


@backends
@dtypes
def test_max_pool_2x2_stride_2_special_values_and_ties(ops, dtype):
    # Kernel 2, stride 2, no padding runs an unrolled kernel (kernels/pooling.py). With
    # ceil_mode the odd 5x5 plane gets partial last windows, which sends the whole call
    # down the general loop: both must give these values and first-in-row-major indices.
    x = np.array([[1, nan, -inf, -inf, 3],
                  [nan, 2, -inf, -inf, 4],
                  [inf, 5, 5, 0, 1],
                  [5, inf, 5, 6, 2],
                  [7, 8, 9, 1, 0]], dtype).reshape(1, 1, 5, 5)
    want_out = np.array([[nan, -inf], [inf, 6]], dtype)
    want_idx = np.array([[1, 2], [10, 18]])
    for ceil_mode in (False, True):
        out, idx = ops.max_pool2d(x, 2, ceil_mode=ceil_mode, return_indices=True)
        same(out[0, 0, :2, :2], want_out)
        np.testing.assert_array_equal(idx[0, 0, :2, :2], want_idx)
    grad = ops.max_pool2d_backward(np.ones((1, 1, 2, 2), dtype), x, 2)
    assert grad.sum() == 4 and all(grad.flat[i] == 1 for i in want_idx.flat)


@backends
def test_max_pool_of_all_minus_inf_window_is_minus_inf(ops):
    x = np.full((1, 1, 2, 2), -inf)
    out, idx = ops.max_pool2d(x, 2, padding=1, return_indices=True)
    same(out, np.full((1, 1, 2, 2), -inf))
    # the index points into the real input, never at padding
    assert idx.min() >= 0 and idx.max() <= 3


@needs_torch
def test_max_pool_special_values_match_torch():
    x = np.array([[[[1.0, nan, -inf, 2.0], [inf, 2.0, -inf, -inf],
                    [0.0, nan, nan, 5.0], [-1.0, 3.0, 4.0, inf]]]])
    out, idx = F.max_pool2d(x, 2, stride=1, padding=1, return_indices=True)
    t_out, t_idx = TF.max_pool2d(torch.from_numpy(x), 2, stride=1, padding=1,
                                 return_indices=True)
    same(out, t_out.numpy())
    # Where a window holds one NaN (or none) the argmax is torch's; with several
    # NaNs torch reports the last one and fastnn the first: both point at a NaN.
    flat = x.reshape(-1)
    for mine, theirs in zip(idx.reshape(-1), t_idx.numpy().reshape(-1)):
        assert mine == theirs or (np.isnan(flat[mine]) and np.isnan(flat[theirs]))


# --------------------------------------------------------------------------- GEMM / conv

@pytest.mark.parametrize("algorithm", ["direct", "im2col"])
@dtypes
def test_conv2d_nan_input_poisons_exactly_its_receptive_field(algorithm, dtype):
    x = np.ones((1, 1, 5, 5), dtype)
    x[0, 0, 2, 2] = nan
    w = np.ones((1, 1, 3, 3), dtype)
    out = F.conv2d(x, w, padding=1, algorithm=algorithm)
    mask = np.zeros((5, 5), bool)
    mask[1:4, 1:4] = True
    assert np.array_equal(np.isnan(out[0, 0]), mask)
    assert np.all(np.isfinite(out[0, 0][~mask]))


@backends
def test_matmul_and_linear_propagate_nan_and_inf(ops):
    a = np.array([[nan, 1.0], [1.0, 1.0], [inf, 0.0]])
    b = np.array([[1.0, 2.0], [3.0, 4.0]])
    out = ops.matmul(a, b)
    expected = a @ b
    same(out, expected)   # [[nan, nan], [4, 6], [inf, inf]]
    same(ops.linear(a, b.T.copy()), expected)


# --------------------------------------------------------------------------- compilation flags

def test_fastmath_flags_keep_nan_and_inf_semantics():
    assert isinstance(_config.FASTMATH, (set, frozenset))
    assert not {"nnan", "ninf", "fast"} & set(_config.FASTMATH), _config.FASTMATH


@njit(fastmath=_config.FASTMATH)
def _count_nan_and_max(x):
    # Under `nnan`, LLVM folds v != v to false and may drop the NaN branch.
    count = 0
    best = -np.inf
    for v in x:
        if v != v:
            count += 1
        elif v > best:
            best = v
    return count, best, np.isnan(x.sum()), np.isinf(x.max())


def test_nan_checks_survive_the_project_fastmath_flags():
    count, best, sum_is_nan, max_is_inf = _count_nan_and_max(np.array([1.0, nan, 3.0, nan]))
    assert count == 2 and best == 3.0 and sum_is_nan
    assert _count_nan_and_max(np.array([1.0, inf]))[3]


def test_kernels_compiled_with_fastmath_keep_nan():
    # softmax and bias_reduce are compiled with FASTMATH: a NaN must survive them
    x = np.array([[1.0, nan, 2.0]], np.float32)
    assert np.isnan(F.softmax(x)).all()
    _, _, gb = F.conv2d_backward(np.array([[[[nan]]]]), np.ones((1, 1, 1, 1)),
                                 np.ones((1, 1, 1, 1)))
    assert np.isnan(gb[0])
