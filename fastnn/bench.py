"""``python -m fastnn bench``: fastnn against NumPy and PyTorch CPU, side by side, with a roofline.

Every row times one op three ways in this one process, on the same inputs and
the same number of threads: fastnn (the Numba kernels, through the public
functional API), the NumPy reference (``np.dot`` for GEMM, :mod:`fastnn.reference`
otherwise) and PyTorch CPU when ``import torch`` works ("-" otherwise). PyTorch
is never a dependency of fastnn: it is imported lazily, here only.

Timing: one untimed warm-up call per implementation (JIT compile or cache load
excluded), then ``repeat`` samples, the implementations interleaved within each
sample so they see the same machine noise; a sample loops the call enough
times to last a few milliseconds. The table shows medians.

Rates: GFLOP/s = 2 * multiply-adds / s for GEMM and convolutions; GB/s =
bytes that must cross memory (each input read once, each output written once)
/ s for the elementwise and softmax ops. "% roof" compares fastnn's rate with
the machine's nominal fp32 peak (cores x FMA units x SIMD lanes x 2 x clock)
or with the measured copy bandwidth (a large ``np.copyto``, read + write bytes).
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

from . import _backend
from . import functional as F
from . import reference as R

GROUPS = ("gemm", "conv", "elementwise", "softmax", "demo", "coldstart", "threading")

# Shapes of the targets (full run), and a subset for --quick.
GEMM_SIZES = (64, 256, 512, 1024, 2048)
GEMM_SIZES_QUICK = (64, 256, 512)
GEMM_TRANSPOSE_SIZE = 1024
GEMM_TRANSPOSE_SIZE_QUICK = 512
# (N, C_in, H=W, C_out, R=S, padding, stride)
CONV_SHAPES = (
    (32, 64, 32, 64, 3, 1, 1),
    (1, 192, 28, 32, 3, 1, 1),
    (64, 1, 28, 6, 5, 0, 1),
    (8, 3, 224, 64, 7, 3, 2),
)
CONV_SHAPES_QUICK = CONV_SHAPES[1:3]
ELEMENTWISE_SIZE = 16 * 2**20       # 16M float32 = 64 MiB per array
ELEMENTWISE_SIZE_QUICK = 4 * 2**20
SOFTMAX_SHAPE = (4096, 1000)
# --tiny (tests only): shapes small enough that the whole table takes seconds.
TINY = dict(gemm=(16, 32), gemm_t=24, conv=((2, 3, 6, 4, 3, 1, 1),), elementwise=1000,
            softmax=(8, 10), copy=2**20)


# --------------------------------------------------------------------------- machine

def cpu_flags():
    """The CPU feature flags from /proc/cpuinfo (an empty set where unavailable)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def simd_lanes(flags):
    """fp32 lanes per SIMD register: 16 with AVX-512F, 8 with AVX2, else 4 (SSE)."""
    if "avx512f" in flags:
        return 16
    if "avx2" in flags:
        return 8
    return 4


def cpu_max_ghz():
    """The CPU's maximum clock in GHz, and where it was read; (None, reason) if unknown.

    Tries cpufreq's cpuinfo_max_freq, then lscpu's "CPU max MHz", then the
    highest "cpu MHz" in /proc/cpuinfo (the current clock, on VMs the nominal one).
    """
    try:
        with open("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq") as f:
            return int(f.read()) / 1e6, "cpufreq cpuinfo_max_freq"
    except (OSError, ValueError):
        pass
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("CPU max MHz"):
                return float(line.split(":", 1)[1]) / 1e3, "lscpu CPU max MHz"
    except (OSError, ValueError, subprocess.SubprocessError):
        pass
    try:
        with open("/proc/cpuinfo") as f:
            mhz = [float(line.split(":", 1)[1]) for line in f if line.startswith("cpu MHz")]
        if mhz:
            return max(mhz) / 1e3, "/proc/cpuinfo cpu MHz"
    except (OSError, ValueError):
        pass
    return None, "clock unknown"


def peak_gflops(threads, lanes, ghz, fma_units=2):
    """Nominal fp32 peak: threads (one per core) x FMA units x lanes x 2 FLOP per FMA x GHz."""
    return threads * fma_units * lanes * 2 * ghz


def copy_bandwidth(n_floats=64 * 2**20, repeat=5):
    """GB/s of a large ``np.copyto`` (float32), counting bytes read + bytes written; median."""
    src = np.ones(n_floats, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # fault the pages in
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - t0)
    return 2 * src.nbytes / np.median(times) / 1e9


# --------------------------------------------------------------------------- threads / torch

def import_torch():
    """PyTorch, or None when ``import torch`` fails. Never needed by fastnn itself.

    fastnn asks the OpenMP runtime for a passive wait policy (see
    fastnn._openmp); torch's own OpenMP runtime would read it too when torch is
    imported later, so torch is imported with the environment as the user
    left it, and compared at its defaults.
    """
    from . import _openmp
    try:
        with _openmp.user_environment():
            import torch
    except ImportError:
        return None
    return torch


class ThreadSettings:
    """Give fastnn (Numba), torch and OpenBLAS (via threadpoolctl) the same thread count."""

    def __init__(self, threads, torch=None):
        self.threads = threads
        self.notes = []
        _backend.set_num_threads(threads)
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


# --------------------------------------------------------------------------- timing

def time_interleaved(impls, repeat, min_sample_s=0.005):
    """Median seconds per call of each callable in ``impls`` (dict name -> callable or None).

    Each callable is called once untimed (compile / cache load / page faults),
    then timed ``repeat`` times in turn, one implementation after the other,
    so all of them see the same background noise. A sample loops a call
    enough times to last at least ``min_sample_s``. None entries give None.
    """
    live = {k: f for k, f in impls.items() if f is not None}
    loops = {}
    for name, f in live.items():
        f()  # warm-up
        t0 = time.perf_counter()
        f()
        once = time.perf_counter() - t0
        loops[name] = max(1, min(1000, int(min_sample_s / max(once, 1e-7))))
    samples = {name: [] for name in live}
    for _ in range(repeat):
        for name, f in live.items():
            n = loops[name]
            t0 = time.perf_counter()
            for _ in range(n):
                f()
            samples[name].append((time.perf_counter() - t0) / n)
    return {name: (float(np.median(samples[name])) if name in samples else None)
            for name in impls}


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


def _rng(seed):
    return np.random.default_rng(seed)


def _randn(*shape, seed=0, dtype=np.float32):
    return _rng(seed).standard_normal(shape, dtype=np.float64).astype(dtype)


def _has_out(fn):
    return "out" in inspect.signature(fn).parameters


def bench_gemm(ctx):
    torch = ctx.torch
    if ctx.tiny:
        sizes, t_size = TINY["gemm"], TINY["gemm_t"]
    elif ctx.quick:
        sizes, t_size = GEMM_SIZES_QUICK, GEMM_TRANSPOSE_SIZE_QUICK
    else:
        sizes, t_size = GEMM_SIZES, GEMM_TRANSPOSE_SIZE
    cases = [("A@B", n) for n in sizes] + [("A@B^T", t_size), ("A^T@B", t_size)]
    for op, n in cases:
        a, b = _randn(n, n, seed=1), _randn(n, n, seed=2)
        if op == "A@B":
            fa, fb = a, b
        elif op == "A@B^T":
            fa, fb = a, b.T
        else:
            fa, fb = a.T, b
        impls = {"fastnn": lambda: F.matmul(fa, fb), "numpy": lambda: np.dot(fa, fb), "torch": None}
        if torch is not None:
            ta, tb = torch.from_numpy(fa), torch.from_numpy(fb)   # views: same strides
            impls["torch"] = lambda: torch.mm(ta, tb)
        t = time_interleaved(impls, ctx.repeat)
        ctx.rows.append(Row("gemm", f"matmul {op}", f"{n}x{n}x{n}", t["fastnn"], t["numpy"],
                            t["torch"], flops=2.0 * n ** 3))


def _conv_label(shape):
    n, c, hw, k, r, pad, stride = shape
    return f"N{n} C{c} {hw}x{hw} K{k} {r}x{r} p{pad} s{stride}"


def bench_conv(ctx):
    torch = ctx.torch
    shapes = TINY["conv"] if ctx.tiny else CONV_SHAPES_QUICK if ctx.quick else CONV_SHAPES
    for shape in shapes:
        n, c, hw, k, r, pad, stride = shape
        x = _randn(n, c, hw, hw, seed=1)
        w = _randn(k, c, r, r, seed=2) * np.float32(1 / math.sqrt(c * r * r))
        b = _randn(k, seed=3)
        out_hw = (hw + 2 * pad - r) // stride + 1
        go = _randn(n, k, out_hw, out_hw, seed=4)
        macs = n * k * out_hw * out_hw * c * r * r
        algo = F.select_conv2d_algorithm(x.shape, w.shape, (out_hw, out_hw), x.dtype,
                                         (stride, stride), (pad, pad))
        kw = dict(stride=stride, padding=pad)
        fwd = {"fastnn": lambda: F.conv2d(x, w, b, **kw),
               "numpy": lambda: R.conv2d(x, w, b, **kw), "torch": None}
        bwd = {"fastnn": lambda: F.conv2d_backward(go, x, w, **kw),
               "numpy": lambda: R.conv2d_backward(go, x, w, **kw), "torch": None}
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
        label = _conv_label(shape)
        t = time_interleaved(fwd, ctx.repeat)
        ctx.rows.append(Row("conv", f"conv2d fwd ({algo})", label, t["fastnn"], t["numpy"],
                            t["torch"], flops=2.0 * macs))
        t = time_interleaved(bwd, ctx.repeat)
        ctx.rows.append(Row("conv", f"conv2d bwd ({algo})", label, t["fastnn"], t["numpy"],
                            t["torch"], flops=4.0 * macs, note="grad input + grad weight + bias"))


# name -> (fastnn op, reference op, arrays read, torch out= op), for the elementwise rows
def _elementwise_table(torch):
    ops = [
        ("relu", F.relu, R.relu, 1, lambda x, out: torch.clamp_min(x, 0, out=out)),
        ("sigmoid", F.sigmoid, R.sigmoid, 1, lambda x, out: torch.sigmoid(x, out=out)),
        ("tanh", F.tanh, R.tanh, 1, lambda x, out: torch.tanh(x, out=out)),
    ]
    if torch is not None:
        aten = torch.ops.aten
        back = {
            "relu_backward": lambda g, x, out: aten.threshold_backward.grad_input(
                g, x, 0, grad_input=out),
            "sigmoid_backward": lambda g, y, out: aten.sigmoid_backward.grad_input(
                g, y, grad_input=out),
            "tanh_backward": lambda g, y, out: aten.tanh_backward.grad_input(
                g, y, grad_input=out),
        }
    else:
        back = {}
    ops += [(name, getattr(F, name), getattr(R, name), 2, back.get(name))
            for name in ("relu_backward", "sigmoid_backward", "tanh_backward")]
    return ops


def bench_elementwise(ctx):
    torch = ctx.torch
    size = TINY["elementwise"] if ctx.tiny else (ELEMENTWISE_SIZE_QUICK if ctx.quick
                                                 else ELEMENTWISE_SIZE)
    x = _randn(size, seed=1)
    y = np.tanh(x)                 # a valid "output" for the sigmoid/tanh backward
    g = _randn(size, seed=2)
    out = np.empty_like(x)
    tx, ty, tg, tout = ((torch.from_numpy(v) for v in (x, y, g, out)) if torch is not None
                        else (None,) * 4)
    for name, f_op, r_op, n_in, t_op in _elementwise_table(torch):
        with_out = _has_out(f_op)
        if n_in == 1:
            args, targs = (x,), (tx,)
        else:
            saved = x if name == "relu_backward" else y
            args, targs = (g, saved), (tg, ty if name != "relu_backward" else tx)
        if with_out:
            f_call = (lambda f_op=f_op, args=args: f_op(*args, out=out))
        else:
            f_call = (lambda f_op=f_op, args=args: f_op(*args))
        impls = {"fastnn": f_call, "numpy": lambda r_op=r_op, args=args: r_op(*args),
                 "torch": None}
        if torch is not None and t_op is not None:
            impls["torch"] = lambda t_op=t_op, targs=targs: t_op(*targs, tout)
        t = time_interleaved(impls, ctx.repeat)
        ctx.rows.append(Row("elementwise", name + (" out=" if with_out else ""),
                            f"{size / 2**20:g}M" if size >= 2**20 else str(size),
                            t["fastnn"], t["numpy"], t["torch"],
                            nbytes=(n_in + 1) * x.nbytes,
                            note="" if with_out else "fastnn allocates its output"))


def bench_softmax(ctx):
    torch = ctx.torch
    rows, cols = TINY["softmax"] if ctx.tiny else SOFTMAX_SHAPE
    x = _randn(rows, cols, seed=1)
    target = _rng(2).integers(0, cols, size=rows, dtype=np.int64)
    cases = [("softmax", lambda m: m.softmax(x, dim=-1), 2),
             ("log_softmax", lambda m: m.log_softmax(x, dim=-1), 2),
             ("cross_entropy", lambda m: m.cross_entropy(x, target), 1)]
    if torch is not None:
        tx, tt = torch.from_numpy(x), torch.from_numpy(target)
        tcalls = {"softmax": lambda: torch.softmax(tx, -1),
                  "log_softmax": lambda: torch.log_softmax(tx, -1),
                  "cross_entropy": lambda: torch.nn.functional.cross_entropy(tx, tt)}
    for name, call, arrays in cases:
        impls = {"fastnn": lambda call=call: call(F), "numpy": lambda call=call: call(R),
                 "torch": tcalls[name] if torch is not None else None}
        t = time_interleaved(impls, ctx.repeat)
        ctx.rows.append(Row("softmax", name, f"{rows}x{cols}", t["fastnn"], t["numpy"],
                            t["torch"], nbytes=arrays * x.nbytes))


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
    epochs = 2 if (ctx.quick or ctx.tiny) else 5
    cfg = dict(epochs=epochs, batch_size=demo.DEFAULTS["batch_size"], lr=demo.DEFAULTS["lr"],
               momentum=demo.DEFAULTS["momentum"], seed=0)
    quiet = dict(progress=False, log=lambda *a: None)
    try:
        numba_s = demo.train("numba", data, **cfg, **quiet)["epoch_s"]
        numpy_s = demo.train("numpy", data, **cfg, **quiet)["epoch_s"]
    except ImportError as exc:   # tqdm missing
        ctx.sections.append(("digits demo", [f"skipped: {exc}"]))
        return
    torch_s = (_torch_epochs(ctx.torch, data, **cfg) if ctx.torch is not None else None)
    ctx.rows.append(Row("demo", "digits CNN train epoch",
                        f"{len(data[0])} imgs, batch {cfg['batch_size']}",
                        float(np.median(numba_s)), float(np.median(numpy_s)),
                        float(np.median(torch_s)) if torch_s else None,
                        flops=demo_epoch_flops(len(data[0])),
                        note=f"median of {epochs} epochs"))


_COLD_START = r"""
import time
t0 = time.perf_counter()
import numpy as np
import fastnn, fastnn.functional as F
t1 = time.perf_counter()
x = np.ones((2, 3, 8, 8), np.float32); w = np.ones((4, 3, 3, 3), np.float32)
F.conv2d(x, w, padding=1)
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""

_WARMUP = r"""
import time
t0 = time.perf_counter()
import fastnn
t1 = time.perf_counter()
print(t1 - t0, fastnn.warmup())
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
    """import fastnn + first conv2d, and fastnn.warmup(), each in a fresh process."""
    lines = []
    runs = 2 if (ctx.quick or ctx.tiny) else 3
    # The first run may compile (cold cache) and fills Numba's on-disk cache; later runs load it.
    first = _run_fresh(_COLD_START)
    later = [_run_fresh(_COLD_START) for _ in range(runs)]
    imp = float(np.median([r[0] for r in later]))
    conv = float(np.median([r[1] for r in later]))
    lines.append(f"new process, warm on-disk cache: import fastnn {imp:.3f} s + first "
                 f"conv2d (float32) {conv:.3f} s = {imp + conv:.3f} s "
                 f"(median of {runs}; the first run took {first[0] + first[1]:.3f} s)")
    w_first = _run_fresh(_WARMUP)
    w_later = [_run_fresh(_WARMUP)[1] for _ in range(runs)]
    lines.append(f"new process, warm on-disk cache: fastnn.warmup() (float32 + float64, every "
                 f"kernel) {np.median(w_later):.3f} s (median of {runs}; the first run took "
                 f"{w_first[1]:.3f} s)")
    lines.append("a cold cache (fresh NUMBA_CACHE_DIR) compiles everything: see the README")
    ctx.sections.append(("cold start", lines))


def threading_probe(size, n, repeat):
    """Seconds per call: fastnn.relu(size floats), np.dot(n x n), and the two in a loop.

    Run in a fresh process by :func:`bench_threading`, since the OpenMP wait
    policy is fixed when the runtime loads.
    """
    x = _randn(size, seed=1)
    a = _randn(n, n, seed=2)
    t = time_interleaved({"relu": lambda: F.relu(x), "dot": lambda: np.dot(a, a),
                          "both": lambda: (F.relu(x), np.dot(a, a))}, repeat, min_sample_s=0.02)
    return t["relu"], t["dot"], t["both"]


_THREADING = r"""
import fastnn, fastnn.bench as b, fastnn._openmp as o
print(*b.threading_probe({size}, {n}, {repeat}), o.describe(), sep="|")
"""


def bench_threading(ctx):
    """A Numba prange kernel immediately followed by an OpenBLAS call, vs each alone.

    Two fresh processes: fastnn's setting (OMP_WAIT_POLICY=PASSIVE unless the
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
           "softmax": bench_softmax, "demo": bench_demo, "coldstart": bench_coldstart,
           "threading": bench_threading}


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
    header = ["op", "shape", "fastnn ms", "numpy ms", "torch ms", "numpy/fastnn",
              "torch/fastnn", "fastnn rate", "% roof"]
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
            body.append([r.op, r.shape, _ms(r.fastnn), _ms(r.numpy), _ms(r.torch),
                         _ratio(r.numpy, r.fastnn), _ratio(r.torch, r.fastnn),
                         "-" if rate is None else f"{rate:.1f} {unit}",
                         "-" if not roof or rate is None else f"{100 * rate / roof:.0f}%"])
        if len(grp) > 1:
            gm_np = _geomean([r.numpy / r.fastnn for r in grp if r.numpy])
            gm_t = _geomean([r.torch / r.fastnn for r in grp if r.torch])
            body.append([f"{g}: geometric mean", "", "", "", "",
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

    See ``python -m fastnn bench --help``. ``tiny`` shrinks every shape (tests).
    """
    only = list(GROUPS) if not only else list(only)
    unknown = [g for g in only if g not in GROUPS]
    if unknown:
        raise ValueError(f"bench: unknown group(s) {unknown}; choose from {list(GROUPS)}")
    if repeat is None:
        repeat = 3 if (quick or tiny) else 7
    torch = import_torch()
    threads = threads or _backend.get_num_threads()
    settings = ThreadSettings(threads, torch)

    flags = cpu_flags()
    lanes = simd_lanes(flags)
    ghz, clock_src = cpu_max_ghz()
    if peak_gflops_override:
        peak = peak_gflops_override
        peak_text = f"{peak:.0f} GFLOP/s (--peak-gflops)"
    elif ghz:
        peak = peak_gflops(threads, lanes, ghz)
        peak_text = (f"{threads} threads x 2 FMA units x {lanes} fp32 lanes x 2 FLOP x "
                     f"{ghz:.2f} GHz = {peak:.0f} GFLOP/s")
    else:
        peak, peak_text = None, "unknown (no clock found; pass --peak-gflops)"
    bandwidth = copy_bandwidth(TINY["copy"] if tiny else 16 * 2**20 if quick else 64 * 2**20,
                               repeat=max(3, repeat))
    ctx = Context(repeat=repeat, threads=threads, quick=quick, tiny=tiny, torch=torch, peak=peak,
                  bandwidth=bandwidth)

    isa = "AVX-512F" if lanes == 16 else "AVX2" if lanes == 8 else "SSE"
    out(f"fastnn bench: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"{isa}, clock {'%.2f GHz' % ghz if ghz else '?'} ({clock_src})")
    out(f"roofline: fp32 peak {peak_text}; copy bandwidth {bandwidth:.1f} GB/s "
        f"(np.copyto, read + write)")
    from . import _openmp
    out(f"threads: {'; '.join(settings.notes)}; OpenMP: {_openmp.describe()}")
    out(f"torch: {torch.__version__ if torch is not None else 'not installed (columns show -)'}"
        f"; numpy {np.__version__}; timing: median of {repeat}, interleaved, after a warm-up "
        f"call; float32")
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
