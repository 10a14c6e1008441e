"""Seed case 12: inverted dropout with keep probability 0.8 (drop rate p = 0.2).

Training: h_drop = r * h / keep with r ~ Bernoulli(keep), so E[h_drop] = h; evaluation:
identity. Over 10^6 elements the kept fraction is within 0.005 of 0.8 and the mean of
h_drop within 1% of the mean of h; the same seed gives the same mask on both backends,
and backward multiplies the upstream gradient by the same mask / keep.

    python examples/seed_12_dropout.py
"""
import numpy as np

import fastnn
import fastnn.functional
import fastnn.reference


def main(backend="numba"):
    """Both backends run the functional ops; ``backend`` picks the one the layer uses."""
    keep = 0.8
    h = np.random.default_rng(0).random(10**6) + 1.0
    masks = {}
    for ops in (fastnn.functional, fastnn.reference):
        h_drop, mask = ops.dropout(h, p=1 - keep, generator=2026, return_mask=True)
        grad = ops.dropout_backward(np.ones_like(h), mask, p=1 - keep)
        masks[ops.__name__] = mask
        print(f"{ops.__name__:18s} kept fraction {mask.mean():.4f} (target {keep}), "
              f"mean h {h.mean():.4f}, mean h_drop {h_drop.mean():.4f} "
              f"({100 * (h_drop.mean() / h.mean() - 1):+.3f}%), "
              f"backward of ones: {np.unique(grad)} (0 and 1/keep)")
    same = np.array_equal(*masks.values())
    print(f"same seed, same mask on both backends: {same}")
    with fastnn.backend(backend):
        layer = fastnn.Dropout(keep_prob=keep, seed=2026)
        kept = layer.forward(h) != 0
        identity = np.array_equal(layer.forward(h, training=False), h)
    print(f"{layer!r} (keep_prob {layer.keep_prob:g}): training mask equals the above: "
          f"{np.array_equal(kept, masks['fastnn.functional'])}; "
          f"evaluation is the identity: {identity}")


if __name__ == "__main__":
    main()
