"""Seed case 13: a three-layer ReLU forward pass ending in softmax, layer by layer.

x = [0.5, -1.0], no biases: z1 = [0.2, -0.1], a1 = [0.2, 0]; z2 = [0.02, -0.06, 0.04],
a2 = [0.02, 0, 0.04]; z3 = a3 = [0.01, 0.014]; softmax(a3) = [0.4990, 0.5010].

    python examples/seed_13_three_layer.py [--backend numpy]
"""
import argparse

import numpy as np

import fastnn
import fastnn.functional as F
import fastnn.reference as R
from fastnn import Linear, ReLU


def main(backend="numba"):
    ops = F if backend == "numba" else R
    ws = [[[0.2, -0.1], [0.4, 0.3]],
          [[0.1, 0.2], [-0.3, 0.4], [0.2, -0.2]],
          [[0.3, -0.2, 0.1], [-0.1, 0.2, 0.4]]]
    a = np.array([[0.5, -1.0]])
    with fastnn.backend(backend):
        for i, w in enumerate(ws, 1):
            layer = Linear(len(w[0]), len(w), bias=False, dtype=np.float64)
            layer.params["weight"][:] = w
            z = layer(a)
            a = ReLU()(z)
            print(f"z{i} = {np.round(z[0], 6)}, a{i} = {np.round(a[0], 6)}")
    p = ops.softmax(a)[0]
    print("softmax(a3) =", np.round(p, 4))
    np.testing.assert_array_equal(np.round(p, 4), [0.4990, 0.5010])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["numba", "numpy"], default="numba")
    main(parser.parse_args().backend)
