"""softmax, log_softmax, cross_entropy and their backwards (seed case 6)."""
import numpy as np
import pytest

import fastnn.functional as F
from fastnn import _tuning
import fastnn.reference as R
from helpers import BACKENDS, DTYPES, assert_close, check_gradients

SHAPES_DIMS = [((1, 1), -1), ((4, 10), -1), ((3, 7), 0), ((2, 3, 5), 1), ((5,), 0),
               ((2, 3, 4, 6), -1)]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape,dim", SHAPES_DIMS)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_forward_and_backward_match_reference(name, shape, dim, dtype, rng):
    x = (4 * rng.standard_normal(shape)).astype(dtype)
    y = getattr(F, name)(x, dim=dim)
    assert_close(y, getattr(R, name)(x, dim=dim))
    go = rng.standard_normal(shape).astype(dtype)
    assert_close(getattr(F, name + "_backward")(go, y, dim=dim),
                 getattr(R, name + "_backward")(go, y, dim=dim))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [0, 1])
def test_gradcheck(name, dim, rng):
    x = rng.standard_normal((3, 4))
    f = getattr(F, name)
    check_gradients(lambda x: f(x, dim=dim),
                    lambda g, x: (getattr(F, name + "_backward")(g, f(x, dim=dim), dim=dim),),
                    [x], rng)


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
def test_seed_case_6_values_and_jacobian(ops, rng):
    s = ops.softmax(np.array([2.0, 1.0, 0.1]))
    np.testing.assert_allclose(s, [0.6590, 0.2424, 0.0986], atol=5e-5)
    # backward = J^T g with J = diag(s) - s s^T, for several upstream gradients
    jac = np.diag(s) - np.outer(s, s)
    for _ in range(3):
        g = rng.standard_normal(3)
        np.testing.assert_allclose(ops.softmax_backward(g, s), jac.T @ g, rtol=1e-12,
                                   atol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
def test_no_overflow_and_shift_invariance(ops, dtype, rng):
    s = ops.softmax(np.array([1000.0, 1001.0], dtype=dtype))
    assert np.all(np.isfinite(s))
    np.testing.assert_allclose(s, [1 / (1 + np.e), np.e / (1 + np.e)], rtol=1e-6)
    x = rng.standard_normal((4, 6)).astype(dtype)
    assert_close(ops.softmax(x + dtype(50)), ops.softmax(x))
    ls = ops.log_softmax(np.array([[-1e4, 0.0, 1e4]], dtype=dtype))
    assert np.all(np.isfinite(ls))
    np.testing.assert_allclose(ls, [[-2e4, -1e4, 0.0]], rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("n,c", [(1, 1), (1, 4), (6, 10)])
def test_cross_entropy_matches_reference(n, c, reduction, dtype, rng):
    x = (3 * rng.standard_normal((n, c))).astype(dtype)
    t = rng.integers(0, c, n)
    loss = F.cross_entropy(x, t, reduction=reduction)
    assert_close(loss, R.cross_entropy(x, t, reduction=reduction))
    assert np.asarray(loss).shape == ((n,) if reduction == "none" else ())
    go = dtype(1.5) if reduction != "none" else rng.standard_normal(n).astype(dtype)
    assert_close(F.cross_entropy_backward(go, x, t, reduction=reduction),
                 R.cross_entropy_backward(go, x, t, reduction=reduction))


@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
def test_cross_entropy_gradient_is_p_minus_onehot(ops, rng):
    x = rng.standard_normal((5, 4))
    t = np.array([0, 3, 1, 1, 2])
    onehot = np.eye(4)[t]
    p = ops.softmax(x)
    np.testing.assert_allclose(ops.cross_entropy_backward(1.0, x, t, reduction="sum"), p - onehot,
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ops.cross_entropy_backward(1.0, x, t, reduction="mean"), (p - onehot) / 5,
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ops.cross_entropy(x, t, reduction="none"),
                               -np.log(p[np.arange(5), t]), rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_gradcheck(reduction, rng):
    x = rng.standard_normal((4, 3))
    t = np.array([2, 0, 1, 2])

    def forward(x):
        return np.asarray(F.cross_entropy(x, t, reduction=reduction))

    def grads(g, x):
        g = g if reduction == "none" else float(g)
        return (F.cross_entropy_backward(g, x, t, reduction=reduction),)

    check_gradients(forward, grads, [x], rng)


def test_cross_entropy_extreme_logits_are_finite():
    x = np.array([[1e4, -1e4, 0.0]], dtype=np.float32)
    assert np.isfinite(F.cross_entropy(x, np.array([1])))
    np.testing.assert_allclose(F.cross_entropy(x, np.array([1])), 2e4, rtol=1e-6)


# --------------------------------------------------------------------------- paths and special values

@pytest.fixture(params=["serial", "parallel"])
def softmax_path(request, monkeypatch):
    if request.param == "parallel":
        monkeypatch.setattr(_tuning, "SOFTMAX_PARALLEL_MIN", 1)
    else:
        monkeypatch.setattr(_tuning, "SOFTMAX_PARALLEL_MIN", 10**9)
    return request.param


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_serial_and_parallel_paths_match_reference(dtype, softmax_path, rng):
    x = (4 * rng.standard_normal((7, 37))).astype(dtype)
    go = rng.standard_normal((7, 37)).astype(dtype)
    t = rng.integers(0, 37, 7)
    for name in ["softmax", "log_softmax"]:
        y = getattr(F, name)(x)
        assert_close(y, getattr(R, name)(x))
        assert_close(getattr(F, name + "_backward")(go, y), getattr(R, name + "_backward")(go, y))
    assert_close(F.cross_entropy(x, t, reduction="none"), R.cross_entropy(x, t, reduction="none"))
    assert_close(F.cross_entropy_backward(dtype(1), x, t), R.cross_entropy_backward(dtype(1), x, t))


# Rows with inf / NaN, and what torch 2.13 returns for them (checked by hand):
# a NaN or +inf anywhere makes the row NaN (inf - inf), -inf gets probability 0,
# a row of only -inf is NaN.
INF, NAN = np.inf, np.nan
SPECIAL_ROWS = [
    ([INF, 1.0, 2.0], [NAN, NAN, NAN], [NAN, NAN, NAN]),
    ([NAN, 1.0, 2.0], [NAN, NAN, NAN], [NAN, NAN, NAN]),
    ([-INF, 1.0, 2.0], [0.0, 0.26894142, 0.73105858], [-INF, -1.31326169, -0.31326169]),
    ([-INF, -INF, -INF], [NAN, NAN, NAN], [NAN, NAN, NAN]),
    ([1e30, -1e30, 0.0], [1.0, 0.0, 0.0], [0.0, -2e30, -1e30]),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("ops", BACKENDS.values(), ids=BACKENDS.keys())
@pytest.mark.parametrize("row,soft,logsoft", SPECIAL_ROWS,
                         ids=["pos_inf", "nan", "neg_inf", "all_neg_inf", "huge"])
def test_inf_and_nan_rows_match_torch(ops, row, soft, logsoft, dtype):
    x = np.array([row, [0.0, 1.0, 2.0]], dtype=dtype)  # a normal row beside it stays normal
    with np.errstate(invalid="ignore", over="ignore"):
        s = ops.softmax(x)
        ls = ops.log_softmax(x)
        ce = ops.cross_entropy(x, np.array([1, 1]), reduction="none")
    np.testing.assert_allclose(s[0], soft, rtol=1e-6)
    np.testing.assert_allclose(ls[0], logsoft, rtol=1e-6)
    np.testing.assert_allclose(s[1], [0.09003057, 0.24472847, 0.66524096], rtol=1e-6)
    assert np.isnan(ce[0]) == np.isnan(soft[0])
