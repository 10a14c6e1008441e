"""Matrix multiply: fastnn's Numba GEMM kernel against NumPy's BLAS.

Times the raw kernel ``fastnn.kernels.gemm.gemm`` (output preallocated,
alpha=1, beta=0), ``fastnn.functional.matmul`` (argument checks plus output
allocation around the same kernel), ``fastnn.reference.matmul`` and ``np.dot``
(both BLAS), for square float32 and float64 matrices.
"""
import numpy as np

from fastnn import functional as F
from fastnn import reference as R
from fastnn.kernels import gemm as gemm_kernels

from .common import randn


class Gemm:
    """C = A @ B for square n x n matrices."""

    params = ([64, 256, 512], ["float32", "float64"])
    param_names = ["n", "dtype"]
    timeout = 120

    def setup(self, n, dtype):
        dt = np.dtype(dtype)
        self.a = randn(n, n, dtype=dt, seed=0)
        self.b = randn(n, n, dtype=dt, seed=1)
        self.c = np.empty((n, n), dtype=dt)
        self.alpha, self.beta = dt.type(1), dt.type(0)
        # Warm-up: JIT-compile (or load from Numba's cache) outside the timing.
        self.time_gemm_kernel(n, dtype)
        self.time_matmul(n, dtype)

    def time_gemm_kernel(self, n, dtype):
        gemm_kernels.gemm(self.a, self.b, self.c, self.alpha, self.beta, False, False)

    def time_matmul(self, n, dtype):
        F.matmul(self.a, self.b)

    def time_matmul_reference(self, n, dtype):
        R.matmul(self.a, self.b)

    def time_np_dot(self, n, dtype):
        np.dot(self.a, self.b)
