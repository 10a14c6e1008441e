"""Training without boilerplate: DataLoader, fit, evaluate, accuracy (Keras / torch names).

    loader = fastnn.DataLoader(x_train, y_train, batch_size=32, shuffle=True, seed=0)
    history = fastnn.fit(model, fastnn.CrossEntropyLoss(), fastnn.SGD(model, lr=0.05),
                         loader, epochs=8, val_data=(x_test, y_test))
    test_loss, test_acc = fastnn.evaluate(model, fastnn.CrossEntropyLoss(), (x_test, y_test))

One step of :func:`fit` is exactly the hand-written loop
``loss(model.forward(xb), yb); model.backward(loss.backward(), input_grad=False);
optimizer.step()`` in training mode, so it gives the same weights from the same seed
(``input_grad=False`` only skips the gradient with respect to the batch itself).
"""
import time

import numpy as np

from ._modes import _batch_size, no_trace

__all__ = ["DataLoader", "fit", "evaluate", "accuracy"]


class DataLoader:
    """Mini-batches (x_batch, y_batch) of a data set, shuffled or not, one pass per iteration.

    Parameters
    ----------
    x : ndarray (N, ...) (an array-like is converted with np.asarray)
    y : array-like (N, ...) of targets (class indices, or anything a loss takes)
    batch_size : int >= 1 (default 32)
    shuffle : bool; True draws a new order every epoch (every ``iter(loader)``)
    drop_last : bool; True drops the last batch when it is smaller than batch_size
    seed : None, int or numpy Generator for the shuffling; the same int gives
        the same sequence of epochs: epoch e uses the e-th
        ``np.random.default_rng(seed).permutation(N)``, as the hand-written
        ``rng = default_rng(seed)`` loop of ``fastnn.data.minibatches(x, y, bs, rng)``

    Each batch is a new C-contiguous array (rows taken in the epoch's order).
    ``len(loader)`` is the number of batches per epoch. TypeError / ValueError
    for a wrong type, a non-positive batch size or x and y of different lengths.
    """

    def __init__(self, x, y, batch_size=32, shuffle=False, drop_last=False, seed=None):
        self.x = np.asarray(x)
        self.y = np.asarray(y)
        if self.x.ndim < 1 or self.y.ndim < 1:
            raise ValueError(f"DataLoader(): x and y need a batch dimension, got shapes "
                             f"{self.x.shape} and {self.y.shape}")
        if len(self.x) != len(self.y):
            raise ValueError(f"DataLoader(): x and y must have the same length, got "
                             f"{len(self.x)} and {len(self.y)}")
        self.batch_size = _batch_size("DataLoader()", batch_size, 1)
        for name, flag in (("shuffle", shuffle), ("drop_last", drop_last)):
            if not isinstance(flag, (bool, np.bool_)):
                raise TypeError(f"DataLoader(): {name} must be a bool, got {flag!r}")
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        if seed is not None and not isinstance(seed, np.random.Generator) and (
                isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer))):
            raise TypeError(f"DataLoader(): seed must be None, an int or a numpy Generator, "
                            f"got {seed!r}")
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        n, b = len(self.x), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self):
        n = len(self.x)
        order = self.rng.permutation(n) if self.shuffle else None
        for i in range(len(self)):
            if order is None:
                sl = slice(i * self.batch_size, min(n, (i + 1) * self.batch_size))
                yield np.ascontiguousarray(self.x[sl]), np.ascontiguousarray(self.y[sl])
            else:
                idx = order[i * self.batch_size:(i + 1) * self.batch_size]
                yield self.x[idx], self.y[idx]

    def __repr__(self):
        return (f"DataLoader(N={len(self.x)}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last})")


def _loader(owner, name, data, batch_size=256):
    """A DataLoader (or other re-iterable of (x, y) batches) from ``data``; (x, y) is wrapped."""
    if isinstance(data, tuple) and len(data) == 2:
        return DataLoader(data[0], data[1], batch_size=batch_size)
    if isinstance(data, (np.ndarray, str, bytes, dict)) or not hasattr(data, "__iter__") \
            or iter(data) is data:
        raise TypeError(f"{owner}: {name} must be a fastnn.DataLoader, a re-iterable of "
                        f"(x_batch, y_batch) pairs or an (x, y) tuple, got {type(data).__name__}")
    return data


def _n_correct(output, target, loss):
    """Correctly classified samples in a batch, or None when accuracy has no meaning here.

    Class indices (N,) against scores (N, C): arg-max; binary targets of the
    output's shape with BCEWithLogitsLoss (logit > 0) or BCELoss (p > 0.5).
    """
    output, target = np.asarray(output), np.asarray(target)
    if output.ndim == 2 and target.shape == output.shape[:1] \
            and np.issubdtype(target.dtype, np.integer):
        return int(np.sum(np.argmax(output, axis=1) == target))
    name = type(loss).__name__
    if name in ("BCEWithLogitsLoss", "BCELoss") and target.shape == output.shape:
        pred = output > (0.0 if name == "BCEWithLogitsLoss" else 0.5)
        return int(np.sum(np.all(pred == (target > 0.5), axis=tuple(range(1, output.ndim)))))
    return None


class _Meter:
    """Running sample-weighted mean loss and accuracy over an epoch."""

    def __init__(self):
        self.n = self.loss = 0.0
        self.correct, self.counted = 0, True

    def add(self, loss, output, target, loss_fn):
        n = len(target)
        self.n += n
        self.loss += float(loss) * n
        c = _n_correct(output, target, loss_fn)
        if c is None:
            self.counted = False
        else:
            self.correct += c

    def result(self):
        if self.n == 0:
            return float("nan"), float("nan")
        acc = self.correct / self.n if self.counted else float("nan")
        return self.loss / self.n, acc


def _check_model(owner, model):
    from .layers import Layer
    if not isinstance(model, Layer):
        raise TypeError(f"{owner}: model must be a fastnn Layer (e.g. a Sequential), "
                        f"got {type(model).__name__}")


def evaluate(model, loss, data, batch_size=256):
    """(mean loss, accuracy) of ``model`` on ``data`` in evaluation mode, as Keras' evaluate.

    Parameters
    ----------
    model : a fastnn Layer; every forward runs with training=False
    loss : a loss object (e.g. fastnn.CrossEntropyLoss()) with 'mean' reduction
    data : a DataLoader, a re-iterable of (x_batch, y_batch), or an (x, y) tuple
        (batched ``batch_size`` rows at a time)

    Returns
    -------
    (loss, accuracy) as floats: the sample-weighted mean of the batch losses and
    the fraction classified correctly (arg-max against integer class indices;
    BCE losses: the thresholded prediction); accuracy is NaN for other targets
    (e.g. MSE regression), both are NaN for an empty data set.

    Nothing is kept: the model's and the loss's caches and gradients are
    restored afterwards, so evaluate may run between a forward and its backward.
    """
    _check_model("evaluate()", model)
    loader = _loader("evaluate()", "data", data, batch_size)
    meter = _Meter()
    with no_trace(model, loss):
        for xb, yb in loader:
            out = model.forward(xb, training=False)
            meter.add(loss(out, yb), out, yb, loss)
    return meter.result()


def accuracy(model, x, y, batch_size=256):
    """Fraction of ``x`` whose arg-max output equals the class index in ``y`` (evaluation mode)."""
    out = model.predict(np.asarray(x), batch_size=batch_size)
    y = np.asarray(y)
    if out.ndim != 2 or y.shape != out.shape[:1] or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"accuracy(): needs (N, C) outputs and integer class indices (N,), got "
                         f"outputs {out.shape} and targets {y.shape} of dtype {y.dtype}")
    return float(np.mean(np.argmax(out, axis=1) == y)) if len(y) else float("nan")


def _callback(owner, cb):
    fn = getattr(cb, "on_epoch_end", cb)
    if not callable(fn):
        raise TypeError(f"{owner}: each callback must be callable as f(epoch, logs) or have "
                        f"an on_epoch_end(epoch, logs) method, got {type(cb).__name__}")
    return fn


def _progress_bar(progress, total, desc):
    """A tqdm bar updated by hand (so it stays open for the validation figures), or None."""
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is in the examples extra
        return None
    return tqdm(total=total, desc=desc, leave=True)


def _backward_to_parameters(model, grad):
    """model.backward(grad) for the parameter gradients only: the batch is data, so its
    own gradient is skipped where the model can (Sequential.backward's input_grad)."""
    if getattr(model, "skips_input_grad", False):
        model.backward(grad, input_grad=False)
    else:
        model.backward(grad)


def fit(model, loss, optimizer, train_loader, epochs=1, val_data=None, callbacks=(),
        progress=True):
    """Train ``model`` for ``epochs`` passes over ``train_loader``; returns the history (Keras).

    Parameters
    ----------
    model : a fastnn Layer; put in training mode (``model.train()``) first
    loss : a loss object with 'mean' reduction (CrossEntropyLoss, MSELoss, ...)
    optimizer : e.g. fastnn.SGD(model, ...) / fastnn.Adam(model, ...)
    train_loader : a :class:`DataLoader` (or a re-iterable of (x_batch, y_batch))
    epochs : int >= 1
    val_data : None, an (x, y) tuple or a loader, evaluated after every epoch
        with :func:`evaluate` (evaluation mode)
    callbacks : callables ``f(epoch, logs)`` or objects with
        ``on_epoch_end(epoch, logs)``, called after every epoch with the
        0-based epoch and that epoch's entries of the history; one that returns
        True stops training (early stopping)
    progress : bool, one tqdm bar per epoch showing the running loss and
        accuracy (and the validation ones at the end); False for none

    Returns
    -------
    history : dict of per-epoch lists: 'loss', 'accuracy' (sample-weighted
        running means over the epoch's batches, as Keras), 'val_loss',
        'val_accuracy' (with val_data), 'time' (seconds of training, excluding
        validation). Accuracy is NaN when the targets are not class indices.

    Each step is ``l = loss(model.forward(xb), yb); model.backward(loss.backward(),
    input_grad=False); optimizer.step()`` (``input_grad=False`` where the model takes
    it, e.g. a Sequential: the batch's own gradient is not computed); the model is left
    in training mode.
    """
    _check_model("fit()", model)
    if isinstance(epochs, (bool, np.bool_)) or not isinstance(epochs, (int, np.integer)) \
            or epochs < 1:
        raise ValueError(f"fit(): epochs must be a positive int, got {epochs!r}")
    if not hasattr(optimizer, "step"):
        raise TypeError(f"fit(): optimizer must have a step() method (fastnn.SGD, "
                        f"fastnn.Adam), got {type(optimizer).__name__}")
    train_loader = _loader("fit()", "train_loader", train_loader)
    val_loader = None if val_data is None else _loader("fit()", "val_data", val_data)
    hooks = [_callback("fit()", cb) for cb in (callbacks or ())]
    history = {"loss": [], "accuracy": []}
    if val_loader is not None:
        history.update(val_loss=[], val_accuracy=[])
    history["time"] = []
    model.train()
    for epoch in range(int(epochs)):
        meter = _Meter()
        total = len(train_loader) if hasattr(train_loader, "__len__") else None
        bar = _progress_bar(progress, total, f"epoch {epoch + 1}/{epochs}")
        t0 = time.perf_counter()
        for xb, yb in train_loader:
            out = model.forward(xb)
            value = loss(out, yb)
            _backward_to_parameters(model, loss.backward())
            optimizer.step()
            meter.add(value, out, yb, loss)
            if bar is not None:
                bar.set_postfix(_postfix(*meter.result()), refresh=False)
                bar.update(1)
        history["time"].append(time.perf_counter() - t0)
        logs = dict(zip(("loss", "accuracy"), meter.result()))
        if val_loader is not None:
            logs.update(zip(("val_loss", "val_accuracy"), evaluate(model, loss, val_loader)))
        for key, value in logs.items():
            history[key].append(value)
        if bar is not None:
            bar.set_postfix(_postfix(*logs.values()))
            bar.close()
        stop = [hook(epoch, dict(logs, time=history["time"][-1])) for hook in hooks]
        if any(s is True for s in stop):
            break
    return history


def _postfix(*values):
    names = ("loss", "acc", "val_loss", "val_acc")
    return {n: f"{v:.4f}" for n, v in zip(names, values) if v == v}  # NaN left out
