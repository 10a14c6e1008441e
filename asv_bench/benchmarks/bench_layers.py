"""max_pool2d and linear, forward and backward, on fastnn, the reference and torch; SGD.step."""
import fastnn
from fastnn import functional as F
from fastnn import reference as R

from .common import (LINEAR_SHAPES, POOL_SHAPES, linear_inputs, pool_inputs, randn,
                     require_torch, warm)


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


class SGDStep:
    """SGD.step with momentum: kernels/optim.py's update (Numba backend) against the NumPy
    form (NumPy backend), on LeNet-5's ten parameters and on 4M floats in one parameter."""

    params = (["lenet5", "4M"], ["numba", "numpy"])
    param_names = ["params", "backend"]
    timeout = 300

    def setup(self, params, backend):
        from fastnn._bench_nets import lenet_fastnn
        model = lenet_fastnn(0) if params == "lenet5" else fastnn.Linear(2048, 2048)
        for layer, name in model.parameters():
            layer.grads[name] = randn(*layer.params[name].shape, seed=1)
        self.previous = fastnn.get_backend()
        fastnn.set_backend(backend)
        self.opt = fastnn.SGD(model, lr=1e-3, momentum=0.9)
        warm(self.opt.step, self.opt.step)   # the first step only sets the momentum

    def teardown(self, params, backend):
        fastnn.set_backend(self.previous)

    def time_step(self, params, backend):
        self.opt.step()
