"""Matrix multiply: fastnn.functional.matmul (the Numba GEMM) against NumPy's BLAS and torch.mm.

Square float32 products at the issue's sizes, plus A @ B^T and A^T @ B (the
transposed operand is a view, as a caller would pass it) at 1024.
"""
import numpy as np

from fastnn import functional as F
from fastnn import reference as R

from .common import (GEMM_LAYOUTS, GEMM_SIZES, GEMM_TRANSPOSE_SIZE, gemm_operands, require_torch,
                     warm)


class Gemm:
    """C = A @ B for square n x n float32 matrices: fastnn, reference, np.dot."""

    params = (GEMM_SIZES, ["fastnn", "reference", "np.dot"])
    param_names = ["n", "impl"]
    timeout = 300

    def setup(self, n, impl):
        self.a, self.b = gemm_operands(n, "A@B")
        self.fn = {"fastnn": F.matmul, "reference": R.matmul, "np.dot": np.dot}[impl]
        warm(lambda: self.fn(self.a, self.b))  # JIT compile / cache load outside the timing

    def time_matmul(self, n, impl):
        self.fn(self.a, self.b)


class GemmTransposed:
    """A @ B^T and A^T @ B at n = 1024 (transposed operands passed as views)."""

    params = (GEMM_LAYOUTS, ["fastnn", "np.dot"])
    param_names = ["layout", "impl"]
    timeout = 300

    def setup(self, layout, impl):
        self.a, self.b = gemm_operands(GEMM_TRANSPOSE_SIZE, layout)
        self.fn = F.matmul if impl == "fastnn" else np.dot
        warm(lambda: self.fn(self.a, self.b))

    def time_matmul(self, layout, impl):
        self.fn(self.a, self.b)


class GemmBackward:
    """matmul_backward (two GEMMs with a transposed operand) at n = 512 and 1024."""

    params = ([512, 1024], ["fastnn", "reference"])
    param_names = ["n", "impl"]
    timeout = 300

    def setup(self, n, impl):
        self.a, self.b = gemm_operands(n, "A@B")
        self.go, _ = gemm_operands(n, "A@B")
        self.fn = F.matmul_backward if impl == "fastnn" else R.matmul_backward
        warm(lambda: self.fn(self.go, self.a, self.b))

    def time_matmul_backward(self, n, impl):
        warm(lambda: self.fn(self.go, self.a, self.b))


class GemmTorch:
    """torch.mm on the CPU, same layouts (skipped when PyTorch is not installed)."""

    params = ([f"{n} A@B" for n in GEMM_SIZES]
              + [f"{GEMM_TRANSPOSE_SIZE} {layout}" for layout in GEMM_LAYOUTS[1:]])
    param_names = ["case"]
    timeout = 300

    def setup(self, case):
        torch = require_torch()
        n, layout = case.split()
        a, b = gemm_operands(int(n), layout)
        self.mm, self.a, self.b = torch.mm, torch.from_numpy(a), torch.from_numpy(b)
        warm(lambda: self.mm(self.a, self.b))

    def time_mm(self, case):
        self.mm(self.a, self.b)
