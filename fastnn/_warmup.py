"""``fastnn.warmup()``: compile (or load from Numba's on-disk cache) every kernel up front.

Importing fastnn compiles nothing; each kernel is compiled on its first call,
once per dtype (then cached on disk, ``cache=True``). A program that wants no
compile pause in its first training step, or a benchmark that must not time
compilation, calls :func:`warmup` once at start-up.

``WARMUP_CALLS`` below is a table: one row per call of a public op in
:mod:`fastnn.functional`, on tiny inputs. A new op gets one new row.
"""
import time

import numpy as np

from . import _checks, functional

__all__ = ["warmup", "WARMUP_CALLS"]


def _tiny_inputs(dtype):
    """Named tiny arrays of ``dtype`` that the rows of WARMUP_CALLS refer to."""
    rng = np.random.default_rng(0)

    def r(*shape):
        return rng.standard_normal(shape).astype(dtype)

    return {
        "x4": r(2, 3, 6, 6),          # NCHW image batch
        "w4": r(4, 3, 3, 3),          # conv weight (C_out, C_in, kH, kW)
        "b4": r(4),                   # conv bias
        "w11": r(4, 3, 1, 1),         # 1x1 conv weight (its output has gy4's shape)
        "gy4": r(2, 4, 6, 6),         # grad of conv2d(x4, w4, padding=1)
        "gp4": r(2, 3, 3, 3),         # grad of max_pool2d(x4, 2)
        "x2": r(5, 7),                # (N, features), (N, classes), matrix A
        "w2": r(3, 7),                # linear weight (out, in)
        "b2": r(3),                   # linear bias
        "gy2": r(5, 3),               # grad of linear(x2, w2)
        "m2": r(7, 3),                # matrix B of matmul(x2, m2)
        "g2": r(5, 7),                # grad of any op returning x2's shape
        "t1": np.array([0, 6, 2, 3, 1], dtype=np.int64),   # class indices for x2
        "ga4": r(2, 3, 1, 1),         # grad of adaptive_avg_pool2d(x4, 1)
        "c3": np.abs(r(3)) + 0.5,     # per-channel statistics / affine parameters of x4
        "p2": 1 / (1 + np.exp(-r(5, 7))),                   # probabilities, x2's shape
        "mask2": rng.random((5, 7)) > 0.5,                  # dropout keep mask, x2's shape
        "sq": r(100, 100),            # 100^3 multiply-adds: above the GEMM's serial threshold
        # recurrent ops: T=3, N=2, input 4, hidden 5; weights with G = 1 / 4 / 3 gate blocks
        "xs": r(3, 2, 4), "gs": r(3, 2, 5), "xc": r(2, 4), "h5": r(2, 5),
        "hc5": (r(2, 5), r(2, 5)),
        "wi1": r(5, 4), "wh1": r(5, 5), "b5": r(5),
        "wi4": r(20, 4), "wh4": r(20, 5), "b20": r(20),
        "wi3": r(15, 4), "wh3": r(15, 5), "b15": r(15),
        # embedding (indices into 6 rows of 4), layer / group norm
        "idx": np.array([[0, 5, 2], [2, 1, 0]], dtype=np.int64), "we": r(6, 4), "ge": r(2, 3, 4),
        "ln66": r(6, 6),
    }


# One row per call: (function name in fastnn.functional, names of its
# positional arguments in _tiny_inputs, keyword arguments). Every kernel of
# every public op (forward and backward, every conv2d algorithm) runs at least
# once. Append a row for a new op.
WARMUP_CALLS = [
    ("conv2d", ("x4", "w4", "b4"), {"padding": 1, "algorithm": "direct"}),
    ("conv2d", ("x4", "w4", "b4"), {"padding": 1, "algorithm": "im2col"}),
    ("conv2d_backward", ("gy4", "x4", "w4"), {"padding": 1, "algorithm": "direct"}),
    ("conv2d_backward", ("gy4", "x4", "w4"), {"padding": 1, "algorithm": "im2col"}),
    ("conv2d", ("x4", "w4", "b4"), {"padding": 1, "algorithm": "winograd"}),
    ("conv2d_backward", ("gy4", "x4", "w4"), {"padding": 1, "algorithm": "winograd"}),
    ("conv2d", ("x4", "w11", "b4"), {"algorithm": "1x1"}),
    ("conv2d_backward", ("gy4", "x4", "w11"), {"algorithm": "1x1"}),
    ("linear", ("x2", "w2", "b2"), {}),
    ("linear_backward", ("gy2", "x2", "w2"), {}),
    ("matmul", ("x2", "m2"), {}),
    ("matmul_backward", ("gy2", "x2", "m2"), {}),
    ("matmul", ("sq", "sq"), {}),                           # the parallel GEMM path
    ("relu", ("x2",), {}),
    ("relu_backward", ("g2", "x2"), {}),
    ("sigmoid", ("x2",), {}),
    ("sigmoid_backward", ("g2", "x2"), {}),
    ("tanh", ("x2",), {}),
    ("tanh_backward", ("g2", "x2"), {}),
    ("step", ("x2",), {}),
    ("step_backward", ("g2", "x2"), {}),
    ("leaky_relu", ("x2",), {}),
    ("leaky_relu_backward", ("g2", "x2"), {}),
    ("softmax", ("x2",), {}),
    ("softmax_backward", ("g2", "x2"), {}),
    ("log_softmax", ("x2",), {}),
    ("log_softmax_backward", ("g2", "x2"), {}),
    ("cross_entropy", ("x2", "t1"), {}),
    ("cross_entropy_backward", (1.0, "x2", "t1"), {}),
    ("max_pool2d", ("x4", 2), {"return_indices": True}),
    ("max_pool2d_backward", ("gp4", "x4", 2), {}),
    ("avg_pool2d", ("x4", 2), {}),
    ("avg_pool2d_backward", ("gp4", "x4", 2), {}),
    ("adaptive_avg_pool2d", ("x4", 1), {}),
    ("adaptive_avg_pool2d_backward", ("ga4", "x4", 1), {}),
    ("batch_norm", ("x4", "c3", "c3", "c3", "c3"), {"training": True}),
    ("batch_norm", ("x4", "c3", "c3", "c3", "c3"), {"training": False}),
    ("batch_norm_backward", ("x4", "x4", "c3", "c3", "c3"), {"training": True}),
    ("batch_norm_backward", ("x4", "x4", "c3", "c3", "c3"), {"training": False}),
    ("dropout", ("x2", 0.5), {"generator": 0}),
    ("dropout_backward", ("g2", "mask2", 0.5), {}),
    ("mse_loss", ("x2", "g2"), {}),
    ("mse_loss_backward", (1.0, "x2", "g2"), {}),
    ("binary_cross_entropy", ("p2", "p2"), {}),
    ("binary_cross_entropy_backward", (1.0, "p2", "p2"), {}),
    ("binary_cross_entropy_with_logits", ("x2", "p2"), {}),
    ("binary_cross_entropy_with_logits_backward", (1.0, "x2", "p2"), {}),
    ("cross_entropy", ("x2", "p2"), {}),                  # probability targets
    ("cross_entropy_backward", (1.0, "x2", "p2"), {}),
    ("rnn_tanh", ("xs", "h5", "wi1", "wh1", "b5", "b5"), {}),
    ("rnn_tanh_backward", ("gs", "xs", "h5", "wi1", "wh1", "b5", "b5"), {}),
    ("rnn_relu", ("xs", "h5", "wi1", "wh1", "b5", "b5"), {}),
    ("rnn_relu_backward", ("gs", "xs", "h5", "wi1", "wh1", "b5", "b5"), {}),
    ("lstm", ("xs", "hc5", "wi4", "wh4", "b20", "b20"), {}),
    ("lstm_backward", ("gs", "xs", "hc5", "wi4", "wh4", "b20", "b20"), {}),
    ("gru", ("xs", "h5", "wi3", "wh3", "b15", "b15"), {}),
    ("gru_backward", ("gs", "xs", "h5", "wi3", "wh3", "b15", "b15"), {}),
    ("rnn_tanh_cell", ("xc", "h5", "wi1", "wh1", "b5", "b5"), {}),
    ("rnn_tanh_cell_backward", ("h5", "xc", "h5", "wi1", "wh1", "b5", "b5"), {}),
    ("rnn_relu_cell", ("xc", "h5", "wi1", "wh1", "b5", "b5"), {}),
    ("rnn_relu_cell_backward", ("h5", "xc", "h5", "wi1", "wh1", "b5", "b5"), {}),
    ("lstm_cell", ("xc", "hc5", "wi4", "wh4", "b20", "b20"), {}),
    ("lstm_cell_backward", ("hc5", "xc", "hc5", "wi4", "wh4", "b20", "b20"), {}),
    ("gru_cell", ("xc", "h5", "wi3", "wh3", "b15", "b15"), {}),
    ("gru_cell_backward", ("h5", "xc", "h5", "wi3", "wh3", "b15", "b15"), {}),
    ("embedding", ("idx", "we"), {}),
    ("embedding_backward", ("ge", "idx", "we"), {}),
    ("layer_norm", ("x4", (6, 6), "ln66", "ln66"), {}),
    ("layer_norm_backward", ("x4", "x4", (6, 6), "ln66", "ln66"), {}),
    ("group_norm", ("x4", 3, "c3", "c3"), {}),
    ("group_norm_backward", ("x4", "x4", 3, "c3", "c3"), {}),
    ("multi_margin_loss", ("x2", "t1"), {}),
    ("multi_margin_loss_backward", (1.0, "x2", "t1"), {}),
]


def warmup(dtypes=("float32", "float64")):
    """Compile, or load from Numba's on-disk cache, every fastnn kernel for ``dtypes``.

    Calls every public op of :mod:`fastnn.functional` and its backward once on
    tiny inputs (every conv2d algorithm), so later calls of those dtypes never
    pause to compile. Importing fastnn compiles nothing; without warmup() each
    kernel compiles on its first call instead.

    Parameters
    ----------
    dtypes : iterable of 'float32' / 'float64' (or the numpy dtypes), default both.
        Each dtype is a separate compiled specialisation of every kernel.

    Returns
    -------
    float
        Seconds taken (wall clock). With a cold cache this is the full compile
        time (about 30-60 s per dtype on 2 cores; set NUMBA_CACHE_DIR to choose
        where the machine code is kept); with a warm cache, well under a second.

    Raises
    ------
    ValueError
        A dtype other than float32 / float64, or an empty ``dtypes``.
    """
    if isinstance(dtypes, (str, np.dtype, type)):
        dtypes = (dtypes,)
    try:
        resolved = [np.dtype(d) for d in dtypes]
    except TypeError as exc:
        raise ValueError(f"warmup(): dtypes must be 'float32' and/or 'float64', "
                         f"got {dtypes!r}") from exc
    if not resolved or any(d not in _checks.FLOAT_DTYPES for d in resolved):
        raise ValueError(f"warmup(): dtypes must be a non-empty selection of 'float32' and "
                         f"'float64', got {dtypes!r}")
    start = time.perf_counter()
    for dtype in resolved:
        inputs = _tiny_inputs(dtype)
        for name, args, kwargs in WARMUP_CALLS:
            op = getattr(functional, name)
            op(*(inputs[a] if isinstance(a, str) else a for a in args), **kwargs)
    return time.perf_counter() - start
