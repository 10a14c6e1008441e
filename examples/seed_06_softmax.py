"""Seed case 6: softmax values, its Jacobian, its backward, cross-entropy's gradient.

softmax([2, 1, 0.1]) = [0.6590, 0.2424, 0.0986]; J = diag(s) - s s^T (checked
against fastnn.numerical_jacobian); softmax_backward(g) = J^T g without forming J;
d cross_entropy / d logits = p - onehot(t); shift invariance; no overflow.

    python examples/seed_06_softmax.py [--backend numpy]
"""
import argparse

import numpy as np

import fastnn
import fastnn.functional as F
import fastnn.reference as R


def main(backend="numba"):
    ops = F if backend == "numba" else R
    z = np.array([2.0, 1.0, 0.1])
    s = ops.softmax(z)
    print("softmax([2, 1, 0.1]) =", np.round(s, 4))
    np.testing.assert_array_equal(np.round(s, 4), [0.6590, 0.2424, 0.0986])
    jac = np.diag(s) - np.outer(s, s)
    num = fastnn.numerical_jacobian(ops.softmax, z.copy())
    print(f"J = diag(s) - s s^T; max |J - numerical Jacobian| = {np.abs(jac - num).max():.1e}")
    np.testing.assert_allclose(num, jac, atol=1e-8)
    g = np.array([0.3, -1.0, 2.0])
    back = ops.softmax_backward(g, s)
    print(f"softmax_backward(g) vs J^T g: max diff {np.abs(back - jac.T @ g).max():.1e}")
    np.testing.assert_allclose(back, jac.T @ g, rtol=1e-12, atol=1e-15)
    logits, target = z[None], np.array([0])
    grad = ops.cross_entropy_backward(1.0, logits, target, reduction="sum")
    print("d cross_entropy / d logits for class 0 =", np.round(grad[0], 4), "= p - onehot")
    np.testing.assert_allclose(grad[0], s - [1, 0, 0], rtol=1e-12)
    shifted = ops.softmax(z + 100)
    print("softmax(z + 100) == softmax(z):", np.allclose(shifted, s))
    np.testing.assert_allclose(shifted, s, rtol=1e-12)
    big = ops.softmax(np.array([1000.0, 1001.0]))
    print("softmax([1000, 1001]) =", big)
    assert np.all(np.isfinite(big))
    np.testing.assert_allclose(big, [1 / (1 + np.e), np.e / (1 + np.e)], rtol=1e-12)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["numba", "numpy"], default="numba")
    main(parser.parse_args().backend)
