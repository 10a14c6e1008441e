"""softmax and softmax cross-entropy: fastnn's Numba kernels against the NumPy reference.

Times ``fastnn.functional.softmax(x, dim=-1)`` and
``fastnn.functional.cross_entropy(logits, target)`` (mean reduction, int64
class indices) against the same functions in ``fastnn.reference``, on float32
(batch, classes) logits.
"""
from fastnn import functional as F
from fastnn import reference as R

from .common import randn, rng

SHAPES = {"256x10": (256, 10), "1024x1000": (1024, 1000)}


class Softmax:
    """softmax over the last axis and cross_entropy against class indices."""

    params = (list(SHAPES), ["fastnn", "reference"])
    param_names = ["shape", "impl"]
    timeout = 120

    def setup(self, shape, impl):
        n, c = SHAPES[shape]
        self.x = randn(n, c, seed=0)
        self.target = rng(1).integers(0, c, size=n, dtype="int64")
        self.mod = F if impl == "fastnn" else R
        # Warm-up: JIT-compile (or load from Numba's cache) outside the timing.
        self.time_softmax(shape, impl)
        self.time_cross_entropy(shape, impl)

    def time_softmax(self, shape, impl):
        self.mod.softmax(self.x, dim=-1)

    def time_cross_entropy(self, shape, impl):
        self.mod.cross_entropy(self.x, self.target)
