"""Thread safety, the threading layer, thread limits and run-to-run determinism.

* 8 Python threads calling the compiled ops at once get results bitwise equal
  to a serial run, and the process never aborts (README "Reliability").
* The threading layer is a thread-safe one (omp/tbb); a user's explicit
  NUMBA_THREADING_LAYER is respected, and with 'workqueue' (which aborts on
  concurrent launches) fastnn warns and serialises its ops.
* set_num_threads is bounded by NUMBA_NUM_THREADS.
* Two training runs from one seed give bit-identical weights.
"""
import pathlib
import subprocess
import sys
import textwrap
import threading

import numba
import numpy as np
import pytest

import fastnn
import fastnn.functional as F

ROOT = pathlib.Path(__file__).resolve().parents[1]
N_THREADS = 8
ITERATIONS = 15


def _inputs(dtype):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 3, 16, 16)).astype(dtype)
    w = rng.standard_normal((8, 3, 3, 3)).astype(dtype)
    b = rng.standard_normal(8).astype(dtype)
    go = rng.standard_normal((4, 8, 16, 16)).astype(dtype)
    a = rng.standard_normal((64, 300)).astype(dtype)
    m = rng.standard_normal((300, 40)).astype(dtype)
    logits = rng.standard_normal((128, 10)).astype(dtype)
    return x, w, b, go, a, m, logits


def _calls(dtype):
    """(id, zero-argument callable) for each op the threads hammer. Append a row for a new op."""
    x, w, b, go, a, m, logits = _inputs(dtype)
    target = np.arange(128) % 10
    probs = F.softmax(logits[::-1].copy())  # class probabilities / BCE targets
    p_in = F.sigmoid(logits)  # BCE input in (0, 1)
    mask = F.dropout(x, 0.5, generator=1, return_mask=True)[1]
    return [
        ("conv2d_direct", lambda: F.conv2d(x, w, b, padding=1, algorithm="direct")),
        ("conv2d_im2col", lambda: F.conv2d(x, w, b, padding=1, algorithm="im2col")),
        ("conv2d_backward", lambda: F.conv2d_backward(go, x, w, padding=1)),
        ("matmul", lambda: F.matmul(a, m)),
        ("linear", lambda: F.linear(a, m.T, m[0])),
        ("relu", lambda: F.relu(x)),
        ("softmax", lambda: F.softmax(logits)),
        ("cross_entropy_backward", lambda: F.cross_entropy_backward(1.0, logits, target)),
        ("max_pool2d", lambda: F.max_pool2d(x, 2, return_indices=True)),
        ("max_pool2d_ceil_backward", lambda: F.max_pool2d_backward(x[:, :, :8, :8], x, 3, 2,
                                                                   ceil_mode=True)),
        ("avg_pool2d", lambda: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False)),
        ("avg_pool2d_backward", lambda: F.avg_pool2d_backward(x[:, :, :8, :8], x, 2)),
        ("adaptive_avg_pool2d", lambda: F.adaptive_avg_pool2d(x, 1)),
        ("adaptive_avg_pool2d_backward", lambda: F.adaptive_avg_pool2d_backward(
            x[:, :, :1, :1], x, 1)),
        # training without running stats: the per-thread partial sums, nothing updated in place
        ("batch_norm", lambda: F.batch_norm(x, None, None, b[:3], b[3:6], training=True)),
        ("batch_norm_backward", lambda: F.batch_norm_backward(x, x, None, None, b[:3], True)),
        ("dropout", lambda: F.dropout(x, 0.5, generator=0, return_mask=True)),
        ("dropout_backward", lambda: F.dropout_backward(x, mask, 0.5)),
        ("mse_loss", lambda: F.mse_loss(logits, probs, "none")),
        ("mse_loss_backward", lambda: F.mse_loss_backward(1.0, logits, probs)),
        ("binary_cross_entropy", lambda: F.binary_cross_entropy(p_in, probs, "sum")),
        ("binary_cross_entropy_backward", lambda: F.binary_cross_entropy_backward(
            1.0, p_in, probs)),
        ("bce_with_logits", lambda: F.binary_cross_entropy_with_logits(logits, probs)),
        ("bce_with_logits_backward", lambda: F.binary_cross_entropy_with_logits_backward(
            1.0, logits, probs)),
        ("cross_entropy_probs", lambda: F.cross_entropy(logits, probs, reduction="none")),
        ("cross_entropy_probs_backward", lambda: F.cross_entropy_backward(1.0, logits, probs)),
    ]


def _flat(result):
    return result if isinstance(result, tuple) else (result,)


def _bitwise_equal(got, expected):
    return all(g.dtype == e.dtype and g.shape == e.shape and g.tobytes() == e.tobytes()
               for g, e in zip(_flat(got), _flat(expected)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_concurrent_calls_are_bitwise_equal_to_serial(dtype):
    calls = _calls(dtype)
    serial = {name: call() for name, call in calls}  # also compiles everything first
    errors, mismatches = [], []
    start = threading.Barrier(N_THREADS)

    def worker(k):
        try:
            start.wait()
            for i in range(ITERATIONS):
                # each thread walks the ops in its own order so different kernels overlap
                for name, call in calls[k % len(calls):] + calls[:k % len(calls)]:
                    if not _bitwise_equal(call(), serial[name]):
                        mismatches.append((k, i, name))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(N_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert not mismatches, mismatches[:10]


def test_threading_layer_is_thread_safe():
    F.relu(np.zeros(4))  # make sure Numba has launched its threads
    assert numba.threading_layer() in ("omp", "tbb")
    assert fastnn._threading.serialised is False


def run_python(code, **env):
    import os
    full_env = dict(os.environ, **env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=600, cwd=ROOT, env=full_env)


HAMMER = """
    import threading, warnings
    import numpy as np, numba
    import fastnn, fastnn.functional as F
    x = np.random.default_rng(0).standard_normal((8, 3, 16, 16)).astype(np.float32)
    w = np.random.default_rng(1).standard_normal((4, 3, 3, 3)).astype(np.float32)
    ref = F.conv2d(x, w, padding=1)
    bad = []
    def work():
        for _ in range(20):
            if not np.array_equal(F.conv2d(x, w, padding=1), ref) or F.relu(x).shape != x.shape:
                bad.append(1)
    ts = [threading.Thread(target=work) for _ in range(8)]
    [t.start() for t in ts]; [t.join() for t in ts]
    print(numba.config.THREADING_LAYER, numba.threading_layer(), fastnn._threading.serialised,
          len(bad))
"""


def test_workqueue_layer_warns_and_is_serialised_instead_of_aborting():
    # Without fastnn's lock this aborts the process ("Concurrent access has been detected").
    proc = run_python(HAMMER, NUMBA_THREADING_LAYER="workqueue")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["workqueue", "workqueue", "True", "0"]
    assert "RuntimeWarning" in proc.stderr and "workqueue" in proc.stderr


def test_explicit_threading_layer_is_respected():
    proc = run_python(HAMMER, NUMBA_THREADING_LAYER="omp")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["omp", "omp", "False", "0"]


def test_default_threading_layer_becomes_threadsafe():
    import os
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(HAMMER)], capture_output=True,
                          text=True, timeout=600, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    config, layer, serialised, bad = proc.stdout.split()
    assert (config, serialised, bad) == ("threadsafe", "False", "0") and layer in ("omp", "tbb")


def test_set_num_threads_is_bounded_by_numba_num_threads():
    proc = run_python("""
        import fastnn
        fastnn.set_num_threads(1)
        print(fastnn.get_num_threads())
        try:
            fastnn.set_num_threads(2)
        except ValueError as e:
            print(e)
    """, NUMBA_NUM_THREADS="1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0] == "1"
    assert "NUMBA_NUM_THREADS" in lines[1] and "[1, 1]" in lines[1] and "got 2" in lines[1]


def test_fastnn_thread_count_getter_agrees_with_numba(monkeypatch):
    # fastnn/_numba.py reads the count from the threading layer without Numba's locks:
    # it must give numba.get_num_threads()'s answer after set_num_threads, in the
    # main thread and in a new Python thread (Numba's count is per thread), and fall
    # back to the public function without the internals.
    from fastnn import _numba
    assert _numba._parallel is not None   # the fast path is exercised on this Numba
    saved = numba.get_num_threads()
    try:
        for threads in (1, numba.config.NUMBA_NUM_THREADS):
            fastnn.set_num_threads(threads)
            assert _numba.get_num_threads() == numba.get_num_threads() == threads
            seen = []
            worker = threading.Thread(target=lambda: seen.append(
                (_numba.get_num_threads(), numba.get_num_threads())))
            worker.start()
            worker.join()
            assert seen[0][0] == seen[0][1]
        monkeypatch.setattr(_numba, "_parallel", None)
        assert _numba.get_num_threads() == numba.get_num_threads()
        class Changed:   # initialised, but no longer has the getter
            _is_initialized = True
        monkeypatch.setattr(_numba, "_parallel", Changed())
        assert _numba.get_num_threads() == numba.get_num_threads()
        assert _numba._parallel is None
    finally:
        fastnn.set_num_threads(saved)


# --------------------------------------------------------------------------- determinism

def _train(seed, n_images=192, epochs=2):
    """A short run of the demo CNN on a digits subset; returns (weights, losses)."""
    from fastnn.data import load_digits, minibatches
    from fastnn.demo import build_cnn

    x, _, y, _ = load_digits(test_size=0.2, seed=0)
    x, y = x[:n_images], y[:n_images]
    model = build_cnn(seed)
    loss_fn = fastnn.CrossEntropyLoss()
    opt = fastnn.SGD(model, lr=0.05, momentum=0.9)
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(epochs):
        for xb, yb in minibatches(x, y, 32, rng):
            losses.append(float(loss_fn(model.forward(xb), yb)))
            model.backward(loss_fn.backward())
            opt.step()
    weights = [layer.params[name].copy() for layer, name in model.parameters()]
    return weights, losses


def test_training_is_bitwise_reproducible():
    pytest.importorskip("sklearn")
    w1, l1 = _train(seed=3)
    w2, l2 = _train(seed=3)
    assert l1 == l2
    assert all(a.tobytes() == b.tobytes() for a, b in zip(w1, w2))
    assert l1[-1] < l1[0]  # it did train
    w3, _ = _train(seed=4)
    assert any(a.tobytes() != b.tobytes() for a, b in zip(w1, w3))
