"""Batch norm, dropout, average pooling and the elementwise losses: fastnn's Numba kernels
against the NumPy reference and (where installed) PyTorch CPU, float32."""
import numpy as np

from fastnn import functional as F
from fastnn import reference as R

from .common import randn, require_torch, warm

IMPLS = ["fastnn", "reference", "torch"]


def _torch_setup(impl):
    if impl == "torch":
        return require_torch()
    return None


class BatchNorm2d:
    """Training-mode batch_norm forward and backward on (N, C, H, W) float32."""

    params = (["32x64x16x16", "128x16x8x8"], IMPLS)
    param_names = ["shape", "impl"]
    timeout = 120

    def setup(self, shape, impl):
        dims = tuple(int(d) for d in shape.split("x"))
        c = dims[1]
        self.x, self.g = randn(*dims, seed=0), randn(*dims, seed=1)
        self.w, self.b = randn(c, seed=2), randn(c, seed=3)
        self.rm, self.rv = np.zeros(c, np.float32), np.ones(c, np.float32)
        self.impl = impl
        torch = _torch_setup(impl)
        if torch is not None:
            self.tx = torch.tensor(self.x, requires_grad=True)
            self.tw, self.tb = torch.tensor(self.w), torch.tensor(self.b)
            self.trm, self.trv = torch.tensor(self.rm), torch.tensor(self.rv)
            self.tg = torch.tensor(self.g)
        else:
            self.mod = F if impl == "fastnn" else R
        warm(lambda: self.time_forward(shape, impl),
             lambda: self.time_forward_backward(shape, impl))

    def time_forward(self, shape, impl):
        if impl == "torch":
            import torch
            with torch.no_grad():
                torch.nn.functional.batch_norm(self.tx, self.trm, self.trv, self.tw, self.tb,
                                               True)
        else:
            self.mod.batch_norm(self.x, self.rm, self.rv, self.w, self.b, True)

    def time_forward_backward(self, shape, impl):
        if impl == "torch":
            import torch
            y = torch.nn.functional.batch_norm(self.tx, self.trm, self.trv, self.tw, self.tb,
                                               True)
            y.backward(self.tg)
        else:
            self.mod.batch_norm(self.x, self.rm, self.rv, self.w, self.b, True)
            self.mod.batch_norm_backward(self.g, self.x, self.rm, self.rv, self.w, True)


class Dropout:
    """dropout(p=0.2) forward (mask drawn with NumPy) and backward on float32."""

    params = ([1_000_000], ["fastnn", "reference"])
    param_names = ["size", "impl"]
    timeout = 120

    def setup(self, size, impl):
        self.x = randn(size, seed=0)
        self.mod = F if impl == "fastnn" else R
        self.gen = np.random.default_rng(0)
        _, self.mask = self.mod.dropout(self.x, 0.2, generator=self.gen, return_mask=True)
        warm(lambda: self.time_dropout(size, impl), lambda: self.time_dropout_backward(size, impl))

    def time_dropout(self, size, impl):
        self.mod.dropout(self.x, 0.2, generator=self.gen)

    def time_dropout_backward(self, size, impl):
        self.mod.dropout_backward(self.x, self.mask, 0.2)


class AvgPool2d:
    """avg_pool2d forward and backward on (32, 64, 16, 16) float32."""

    params = (["k2s2", "k3s2p1"], IMPLS)
    param_names = ["geometry", "impl"]
    timeout = 120
    GEOMETRY = {"k2s2": dict(kernel_size=2), "k3s2p1": dict(kernel_size=3, stride=2, padding=1)}

    def setup(self, geometry, impl):
        self.kw = self.GEOMETRY[geometry]
        self.x = randn(32, 64, 16, 16, seed=0)
        torch = _torch_setup(impl)
        if torch is not None:
            self.tx = torch.tensor(self.x, requires_grad=True)
            out = torch.nn.functional.avg_pool2d(self.tx, **self.kw)
            self.tg = torch.ones_like(out)
        else:
            self.mod = F if impl == "fastnn" else R
            self.g = np.ones_like(self.mod.avg_pool2d(self.x, **self.kw))
        warm(lambda: self.time_forward_backward(geometry, impl))

    def time_forward_backward(self, geometry, impl):
        if impl == "torch":
            import torch
            torch.nn.functional.avg_pool2d(self.tx, **self.kw).backward(self.tg)
        else:
            self.mod.avg_pool2d(self.x, **self.kw)
            self.mod.avg_pool2d_backward(self.g, self.x, **self.kw)


class Losses:
    """mse_loss / binary_cross_entropy_with_logits ('mean'), forward + backward, (256, 1000)."""

    params = (["mse_loss", "binary_cross_entropy_with_logits"], ["fastnn", "reference"])
    param_names = ["loss", "impl"]
    timeout = 120

    def setup(self, loss, impl):
        self.x = randn(256, 1000, seed=0)
        self.t = (randn(256, 1000, seed=1) > 0).astype(np.float32)
        mod = F if impl == "fastnn" else R
        self.fwd, self.bwd = getattr(mod, loss), getattr(mod, loss + "_backward")
        warm(lambda: self.time_forward_backward(loss, impl))

    def time_forward_backward(self, loss, impl):
        self.fwd(self.x, self.t)
        self.bwd(1.0, self.x, self.t)
