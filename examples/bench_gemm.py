"""GEMM speed: fastnn.functional.matmul (the Numba GEMM) vs np.dot (OpenBLAS), same threads.

Run: python examples/bench_gemm.py [--quick] [--dtype float32|float64] [--filter TEXT]
Prints per shape: fastnn GF/s, np.dot GF/s, ratio, and % of the machine's nominal
fp32 peak (threads x 2 FMA units x SIMD lanes x 2 flops x clock, as in
``python -m fastnn bench``). Timed by the bench's shared helper
(fastnn._bench_common.time_interleaved: warm-up call excluded, rotating order,
each sample once OpenBLAS's threads are idle again, medians); the square sizes
are the bench's GEMM_SIZES.
"""
import argparse

import numpy as np

import fastnn
import fastnn.functional as F
from fastnn._bench_common import (GEMM_SIZES, cpu_flags, cpu_max_ghz, peak_gflops, simd_lanes,
                                  time_interleaved)

# (label, M, K, N, trans_a, trans_b)
SHAPES = [(f"{n}^3{tag}", n, n, n, ta, tb)
          for n in GEMM_SIZES if n >= 256
          for tag, ta, tb in (("", False, False), (" B^T", False, True), (" A^T", True, False))]
SHAPES += [
    ("conv fwd 64x576 @ 576x32768", 64, 576, 32768, False, False),
    ("conv gw 64x32768 @ (576x32768)^T", 64, 32768, 576, False, True),
    ("conv gi (64x576)^T @ 64x32768", 576, 64, 32768, True, False),
    ("linear 32x64 @ (10x64)^T", 32, 64, 10, False, True),
    ("linear 32x256 @ (256x256)^T", 32, 256, 256, False, True),
    ("linear 32x1024 @ (1024x1024)^T", 32, 1024, 1024, False, True),
    ("linear gw (32x10)^T @ 32x64", 10, 32, 64, True, False),
    ("mlp 32x64 @ 64x10", 32, 64, 10, False, False),
    ("small 8^3", 8, 8, 8, False, False),
    ("small 16^3", 16, 16, 16, False, False),
    ("small 32^3", 32, 32, 32, False, False),
    ("small 48^3", 48, 48, 48, False, False),
    ("small 64^3", 64, 64, 64, False, False),
    ("small 96^3", 96, 96, 96, False, False),
    ("small 128^3", 128, 128, 128, False, False),
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="skip products over 5 GFLOP (2048^3)")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--filter", default="", help="only shapes whose label contains this")
    args = parser.parse_args()
    fastnn.set_num_threads(args.threads)
    try:
        import threadpoolctl
        threadpoolctl.threadpool_limits(args.threads, user_api="blas")
    except ImportError:
        pass
    ghz, _ = cpu_max_ghz()
    peak = peak_gflops(args.threads, simd_lanes(cpu_flags()), ghz) if ghz else float("nan")
    dtype = np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    print(f"{'shape':36s} {'fastnn':>8s} {'np.dot':>8s} {'ratio':>6s} {'%peak':>6s}   "
          f"(GF/s, {dtype}, {args.threads} threads, fp32 peak {peak:.0f} GF/s)")
    for label, m, k, n, ta, tb in SHAPES:
        if args.quick and 2.0 * m * n * k > 5e9:
            continue
        if args.filter not in label:
            continue
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
        b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
        opa, opb = (a.T if ta else a), (b.T if tb else b)
        np.testing.assert_allclose(F.matmul(opa, opb), np.dot(opa, opb), rtol=2e-3,
                                   atol=2e-3 * np.sqrt(k))
        flops = 2.0 * m * n * k
        t = time_interleaved({"fastnn": lambda: F.matmul(opa, opb),
                              "np.dot": lambda: np.dot(opa, opb)}, args.repeats,
                             min_sample_s=0.02 if flops < 1e8 else 0.1)
        gf, gn = flops / t["fastnn"] / 1e9, flops / t["np.dot"] / 1e9
        print(f"{label:36s} {gf:8.1f} {gn:8.1f} {gf / gn:6.2f} {100 * gf / peak:5.0f}%", flush=True)


if __name__ == "__main__":
    main()
