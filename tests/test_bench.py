"""python -m fastnn bench: roofline arithmetic, the table, the shared timing helper, the idiomatic
NumPy column against the reference, a tiny run without torch, and `--tiny` over every group."""
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from fastnn import _bench_common as C
from fastnn import _bench_numpy as NP
from fastnn import bench
from fastnn import reference as R


def test_simd_lanes_from_cpu_flags():
    assert bench.simd_lanes({"avx512f", "avx2", "fma"}) == 16
    assert bench.simd_lanes({"avx2", "fma"}) == 8
    assert bench.simd_lanes({"sse2"}) == 4


def test_peak_is_cores_fma_lanes_two_clock():
    # the development machine: 2 cores x 2 FMA x 8 lanes x 2 FLOP x 2.45 GHz
    assert bench.peak_gflops(2, 8, 2.45) == pytest.approx(156.8)
    assert bench.peak_gflops(4, 16, 3.0, fma_units=1) == pytest.approx(384.0)


def test_fma_peak_kernel_computes_its_chains():
    # Each of the 12 chains of every thread sums reps products x * y; the roof is then
    # that FLOP count over the time, so the count must be right.
    from fastnn.kernels.fma_peak import fma_peak
    from fastnn.kernels.simd import VECTOR_BYTES
    lanes = VECTOR_BYTES // 4
    seed = np.concatenate([np.full(lanes, 0.5), np.full(lanes, 0.25)]).astype(np.float32)
    out = np.full(2 * 12 * lanes, np.nan, dtype=np.float32)
    fma_peak(seed, out, 40, 2)
    np.testing.assert_array_equal(out, np.float32(40 * 0.125))


def test_measured_fma_peak_is_a_plausible_rate():
    # Between 1 GFLOP/s and what 2 FMA units at 6 GHz could do on one thread.
    from fastnn.kernels.simd import VECTOR_BYTES
    peak = C.measured_fma_peak(1, seconds=0.02, repeat=1)
    assert 1.0 < peak < bench.peak_gflops(1, VECTOR_BYTES // 4, 6.0)


def test_demo_epoch_flops_counts_three_passes():
    # forward multiply-adds per image: conv1 9216 + conv2 73728 + linear 1280
    assert bench.demo_epoch_flops(1) == 2 * 3 * 84224


def test_time_interleaved_returns_median_per_impl_and_keeps_none():
    calls = {"a": 0}

    def a():
        calls["a"] += 1

    t = C.time_interleaved({"a": a, "missing": None}, repeat=3, min_sample_s=0)
    assert t["missing"] is None and t["a"] > 0
    assert calls["a"] == 2 + 3   # warm-up, calibration, then one call per sample


def test_time_interleaved_sizes_samples_by_counting_calls():
    # One slow call (a wake-up after an idle pause) must not shrink every sample
    # to a call or two: the calibration counts the calls that fit in min_sample_s.
    calls = {"a": 0}

    def a():
        calls["a"] += 1
        if calls["a"] <= 2:          # the warm-up and the first calibration call
            time.sleep(0.004)

    C.time_interleaved({"a": a}, repeat=2, min_sample_s=0.005, settle=False)
    loops = (calls["a"] - 1) // 3    # calibration + 2 samples of that many calls each
    assert loops >= 20


def test_time_interleaved_rotates_the_order():
    order = []
    impls = {name: (lambda name=name: order.append(name)) for name in "abc"}
    C.time_interleaved(impls, repeat=3, min_sample_s=0, settle=False)
    assert order[:6] == list("aabbcc")              # warm-up + calibration call each
    assert order[6:] == list("abc") + list("bca") + list("cab")


def test_wait_until_idle_waits_for_a_busy_thread():
    assert C.wait_until_idle() < 0.5               # nothing else runs: one or two windows
    stop = time.perf_counter() + 0.15

    def spin():                                    # like OpenBLAS's idle worker threads
        while time.perf_counter() < stop:
            pass

    worker = threading.Thread(target=spin)
    worker.start()
    waited = C.wait_until_idle()
    worker.join()
    assert waited >= 0.05


def test_copy_bandwidth_splits_over_threads():
    assert C.copy_bandwidth(2**16, threads=1, repeat=2) > 0
    assert C.copy_bandwidth(2**16 + 3, threads=3, repeat=2) > 0


@pytest.mark.parametrize("shape", [(2, 3, 6, 6, 4, 3, 1, 1), (2, 3, 7, 7, 4, 3, 1, 2),
                                   (1, 2, 8, 5, 3, 3, 0, 2), (1, 2, 9, 9, 3, 5, 2, 3)])
def test_numpy_conv2d_column_matches_the_reference(shape):
    n, c, h, w, k, r, pad, stride = shape
    rng = np.random.default_rng(0)
    x, wt = rng.standard_normal((n, c, h, w)), rng.standard_normal((k, c, r, r))
    b = rng.standard_normal(k)
    expected = R.conv2d(x, wt, b, stride=stride, padding=pad)
    np.testing.assert_allclose(NP.conv2d(x, wt, b, stride, pad), expected, atol=1e-12)
    go = rng.standard_normal(expected.shape)
    got = NP.conv2d_backward(go, x, wt, stride, pad)
    for mine, ref in zip(got, R.conv2d_backward(go, x, wt, stride=stride, padding=pad)):
        assert mine.shape == ref.shape
        np.testing.assert_allclose(mine, ref, atol=1e-12)


def test_numpy_elementwise_and_softmax_columns_match_the_reference():
    rng = np.random.default_rng(1)
    x, g = rng.standard_normal(50), rng.standard_normal(50)
    y = np.tanh(x)
    out = np.empty_like(x)
    for name, args in [("relu", (x,)), ("sigmoid", (x,)), ("tanh", (x,)),
                       ("relu_backward", (g, x)), ("sigmoid_backward", (g, y)),
                       ("tanh_backward", (g, y))]:
        assert getattr(NP, name)(*args, out=out) is out
        np.testing.assert_allclose(out, getattr(R, name)(*args), rtol=1e-14, atol=1e-15,
                                   err_msg=name)
    z, t = rng.standard_normal((6, 9)) * 30, rng.integers(0, 9, 6)
    np.testing.assert_allclose(NP.softmax(z), R.softmax(z, dim=-1), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(NP.log_softmax(z), R.log_softmax(z, dim=-1), rtol=1e-12,
                               atol=1e-12)
    assert NP.cross_entropy(z, t) == pytest.approx(R.cross_entropy(z, t), rel=1e-12)


def test_conv_shape_ids_and_inputs():
    assert C.CONV_IDS[0] == "A: N32 C64 32x32 K64 3x3 p1 s1"
    assert C.conv_shape("D") == C.conv_shape(C.CONV_IDS[3]) == (8, 3, 224, 64, 7, 3, 2)
    x, w, b, go, kw = C.conv_inputs((2, 3, 7, 4, 3, 1, 2))
    assert x.shape == (2, 3, 7, 7) and w.shape == (4, 3, 3, 3) and go.shape == (2, 4, 4, 4)
    assert kw == {"stride": 2, "padding": 1} and x.dtype == np.float32
    assert C.conv_macs((2, 3, 7, 4, 3, 1, 2)) == 2 * 4 * 4 * 4 * 3 * 3 * 3


def test_table_ratios_rates_geomean_and_markdown():
    rows = [bench.Row("gemm", "matmul A@B", "100x100x100", fastnn=0.001, numpy=0.002,
                      torch=None, flops=2e6),
            bench.Row("gemm", "matmul A@B", "200x200x200", fastnn=0.002, numpy=0.016,
                      torch=0.001, flops=16e6),
            bench.Row("softmax", "softmax", "4x4", fastnn=1e-6, nbytes=8e3)]
    rows.append(bench.Row("demo", "epoch", "x", fastnn=0.1, reference=0.3))
    lines = bench.table_lines(rows, peak=10.0, bandwidth=4.0)
    text = "\n".join(lines)
    assert "2.00x" in lines[2] and "8.00x" in lines[3] and "0.50x" in lines[3]
    assert "80%" in lines[3]                             # 8 GFLOP/s of a 10 GFLOP/s peak
    assert "gemm: geometric mean" in text and "4.00x" in text   # sqrt(2 * 8)
    assert "8.0 GB/s" in text and "200%" in text         # 8e3 bytes in 1 us vs 4 GB/s
    assert "reference ms" in lines[0] and "300.00" in text  # the reference column, in ms
    md = bench.table_lines(rows, peak=10.0, bandwidth=4.0, markdown=True)
    assert md[0].startswith("| op | shape |") and md[1].startswith("|---|---|---:")
    assert all(line.startswith("|") and line.endswith("|") for line in md)


def test_tiny_run_without_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)   # makes `import torch` raise ImportError
    assert bench.import_torch() is None
    lines = []
    rows = bench.run(only=["gemm", "softmax"], tiny=True, repeat=1, out=lines.append)
    assert {r.group for r in rows} == {"gemm", "softmax"}
    assert all(r.torch is None and r.fastnn > 0 and r.numpy > 0 for r in rows)
    text = "\n".join(lines)
    assert "torch: not installed" in text and "fp32 peak" in text and "GB/s" in text
    table_row = next(line for line in lines if line.startswith("softmax "))
    assert table_row.split()[4:6] == ["-", "-"]   # the reference and torch columns


def test_run_rejects_unknown_group():
    with pytest.raises(ValueError, match="unknown group"):
        bench.run(only=["gemm", "nope"], tiny=True)


def test_cli_bench_help_and_bad_options():
    proc = subprocess.run([sys.executable, "-m", "fastnn", "bench", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for option in ["--quick", "--only", "--repeat", "--markdown", "--peak-gflops", "--threads",
                   "--tiny"]:
        assert option in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "fastnn", "bench", "--only", "gemm,bogus"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--only" in proc.stderr


def test_cli_tiny_runs_every_group():
    """The CI smoke test: `python -m fastnn bench --tiny` over every group, in a subprocess."""
    proc = subprocess.run([sys.executable, "-m", "fastnn", "bench", "--tiny"],
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "median of 1" in out and "split over" in out
    for first_column in ["matmul A@B ", "conv2d fwd", "conv2d bwd", "relu", "tanh_backward",
                         "softmax ", "cross_entropy"]:
        assert any(line.startswith(first_column) for line in out.splitlines()), first_column
    assert "digits CNN train epoch" in out or "digits demo:\n  skipped" in out
    assert "cold start:" in out and "warmup(processes=1)" in out and "first training step" in out
    assert any(line.startswith("conv2d fwd (") and "tiny 3x3" in line for line in out.splitlines())
    assert "ResNet-18 forward" in out
    assert "LeNet-5 train epoch" in out or "lenet:\n  skipped" in out
    assert "threading: prange kernel then BLAS" in out and "their sum" in out


def test_resnet18_tables_and_flop_counts_agree():
    from fastnn import _bench_nets as N
    assert set(C.RESNET18_COUNTS) == set(C.RESNET18_CONVS)
    assert sum(C.RESNET18_COUNTS.values()) == 20          # 17 3x3/7x7 convs + 3 projections
    convs = sum(C.conv_macs(s) * C.RESNET18_COUNTS[k] for k, s in C.RESNET18_CONVS.items())
    assert N.resnet18_macs(8, 224) == convs + 8 * 512 * 1000
    assert N.resnet18_macs(1, 224) == pytest.approx(1.814e9, rel=1e-3)   # the usual 1.8 GMACs
    # LeNet-5 forward multiply-adds per image: conv1 86,400 + conv2 153,600 + fc 41,640
    assert N.lenet_epoch_flops(1) == 2 * 3 * 281640


def test_resnet18_and_lenet_builders_match_torch():
    torch = pytest.importorskip("torch")
    from fastnn import _bench_nets as N
    net = N.resnet18_fastnn()
    x = C.randn(1, 3, 32, 32, seed=5)
    want = N.resnet18_torch(torch, net)(torch.from_numpy(x)).numpy()
    got = N.resnet18_forward(net, x)
    assert got.shape == (1, 1000)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3 * np.abs(want).max())
    x, y = C.randn(8, 1, 28, 28, seed=1), np.arange(8) % 10
    fastnn_epoch, torch_epoch = N.lenet_epochs(x, y, torch)
    fastnn_epoch()
    torch_epoch()
