"""Seed case 4: backprop through a residual network, checked by finite differences.

z = W1 x + b1, h = sigmoid(z), y = x + W2 h + b2, E = r.h + 0.5 ||y - s||^2.
The layer API (Residual(Linear, Sigmoid, Linear)) gives the gradients; the r.h
term enters at h, so its gradient r is pushed back through Sigmoid and the first
Linear and added. fastnn.gradcheck compares all five gradients with float64
central differences; fastnn.check_layer checks the block's own backward.

    python examples/seed_04_residual_gradcheck.py [--backend numpy]
"""
import argparse

import numpy as np

import fastnn
import fastnn.functional as F
import fastnn.reference as R
from fastnn import Linear, Residual, Sigmoid


def main(backend="numba", n=5, k=3):
    rng = np.random.default_rng(4)
    ops = F if backend == "numba" else R
    with fastnn.backend(backend):
        l1, l2 = Linear(n, k, rng=rng, dtype=np.float64), Linear(k, n, rng=rng, dtype=np.float64)
        l1.params["bias"][:] = rng.standard_normal(k)
        l2.params["bias"][:] = rng.standard_normal(n)
        block = Residual(l1, Sigmoid(), l2)
        x, r, s = (rng.standard_normal((1, m)) for m in (n, k, n))
        w1, b1, w2, b2 = (l1.params["weight"], l1.params["bias"], l2.params["weight"],
                          l2.params["bias"])

        def energy(*_):
            h = ops.sigmoid(ops.linear(x, w1, b1))
            return float(np.sum(r * h) + 0.5 * np.sum((block(x) - s) ** 2))

        y = block(x)
        x_bar = block.backward(y - s)                        # y_bar = y - s
        grads = [l1.grads["weight"], l1.grads["bias"], l2.grads["weight"], l2.grads["bias"]]
        x_bar = x_bar + l1.backward(block[1].backward(r))    # h_bar also gets r
        grads[0], grads[1] = grads[0] + l1.grads["weight"], grads[1] + l1.grads["bias"]
        errors = fastnn.gradcheck(energy, [x, w1, b1, w2, b2], [x_bar] + grads, tol=1e-6)
        for name, err in zip(["x", "W1", "b1", "W2", "b2"], errors):
            print(f"d E / d {name:2s}: relative error vs central differences {err:.1e}")
        print("check_layer(block):", {k: f"{v:.1e}" for k, v in
                                      fastnn.check_layer(block, x).items()})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["numba", "numpy"], default="numba")
    main(parser.parse_args().backend)
