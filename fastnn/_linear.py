"""linear, matmul and their backward ops on the Numba GEMM (kernels/gemm.py, gemm_small.py, bias.py).

Also the GEMM dispatch: serial or parallel kernel, and the packing workspace.
"""
import numpy as np

from . import _args
from . import _checks
from . import _tuning
from . import _workspace
from .kernels import bias as _bias
from .kernels import gemm as _gemm
from .kernels import gemm_small as _gemm_small


def gemm_into(a, b, c, trans_a=False, trans_b=False, accumulate=False):
    """c = op(a) @ op(b) (or c += op(a) @ op(b) with ``accumulate``) with the Numba GEMM; returns c.

    a, b, c : C-contiguous 2-D arrays of one dtype (op(x) = x.T when trans_x).
    Products of fewer than ``_tuning.GEMM_SERIAL_WORK`` multiply-adds, C of at
    most one NR-column sliver (``gemm.sliver_columns``) and matrix-vector-like
    shapes run on the calling thread without packing: ``gemm_small_m`` (one dot
    product or row of C at a time) for C of at most ``_tuning.GEMM_SMALL_M``
    rows, or with B transposed and at most ``GEMM_SMALL_M_NT`` rows or
    ``GEMM_SMALL_N_NT`` columns, else ``gemm_small`` (6-row register tiles read
    from the operands). Everything else runs packed (``gemm_parallel``) on every
    thread, or on one when ``fastnn.get_num_threads()`` is 1, with a packing
    workspace (up to ~4.3 MiB float32, ~8.6 MiB float64) from this thread's
    workspace cache.
    """
    m, n = c.shape
    k = a.shape[0] if trans_a else a.shape[1]
    one = _ONE[c.dtype]
    beta = one if accumulate else _ZERO[c.dtype]
    nr = _SLIVER[c.dtype]
    threads = _tuning.n_chunks(m * n * k, _tuning.GEMM_SERIAL_WORK)
    if threads > 1 and (m <= _gemm.MC or n >= _gemm.COLUMN_SPLIT_MIN * threads):
        # gemm_parallel's column split deals out whole NR-column slivers: with
        # fewer slivers than threads the rest would only wake up and wait
        # (128 x 32 x 512 float32, one sliver: 35 us on one thread, 60-250 us on two).
        threads = min(threads, -(-n // nr))
    small_m = m <= _tuning.GEMM_SMALL_M or trans_b and (m <= _tuning.GEMM_SMALL_M_NT
                                                        or n <= _tuning.GEMM_SMALL_N_NT)
    # On one thread, packing pays from GEMM_SERIAL_WORK up except for one-sliver
    # C (float32, one Numba thread, unpacked / packed: 128^3 40/33 us, 1024^3
    # 52/14 ms, 256 x 784 x 1152 5.4/3.3 ms; 1024 x 32 x 1024 0.54/0.74 ms).
    if threads <= 1 and (m * n * k < _tuning.GEMM_SERIAL_WORK or n <= nr or small_m):
        if m == 0 or n == 0:
            return c
        if k == 0:
            if not accumulate:
                c[...] = 0  # an empty sum
        elif small_m:
            _gemm_small.gemm_small_m(a, b, c, one, beta, trans_a, trans_b)
        else:
            _gemm_small.gemm_small(a, b, c, one, beta, trans_a, trans_b)
        return c
    work = _workspace.workspace("gemm_pack", (_gemm.workspace_size(k, n, threads, c.dtype),),
                                c.dtype)
    _gemm.gemm_parallel(a, b, c, one, beta, trans_a, trans_b, work, threads)
    return c


# alpha = 1 and beta = 0 / 1 as scalars of the arrays' dtype: a Python float
# would make Numba compile a second signature of each kernel.
_ONE = {np.dtype(np.float32): np.float32(1), np.dtype(np.float64): np.float64(1)}
_ZERO = {np.dtype(np.float32): np.float32(0), np.dtype(np.float64): np.float64(0)}
# NR per dtype, looked up rather than computed: gemm.sliver_columns costs ~0.37 us a call,
# 5% of a 64^3 F.matmul.
_SLIVER = {d: _gemm.sliver_columns(d) for d in _ONE}


def linear(input, weight, bias=None):
    """Affine map y = input @ weight.T + bias, as torch.nn.functional.linear.

    Parameters
    ----------
    input : ndarray of shape (*, in_features), float32 or float64 (any number of
        leading dimensions, e.g. (N, in_features))
    weight : ndarray of shape (out_features, in_features), same dtype
    bias : ndarray of shape (out_features,), same dtype, or None

    Returns
    -------
    ndarray of shape (*, out_features), input's dtype.

    Raises
    ------
    TypeError for non-float or mixed dtypes; ValueError for a feature-count
    mismatch or wrongly shaped weight/bias.
    """
    x2, w, b, lead = _args.linear_args("linear", input, weight, bias)
    out = np.empty((x2.shape[0], w.shape[0]), dtype=x2.dtype)
    gemm_into(x2, w, out, trans_b=True)
    if b is not None:
        _tuning.run(_bias, "bias_add", out.size, _tuning.BIAS_PARALLEL_MIN,
                    out.reshape(out.shape[0], out.shape[1], 1), b)
    return out.reshape(lead + (w.shape[0],))


def linear_backward(grad_output, input, weight, *, input_grad=True):
    """Gradients of :func:`linear`: (grad_input, grad_weight, grad_bias).

    Parameters
    ----------
    grad_output : ndarray of shape (*, out_features)
    input : ndarray of shape (*, in_features), as passed to the forward
    weight : ndarray of shape (out_features, in_features)
    input_grad : bool, keyword-only, default True
        False: grad_input is not computed (one GEMM fewer) and None is returned in
        its place, as for a network's first layer (see :func:`conv2d_backward`).

    Returns
    -------
    grad_input (*, in_features) = grad_output @ weight (None when ``input_grad`` is False);
    grad_weight (out_features, in_features) = grad_output^T @ input (summed over
    all leading dimensions); grad_bias (out_features,) = grad_output summed over
    all leading dimensions.
    """
    go2, x2, w, lead = _args.linear_backward_args("linear_backward", grad_output, input,
                                                    weight)
    input_grad = _checks.flag("linear_backward", "input_grad", input_grad)
    m, out_f = go2.shape
    grad_input = None
    if input_grad:
        grad_input = gemm_into(go2, w, np.empty((m, w.shape[1]), dtype=x2.dtype))
        grad_input = grad_input.reshape(lead + (w.shape[1],))
    grad_weight = gemm_into(go2, x2, np.empty_like(w), trans_a=True)
    grad_bias = np.empty(out_f, dtype=x2.dtype)
    _tuning.run(_bias, "bias_reduce", go2.size, _tuning.BIAS_PARALLEL_MIN,
                go2.reshape(m, out_f, 1), grad_bias)
    return grad_input, grad_weight, grad_bias


def _gemm_operand(x):
    """A 2-D array as (C-contiguous matrix, transposed?) for the GEMM kernel, copying only if needed.

    A transposed view (x.T of a C-contiguous array, e.g. ``w.T``) is passed to
    the kernel as its C-contiguous base with the transpose flag set, instead of
    being copied: the kernel packs either layout at the same speed.
    """
    if x.flags.c_contiguous:
        return x, False
    if x.T.flags.c_contiguous:
        return x.T, True
    return np.ascontiguousarray(x), False


def matmul(input, other):
    """Matrix product of two 2-D arrays with fastnn's GEMM kernel.

    Parameters
    ----------
    input : ndarray of shape (M, K), float32 or float64
    other : ndarray of shape (K, N), same dtype

    Returns
    -------
    ndarray of shape (M, N). Raises ValueError on mismatched inner dimensions.
    """
    a, b = _args.matmul_args("matmul", input, other, keep_layout=True)
    (a, ta), (b, tb) = _gemm_operand(a), _gemm_operand(b)
    m, n = (a.shape[1] if ta else a.shape[0]), (b.shape[0] if tb else b.shape[1])
    return gemm_into(a, b, np.empty((m, n), dtype=a.dtype), trans_a=ta, trans_b=tb)


def matmul_backward(grad_output, input, other):
    """Gradients of :func:`matmul`: (grad_output @ other.T, input.T @ grad_output)."""
    go, a, b = _args.matmul_backward_args("matmul_backward", grad_output, input, other,
                                            keep_layout=True)
    go = go if go.flags.c_contiguous else np.ascontiguousarray(go)
    (a, ta), (b, tb) = _gemm_operand(a), _gemm_operand(b)
    shape_a, shape_b = (a.shape[::-1] if ta else a.shape), (b.shape[::-1] if tb else b.shape)
    # other = b.T when tb, so other.T is b itself: the kernel's transpose flag flips.
    grad_input = gemm_into(go, b, np.empty(shape_a, dtype=a.dtype), trans_b=not tb)
    grad_other = gemm_into(a, go, np.empty(shape_b, dtype=a.dtype), trans_a=not ta)
    return grad_input, grad_other

