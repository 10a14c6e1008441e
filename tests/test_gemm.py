"""The Numba GEMM kernel and the matmul/linear ops built on it."""
import threading

import numpy as np
import pytest
from numba import njit

import fastnn.functional as F
import fastnn.reference as R
from fastnn import _linear, _tuning
from fastnn.kernels import gemm as gemm_kernel
from fastnn.kernels import gemm_small
from fastnn.kernels import simd
from fastnn.kernels import simd_shuffle
from helpers import DTYPES, assert_close, check_gradients

# Sizes straddle the kernel's 256-wide packing blocks and are odd on purpose.
SHAPES = [(1, 1, 1), (3, 5, 7), (17, 1, 9), (64, 33, 65), (257, 300, 5), (6, 513, 259)]


def _gemm_alpha_beta(a, b, c, alpha, beta, trans_a, trans_b):
    """C = alpha op(A) op(B) + beta C with the kernel gemm_into would pick (2 threads if parallel)."""
    m, n = c.shape
    k = a.shape[0] if trans_a else a.shape[1]
    if m * n * k < _tuning.GEMM_SERIAL_WORK:
        gemm_small.gemm_small(a, b, c, alpha, beta, trans_a, trans_b)
    else:
        work = np.empty(gemm_kernel.workspace_size(k, n, 2, c.dtype), c.dtype)
        gemm_kernel.gemm_parallel(a, b, c, alpha, beta, trans_a, trans_b, work, 2)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_gemm_kernel_matches_numpy(m, k, n, trans_a, trans_b, dtype, rng):
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    c0 = rng.standard_normal((m, n)).astype(dtype)
    c = c0.copy()
    alpha, beta = dtype(0.75), dtype(-1.5)
    _gemm_alpha_beta(a, b, c, alpha, beta, trans_a, trans_b)
    opa = a.T if trans_a else a
    opb = b.T if trans_b else b
    want = (0.75 * (opa.astype(np.float64) @ opb.astype(np.float64))
            - 1.5 * c0.astype(np.float64)).astype(dtype)
    assert_close(c, want)


def _operands(m, k, n, trans_a, trans_b, dtype, rng):
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    return a, b


def _expected(a, b, c0, alpha, beta, trans_a, trans_b, dtype):
    opa = (a.T if trans_a else a).astype(np.float64)
    opb = (b.T if trans_b else b).astype(np.float64)
    return (alpha * (opa @ opb) + beta * c0.astype(np.float64)).astype(dtype)


# Shapes for the two code paths, called directly. The register tile is 6 x 16
# (float32) / 6 x 8 (float64), K blocks are <= KC = 256 deep, B panels
# NC = 2048 wide: these cover exact tiles, every kind of edge (1, primes, one
# past a tile), several K blocks (K = 257, 600), several panels (N = 2053),
# the independent column split of gemm_parallel (M <= MC = 144, or N >=
# COLUMN_SPLIT_MIN = 128 columns per thread: (145, 300, 700), (200, 5, 2051)) and
# its pipelined shared-panel path (M > MC and fewer columns; rows split, or
# columns when M is just over MC; (160, 600, 100) with three K blocks).
PATH_SHAPES = [(1, 1, 1), (6, 16, 16), (12, 256, 32), (7, 13, 17), (5, 257, 3),
               (13, 600, 29), (1, 31, 2053), (97, 11, 61), (150, 37, 45), (145, 300, 700),
               (200, 5, 2051), (160, 600, 100)]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (False, True), (True, False),
                                             (True, True)], ids=["nn", "nt", "tn", "tt"])
@pytest.mark.parametrize("m,k,n", PATH_SHAPES)
@pytest.mark.parametrize("path", ["small", "threads1", "threads2", "threads3"])
def test_gemm_paths_match_numpy(path, m, k, n, trans_a, trans_b, dtype, rng):
    a, b = _operands(m, k, n, trans_a, trans_b, dtype, rng)
    c0 = rng.standard_normal((m, n)).astype(dtype)
    c = c0.copy()
    alpha, beta = dtype(1.25), dtype(0.5)
    if path == "small":
        gemm_small.gemm_small(a, b, c, alpha, beta, trans_a, trans_b)
    else:
        # More threads than Numba runs (3 on a 2-core CI machine) must still
        # be correct: the split is by share index, not by the thread running it.
        threads = int(path[-1])
        work = np.full(10 ** 6, np.nan, dtype=dtype)  # stale scratch must not leak
        gemm_kernel.gemm_parallel(a, b, c, alpha, beta, trans_a, trans_b, work, threads)
    assert_close(c, _expected(a, b, c0, 1.25, 0.5, trans_a, trans_b, dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (-2.0, 1.0), (0.5, -3.0), (0.0, 2.0)])
@pytest.mark.parametrize("path", ["small", "parallel"])
def test_gemm_alpha_beta_both_kernels(path, alpha, beta, dtype, rng):
    a, b = _operands(19, 300, 23, False, True, dtype, rng)
    c0 = rng.standard_normal((19, 23)).astype(dtype)
    c = np.full_like(c0, np.nan) if beta == 0 else c0.copy()
    if path == "small":
        gemm_small.gemm_small(a, b, c, dtype(alpha), dtype(beta), False, True)
    else:
        work = np.empty(gemm_kernel.workspace_size(300, 23, 2, dtype),
                        dtype)
        gemm_kernel.gemm_parallel(a, b, c, dtype(alpha), dtype(beta), False, True, work, 2)
    assert_close(c, _expected(a, b, c0, alpha, beta, False, True, dtype))


# gemm_batched (Winograd's 36 products): operands in rows of padded 2-D "slabs",
# products split over threads whole, so a batch of 5 leaves threads 1-3 with unequal shares.
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (False, True), (True, False),
                                             (True, True)])
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (7, 9, 8), (65, 300, 33), (150, 17, 257)])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_gemm_batched_matches_numpy(threads, m, k, n, trans_a, trans_b, dtype, rng):
    batch = 5
    a_mats = [_operands(m, k, n, trans_a, trans_b, dtype, rng) for _ in range(batch)]
    a = np.full((batch, m * k + 3), np.nan, dtype)
    b = np.full((batch, k * n + 5), np.nan, dtype)
    for p, (ap, bp) in enumerate(a_mats):
        a[p, :m * k] = ap.ravel()
        b[p, :k * n] = bp.ravel()
    c0 = rng.standard_normal((batch, m * n)).astype(dtype)
    for alpha, beta in ((1.0, 0.0), (-2.0, 0.5)):
        c = np.full((batch, m * n + 7), np.nan, dtype)
        if beta != 0:
            c[:, :m * n] = c0
        work = np.empty(gemm_kernel.batched_workspace_size(k, n, threads, dtype), dtype)
        gemm_kernel.gemm_batched(a, b, c, m, n, k, dtype(alpha), dtype(beta), trans_a, trans_b,
                                 work, threads)
        for p, (ap, bp) in enumerate(a_mats):
            assert_close(c[p, :m * n].reshape(m, n),
                         _expected(ap, bp, c0[p].reshape(m, n), alpha, beta, trans_a, trans_b,
                                   dtype))
        assert np.isnan(c[:, m * n:]).all()   # nothing written past each product


def test_gemm_batched_rejects_a_short_workspace():
    a = np.ones((2, 64), np.float32)
    with pytest.raises(ValueError, match="batched_workspace_size"):
        gemm_kernel.gemm_batched(a, a, a, 8, 8, 8, np.float32(1), np.float32(0), False, False,
                                 np.empty(10, np.float32), 2)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("serial_work", [0, 10 ** 9], ids=["parallel", "serial"])
def test_gemm_into_on_both_sides_of_threshold(serial_work, dtype, rng, monkeypatch):
    # fastnn._linear.gemm_into picks the kernel from GEMM_SERIAL_WORK: force each side.
    monkeypatch.setattr(_tuning, "GEMM_SERIAL_WORK", serial_work)
    a, b = _operands(19, 300, 70, False, True, dtype, rng)   # 70 columns: 3+ slivers
    c = np.full((19, 70), np.nan, dtype)
    _linear.gemm_into(a, b, c, False, True)
    assert_close(c, _expected(a, b, np.zeros((19, 70)), 1, 0, False, True, dtype))


# The no-packing kernels' edge sizes: around the vector width (8 / 16 float32 lanes, 4 / 8
# float64), gemm_small_m's four-column / four-vector groups and gemm_small's two-vector tiles.
SMALL_M_SIZES = (1, 7, 8, 9, 63, 65, 257)


# gemm_small_m (C of 1-3 rows) and gemm_small (the 6-row register tile read in place: one to
# three row tiles, the last partial) against every edge size of k and n.
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (False, True), (True, False),
                                             (True, True)])
@pytest.mark.parametrize("kernel,rows", [("gemm_small_m", (1, 2, 3)),
                                         ("gemm_small", (3, 6, 7, 13))])
def test_gemm_small_kernels_match_numpy(kernel, rows, trans_a, trans_b, dtype, rng):
    gemm = getattr(gemm_small, kernel)
    for m in rows:
        for k in SMALL_M_SIZES:
            for n in SMALL_M_SIZES:
                a, b = _operands(m, k, n, trans_a, trans_b, dtype, rng)
                c = np.full((m, n), np.nan, dtype)   # beta = 0 never reads C
                gemm(a, b, c, dtype(1), dtype(0), trans_a, trans_b)
                assert_close(c, _expected(a, b, np.zeros((m, n)), 1, 0, trans_a, trans_b, dtype))
                c0 = rng.standard_normal((m, n)).astype(dtype)
                c = c0.copy()
                gemm(a, b, c, dtype(-0.5), dtype(2), trans_a, trans_b)
                assert_close(c, _expected(a, b, c0, -0.5, 2, trans_a, trans_b, dtype))


def test_gemm_into_picks_the_small_kernels_as_documented(rng, monkeypatch):
    calls = []
    for module, name in ((gemm_small, "gemm_small_m"), (gemm_small, "gemm_small"),
                         (gemm_kernel, "gemm_parallel")):
        monkeypatch.setattr(module, name, lambda *args, _n=name: calls.append(_n))
    small_m, m_nt, n_nt = _tuning.GEMM_SMALL_M, _tuning.GEMM_SMALL_M_NT, _tuning.GEMM_SMALL_N_NT
    for m, n, trans_b in ((1, 20, False), (small_m, 20, False), (small_m + 1, 20, False),
                          (m_nt, 20, True), (m_nt + 1, n_nt, True), (m_nt + 1, n_nt + 1, True)):
        b = np.zeros((n, 30) if trans_b else (30, n))
        _linear.gemm_into(np.zeros((m, 30)), b, np.zeros((m, n)), trans_b=trans_b)
    _linear.gemm_into(np.zeros((1, 2000)), np.zeros((2000, 1000)), np.zeros((1, 1000)))
    assert calls == ["gemm_small_m", "gemm_small_m", "gemm_small", "gemm_small_m",
                     "gemm_small_m", "gemm_small", "gemm_parallel"]


def test_gemm_into_empty_sum(rng):
    # k = 0: C = 0, or C unchanged when accumulating; no kernel runs.
    c = np.full((3, 4), np.nan, np.float32)
    assert np.array_equal(_linear.gemm_into(np.zeros((3, 0), np.float32),
                                            np.zeros((0, 4), np.float32), c), np.zeros((3, 4)))
    c0 = rng.standard_normal((3, 4))
    c = c0.copy()
    _linear.gemm_into(np.zeros((3, 0)), np.zeros((0, 4)), c, accumulate=True)
    assert np.array_equal(c, c0)


def test_linear_batch_one_matches_numpy(rng):
    # A batch-1 linear layer, forward and backward, runs the small-M kernel.
    x = rng.standard_normal((1, 37)).astype(np.float32)
    w = rng.standard_normal((21, 37)).astype(np.float32)
    b = rng.standard_normal(21).astype(np.float32)
    assert_close(F.linear(x, w, b), x @ w.T + b)
    go = rng.standard_normal((1, 21)).astype(np.float32)
    gx, gw, gb = F.linear_backward(go, x, w)
    assert_close(gx, go @ w)
    assert_close(gw, go.T @ x)
    assert_close(gb, go.sum(0))


def test_gemm_threshold_splits_as_documented(rng, monkeypatch):
    # Just below GEMM_SERIAL_WORK multiply-adds runs gemm_small, at it gemm_parallel.
    calls = []
    monkeypatch.setattr(gemm_small, "gemm_small", lambda *args: calls.append("serial"))
    monkeypatch.setattr(gemm_kernel, "gemm_parallel", lambda *args: calls.append("parallel"))
    side = round(_tuning.GEMM_SERIAL_WORK ** (1 / 3))
    assert side ** 3 == _tuning.GEMM_SERIAL_WORK
    for m in (side - 1, side):
        a = np.zeros((m, side), np.float32)
        b = np.zeros((side, side), np.float32)
        _linear.gemm_into(a, b, np.zeros((m, side), np.float32))
    assert calls == ["serial", "parallel"]


def test_gemm_column_split_uses_no_more_threads_than_slivers(monkeypatch):
    # gemm_parallel's column split (m <= MC) deals out NR-column slivers: a product
    # of one sliver runs on the calling thread, one of two slivers on two threads.
    calls = []
    monkeypatch.setattr(gemm_small, "gemm_small", lambda *args: calls.append("serial"))
    monkeypatch.setattr(gemm_kernel, "gemm_parallel", lambda *args: calls.append(args[-1]))
    monkeypatch.setattr(_tuning, "get_num_threads", lambda: 4)
    monkeypatch.setattr(_tuning, "GEMM_SERIAL_WORK", 0)
    nr = 2 * simd.VECTOR_BYTES // 4     # float32 columns per sliver
    for n in (nr, nr + 1, 5 * nr):
        _linear.gemm_into(np.zeros((gemm_kernel.MC, 64), np.float32),
                          np.zeros((64, n), np.float32), np.zeros((gemm_kernel.MC, n), np.float32))
    assert calls == ["serial", 2, 4]


def test_gemm_on_one_thread_packs_large_products(monkeypatch):
    # With one Numba thread, products from GEMM_SERIAL_WORK up still run packed
    # (gemm_parallel with n_chunks=1: 1024^3 went 3.7x slower through
    # gemm_small), except C of one sliver and matrix-vector-like shapes.
    calls = []
    monkeypatch.setattr(gemm_small, "gemm_small", lambda *args: calls.append("small"))
    monkeypatch.setattr(gemm_small, "gemm_small_m", lambda *args: calls.append("small_m"))
    monkeypatch.setattr(gemm_kernel, "gemm_parallel", lambda *args: calls.append(args[-1]))
    monkeypatch.setattr(_tuning, "get_num_threads", lambda: 1)
    nr = 2 * simd.VECTOR_BYTES // 4     # float32 columns per sliver
    side = round(_tuning.GEMM_SERIAL_WORK ** (1 / 3))
    # 16 * side rows: C of nr + 1 columns is past GEMM_SERIAL_WORK for AVX2's nr = 16 too
    for m, k, n, trans_b in [(side, side, side, False), (side - 1, side, side, False),
                             (16 * side, side, nr, False), (16 * side, side, nr + 1, False),
                             (2, 4 * side, 4 * side, False), (6, 4 * side, 4 * side, True)]:
        b = np.zeros((n, k) if trans_b else (k, n), np.float32)
        _linear.gemm_into(np.zeros((m, k), np.float32), b, np.zeros((m, n), np.float32),
                          trans_b=trans_b)
    assert calls == [1, "small", "small", 1, "small_m", "small_m"]


def test_gemm_workspace_reused_across_sizes_and_dtypes(rng, monkeypatch):
    monkeypatch.setattr(_tuning, "GEMM_SERIAL_WORK", 0)
    for m, k, n, dtype in [(40, 300, 50, np.float32), (8, 20, 9, np.float32),
                           (40, 300, 50, np.float64), (70, 500, 90, np.float32)]:
        a, b = _operands(m, k, n, False, False, dtype, rng)
        c = np.empty((m, n), dtype)
        _linear.gemm_into(a, b, c)
        assert_close(c, _expected(a, b, np.zeros((m, n)), 1, 0, False, False, dtype))


def test_gemm_concurrent_python_threads(rng, monkeypatch):
    # Each Python thread gets its own packing workspace: concurrent calls must
    # not write into each other's panels.
    monkeypatch.setattr(_tuning, "GEMM_SERIAL_WORK", 0)
    cases = [_operands(30 + i, 200, 40 + i, False, False, np.float32, rng) for i in range(4)]
    results = [None] * len(cases)

    def work(i):
        a, b = cases[i]
        for _ in range(10):
            c = np.empty((a.shape[0], b.shape[1]), np.float32)
            _linear.gemm_into(a, b, c)
        results[i] = c

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(cases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (a, b), c in zip(cases, results):
        assert_close(c, _expected(a, b, np.zeros(c.shape), 1, 0, False, False, np.float32))


@njit
def _simd_roundtrip(x, y, out):
    # out[i] = x[i] * y[0] + x[0] for the first lanes(x) elements, then the
    # same through vmul and scalar load/store, at an unaligned offset 1.
    # (No cache=True: a cached copy would not see edits to kernels/simd.py.)
    w = simd.lanes(x)
    simd.prefetch(out, 0)        # a hint only: must change no value
    simd.prefetch(out, 2 * w)
    v = simd.vfma(simd.vload(x, 0), simd.vbroadcast(y, 0), simd.vsplat(x[0]))
    simd.vstore(out, 0, v)
    u = simd.vfma(simd.vload(x, 1), simd.vsplat(y[0]), simd.vzero(x))
    simd.vstore(out, w, simd.vmul(u, simd.vsplat(x[0])))
    simd.store(out, 2 * w, simd.load(x, 2) + simd.load(out, 2 * w - 1))
    return w


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_simd_intrinsics(dtype):
    # One vector is a ymm register (32 bytes) or, with AVX-512F, a zmm (64 bytes).
    assert simd.VECTOR_BYTES == (64 if "+avx512f" in simd._host_vector_features() else 32)
    lanes = simd.VECTOR_BYTES // np.dtype(dtype).itemsize
    x = np.arange(1, 2 * lanes + 2, dtype=dtype)
    y = np.array([3.0], dtype)
    out = np.zeros(2 * lanes + 1, dtype)
    assert _simd_roundtrip(x, y, out) == lanes
    np.testing.assert_array_equal(out[:lanes], x[:lanes] * 3 + x[0])
    np.testing.assert_array_equal(out[lanes:2 * lanes], x[1:lanes + 1] * 3 * x[0])
    assert out[2 * lanes] == x[2] + x[lanes] * 3 * x[0]


@njit
def _simd_masked(x, out, i, n, loaded):
    # out[i : i + n] = 2 * x[i : i + n] through the first-n-lanes load and store;
    # loaded = the whole vector that vload_first returned.
    v = simd.vload_first(x, i, n)
    simd.vstore_first(out, i, simd.vadd(v, v), n)
    simd.vstore(loaded, 0, v)


@njit
def _simd_sum(x, i):
    return simd.vsum(simd.vload(x, i))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_simd_vsum(dtype):
    # Integers and powers of two: exact in any order of addition.
    lanes = simd.VECTOR_BYTES // np.dtype(dtype).itemsize
    x = np.arange(1, lanes + 3, dtype=dtype) * np.array([1, -2, 4, 0.5], dtype)[np.arange(lanes + 2) % 4]
    for i in (0, 1, 2):
        assert _simd_sum(x, i) == x[i:i + lanes].sum()


@njit
def _simd_transpose(src, i, si, dst, j, sj):
    simd.vtranspose(src, i, si, dst, j, sj)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_simd_vtranspose(dtype):
    # A lanes x lanes block at odd offsets and strides, from a 2-D array into a 1-D one:
    # exactly the transposed block is written, nothing around it.
    lanes = simd.VECTOR_BYTES // np.dtype(dtype).itemsize
    src = np.arange(3 * lanes * 2 * lanes, dtype=dtype).reshape(3 * lanes, 2 * lanes)
    dst = np.full((lanes + 2) * (lanes + 3), -1.0, dtype)
    _simd_transpose(src, 2 * lanes * 5 + 3, 2 * lanes, dst, 7, lanes + 3)
    block = src[5:5 + lanes, 3:3 + lanes]
    written = dst[7:7 + lanes * (lanes + 3)].reshape(lanes, lanes + 3)
    np.testing.assert_array_equal(written[:, :lanes], block.T)
    assert (written[:, lanes:] == -1).all() and (dst[:7] == -1).all()
    assert (dst[7 + lanes * (lanes + 3):] == -1).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_simd_first_lanes(dtype):
    lanes = simd.VECTOR_BYTES // np.dtype(dtype).itemsize
    x = np.arange(1, lanes + 4, dtype=dtype)
    for i, n in [(0, 0), (0, 1), (3, lanes - 1), (3, lanes), (2, lanes // 2)]:
        src = x[:i + n].copy()   # ends at i + n: nothing past the array is read
        out = np.full(lanes + 4, -1.0, dtype)
        loaded = np.full(lanes, -1.0, dtype)
        _simd_masked(src, out, i, n, loaded)
        np.testing.assert_array_equal(out[i:i + n], 2 * src[i:i + n])
        assert (np.delete(out, np.arange(i, i + n)) == -1).all()   # nothing else written
        np.testing.assert_array_equal(loaded, np.concatenate([src[i:i + n], np.zeros(lanes - n)]))


@njit
def _simd_pooling_ops(a, b, best, idx, n, even, odd, picked, ints):
    # veven / vodd of two vectors, vpick(v, best, v, best) and vstore_as_int (base 100).
    v0 = simd.vload(a, 0)
    v1 = simd.vload(b, 0)
    simd.vstore(even, 0, simd_shuffle.veven(v0, v1))
    simd.vstore(odd, 0, simd_shuffle.vodd(v0, v1))
    bv = simd.vload(best, 0)
    simd.vstore(picked, 0, simd_shuffle.vpick(v0, bv, v0, bv))
    simd_shuffle.vstore_as_int(ints, 1, simd.vload(idx, 0), 100, n)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_simd_pooling_intrinsics(dtype):
    lanes = simd.VECTOR_BYTES // np.dtype(dtype).itemsize
    a = np.arange(lanes, dtype=dtype)
    b = np.arange(lanes, 2 * lanes, dtype=dtype)
    even, odd, picked = (np.empty(lanes, dtype) for _ in range(3))
    # v beats best: greater, or NaN over a number; never a number over NaN, never a tie.
    pairs = [(1, 0), (0, 1), (2, 2), (np.nan, 5), (5, np.nan), (np.nan, np.nan),
             (-np.inf, -np.inf), (np.inf, 3)]
    v = np.array([pairs[j % len(pairs)][0] for j in range(lanes)], dtype)
    best = np.array([pairs[j % len(pairs)][1] for j in range(lanes)], dtype)
    want = np.where((v > best) | (np.isnan(v) & ~np.isnan(best)), v, best)
    idx = np.arange(lanes, dtype=dtype) * 3
    for n in (0, 1, lanes - 1, lanes):
        ints = np.full(lanes + 2, -1, np.int64)
        _simd_pooling_ops(v, best, best, idx, n, even, odd, picked, ints)
        np.testing.assert_array_equal(ints[1:1 + n], 100 + 3 * np.arange(n))
        assert (ints[0] == -1) and (ints[1 + n:] == -1).all()   # only n lanes stored
    np.testing.assert_array_equal(picked, want)
    _simd_pooling_ops(a, b, best, idx, 0, even, odd, picked, ints)
    np.testing.assert_array_equal(even, np.arange(0, 2 * lanes, 2))
    np.testing.assert_array_equal(odd, np.arange(1, 2 * lanes, 2))


@njit
def _simd_backward_pooling_ops(a, b, src, i, base, n, lo, hi, offsets, selected):
    va = simd.vload(a, 0)
    vb = simd.vload(b, 0)
    simd.vstore(lo, 0, simd_shuffle.vzip_lo(va, vb))
    simd.vstore(hi, 0, simd_shuffle.vzip_hi(va, vb))
    at = simd_shuffle.vload_offsets(a, src, i, base, n)
    simd.vstore(offsets, 0, at)
    simd.vstore(selected, 0, simd_shuffle.vselect_eq(at, va, vb, simd.vzero(a)))
    simd.vstore(lo, 0, simd.vadd(simd.vload(lo, 0), simd_shuffle.vramp(a)))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_simd_backward_pooling_intrinsics(dtype):
    # vzip_lo / vzip_hi undo veven / vodd; vramp is 0, 1, 2, ...; vload_offsets reads n
    # int64 lanes minus base (-base in the others); vselect_eq picks by exact equality
    # (NaN never equal).
    lanes = simd.VECTOR_BYTES // np.dtype(dtype).itemsize
    a = np.arange(lanes, dtype=dtype)
    b = -np.arange(1, lanes + 1, dtype=dtype)
    lo, hi, offsets, selected = (np.empty(lanes, dtype) for _ in range(4))
    src = np.arange(100, 100 + lanes + 3, dtype=np.int64)
    for n in (0, 1, lanes - 1, lanes):
        _simd_backward_pooling_ops(a, b, src, 2, 102, n, lo, hi, offsets, selected)
        zipped = np.stack([a, b], axis=1).ravel()
        np.testing.assert_array_equal(lo, zipped[:lanes] + np.arange(lanes))   # + vramp
        np.testing.assert_array_equal(hi, zipped[lanes:])
        want = np.where(np.arange(lanes) < n, np.arange(lanes), -102).astype(dtype)
        np.testing.assert_array_equal(offsets, want)
        np.testing.assert_array_equal(selected, np.where(want == a, b, 0))
    a[1] = np.nan
    _simd_backward_pooling_ops(a, b, src, 2, 102, lanes, lo, hi, offsets, selected)
    assert selected[1] == 0 and selected[2] == b[2]


@njit
def _simd_load_lanes(x, i, lo, hi, out):
    simd.vstore(out, 0, simd.vload_lanes(x, i, lo, hi))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_simd_load_lanes(dtype):
    # Lanes lo .. hi - 1 of the vector at x[i], zeros elsewhere; i may be negative and the
    # vector may run past the end, as long as the loaded lanes lie in x (the conv packing).
    lanes = simd.VECTOR_BYTES // np.dtype(dtype).itemsize
    x = np.arange(1, lanes + 1, dtype=dtype)
    out = np.empty(lanes, dtype)
    for i, lo, hi in [(0, 0, lanes), (-3, 3, lanes), (2, 0, lanes - 2), (-1, 1, 4), (0, 5, 5)]:
        _simd_load_lanes(x, i, lo, hi, out)
        j = np.arange(lanes)
        want = np.where((j >= lo) & (j < hi), x[np.clip(i + j, 0, lanes - 1)], 0)
        np.testing.assert_array_equal(out, want)


def test_gemm_beta_zero_ignores_nan_in_output(rng):
    # BLAS convention: with beta = 0 the old contents of C are never read.
    a = rng.standard_normal((5, 4))
    b = rng.standard_normal((4, 3))
    c = np.full((5, 3), np.nan)
    _linear.gemm_into(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("a_shape,b_shape", [((1, 1), (1, 1)), ((7, 3), (3, 9)),
                                             ((2, 300), (300, 260))])
def test_matmul_matches_reference(a_shape, b_shape, dtype, rng):
    a = rng.standard_normal(a_shape).astype(dtype)
    b = rng.standard_normal(b_shape).astype(dtype)
    assert_close(F.matmul(a, b), R.matmul(a, b))
    go = rng.standard_normal((a_shape[0], b_shape[1])).astype(dtype)
    for got, want in zip(F.matmul_backward(go, a, b), R.matmul_backward(go, a, b)):
        assert_close(got, want)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("x_shape", [(1, 5), (4, 5), (2, 3, 5)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_matches_reference(x_shape, with_bias, dtype, rng):
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal((6, 5)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype) if with_bias else None
    out = F.linear(x, w, b)
    assert out.shape == x_shape[:-1] + (6,)
    assert_close(out, R.linear(x, w, b))
    go = rng.standard_normal(out.shape).astype(dtype)
    for got, want in zip(F.linear_backward(go, x, w), R.linear_backward(go, x, w)):
        assert_close(got, want)


def test_linear_gradcheck(rng):
    x = rng.standard_normal((3, 4))
    w = rng.standard_normal((5, 4))
    b = rng.standard_normal(5)

    def grads(g, x, w, b):
        return F.linear_backward(g, x, w)

    check_gradients(lambda x, w, b: F.linear(x, w, b), grads, [x, w, b], rng)


def test_matmul_gradcheck(rng):
    a = rng.standard_normal((3, 4))
    b = rng.standard_normal((4, 2))
    check_gradients(F.matmul, lambda g, a, b: F.matmul_backward(g, a, b), [a, b], rng)


def test_matmul_accepts_non_contiguous_and_leaves_inputs_alone(rng):
    a = rng.standard_normal((6, 8))[:, ::2]
    b = rng.standard_normal((4, 5)).T.copy().T  # Fortran order
    a0, b0 = a.copy(), b.copy()
    np.testing.assert_allclose(F.matmul(a, b), a @ b, rtol=1e-12)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("layout", ["C", "transposed-view", "strided"])
def test_matmul_and_backward_take_transposed_views_without_copy_errors(rng, dtype, layout):
    """A.T / B.T views go to the kernel with transpose flags; results equal the reference."""
    a = rng.standard_normal((13, 21)).astype(dtype)
    b = rng.standard_normal((21, 17)).astype(dtype)
    g = rng.standard_normal((13, 17)).astype(dtype)
    if layout == "transposed-view":
        a_in, b_in = np.ascontiguousarray(a.T).T, np.ascontiguousarray(b.T).T
    elif layout == "strided":
        a_in = np.repeat(a, 2, axis=1)[:, ::2]
        b_in = np.repeat(b, 2, axis=0)[::2]
    else:
        a_in, b_in = a, b
    assert_close(F.matmul(a_in, b_in), R.matmul(a, b))
    gi, go = F.matmul_backward(g, a_in, b_in)
    ri, ro = R.matmul_backward(g, a, b)
    assert_close(gi, ri)
    assert_close(go, ro)


@pytest.mark.parametrize("ops", [F, R], ids=["numba", "numpy"])
def test_linear_backward_without_input_grad(ops, rng):
    x = rng.standard_normal((2, 3, 5))
    w = rng.standard_normal((4, 5))
    go = rng.standard_normal((2, 3, 4))
    full = ops.linear_backward(go, x, w)
    gx, gw, gb = ops.linear_backward(go, x, w, input_grad=False)
    assert gx is None
    np.testing.assert_array_equal(gw, full[1])
    np.testing.assert_array_equal(gb, full[2])
    with pytest.raises(TypeError, match="input_grad"):
        ops.linear_backward(go, x, w, input_grad=1)
