"""Seed case 1: a hand-wired threshold MLP that answers "is this list sorted?".

Hidden unit i fires when x_{i+1} - x_i >= 0; the output fires only when all three
do (sum >= 2.5). Checked on 3,000 random lists against np.all(np.diff(x) > 0), plus
the variant for five strictly decreasing inputs (4 hidden units, threshold 3.5).

    python examples/seed_01_threshold_mlp.py [--backend numpy]
"""
import argparse

import numpy as np

import fastnn
from fastnn import Linear, Sequential, Step


def threshold_net(w1, b1, w2, b2):
    w1 = np.asarray(w1, dtype=np.float64)
    l1 = Linear(w1.shape[1], w1.shape[0], dtype=np.float64)
    l2 = Linear(w1.shape[0], 1, dtype=np.float64)
    l1.params["weight"][:], l1.params["bias"][:] = w1, b1
    l2.params["weight"][:], l2.params["bias"][:] = [w2], [b2]
    return Sequential(l1, Step(), l2, Step())


def main(backend="numba"):
    rng = np.random.default_rng(0)
    with fastnn.backend(backend):
        net = threshold_net([[-1, 1, 0, 0], [0, -1, 1, 0], [0, 0, -1, 1]], [0, 0, 0],
                            [1, 1, 1], -2.5)
        for x in ([1, 2, 3, 4], [1, 3, 2, 4], [4, 3, 2, 1]):
            print(f"{x} -> {net(np.array([x], dtype=np.float64))[0, 0]:.0f}")
        x = rng.standard_normal((3000, 4))
        x[::2] = np.sort(x[::2], axis=1)  # half of them sorted
        want = np.all(np.diff(x, axis=1) > 0, axis=1)
        np.testing.assert_array_equal(net(x)[:, 0], want)
        print(f"3000 random lists ({want.sum()} sorted): all answers correct")

        w1 = np.zeros((4, 5))
        for i in range(4):
            w1[i, i], w1[i, i + 1] = 1.0, -1.0  # h_i = step(x_i - x_{i+1})
        net5 = threshold_net(w1, np.zeros(4), np.ones(4), -3.5)
        x = rng.standard_normal((3000, 5))
        x[::2] = -np.sort(-x[::2], axis=1)
        want = np.all(np.diff(x, axis=1) < 0, axis=1)
        np.testing.assert_array_equal(net5(x)[:, 0], want)
        print(f"variant, 5 inputs strictly decreasing ({want.sum()} of 3000): all correct")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["numba", "numpy"], default="numba")
    main(parser.parse_args().backend)
