"""Seed case 3: zero or constant initialisation cannot learn XOR; random initialisation can.

2-2-1 ReLU network, MSE loss, full-batch gradient descent. All-zero weights: the
gradients of W1, b1, W2 are exactly 0 at every step and only b2 moves (to 0.5).
Constant c: the two hidden units stay identical forever. He-normal random init with
8 hidden units: the loss goes to ~0.

    python examples/seed_03_symmetry.py [--backend numpy]
"""
import argparse
import functools
import itertools

import numpy as np

import fastnn
from fastnn import SGD, Linear, ReLU, Sequential, init

X = np.array(list(itertools.product([0.0, 1.0], repeat=2)))
T = np.array([[0.0], [1.0], [1.0], [0.0]])


def train(hidden, weight_init, bias, lr, steps):
    l1 = Linear(2, hidden, weight_init=weight_init, rng=0, dtype=np.float64)
    l2 = Linear(hidden, 1, weight_init=weight_init, rng=1, dtype=np.float64)
    l1.params["bias"][:] = bias
    l2.params["bias"][:] = bias
    net = Sequential(l1, ReLU(), l2)
    opt = SGD(net, lr=lr)
    max_hidden_grad = 0.0
    for _ in range(steps):
        y = net(X)
        net.backward(2 * (y - T) / len(X))  # d mean((y - t)^2) / dy
        max_hidden_grad = max(max_hidden_grad, *(np.abs(g).max() for g in
                                                 (l1.grads["weight"], l1.grads["bias"],
                                                  l2.grads["weight"])))
        opt.step()
    return net, float(np.mean((net(X) - T) ** 2)), max_hidden_grad


def main(backend="numba"):
    with fastnn.backend(backend):
        net, loss, g = train(2, "zeros", 0.0, lr=0.25, steps=30)
        print(f"zero init:     max |grad W1, b1, W2| over all steps = {g}, "
              f"b2 = {net[2].params['bias'][0]:.4f}, loss {loss:.4f} (stuck at 0.25)")
        if g != 0.0:
            raise SystemExit("zero init should give exactly zero hidden gradients")

        net, loss, _ = train(2, functools.partial(init.constant, value=0.5), 0.5, lr=0.1,
                             steps=30)
        w1, b1, w2 = net[0].params["weight"], net[0].params["bias"], net[2].params["weight"]
        print(f"constant 0.5:  W1 rows {w1[0]} and {w1[1]}, b1 {b1}, W2 {w2[0]}; "
              f"loss {loss:.4f}")
        np.testing.assert_array_equal(w1[0], w1[1])

        net, loss, _ = train(8, "he", 0.0, lr=0.2, steps=300)
        print(f"He init, 8 hidden units: loss {loss:.2e}, outputs {np.round(net(X)[:, 0], 4)}")
        if loss > 1e-6:
            raise SystemExit("random init should fit XOR")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["numba", "numpy"], default="numba")
    main(parser.parse_args().backend)
