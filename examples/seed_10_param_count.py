"""Seed case 10: a fully connected 3 -> 4 -> 2 network has 3*4 + 4 + 4*2 + 2 = 26 parameters.

    python examples/seed_10_param_count.py [--backend numpy]
"""
import argparse

import fastnn
from fastnn import Linear, ReLU, Sequential


def main(backend="numba"):
    with fastnn.backend(backend):
        s = fastnn.summary(Sequential(Linear(3, 4), ReLU(), Linear(4, 2)), (1, 3))
    if s.total_params != 26:
        raise SystemExit(f"expected 26 parameters, got {s.total_params}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["numba", "numpy"], default="numba")
    main(parser.parse_args().backend)
