"""``python -m fastnn bench``: fastnn against NumPy and PyTorch CPU, side by side, with a roofline.

Every row times one op in this one process, on the same inputs and the same
number of threads: **fastnn** (the Numba kernels, through the public functional
API), **numpy** (idiomatic NumPy, fastnn._bench_numpy: ``np.dot``, ufuncs with
``out=``, the max-shifted exp, im2col via ``sliding_window_view`` + one
``np.tensordot`` for conv2d), **reference** (fastnn.reference, the plain-NumPy
test oracle, for conv2d a tensordot per kernel tap; and the NumPy backend in the
demo row; reported for conv2d and the demo only) and **torch** (PyTorch CPU when
``import torch`` works, "-" otherwise; never a dependency of fastnn).

Timing is fastnn._bench_common.time_interleaved: a warm-up call per
implementation excluded, samples in an order that rotates each round, every
sample started only once the other thread pools (OpenBLAS spins ~0.1 s after a
call) have gone idle; medians.

Rates: GFLOP/s = 2 * multiply-adds / s for GEMM and convolutions; GB/s =
bytes that must cross memory (each input read once, each output written once)
/ s for the elementwise and softmax ops. "% roof" compares fastnn's rate with
the machine's fp32 peak measured with the same threads (register-only FMA
chains, kernels/fma_peak.py; the nominal cores x FMA units x SIMD lanes x 2 x
clock is printed next to it) or with the measured copy bandwidth (a large ``np.copyto`` split over the
bench's threads, read + write bytes).
"""
import inspect
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field

import numpy as np

import fastnn
from . import _bench_common as C
from . import _bench_numpy as NP
from ._bench_nets import bench_lenet, bench_resnet18, chosen_algorithm
from . import functional as F
from . import reference as R
from ._bench_common import (copy_bandwidth, cpu_flags, cpu_max_ghz, import_torch,  # noqa: F401
                            peak_gflops, simd_lanes, time_interleaved)

GROUPS = ("gemm", "conv", "elementwise", "softmax", "recurrent", "demo", "resnet18", "lenet",
          "coldstart", "threading")


# --------------------------------------------------------------------------- threads

class ThreadSettings:
    """Give fastnn (Numba), torch and OpenBLAS (via threadpoolctl) the same thread count."""

    def __init__(self, threads, torch=None):
        self.threads = threads
        self.notes = []
        fastnn.set_num_threads(threads)
        self.notes.append(f"Numba threads {threads}")
        if torch is not None:
            torch.set_num_threads(threads)
            self.notes.append(f"torch.set_num_threads({threads})")
        self._limits = None
        try:
            import threadpoolctl
        except ImportError:
            self.notes.append("threadpoolctl not installed: NumPy's BLAS uses its own "
                              "default thread count")
        else:
            self._limits = threadpoolctl.threadpool_limits(limits=threads, user_api="blas")
            self.notes.append(f"BLAS threads {threads} (threadpoolctl)")

    def restore(self):
        """Give BLAS back its previous thread count."""
        if self._limits is not None:
            self._limits.restore_original_limits()


# --------------------------------------------------------------------------- rows

@dataclass
class Row:
    """One benchmark line: seconds per call of each implementation and the work done."""
    group: str
    op: str
    shape: str
    fastnn: float
    numpy: float = None
    torch: float = None
    flops: float = None      # floating-point operations per call (2 x multiply-adds)
    nbytes: float = None     # bytes moved per call (inputs read once, outputs written once)
    note: str = ""
    reference: float = None  # fastnn.reference (conv2d, demo)

    def rate(self):
        """fastnn's GFLOP/s or GB/s, and the unit."""
        if self.flops is not None:
            return self.flops / self.fastnn / 1e9, "GFLOP/s"
        if self.nbytes is not None:
            return self.nbytes / self.fastnn / 1e9, "GB/s"
        return None, ""


@dataclass
class Context:
    repeat: int
    threads: int
    quick: bool
    tiny: bool
    torch: object
    peak: float              # GFLOP/s
    bandwidth: float         # GB/s
    rows: list = field(default_factory=list)
    sections: list = field(default_factory=list)   # (title, lines) printed after the table

    def time(self, impls):
        return time_interleaved(impls, self.repeat)


def _has_out(fn):
    return "out" in inspect.signature(fn).parameters


def bench_gemm(ctx):
    torch = ctx.torch
    if ctx.tiny:
        sizes, t_size = C.TINY["gemm"], C.TINY["gemm_t"]
    elif ctx.quick:
        sizes, t_size = C.GEMM_SIZES_QUICK, C.GEMM_TRANSPOSE_SIZE_QUICK
    else:
        sizes, t_size = C.GEMM_SIZES, C.GEMM_TRANSPOSE_SIZE
    cases = [("A@B", n) for n in sizes] + [(layout, t_size) for layout in C.GEMM_LAYOUTS[1:]]
    for op, n in cases:
        fa, fb = C.gemm_operands(n, op)
        impls = {"fastnn": lambda: F.matmul(fa, fb), "numpy": lambda: np.dot(fa, fb), "torch": None}
        if torch is not None:
            ta, tb = torch.from_numpy(fa), torch.from_numpy(fb)   # views: same strides
            impls["torch"] = lambda: torch.mm(ta, tb)
        t = ctx.time(impls)
        ctx.rows.append(Row("gemm", f"matmul {op}", f"{n}x{n}x{n}", t["fastnn"], t["numpy"],
                            t["torch"], flops=2.0 * n ** 3))


def bench_conv(ctx):
    torch = ctx.torch
    if ctx.tiny:
        shapes = C.TINY["conv"]
    else:
        letters = C.CONV_SHAPES_QUICK if ctx.quick else list(C.CONV_SHAPES)
        shapes = {letter: C.CONV_SHAPES[letter] for letter in letters}
    for letter, shape in shapes.items():
        n, c, hw, k, r, pad, stride = shape
        x, w, b, go, kw = C.conv_inputs(shape)
        macs = C.conv_macs(shape)
        fwd = {"fastnn": lambda: F.conv2d(x, w, b, **kw),
               "numpy": lambda: NP.conv2d(x, w, b, stride, pad),
               "reference": lambda: R.conv2d(x, w, b, **kw), "torch": None}
        bwd = {"fastnn": lambda: F.conv2d_backward(go, x, w, **kw),
               "numpy": lambda: NP.conv2d_backward(go, x, w, stride, pad),
               "reference": lambda: R.conv2d_backward(go, x, w, **kw), "torch": None}
        if torch is not None:
            tx, tw, tb, tgo = (torch.from_numpy(v) for v in (x, w, b, go))
            tnn = torch.nn.functional

            def torch_fwd():
                with torch.no_grad():
                    return tnn.conv2d(tx, tw, tb, stride=stride, padding=pad)

            def torch_bwd():  # grad input, grad weight, grad bias: what conv2d_backward returns
                return torch.ops.aten.convolution_backward(
                    tgo, tx, tw, [k], [stride, stride], [pad, pad], [1, 1], False, [0, 0], 1,
                    [True, True, True])

            fwd["torch"], bwd["torch"] = torch_fwd, torch_bwd
        label = C.conv_label(shape) if ctx.tiny else f"{letter}: {C.conv_label(shape)}"
        for pass_name, impls, flops in (("fwd", fwd, 2.0 * macs), ("bwd", bwd, 4.0 * macs)):
            t = ctx.time(impls)
            # What 'auto' ran (the autotuned winner, picked during the warm-up call, or
            # the static rule under AUTOTUNE_MIN_MACS), not what the static rule would say.
            algo = chosen_algorithm("forward" if pass_name == "fwd" else "backward", x, w,
                                    stride, pad)
            ctx.rows.append(Row("conv", f"conv2d {pass_name} ({algo})", label, t["fastnn"],
                                t["numpy"], t["torch"], flops=flops, reference=t["reference"],
                                note="grad input + grad weight + bias" if pass_name == "bwd"
                                else ""))


# name -> (idiomatic NumPy op, arrays read, torch out= op), for the elementwise rows
def _elementwise_table(torch):
    t = {}
    if torch is not None:
        aten = torch.ops.aten
        t = {"relu": lambda x, out: torch.clamp_min(x, 0, out=out),
             "sigmoid": lambda x, out: torch.sigmoid(x, out=out),
             "tanh": lambda x, out: torch.tanh(x, out=out),
             "relu_backward": lambda g, x, out: aten.threshold_backward.grad_input(
                 g, x, 0, grad_input=out),
             "sigmoid_backward": lambda g, y, out: aten.sigmoid_backward.grad_input(
                 g, y, grad_input=out),
             "tanh_backward": lambda g, y, out: aten.tanh_backward.grad_input(
                 g, y, grad_input=out)}
    names = ("relu", "sigmoid", "tanh", "relu_backward", "sigmoid_backward", "tanh_backward")
    return [(name, getattr(NP, name), 2 if name.endswith("_backward") else 1, t.get(name))
            for name in names]


def bench_elementwise(ctx):
    torch = ctx.torch
    size = C.TINY["elementwise"] if ctx.tiny else (C.ELEMENTWISE_SIZE_QUICK if ctx.quick
                                                   else C.ELEMENTWISE_SIZE)
    x = C.randn(size, seed=1)
    y = np.tanh(x)                 # a valid "output" for the sigmoid/tanh backward
    g = C.randn(size, seed=2)
    out, np_out = np.empty_like(x), np.empty_like(x)
    tx, ty, tg, tout = ((torch.from_numpy(v) for v in (x, y, g, np.empty_like(x)))
                        if torch is not None else (None,) * 4)
    for name, np_op, n_in, t_op in _elementwise_table(torch):
        f_op = getattr(F, name)
        with_out = _has_out(f_op)
        if n_in == 1:
            args, targs = (x,), (tx,)
        else:
            saved = x if name == "relu_backward" else y
            args, targs = (g, saved), (tg, tx if name == "relu_backward" else ty)
        if with_out:
            f_call = (lambda f_op=f_op, args=args: f_op(*args, out=out))
        else:
            f_call = (lambda f_op=f_op, args=args: f_op(*args))
        impls = {"fastnn": f_call,
                 "numpy": lambda np_op=np_op, args=args: np_op(*args, out=np_out),
                 "torch": None}
        if torch is not None and t_op is not None:
            impls["torch"] = lambda t_op=t_op, targs=targs: t_op(*targs, tout)
        t = ctx.time(impls)
        ctx.rows.append(Row("elementwise", name + (" out=" if with_out else ""),
                            f"{size / 2**20:g}M" if size >= 2**20 else str(size),
                            t["fastnn"], t["numpy"], t["torch"],
                            nbytes=(n_in + 1) * x.nbytes,
                            note="" if with_out else "fastnn allocates its output"))


def bench_softmax(ctx):
    torch = ctx.torch
    rows, cols = C.TINY["softmax"] if ctx.tiny else C.SOFTMAX_SHAPE
    x = C.randn(rows, cols, seed=1)
    target = C.rng(2).integers(0, cols, size=rows, dtype=np.int64)
    cases = [("softmax", lambda: F.softmax(x, dim=-1), lambda: NP.softmax(x), 2),
             ("log_softmax", lambda: F.log_softmax(x, dim=-1), lambda: NP.log_softmax(x), 2),
             ("cross_entropy", lambda: F.cross_entropy(x, target),
              lambda: NP.cross_entropy(x, target), 1)]
    if torch is not None:
        tx, tt = torch.from_numpy(x), torch.from_numpy(target)
        tcalls = {"softmax": lambda: torch.softmax(tx, -1),
                  "log_softmax": lambda: torch.log_softmax(tx, -1),
                  "cross_entropy": lambda: torch.nn.functional.cross_entropy(tx, tt)}
    for name, f_call, np_call, arrays in cases:
        impls = {"fastnn": f_call, "numpy": np_call,
                 "torch": tcalls[name] if torch is not None else None}
        t = ctx.time(impls)
        ctx.rows.append(Row("softmax", name, f"{rows}x{cols}", t["fastnn"], t["numpy"],
                            t["torch"], nbytes=arrays * x.nbytes))


def bench_recurrent(ctx):
    """LSTM / GRU / RNN(tanh) layers, forward + backward through the sequence, vs torch.nn."""
    torch = ctx.torch
    for t_len, n, d, h in C.TINY["recurrent"] if ctx.tiny else C.RECURRENT_SHAPES:
        x = C.randn(t_len, n, d, seed=3)
        g = C.randn(t_len, n, h, seed=4)
        for name, gates in C.RECURRENT_GATES.items():
            ours = getattr(fastnn, name)(d, h, dtype=np.float32)
            impls = {"fastnn": lambda: (ours.forward(x), ours.backward(g)), "torch": None}
            if torch is not None:
                theirs = getattr(torch.nn, name)(d, h)
                xt, gt = torch.tensor(x, requires_grad=True), torch.from_numpy(g)
                impls["torch"] = lambda: theirs(xt)[0].backward(gt)
            t = ctx.time(impls)
            # forward G*H x (D + H) multiply-adds per step and row; backward twice that
            flops = 3 * 2 * t_len * n * gates * h * (d + h)
            ctx.rows.append(Row("recurrent", f"{name} fwd+bwd", f"T{t_len} N{n} D{d} H{h}",
                                t["fastnn"], torch=t["torch"], flops=flops))


def _torch_cnn(torch):
    """The same network as fastnn.demo.build_cnn, in torch.nn (PyTorch's default init)."""
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 2 * 2, 10))


def _torch_epochs(torch, data, epochs, batch_size, lr, momentum, seed):
    from .data import minibatches
    x_train, _, y_train, _ = data
    torch.manual_seed(seed)
    model = _torch_cnn(torch)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    loss_fn = torch.nn.CrossEntropyLoss()
    # warm-up pass, untimed, as the fastnn demo does
    loss_fn(model(torch.from_numpy(x_train[:batch_size])),
            torch.from_numpy(y_train[:batch_size])).backward()
    opt.zero_grad()
    rng = np.random.default_rng(seed)
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        for xb, yb in minibatches(x_train, y_train, batch_size, rng):
            opt.zero_grad()
            loss = loss_fn(model(torch.from_numpy(xb)), torch.from_numpy(yb))
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    return times


def demo_epoch_flops(n_images):
    """FLOPs of one training epoch of the demo CNN: 3 x forward multiply-adds x 2."""
    macs = 16 * 8 * 8 * 1 * 9 + 32 * 4 * 4 * 16 * 9 + 10 * 128   # conv1, conv2, linear
    return 2.0 * 3 * macs * n_images


def bench_demo(ctx):
    from . import demo
    try:
        data = demo.load_digits(test_size=0.2, seed=0)
    except ImportError as exc:
        ctx.sections.append(("digits demo", [f"skipped: {exc}"]))
        return
    if ctx.tiny:
        data = (data[0][:64], data[1][:32], data[2][:64], data[3][:32])
    epochs = 1 if ctx.tiny else 2 if ctx.quick else 5
    cfg = dict(epochs=epochs, batch_size=demo.DEFAULTS["batch_size"], lr=demo.DEFAULTS["lr"],
               momentum=demo.DEFAULTS["momentum"], seed=0)
    quiet = dict(progress=False, log=lambda *a: None)
    try:   # one after the other, each starting once the other thread pools are idle
        C.wait_until_idle()
        numba_s = demo.train("numba", data, **cfg, **quiet)["epoch_s"]
        C.wait_until_idle()
        numpy_s = demo.train("numpy", data, **cfg, **quiet)["epoch_s"]
    except ImportError as exc:   # tqdm missing
        ctx.sections.append(("digits demo", [f"skipped: {exc}"]))
        return
    C.wait_until_idle()
    torch_s = (_torch_epochs(ctx.torch, data, **cfg) if ctx.torch is not None else None)
    ctx.rows.append(Row("demo", "digits CNN train epoch",
                        f"{len(data[0])} imgs, batch {cfg['batch_size']}",
                        float(np.median(numba_s)), None,
                        float(np.median(torch_s)) if torch_s else None,
                        flops=demo_epoch_flops(len(data[0])), reference=float(np.median(numpy_s)),
                        note=f"median of {epochs} epoch{'s' if epochs > 1 else ''}; "
                             "reference = the NumPy backend"))


# import fastnn, then the digits demo CNN's first training step (batch 32)
_COLD_START = r"""
import time
t0 = time.perf_counter()
import numpy as np
import fastnn
t1 = time.perf_counter()
from fastnn.demo import build_cnn
model = build_cnn(0)
loss = fastnn.CrossEntropyLoss()
x = np.random.default_rng(0).standard_normal((32, 1, 8, 8)).astype(np.float32)
loss(model.forward(x), np.arange(32) % 10)
model.backward(loss.backward(), input_grad=False)
fastnn.SGD(model, lr=0.05, momentum=0.9).step()
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""

_WARMUP = r"""
import time
t0 = time.perf_counter()
import fastnn
t1 = time.perf_counter()
print(t1 - t0, fastnn.warmup(dtypes={dtypes}, processes=1))
"""


def _run_fresh(code, **extra_env):
    """Run ``code`` in a new interpreter with the user's environment; its stdout as floats."""
    from . import _openmp
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=900, env=dict(_openmp.user_environ(), **extra_env))
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed")
    return proc.stdout.split("|") if "|" in proc.stdout else [float(v) for v in proc.stdout.split()]


def bench_coldstart(ctx):
    """import fastnn + the demo's first training step, and fastnn.warmup(), each in a fresh
    process."""
    lines = []
    runs = 0 if ctx.tiny else 2 if ctx.quick else 3   # --tiny: only the first run of each
    # The first run may compile (cold cache) and fills Numba's on-disk cache; later runs load it.
    first = _run_fresh(_COLD_START)
    later = [_run_fresh(_COLD_START) for _ in range(runs)] or [first]
    imp = float(np.median([r[0] for r in later]))
    conv = float(np.median([r[1] for r in later]))
    lines.append(f"new process, warm on-disk cache: import fastnn {imp:.3f} s + the digits "
                 f"demo's first training step {conv:.3f} s = {imp + conv:.3f} s "
                 f"(median of {len(later)}; the first run took {first[0] + first[1]:.3f} s)")
    dtypes = ("float32",) if ctx.tiny else ("float32", "float64")   # --tiny: half the compile
    code = _WARMUP.format(dtypes=dtypes)
    w_first = _run_fresh(code)
    w_later = [_run_fresh(code)[1] for _ in range(runs)] or [w_first[1]]
    lines.append(f"new process, warm on-disk cache: fastnn.warmup(processes=1) "
                 f"({' + '.join(dtypes)}, every kernel) {np.median(w_later):.3f} s (median of {len(w_later)}; the first run "
                 f"took {w_first[1]:.3f} s)")
    lines.append("a cold cache (fresh NUMBA_CACHE_DIR) compiles everything: see the README")
    ctx.sections.append(("cold start", lines))


def threading_probe(size, n, repeat):
    """Seconds per call: fastnn.relu(size floats), np.dot(n x n), and the two in a loop.

    Run in a fresh process by :func:`bench_threading`, since the OpenMP wait
    policy is fixed when the runtime loads.
    """
    x = C.randn(size, seed=1)
    a = C.randn(n, n, seed=2)
    t = time_interleaved({"relu": lambda: F.relu(x), "dot": lambda: np.dot(a, a),
                          "both": lambda: (F.relu(x), np.dot(a, a))}, repeat, min_sample_s=0.02)
    return t["relu"], t["dot"], t["both"]


_THREADING = r"""
import fastnn, fastnn.bench as b, fastnn._openmp as o
print(*b.threading_probe({size}, {n}, {repeat}), o.describe(), sep="|")
"""


def bench_threading(ctx):
    """A Numba prange kernel immediately followed by an OpenBLAS call, vs each alone.

    Two fresh processes: fastnn's setting (GOMP_SPINCOUNT=3000 unless the
    user chose), and libgomp's default spinning (GOMP_SPINCOUNT=300000, which
    is what an unset policy means), alternated to share the noise.
    """
    size, n = (10_000, 32) if ctx.tiny else (1_000_000, 256)
    code = _THREADING.format(size=size, n=n, repeat=ctx.repeat)
    same = {"NUMBA_NUM_THREADS": str(ctx.threads), "OPENBLAS_NUM_THREADS": str(ctx.threads)}
    configs = {"fastnn default": same,
               "libgomp default (spin)": dict(same, GOMP_SPINCOUNT="300000")}
    results = {name: [] for name in configs}
    for _ in range(1 if (ctx.quick or ctx.tiny) else 2):
        for name, extra in configs.items():
            relu, dot, both, policy = _run_fresh(code, **extra)
            results[name].append((float(relu), float(dot), float(both), policy.strip()))
    lines = []
    for name, runs in results.items():
        relu, dot, both = (float(np.median([r[i] for r in runs])) for i in range(3))
        lines.append(f"{name} [{runs[0][3]}]: fastnn.relu({size}) {relu * 1e6:.0f} us, "
                     f"np.dot {n}x{n} {dot * 1e6:.0f} us, the two in a loop "
                     f"{both * 1e6:.0f} us per pair = {both / (relu + dot):.2f}x their sum")
    lines.append("1.0x = no interference; see README 'Threading'")
    ctx.sections.append(("threading: prange kernel then BLAS (fresh processes)", lines))


BENCHES = {"gemm": bench_gemm, "conv": bench_conv, "elementwise": bench_elementwise,
           "softmax": bench_softmax, "recurrent": bench_recurrent, "demo": bench_demo,
           "resnet18": bench_resnet18, "lenet": bench_lenet,   # fastnn/_bench_nets.py
           "coldstart": bench_coldstart, "threading": bench_threading}


# --------------------------------------------------------------------------- output

def _ms(t):
    return "-" if t is None else f"{t * 1e3:.3f}" if t < 0.01 else f"{t * 1e3:.2f}" \
        if t < 1 else f"{t * 1e3:.0f}"


def _ratio(other, mine):
    return "-" if other is None or mine is None else f"{other / mine:.2f}x"


def _geomean(values):
    values = [v for v in values if v is not None]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def table_lines(rows, peak, bandwidth, markdown=False):
    """The result table as lines of text (aligned columns, or a GitHub markdown table).

    Ratio columns are speed-ups: the other implementation's time / fastnn's
    time (above 1: fastnn is faster). Each group with several rows ends with
    the geometric mean of its ratios.
    """
    header = ["op", "shape", "fastnn ms", "numpy ms", "reference ms", "torch ms",
              "numpy/fastnn", "torch/fastnn", "fastnn rate", "% roof"]
    body = []
    groups = []
    for r in rows:
        if r.group not in groups:
            groups.append(r.group)
    for g in groups:
        grp = [r for r in rows if r.group == g]
        for r in grp:
            rate, unit = r.rate()
            roof = peak if unit == "GFLOP/s" else bandwidth if unit == "GB/s" else None
            body.append([r.op, r.shape, _ms(r.fastnn), _ms(r.numpy), _ms(r.reference),
                         _ms(r.torch),
                         _ratio(r.numpy, r.fastnn), _ratio(r.torch, r.fastnn),
                         "-" if rate is None else f"{rate:.1f} {unit}",
                         "-" if not roof or rate is None else f"{100 * rate / roof:.0f}%"])
        if len(grp) > 1:
            gm_np = _geomean([r.numpy / r.fastnn for r in grp if r.numpy])
            gm_t = _geomean([r.torch / r.fastnn for r in grp if r.torch])
            body.append([f"{g}: geometric mean", "", "", "", "", "",
                         "-" if gm_np is None else f"{gm_np:.2f}x",
                         "-" if gm_t is None else f"{gm_t:.2f}x", "", ""])
    if markdown:
        lines = ["| " + " | ".join(header) + " |",
                 "|" + "|".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return lines
    widths = [max(len(row[i]) for row in [header] + body) for i in range(len(header))]
    fmt = lambda row: "  ".join(c.ljust(w) if i < 2 else c.rjust(w)   # noqa: E731
                                for i, (c, w) in enumerate(zip(row, widths)))
    return [fmt(header), "  ".join("-" * w for w in widths)] + [fmt(row) for row in body]


# --------------------------------------------------------------------------- entry point

def run(only=None, repeat=None, quick=False, markdown=False, peak_gflops_override=None,
        threads=None, tiny=False, out=print):
    """Run the benchmark groups in ``only`` (default: all) and print the table; returns the rows.

    See ``python -m fastnn bench --help``. ``tiny`` shrinks every shape and
    takes one sample (a smoke test: the figures mean nothing).
    """
    only = list(GROUPS) if not only else list(only)
    unknown = [g for g in only if g not in GROUPS]
    if unknown:
        raise ValueError(f"bench: unknown group(s) {unknown}; choose from {list(GROUPS)}")
    if repeat is None:
        repeat = 1 if tiny else 3 if quick else 7
    torch = import_torch()
    threads = threads or fastnn.get_num_threads()
    settings = ThreadSettings(threads, torch)

    flags = cpu_flags()
    lanes = simd_lanes(flags)
    ghz, clock_src = cpu_max_ghz()
    nominal = (f"nominal {threads} threads x 2 FMA units x {lanes} fp32 lanes x 2 FLOP x "
               f"{ghz:.2f} GHz = {peak_gflops(threads, lanes, ghz):.0f}" if ghz else
               "nominal unknown (no clock found)")
    if peak_gflops_override:
        peak = peak_gflops_override
        peak_text = f"{peak:.0f} GFLOP/s (--peak-gflops; {nominal})"
    else:
        # Measured, not nominal: the OS does not reliably report the sustained vector
        # clock or the FMA-unit count, and a roof set too low flatters every kernel.
        peak = C.measured_fma_peak(threads, seconds=0.05 if tiny else 0.3)
        peak_text = (f"{peak:.0f} GFLOP/s measured (register-only FMA chains on {threads} "
                     f"threads, kernels/fma_peak.py; {nominal})")
    # The roof is the best copy measured: split over the bench's threads, or on one thread
    # when that is faster (measured here: 2 threads 12-14 GB/s, 1 thread 16 GB/s).
    copy_n = C.TINY["copy"] if tiny else C.COPY_SIZE_QUICK if quick else C.COPY_SIZE
    bw_split = copy_bandwidth(copy_n, threads=threads, repeat=max(3, repeat))
    bw_one = copy_bandwidth(copy_n, threads=1, repeat=max(3, repeat)) if threads > 1 else bw_split
    bandwidth = max(bw_split, bw_one)
    ctx = Context(repeat=repeat, threads=threads, quick=quick, tiny=tiny, torch=torch, peak=peak,
                  bandwidth=bandwidth)

    isa = "AVX-512F" if lanes == 16 else "AVX2" if lanes == 8 else "SSE"
    out(f"fastnn bench: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"{isa}, clock {'%.2f GHz' % ghz if ghz else '?'} ({clock_src})")
    out(f"roofline: fp32 peak {peak_text}; copy bandwidth {bandwidth:.1f} GB/s, the best of "
        f"{bw_split:.1f} (np.copyto split over {threads} threads) and {bw_one:.1f} (one "
        f"thread), read + write")
    from . import _openmp
    out(f"threads: {'; '.join(settings.notes)}; OpenMP: {_openmp.describe()}")
    out(f"torch: {torch.__version__ if torch is not None else 'not installed (columns show -)'}"
        f"; numpy {np.__version__}; timing: median of {repeat}, rotating order, each sample "
        f"after the other threads went idle, warm-up call excluded; float32")
    out("")
    try:
        for group in only:
            BENCHES[group](ctx)
    finally:
        settings.restore()
    if ctx.rows:
        for line in table_lines(ctx.rows, peak, bandwidth, markdown=markdown):
            out(line)
    notes = {}
    for r in ctx.rows:
        if r.note:
            notes.setdefault(r.note, []).append(r.op)
    if notes:
        out("")
        for note, ops in notes.items():
            out(f"note: {', '.join(dict.fromkeys(ops))}: {note}")
    for title, lines in ctx.sections:
        out("")
        out(f"{title}:")
        for line in lines:
            out("  " + line)
    return ctx.rows
