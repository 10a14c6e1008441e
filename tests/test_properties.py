"""Property-based tests: every op equals the NumPy reference on random shapes, geometry and layouts.

For each row of OPS, hypothesis draws a case (shapes, stride, padding,
dilation, batch 1, dtype, arguments) and gives every array argument a random
memory layout (C order, Fortran order, a permuted view, negative strides, a
strided slice of a larger buffer). Then:

* fastnn.functional on the odd layouts equals fastnn.reference on C-ordered
  copies within tests/helpers.py TOL, with the input's dtype;
* neither backend modifies any of its inputs, except the documented in-place
  updates listed in MODIFIED_IN_PLACE (training-mode batch_norm's running
  statistics), which must come out equal on both backends.

Examples per op: the hypothesis profile (tests/conftest.py): "ci" by default,
HYPOTHESIS_PROFILE=thorough for many more. To cover a new op, write a
strategy that returns (args, kwargs) and append one row to OPS.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastnn.functional as F
import fastnn.reference as R
from fastnn import _args, _checks

from helpers import DTYPES, assert_close

LAYOUTS = ["c", "fortran", "permuted", "negative", "strided"]


def relayout(x, kind, rng):
    """The values of ``x`` in another memory layout (a view where possible)."""
    if kind == "c" or x.ndim == 0:
        return x.copy()
    if kind == "fortran":
        return np.asfortranarray(x)
    if kind == "permuted":  # a non-contiguous view of a C array holding x transposed
        perm = rng.permutation(x.ndim)
        return np.transpose(np.ascontiguousarray(np.transpose(x, perm)), np.argsort(perm))
    if kind == "negative":  # every axis read backwards
        return np.flip(np.flip(x).copy())
    if kind == "strided":  # every other element of a buffer twice the size
        fill = np.nan if x.dtype.kind == "f" else 0  # NaN gaps would show if read
        big = np.full(tuple(2 * s for s in x.shape), fill, dtype=x.dtype)
        view = big[(slice(None, None, 2),) * x.ndim]
        view[...] = x
        return view
    raise ValueError(kind)


def randn(rng, shape, dtype):
    return np.asarray(rng.standard_normal(shape)).astype(dtype)


seeds = st.integers(0, 2**32 - 1)
dtypes = st.sampled_from(DTYPES)


def shapes(min_dims, max_dims, max_side=5):
    return st.lists(st.integers(1, max_side), min_size=min_dims, max_size=max_dims).map(tuple)


# --------------------------------------------------------------------------- case strategies
# Each returns (args, kwargs); ndarray arguments get random layouts in the test.

@st.composite
def conv2d_case(draw, backward=False):
    rng = np.random.default_rng(draw(seeds))
    dt = draw(dtypes)
    n, c_in, c_out = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    algorithm = draw(st.sampled_from(_checks.CONV_ALGORITHMS))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    padding = draw(st.one_of(st.tuples(st.integers(0, 2), st.integers(0, 2)),
                             st.sampled_from(["same", "valid"])))
    stride = (1, 1) if padding == "same" else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    if algorithm == "1x1":    # only defined for pointwise geometry
        kh, kw, padding, stride = 1, 1, (0, 0), (1, 1)
    if algorithm == "winograd":    # only defined for 3x3, stride 1, dilation 1
        kh, kw, stride, dh, dw = 3, 3, (1, 1), 1, 1
    ph, pw = padding if isinstance(padding, tuple) else (0, 0)
    # smallest input the dilated kernel fits in, plus a little
    h = max(1, dh * (kh - 1) + 1 - 2 * ph) + draw(st.integers(0, 5))
    w = max(1, dw * (kw - 1) + 1 - 2 * pw) + draw(st.integers(0, 5))
    x, weight = randn(rng, (n, c_in, h, w), dt), randn(rng, (c_out, c_in, kh, kw), dt)
    kwargs = dict(stride=stride, padding=padding, dilation=(dh, dw),
                  algorithm=algorithm)
    if backward:
        _, _, _, g = _args.conv2d_args("conv2d", x, weight, None, stride, padding, (dh, dw),
                                         1, "auto")
        return (randn(rng, (n, c_out, g.out_h, g.out_w), dt), x, weight), kwargs
    bias = randn(rng, c_out, dt) if draw(st.booleans()) else None
    return (x, weight, bias), kwargs


@st.composite
def linear_case(draw, backward=False):
    rng = np.random.default_rng(draw(seeds))
    dt = draw(dtypes)
    lead = draw(shapes(0, 2, 6))                 # () gives a 1-D input
    in_f, out_f = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    x, weight = randn(rng, lead + (in_f,), dt), randn(rng, (out_f, in_f), dt)
    if backward:
        return (randn(rng, lead + (out_f,), dt), x, weight), {}
    bias = randn(rng, out_f, dt) if draw(st.booleans()) else None
    return (x, weight, bias), {}


@st.composite
def matmul_case(draw, backward=False):
    rng = np.random.default_rng(draw(seeds))
    dt = draw(dtypes)
    m = draw(st.integers(1, 12))
    # K and N reach past the GEMM's 256-wide packed panels (kernels/gemm.py KC, NC)
    k = draw(st.one_of(st.integers(1, 20), st.integers(250, 270)))
    n = draw(st.one_of(st.integers(1, 20), st.integers(250, 270)))
    a, b = randn(rng, (m, k), dt), randn(rng, (k, n), dt)
    if backward:
        return (randn(rng, (m, n), dt), a, b), {}
    return (a, b), {}


@st.composite
def elementwise_case(draw, backward=False, saved="input"):
    rng = np.random.default_rng(draw(seeds))
    dt = draw(dtypes)
    shape = draw(shapes(0, 4))
    # Values in [-6, 6] with a few exact zeros (relu'(0), step(0)).
    x = np.asarray(rng.uniform(-6, 6, shape) * (rng.random(shape) > 0.1)).astype(dt)
    if saved == "output":  # sigmoid/tanh backward take the forward's output, in (-1, 1)
        x = np.asarray(np.tanh(x))
    if backward:
        return (randn(rng, shape, dt), x), {}
    return (x,), {}


@st.composite
def softmax_case(draw, backward=False, log=False):
    rng = np.random.default_rng(draw(seeds))
    dt = draw(dtypes)
    shape = draw(shapes(1, 4, 6))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    x = (randn(rng, shape, dt) * dt(draw(st.sampled_from([1, 10, 100])))).astype(dt)
    if backward:  # the backward takes the forward's output
        y = R.log_softmax(x, dim) if log else R.softmax(x, dim)
        return (randn(rng, shape, dt), y), dict(dim=dim)
    return (x,), dict(dim=dim)


@st.composite
def cross_entropy_case(draw, backward=False):
    rng = np.random.default_rng(draw(seeds))
    dt = draw(dtypes)
    n, c = draw(st.integers(1, 8)), draw(st.integers(1, 12))
    x = randn(rng, (n, c), dt) * dt(3)
    target = rng.integers(0, c, n).astype(draw(st.sampled_from([np.int64, np.int32, np.uint8])))
    reduction = draw(st.sampled_from(_checks.REDUCTIONS))
    if backward:
        grad = randn(rng, n, dt) if reduction == "none" else draw(
            st.sampled_from([1.0, 0.5, -2.0, 3]))
        return (grad, x, target), dict(reduction=reduction)
    return (x, target), dict(reduction=reduction)


@st.composite
def max_pool2d_case(draw, backward=False, ceil_mode=False):
    rng = np.random.default_rng(draw(seeds))
    dt = draw(dtypes)
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    h = max(1, kh - 2 * ph) + draw(st.integers(0, 6))
    w = max(1, kw - 2 * pw) + draw(st.integers(0, 6))
    x = randn(rng, (n, c, h, w), dt)
    kwargs = dict(kernel_size=(kh, kw), stride=stride, padding=(ph, pw))
    if ceil_mode:
        kwargs["ceil_mode"] = True
    if not backward:
        kwargs["return_indices"] = draw(st.booleans())
        return (x,), kwargs
    out = R.max_pool2d(x, **kwargs)
    if draw(st.booleans()):
        kwargs["indices"] = R.max_pool2d(x, **kwargs, return_indices=True)[1]
    return (randn(rng, out.shape, dt), x), kwargs


@st.composite
def avg_pool2d_case(draw, backward=False):
    rng = np.random.default_rng(draw(seeds))
    dt = draw(dtypes)
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    h = max(1, kh - 2 * ph) + draw(st.integers(0, 6))
    w = max(1, kw - 2 * pw) + draw(st.integers(0, 6))
    x = randn(rng, (n, c, h, w), dt)
    kwargs = dict(kernel_size=(kh, kw), stride=stride, padding=(ph, pw),
                  ceil_mode=draw(st.booleans()), count_include_pad=draw(st.booleans()))
    if backward:
        return (randn(rng, R.avg_pool2d(x, **kwargs).shape, dt), x), kwargs
    return (x,), kwargs


@st.composite
def adaptive_avg_pool2d_case(draw, backward=False):
    rng = np.random.default_rng(draw(seeds))
    dt = draw(dtypes)
    x = randn(rng, draw(shapes(4, 4, 6)), dt)
    output_size = draw(st.sampled_from([1, (1, 1)]))
    if backward:
        return (randn(rng, x.shape[:2] + (1, 1), dt), x, output_size), {}
    return (x, output_size), {}


@st.composite
def batch_norm_case(draw, backward=False, training=False):
    rng = np.random.default_rng(draw(seeds))
    dt = draw(dtypes)
    shape = draw(shapes(2, 4))
    if training and np.prod(shape) // shape[1] < 2:  # batch statistics need 2+ values/channel
        shape = (shape[0] + 1,) + shape[1:]
    c = shape[1]
    x = (randn(rng, shape, dt) * dt(3) + dt(1)).astype(dt)
    rm, rv = randn(rng, c, dt), np.asarray(rng.uniform(0.5, 2, c)).astype(dt)
    if training and draw(st.integers(0, 3)) == 3:  # training may keep no running statistics
        rm = rv = None
    weight = randn(rng, c, dt) if draw(st.booleans()) else None
    eps = draw(st.sampled_from([1e-5, 1e-3, 0.1]))
    if backward:
        return (randn(rng, shape, dt), x, rm, rv, weight), dict(training=training, eps=eps)
    bias = randn(rng, c, dt) if draw(st.booleans()) else None
    return (x, rm, rv, weight, bias), dict(training=training, eps=eps,
                                           momentum=draw(st.sampled_from([0.0, 0.1, 0.5, 1.0])))


@st.composite
def dropout_case(draw, backward=False):
    rng = np.random.default_rng(draw(seeds))
    dt = draw(dtypes)
    shape = draw(shapes(0, 4))
    # sampled_from favours its first entries: mostly masks drawn, sometimes the identity
    p = draw(st.sampled_from([0.5, 0.1, 0.9, 0.0]))
    training = draw(st.sampled_from([True, False]))
    if backward:
        mask = np.asarray(rng.random(shape) >= p)
        return (randn(rng, shape, dt), mask, p), dict(training=training)
    # an int seed: each backend builds its own generator from it, so the masks must agree
    return (randn(rng, shape, dt),), dict(p=p, training=training, generator=draw(seeds),
                                          return_mask=draw(st.sampled_from([True, False])))


@st.composite
def loss_case(draw, backward=False, kind="mse"):
    """mse_loss, binary_cross_entropy(_with_logits): elementwise losses of any shape."""
    rng = np.random.default_rng(draw(seeds))
    dt = draw(dtypes)
    shape = draw(shapes(0, 3))
    if kind == "bce":  # probabilities, with exact 0 and 1 (torch's log clamp at -100)
        x = np.asarray(rng.choice([0.0, 1.0, 0.5], shape) if draw(st.booleans())
                       else rng.uniform(0.01, 0.99, shape)).astype(dt)
    else:
        x = np.asarray(randn(rng, shape, dt) * dt(3)).astype(dt)  # asarray: 0-d stays an array
    target = np.asarray(rng.random(shape)).astype(dt)
    reduction = draw(st.sampled_from(_checks.REDUCTIONS))
    if backward:
        grad = randn(rng, shape, dt) if reduction == "none" else draw(
            st.sampled_from([1.0, 0.5, -2.0, 3]))
        return (grad, x, target), dict(reduction=reduction)
    return (x, target), dict(reduction=reduction)


@st.composite
def soft_cross_entropy_case(draw, backward=False):
    """cross_entropy with class-probability targets (N, C); rows need not sum to 1."""
    rng = np.random.default_rng(draw(seeds))
    dt = draw(dtypes)
    n, c = draw(st.integers(1, 8)), draw(st.integers(1, 12))
    x = randn(rng, (n, c), dt) * dt(3)
    target = np.asarray(rng.random((n, c))).astype(dt)
    if draw(st.booleans()):
        target /= target.sum(axis=1, keepdims=True)
    reduction = draw(st.sampled_from(_checks.REDUCTIONS))
    if backward:
        grad = randn(rng, n, dt) if reduction == "none" else draw(
            st.sampled_from([1.0, 0.5, -2.0, 3]))
        return (grad, x, target), dict(reduction=reduction)
    return (x, target), dict(reduction=reduction)


# --------------------------------------------------------------------------- the table
# (id, name of the op in fastnn.functional and fastnn.reference, strategy of (args, kwargs))
OPS = [
    ("conv2d", "conv2d", conv2d_case()),
    ("conv2d_backward", "conv2d_backward", conv2d_case(backward=True)),
    ("linear", "linear", linear_case()),
    ("linear_backward", "linear_backward", linear_case(backward=True)),
    ("matmul", "matmul", matmul_case()),
    ("matmul_backward", "matmul_backward", matmul_case(backward=True)),
    ("relu", "relu", elementwise_case()),
    ("relu_backward", "relu_backward", elementwise_case(backward=True)),
    ("sigmoid", "sigmoid", elementwise_case()),
    ("sigmoid_backward", "sigmoid_backward", elementwise_case(backward=True, saved="output")),
    ("tanh", "tanh", elementwise_case()),
    ("tanh_backward", "tanh_backward", elementwise_case(backward=True, saved="output")),
    ("step", "step", elementwise_case()),
    ("step_backward", "step_backward", elementwise_case(backward=True)),
    ("softmax", "softmax", softmax_case()),
    ("softmax_backward", "softmax_backward", softmax_case(backward=True)),
    ("log_softmax", "log_softmax", softmax_case(log=True)),
    ("log_softmax_backward", "log_softmax_backward", softmax_case(backward=True, log=True)),
    ("cross_entropy", "cross_entropy", cross_entropy_case()),
    ("cross_entropy_backward", "cross_entropy_backward", cross_entropy_case(backward=True)),
    ("max_pool2d", "max_pool2d", max_pool2d_case()),
    ("max_pool2d_backward", "max_pool2d_backward", max_pool2d_case(backward=True)),
    ("max_pool2d_ceil", "max_pool2d", max_pool2d_case(ceil_mode=True)),
    ("max_pool2d_ceil_backward", "max_pool2d_backward",
     max_pool2d_case(backward=True, ceil_mode=True)),
    ("avg_pool2d", "avg_pool2d", avg_pool2d_case()),
    ("avg_pool2d_backward", "avg_pool2d_backward", avg_pool2d_case(backward=True)),
    ("adaptive_avg_pool2d", "adaptive_avg_pool2d", adaptive_avg_pool2d_case()),
    ("adaptive_avg_pool2d_backward", "adaptive_avg_pool2d_backward",
     adaptive_avg_pool2d_case(backward=True)),
    ("batch_norm_train", "batch_norm", batch_norm_case(training=True)),
    ("batch_norm_eval", "batch_norm", batch_norm_case()),
    ("batch_norm_backward_train", "batch_norm_backward",
     batch_norm_case(backward=True, training=True)),
    ("batch_norm_backward_eval", "batch_norm_backward", batch_norm_case(backward=True)),
    ("dropout", "dropout", dropout_case()),
    ("dropout_backward", "dropout_backward", dropout_case(backward=True)),
    ("mse_loss", "mse_loss", loss_case()),
    ("mse_loss_backward", "mse_loss_backward", loss_case(backward=True)),
    ("binary_cross_entropy", "binary_cross_entropy", loss_case(kind="bce")),
    ("binary_cross_entropy_backward", "binary_cross_entropy_backward",
     loss_case(backward=True, kind="bce")),
    ("binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits", loss_case()),
    ("binary_cross_entropy_with_logits_backward", "binary_cross_entropy_with_logits_backward",
     loss_case(backward=True)),
    ("cross_entropy_probs", "cross_entropy", soft_cross_entropy_case()),
    ("cross_entropy_probs_backward", "cross_entropy_backward",
     soft_cross_entropy_case(backward=True)),
]

# The documented exceptions to "inputs are never modified": op name -> function of the
# kwargs giving the positions of the arguments the op updates IN PLACE (training-mode
# batch_norm updates running_mean and running_var, as torch). For those the test compares
# the updated arrays between the backends instead of asserting they are unchanged.
MODIFIED_IN_PLACE = {
    "batch_norm": lambda kwargs: (1, 2) if kwargs.get("training") else (),
}


def _outputs(result):
    return result if isinstance(result, tuple) else (result,)


@pytest.mark.parametrize("name,case", [row[1:] for row in OPS], ids=[row[0] for row in OPS])
@given(data=st.data())
def test_op_matches_reference_on_any_layout(name, case, data):
    args, kwargs = data.draw(case, label="case")
    kinds = data.draw(st.lists(st.sampled_from(LAYOUTS), min_size=len(args),
                               max_size=len(args)), label="layouts")
    rng = np.random.default_rng(0)
    odd = [relayout(a, k, rng) if isinstance(a, np.ndarray) else a for a, k in zip(args, kinds)]
    before = [a.copy() if isinstance(a, np.ndarray) else a for a in odd]
    ref_args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    ref_before = [a.copy() if isinstance(a, np.ndarray) else a for a in ref_args]

    got = _outputs(getattr(F, name)(*odd, **kwargs))
    expected = _outputs(getattr(R, name)(*ref_args, **kwargs))

    assert len(got) == len(expected)
    float_dtype = next(a.dtype for a in args if isinstance(a, np.ndarray)
                       and a.dtype.kind == "f")
    for g, e in zip(got, expected):
        if np.asarray(e).dtype.kind == "f":
            assert np.asarray(g).dtype == float_dtype
            assert_close(g, e)
        else:  # max_pool2d indices
            np.testing.assert_array_equal(g, e)
    in_place = MODIFIED_IN_PLACE.get(name, lambda kwargs: ())(kwargs)
    for i in in_place:  # updated in place by design: both backends update them alike
        if isinstance(odd[i], np.ndarray):
            assert odd[i].dtype == ref_args[i].dtype == float_dtype
            assert_close(odd[i], ref_args[i])
    for i, (a, b, ra, rb) in enumerate(zip(odd, before, ref_args, ref_before)):
        if i in in_place:
            continue
        for x, x0 in ((a, b), (ra, rb)):  # inputs are never modified
            if isinstance(x, np.ndarray):
                np.testing.assert_array_equal(x, x0)
