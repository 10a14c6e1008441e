"""GEMM speed: fastnn's Numba kernel vs np.dot (OpenBLAS), same process, 2 threads.

Run: python examples/bench_gemm.py [--quick] [--dtype float32|float64] [--filter TEXT]
Prints per shape: fastnn GF/s, np.dot GF/s, ratio, and % of the machine's nominal
fp32 peak (157 GF/s: 2 cores x 2 FMA units x 8 lanes x 2 flops x 2.45 GHz).
Timings: median of REPEATS runs after warm-up; fastnn and np.dot runs are
interleaved so both see the same background load (the machine is shared).
"""
import argparse
import time

import numba
import numpy as np

from fastnn._linear import gemm_into

PEAK = 157.0  # nominal fp32 GFLOP/s of the development machine

# (label, M, K, N, trans_a, trans_b)
SHAPES = [(f"{n}^3{tag}", n, n, n, ta, tb)
          for n in (256, 512, 1024, 2048)
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


def timeit(fn, min_time):
    """Seconds per call: loop long enough (>= min_time) to beat timer noise."""
    reps = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_time:
            return dt / reps
        reps *= 2 if dt < min_time / 4 else 1 + int(min_time / max(dt, 1e-9))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="skip products over 5 GFLOP (2048^3)")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--filter", default="", help="only shapes whose label contains this")
    args = parser.parse_args()
    numba.set_num_threads(2)
    dtype = np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    print(f"{'shape':36s} {'fastnn':>8s} {'np.dot':>8s} {'ratio':>6s} {'%peak':>6s}   (GF/s, {dtype})")
    for label, m, k, n, ta, tb in SHAPES:
        if args.quick and 2.0 * m * n * k > 5e9:
            continue
        if args.filter not in label:
            continue
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
        b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
        c = np.empty((m, n), dtype)
        out = np.empty((m, n), dtype)
        opa, opb = (a.T if ta else a), (b.T if tb else b)

        def run_fastnn():
            gemm_into(a, b, c, ta, tb)

        def run_numpy():
            np.dot(opa, opb, out=out)

        run_fastnn()
        run_numpy()
        np.testing.assert_allclose(c, out, rtol=2e-3, atol=2e-3 * np.sqrt(k))
        flops = 2.0 * m * n * k
        min_time = 0.02 if flops < 1e8 else 0.1
        tf, tn = [], []
        for _ in range(args.repeats):
            tf.append(timeit(run_fastnn, min_time))
            tn.append(timeit(run_numpy, min_time))
        gf = flops / np.median(tf) / 1e9
        gn = flops / np.median(tn) / 1e9
        print(f"{label:36s} {gf:8.1f} {gn:8.1f} {gf / gn:6.2f} {100 * gf / PEAK:5.0f}%", flush=True)


if __name__ == "__main__":
    main()
