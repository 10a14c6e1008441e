"""What every fastnn benchmark shares: the shape tables, input builders, the machine's roofline
and the one timing helper.

Used by ``python -m fastnn bench`` (fastnn/bench.py), the asv suite
(asv_bench/benchmarks/common.py) and examples/bench_*.py, so that all of them time
the same shapes the same way. Nothing here is part of fastnn's API.

Timing (:func:`time_interleaved`): one untimed warm-up call per implementation
(JIT compile, cache load, page faults), then ``repeat`` rounds; in each round every
implementation takes one sample (a loop of calls lasting at least ``min_sample_s``),
the order rotating from round to round so that none always runs first or after the
same neighbour. Before each sample the helper waits until every other thread of the
process has gone idle (:func:`wait_until_idle`): OpenBLAS's worker threads spin for
about 0.1 s after each call and libgomp's (torch) for milliseconds, and whichever
implementation ran next used to pay for it. The result is the median per
implementation.
"""
import math
import os
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# --------------------------------------------------------------------------- shapes

GEMM_SIZES = (64, 128, 256, 512, 1024, 2048)
GEMM_SIZES_QUICK = (64, 128, 256, 512)
GEMM_TRANSPOSE_SIZE = 1024
GEMM_TRANSPOSE_SIZE_QUICK = 512
GEMM_LAYOUTS = ("A@B", "A@B^T", "A^T@B")

# letter -> (N, C_in, H=W, C_out, R=S, padding, stride): issue 11's conv2d shapes A-F
CONV_SHAPES = {
    "A": (32, 64, 32, 64, 3, 1, 1),
    "B": (1, 192, 28, 32, 3, 1, 1),
    "C": (64, 1, 28, 6, 5, 0, 1),
    "D": (8, 3, 224, 64, 7, 3, 2),
    "E": (16, 128, 14, 256, 3, 1, 2),
    "F": (4, 256, 7, 512, 1, 0, 1),
}
CONV_SHAPES_QUICK = ("B", "C")

# Real networks' conv layers, same tuple layout; each distinct layer once.
# ResNet-18 (He et al. 2016) at batch 8 on 224x224 input ("down" = the 1x1 stride-2
# projection of a block's shortcut).
RESNET18_CONVS = {
    "conv1 7x7 s2": (8, 3, 224, 64, 7, 3, 2),
    "layer1 3x3": (8, 64, 56, 64, 3, 1, 1),
    "layer2.0 3x3 s2": (8, 64, 56, 128, 3, 1, 2),
    "layer2.0 down": (8, 64, 56, 128, 1, 0, 2),
    "layer2 3x3": (8, 128, 28, 128, 3, 1, 1),
    "layer3.0 3x3 s2": (8, 128, 28, 256, 3, 1, 2),
    "layer3.0 down": (8, 128, 28, 256, 1, 0, 2),
    "layer3 3x3": (8, 256, 14, 256, 3, 1, 1),
    "layer4.0 3x3 s2": (8, 256, 14, 512, 3, 1, 2),
    "layer4.0 down": (8, 256, 14, 512, 1, 0, 2),
    "layer4 3x3": (8, 512, 7, 512, 3, 1, 1),
}
# How many times each RESNET18_CONVS layer occurs in the network (for whole-net sums).
RESNET18_COUNTS = {"conv1 7x7 s2": 1, "layer1 3x3": 4, "layer2.0 3x3 s2": 1, "layer2.0 down": 1,
                   "layer2 3x3": 3, "layer3.0 3x3 s2": 1, "layer3.0 down": 1, "layer3 3x3": 3,
                   "layer4.0 3x3 s2": 1, "layer4.0 down": 1, "layer4 3x3": 3}
# VGG-11 (Simonyan & Zisserman 2015, configuration A) at batch 1, 224x224.
VGG11_CONVS = {
    "vgg conv1": (1, 3, 224, 64, 3, 1, 1),
    "vgg conv2": (1, 64, 112, 128, 3, 1, 1),
    "vgg conv3": (1, 128, 56, 256, 3, 1, 1),
    "vgg conv4": (1, 256, 56, 256, 3, 1, 1),
    "vgg conv5": (1, 256, 28, 512, 3, 1, 1),
    "vgg conv6": (1, 512, 28, 512, 3, 1, 1),
    "vgg conv7-8": (1, 512, 14, 512, 3, 1, 1),
}
# MobileNet-v1 (Howard et al. 2017) pointwise 1x1 layers at batch 8, 224x224.
MOBILENET_POINTWISE = {
    "mbv1 pw 32->64 112": (8, 32, 112, 64, 1, 0, 1),
    "mbv1 pw 64->128 56": (8, 64, 56, 128, 1, 0, 1),
    "mbv1 pw 128->128 56": (8, 128, 56, 128, 1, 0, 1),
    "mbv1 pw 128->256 28": (8, 128, 28, 256, 1, 0, 1),
    "mbv1 pw 256->256 28": (8, 256, 28, 256, 1, 0, 1),
    "mbv1 pw 256->512 14": (8, 256, 14, 512, 1, 0, 1),
    "mbv1 pw 512->512 14": (8, 512, 14, 512, 1, 0, 1),
    "mbv1 pw 512->1024 7": (8, 512, 7, 1024, 1, 0, 1),
    "mbv1 pw 1024->1024 7": (8, 1024, 7, 1024, 1, 0, 1),
}

# LeNet-5 (LeCun et al. 1998, ReLU and max-pooling as is usual now) on 28x28 MNIST:
# conv 5x5 -> 6, pool 2, conv 5x5 -> 16, pool 2, fc 120, fc 84, fc 10.
LENET = dict(batch_size=64, lr=0.05, momentum=0.9, seed=0)

ELEMENTWISE_SIZE = 16 * 2**20        # 16M float32 = 64 MiB per array
ELEMENTWISE_SIZE_QUICK = 4 * 2**20
SOFTMAX_SHAPE = (4096, 1000)
COPY_SIZE = 64 * 2**20               # floats copied for the bandwidth roof (256 MiB)
COPY_SIZE_QUICK = 16 * 2**20

# readable id -> (N, C, H=W, kernel_size, stride)
POOL_SHAPES = {
    "N64 C16 8x8 k2": (64, 16, 8, 2, 2),        # the digits demo's first pool
    "N32 C64 32x32 k2": (32, 64, 32, 2, 2),
    "N8 C64 112x112 k3 s2": (8, 64, 112, 3, 2),
}

# readable id -> (batch, in_features, out_features)
LINEAR_SHAPES = {
    "N32 128->10": (32, 128, 10),               # the digits demo's classifier
    "N256 784->512": (256, 784, 512),
    "N1024 4096->1000": (1024, 4096, 1000),
}

# --tiny (smoke tests, CI): every group on shapes that take milliseconds.
TINY = dict(gemm=(16, 32), gemm_t=24, conv={"tiny": (2, 3, 6, 4, 3, 1, 1),
                                            "tiny s2": (2, 3, 7, 4, 3, 1, 2)},
            elementwise=1000, softmax=(8, 10), copy=2**20, recurrent=[(5, 2, 3, 4)],
            resnet18={"tiny 3x3": (2, 4, 8, 4, 3, 1, 1), "tiny down": (2, 4, 8, 8, 1, 0, 2)},
            resnet18_input=(1, 3, 32), lenet_images=128)

# Recurrent layers (T, N, D, H), issue 13: an MNIST-row LSTM, a long wide one, batch 1.
RECURRENT_SHAPES = [(28, 64, 28, 128), (100, 32, 64, 256), (50, 1, 32, 64)]
# Gate blocks per layer type: LSTM i, f, g, o; GRU r, z, n; Elman RNN one.
RECURRENT_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def conv_label(shape):
    """'N32 C64 32x32 K64 3x3 p1 s1' for a CONV_SHAPES tuple."""
    n, c, hw, k, r, pad, stride = shape
    return f"N{n} C{c} {hw}x{hw} K{k} {r}x{r} p{pad} s{stride}"


def conv_id(letter):
    """A readable id for a CONV_SHAPES entry, e.g. 'A: N32 C64 32x32 K64 3x3 p1 s1'."""
    return f"{letter}: {conv_label(CONV_SHAPES[letter])}"


CONV_IDS = [conv_id(letter) for letter in CONV_SHAPES]

# --------------------------------------------------------------------------- inputs

SEED = 0


def rng(seed=SEED):
    """A freshly seeded generator, so every benchmark sees the same data."""
    return np.random.default_rng(seed)


def randn(*shape, dtype=np.float32, seed=SEED):
    """C-contiguous standard-normal array of ``shape`` and ``dtype`` (float32 by default)."""
    return rng(seed).standard_normal(shape).astype(dtype)


def gemm_operands(n, layout="A@B", dtype=np.float32):
    """(a, b) such that a @ b is the n x n x n product ``layout`` (transposes are views)."""
    a, b = randn(n, n, dtype=dtype, seed=1), randn(n, n, dtype=dtype, seed=2)
    if layout == "A@B^T":
        return a, b.T
    if layout == "A^T@B":
        return a.T, b
    if layout != "A@B":
        raise ValueError(f"layout must be one of {GEMM_LAYOUTS}, got {layout!r}")
    return a, b


def conv_shape(shape):
    """The (N, C_in, H=W, C_out, R=S, padding, stride) tuple of a letter, an id or a tuple."""
    if isinstance(shape, str):
        return CONV_SHAPES[shape.split(":")[0]]
    return tuple(shape)


def conv_inputs(shape, dtype=np.float32):
    """x, weight, bias, grad_output and the conv2d keyword arguments (stride, padding).

    ``shape`` is a CONV_SHAPES letter ('A'), an id from CONV_IDS, or a 7-tuple.
    """
    n, c, hw, k, r, pad, stride = conv_shape(shape)
    x = randn(n, c, hw, hw, dtype=dtype, seed=1)
    w = randn(k, c, r, r, dtype=dtype, seed=2) * dtype(1.0 / math.sqrt(c * r * r))
    b = randn(k, dtype=dtype, seed=3)
    out_hw = (hw + 2 * pad - r) // stride + 1
    go = randn(n, k, out_hw, out_hw, dtype=dtype, seed=4)
    return x, w, b, go, {"stride": stride, "padding": pad}


def conv_macs(shape):
    """Multiply-adds of one conv2d forward pass of ``shape``."""
    n, c, hw, k, r, pad, stride = conv_shape(shape)
    out_hw = (hw + 2 * pad - r) // stride + 1
    return n * k * out_hw * out_hw * c * r * r


def pool_inputs(shape_id):
    """x, grad_output and (kernel_size, stride) for a POOL_SHAPES id."""
    n, c, hw, k, s = POOL_SHAPES[shape_id]
    out_hw = (hw - k) // s + 1
    return randn(n, c, hw, hw, seed=1), randn(n, c, out_hw, out_hw, seed=2), k, s


def linear_inputs(shape_id):
    """x, weight, bias, grad_output for a LINEAR_SHAPES id."""
    n, f_in, f_out = LINEAR_SHAPES[shape_id]
    w = randn(f_out, f_in, seed=2) * np.float32(1.0 / np.sqrt(f_in))
    return randn(n, f_in, seed=1), w, randn(f_out, seed=3), randn(n, f_out, seed=4)


# --------------------------------------------------------------------------- other libraries

def import_torch():
    """PyTorch, or None when ``import torch`` fails. Never needed by fastnn itself.

    fastnn bounds the OpenMP runtime's idle spinning (GOMP_SPINCOUNT, see
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


# --------------------------------------------------------------------------- timing

def _other_threads_cpu_ns():
    """CPU nanoseconds used so far by every thread of this process except the caller's.

    From /proc/self/task/*/schedstat (Linux); None where it cannot be read.
    """
    me = threading.get_native_id()
    total = 0
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return None
    for tid in tids:
        if tid == str(me):
            continue
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue   # the thread exited meanwhile
    return total


IDLE_WINDOW_S = 0.005    # other threads idle = under 10% of one core in each of
IDLE_WINDOWS = 2         # this many consecutive windows of this length
IDLE_MAX_S = 1.0         # give up waiting after this long
IDLE_FALLBACK_S = 0.2    # no /proc: sleep this long (> OpenBLAS's ~0.1 s spin) instead


def wait_until_idle(window_s=IDLE_WINDOW_S, windows=IDLE_WINDOWS, max_s=IDLE_MAX_S):
    """Sleep until the process's other threads (BLAS, OpenMP pools) stop using CPU.

    Polls their CPU time over windows of ``window_s``; returns once ``windows``
    consecutive windows each show under 10% of one core busy (two, so that a
    spinning thread that the scheduler left out for one window is not taken
    for idle), or after ``max_s``. Without /proc/self/task (not Linux) it
    sleeps IDLE_FALLBACK_S. Returns the seconds waited.
    """
    t0 = time.perf_counter()
    before = _other_threads_cpu_ns()
    if before is None:
        time.sleep(IDLE_FALLBACK_S)
        return time.perf_counter() - t0
    quiet = 0
    while quiet < windows and time.perf_counter() - t0 < max_s:
        time.sleep(window_s)
        after = _other_threads_cpu_ns()
        quiet = quiet + 1 if after - before < 0.1 * window_s * 1e9 else 0
        before = after
    return time.perf_counter() - t0


def time_interleaved(impls, repeat, min_sample_s=0.005, settle=True):
    """Median seconds per call of each callable in ``impls`` (dict name -> callable or None).

    Each callable is called once untimed (compile, cache load, page faults),
    then repeatedly for ``min_sample_s`` to size its samples (a sample loops
    the call as many times as fitted in that time, 1 to 1000 calls), then
    ``repeat`` rounds take one sample of each, in an order that rotates by one
    each round. With
    ``settle`` every call starts only after :func:`wait_until_idle`, so no
    implementation is timed while another one's threads still spin.
    None entries give None.
    """
    live = [(name, f) for name, f in impls.items() if f is not None]
    pause = wait_until_idle if settle else (lambda: None)
    loops = {}
    for name, f in live:
        pause()
        f()  # warm-up
        pause()
        # Count the calls that fit in min_sample_s rather than scale up one call:
        # a single slow call (the first after an idle pause wakes sleeping
        # threads: 0.3-1.9 ms for a 30 us 128^3 matmul on the 2-vCPU VM) made
        # 2-call samples that timed mostly that wake-up.
        t0 = time.perf_counter()
        calls = 0
        while calls < 1000 and (calls == 0 or time.perf_counter() - t0 < min_sample_s):
            f()
            calls += 1
        loops[name] = calls
    samples = {name: [] for name, _ in live}
    for r in range(repeat):
        k = r % len(live) if live else 0
        for name, f in live[k:] + live[:k]:
            n = loops[name]
            pause()
            t0 = time.perf_counter()
            for _ in range(n):
                f()
            samples[name].append((time.perf_counter() - t0) / n)
    return {name: (float(np.median(samples[name])) if samples.get(name) else None)
            for name in impls}


# --------------------------------------------------------------------------- roofline

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


def measured_fma_peak(threads, seconds=0.3, repeat=3):
    """Measured fp32 GFLOP/s of register-only FMA chains on ``threads`` threads (kernels/fma_peak.py).

    The best of ``repeat`` runs of about ``seconds`` each (a peak is a maximum:
    slower runs are interference). Same vectors as fastnn's GEMM, so AVX-512
    machines report the zmm peak.
    """
    from .kernels.fma_peak import fma_peak
    from .kernels.simd import VECTOR_BYTES
    lanes = VECTOR_BYTES // 4
    seed = np.full(2 * lanes, 0.999999, dtype=np.float32)
    out = np.empty(threads * 12 * lanes, dtype=np.float32)
    fma_peak(seed, out, 1000, threads)       # compile
    reps = 1000
    while True:                              # calibrate to ~seconds per run
        t = time.perf_counter()
        fma_peak(seed, out, reps, threads)
        dt = time.perf_counter() - t
        if dt > seconds / 4:
            break
        reps *= 4
    reps = max(1, int(reps * seconds / dt))
    best = 0.0
    for _ in range(repeat):
        t = time.perf_counter()
        fma_peak(seed, out, reps, threads)
        best = max(best, threads * reps * 12 * lanes * 2 / (time.perf_counter() - t) / 1e9)
    return best


def copy_bandwidth(n_floats=COPY_SIZE, threads=1, repeat=5):
    """GB/s of a large float32 copy split over ``threads`` Python threads; median of ``repeat``.

    Each thread runs ``np.copyto`` on its own contiguous slice (NumPy releases
    the GIL in the copy), so the roof is measured with as many threads as the
    kernels it is compared with. Counts bytes read + bytes written.
    """
    src = np.ones(n_floats, dtype=np.float32)
    dst = np.empty_like(src)
    bounds = np.linspace(0, n_floats, threads + 1).astype(int)
    parts = [(dst[lo:hi], src[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:])]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        def copy():
            if threads == 1:
                np.copyto(dst, src)
            else:
                list(pool.map(lambda p: np.copyto(*p), parts))
        copy()   # fault the pages in, start the workers
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            copy()
            times.append(time.perf_counter() - t0)
    return 2 * src.nbytes / float(np.median(times)) / 1e9
