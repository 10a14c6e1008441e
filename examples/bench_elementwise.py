"""Benchmark fastnn's elementwise activations and softmax family against torch and NumPy.

    python examples/bench_elementwise.py            # 16M-element activations, 4096x1000 softmax
    python examples/bench_elementwise.py --small    # demo-sized calls (32x64, 32x10)

Prints, per op: fastnn, torch (set_num_threads(2), out= where torch has it)
and the NumPy reference, in GB/s (bytes each op must read + write, counted the
same way for every implementation and for np.copyto) or microseconds, with
ratios. Median of --repeat runs after one warm-up call (JIT compile excluded),
the implementations interleaved run by run so machine noise hits all alike.
"""
import argparse
import time

import numpy as np

import fastnn
import fastnn.functional as F
import fastnn.reference as R


def median_times(fns, repeat):
    for f in fns:
        f()  # warm-up (compile)
    times = [[] for _ in fns]
    for _ in range(repeat):
        for t, f in zip(times, fns):
            t0 = time.perf_counter()
            f()
            t.append(time.perf_counter() - t0)
    return [float(np.median(t)) for t in times]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="demo-sized shapes (serial path)")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    fastnn.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    shape = (32, 64) if args.small else (16 * 2**20,)
    x = (4 * rng.standard_normal(shape)).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    out = np.empty_like(x)
    tx, tg, tout = torch.from_numpy(x), torch.from_numpy(g), torch.from_numpy(out)
    ty = torch.sigmoid(tx)
    tt = torch.tanh(tx)
    y_sig, y_tanh = F.sigmoid(x), F.tanh(x)
    nb = x.nbytes
    (copy_t,) = median_times([lambda: np.copyto(out, x)], args.repeat)
    copy_bw = 2 * nb / copy_t / 1e9
    print(f"shape {shape} float32, {args.threads} threads; np.copyto: {copy_bw:.2f} GB/s "
          f"({copy_t * 1e6:.1f} us)")
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
          f"{'fastnn/copy':>11s} {'fastnn/torch':>12s}")
    for name, arrays, f_fn, t_fn, r_fn in cases:
        fns = [f_fn, r_fn] + ([t_fn] if t_fn else [])
        ts = median_times(fns, args.repeat)
        bw = [arrays * nb / t / 1e9 for t in ts]
        tbw = bw[2] if t_fn else float("nan")
        print(f"{name:18s} {bw[0]:11.2f} {tbw:10.2f} {bw[1]:10.2f} {bw[0] / copy_bw:11.2f} "
              f"{bw[0] / tbw:12.2f}")

    rows, k = (32, 10) if args.small else (4096, 1000)
    z = (3 * rng.standard_normal((rows, k))).astype(np.float32)
    gz = rng.standard_normal((rows, k)).astype(np.float32)
    t = rng.integers(0, k, rows)
    tz, tgz, tt_ = torch.from_numpy(z), torch.from_numpy(gz), torch.from_numpy(t)
    s, ls = F.softmax(z), F.log_softmax(z)
    ts_, tls = torch.from_numpy(s), torch.from_numpy(ls)
    tzg = tz.clone().requires_grad_(True)
    tloss = torch.nn.functional.cross_entropy(tzg, tt_)
    sm_cases = [
        ("softmax", lambda: F.softmax(z), lambda: torch.softmax(tz, -1), lambda: R.softmax(z)),
        ("softmax_backward", lambda: F.softmax_backward(gz, s),
         lambda: ta._softmax_backward_data(tgz, ts_, -1, torch.float32),
         lambda: R.softmax_backward(gz, s)),
        ("log_softmax", lambda: F.log_softmax(z), lambda: torch.log_softmax(tz, -1),
         lambda: R.log_softmax(z)),
        ("log_softmax_backward", lambda: F.log_softmax_backward(gz, ls),
         lambda: ta._log_softmax_backward_data(tgz, tls, -1, torch.float32),
         lambda: R.log_softmax_backward(gz, ls)),
        ("cross_entropy", lambda: F.cross_entropy(z, t),
         lambda: torch.nn.functional.cross_entropy(tz, tt_), lambda: R.cross_entropy(z, t)),
        ("cross_entropy_bwd", lambda: F.cross_entropy_backward(1.0, z, t),
         lambda: torch.autograd.grad(tloss, tzg, retain_graph=True),
         lambda: R.cross_entropy_backward(1.0, z, t)),
    ]
    print(f"\n({rows}, {k}) float32   {'fastnn ms':>10s} {'torch ms':>9s} {'numpy ms':>9s} "
          f"{'torch/fastnn':>12s}")
    for name, f_fn, t_fn, r_fn in sm_cases:
        tf, tr, tt2 = median_times([f_fn, r_fn, t_fn], args.repeat)
        print(f"{name:22s} {tf * 1e3:10.4f} {tt2 * 1e3:9.4f} {tr * 1e3:9.4f} {tt2 / tf:12.2f}")


if __name__ == "__main__":
    main()
