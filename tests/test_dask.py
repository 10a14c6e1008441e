"""fastnn.dask: predict over chunked arrays and data-parallel fit on a 2-process LocalCluster.

* predict equals forward on the whole array (NumPy and dask input, distributed and
  threaded schedulers) and puts the model in the graph once;
* fit after 3 steps equals single-process SGD with momentum (float64, rounding only);
* uneven shards (101 samples on 2 workers, batches of 25, dask chunks 30/30/41), Adam;
* a worker process killed mid-epoch: fit resumes and ends with the same weights;
* bad input: wrong chunking (rechunked), unknown sizes, mismatched x/y, closed client ...

The cluster is shared by the module (started once, closed by the fixture); the
model is float64 so "equal" means equal up to float rounding (rtol 1e-12).
"""
import copy
import os
import signal
import threading

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import fastnn  # noqa: E402
from fastnn import dask as fdask  # noqa: E402
from fastnn.data import minibatches  # noqa: E402

RTOL = 1e-12  # float64: the shard sums round differently from one whole-batch GEMM


def small_cnn(seed=0):
    rng = np.random.default_rng(seed)
    return fastnn.Sequential(
        fastnn.Conv2d(1, 4, 3, padding=1, rng=rng, dtype=np.float64), fastnn.ReLU(),
        fastnn.MaxPool2d(2), fastnn.Flatten(),
        fastnn.Linear(4 * 4 * 4, 10, rng=rng, dtype=np.float64))


def data(n, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 8, 8)), rng.integers(0, 10, n)


def single_process(model, make_opt, x, y, batch_size, epochs=1, seed=0):
    """The loop fdask.fit must reproduce."""
    model = copy.deepcopy(model)
    opt, loss = make_opt(model), fastnn.CrossEntropyLoss()
    rng = np.random.default_rng(seed) if seed is not None else None
    for _ in range(epochs):
        for xb, yb in minibatches(x, y, batch_size, rng):
            loss(model.forward(xb, training=True), yb)
            model.backward(loss.backward())
            opt.step()
    return model


def assert_same_weights(a, b, rtol=RTOL):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        np.testing.assert_allclose(sb[k], sa[k], rtol=rtol, atol=rtol * np.abs(sa[k]).max(),
                                   err_msg=k)


def sgd(model):
    return fastnn.SGD(model, lr=0.05, momentum=0.9)


@pytest.fixture(scope="module")
def client():
    # Dask sets worker start-up variables (OMP_NUM_THREADS, MALLOC_*) in this process's
    # environment; put it back so later tests' subprocesses do not inherit them.
    saved = dict(os.environ)
    try:
        with fdask.local_cluster(n_workers=2) as cluster, distributed.Client(cluster) as c:
            yield c
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def ready(client):
    """The shared client with both workers up (a test may have killed one)."""
    client.wait_for_workers(2, timeout=60)
    return client


# --------------------------------------------------------------------------- predict

def test_predict_numpy_on_cluster_equals_forward(ready):
    model = small_cnn()
    x, _ = data(50)
    out = fdask.predict(model, x, batch_size=16)  # chunks 16, 16, 16, 2
    assert isinstance(out, da.Array) and out.shape == (50, 10) and out.dtype == np.float64
    assert out.chunks == ((16, 16, 16, 2), (10,))
    np.testing.assert_allclose(out.compute(), model.forward(x, training=False), rtol=RTOL,
                               atol=1e-14)


def test_predict_dask_input_threaded_and_model_in_graph_once():
    model = small_cnn()
    x, _ = data(40)
    # wrong chunking: samples split along H and W; predict merges those chunks
    xd = da.from_array(x, chunks=(10, 1, 4, 4))
    out = fdask.predict(model, xd)
    assert out.chunks[0] == (10, 10, 10, 10)
    np.testing.assert_allclose(out.compute(scheduler="threads"),
                               model.forward(x, training=False), rtol=RTOL, atol=1e-14)
    # the model is one graph key shared by every chunk task
    graph = dict(out.__dask_graph__())
    holders = [k for k, v in graph.items() if isinstance(getattr(v, "value", v),
                                                          fastnn.Sequential)]
    assert len(holders) == 1
    # a snapshot: changing the model afterwards does not change the lazy result
    model.state_dict()["4.bias"][...] += 1.0
    np.testing.assert_allclose(out.compute(scheduler="sync"),
                               model.forward(x, training=False) - 1.0, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- fit

def test_fit_3_steps_equals_single_process_sgd_momentum(ready):
    model = small_cnn()
    x, y = data(96)
    expected = single_process(model, sgd, x, y, batch_size=32)
    history = fdask.fit(model, fastnn.CrossEntropyLoss(), sgd(model), x, y, client=ready,
                        batch_size=32, epochs=1, seed=0)
    assert history["steps"] == 3 and history["workers"] == 2
    assert history["shard_sizes"] == [48, 48]
    assert_same_weights(expected, model)


def test_local_cluster_tasks_use_one_kernel_thread(ready):
    def in_task():
        import numba
        fdask._match_threads()
        return numba.get_num_threads(), os.environ.get("MALLOC_MMAP_THRESHOLD_")
    workers = list(ready.scheduler_info()["workers"])
    results = ready.gather([ready.submit(in_task, workers=[w], pure=False) for w in workers])
    assert results == [(1, str(32 * 2**20))] * 2
    assert all(w["nthreads"] == 1 for w in ready.scheduler_info()["workers"].values())


def test_fit_without_client_starts_and_closes_a_cluster(monkeypatch):
    """client=None: fit builds fdask.local_cluster(n_workers) and closes it afterwards.

    (Here the factory is swapped for an in-process cluster, so the test does not pay
    for two more worker processes importing fastnn; the module's fixture exercises
    local_cluster itself.)"""
    made = []

    def in_process(n_workers=None, threads_per_worker=1):
        made.append(distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                             processes=False, dashboard_address=":0"))
        return made[-1]
    monkeypatch.setattr(fdask, "local_cluster", in_process)
    model = small_cnn(2)
    x, y = data(40)
    expected = single_process(model, sgd, x, y, batch_size=16)
    history = fdask.fit(model, fastnn.CrossEntropyLoss(), sgd(model), x, y, n_workers=2,
                        batch_size=16)
    assert len(made) == 1 and history["workers"] == 2 and history["steps"] == 3
    assert made[0].status.name == "closed"
    assert_same_weights(expected, model)


def test_fit_uneven_shards_numpy_and_dask(ready):
    x, y = data(101)
    model = small_cnn(3)
    expected = single_process(model, sgd, x, y, batch_size=25, epochs=2, seed=5)
    history = fdask.fit(model, fastnn.CrossEntropyLoss(), sgd(model), x, y, client=ready,
                        batch_size=25, epochs=2, seed=5)
    assert history["steps"] == 10 and sorted(history["shard_sizes"]) == [50, 51]
    assert_same_weights(expected, model)

    # dask arrays with uneven chunks (y as NumPy is chunked like x), Adam, stored order
    model = small_cnn(4)
    adam = lambda m: fastnn.Adam(m, lr=1e-2)  # noqa: E731
    expected = single_process(model, adam, x, y, batch_size=25, seed=None)
    xd = da.from_array(x, chunks=((30, 30, 41), 1, 8, 8))
    history = fdask.fit(model, fastnn.CrossEntropyLoss(), adam(model), xd, y, client=ready,
                        batch_size=25, seed=None)
    assert history["steps"] == 5 and sum(history["shard_sizes"]) == 101
    assert_same_weights(expected, model)


def test_fit_sum_reduction_and_one_sample_batch(ready):
    x, y = data(9)
    model = small_cnn(6)

    def make(m):
        return fastnn.SGD(m, lr=0.01)
    expected = copy.deepcopy(model)
    opt, loss = make(expected), fastnn.CrossEntropyLoss(reduction="sum")
    for xb, yb in minibatches(x, y, 4, np.random.default_rng(2)):  # 4, 4, 1
        loss(expected.forward(xb), yb)
        expected.backward(loss.backward())
        opt.step()
    fdask.fit(model, fastnn.CrossEntropyLoss(reduction="sum"), make(model), x, y,
              client=ready, batch_size=4, seed=2)
    assert_same_weights(expected, model)


def test_fit_survives_a_killed_worker(ready):
    """Kill one worker process during step 3 of 5: its shard is rebuilt, the step rerun."""
    x, y = data(160)
    model = small_cnn(7)
    expected = single_process(model, sgd, x, y, batch_size=32)
    pids = ready.run(os.getpid)
    victim = sorted(pids.values())[0]
    seen = []

    def on_step(step, loss):
        seen.append(step)
        if step == 2:  # kill it while step 3 is on its way (a step takes ~10-100 ms here)
            threading.Timer(0.005, os.kill, (victim, signal.SIGKILL)).start()

    history = fdask.fit(model, fastnn.CrossEntropyLoss(), sgd(model), x, y, client=ready,
                        batch_size=32, seed=0, on_step=on_step)
    assert seen == [1, 2, 3, 4, 5] and history["steps"] == 5
    assert victim not in ready.run(os.getpid).values()
    assert_same_weights(expected, model)


# --------------------------------------------------------------------------- bad input

def test_bad_input(ready):
    model = small_cnn()
    x, y = data(20)
    loss = fastnn.CrossEntropyLoss()
    with pytest.raises(ValueError, match="same length, got 20 and 19"):
        fdask.fit(model, loss, sgd(model), x, y[:19], client=ready)
    with pytest.raises(ValueError, match="same length"):
        fdask.fit(model, loss, sgd(model), da.from_array(x, chunks=5), y[:19], client=ready)
    with pytest.raises(TypeError, match="x must be a NumPy array or a dask.array, got list"):
        fdask.fit(model, loss, sgd(model), x.tolist(), y, client=ready)
    with pytest.raises(ValueError, match="optimizer must update this model"):
        fdask.fit(model, loss, sgd(small_cnn()), x, y, client=ready)
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum'"):
        fdask.fit(model, fastnn.CrossEntropyLoss(reduction="none"), sgd(model), x, y,
                  client=ready)
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        fdask.fit(model, loss, sgd(model), x, y, client=ready, batch_size=0)
    with pytest.raises(ValueError, match="n_workers only applies with client=None"):
        fdask.fit(model, loss, sgd(model), x, y, client=ready, n_workers=2)
    with pytest.raises(ValueError, match="x is empty"):
        fdask.fit(model, loss, sgd(model), x[:0], y[:0], client=ready)
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        xd = da.from_array(x, chunks=5)
        fdask.fit(model, loss, sgd(model), xd[xd[:, 0, 0, 0] > 0], y, client=ready)
    bad = y.copy()
    bad[13] = 10  # a class index out of range for 10 logits, met on a worker in step 1
    with pytest.raises(ValueError, match="fit\\(\\): step 1: .*the model holds the weights after "
                                         "step 0"):
        fdask.fit(model, loss, sgd(model), x, bad, client=ready, seed=None)
    # a closed client (connected to the same, still running, cluster)
    closed = distributed.Client(ready.cluster)
    closed.close()
    with pytest.raises(ValueError, match="the client is 'closed', not running"):
        fdask.fit(model, loss, sgd(model), x, y, client=closed)
    with pytest.raises(TypeError, match="client must be a distributed.Client"):
        fdask.fit(model, loss, sgd(model), x, y, client="tcp://127.0.0.1:8786")
    # predict
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        fdask.predict(model, x, batch_size=-1)
    with pytest.raises(TypeError, match="model must be a fastnn Layer"):
        fdask.predict(object(), x)
    with pytest.raises(ValueError, match="unknown sizes"):
        xd = da.from_array(x.reshape(20, -1), chunks=5)
        fdask.predict(model, xd[:, xd[0] > 0])
    with pytest.raises(ValueError):  # the model's own shape check, raised now on the driver
        fdask.predict(model, np.zeros((4, 3, 8, 8)))
    # nothing above changed the model
    assert_same_weights(small_cnn(), model, rtol=0)
