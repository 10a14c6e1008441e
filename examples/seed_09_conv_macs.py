"""Seed case 9: the cost of convolutions in multiply-accumulates, from fastnn.summary.

A 3x3 conv 192 -> 32 on 28x28: 43,352,064 MACs. A 1x1 bottleneck 192 -> 16 then a
5x5 'same' conv 16 -> 32: 12,443,648. An inception block (3x3 to 128 and 5x5 to 32,
concatenated) on 32x32x192: 383,778,816, or 104,333,312 with 1x1 reductions first.

    python examples/seed_09_conv_macs.py [--backend numpy]
"""
import argparse

import fastnn
from fastnn import Concat, Conv2d, Sequential


def main(backend="numba"):
    with fastnn.backend(backend):
        cases = [
            ("3x3 conv", Sequential(Conv2d(192, 32, 3, padding=1)), (1, 192, 28, 28),
             43_352_064),
            ("bottleneck", Sequential(Conv2d(192, 16, 1), Conv2d(16, 32, 5, padding="same")),
             (1, 192, 28, 28), 12_443_648),
            ("inception", Concat(Conv2d(192, 128, 3, padding=1), Conv2d(192, 32, 5, padding=2)),
             (1, 192, 32, 32), 383_778_816),
            ("inception + 1x1 reductions",
             Concat(Sequential(Conv2d(192, 64, 1), Conv2d(64, 128, 3, padding=1)),
                    Sequential(Conv2d(192, 16, 1), Conv2d(16, 32, 5, padding=2))),
             (1, 192, 32, 32), 104_333_312),
        ]
        for title, model, shape, expected in cases:
            print(f"\n== {title}")
            s = fastnn.summary(model, shape)
            if s.total_macs != expected:
                raise SystemExit(f"{title}: {s.total_macs:,} MACs, expected {expected:,}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["numba", "numpy"], default="numba")
    main(parser.parse_args().backend)
