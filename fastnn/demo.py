"""``python -m fastnn demo``: train a small CNN on scikit-learn's 8x8 digits with both backends.

The same network, from the same initial weights and the same batch order, is
trained once on the Numba backend and once on the NumPy reference backend, so
the per-epoch times compare like with like. Each backend first runs one
untimed forward/backward pass (the warm-up: JIT compilation or loading the
cached machine code for the Numba kernels), reported on its own line; epoch
times exclude it.
"""
import time

import numpy as np

from . import _backend
from .data import load_digits, minibatches
from .layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU
from .losses import CrossEntropyLoss
from .containers import Sequential
from .optim import SGD

DEFAULTS = dict(epochs=8, batch_size=32, lr=0.05, momentum=0.9, seed=0, backend="both")


def build_cnn(seed):
    """conv(1->16, 3x3, pad 1)-relu-pool2-conv(16->32, 3x3, pad 1)-relu-pool2-flatten-linear(128->10).

    He-normal weights, zero biases, float32; the same ``seed`` gives the same weights.
    Input (N, 1, 8, 8) -> logits (N, 10).
    """
    rng = np.random.default_rng(seed)
    return Sequential(
        Conv2d(1, 16, 3, padding=1, rng=rng), ReLU(), MaxPool2d(2),     # -> (N, 16, 4, 4)
        Conv2d(16, 32, 3, padding=1, rng=rng), ReLU(), MaxPool2d(2),    # -> (N, 32, 2, 2)
        Flatten(), Linear(32 * 2 * 2, 10, rng=rng),                     # -> (N, 10)
    )


def accuracy(model, x, y, batch_size=256):
    """Fraction of ``x`` whose arg-max logit equals ``y`` (inference mode)."""
    correct = 0
    for xb, yb in minibatches(x, y, batch_size):
        correct += int(np.sum(np.argmax(model.forward(xb, training=False), axis=1) == yb))
    return correct / len(x)


def train(backend, data, epochs, batch_size, lr, momentum, seed, progress=True, log=print):
    """Train ``build_cnn(seed)`` on ``backend``; returns a dict of per-epoch results.

    Keys: 'warmup_s' (the untimed first pass), 'epoch_s', 'loss', 'train_acc',
    'test_acc' (lists, one entry per epoch).
    """
    from tqdm.auto import tqdm

    x_train, x_test, y_train, y_test = data
    result = dict(epoch_s=[], loss=[], train_acc=[], test_acc=[])
    with _backend.backend(backend):
        model = build_cnn(seed)
        loss_fn = CrossEntropyLoss()
        # Warm-up on a scratch copy of the model so the real one starts untouched.
        scratch = build_cnn(seed)
        t0 = time.perf_counter()
        loss_fn(scratch.forward(x_train[:batch_size]), y_train[:batch_size])
        scratch.backward(loss_fn.backward())
        accuracy(scratch, x_test[:batch_size], y_test[:batch_size])
        result["warmup_s"] = time.perf_counter() - t0
        log(f"[{backend}] warm-up (compile or load cached kernels): {result['warmup_s']:.2f} s")

        opt = SGD(model, lr=lr, momentum=momentum)
        rng = np.random.default_rng(seed)
        n_batches = -(-len(x_train) // batch_size)
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            total = 0.0
            bar = tqdm(minibatches(x_train, y_train, batch_size, rng), total=n_batches,
                       desc=f"[{backend}] epoch {epoch}/{epochs}", leave=False,
                       disable=not progress)
            for xb, yb in bar:
                loss = loss_fn(model.forward(xb), yb)
                model.backward(loss_fn.backward())
                opt.step()
                total += float(loss) * len(xb)
                bar.set_postfix(loss=f"{float(loss):.3f}")
            elapsed = time.perf_counter() - t0  # training only; evaluation is not timed
            result["epoch_s"].append(elapsed)
            result["loss"].append(total / len(x_train))
            result["train_acc"].append(accuracy(model, x_train, y_train))
            result["test_acc"].append(accuracy(model, x_test, y_test))
            log(f"[{backend}] epoch {epoch:2d}  loss {result['loss'][-1]:.4f}  "
                f"train acc {result['train_acc'][-1]:.4f}  test acc {result['test_acc'][-1]:.4f}"
                f"  time {elapsed:.3f} s")
    return result


def run(epochs=DEFAULTS["epochs"], batch_size=DEFAULTS["batch_size"], lr=DEFAULTS["lr"],
        momentum=DEFAULTS["momentum"], seed=DEFAULTS["seed"], backend=DEFAULTS["backend"],
        progress=True, log=print):
    """Run the demo; returns {backend name: train() result}. See ``python -m fastnn demo --help``."""
    data = load_digits(test_size=0.2, seed=seed)
    log(f"digits: {len(data[0])} train / {len(data[1])} test images of 8x8, 10 classes")
    log(f"model: {build_cnn(seed)!r}".replace("\n", "\n       "))
    log(f"SGD lr={lr} momentum={momentum}, batch size {batch_size}, {epochs} epochs, "
        f"seed {seed}, {_backend.get_num_threads()} Numba threads")
    names = ["numba", "numpy"] if backend == "both" else [backend]
    results = {name: train(name, data, epochs, batch_size, lr, momentum, seed, progress, log)
               for name in names}

    log("")
    header = "epoch" + "".join(f"  {name + ' s':>9s}" for name in names)
    if len(names) == 2:
        header += "  numpy/numba"
    log(header)
    for e in range(epochs):
        row = f"{e + 1:5d}" + "".join(f"  {results[n]['epoch_s'][e]:9.3f}" for n in names)
        if len(names) == 2:
            row += f"  {results['numpy']['epoch_s'][e] / results['numba']['epoch_s'][e]:10.2f}x"
        log(row)
    for n in names:
        r = results[n]
        log(f"{n}: median epoch {np.median(r['epoch_s']):.3f} s, warm-up {r['warmup_s']:.2f} s, "
            f"final test accuracy {r['test_acc'][-1]:.4f}")
    return results
