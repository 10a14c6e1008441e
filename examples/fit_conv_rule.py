"""Measure every conv2d algorithm on real layers and check the static 'auto' rule against them.

For each shape -- the bench's A-F, every distinct conv layer of ResNet-18 (batch 8,
224x224), VGG-11 (batch 1) and MobileNet-v1's pointwise layers (batch 8), all from
fastnn/_bench_common.py, and the small layers below (LeNet-5, the digits demo) -- and
each pass (forward; backward = grad input + grad weight), it times every applicable
algorithm (fastnn._conv.applicable_algorithms) with the bench's helper (fastnn._bench_common.time_interleaved: warm-up excluded,
samples interleaved in a rotating order, each once the other thread pools are idle,
medians) and prints, per row, the best algorithm, its time, the static rule's pick
(fastnn.functional.select_conv2d_algorithm, with autotuning off) and the pick's
time / the best time. The rule's target is a ratio <= 1.25 on every row.

Interleaved medians absorb most of the noise of a shared machine, not all of it:
rows where two algorithms are within ~10% can swap between runs.

    python examples/fit_conv_rule.py                        # all tables, 5 rounds
    python examples/fit_conv_rule.py --tables bench --reps 3
    python examples/fit_conv_rule.py --save times.json      # keep the raw medians
    python examples/fit_conv_rule.py --load times.json      # re-judge a changed rule, no timing
"""
import argparse
import json

import fastnn
import fastnn.functional as F
from fastnn import _bench_common as C
from fastnn._conv import applicable_algorithms
from fastnn._geometry import ConvGeometry

# Small layers, which stay on the static rule under the autotuning threshold
# (fastnn._tuning.AUTOTUNE_MIN_MACS): LeNet-5 at batch 64, the digits demo's CNN and a few
# of the README's older rows.
SMALL_CONVS = {
    "lenet conv2": (64, 6, 12, 16, 5, 0, 1),
    "digits1": (64, 1, 8, 16, 3, 1, 1),
    "digits2": (64, 16, 4, 32, 3, 1, 1),
    "demo2": (32, 8, 4, 16, 3, 1, 1),
    "16x32x16": (16, 32, 16, 32, 3, 1, 1),
    "16x4x16": (16, 4, 16, 8, 3, 1, 1),
    "8x3x64": (8, 3, 64, 16, 3, 1, 1),
    "32x64x8": (32, 64, 8, 64, 3, 1, 1),
    "16x128x7 s1": (16, 128, 7, 128, 3, 1, 1),
    "1x1-small": (16, 8, 16, 8, 1, 0, 1),
    "1x1-28": (8, 64, 28, 128, 1, 0, 1),
}
TABLES = {"bench": C.CONV_SHAPES, "resnet18": C.RESNET18_CONVS, "vgg11": C.VGG11_CONVS,
          "mobilenet": C.MOBILENET_POINTWISE, "small": SMALL_CONVS}
LIMIT = 1.25


def geometry(shape):
    n, c, hw, k, r, pad, stride = shape
    out = (hw + 2 * pad - r) // stride + 1
    return ConvGeometry(stride, stride, pad, pad, pad, pad, 1, 1, r, r, out, out)


def static_pick(shape, pass_name):
    n, c, hw, k, r, pad, stride = shape
    g = geometry(shape)
    return F.select_conv2d_algorithm((n, c, hw, hw), (k, c, r, r), (g.out_h, g.out_w),
                                     "float32", (stride, stride), (pad, pad), pass_name=pass_name)


def measure(shape, reps):
    """{'forward': {alg: s}, 'backward': {alg: s}} for one shape."""
    n, c, hw, k, r, pad, stride = shape
    x, w, b, go, kw = C.conv_inputs(shape)
    algs = applicable_algorithms(x.shape, w.shape, geometry(shape))
    fwd = {a: (lambda a=a: F.conv2d(x, w, b, algorithm=a, **kw)) for a in algs}
    bwd = {a: (lambda a=a: F.conv2d_backward(go, x, w, algorithm=a, **kw)) for a in algs}
    return {"forward": C.time_interleaved(fwd, reps, min_sample_s=0.02),
            "backward": C.time_interleaved(bwd, reps, min_sample_s=0.02)}


def rows(times, shapes):
    """(table, name, pass, best alg, best s, pick, pick s / best s) per shape and pass."""
    out = []
    for table, label, shape in shapes:
        name = C.conv_label(shape)
        for pass_name, t in times[name].items():
            best = min(t, key=t.get)
            pick = static_pick(shape, pass_name)
            out.append((table, label, shape, pass_name, best, t[best], pick, t[pick] / t[best], t))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tables", default=",".join(TABLES),
                   help="comma-separated: " + ",".join(TABLES))
    p.add_argument("--reps", type=int, default=5, help="interleaved rounds (median)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--save", help="write the medians to this JSON file")
    p.add_argument("--load", help="read medians from this JSON file instead of timing")
    args = p.parse_args(argv)
    fastnn.set_conv_autotune(False)
    if args.threads:
        fastnn.set_num_threads(args.threads)
    shapes = [(t, name, shape) for t in args.tables.split(",") for name, shape in TABLES[t].items()]
    times = {}
    if args.load:
        with open(args.load) as f:
            times = json.load(f)
    for table, label, shape in shapes:
        name = C.conv_label(shape)
        if name not in times:
            times[name] = measure(shape, args.reps)
            print(f"measured {label} ({name}): " + "; ".join(
                f"{p} " + " ".join(f"{a} {s * 1e3:.2f}" for a, s in t.items())
                for p, t in times[name].items()), flush=True)
            if args.save:
                with open(args.save, "w") as f:
                    json.dump(times, f, indent=1)
    print(f"\n{fastnn.get_num_threads()} threads, float32, medians of {args.reps} interleaved "
          "samples, ms")
    print("| table | layer (N C_in HxW C_out k p s) | pass | best | best ms | static pick | ratio |"
          " others ms |")
    print("|---|---|---|---|---:|---|---:|---|")
    worst = []
    for table, name, shape, pass_name, best, best_s, pick, ratio, t in rows(times, shapes):
        others = ", ".join(f"{a} {s * 1e3:.2f}" for a, s in t.items() if a != best)
        flag = " **miss**" if ratio > LIMIT else ""
        print(f"| {table} | {name}: {C.conv_label(shape)} | {pass_name} | {best} | "
              f"{best_s * 1e3:.2f} | {pick} | {ratio:.2f}x{flag} | {others} |")
        if ratio > LIMIT:
            worst.append((name, pass_name, ratio))
    print(f"\nrows over {LIMIT}x: {worst if worst else 'none'}")
    return 0 if not worst else 1


if __name__ == "__main__":
    raise SystemExit(main())
