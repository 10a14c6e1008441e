"""Seed case 15: Jacobian shapes are (output shape) + (input shape).

f: R^3 -> R^5 has a 5 x 3 Jacobian. For f(W) = X W^T with X (n, d), W (k, d) the
Jacobian has shape (n, k, k, d) and J[i, j, a, b] = X[i, b] * (j == a);
fastnn.numerical_jacobian returns exactly that.

    python examples/seed_15_jacobian.py [--backend numpy]
"""
import argparse

import numpy as np

import fastnn
import fastnn.functional as F
import fastnn.reference as R


def main(backend="numba"):
    ops = F if backend == "numba" else R
    rng = np.random.default_rng(15)
    a = rng.standard_normal((5, 3))
    j = fastnn.numerical_jacobian(lambda v: a @ v, rng.standard_normal(3))
    print("f: R^3 -> R^5, Jacobian shape", j.shape)
    n, d, k = 4, 3, 2
    x, w = rng.standard_normal((n, d)), rng.standard_normal((k, d))
    jac = fastnn.numerical_jacobian(lambda w: ops.linear(x, w), w)
    expected = np.einsum("ib,ja->ijab", x, np.eye(k))
    print(f"f(W) = X W^T, X {x.shape}, W {w.shape}: Jacobian shape {jac.shape}; "
          f"max |J - X[i, b] (j == a)| = {np.abs(jac - expected).max():.1e}")
    if jac.shape != (n, k, k, d):
        raise SystemExit("wrong Jacobian shape")
    np.testing.assert_allclose(jac, expected, atol=1e-8)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["numba", "numpy"], default="numba")
    main(parser.parse_args().backend)
