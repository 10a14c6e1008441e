"""conv2d forward and backward: each fastnn algorithm against NumPy and torch.

The issue's float32 shapes A-F (fastnn._bench_common.CONV_SHAPES). "numpy" is
idiomatic NumPy (im2col via sliding_window_view + one np.tensordot per product,
fastnn._bench_numpy); "reference" is fastnn.reference (a tensordot per kernel
tap). Backward = grad-input + grad-weight + grad-bias (what ``conv2d_backward``
returns); torch's is ``aten.convolution_backward`` with the same three outputs.
"""
import fastnn
from fastnn import _bench_numpy as NP
from fastnn import functional as F
from fastnn import reference as R

from .common import CONV_IDS, conv_inputs, require_torch, warm


class Conv2d:
    """fastnn conv2d (each algorithm: 'direct', 'im2col'), NumPy and the reference, both passes.

    ('auto' picks per shape: see select_conv2d_algorithm.)
    """

    params = (CONV_IDS, ["direct", "im2col", "numpy", "reference"])
    param_names = ["shape", "algorithm"]
    timeout = 600

    def setup(self, shape, algorithm):
        self.x, self.w, self.b, self.go, self.kw = conv_inputs(shape)
        if algorithm == "numpy":
            s, p = self.kw["stride"], self.kw["padding"]
            self.kw = {}
            self.fwd = lambda x, w, b: NP.conv2d(x, w, b, s, p)
            self.bwd = lambda go, x, w: NP.conv2d_backward(go, x, w, s, p)
        elif algorithm == "reference":
            self.fwd, self.bwd = R.conv2d, R.conv2d_backward
        else:
            self.fwd, self.bwd = F.conv2d, F.conv2d_backward
            self.kw = dict(self.kw, algorithm=algorithm)
        # Warm-up: JIT-compile (or load from Numba's cache) outside the timing, on tiny
        # inputs (the full-size direct backward takes seconds).
        warm(lambda: fastnn.warmup(dtypes=("float32",), processes=1))

    def time_forward(self, shape, algorithm):
        self.fwd(self.x, self.w, self.b, **self.kw)

    def time_backward(self, shape, algorithm):
        self.bwd(self.go, self.x, self.w, **self.kw)


class Conv2dTorch:
    """torch.nn.functional.conv2d and aten.convolution_backward (skipped without PyTorch)."""

    params = [CONV_IDS]
    param_names = ["shape"]
    timeout = 300

    def setup(self, shape):
        torch = self.torch = require_torch()
        x, w, b, go, kw = conv_inputs(shape)
        self.x, self.w, self.b, self.go = (torch.from_numpy(a) for a in (x, w, b, go))
        self.stride, self.pad = kw["stride"], kw["padding"]
        warm(lambda: self.time_forward(shape), lambda: self.time_backward(shape))

    def time_forward(self, shape):
        with self.torch.no_grad():
            self.torch.nn.functional.conv2d(self.x, self.w, self.b, stride=self.stride,
                                            padding=self.pad)

    def time_backward(self, shape):
        s, p = self.stride, self.pad
        self.torch.ops.aten.convolution_backward(
            self.go, self.x, self.w, [self.w.shape[0]], [s, s], [p, p], [1, 1], False, [0, 0],
            1, [True, True, True])
