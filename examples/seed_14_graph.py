"""Seed case 14: forward and backward through the graph f(x, y, z) = ln(x) + exp(y) * z.

At (1, 3, 2): f = 40.171074, df/dx = 1, df/dy = 2 exp(3) = 40.171074,
df/dz = exp(3) = 20.085537. Backward by hand, node by node (local derivative times
upstream gradient), then checked with fastnn.gradcheck.

    python examples/seed_14_graph.py
"""
import argparse

import numpy as np

import fastnn


def main(backend="numba"):
    # fastnn has no ln/exp ops, so the node functions are NumPy's; backend is unused.
    x, y, z = np.array(1.0), np.array(3.0), np.array(2.0)
    a = np.log(x)          # node a = ln x
    b = np.exp(y)          # node b = exp y
    c = b * z              # node c = b z
    f = a + c              # output
    f_bar = 1.0
    a_bar = c_bar = f_bar                  # + passes the gradient to both inputs
    b_bar, z_bar = c_bar * z, c_bar * b    # * swaps its inputs
    x_bar = a_bar / x                      # (ln x)' = 1 / x
    y_bar = b_bar * b                      # (exp y)' = exp y
    print(f"f = {float(f):.6f}")
    print(f"df/dx = {float(x_bar):.6f}, df/dy = {float(y_bar):.6f}, df/dz = {float(z_bar):.6f}")
    errors = fastnn.gradcheck(lambda x, y, z: float(np.log(x) + np.exp(y) * z), [x, y, z],
                              [x_bar, y_bar, z_bar])
    print("gradcheck relative errors:", ", ".join(f"{e:.1e}" for e in errors))
    np.testing.assert_allclose([f, x_bar, y_bar, z_bar], [40.171074, 1, 40.171074, 20.085537],
                               atol=5e-7)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["numba", "numpy"], default="numba")
    main(parser.parse_args().backend)
