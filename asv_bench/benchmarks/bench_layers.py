"""max_pool2d and linear, forward and backward, on fastnn, the reference and torch."""
from fastnn import functional as F
from fastnn import reference as R

from .common import LINEAR_SHAPES, POOL_SHAPES, linear_inputs, pool_inputs, require_torch, warm


class MaxPool2d:
    """max_pool2d (with indices) and max_pool2d_backward (reusing them)."""

    params = (list(POOL_SHAPES), ["fastnn", "reference"])
    param_names = ["shape", "impl"]
    timeout = 300

    def setup(self, shape, impl):
        self.m = F if impl == "fastnn" else R
        self.x, self.go, self.k, self.s = pool_inputs(shape)
        _, self.idx = self.m.max_pool2d(self.x, self.k, self.s, return_indices=True)
        warm(lambda: self.time_forward(shape, impl), lambda: self.time_backward(shape, impl))

    def time_forward(self, shape, impl):
        self.m.max_pool2d(self.x, self.k, self.s, return_indices=True)

    def time_backward(self, shape, impl):
        self.m.max_pool2d_backward(self.go, self.x, self.k, self.s, indices=self.idx)


class Linear:
    """linear (x @ W^T + b) and linear_backward (three outputs)."""

    params = (list(LINEAR_SHAPES), ["fastnn", "reference"])
    param_names = ["shape", "impl"]
    timeout = 300

    def setup(self, shape, impl):
        self.m = F if impl == "fastnn" else R
        self.x, self.w, self.b, self.go = linear_inputs(shape)
        warm(lambda: self.time_forward(shape, impl), lambda: self.time_backward(shape, impl))

    def time_forward(self, shape, impl):
        self.m.linear(self.x, self.w, self.b)

    def time_backward(self, shape, impl):
        self.m.linear_backward(self.go, self.x, self.w)


class LayersTorch:
    """torch max_pool2d (+ indices) and linear, forward only (skipped without PyTorch)."""

    params = (list(POOL_SHAPES) + list(LINEAR_SHAPES))
    param_names = ["shape"]
    timeout = 300

    def setup(self, shape):
        torch = require_torch()
        tnn = torch.nn.functional
        if shape in POOL_SHAPES:
            x, _, k, s = pool_inputs(shape)
            tx = torch.from_numpy(x)
            self.call = lambda: tnn.max_pool2d(tx, k, s, return_indices=True)
        else:
            tx, tw, tb, _ = (torch.from_numpy(a) for a in linear_inputs(shape))
            self.call = lambda: tnn.linear(tx, tw, tb)
        self.no_grad = torch.no_grad
        warm(lambda: self.time_forward(shape))

    def time_forward(self, shape):
        with self.no_grad():
            self.call()
