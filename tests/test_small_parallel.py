"""Serial and parallel paths of the pooling, bias and direct-conv copy kernels.

fastnn.functional runs these kernels serially below POOL_PARALLEL_MIN /
GLOBAL_POOL_PARALLEL_MIN / BIAS_PARALLEL_MIN / CONV_COPY_PARALLEL_MIN elements (starting a
parallel region costs more than the work). Each test forces one path by monkeypatching the
threshold (parallel on a small input, serial on a larger one), checks that the serial kernel or its
``_parallel`` twin really ran, with that n_chunks, and compares the result with the NumPy reference.
"""
import numba
import numpy as np
import pytest

import fastnn.functional as F
from fastnn import _tuning
import fastnn.reference as R
from fastnn.kernels import bias as kbias
from fastnn.kernels import conv_direct as kdirect
from fastnn.kernels import pooling as kpool
from helpers import DTYPES, assert_close

# (threshold, input shape): threshold 1 forces the parallel path on a small
# input; a huge threshold forces the serial path on a larger one.
PATHS = {
    "parallel": (1, (2, 3, 5, 6)),
    "serial": (10**12, (3, 4, 9, 8)),
}


def _expected_chunks(path):
    """(parallel variant?, n_chunks) that each kernel call on ``path`` should record."""
    if path == "parallel" and numba.get_num_threads() > 1:
        return (True, numba.get_num_threads())
    return (False, 1)


@pytest.fixture
def flags(monkeypatch):
    """Wrap a kernel's serial and parallel variants (``name``, ``name_parallel``) so that every
    call is recorded as (variant, n_chunks)."""
    seen = []

    def spy(module, name):
        for variant in (name, name + "_parallel"):
            kernel = getattr(module, variant)

            def wrapper(*args, kernel=kernel, variant=variant):
                seen.append((variant.endswith("_parallel"), args[-1]))
                return kernel(*args)

            monkeypatch.setattr(module, variant, wrapper)

    spy.seen = seen
    return spy


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_pooling_paths_match_reference(path, dtype, monkeypatch, flags, rng):
    threshold, shape = PATHS[path]
    monkeypatch.setattr(_tuning, "POOL_PARALLEL_MIN", threshold)
    monkeypatch.setattr(_tuning, "GLOBAL_POOL_PARALLEL_MIN", threshold)
    for name in ("max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward",
                 "avg_pool2d_backward", "global_avg_pool2d_forward",
                 "global_avg_pool2d_backward"):
        flags(kpool, name)
    x = rng.standard_normal(shape).astype(dtype)
    # kernel 3, stride 2, padding 1: overlapping windows and clipped edges.
    args = (3, 2, 1)
    out, idx = F.max_pool2d(x, *args, return_indices=True)
    ref_out, ref_idx = R.max_pool2d(x, *args, return_indices=True)
    assert_close(out, ref_out)
    np.testing.assert_array_equal(idx, ref_idx)
    g = rng.standard_normal(out.shape).astype(dtype)
    assert_close(F.max_pool2d_backward(g, x, *args, indices=idx),
                 R.max_pool2d_backward(g, x, *args, indices=ref_idx))
    for include in (True, False):
        assert_close(F.avg_pool2d(x, *args, count_include_pad=include),
                     R.avg_pool2d(x, *args, count_include_pad=include))
        assert_close(F.avg_pool2d_backward(g, x, *args, count_include_pad=include),
                     R.avg_pool2d_backward(g, x, *args, count_include_pad=include))
    assert_close(F.adaptive_avg_pool2d(x, 1), R.adaptive_avg_pool2d(x, 1))
    g1 = rng.standard_normal(shape[:2] + (1, 1)).astype(dtype)
    assert_close(F.adaptive_avg_pool2d_backward(g1, x, 1),
                 R.adaptive_avg_pool2d_backward(g1, x, 1))
    assert flags.seen == [_expected_chunks(path)] * 8


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_bias_paths_match_reference(path, dtype, monkeypatch, flags, rng):
    threshold, shape = PATHS[path]
    monkeypatch.setattr(_tuning, "BIAS_PARALLEL_MIN", threshold)
    flags(kbias, "bias_add")
    flags(kbias, "bias_reduce")
    n, c, h, w = shape
    x = rng.standard_normal(shape).astype(dtype)
    wt = rng.standard_normal((5, c, 3, 3)).astype(dtype)
    b = rng.standard_normal(5).astype(dtype)
    # im2col: the direct kernel adds the bias itself (no bias_add call).
    out = F.conv2d(x, wt, b, padding=1, algorithm="im2col")
    assert_close(out, R.conv2d(x, wt, b, padding=1))
    g = rng.standard_normal(out.shape).astype(dtype)
    assert_close(F.conv2d_backward(g, x, wt, padding=1)[2],
                 R.conv2d_backward(g, x, wt, padding=1)[2])
    x2 = x.reshape(n, -1)
    wl = rng.standard_normal((7, x2.shape[1])).astype(dtype)
    bl = rng.standard_normal(7).astype(dtype)
    assert_close(F.linear(x2, wl, bl), R.linear(x2, wl, bl))
    gl = rng.standard_normal((n, 7)).astype(dtype)
    assert_close(F.linear_backward(gl, x2, wl)[2], R.linear_backward(gl, x2, wl)[2])
    assert flags.seen == [_expected_chunks(path)] * 4


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_bias_kernels_at_any_chunk_boundary(dtype, rng):
    # (N, F, 1), a linear layer's output: rows of features in SIMD vectors with a masked last
    # one; n_chunks up to 7 on the serial kernel puts chunk edges mid-row (and empty chunks).
    for n, f in ((1, 1), (3, 7), (2, 17), (5, 33), (4, 65)):
        out = rng.standard_normal((n, f, 1)).astype(dtype)
        b = rng.standard_normal(f).astype(dtype)
        for chunks in (1, 2, 3, 7):
            got = out.copy()
            kbias.bias_add(got, b, chunks)
            np.testing.assert_array_equal(got, out + b[:, None])
            grad_bias = np.full(f, np.nan, dtype)
            kbias.bias_reduce(out, grad_bias, chunks)
            assert_close(grad_bias, out.sum(axis=(0, 2)))


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_2x2_paths_match_reference(path, dtype, monkeypatch, flags, rng):
    # kernel 2, stride 2, unpadded: the unrolled window (kernels/pooling.py), odd sizes so the
    # last row and column are dropped (floor) or give partial windows (ceil_mode).
    threshold, shape = PATHS[path]
    monkeypatch.setattr(_tuning, "POOL_PARALLEL_MIN", threshold)
    flags(kpool, "max_pool2d_forward")
    flags(kpool, "max_pool2d_backward")
    x = rng.standard_normal(shape[:2] + (7, 9)).astype(dtype)
    for ceil_mode in (False, True):
        out, idx = F.max_pool2d(x, 2, ceil_mode=ceil_mode, return_indices=True)
        ref_out, ref_idx = R.max_pool2d(x, 2, ceil_mode=ceil_mode, return_indices=True)
        assert_close(out, ref_out)
        np.testing.assert_array_equal(idx, ref_idx)
        # The backward's one-pass 2x2 path (floor) writes the uncovered last row and
        # column as zeros; ceil_mode takes the general scatter.
        g = rng.standard_normal(out.shape).astype(dtype)
        assert_close(F.max_pool2d_backward(g, x, 2, ceil_mode=ceil_mode, indices=idx),
                     R.max_pool2d_backward(g, x, 2, ceil_mode=ceil_mode))
    assert flags.seen == [_expected_chunks(path)] * 4


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_direct_conv_copy_paths_match_reference(path, dtype, monkeypatch, flags, rng):
    threshold, shape = PATHS[path]
    monkeypatch.setattr(_tuning, "CONV_COPY_PARALLEL_MIN", threshold)
    for name in ("conv2d_pack_input", "conv2d_unpack_input_grad", "conv2d_widen"):
        flags(kdirect, name)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((5, shape[1], 3, 3)).astype(dtype)
    # stride 2, padding 1: two stride phases per axis, padding, and junk columns.
    kw = dict(stride=2, padding=1, algorithm="direct")
    out = F.conv2d(x, w, **kw)
    assert_close(out, R.conv2d(x, w, stride=2, padding=1))
    g = rng.standard_normal(out.shape).astype(dtype)
    for got, want in zip(F.conv2d_backward(g, x, w, **kw),
                         R.conv2d_backward(g, x, w, stride=2, padding=1)):
        assert_close(got, want)
    # forward: pack; backward: pack, widen, unpack
    assert flags.seen == [_expected_chunks(path)] * 4
