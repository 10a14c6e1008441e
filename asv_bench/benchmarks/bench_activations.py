"""ReLU forward and backward: fastnn's Numba kernels against the NumPy reference.

Times ``fastnn.functional.relu`` / ``relu_backward`` against
``fastnn.reference.relu`` / ``relu_backward`` on flat float32 arrays.
"""
from fastnn import functional as F
from fastnn import reference as R

from .common import randn


class Relu:
    """relu(x) and relu_backward(grad_output, x) on float32 arrays of ``size`` elements."""

    params = ([10_000, 1_000_000], ["fastnn", "reference"])
    param_names = ["size", "impl"]
    timeout = 120

    def setup(self, size, impl):
        self.x = randn(size, seed=0)
        self.go = randn(size, seed=1)
        self.mod = F if impl == "fastnn" else R
        # Warm-up: JIT-compile (or load from Numba's cache) outside the timing.
        self.time_relu(size, impl)
        self.time_relu_backward(size, impl)

    def time_relu(self, size, impl):
        self.mod.relu(self.x)

    def time_relu_backward(self, size, impl):
        self.mod.relu_backward(self.go, self.x)
