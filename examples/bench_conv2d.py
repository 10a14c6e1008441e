"""Benchmark fastnn.functional.conv2d / conv2d_backward against PyTorch and NumPy.

For every shape and pass (forward; backward = grad-input + grad-weight) it
times each fastnn algorithm that applies ('direct', 'im2col', '1x1' for 1x1
stride-1 unpadded kernels, and 'auto'), ``torch.nn.functional.conv2d`` /
``torch.ops.aten.convolution_backward`` (when torch is installed), idiomatic
NumPy ("numpy": im2col via sliding_window_view + one np.tensordot, as in
``python -m fastnn bench``) and ``fastnn.reference`` ("reference": a tensordot
per kernel tap). Everything runs in one process, float32, with
``torch.set_num_threads(T)`` and ``fastnn.set_num_threads(T)`` (T = 2 by
default), timed by the bench's shared helper (fastnn._bench_common.time_interleaved:
warm-up call excluded, rotating order, each sample once the other thread pools
are idle, medians), in ms and GFLOP/s (2 * MACs / s; backward counts 2x the
forward MACs). Shapes A-F are the bench's (fastnn._bench_common.CONV_SHAPES).

    python examples/bench_conv2d.py                  # all shapes, 5 rounds
    python examples/bench_conv2d.py --shapes A,B,C,D --reps 7 --markdown

The geometric means at the end are over the issue shapes A-F.
"""
import argparse

import numpy as np

import fastnn
import fastnn.functional as F
import fastnn.reference as R
from fastnn import _bench_numpy as NP
from fastnn._bench_common import CONV_SHAPES, conv_inputs, import_torch, time_interleaved

torch = import_torch()  # optional: comparisons are skipped without it

# name -> (N, C_in, H=W, C_out, k, padding, stride): the bench's A-F, then smaller layers
SHAPES = {
    **CONV_SHAPES,
    "demo1": (32, 1, 8, 8, 3, 1, 1),
    "demo2": (32, 8, 4, 16, 3, 1, 1),
    "digits1": (64, 1, 8, 16, 3, 1, 1),
    "digits2": (64, 16, 4, 32, 3, 1, 1),
    "1x1-small": (16, 8, 16, 8, 1, 0, 1),
    "1x1-28": (8, 64, 28, 128, 1, 0, 1),
    "8x3x64": (8, 3, 64, 16, 3, 1, 1),
    "16x4x16": (16, 4, 16, 8, 3, 1, 1),
    "16x32x16": (16, 32, 16, 32, 3, 1, 1),
}
ISSUE = list(CONV_SHAPES)


def bench_shape(name, reps, ref_reps, only=None):
    n, c, hw, k, r, p, s = SHAPES[name]
    x, w, _, go, kw = conv_inputs(SHAPES[name])
    out = go
    macs = n * k * out.shape[2] * out.shape[3] * c * r * r
    algos = ["direct", "im2col"] + (["1x1"] if (r, p, s) == (1, 0, 1) else []) + ["auto"]
    if only:
        algos = [a for a in algos if a in only or a == "auto"]
    fwd = {a: (lambda a=a: F.conv2d(x, w, algorithm=a, **kw)) for a in algos}
    bwd = {a: (lambda a=a: F.conv2d_backward(go, x, w, algorithm=a, **kw)) for a in algos}
    if torch is not None:
        xt, wt, got = (torch.from_numpy(a) for a in (x, w, go))
        fwd["torch"] = lambda: torch.nn.functional.conv2d(xt, wt, stride=s, padding=p)
        bwd["torch"] = lambda: torch.ops.aten.convolution_backward(
            got, xt, wt, None, [s, s], [p, p], [1, 1], False, [0, 0], 1, [True, True, False])
    rows = []
    fwd["numpy"] = lambda: NP.conv2d(x, w, None, s, p)
    bwd["numpy"] = lambda: NP.conv2d_backward(go, x, w, s, p)
    for pass_name, fns, ref, flops in (
            ("fwd", fwd, lambda: R.conv2d(x, w, **kw), 2 * macs),
            ("bwd", bwd, lambda: R.conv2d_backward(go, x, w, **kw), 4 * macs)):
        with torch.no_grad() if torch is not None else _null():
            t = time_interleaved(fns, reps)
        t["reference"] = time_interleaved({"reference": ref}, ref_reps)["reference"]
        rows.append((name, pass_name, flops, t, F.select_conv2d_algorithm(
            x.shape, w.shape, out.shape[2:], x.dtype, (s, s), (p, p))))
    return rows


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def geomean(v):
    return float(np.exp(np.mean(np.log(v))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated names")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--ref-reps", type=int, default=3, help="rounds for the slow fastnn.reference")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--markdown", action="store_true", help="print a README table")
    ap.add_argument("--algorithms", default="", help="comma-separated subset of direct,im2col,1x1 "
                    "(auto is always timed)")
    args = ap.parse_args()
    fastnn.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    cols = ["direct", "im2col", "1x1", "auto", "torch", "numpy", "reference"]
    if args.markdown:
        print("| shape (N, C_in, H=W, C_out, k, pad, stride) | pass | "
              + " | ".join(f"{c} ms" for c in cols) + " | auto picks | auto GF/s | torch/auto | numpy/auto |")
        print("|---|---|" + "---:|" * (len(cols) + 4))
    else:
        print(f"{'shape':10} {'pass':4} " + " ".join(f"{c:>16}" for c in cols)
              + f" {'picks':>7} {'torch/auto':>10} {'numpy/auto':>10}")
    ratios = {}
    for name in args.shapes.split(","):
        for shape, pas, flops, t, pick in bench_shape(name, args.reps, args.ref_reps,
                                                        args.algorithms.split(",") if args.algorithms else None):
            tr = t["torch"] / t["auto"] if "torch" in t else float("nan")
            nr = t["numpy"] / t["auto"]
            if shape in ISSUE:
                ratios.setdefault(pas, []).append((tr, nr))
            if args.markdown:
                cells = [f"{t[c] * 1e3:.3g}" if c in t else "" for c in cols]
                print(f"| {shape} {SHAPES[shape]} | {pas} | " + " | ".join(cells)
                      + f" | {pick} | {flops / t['auto'] / 1e9:.1f} | {tr:.2f} | {nr:.1f} |")
            else:
                cells = [f"{t[c] * 1e3:8.3f}/{flops / t[c] / 1e9:6.1f}" if c in t else " " * 16
                         for c in cols]
                print(f"{shape:10} {pas:4} " + " ".join(cells) + f" {pick:>7} {tr:10.2f} {nr:10.1f}")
    print("\ncells: ms/GFLOP/s (median); torch/auto and numpy/auto > 1 mean fastnn 'auto' is faster")
    for pas, v in ratios.items():
        print(f"geometric mean over {len(v)} issue shapes, {pas}: torch/auto = "
              f"{geomean([a for a, _ in v]):.2f}x, numpy/auto = {geomean([b for _, b in v]):.1f}x")


if __name__ == "__main__":
    main()
