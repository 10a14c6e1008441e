"""``fastnn.warmup()``: compile (or load from Numba's on-disk cache) every kernel up front.

Importing fastnn compiles nothing; each kernel is compiled on its first call,
once per dtype (then cached on disk, ``cache=True``). A program that wants no
compile pause in its first training step, or a benchmark that must not time
compilation, calls :func:`warmup` once at start-up.

``WARMUP_CALLS`` below is a table: one row per call of a public op in
:mod:`fastnn.functional`, on tiny inputs. A new op gets one new row.
"""
import contextlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

from . import _checks, _tuning, functional

__all__ = ["warmup", "WARMUP_CALLS", "cache_dir"]


def _tiny_inputs(dtype):
    """Named tiny arrays of ``dtype`` that the rows of WARMUP_CALLS refer to."""
    rng = np.random.default_rng(0)

    def r(*shape):
        return rng.standard_normal(shape).astype(dtype)

    return {
        "x4": r(2, 3, 6, 6),          # NCHW image batch
        "w4": r(4, 3, 3, 3),          # conv weight (C_out, C_in, kH, kW)
        "b4": r(4),                   # conv bias
        "w11": r(4, 3, 1, 1),         # 1x1 conv weight (its output has gy4's shape)
        "gy4": r(2, 4, 6, 6),         # grad of conv2d(x4, w4, padding=1)
        "gp4": r(2, 3, 3, 3),         # grad of max_pool2d(x4, 2)
        # 16 output channels (a multiple of every vector's lanes) and 3 x 5x5 = 75 taps: the
        # direct grad-weight with vectors along output channels (kernels/conv_weight_cvec.py)
        "w16": r(16, 3, 5, 5), "gy16": r(2, 16, 6, 6),
        "x2": r(5, 7),                # (N, features), (N, classes), matrix A
        "w2": r(3, 7),                # linear weight (out, in)
        "b2": r(3),                   # linear bias
        "gy2": r(5, 3),               # grad of linear(x2, w2)
        "m2": r(7, 3),                # matrix B of matmul(x2, m2)
        "g2": r(5, 7),                # grad of any op returning x2's shape
        "t1": np.array([0, 6, 2, 3, 1], dtype=np.int64),   # class indices for x2
        "ga4": r(2, 3, 1, 1),         # grad of adaptive_avg_pool2d(x4, 1)
        "c3": np.abs(r(3)) + 0.5,     # per-channel statistics / affine parameters of x4
        "p2": 1 / (1 + np.exp(-r(5, 7))),                   # probabilities, x2's shape
        "mask2": rng.random((5, 7)) > 0.5,                  # dropout keep mask, x2's shape
        # recurrent ops: T=3, N=2, input 4, hidden 5; weights with G = 1 / 4 / 3 gate blocks
        "xs": r(3, 2, 4), "gs": r(3, 2, 5), "xc": r(2, 4), "h5": r(2, 5),
        "hc5": (r(2, 5), r(2, 5)),
        "wi1": r(5, 4), "wh1": r(5, 5), "b5": r(5),
        "wi4": r(20, 4), "wh4": r(20, 5), "b20": r(20),
        "wi3": r(15, 4), "wh3": r(15, 5), "b15": r(15),
        # embedding (indices into 6 rows of 4), layer / group norm
        # (16 columns: the embedding's scatter-add splits columns, from 16 on)
        "idx": np.array([[0, 5, 2], [2, 1, 0]], dtype=np.int64), "we": r(6, 16),
        "ge": r(2, 3, 16),
        "ln66": r(6, 6),
    }


# One row per call: (function name in fastnn.functional, names of its
# positional arguments in _tiny_inputs, keyword arguments). Every kernel of
# every public op (forward and backward, every conv2d algorithm) runs at least
# once, and SGD.step's kernel (_EXTRA_CALLS). Append a row for a new op.
WARMUP_CALLS = [
    ("conv2d", ("x4", "w4", "b4"), {"padding": 1, "algorithm": "direct"}),
    ("conv2d", ("x4", "w4", "b4"), {"padding": 1, "algorithm": "im2col"}),
    ("conv2d_backward", ("gy4", "x4", "w4"), {"padding": 1, "algorithm": "direct"}),
    ("conv2d_backward", ("gy16", "x4", "w16"), {"padding": 2, "algorithm": "direct"}),
    ("conv2d_backward", ("gy4", "x4", "w4"), {"padding": 1, "algorithm": "im2col"}),
    ("conv2d", ("x4", "w4", "b4"), {"padding": 1, "algorithm": "winograd"}),
    ("conv2d_backward", ("gy4", "x4", "w4"), {"padding": 1, "algorithm": "winograd"}),
    ("conv2d", ("x4", "w11", "b4"), {"algorithm": "1x1"}),
    ("conv2d_backward", ("gy4", "x4", "w11"), {"algorithm": "1x1"}),
    ("linear", ("x2", "w2", "b2"), {}),
    ("linear_backward", ("gy2", "x2", "w2"), {}),
    ("matmul", ("x2", "m2"), {}),
    ("matmul_backward", ("gy2", "x2", "m2"), {}),
    ("relu", ("x2",), {}),
    ("relu_backward", ("g2", "x2"), {}),
    ("sigmoid", ("x2",), {}),
    ("sigmoid_backward", ("g2", "x2"), {}),
    ("tanh", ("x2",), {}),
    ("tanh_backward", ("g2", "x2"), {}),
    ("step", ("x2",), {}),
    ("step_backward", ("g2", "x2"), {}),
    ("leaky_relu", ("x2",), {}),
    ("leaky_relu_backward", ("g2", "x2"), {}),
    ("softmax", ("x2",), {}),
    ("softmax_backward", ("g2", "x2"), {}),
    ("log_softmax", ("x2",), {}),
    ("log_softmax_backward", ("g2", "x2"), {}),
    ("cross_entropy", ("x2", "t1"), {}),
    ("cross_entropy_backward", (1.0, "x2", "t1"), {}),
    ("max_pool2d", ("x4", 2), {"return_indices": True}),
    ("max_pool2d_backward", ("gp4", "x4", 2), {}),
    ("avg_pool2d", ("x4", 2), {}),
    ("avg_pool2d_backward", ("gp4", "x4", 2), {}),
    ("adaptive_avg_pool2d", ("x4", 1), {}),
    ("adaptive_avg_pool2d_backward", ("ga4", "x4", 1), {}),
    ("batch_norm", ("x4", "c3", "c3", "c3", "c3"), {"training": True}),
    ("batch_norm", ("x4", "c3", "c3", "c3", "c3"), {"training": False}),
    ("batch_norm_backward", ("x4", "x4", "c3", "c3", "c3"), {"training": True}),
    ("batch_norm_backward", ("x4", "x4", "c3", "c3", "c3"), {"training": False}),
    ("dropout", ("x2", 0.5), {"generator": 0}),
    ("dropout_backward", ("g2", "mask2", 0.5), {}),
    ("mse_loss", ("x2", "g2"), {}),
    ("mse_loss_backward", (1.0, "x2", "g2"), {}),
    ("binary_cross_entropy", ("p2", "p2"), {}),
    ("binary_cross_entropy_backward", (1.0, "p2", "p2"), {}),
    ("binary_cross_entropy_with_logits", ("x2", "p2"), {}),
    ("binary_cross_entropy_with_logits_backward", (1.0, "x2", "p2"), {}),
    ("cross_entropy", ("x2", "p2"), {}),                  # probability targets
    ("cross_entropy_backward", (1.0, "x2", "p2"), {}),
    ("rnn_tanh", ("xs", "h5", "wi1", "wh1", "b5", "b5"), {}),
    ("rnn_tanh_backward", ("gs", "xs", "h5", "wi1", "wh1", "b5", "b5"), {}),
    ("rnn_relu", ("xs", "h5", "wi1", "wh1", "b5", "b5"), {}),
    ("rnn_relu_backward", ("gs", "xs", "h5", "wi1", "wh1", "b5", "b5"), {}),
    ("lstm", ("xs", "hc5", "wi4", "wh4", "b20", "b20"), {}),
    ("lstm_backward", ("gs", "xs", "hc5", "wi4", "wh4", "b20", "b20"), {}),
    ("gru", ("xs", "h5", "wi3", "wh3", "b15", "b15"), {}),
    ("gru_backward", ("gs", "xs", "h5", "wi3", "wh3", "b15", "b15"), {}),
    ("rnn_tanh_cell", ("xc", "h5", "wi1", "wh1", "b5", "b5"), {}),
    ("rnn_tanh_cell_backward", ("h5", "xc", "h5", "wi1", "wh1", "b5", "b5"), {}),
    ("rnn_relu_cell", ("xc", "h5", "wi1", "wh1", "b5", "b5"), {}),
    ("rnn_relu_cell_backward", ("h5", "xc", "h5", "wi1", "wh1", "b5", "b5"), {}),
    ("lstm_cell", ("xc", "hc5", "wi4", "wh4", "b20", "b20"), {}),
    ("lstm_cell_backward", ("hc5", "xc", "hc5", "wi4", "wh4", "b20", "b20"), {}),
    ("gru_cell", ("xc", "h5", "wi3", "wh3", "b15", "b15"), {}),
    ("gru_cell_backward", ("h5", "xc", "h5", "wi3", "wh3", "b15", "b15"), {}),
    ("embedding", ("idx", "we"), {}),
    ("embedding_backward", ("ge", "idx", "we"), {}),
    ("layer_norm", ("x4", (6, 6), "ln66", "ln66"), {}),
    ("layer_norm_backward", ("x4", "x4", (6, 6), "ln66", "ln66"), {}),
    ("group_norm", ("x4", 3, "c3", "c3"), {}),
    ("group_norm_backward", ("x4", "x4", 3, "c3", "c3"), {}),
    ("multi_margin_loss", ("x2", "t1"), {}),
    ("multi_margin_loss_backward", (1.0, "x2", "t1"), {}),
    ("sgd_update", ("x2",), {}),     # not an op: SGD.step's kernel (_EXTRA_CALLS)
]


def _sgd_update(x):
    """One SGD.step update with momentum on a copy of x: compiles kernels/optim.py."""
    from .kernels import optim
    t = x.dtype.type
    p = x.reshape(-1).copy()
    optim.sgd_update(p, p.copy(), p.copy(), t(0.1), t(0.9), t(1), t(0), False)


# Rows of WARMUP_CALLS that name a kernel no fastnn.functional op runs.
_EXTRA_CALLS = {"sgd_update": _sgd_update}


# Each row runs once per pass. Every kernel that has serial and parallel
# variants (kernels/_chunks.serial_and_parallel) gets both compiled by running
# the table with every threshold of fastnn/_tuning.py forced one way, then the
# other; the streaming activation kernels get a third pass.
_THRESHOLDS = ("GEMM_SERIAL_WORK", "BIAS_PARALLEL_MIN", "ELEMENTWISE_PARALLEL_MIN",
               "TRANSCENDENTAL_PARALLEL_MIN", "SOFTMAX_PARALLEL_MIN", "BATCHNORM_PARALLEL_MIN",
               "NORM_PARALLEL_MIN", "EMBEDDING_PARALLEL_MIN", "POOL_PARALLEL_MIN",
               "GLOBAL_POOL_PARALLEL_MIN", "WINOGRAD_PARALLEL_MIN", "CONV_COPY_PARALLEL_MIN")
_NEVER = 2**62
PASSES = ("serial", "parallel", "streaming")
# ops with a streaming kernel (kernels/activations.py): the only rows of the streaming pass
_STREAMING_OPS = {"relu", "relu_backward", "leaky_relu", "leaky_relu_backward", "step",
                  "step_backward", "sigmoid_backward", "tanh_backward"}


@contextlib.contextmanager
def _forced(mode):
    """Set fastnn/_tuning.py's thresholds so that every call takes the ``mode`` path."""
    saved = {name: getattr(_tuning, name) for name in _THRESHOLDS + ("STREAMING_MIN_BYTES",)}
    try:
        for name in _THRESHOLDS:
            setattr(_tuning, name, _NEVER if mode == "serial" else 0)
        _tuning.STREAMING_MIN_BYTES = 0 if mode == "streaming" else _NEVER
        yield
    finally:
        for name, value in saved.items():
            setattr(_tuning, name, value)


def _tasks(dtypes):
    """Every (dtype name, pass, row index) that warmup runs."""
    return [(dtype.name, mode, i) for dtype in dtypes for mode in PASSES
            for i, (name, _, _) in enumerate(WARMUP_CALLS)
            if mode != "streaming" or name in _STREAMING_OPS]


def _run_tasks(tasks):
    """Run warmup tasks in this process (also the body of a worker process)."""
    inputs = {}
    for dtype, mode, i in tasks:
        if dtype not in inputs:
            inputs[dtype] = _tiny_inputs(np.dtype(dtype))
        name, args, kwargs = WARMUP_CALLS[i]
        with _forced(mode):
            fn = _EXTRA_CALLS[name] if name in _EXTRA_CALLS else getattr(functional, name)
            fn(*(inputs[dtype][a] if isinstance(a, str) else a for a in args), **kwargs)
    return len(tasks)


def cache_dir():
    """Where Numba keeps fastnn's compiled kernels (the on-disk cache), or None if not cached.

    NUMBA_CACHE_DIR when set; otherwise Numba's choice for the installed
    package: __pycache__ beside the kernel sources when writable, else a
    per-user directory (~/.cache/numba or the platform's equivalent).
    """
    from .kernels import _config, activations
    if not _config.CACHE:
        return None
    return activations.relu_forward._cache._cache_path


# Seconds the digits demo's first training step takes with an empty cache on
# the 2-core development machine (README "First run"): what the demo announces.
COLD_FIRST_STEP_S = 45


def kernels_cached():
    """True if the on-disk cache holds the demo CNN's first kernel (a sign that this machine
    has run fastnn, or ``python -m fastnn warmup``, before); False when caching is off."""
    from .kernels import conv_direct
    if cache_dir() is None:
        return False
    return os.path.exists(conv_direct.conv2d_direct_forward._cache._cache_file._index_path)


def _default_processes():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _progress(total, enabled):
    """A tqdm bar (when installed) or a plain counter printed every 10%; no-op if not enabled."""
    if not enabled:
        return contextlib.nullcontext(lambda n=1: None)
    try:
        from tqdm.auto import tqdm
    except ImportError:
        tqdm = None

    @contextlib.contextmanager
    def bar():
        if tqdm is not None:
            with tqdm(total=total, desc="fastnn warmup", unit="call") as t:
                yield t.update
            return
        done = [0]

        def update(n=1):
            done[0] += n
            if done[0] == total or done[0] * 10 // total != (done[0] - n) * 10 // total:
                print(f"fastnn warmup: {done[0]}/{total} calls", flush=True)
        yield update

    return bar()


def warmup(dtypes=("float32",), processes=None, progress=False):
    """Compile, or load from Numba's on-disk cache, every fastnn kernel for ``dtypes``.

    Calls every public op of :mod:`fastnn.functional` and its backward on
    tiny inputs (every conv2d algorithm), and SGD's update kernel, in three passes: with every size
    threshold of fastnn/_tuning.py forced to the serial kernels, to the
    parallel ones, and to the streaming activation kernels, so that no later
    call of those dtypes pauses to compile, whatever its size. Importing fastnn
    compiles nothing; without warmup() each kernel compiles on its first call.

    While it runs, the thresholds are changed process-wide: call it before
    other threads use fastnn.

    Parameters
    ----------
    dtypes : iterable of 'float32' / 'float64' (or the numpy dtypes), default ('float32',).
        Each dtype is a separate compiled specialisation of every kernel.
    processes : None or int >= 1, default None (the number of CPU cores available)
        With more than one, that many worker processes compile the kernels into
        the on-disk cache in parallel (Numba compiles on one thread), then this
        process loads them from it. Each worker costs about a second to start:
        with a warm cache, ``processes=1`` is quicker. Caching off
        (FASTNN_NO_CACHE=1, or no writable cache directory) means 1.
    progress : bool, default False
        Show a progress bar (tqdm when installed, else a line every 10%).

    Returns
    -------
    float
        Seconds taken (wall clock). With a cold cache this is the full compile
        time (README "First run"); with a warm cache, about a second.

    Raises
    ------
    ValueError
        A dtype other than float32 / float64, an empty ``dtypes``, processes < 1.
    TypeError
        processes not an int, progress not a bool.
    """
    if isinstance(dtypes, (str, np.dtype, type)):
        dtypes = (dtypes,)
    try:
        resolved = [np.dtype(d) for d in dtypes]
    except TypeError as exc:
        raise ValueError(f"warmup(): dtypes must be 'float32' and/or 'float64', "
                         f"got {dtypes!r}") from exc
    if not resolved or any(d not in _checks.FLOAT_DTYPES for d in resolved):
        raise ValueError(f"warmup(): dtypes must be a non-empty selection of 'float32' and "
                         f"'float64', got {dtypes!r}")
    if processes is None:
        processes = _default_processes()
    processes = _checks.positive_int("warmup", "processes", processes)
    progress = _checks.flag("warmup", "progress", progress)
    start = time.perf_counter()
    tasks = _tasks(list(dict.fromkeys(resolved)))
    if cache_dir() is None:
        processes = 1
    with _progress(len(tasks), progress) as update:
        if processes > 1:
            _compile_in_workers(tasks, processes, update)
        else:
            for task in tasks:
                _run_tasks([task])
                update()
    if processes > 1:
        _run_tasks(tasks)  # load what the workers compiled: no compiling left here
    return time.perf_counter() - start


def _compile_in_workers(tasks, processes, update):
    """Run ``tasks`` in ``processes`` fresh Python processes, shared out round-robin; they
    write the compiled kernels to the on-disk cache, which this process then loads.

    Plain subprocesses rather than multiprocessing: a spawned multiprocessing
    worker re-imports the caller's __main__, so a script that calls warmup()
    at top level without an ``if __name__ == "__main__"`` guard would fail.
    Each worker prints one line per finished task (the progress bar).
    """
    code = ("import json, sys; from fastnn._warmup import _worker; "
            "_worker(json.loads(sys.argv[1]))")
    lines = queue.Queue()
    workers = []
    for k in range(processes):
        share = tasks[k::processes]
        if not share:
            continue
        err = tempfile.TemporaryFile(mode="w+")
        proc = subprocess.Popen([sys.executable, "-c", code, json.dumps(share)],
                                stdout=subprocess.PIPE, stderr=err, text=True)
        reader = threading.Thread(target=lambda p=proc: [lines.put(1) for _ in p.stdout],
                                  daemon=True)
        reader.start()
        workers.append((proc, err, reader))
    for _ in range(len(tasks)):
        if all(proc.poll() is not None for proc, _, _ in workers) and lines.empty():
            break  # a worker died: its error is reported below
        try:
            update(lines.get(timeout=1.0))
        except queue.Empty:
            continue
    failed = []
    for proc, err, reader in workers:
        proc.wait()
        reader.join()
        err.seek(0)
        if proc.returncode != 0:
            failed.append(f"exit status {proc.returncode}: {err.read()[-2000:]}")
        err.close()
    if failed:
        raise RuntimeError("warmup(): a worker process failed; " + "; ".join(failed))


def _worker(tasks):
    """Body of a worker process: run its share of the tasks, one output line per task."""
    for task in tasks:
        _run_tasks([tuple(task)])
        print("done", flush=True)
