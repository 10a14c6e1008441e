"""python -m fastnn bench: roofline arithmetic, the table, timing helper, and a tiny run without torch."""
import subprocess
import sys

import pytest

from fastnn import bench


def test_simd_lanes_from_cpu_flags():
    assert bench.simd_lanes({"avx512f", "avx2", "fma"}) == 16
    assert bench.simd_lanes({"avx2", "fma"}) == 8
    assert bench.simd_lanes({"sse2"}) == 4


def test_peak_is_cores_fma_lanes_two_clock():
    # the development machine: 2 cores x 2 FMA x 8 lanes x 2 FLOP x 2.45 GHz
    assert bench.peak_gflops(2, 8, 2.45) == pytest.approx(156.8)
    assert bench.peak_gflops(4, 16, 3.0, fma_units=1) == pytest.approx(384.0)


def test_demo_epoch_flops_counts_three_passes():
    # forward multiply-adds per image: conv1 9216 + conv2 73728 + linear 1280
    assert bench.demo_epoch_flops(1) == 2 * 3 * 84224


def test_time_interleaved_returns_median_per_impl_and_keeps_none():
    calls = {"a": 0}

    def a():
        calls["a"] += 1

    t = bench.time_interleaved({"a": a, "missing": None}, repeat=3, min_sample_s=0)
    assert t["missing"] is None and t["a"] > 0
    assert calls["a"] == 2 + 3   # warm-up, calibration, then one call per sample


def test_table_ratios_rates_geomean_and_markdown():
    rows = [bench.Row("gemm", "matmul A@B", "100x100x100", fastnn=0.001, numpy=0.002,
                      torch=None, flops=2e6),
            bench.Row("gemm", "matmul A@B", "200x200x200", fastnn=0.002, numpy=0.016,
                      torch=0.001, flops=16e6),
            bench.Row("softmax", "softmax", "4x4", fastnn=1e-6, nbytes=8e3)]
    lines = bench.table_lines(rows, peak=10.0, bandwidth=4.0)
    text = "\n".join(lines)
    assert "2.00x" in lines[2] and "8.00x" in lines[3] and "0.50x" in lines[3]
    assert "80%" in lines[3]                             # 8 GFLOP/s of a 10 GFLOP/s peak
    assert "gemm: geometric mean" in text and "4.00x" in text   # sqrt(2 * 8)
    assert "8.0 GB/s" in text and "200%" in text         # 8e3 bytes in 1 us vs 4 GB/s
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
    assert table_row.split()[4] == "-"   # the torch column


def test_run_rejects_unknown_group():
    with pytest.raises(ValueError, match="unknown group"):
        bench.run(only=["gemm", "nope"], tiny=True)


def test_cli_bench_help_and_bad_options():
    proc = subprocess.run([sys.executable, "-m", "fastnn", "bench", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for option in ["--quick", "--only", "--repeat", "--markdown", "--peak-gflops", "--threads"]:
        assert option in proc.stdout
    assert "--tiny" not in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "fastnn", "bench", "--only", "gemm,bogus"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--only" in proc.stderr
