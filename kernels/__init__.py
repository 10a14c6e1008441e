"""fastnn.kernels: the Numba-compiled kernels behind fastnn.functional.

One module per kernel family (gemm, conv_direct, im2col, activations, softmax,
pooling, bias). Kernels do no argument checking and make no allocation-policy
decisions: typed, C-contiguous arrays in, results written into output arrays
the caller allocated. Call them through :mod:`fastnn.functional`, which checks
arguments first.

Importing this package compiles nothing: every kernel is compiled lazily on its
first call (``cache=True`` keeps the machine code on disk for later processes).

Install the project and import it as ``fastnn.kernels``; importing the top-level
name ``kernels`` from a checkout would compile a second, separate copy.
"""
