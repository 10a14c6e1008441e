"""torch.nn.functional-style ops on NumPy arrays, computed by fastnn's Numba kernels.

Every op checks its arguments (raising TypeError / ValueError that name the
argument, what it got and what it expects) before any kernel runs, allocates
its output, and calls one kernel family from :mod:`fastnn.kernels`. This module is
a facade: each family lives in a private module that mirrors kernels/ (_conv,
_linear, _activation, _softmax, _pooling, _norm, _dropout, _loss); thresholds
are in fastnn._tuning.
:mod:`fastnn.reference` has the same functions with the same signatures in
plain NumPy.

Conventions (as torch.nn.functional):

* Images are NCHW; conv2d weights are (C_out, C_in, kH, kW); linear weights are
  (out_features, in_features). Convolution is cross-correlation.
* float32 and float64 are both supported; the output dtype is the input dtype
  and mixing dtypes raises TypeError. Other dtypes (float16, ints, complex)
  raise TypeError.
* Non-contiguous inputs (transposed, sliced, Fortran-ordered) are accepted: they
  are copied to C order once before the kernel runs. Inputs are never modified.
* Every forward op ``f`` has ``f_backward(grad_output, <saved>, ...)`` that
  returns the gradient(s) with respect to the forward's inputs, in the order of
  the forward's arguments.
"""
from ._activation import (leaky_relu, leaky_relu_backward, relu, relu_backward, sigmoid,
                          sigmoid_backward, step, step_backward, tanh, tanh_backward)
from ._conv import conv2d, conv2d_backward, select_conv2d_algorithm
from ._autotune import (clear_conv_autotune_cache, conv_autotune_results, get_conv_autotune,
                        set_conv_autotune)
from ._dropout import dropout, dropout_backward
from ._linear import linear, linear_backward, matmul, matmul_backward
from ._loss import (binary_cross_entropy, binary_cross_entropy_backward,
                    binary_cross_entropy_with_logits, binary_cross_entropy_with_logits_backward,
                    cross_entropy, cross_entropy_backward, mse_loss, mse_loss_backward)
from ._norm import batch_norm, batch_norm_backward
from ._pooling import (adaptive_avg_pool2d, adaptive_avg_pool2d_backward, avg_pool2d,
                       avg_pool2d_backward, max_pool2d, max_pool2d_backward)
from ._softmax import log_softmax, log_softmax_backward, softmax, softmax_backward

__all__ = [
    "conv2d", "conv2d_backward", "select_conv2d_algorithm",
    "set_conv_autotune", "get_conv_autotune", "clear_conv_autotune_cache", "conv_autotune_results",
    "linear", "linear_backward", "matmul", "matmul_backward",
    "relu", "relu_backward", "sigmoid", "sigmoid_backward", "tanh", "tanh_backward",
    "step", "step_backward",
    "softmax", "softmax_backward", "log_softmax", "log_softmax_backward",
    "cross_entropy", "cross_entropy_backward",
    "max_pool2d", "max_pool2d_backward",
    "avg_pool2d", "avg_pool2d_backward", "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward",
    "batch_norm", "batch_norm_backward", "dropout", "dropout_backward",
    "mse_loss", "mse_loss_backward", "binary_cross_entropy", "binary_cross_entropy_backward",
    "binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits_backward",
    "leaky_relu", "leaky_relu_backward",
]


# --------------------------------------------------------------------------- further op families
from ._recurrent import *  # noqa: E402,F401,F403  (rnn_tanh, lstm, gru, *_cell, *_backward)
from ._recurrent import __all__ as _recurrent_all  # noqa: E402
from ._embedding import embedding, embedding_backward  # noqa: E402
from ._norm_ext import (group_norm, group_norm_backward, layer_norm,  # noqa: E402
                        layer_norm_backward)
from ._loss_ext import multi_margin_loss, multi_margin_loss_backward  # noqa: E402

__all__ += _recurrent_all + [
    "embedding", "embedding_backward", "layer_norm", "layer_norm_backward", "group_norm",
    "group_norm_backward", "multi_margin_loss", "multi_margin_loss_backward"]

# With Numba's workqueue threading layer, concurrent kernel launches abort the
# process: wrap every op in one lock (fastnn/_threading.py).
import sys as _sys  # noqa: E402
from . import _threading  # noqa: E402
_threading.serialise_if_needed(_sys.modules[__name__])

# fastnn.reference's docstrings are this module's (see its _document).
from . import reference as _reference  # noqa: E402
_reference._document(_sys.modules[__name__])
