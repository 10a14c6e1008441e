"""Scale out with Dask: batch inference over chunked arrays and data-parallel training.

Needs the ``dask`` extra (``pip install "fastnn[dask]"``); fastnn never imports it.
:func:`predict` scores a chunked array lazily; :func:`fit` runs data-parallel
synchronous SGD on dask.distributed (replicas and shards on the workers, gradients
summed and the optimizer applied on the driver); :func:`local_cluster` is the
LocalCluster fit starts when no client is given. On a real cluster pass a
``distributed.Client`` (scheduler address, dask-jobqueue, dask-kubernetes); the
workers need the same fastnn installed. README "Scaling out" has the figures.
"""
import copy
import math
import numbers
import os
import time
import uuid

import numpy as np

from .training import _backward_to_parameters

try:
    import dask
    import dask.array as da
    import distributed
    from dask.core import flatten
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("fastnn.dask needs Dask; install the extra: "
                      "pip install \"fastnn[dask]\" (dask[array,distributed])") from exc

__all__ = ["predict", "fit", "local_cluster", "DEFAULT_CHUNK_ROWS"]

#: Rows per chunk when :func:`predict` chunks a NumPy array and no batch_size is given.
DEFAULT_CHUNK_ROWS = 256

# Seconds fit() waits with no worker in the cluster before it gives up.
_NO_WORKER_GRACE_S = 30.0


# --------------------------------------------------------------------------- checks

def _positive_int(owner, name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{owner}(): {name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{owner}(): {name} must be >= 1, got {value!r}")
    return int(value)


def _check_model(owner, model):
    for attr in ("forward", "backward", "parameters", "state_dict", "load_state_dict"):
        if not callable(getattr(model, attr, None)):
            raise TypeError(f"{owner}(): model must be a fastnn Layer or Sequential, "
                            f"got {type(model).__name__} (no {attr}())")


def _check_array(owner, name, x):
    if isinstance(x, da.Array):
        return x
    if isinstance(x, np.ndarray):
        return x
    raise TypeError(f"{owner}(): {name} must be a NumPy array or a dask.array, "
                    f"got {type(x).__name__}")


def _batch_chunked(owner, name, x):
    """``x`` (dask.array) with every axis but the first in one chunk; ValueError if unknown."""
    if x.ndim == 0:
        raise ValueError(f"{owner}(): {name} must have a batch axis, got a 0-d array")
    if any(math.isnan(s) for s in x.shape[1:]):
        raise ValueError(f"{owner}(): {name} has unknown sizes {x.shape} outside the batch "
                         "axis; call x.compute_chunk_sizes() first")
    if any(len(c) > 1 for c in x.chunks[1:]):
        # A sample must not be split across chunks: rechunk (documented) instead of failing.
        x = x.rechunk({axis: -1 for axis in range(1, x.ndim)})
    return x


def _check_client(owner, client):
    if not isinstance(client, distributed.Client):
        raise TypeError(f"{owner}(): client must be a distributed.Client or None, "
                        f"got {type(client).__name__}")
    if client.status != "running":
        raise ValueError(f"{owner}(): the client is {client.status!r}, not running (was it "
                         "closed?); pass an open distributed.Client or client=None")


def _clean_copy(obj, model=None):
    """A deep copy of ``obj`` without the forward caches and gradients of ``model``'s layers
    (and ``obj._cache``), which would otherwise travel with it."""
    memo = {}
    layers = model.named_layers() if model is not None else ()
    for _, layer in layers:
        if getattr(layer, "_cache", None) is not None:
            memo[id(layer._cache)] = None
        if isinstance(getattr(layer, "grads", None), dict):
            memo[id(layer.grads)] = {}
    if getattr(obj, "_cache", None) is not None:
        memo[id(obj._cache)] = None
    return copy.deepcopy(obj, memo)


# --------------------------------------------------------------------------- inference

def _predict_block(block, model):
    _match_threads()
    return model.forward(np.ascontiguousarray(block), training=False)


def predict(model, x, batch_size=None):
    """Lazy ``model.forward(x, training=False)`` over a chunked array, one task per chunk.

    Parameters
    ----------
    model : a fastnn Layer or Sequential
    x : dask.array or ndarray of shape (N, ...) -- the batch axis first
        A NumPy array is chunked along the batch axis (``batch_size`` rows per
        chunk, default :data:`DEFAULT_CHUNK_ROWS`). A dask.array keeps its
        batch chunks unless ``batch_size`` is given; chunks along any other axis
        are merged (``rechunk``), since a sample must not be split.
    batch_size : int >= 1 or None
        Rows per chunk, i.e. per task and per forward call.

    Returns
    -------
    dask.array of shape (N, ...) -- the model's output, chunked like x along the
    batch axis; nothing is computed until ``.compute()`` (or ``.persist()``,
    ``da.store`` ...), on whatever scheduler is active: the threaded scheduler
    by default, the cluster when a ``distributed.Client`` exists.

    Raises
    ------
    TypeError for a model without forward() or an x that is neither array kind;
    ValueError for a bad batch_size or unknown sizes outside the batch axis; the
    model's own error if one sample of x does not fit it (checked now, on the
    driver, with a forward pass on a single row of zeros).

    Notes
    -----
    The model is copied now (later changes to ``model`` do not affect the
    result) and enters the graph as ONE ``dask.delayed`` object that every chunk
    task takes: each worker receives it once, it is not pickled into every task.
    Threads of the threaded scheduler share that copy (safe: workspaces are per
    thread), but the kernels hold the GIL (no ``nogil``): use processes to scale.
    """
    _check_model("predict", model)
    x = _check_array("predict", "x", x)
    if batch_size is not None:
        batch_size = _positive_int("predict", "batch_size", batch_size)
    if isinstance(x, np.ndarray):
        if x.ndim == 0:
            raise ValueError("predict(): x must have a batch axis, got a 0-d array")
        rows = batch_size or DEFAULT_CHUNK_ROWS
        x = da.from_array(x, chunks=(rows,) + x.shape[1:])
    else:
        x = _batch_chunked("predict", "x", x)
        if batch_size is not None:
            x = x.rechunk({0: batch_size})
    probe = np.asarray(model.forward(np.zeros((1,) + x.shape[1:], dtype=x.dtype),
                                     training=False))
    out_tail = probe.shape[1:]
    out_ndim = probe.ndim
    kwargs = {}
    if out_ndim < x.ndim:
        kwargs["drop_axis"] = list(range(out_ndim, x.ndim))
    elif out_ndim > x.ndim:
        kwargs["new_axis"] = list(range(x.ndim, out_ndim))
    snapshot = dask.delayed(_clean_copy(model, model), pure=False)
    return da.map_blocks(_predict_block, x, snapshot, dtype=probe.dtype,
                         chunks=(x.chunks[0],) + tuple((s,) for s in out_tail),
                         meta=np.empty((0,) * out_ndim, dtype=probe.dtype),
                         name="fastnn-predict-" + uuid.uuid4().hex, **kwargs)


# --------------------------------------------------------------------------- cluster

#: Environment of local_cluster's worker processes, set before they start (a user's own
#: value of a variable wins). glibc's default serves every allocation above 128 KiB -- each
#: layer output of a batch -- with a fresh mmap, which page-faults on every touch (and
#: Dask's MALLOC_TRIM_THRESHOLD_ freezes that threshold); allocations up to 32 MiB from
#: the heap instead made LeNet-5 inference on 500 images 75-120 ms -> 44 ms per chunk on
#: one thread (2-core development machine). Note: like Dask's own pre-spawn variables,
#: these stay set in the process that starts the cluster (they only affect its children).
WORKER_PRE_SPAWN_ENV = {"MALLOC_MMAP_THRESHOLD_": str(32 * 2**20)}

#: Worker environment variable naming the number of threads fastnn's kernels use in a
#: task (each task sets it with numba.set_num_threads, capped by NUMBA_NUM_THREADS).
THREADS_ENV = "FASTNN_DASK_THREADS"


class _Nanny(distributed.Nanny):
    """A Nanny that starts its worker process with WORKER_PRE_SPAWN_ENV set."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for key, value in WORKER_PRE_SPAWN_ENV.items():
            value = os.environ.get(key, value)
            self.pre_spawn_env.setdefault(key, value)
            self.env.setdefault(key, value)


def _match_threads():
    """In a worker started with THREADS_ENV: use that many kernel threads in this task."""
    n = os.environ.get(THREADS_ENV)
    if n:
        import numba
        numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))


def local_cluster(n_workers=None, threads_per_worker=1, **kwargs):
    """A ``distributed.LocalCluster`` of worker processes set up for fastnn.

    ``n_workers`` processes (default: the number of CPU cores) with
    ``threads_per_worker`` threads each. Every task of :func:`predict` and
    :func:`fit` on these workers runs fastnn's parallel kernels with
    ``threads_per_worker`` threads (the FASTNN_DASK_THREADS variable, which
    you can also set on the workers of any cluster), not one per core in every
    process. The workers start with a larger glibc mmap threshold
    (:data:`WORKER_PRE_SPAWN_ENV`), which halves inference time here. They import
    fastnn from the same files as this process and so share its Numba on-disk
    cache (NUMBA_CACHE_DIR is inherited when set). Extra keyword arguments go to
    LocalCluster (the dashboard gets a free port: ``cluster.dashboard_link``). Close it
    (``cluster.close()`` or a ``with`` block) when done.
    """
    n_workers = _positive_int("local_cluster", "n_workers", n_workers or os.cpu_count() or 1)
    threads_per_worker = _positive_int("local_cluster", "threads_per_worker", threads_per_worker)
    env = dict(kwargs.pop("env", {}))
    env.setdefault(THREADS_ENV, str(threads_per_worker))
    kwargs.setdefault("dashboard_address", ":0")  # a free port: never clashes with 8787
    kwargs.setdefault("worker_class", _Nanny)
    return distributed.LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                                    processes=True, env=env, **kwargs)


# --------------------------------------------------------------------------- training: workers

# Worker-side replicas, {(session, shard): (model, loss)}; lives in the worker process.
_REPLICAS = {}


def _identity(value):
    return value


def _gather_rows(chunks, rows):
    """Rows ``rows`` (positions in the concatenation of ``chunks``) as one contiguous array."""
    if len(chunks) == 1:
        return np.ascontiguousarray(chunks[0][rows])
    bounds = np.cumsum([0] + [len(c) for c in chunks])
    part = np.searchsorted(bounds, rows, side="right") - 1
    out = np.empty((len(rows),) + chunks[0].shape[1:], dtype=chunks[0].dtype)
    for p in np.unique(part):
        sel = part == p
        out[sel] = chunks[p][rows[sel] - bounds[p]]
    return out


def _shard_step(session, shard, template, state, xs, ys, rows):
    """One shard's part of a step: load the driver's weights, forward/backward on ``rows``.

    Returns (rows, loss, {param name: grad}, {buffer name: array}).
    """
    _match_threads()
    replica = _REPLICAS.get((session, shard))
    if replica is None:
        replica = _REPLICAS[(session, shard)] = copy.deepcopy(template)
    model, loss_fn = replica
    model.load_state_dict(state)
    xb, yb = _gather_rows(xs, rows), _gather_rows(ys, rows)
    value = loss_fn(model.forward(xb, training=True), yb)
    _backward_to_parameters(model, loss_fn.backward())
    grads, buffers = {}, {}
    for prefix, layer in model.named_layers():
        for name in layer.params:
            grads[prefix + name] = layer.grads[name]
        for name, array in getattr(layer, "buffers", {}).items():
            buffers[prefix + name] = array
    return len(rows), float(value), grads, buffers


def _forget(session):
    for key in [k for k in _REPLICAS if k[0] == session]:
        del _REPLICAS[key]


# --------------------------------------------------------------------------- training: driver

def _shards_from_numpy(client, x, y, addrs):
    """One contiguous shard per worker (np.array_split: sizes differ by at most one)."""
    n = len(x)
    bounds = np.linspace(0, n, min(len(addrs), n) + 1).round().astype(int)
    shards = []
    for i, addr in enumerate(addrs[:len(bounds) - 1]):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        # submit (not scatter): the scheduler keeps the task, so a shard lost with its
        # worker is rebuilt on another worker.
        xf = client.submit(_identity, np.ascontiguousarray(x[lo:hi]), workers=[addr],
                           allow_other_workers=True, pure=False)
        yf = client.submit(_identity, np.ascontiguousarray(y[lo:hi]), workers=[addr],
                           allow_other_workers=True, pure=False)
        shards.append(dict(addr=addr, xs=[xf], ys=[yf], index=np.arange(lo, hi)))
    return shards


def _shards_from_dask(client, x, y, addrs):
    """The chunks of x already on each worker form its shard (persisting them first)."""
    if isinstance(y, np.ndarray):
        y = da.from_array(y, chunks=(x.chunks[0],) + y.shape[1:])
    else:
        y = _batch_chunked("fit", "y", y).rechunk({0: x.chunks[0]})
    x, y = client.persist([x, y])
    xkeys = list(flatten(x.__dask_keys__()))
    ykeys = list(flatten(y.__dask_keys__()))
    xfuts = {f.key: f for f in distributed.futures_of(x)}
    yfuts = {f.key: f for f in distributed.futures_of(y)}
    xfs = [xfuts[k] for k in xkeys]
    yfs = [yfuts[k] for k in ykeys]
    distributed.wait(xfs + yfs)
    who = client.who_has(xfs)
    starts = np.cumsum((0,) + x.chunks[0])
    groups = {}
    for i, key in enumerate(xkeys):
        holders = sorted(who.get(key) or addrs[:1])
        groups.setdefault(holders[0], []).append(i)
    shards = []
    for addr in sorted(groups):
        idx = groups[addr]
        shards.append(dict(addr=addr, xs=[xfs[i] for i in idx], ys=[yfs[i] for i in idx],
                           index=np.concatenate([np.arange(starts[i], starts[i + 1])
                                                 for i in idx])))
    return shards


def _workers(client):
    return sorted(client.scheduler_info().get("workers", {}))


def _wait_all(client, futures, step):
    """Wait for ``futures``; RuntimeError when the cluster has had no worker for a while."""
    no_worker_since = None
    while True:
        try:
            distributed.wait(futures, timeout=1.0)
            return
        except TimeoutError:
            pass
        if _workers(client):
            no_worker_since = None
        elif no_worker_since is None:
            no_worker_since = time.monotonic()
        elif time.monotonic() - no_worker_since > _NO_WORKER_GRACE_S:
            raise RuntimeError(f"fit(): no worker left in the cluster during step {step}; "
                               "the model holds the weights after the last completed step")


def fit(model, loss, optimizer, x, y, client=None, batch_size=32, epochs=1, seed=0,
        n_workers=None, on_step=None):
    """Data-parallel synchronous SGD on dask.distributed; updates ``model`` in place.

    Equivalent to the single-process loop (same global batches, same order)::

        rng = numpy.random.default_rng(seed)
        for epoch in range(epochs):
            for xb, yb in fastnn.data.minibatches(x, y, batch_size, rng):
                loss(model.forward(xb, training=True), yb)
                model.backward(loss.backward(), input_grad=False)
                optimizer.step()

    Parameters
    ----------
    model : a fastnn Layer or Sequential -- the driver's copy, which holds the
        weights between steps and at the end
    loss : a fastnn loss object with reduction 'mean' or 'sum' (CrossEntropyLoss ...)
    optimizer : an optimizer of ``model`` (fastnn.SGD, fastnn.Adam: anything with
        ``.model is model`` and ``step()``); it runs on the driver, so its state
        (momentum, Adam moments) is the one single-process training would have
    x : ndarray or dask.array (N, ...); y : ndarray or dask.array (N, ...)
        A NumPy x is split into one contiguous shard per worker (sizes differ by
        at most one); a dask.array x is persisted and each worker's shard is the
        chunks already in its memory (y is rechunked to x's batch chunks).
        Chunks along non-batch axes are merged.
    client : distributed.Client or None
        None starts :func:`local_cluster` (``n_workers`` processes, one thread
        each) and closes it at the end; a client runs on its cluster (every
        worker present when fit starts gets one shard). Gradients are fetched
        as the client's ``direct_to_workers`` setting says (the embedded client
        sets it: one hop less per step than through the scheduler).
    batch_size, epochs : ints >= 1 -- the GLOBAL batch (split across workers)
    seed : int or None -- the shuffle: each epoch takes the next permutation of
        ``numpy.random.default_rng(seed)``; None keeps the stored order
    n_workers : int or None -- only with client=None (default: CPU cores)
    on_step : callable(step, loss) or None -- called on the driver after each
        update (step counts from 1 across epochs; loss is the global-batch loss)

    Returns
    -------
    dict: 'loss' (mean training loss per epoch), 'epoch_s' (seconds per epoch),
    'samples_per_s' (per epoch), 'steps' (total), 'workers' (at the start),
    'shard_sizes' (samples per shard).

    Raises
    ------
    TypeError for wrong argument types; ValueError for mismatched x/y lengths,
    an empty x, non-positive batch_size/epochs, an optimizer of another model,
    a loss with reduction 'none', a closed client or one with no workers, or
    n_workers together with a client; RuntimeError when the cluster has lost
    every worker (after a grace period) -- the model then holds the weights of
    the last completed step.

    Notes
    -----
    Design: the driver applies the update and broadcasts it. Each step, every
    shard's task receives the driver's full state_dict, loads it into its
    replica, runs forward/backward on its rows of the global batch and returns
    its gradients. With n_s of the B rows on shard s and reduction 'mean', the
    driver sums ``(n_s / B) * g_s`` in a fixed shard order, which is the
    gradient of the global-batch mean loss (weights 1 for 'sum'); then the
    user's optimizer steps: 2 x parameter bytes per worker and step. Replicas
    never own weights (each step overwrites them), cannot drift apart, and any
    optimizer works unchanged; the cost is that the driver is a hub (N x 2 x
    parameter bytes per step), where a ring all-reduce would scale further.

    Exactness: the sum over shards rounds differently from one GEMM over the
    whole batch (and workers use one thread), so the weights equal single-process
    training up to float rounding: measured relative differences <= 5e-16 in
    float64 after 3 steps and ~1e-6 in float32 after 180 steps (with one
    worker, bit-identical). Layers that depend on the
    batch break exactness, as in PyTorch DDP: BatchNorm normalises with each
    shard's statistics (running statistics are averaged over shards, weighted
    by rows), Dropout draws its masks on each replica.

    Fault behaviour: resume. Shards and step tasks are ordinary Dask tasks that
    may run on any worker, so when a worker dies mid-epoch Dask rebuilds its
    shard on a surviving (or restarted) worker -- from the NumPy slice the
    scheduler keeps, or from the dask.array's graph -- and reruns the shard's
    step there. The update waits for every shard's gradient, so a step is
    applied entirely or not at all, and since the shard split and the
    summation order do not depend on placement, the result is the same as
    without the failure. When no worker is left for 30 s (or a step fails for
    another reason, e.g. Dask's KilledWorker after a task killed 3 workers),
    fit raises and the model keeps the weights of the last completed step.
    """
    _check_model("fit", model)
    if not callable(getattr(loss, "forward", None)) or \
            not callable(getattr(loss, "backward", None)):
        raise TypeError(f"fit(): loss must be a fastnn loss object (forward/backward), "
                        f"got {type(loss).__name__}")
    reduction = getattr(loss, "reduction", "mean")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"fit(): loss.reduction must be 'mean' or 'sum' to combine shard "
                         f"gradients, got {reduction!r}")
    if not callable(getattr(optimizer, "step", None)):
        raise TypeError(f"fit(): optimizer must have step(), got {type(optimizer).__name__}")
    if getattr(optimizer, "model", None) is not model:
        raise ValueError("fit(): optimizer must update this model (optimizer.model is model); "
                         "build it as e.g. fastnn.SGD(model, lr=...)")
    x = _check_array("fit", "x", x)
    y = _check_array("fit", "y", y)
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(f"fit(): x and y need a batch axis, got shapes {x.shape} and {y.shape}")
    if isinstance(x, da.Array):
        x = _batch_chunked("fit", "x", x)
        if any(math.isnan(c) for c in x.chunks[0]):
            raise ValueError("fit(): x has unknown chunk sizes along the batch axis; call "
                             "x.compute_chunk_sizes() first")
    if isinstance(y, da.Array) and any(math.isnan(s) for s in y.shape):
        raise ValueError("fit(): y has unknown sizes; call y.compute_chunk_sizes() first")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"fit(): x and y must have the same length, got {x.shape[0]} "
                         f"and {y.shape[0]}")
    n = int(x.shape[0])
    if n == 0:
        raise ValueError("fit(): x is empty")
    batch_size = _positive_int("fit", "batch_size", batch_size)
    epochs = _positive_int("fit", "epochs", epochs)
    if seed is not None and (isinstance(seed, (bool, np.bool_))
                             or not isinstance(seed, numbers.Integral)):
        raise TypeError(f"fit(): seed must be an int or None, got {seed!r}")
    if on_step is not None and not callable(on_step):
        raise TypeError(f"fit(): on_step must be callable or None, got {on_step!r}")
    if client is not None:
        _check_client("fit", client)
        if n_workers is not None:
            raise ValueError("fit(): n_workers only applies with client=None (the embedded "
                             "LocalCluster); size your own cluster instead")
        return _fit(model, loss, optimizer, x, y, client, batch_size, epochs, seed, on_step)
    # direct_to_workers: gradients come straight from the workers, not via the scheduler
    with local_cluster(n_workers) as cluster, \
            distributed.Client(cluster, direct_to_workers=True) as own:
        return _fit(model, loss, optimizer, x, y, own, batch_size, epochs, seed, on_step)


def _fit(model, loss, optimizer, x, y, client, batch_size, epochs, seed, on_step):
    addrs = _workers(client)
    if not addrs:
        raise ValueError("fit(): the client's cluster has no workers")
    if isinstance(x, np.ndarray):
        shards = _shards_from_numpy(client, x, np.asarray(y), addrs)
    else:
        shards = _shards_from_dask(client, x, y, addrs)
    n = int(x.shape[0])
    shard_of = np.empty(n, dtype=np.int64)
    pos_in_shard = np.empty(n, dtype=np.int64)
    for s, shard in enumerate(shards):
        shard_of[shard["index"]] = s
        pos_in_shard[shard["index"]] = np.arange(len(shard["index"]))

    session = uuid.uuid4().hex
    # One (model, loss) object per worker, fetched by each worker once. A task rather than
    # scatter: the scheduler keeps it, so it survives the loss of every worker holding it.
    template = client.submit(_identity, (_clean_copy(model, model), _clean_copy(loss)),
                             pure=False)
    params = {}   # state name -> (layer, param name) of the driver's model
    buffers = {}  # state name -> live buffer array of the driver's model
    for prefix, layer in model.named_layers():
        for name in layer.params:
            params[prefix + name] = (layer, name)
        for name, array in getattr(layer, "buffers", {}).items():
            buffers[prefix + name] = array

    history = dict(loss=[], epoch_s=[], samples_per_s=[], steps=0, workers=len(addrs),
                   shard_sizes=[len(s["index"]) for s in shards])
    rng = np.random.default_rng(seed) if seed is not None else None
    try:
        for _ in range(epochs):
            t0 = time.perf_counter()
            order = rng.permutation(n) if rng is not None else np.arange(n)
            total = 0.0
            for start in range(0, n, batch_size):
                idx = order[start:start + batch_size]
                value = _step(client, session, template, shards, model, optimizer, params,
                              buffers, idx, shard_of, pos_in_shard, reduction=loss.reduction,
                              step=history["steps"] + 1)
                history["steps"] += 1
                total += value * len(idx) if loss.reduction == "mean" else value
                if on_step is not None:
                    on_step(history["steps"], value)
            elapsed = time.perf_counter() - t0
            history["loss"].append(total / n)
            history["epoch_s"].append(elapsed)
            history["samples_per_s"].append(n / elapsed)
    finally:
        if client.status == "running":
            try:
                client.run(_forget, session)
            except Exception:  # pragma: no cover - best effort cleanup on a failing cluster
                pass
            client.cancel([template] + [f for s in shards for f in s["xs"] + s["ys"]])
    return history


def _step(client, session, template, shards, model, optimizer, params, buffers, idx,
          shard_of, pos_in_shard, reduction, step):
    state = {k: np.array(v, copy=True) for k, v in model.state_dict().items()}
    owners = shard_of[idx]
    futures, counts = [], []
    for s, shard in enumerate(shards):
        rows = pos_in_shard[idx[owners == s]]
        if len(rows) == 0:
            continue
        futures.append(client.submit(_shard_step, session, s, template, state, shard["xs"],
                                     shard["ys"], rows, workers=[shard["addr"]],
                                     allow_other_workers=True, pure=False,
                                     key=f"fastnn-step-{session}-{step}-{s}"))
        counts.append(len(rows))
    try:
        _wait_all(client, futures, step)
        results = client.gather(futures)
    except Exception as exc:
        client.cancel(futures)
        if isinstance(exc, RuntimeError) and str(exc).startswith("fit():"):
            raise
        if type(exc) in (ValueError, TypeError):  # bad data met on a worker (e.g. a label)
            raise type(exc)(f"fit(): step {step}: {exc}; the model holds the weights after "
                            f"step {step - 1}") from exc
        raise RuntimeError(f"fit(): step {step} failed on the cluster ({type(exc).__name__}: "
                           f"{exc}); the model holds the weights after step {step - 1}") from exc
    total_rows = len(idx)
    weights = [(c / total_rows) if reduction == "mean" else 1.0 for c in counts]
    value = 0.0
    summed = {}
    for w, (_, shard_loss, grads, shard_buffers) in zip(weights, results):
        value += w * shard_loss
        for name, g in grads.items():
            t = g.dtype.type
            if name in summed:
                summed[name] += t(w) * g
            else:
                summed[name] = t(w) * g
    for name, (layer, pname) in params.items():
        layer.grads[pname] = summed[name]
    for name, array in buffers.items():
        if np.issubdtype(array.dtype, np.floating):
            array[...] = sum(c / total_rows * r[3][name] for c, r in zip(counts, results))
        else:  # counters (e.g. batches seen): every shard saw the same step
            array[...] = results[0][3][name]
    optimizer.step()
    return value
