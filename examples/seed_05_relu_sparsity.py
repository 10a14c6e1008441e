"""Seed case 5: ReLU gradients are exactly zero where the unit is off.

For one example, every hidden unit whose pre-activation is <= 0 passes back
exactly 0.0 (not a tiny number) to the weights and bias feeding it, and its
outgoing weights get 0.0 too (it output 0).

    python examples/seed_05_relu_sparsity.py [--backend numpy]
"""
import argparse

import numpy as np

import fastnn
from fastnn import Linear, ReLU, Sequential


def main(backend="numba"):
    rng = np.random.default_rng(5)
    with fastnn.backend(backend):
        l1, l2 = Linear(3, 6, rng=0, dtype=np.float64), Linear(6, 2, rng=1, dtype=np.float64)
        net = Sequential(l1, ReLU(), l2)
        x = rng.standard_normal((1, 3))
        z = l1(x)[0]
        net.backward(np.ones_like(net(x)))
        print("unit  pre-activation  grad of its bias  max |grad of its input weights|")
        for j in range(6):
            print(f"{j:4d}  {z[j]:+14.4f}  {l1.grads['bias'][j]:+16.6g}  "
                  f"{np.abs(l1.grads['weight'][j]).max():.6g}")
        off = z <= 0
        np.testing.assert_array_equal(l1.grads["weight"][off], 0.0)
        np.testing.assert_array_equal(l2.grads["weight"][:, off], 0.0)
        print(f"{off.sum()} units off: their gradients are exactly 0.0")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["numba", "numpy"], default="numba")
    main(parser.parse_args().backend)
