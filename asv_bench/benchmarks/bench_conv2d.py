"""conv2d forward and backward: fastnn's two Numba algorithms against the NumPy reference.

Times ``fastnn.functional.conv2d`` / ``conv2d_backward`` with
``algorithm='direct'`` and ``algorithm='im2col'`` against
``fastnn.reference.conv2d`` / ``conv2d_backward`` (plain NumPy, one tensordot
per kernel tap), and against ``torch.nn.functional.conv2d`` on the CPU when
PyTorch is installed (skipped otherwise). float32, stride 1, 3x3 kernels.
"""
import numpy as np

from fastnn import functional as F
from fastnn import reference as R

from .common import randn, require_torch

# name -> (N, C_in, H=W, C_out, k, padding)
SHAPES = {
    "digits-conv1 64x1x8x8 -> 16": (64, 1, 8, 16, 3, 1),    # first layer of the digits demo
    "digits-conv2 64x16x4x4 -> 32": (64, 16, 4, 32, 3, 1),  # second layer after 2x2 pooling
    "16x32x16x16 -> 32": (16, 32, 16, 32, 3, 1),
}


def _inputs(shape):
    n, c_in, hw, c_out, k, pad = SHAPES[shape]
    x = randn(n, c_in, hw, hw, seed=0)
    w = randn(c_out, c_in, k, k, seed=1) * np.float32(1.0 / np.sqrt(c_in * k * k))
    b = randn(c_out, seed=2)
    out_hw = hw + 2 * pad - k + 1
    go = randn(n, c_out, out_hw, out_hw, seed=3)
    return x, w, b, go, pad


class Conv2d:
    """fastnn (direct, im2col) and reference conv2d, forward and backward."""

    params = (list(SHAPES), ["direct", "im2col", "reference"])
    param_names = ["shape", "impl"]
    timeout = 120

    def setup(self, shape, impl):
        self.x, self.w, self.b, self.go, self.pad = _inputs(shape)
        if impl == "reference":
            self.fwd, self.bwd = R.conv2d, R.conv2d_backward
            self.kw = {}
        else:
            self.fwd, self.bwd = F.conv2d, F.conv2d_backward
            self.kw = {"algorithm": impl}
        # Warm-up: JIT-compile (or load from Numba's cache) outside the timing.
        self.time_forward(shape, impl)
        self.time_backward(shape, impl)

    def time_forward(self, shape, impl):
        self.fwd(self.x, self.w, self.b, padding=self.pad, **self.kw)

    def time_backward(self, shape, impl):
        self.bwd(self.go, self.x, self.w, padding=self.pad, **self.kw)


class Conv2dTorch:
    """torch.nn.functional.conv2d on the CPU (skipped when PyTorch is not installed)."""

    params = [list(SHAPES)]
    param_names = ["shape"]
    timeout = 120

    def setup(self, shape):
        torch = require_torch()
        self.torch = torch
        x, w, b, go, self.pad = _inputs(shape)
        self.x, self.w, self.b, self.go = (torch.from_numpy(a) for a in (x, w, b, go))
        self.time_forward(shape)
        self.time_backward(shape)

    def time_forward(self, shape):
        with self.torch.no_grad():
            self.torch.nn.functional.conv2d(self.x, self.w, self.b, padding=self.pad)

    def time_backward(self, shape):
        # The same three gradients as fastnn's conv2d_backward.
        grad = self.torch.nn.grad
        grad.conv2d_input(self.x.shape, self.w, self.go, padding=self.pad)
        grad.conv2d_weight(self.x, self.w.shape, self.go, padding=self.pad)
        self.go.sum(dim=(0, 2, 3))
