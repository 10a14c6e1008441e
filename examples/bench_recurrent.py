"""Time recurrent layers forward + backward, fastnn against torch.nn (same threads, CPU).

    python examples/bench_recurrent.py [--threads 2] [--repeat 15] [--dtype float32]

For each shape (T, N, D, H) from issue 13 and each of LSTM, GRU and RNN(tanh):
median milliseconds of one forward + backward through the whole sequence
(gradient of sum(output * G)), interleaved samples, and the ratio torch / fastnn
(> 1: fastnn faster). A timing script, not a test: figures depend on the
machine and its load.
"""
import argparse
import os
import time

import numpy as np

SHAPES = [(28, 64, 28, 128), (100, 32, 64, 256), (50, 1, 32, 64)]


def main(threads=2, repeat=15, dtype="float32"):
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch
    import fastnn
    fastnn.set_num_threads(threads)
    torch.set_num_threads(threads)
    dt = np.dtype(dtype)
    tdt = torch.float32 if dt == np.float32 else torch.float64
    rng = np.random.default_rng(0)
    print(f"threads={threads} dtype={dt.name}; median ms of forward+backward")
    for t_len, n, d, h in SHAPES:
        x = rng.standard_normal((t_len, n, d)).astype(dt)
        g = rng.standard_normal((t_len, n, h)).astype(dt)
        for name in ("LSTM", "GRU", "RNN"):
            ours = getattr(fastnn, name)(d, h, dtype=dt)
            theirs = getattr(torch.nn, name)(d, h).to(tdt)
            xt = torch.tensor(x, requires_grad=True)
            gt = torch.tensor(g)

            def run_ours():
                ours.forward(x)
                ours.backward(g)

            def run_theirs():
                out, _ = theirs(xt)
                out.backward(gt)

            for f in (run_ours, run_theirs):
                f()
                f()
            samples = {run_ours: [], run_theirs: []}
            for _ in range(repeat):
                for f in (run_ours, run_theirs):
                    start = time.perf_counter()
                    f()
                    samples[f].append(time.perf_counter() - start)
            a = np.median(samples[run_ours]) * 1e3
            b = np.median(samples[run_theirs]) * 1e3
            print(f"{name:4s} T={t_len:3d} N={n:2d} D={d:2d} H={h:3d}: fastnn {a:8.2f}  "
                  f"torch {b:8.2f}  torch/fastnn {b / a:5.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args()
    main(args.threads, args.repeat, args.dtype)
