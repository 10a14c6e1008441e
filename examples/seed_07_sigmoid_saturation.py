"""Seed case 7: sigmoid with squared error saturates when confidently wrong.

y = sigmoid(z), L = 0.5 (y - t)^2, dL/dz = (y - t) y (1 - y). At z = -5, t = 1:
y = 0.0066929, dL/dz = -0.0066036. Also the ranges of sigmoid' and tanh'.

    python examples/seed_07_sigmoid_saturation.py [--backend numpy]
"""
import argparse

import numpy as np

import fastnn.functional as F
import fastnn.reference as R


def main(backend="numba"):
    ops = F if backend == "numba" else R
    t = 1.0
    print("   z        y          dL/dz")
    for z in (-5.0, -2.0, 0.0, 2.0):
        y = ops.sigmoid(np.array([z]))
        dz = ops.sigmoid_backward(y - t, y)  # (y - t) * y (1 - y)
        print(f"{z:+5.1f}  {y[0]:.7f}  {dz[0]:+.7f}")
    y = ops.sigmoid(np.array([-5.0]))
    np.testing.assert_allclose(y, [0.0066929], atol=5e-8)
    np.testing.assert_allclose(ops.sigmoid_backward(y - t, y), [-0.0066036], atol=5e-8)
    z = np.linspace(-10, 10, 2001)
    ds = ops.sigmoid_backward(np.ones_like(z), ops.sigmoid(z))
    dt = ops.tanh_backward(np.ones_like(z), ops.tanh(z))
    print(f"sigmoid' in ({ds.min():.2e}, {ds.max()}], tanh' in ({dt.min():.2e}, {dt.max()}]")
    # sigmoid' = s(1 - s) in (0, 0.25], tanh' = 1 - tanh^2 in (0, 1], maxima at z = 0
    assert 0 < ds.min() and ds.max() == 0.25 and ds.argmax() == 1000
    assert 0 < dt.min() and dt.max() == 1.0 and dt.argmax() == 1000
    # the more confidently wrong, the smaller the gradient: |dL/dz| grows from z = -5 to 0
    zs = np.array([-5.0, -2.0, 0.0])
    ys = ops.sigmoid(zs)
    assert np.all(np.diff(np.abs(ops.sigmoid_backward(ys - t, ys))) > 0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["numba", "numpy"], default="numba")
    main(parser.parse_args().backend)
