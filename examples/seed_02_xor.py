"""Seed case 2: XOR with a two-layer ReLU network, and why one layer is not enough.

h = relu(W1 x + b1), y = W2 h + b2 with W1 = [[1, 1], [1, 1]], b1 = [0, -1],
W2 = [[1, -2]], b2 = [0] gives y = 0, 1, 1, 0 exactly. A single y = relu(w.x + b)
fits none of a dense grid of (w1, w2, b).

    python examples/seed_02_xor.py [--backend numpy]
"""
import argparse
import itertools

import numpy as np

import fastnn
from fastnn import Linear, ReLU, Sequential


def main(backend="numba"):
    x = np.array(list(itertools.product([0.0, 1.0], repeat=2)))
    target = np.array([0.0, 1.0, 1.0, 0.0])
    with fastnn.backend(backend):
        l1, l2 = Linear(2, 2, dtype=np.float64), Linear(2, 1, dtype=np.float64)
        l1.params["weight"][:], l1.params["bias"][:] = [[1, 1], [1, 1]], [0, -1]
        l2.params["weight"][:], l2.params["bias"][:] = [[1, -2]], [0]
        y = Sequential(l1, ReLU(), l2)(x)[:, 0]
        for xi, yi in zip(x, y):
            print(f"x = {xi} -> y = {yi:g}")
        np.testing.assert_array_equal(y, target)

        grid = np.linspace(-3, 3, 25)
        single = Linear(2, len(grid) ** 2, dtype=np.float64)
        single.params["weight"][:] = list(itertools.product(grid, grid))
        best = np.inf
        for b in grid:
            single.params["bias"][:] = b
            err = np.max(np.abs(ReLU()(single(x)) - target[:, None]), axis=0)
            best = min(best, err.min())
        print(f"single ReLU layer, {len(grid) ** 3} (w1, w2, b) on a grid: "
              f"best max error {best:.3f} (never 0)")
        if best < 0.1:
            raise SystemExit("a single layer should not fit XOR")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["numba", "numpy"], default="numba")
    main(parser.parse_args().backend)
