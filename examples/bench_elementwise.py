"""Benchmark fastnn's elementwise activations and softmax family against torch and NumPy.

    python examples/bench_elementwise.py            # 16M-element activations, 4096x1000 softmax
    python examples/bench_elementwise.py --small    # demo-sized calls (32x64, 32x10)

Prints, per op: fastnn, torch (set_num_threads(2), out= where torch has it),
idiomatic NumPy ("numpy": ufuncs with out=, the max-shifted exp; fastnn._bench_numpy,
where it has the op) and fastnn.reference, in GB/s (bytes each op must read +
write, counted the same way for every implementation and for the copy roof, a
np.copyto split over the same threads) or milliseconds, with ratios. Timed by
the bench's shared helper (fastnn._bench_common.time_interleaved: warm-up call
excluded, rotating order, each sample once the other thread pools are idle, medians).
"""
import argparse

import numpy as np

import fastnn
import fastnn.functional as F
import fastnn.reference as R
from fastnn import _bench_numpy as NP
from fastnn._bench_common import (ELEMENTWISE_SIZE, SOFTMAX_SHAPE, copy_bandwidth,
                                  import_torch, time_interleaved)


def median_times(fns, repeat):
    """Medians of the callables in list ``fns`` (None entries give None)."""
    t = time_interleaved(dict(enumerate(fns)), repeat)
    return [t[i] for i in range(len(fns))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="demo-sized shapes (serial path)")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch = import_torch()
    if torch is None:
        raise SystemExit("this example compares with PyTorch: pip install torch")
    torch.set_num_threads(args.threads)
    fastnn.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    shape = (32, 64) if args.small else (ELEMENTWISE_SIZE,)
    x = (4 * rng.standard_normal(shape)).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    out = np.empty_like(x)
    tx, tg, tout = torch.from_numpy(x), torch.from_numpy(g), torch.from_numpy(out)
    ty = torch.sigmoid(tx)
    tt = torch.tanh(tx)
    y_sig, y_tanh = F.sigmoid(x), F.tanh(x)
    nb = x.nbytes
    copy_bw = copy_bandwidth(x.size, threads=args.threads, repeat=args.repeat)
    print(f"shape {shape} float32, {args.threads} threads; np.copyto over {args.threads} "
          f"threads: {copy_bw:.2f} GB/s")
    np_out = np.empty_like(x)
    np_calls = {"relu": lambda: NP.relu(x, np_out),
                "relu_backward": lambda: NP.relu_backward(g, x, np_out),
                "sigmoid": lambda: NP.sigmoid(x, np_out),
                "sigmoid_backward": lambda: NP.sigmoid_backward(g, y_sig, np_out),
                "tanh": lambda: NP.tanh(x, np_out),
                "tanh_backward": lambda: NP.tanh_backward(g, y_tanh, np_out)}
    ta = torch.ops.aten
    cases = [
        ("relu", 2, lambda: F.relu(x, out=out), lambda: torch.clamp_min(tx, 0, out=tout),
         lambda: R.relu(x, out=out)),
        ("relu_backward", 3, lambda: F.relu_backward(g, x, out=out),
         lambda: ta.threshold_backward.grad_input(tg, tx, 0, grad_input=tout),
         lambda: R.relu_backward(g, x, out=out)),
        ("leaky_relu", 2, lambda: F.leaky_relu(x, 0.01, out=out),
         lambda: torch.nn.functional.leaky_relu(tx, 0.01), lambda: R.leaky_relu(x, 0.01, out=out)),
        ("sigmoid", 2, lambda: F.sigmoid(x, out=out), lambda: torch.sigmoid(tx, out=tout),
         lambda: R.sigmoid(x, out=out)),
        ("sigmoid_backward", 3, lambda: F.sigmoid_backward(g, y_sig, out=out),
         lambda: ta.sigmoid_backward.grad_input(tg, ty, grad_input=tout),
         lambda: R.sigmoid_backward(g, y_sig, out=out)),
        ("tanh", 2, lambda: F.tanh(x, out=out), lambda: torch.tanh(tx, out=tout),
         lambda: R.tanh(x, out=out)),
        ("tanh_backward", 3, lambda: F.tanh_backward(g, y_tanh, out=out),
         lambda: ta.tanh_backward.grad_input(tg, tt, grad_input=tout),
         lambda: R.tanh_backward(g, y_tanh, out=out)),
        ("step", 2, lambda: F.step(x, out=out), lambda: torch.heaviside(tx, tx.new_ones(()), out=tout),
         lambda: R.step(x, out=out)),
        ("step_backward", 3, lambda: F.step_backward(g, x, out=out), None,
         lambda: R.step_backward(g, x, out=out)),
    ]
    print(f"{'op':18s} {'fastnn GB/s':>11s} {'torch GB/s':>10s} {'numpy GB/s':>10s} "
          f"{'reference GB/s':>14s} {'fastnn/copy':>11s} {'fastnn/torch':>12s}")
    nan = float("nan")
    for name, arrays, f_fn, t_fn, r_fn in cases:
        ts = median_times([f_fn, t_fn, np_calls.get(name), r_fn], args.repeat)
        bw = [arrays * nb / t / 1e9 if t else nan for t in ts]
        print(f"{name:18s} {bw[0]:11.2f} {bw[1]:10.2f} {bw[2]:10.2f} {bw[3]:14.2f} "
              f"{bw[0] / copy_bw:11.2f} {bw[0] / bw[1]:12.2f}")

    rows, k = (32, 10) if args.small else SOFTMAX_SHAPE
    z = (3 * rng.standard_normal((rows, k))).astype(np.float32)
    gz = rng.standard_normal((rows, k)).astype(np.float32)
    t = rng.integers(0, k, rows)
    tz, tgz, tt_ = torch.from_numpy(z), torch.from_numpy(gz), torch.from_numpy(t)
    s, ls = F.softmax(z), F.log_softmax(z)
    ts_, tls = torch.from_numpy(s), torch.from_numpy(ls)
    tzg = tz.clone().requires_grad_(True)
    tloss = torch.nn.functional.cross_entropy(tzg, tt_)
    sm_cases = [
        ("softmax", lambda: F.softmax(z), lambda: torch.softmax(tz, -1), lambda: NP.softmax(z),
         lambda: R.softmax(z)),
        ("softmax_backward", lambda: F.softmax_backward(gz, s),
         lambda: ta._softmax_backward_data(tgz, ts_, -1, torch.float32), None,
         lambda: R.softmax_backward(gz, s)),
        ("log_softmax", lambda: F.log_softmax(z), lambda: torch.log_softmax(tz, -1),
         lambda: NP.log_softmax(z), lambda: R.log_softmax(z)),
        ("log_softmax_backward", lambda: F.log_softmax_backward(gz, ls),
         lambda: ta._log_softmax_backward_data(tgz, tls, -1, torch.float32), None,
         lambda: R.log_softmax_backward(gz, ls)),
        ("cross_entropy", lambda: F.cross_entropy(z, t),
         lambda: torch.nn.functional.cross_entropy(tz, tt_), lambda: NP.cross_entropy(z, t),
         lambda: R.cross_entropy(z, t)),
        ("cross_entropy_bwd", lambda: F.cross_entropy_backward(1.0, z, t),
         lambda: torch.autograd.grad(tloss, tzg, retain_graph=True), None,
         lambda: R.cross_entropy_backward(1.0, z, t)),
    ]
    ms = (lambda v: f"{v * 1e3:.4f}" if v else "-")  # noqa: E731
    print(f"\n({rows}, {k}) float32   {'fastnn ms':>10s} {'torch ms':>9s} {'numpy ms':>9s} "
          f"{'reference ms':>12s} {'torch/fastnn':>12s}")
    for name, f_fn, t_fn, n_fn, r_fn in sm_cases:
        tf, tt2, tn, tr = median_times([f_fn, t_fn, n_fn, r_fn], args.repeat)
        print(f"{name:22s} {ms(tf):>10s} {ms(tt2):>9s} {ms(tn):>9s} {ms(tr):>12s} "
              f"{tt2 / tf:12.2f}")


if __name__ == "__main__":
    main()
