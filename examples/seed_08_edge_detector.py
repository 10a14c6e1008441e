"""Seed case 8: a vertical edge detector, and the conv output-size formula.

A 6x6 image (left half 10, right half 0) convolved with [[1, 0, -1]] * 3 gives a
4x4 map whose every row is [0, 30, 30, 0]. Output size floor((n + 2p - f) / s) + 1.

    python examples/seed_08_edge_detector.py [--backend numpy]
"""
import argparse

import numpy as np

import fastnn
from fastnn import Conv2d


def main(backend="numba"):
    img = np.zeros((1, 1, 6, 6))
    img[..., :3] = 10.0
    with fastnn.backend(backend):
        conv = Conv2d(1, 1, 3, bias=False, dtype=np.float64)
        conv.params["weight"][:] = [[1.0, 0.0, -1.0]] * 3
        out = conv(img)[0, 0]
        print(out)
        np.testing.assert_array_equal(out, np.tile([0.0, 30.0, 30.0, 0.0], (4, 1)))
        for n, p, f, s in [(28, 1, 3, 1), (6, 0, 3, 1), (7, 0, 3, 2)]:
            shape = Conv2d(1, 1, f, stride=s, padding=p)(np.zeros((1, 1, n, n),
                                                              np.float32)).shape[2:]
            print(f"n={n}, p={p}, f={f}, s={s}: output {shape[0]} = "
                  f"floor(({n} + 2*{p} - {f}) / {s}) + 1 = {(n + 2 * p - f) // s + 1}")
            assert shape == ((n + 2 * p - f) // s + 1,) * 2, shape
        assert [Conv2d(1, 1, 3, padding=p)(np.zeros((1, 1, n, n), np.float32)).shape[2]
                for n, p in [(28, 1), (6, 0)]] == [28, 4]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["numba", "numpy"], default="numba")
    main(parser.parse_args().backend)
