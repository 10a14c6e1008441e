"""``python -m fastnn demo``: train a small CNN on scikit-learn's 8x8 digits with both backends.

The same network, from the same initial weights and the same batch order, is
trained once on the Numba backend and once on the NumPy reference backend, so
the per-epoch times compare like with like. Each backend first runs one
untimed forward/backward pass (the warm-up: JIT compilation or loading the
cached machine code for the Numba kernels), reported on its own line; epoch
times exclude it. Training is :func:`fastnn.fit` over a shuffled
:class:`fastnn.DataLoader`; ``--plots DIR`` also writes the pictures of
:mod:`fastnn.vis` (:func:`write_plots`).
"""
import functools
import os
import time

import numpy as np

from . import _backend
from .containers import Sequential
from .data import load_digits
from .layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU
from .losses import CrossEntropyLoss
from .optim import SGD
from .training import DataLoader, accuracy, fit

__all__ = ["DEFAULTS", "build_cnn", "accuracy", "train", "write_plots", "run"]

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


def train(backend, data, epochs, batch_size, lr, momentum, seed, progress=True, log=print):
    """Train ``build_cnn(seed)`` on ``backend`` with :func:`fastnn.fit`; returns per-epoch results.

    Keys: 'warmup_s' (the untimed first pass), 'epoch_s', 'loss', 'train_acc'
    (running accuracy over the epoch's batches), 'test_acc' (lists, one entry
    per epoch), 'history' (fit's history) and 'model' (the trained network).
    """
    x_train, x_test, y_train, y_test = data
    with _backend.backend(backend):
        loss_fn = CrossEntropyLoss()
        # Warm-up on a scratch copy of the model so the real one starts untouched.
        scratch = build_cnn(seed)
        if backend == "numba":
            _announce_compile(log)
        t0 = time.perf_counter()
        loss_fn(scratch.forward(x_train[:batch_size]), y_train[:batch_size])
        scratch.backward(loss_fn.backward(), input_grad=False)   # as fit() does
        scratch.predict(x_test[:batch_size])
        warmup_s = time.perf_counter() - t0
        log(f"[{backend}] warm-up (compile or load cached kernels): {warmup_s:.2f} s")

        def report(epoch, logs):
            log(f"[{backend}] epoch {epoch + 1:2d}  loss {logs['loss']:.4f}  "
                f"train acc {logs['accuracy']:.4f}  test acc {logs['val_accuracy']:.4f}"
                f"  time {logs['time']:.3f} s")

        model = build_cnn(seed)
        loader = DataLoader(x_train, y_train, batch_size, shuffle=True, seed=seed)
        history = fit(model, loss_fn, SGD(model, lr=lr, momentum=momentum), loader, epochs,
                      val_data=(x_test, y_test), callbacks=[report], progress=progress)
    return dict(warmup_s=warmup_s, epoch_s=history["time"], loss=history["loss"],
                train_acc=history["accuracy"], test_acc=history["val_accuracy"],
                history=history, model=model)


def _announce_compile(log):
    """Say so when the first step is about to compile (cold cache) instead of going silent."""
    from . import _warmup  # imports Numba: only for the compiled backend
    if _warmup.kernels_cached():
        return
    where = _warmup.cache_dir()
    log(f"[numba] compiling kernels for this CPU, once: about {_warmup.COLD_FIRST_STEP_S} s on "
        "2 cores (" + (f"kept in {where}; later runs load them in about a second"
                       if where else "caching is off: every run compiles")
        + "). `python -m fastnn warmup` does it ahead of time.")


def write_plots(model, history, data, out_dir, log=print):
    """Write the five pictures of :mod:`fastnn.vis` for the trained digits CNN into ``out_dir``.

    filters.png (the 16 first-layer 3x3 filters), feature_maps.png (a test
    image and its maps after the first and second conv + ReLU),
    max_patches.png (for the four most active channels of the second conv +
    ReLU, the 9 test images' 8x8 patches that excite them most),
    saliency.png (8 test images and d score / d input) and history.png.
    Returns the list of paths written.
    """
    from . import vis

    plt = vis._pyplot()
    x_test, y_test = data[1], data[3]
    os.makedirs(out_dir, exist_ok=True)
    path = functools.partial(os.path.join, out_dir)
    figs = [vis.plot_filters(model[0], path=path("filters.png"),
                             title="first-layer filters (white +, black -)")]

    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6), dpi=100,
                             gridspec_kw=dict(width_ratios=[1, 1.5, 1.5]))
    axes[0].imshow(x_test[0, 0], cmap="gray", interpolation="nearest")
    axes[0].set_title(f"input (label {y_test[0]})", fontsize=9)
    axes[0].set_axis_off()
    vis.plot_feature_maps(model, x_test[0], 1, ax=axes[1], title="after conv 1 + ReLU")
    vis.plot_feature_maps(model, x_test[0], 4, ax=axes[2], title="after conv 2 + ReLU")
    figs.append(_finish(fig, path("feature_maps.png")))

    layer = 4  # ReLU after the second conv: receptive field 8x8, jump 2
    mean = vis.activations(model, x_test, layer).mean(axis=(0, 2, 3))
    channels = [int(c) for c in np.argsort(-mean)[:4]]
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.3), dpi=100)
    for ax, channel in zip(axes, channels):
        top = vis.max_activating_patches(model, x_test, layer, channel, k=9, ax=ax)
        ax.set_title(f"conv 2 channel {channel}\nlabels {''.join(map(str, y_test[top.indices]))}",
                     fontsize=9)
    figs.append(_finish(fig, path("max_patches.png")))

    figs.append(vis.plot_saliency(model, x_test[:8], y_test[:8], path=path("saliency.png")))
    figs.append(vis.plot_history(history, path=path("history.png")))
    names = ["filters", "feature_maps", "max_patches", "saliency", "history"]
    for fig in figs:
        plt.close(fig)
    paths = [path(f"{name}.png") for name in names]
    log("wrote " + ", ".join(paths))
    return paths


def _finish(fig, path):
    fig.savefig(path, dpi=fig.dpi)
    return fig


def run(epochs=DEFAULTS["epochs"], batch_size=DEFAULTS["batch_size"], lr=DEFAULTS["lr"],
        momentum=DEFAULTS["momentum"], seed=DEFAULTS["seed"], backend=DEFAULTS["backend"],
        progress=True, log=print, plots=None):
    """Run the demo; returns {backend name: train() result}. See ``python -m fastnn demo --help``.

    ``plots``: a directory to write the five pictures of :func:`write_plots`
    into, for the model trained on the first backend (None: no pictures).
    """
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
    if plots is not None:
        first = results[names[0]]
        with _backend.backend(names[0]):
            write_plots(first["model"], first["history"], data, plots, log)
    return results
