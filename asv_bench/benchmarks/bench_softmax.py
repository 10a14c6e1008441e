"""softmax, log_softmax, cross-entropy (forward and backward) over (4096, 1000) float32 logits."""
from fastnn import functional as F
from fastnn import reference as R

from .common import SOFTMAX_SHAPE, randn, require_torch, rng, warm


def _inputs():
    n, c = SOFTMAX_SHAPE
    return randn(n, c, seed=1), randn(n, c, seed=2), rng(3).integers(0, c, size=n, dtype="int64")


class Softmax:
    """The softmax family on fastnn and the reference."""

    params = [["fastnn", "reference"]]
    param_names = ["impl"]
    timeout = 300

    def setup(self, impl):
        self.m = F if impl == "fastnn" else R
        self.x, self.go, self.target = _inputs()
        self.y = self.m.softmax(self.x, dim=-1)
        self.logy = self.m.log_softmax(self.x, dim=-1)
        # Warm-up: JIT-compile (or load from Numba's cache) outside the timing.
        warm(*(lambda name=name: getattr(self, name)(impl)
               for name in dir(self) if name.startswith("time_")))

    def time_softmax(self, impl):
        self.m.softmax(self.x, dim=-1)

    def time_softmax_backward(self, impl):
        self.m.softmax_backward(self.go, self.y, dim=-1)

    def time_log_softmax(self, impl):
        self.m.log_softmax(self.x, dim=-1)

    def time_log_softmax_backward(self, impl):
        self.m.log_softmax_backward(self.go, self.logy, dim=-1)

    def time_cross_entropy(self, impl):
        self.m.cross_entropy(self.x, self.target)

    def time_cross_entropy_backward(self, impl):
        self.m.cross_entropy_backward(1.0, self.x, self.target)


class SoftmaxTorch:
    """torch.softmax, torch.log_softmax, F.cross_entropy (skipped without PyTorch)."""

    def setup(self):
        torch = self.torch = require_torch()
        x, _, target = _inputs()
        self.x, self.target = torch.from_numpy(x), torch.from_numpy(target)
        warm(self.time_softmax, self.time_log_softmax, self.time_cross_entropy)

    def time_softmax(self):
        self.torch.softmax(self.x, -1)

    def time_log_softmax(self):
        self.torch.log_softmax(self.x, -1)

    def time_cross_entropy(self):
        self.torch.nn.functional.cross_entropy(self.x, self.target)
