"""Elementwise activations and their derivatives on 16M float32 values (memory-bound).

fastnn writes into a preallocated ``out=`` array when the op accepts one, as does
"numpy" (idiomatic ufuncs with ``out=``, fastnn._bench_numpy); "reference" is
fastnn.reference (allocating ``np.where``); torch uses its ``out=`` variants. Compare with the
copy bandwidth printed by ``python -m fastnn bench``.
"""
import numpy as np

from fastnn import _bench_numpy as NP
from fastnn import functional as F
from fastnn import reference as R

from .common import ELEMENTWISE_SIZE, accepts_out, randn, require_torch, warm

FORWARD = ["relu", "sigmoid", "tanh"]
BACKWARD = ["relu_backward", "sigmoid_backward", "tanh_backward"]


def _arguments(name, x, y, g):
    """Positional arguments of op ``name``: relu_backward takes the input, the others the output."""
    if name in FORWARD:
        return (x,)
    return (g, x) if name == "relu_backward" else (g, y)


class Elementwise:
    """fastnn (with out= when available), NumPy (out=) and reference, forward and backward ops."""

    params = (FORWARD + BACKWARD, ["fastnn", "numpy", "reference"])
    param_names = ["op", "impl"]
    timeout = 300

    def setup(self, op, impl):
        x = randn(ELEMENTWISE_SIZE, seed=1)
        y, g = np.tanh(x), randn(ELEMENTWISE_SIZE, seed=2)
        self.args = _arguments(op, x, y, g)
        fn = getattr({"fastnn": F, "numpy": NP, "reference": R}[impl], op)
        self.kw = {"out": np.empty_like(x)} if impl != "reference" and accepts_out(fn) else {}
        self.fn = fn
        warm(lambda: self.fn(*self.args, **self.kw))

    def time_op(self, op, impl):
        self.fn(*self.args, **self.kw)


class ElementwiseTorch:
    """torch's out= variants of the same ops (skipped when PyTorch is not installed)."""

    params = [FORWARD + BACKWARD]
    param_names = ["op"]
    timeout = 300

    def setup(self, op):
        torch = require_torch()
        aten = torch.ops.aten
        x = randn(ELEMENTWISE_SIZE, seed=1)
        tx, ty, tg = (torch.from_numpy(a) for a in (x, np.tanh(x), randn(x.size, seed=2)))
        out = torch.empty_like(tx)
        self.call = {
            "relu": lambda: torch.clamp_min(tx, 0, out=out),
            "sigmoid": lambda: torch.sigmoid(tx, out=out),
            "tanh": lambda: torch.tanh(tx, out=out),
            "relu_backward": lambda: aten.threshold_backward.grad_input(tg, tx, 0,
                                                                         grad_input=out),
            "sigmoid_backward": lambda: aten.sigmoid_backward.grad_input(tg, ty, grad_input=out),
            "tanh_backward": lambda: aten.tanh_backward.grad_input(tg, ty, grad_input=out),
        }[op]
        warm(self.call)

    def time_op(self, op):
        self.call()
