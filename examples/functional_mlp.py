"""A two-layer MLP on the 8x8 digits written against the functional API only.

The training step is plain NumPy-style code: forward ops, then their *_backward
twins in reverse order, then an SGD update. Swapping the import line between
``fastnn.functional`` (Numba kernels) and ``fastnn.reference`` (plain NumPy)
is all it takes to change backend; ``--backend`` does exactly that.

    pip install -e ".[examples]"
    python examples/functional_mlp.py --backend numba
"""
import argparse

import numpy as np

import fastnn.functional
import fastnn.reference
from fastnn.data import load_digits, minibatches
from fastnn.init import kaiming_normal, zeros


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["numba", "numpy"], default="numba")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    F = fastnn.functional if args.backend == "numba" else fastnn.reference

    x_train, x_test, y_train, y_test = load_digits(seed=args.seed)
    x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    rng = np.random.default_rng(args.seed)
    params = {"w1": kaiming_normal((64, 64), rng=rng), "b1": zeros((64,)),
              "w2": kaiming_normal((10, 64), rng=rng), "b2": zeros((10,))}

    for epoch in range(args.epochs):
        for xb, yb in minibatches(x_train, y_train, 64, rng):
            z1 = F.linear(xb, params["w1"], params["b1"])
            h1 = F.relu(z1)
            logits = F.linear(h1, params["w2"], params["b2"])
            loss = F.cross_entropy(logits, yb)
            g_logits = F.cross_entropy_backward(1.0, logits, yb)
            g_h1, g_w2, g_b2 = F.linear_backward(g_logits, h1, params["w2"])
            g_z1 = F.relu_backward(g_h1, z1)
            _, g_w1, g_b1 = F.linear_backward(g_z1, xb, params["w1"])
            for name, grad in zip(["w1", "b1", "w2", "b2"], [g_w1, g_b1, g_w2, g_b2]):
                params[name] -= np.float32(args.lr) * grad
        logits = F.linear(F.relu(F.linear(x_test, params["w1"], params["b1"])), params["w2"],
                          params["b2"])
        acc = np.mean(np.argmax(logits, axis=1) == y_test)
        print(f"epoch {epoch + 1:2d}  last batch loss {float(loss):.4f}  test accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
