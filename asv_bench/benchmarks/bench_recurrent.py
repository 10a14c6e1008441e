"""Recurrent layers (LSTM, GRU, Elman RNN), forward + backward through the whole sequence,
on the shapes of ``python -m fastnn bench --only recurrent``; torch.nn's as a separate class."""
import numpy as np

import fastnn
from fastnn._bench_common import RECURRENT_SHAPES

from .common import randn, require_torch, warm

_IDS = [f"T{t} N{n} D{d} H{h}" for t, n, d, h in RECURRENT_SHAPES]


def _inputs(shape_id):
    t, n, d, h = RECURRENT_SHAPES[_IDS.index(shape_id)]
    return d, h, randn(t, n, d, seed=3), randn(t, n, h, seed=4)


class Recurrent:
    """fastnn.LSTM / GRU / RNN forward then backward."""

    params = [["LSTM", "GRU", "RNN"], _IDS]
    param_names = ["layer", "shape"]
    timeout = 300

    def setup(self, layer, shape):
        d, h, self.x, self.g = _inputs(shape)
        self.layer = getattr(fastnn, layer)(d, h, dtype=np.float32)
        warm(lambda: self.time_forward_backward(layer, shape))

    def time_forward_backward(self, layer, shape):
        self.layer.forward(self.x)
        self.layer.backward(self.g)


class RecurrentTorch:
    """torch.nn.LSTM / GRU / RNN forward then backward (skipped without torch)."""

    params = Recurrent.params
    param_names = Recurrent.param_names
    timeout = 300

    def setup(self, layer, shape):
        torch = require_torch()
        d, h, x, g = _inputs(shape)
        self.layer = getattr(torch.nn, layer)(d, h)
        self.x = torch.tensor(x, requires_grad=True)
        self.g = torch.from_numpy(g)
        warm(lambda: self.time_forward_backward(layer, shape))

    def time_forward_backward(self, layer, shape):
        self.layer(self.x)[0].backward(self.g)
