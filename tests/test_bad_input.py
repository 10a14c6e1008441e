"""Bad input raises a clear TypeError/ValueError naming the argument, before any kernel runs."""
import numpy as np
import pytest

import fastnn
import fastnn.functional as F
import fastnn.reference as R

f32 = np.float32
X = np.zeros((2, 3, 6, 6), f32)
W = np.zeros((4, 3, 3, 3), f32)
LOGITS = np.zeros((4, 5), f32)
TARGET = np.array([0, 1, 2, 4])
C3 = np.ones(3, f32)  # per-channel vector (running stats, weight, bias) for X's 3 channels

# (id, op name, args, kwargs, exception, a fragment the message must contain)
CASES = [
    ("conv_list_input", "conv2d", ([[1.0]], W), {}, TypeError, "input must be"),
    ("conv_int_input", "conv2d", (X.astype(np.int64), W), {}, TypeError, "float32 or float64"),
    ("conv_float16", "conv2d", (X.astype(np.float16), W), {}, TypeError, "float16"),
    ("conv_mixed_dtypes", "conv2d", (X, W.astype(np.float64)), {}, TypeError, "weight"),
    ("conv_3d_input", "conv2d", (X[0], W), {}, ValueError, "input must be 4-D"),
    ("conv_channel_mismatch", "conv2d", (X, np.zeros((4, 2, 3, 3), f32)), {}, ValueError,
     "channels"),
    ("conv_bias_shape", "conv2d", (X, W, np.zeros(3, f32)), {}, ValueError, "bias"),
    ("conv_stride_zero", "conv2d", (X, W), dict(stride=0), ValueError, "stride"),
    ("conv_negative_padding", "conv2d", (X, W), dict(padding=-1), ValueError, "padding"),
    ("conv_bad_padding_str", "conv2d", (X, W), dict(padding="full"), ValueError, "padding"),
    ("conv_same_strided", "conv2d", (X, W), dict(padding="same", stride=2), ValueError,
     "same"),
    ("conv_dilation_zero", "conv2d", (X, W), dict(dilation=0), ValueError, "dilation"),
    ("conv_kernel_too_big", "conv2d", (X, np.zeros((4, 3, 7, 7), f32)), {}, ValueError,
     "kernel"),
    ("conv_float_stride", "conv2d", (X, W), dict(stride=1.5), (TypeError, ValueError),
     "stride"),
    ("conv_huge_stride", "conv2d", (X, W), dict(stride=2**63), ValueError, "stride"),
    ("pool_huge_stride", "max_pool2d", (X, 2), dict(stride=2**64), ValueError, "stride"),
    ("conv_groups", "conv2d", (X, W), dict(groups=3), NotImplementedError, "groups"),
    ("conv_algorithm", "conv2d", (X, W), dict(algorithm="fft"), ValueError, "algorithm"),
    ("conv_winograd_kernel", "conv2d", (X, np.zeros((4, 3, 5, 5), f32)),
     dict(algorithm="winograd"), ValueError, "3x3 kernel"),
    ("conv_winograd_kernel_3x1", "conv2d", (X, np.zeros((4, 3, 3, 1), f32)),
     dict(algorithm="winograd"), ValueError, "got a 3x1 kernel"),
    ("conv_winograd_stride", "conv2d", (X, W), dict(stride=(1, 2), algorithm="winograd"),
     ValueError, "stride=1, got stride=(1, 2)"),
    ("conv_winograd_dilation", "conv2d", (X, W), dict(dilation=2, padding=2,
                                                      algorithm="winograd"),
     ValueError, "dilation=1, got dilation=2"),
    ("conv_winograd_groups", "conv2d", (X, W), dict(groups=3, algorithm="winograd"),
     ValueError, "groups=1, got groups=3"),
    ("conv_bwd_winograd_stride", "conv2d_backward", (np.zeros((2, 4, 2, 2), f32), X, W),
     dict(stride=2, algorithm="winograd"), ValueError, "stride"),
    ("conv_bwd_grad_shape", "conv2d_backward", (np.zeros((2, 4, 3, 3), f32), X, W), {},
     ValueError, "grad_output"),
    ("linear_in_mismatch", "linear", (np.zeros((2, 3), f32), np.zeros((4, 5), f32)), {},
     ValueError, "in_features"),
    ("linear_weight_1d", "linear", (np.zeros((2, 3), f32), np.zeros(3, f32)), {}, ValueError,
     "weight"),
    ("matmul_mismatch", "matmul", (np.zeros((2, 3), f32), np.zeros((4, 5), f32)), {},
     ValueError, "other"),
    ("relu_int", "relu", (np.arange(3),), {}, TypeError, "input"),
    ("relu_bwd_shape", "relu_backward", (np.zeros(3, f32), np.zeros(4, f32)), {}, ValueError,
     "grad_output"),
    ("softmax_dim", "softmax", (LOGITS,), dict(dim=2), ValueError, "dim"),
    ("softmax_dim_float", "softmax", (LOGITS,), dict(dim=1.0), TypeError, "dim"),
    ("softmax_0d", "softmax", (np.float32(1.0),), {}, (TypeError, ValueError), "input"),
    ("ce_target_float", "cross_entropy", (LOGITS, TARGET.astype(f32)), {}, TypeError,
     "target"),
    ("ce_target_range", "cross_entropy", (LOGITS, np.array([0, 1, 2, 5])), {}, ValueError,
     "target"),
    ("ce_target_negative", "cross_entropy", (LOGITS, np.array([0, -1, 2, 3])), {}, ValueError,
     "target"),
    ("ce_target_length", "cross_entropy", (LOGITS, TARGET[:3]), {}, ValueError, "target"),
    ("ce_input_1d", "cross_entropy", (LOGITS[0], TARGET), {}, ValueError, "input"),
    ("ce_reduction", "cross_entropy", (LOGITS, TARGET), dict(reduction="avg"), ValueError,
     "reduction"),
    ("pool_3d", "max_pool2d", (X[0], 2), {}, ValueError, "input"),
    ("pool_kernel_zero", "max_pool2d", (X, 0), {}, ValueError, "kernel_size"),
    ("pool_big_padding", "max_pool2d", (X, 2), dict(padding=2), ValueError, "padding"),
    ("pool_kernel_too_big", "max_pool2d", (X, 7), {}, ValueError, "kernel"),
    ("pool_bwd_indices", "max_pool2d_backward", (np.zeros((2, 3, 3, 3), f32), X, 2),
     dict(indices=np.zeros((2, 3, 3, 3), f32)), TypeError, "indices"),
    # batch_norm, dropout, avg / adaptive pooling, losses
    ("bn_1d_input", "batch_norm", (np.zeros(3, f32), C3, C3), {}, ValueError, "input"),
    ("bn_running_mean_channels", "batch_norm", (X, np.zeros(4, f32), C3), {}, ValueError,
     "running_mean"),
    ("bn_running_var_2d", "batch_norm", (X, C3, np.ones((3, 1), f32)), {}, ValueError,
     "running_var"),
    ("bn_running_var_dtype", "batch_norm", (X, C3, np.ones(3)), {}, TypeError, "running_var"),
    ("bn_weight_channels", "batch_norm", (X, C3, C3), dict(weight=np.ones(2, f32)), ValueError,
     "weight"),
    ("bn_bias_list", "batch_norm", (X, C3, C3), dict(bias=[0.0, 0.0, 0.0]), TypeError, "bias"),
    ("bn_eval_without_stats", "batch_norm", (X, None, None), {}, ValueError, "running_mean"),
    ("bn_momentum", "batch_norm", (X, C3, C3), dict(momentum=1.5), ValueError, "momentum"),
    ("bn_eps", "batch_norm", (X, C3, C3), dict(eps=-1e-5), ValueError, "eps"),
    ("bn_training_str", "batch_norm", (X, C3, C3), dict(training="yes"), TypeError, "training"),
    ("bn_one_value_per_channel", "batch_norm", (np.zeros((1, 3), f32), None, None),
     dict(training=True), ValueError, "more than 1 value per channel"),
    ("bn_bwd_grad_shape", "batch_norm_backward", (np.zeros((2, 3), f32), X, C3, C3), {},
     ValueError, "grad_output"),
    ("bn_bwd_weight_channels", "batch_norm_backward", (X, X, C3, C3),
     dict(weight=np.ones(4, f32)), ValueError, "weight"),
    ("dropout_p_one", "dropout", (X, 1.0), {}, ValueError, "p must be in [0.0, 1.0)"),
    ("dropout_p_negative", "dropout", (X, -0.1), {}, ValueError, "p must be"),
    ("dropout_p_nan", "dropout", (X, float("nan")), {}, ValueError, "p must be"),
    ("dropout_p_str", "dropout", (X, "0.5"), {}, TypeError, "p must be"),
    ("dropout_generator", "dropout", (X, 0.5), dict(generator="seed"), TypeError, "generator"),
    ("dropout_int_input", "dropout", (np.arange(4), 0.5), {}, TypeError, "input"),
    ("dropout_bwd_mask_dtype", "dropout_backward", (X, X, 0.5), {}, TypeError, "mask"),
    ("dropout_bwd_mask_shape", "dropout_backward", (X, np.ones((2, 3), bool), 0.5), {},
     ValueError, "mask"),
    ("dropout_bwd_p", "dropout_backward", (X, np.ones(X.shape, bool), 1.5), {}, ValueError,
     "p must be"),
    ("avg_3d", "avg_pool2d", (X[0], 2), {}, ValueError, "input"),
    ("avg_big_padding", "avg_pool2d", (X, 2), dict(padding=2), ValueError, "padding"),
    ("avg_ceil_mode_type", "avg_pool2d", (X, 2), dict(ceil_mode="yes"), TypeError, "ceil_mode"),
    ("avg_count_include_pad", "avg_pool2d", (X, 2), dict(count_include_pad=None), TypeError,
     "count_include_pad"),
    ("avg_bwd_grad_shape", "avg_pool2d_backward", (np.zeros((2, 3, 2, 2), f32), X, 2), {},
     ValueError, "grad_output"),
    ("max_ceil_mode_type", "max_pool2d", (X, 2), dict(ceil_mode=1), TypeError, "ceil_mode"),
    ("adaptive_output_size", "adaptive_avg_pool2d", (X, 2), {}, NotImplementedError,
     "output_size"),
    ("adaptive_3d", "adaptive_avg_pool2d", (X[0], 1), {}, ValueError, "input"),
    ("adaptive_bwd_grad_shape", "adaptive_avg_pool2d_backward", (X, X, 1), {}, ValueError,
     "grad_output"),
    ("mse_shape", "mse_loss", (LOGITS, LOGITS[:3]), {}, ValueError, "target"),
    ("mse_dtype", "mse_loss", (LOGITS, LOGITS.astype(np.float64)), {}, TypeError, "target"),
    ("mse_target_list", "mse_loss", (LOGITS, [[0.0]]), {}, TypeError, "target"),
    ("mse_reduction", "mse_loss", (LOGITS, LOGITS), dict(reduction="avg"), ValueError,
     "reduction"),
    ("mse_empty_mean", "mse_loss", (LOGITS[:0], LOGITS[:0]), {}, ValueError, "empty"),
    ("mse_bwd_grad_none_shape", "mse_loss_backward", (LOGITS[0], LOGITS, LOGITS),
     dict(reduction="none"), ValueError, "grad_output"),
    ("mse_bwd_grad_not_scalar", "mse_loss_backward", (LOGITS, LOGITS, LOGITS), {}, ValueError,
     "grad_output"),
    ("bce_input_range", "binary_cross_entropy", (LOGITS + 1.5, LOGITS), {}, ValueError,
     "probabilities"),
    ("bce_target_int", "binary_cross_entropy", (LOGITS, LOGITS.astype(np.int64)), {},
     TypeError, "target"),
    ("bcel_shape", "binary_cross_entropy_with_logits", (LOGITS, LOGITS.T), {}, ValueError,
     "target"),
    ("bcel_reduction", "binary_cross_entropy_with_logits", (LOGITS, LOGITS),
     dict(reduction=None), ValueError, "reduction"),
    ("ce_prob_target_shape", "cross_entropy", (LOGITS, np.zeros((4, 4), f32)), {}, ValueError,
     "target"),
    ("ce_prob_target_dtype", "cross_entropy", (LOGITS, np.zeros((4, 5))), {}, TypeError,
     "target"),
    ("ce_target_bool", "cross_entropy", (LOGITS, TARGET > 1), {}, TypeError, "target"),
]


@pytest.mark.parametrize("ops", [F, R], ids=["numba", "numpy"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_clear_error(case, ops):
    _, name, args, kwargs, exc, fragment = case
    with pytest.raises(exc) as info:
        getattr(ops, name)(*args, **kwargs)
    message = str(info.value)
    assert name + "()" in message, message  # names the op
    assert fragment in message, message     # and the argument


def test_errors_come_before_any_kernel_runs(monkeypatch):
    # If validation happened inside a kernel, this stub would be reached.
    import fastnn.kernels.conv_direct as direct

    def boom(*a):
        raise AssertionError("kernel ran on bad input")

    monkeypatch.setattr(direct, "conv2d_direct_forward", boom)
    with pytest.raises(ValueError):
        F.conv2d(X, np.zeros((4, 2, 3, 3), f32), algorithm="direct")


def test_message_states_what_was_got_and_expected():
    with pytest.raises(ValueError) as info:
        F.conv2d(X, np.zeros((4, 2, 3, 3), f32))
    assert "3" in str(info.value) and "2" in str(info.value)


def test_layer_constructor_errors():
    with pytest.raises(ValueError, match="in_features"):
        fastnn.Linear(0, 3)
    with pytest.raises(TypeError, match="dtype"):
        fastnn.Linear(2, 3, dtype=np.float16)
    with pytest.raises(ValueError, match="kernel_size"):
        fastnn.Conv2d(1, 2, 0)
    with pytest.raises(ValueError, match="weight_init|unknown"):
        fastnn.Linear(2, 3, weight_init="orthogonal")
    with pytest.raises(ValueError, match="lr"):
        fastnn.SGD(fastnn.Linear(2, 3), lr=-1)
    with pytest.raises(TypeError, match="Sequential"):
        fastnn.Sequential(fastnn.ReLU(), "relu")


# --------------------------------------------------------------------------- reliability table
# Every public op, every kind of bad argument. Each row: (id, op name, args,
# kwargs, exception, fragments): the message must name the op and contain every
# fragment, which together name the argument, what it got and what it expects.
# Decisions recorded here: Python lists (and NumPy scalars) are rejected, not
# converted (a list can hide an int dtype or a ragged shape: pass
# np.asarray(x, np.float32)); unsigned / narrow integer targets are accepted.
f64 = np.float64
X1 = np.zeros((1, 3, 6, 6), f32)
V = np.zeros(5, f32)
A = np.zeros((2, 3), f32)
B = np.zeros((3, 4), f32)
GPOOL = np.zeros((2, 3, 3, 3), f32)
BAD_DTYPES = [("float16", np.float16), ("int64", np.int64), ("int8", np.int8),
              ("bool", np.bool_), ("complex", np.complex128), ("object", object)]


def _dtype_rows():
    """One row per (op, unsupported dtype): the first array argument gets that dtype."""
    first_args = {
        "conv2d": (X, W), "linear": (A, np.zeros((4, 3), f32)), "matmul": (A, B),
        "relu": (V,), "sigmoid": (V,), "tanh": (V,), "step": (V,),
        "softmax": (LOGITS,), "log_softmax": (LOGITS,), "cross_entropy": (LOGITS, TARGET),
        "max_pool2d": (X, 2),
    }
    rows = []
    for op, args in first_args.items():
        for tag, dt in BAD_DTYPES:
            bad = (args[0].astype(dt),) + args[1:]
            rows.append((f"{op}_{tag}", op, bad, {}, TypeError,
                         ("input", str(np.dtype(dt)), "float32 or float64")))
    return rows


MIXED = "mixing float32 and float64"
RELIABILITY_CASES = _dtype_rows() + [
    # mixed float32 / float64, in every argument position
    ("conv_bias_f64", "conv2d", (X, W, np.zeros(4, f64)), {}, TypeError, ("bias", MIXED)),
    ("conv_bwd_grad_f64", "conv2d_backward", (np.zeros((2, 4, 4, 4), f64), X, W), {},
     TypeError, ("grad_output", "float64", MIXED)),
    ("linear_weight_f64", "linear", (A, np.zeros((4, 3), f64)), {}, TypeError,
     ("weight", MIXED)),
    ("linear_bias_f64", "linear", (A, np.zeros((4, 3), f32), np.zeros(4, f64)), {}, TypeError,
     ("bias", MIXED)),
    ("linear_bwd_grad_f64", "linear_backward", (np.zeros((2, 4), f64), A,
                                                np.zeros((4, 3), f32)), {}, TypeError,
     ("grad_output", MIXED)),
    ("matmul_other_f64", "matmul", (A, B.astype(f64)), {}, TypeError, ("other", MIXED)),
    ("matmul_bwd_grad_f64", "matmul_backward", (np.zeros((2, 4), f64), A, B), {}, TypeError,
     ("grad_output", MIXED)),
    ("relu_bwd_f64", "relu_backward", (V.astype(f64), V), {}, TypeError, ("grad_output", MIXED)),
    ("sigmoid_bwd_f64", "sigmoid_backward", (V.astype(f64), V), {}, TypeError,
     ("grad_output", MIXED)),
    ("tanh_bwd_f64", "tanh_backward", (V.astype(f64), V), {}, TypeError,
     ("grad_output", MIXED)),
    ("step_bwd_f64", "step_backward", (V.astype(f64), V), {}, TypeError,
     ("grad_output", MIXED)),
    ("softmax_bwd_f64", "softmax_backward", (LOGITS.astype(f64), LOGITS), {}, TypeError,
     ("grad_output", MIXED)),
    ("log_softmax_bwd_f64", "log_softmax_backward", (LOGITS.astype(f64), LOGITS), {},
     TypeError, ("grad_output", MIXED)),
    ("ce_bwd_none_f64", "cross_entropy_backward", (np.ones(4, f64), LOGITS, TARGET),
     dict(reduction="none"), TypeError, ("grad_output", MIXED)),
    ("pool_bwd_f64", "max_pool2d_backward", (GPOOL.astype(f64), X, 2), {}, TypeError,
     ("grad_output", MIXED)),
    # wrong types: lists, scalars, None where an array is expected
    ("conv_weight_list", "conv2d", (X, W.tolist()), {}, TypeError,
     ("weight", "numpy.ndarray", "list")),
    ("conv_bias_list", "conv2d", (X, W, [0.0] * 4), {}, TypeError, ("bias", "list")),
    ("linear_input_list", "linear", ([[1.0, 2.0, 3.0]], np.zeros((4, 3), f32)), {}, TypeError,
     ("input", "numpy.ndarray", "list")),
    ("matmul_none", "matmul", (A, None), {}, TypeError, ("other", "NoneType")),
    ("relu_list", "relu", ([1.0, -1.0],), {}, TypeError, ("input", "list")),
    ("sigmoid_numpy_scalar", "sigmoid", (np.float32(1.0),), {}, TypeError,
     ("input", "numpy.ndarray", "float32")),
    ("softmax_list", "softmax", ([1.0, 2.0],), {}, TypeError, ("input", "list")),
    ("ce_target_list", "cross_entropy", (LOGITS, [0, 1, 2, 3]), {}, TypeError,
     ("target", "list")),
    ("pool_bwd_indices_list", "max_pool2d_backward", (GPOOL, X, 2),
     dict(indices=[[0]]), TypeError, ("indices", "list")),
    # wrong ndim
    ("conv_5d_input", "conv2d", (X[None], W), {}, ValueError, ("input", "4-D", "5-D")),
    ("conv_2d_weight", "conv2d", (X, W[0, 0]), {}, ValueError, ("weight", "4-D", "2-D")),
    ("conv_bias_2d", "conv2d", (X, W, np.zeros((4, 1), f32)), {}, ValueError,
     ("bias", "1-D", "(4, 1)")),
    ("conv_bwd_grad_3d", "conv2d_backward", (np.zeros((4, 4, 4), f32), X, W), {}, ValueError,
     ("grad_output", "4-D", "3-D")),
    ("linear_0d_input", "linear", (np.array(1.0, f32), np.zeros((4, 1), f32)), {}, ValueError,
     ("input", "at least 1")),
    ("linear_3d_weight", "linear", (A, np.zeros((4, 3, 1), f32)), {}, ValueError,
     ("weight", "2-D", "3-D")),
    ("matmul_1d", "matmul", (np.zeros(3, f32), B), {}, ValueError, ("input", "2-D", "1-D")),
    ("matmul_3d_other", "matmul", (A, B[None]), {}, ValueError, ("other", "2-D", "3-D")),
    ("softmax_0d", "softmax", (np.array(1.0, f32),), {}, ValueError, ("input", "at least 1")),
    ("log_softmax_0d", "log_softmax", (np.array(1.0, f32),), {}, ValueError, ("input",)),
    ("ce_input_3d_target_shape", "cross_entropy", (LOGITS[None], TARGET), {}, ValueError,
     ("target",)),
    ("ce_ignore_index_float", "cross_entropy", (LOGITS, TARGET), dict(ignore_index=1.5),
     TypeError, ("ignore_index", "int", "1.5")),
    ("ce_target_2d", "cross_entropy", (LOGITS, TARGET[:, None]), {}, ValueError,
     ("target", "(4,)", "(4, 1)")),
    ("pool_5d", "max_pool2d", (X[None], 2), {}, ValueError, ("input", "4-D", "5-D")),
    # mismatched channels / features / shapes
    ("conv_bias_len", "conv2d", (X, W, np.zeros(5, f32)), {}, ValueError, ("bias", "(4,)", "(5,)")),
    ("conv_bwd_grad_channels", "conv2d_backward", (np.zeros((2, 5, 4, 4), f32), X, W), {},
     ValueError, ("grad_output", "(2, 4, 4, 4)", "(2, 5, 4, 4)")),
    ("linear_features", "linear", (np.zeros((2, 7), f32), np.zeros((4, 3), f32)), {},
     ValueError, ("in_features=3", "7")),
    ("linear_bwd_grad", "linear_backward", (np.zeros((2, 5), f32), A, np.zeros((4, 3), f32)),
     {}, ValueError, ("grad_output", "(2, 4)", "(2, 5)")),
    ("matmul_inner", "matmul", (A, np.zeros((4, 4), f32)), {}, ValueError,
     ("other", "3 columns", "4 rows")),
    ("matmul_bwd_grad", "matmul_backward", (np.zeros((2, 3), f32), A, B), {}, ValueError,
     ("grad_output", "(2, 4)", "(2, 3)")),
    ("sigmoid_bwd_shape", "sigmoid_backward", (np.zeros(4, f32), V), {}, ValueError,
     ("grad_output", "(5,)", "(4,)")),
    ("softmax_bwd_shape", "softmax_backward", (LOGITS[:3], LOGITS), {}, ValueError,
     ("grad_output", "(4, 5)", "(3, 5)")),
    ("ce_bwd_none_len", "cross_entropy_backward", (np.ones(3, f32), LOGITS, TARGET),
     dict(reduction="none"), ValueError, ("grad_output", "(4,)", "(3,)")),
    ("pool_bwd_grad_shape", "max_pool2d_backward", (np.zeros((2, 3, 2, 2), f32), X, 2), {},
     ValueError, ("grad_output", "(2, 3, 3, 3)", "(2, 3, 2, 2)")),
    # negative / zero sizes and strides, NaN / inf / float geometry
    ("conv_stride_negative", "conv2d", (X, W), dict(stride=-1), ValueError,
     ("stride", ">= 1", "-1")),
    ("conv_stride_pair_zero", "conv2d", (X, W), dict(stride=(1, 0)), ValueError,
     ("stride", ">= 1", "(1, 0)")),
    ("conv_stride_nan", "conv2d", (X, W), dict(stride=float("nan")), TypeError,
     ("stride", "int", "nan")),
    ("conv_stride_inf", "conv2d", (X, W), dict(stride=float("inf")), TypeError,
     ("stride", "int", "inf")),
    ("conv_padding_nan", "conv2d", (X, W), dict(padding=(1, float("nan"))), TypeError,
     ("padding", "nan")),
    ("conv_padding_none", "conv2d", (X, W), dict(padding=None), TypeError,
     ("padding", "None")),
    ("conv_padding_triple", "conv2d", (X, W), dict(padding=(1, 1, 1)), ValueError,
     ("padding", "pair", "(1, 1, 1)")),
    ("conv_dilation_negative", "conv2d", (X, W), dict(dilation=-2), ValueError,
     ("dilation", ">= 1", "-2")),
    ("conv_groups_float", "conv2d", (X, W), dict(groups=1.0), TypeError,
     ("groups", "an int", "1.0")),
    ("conv_zero_channels", "conv2d", (X[:, :0], W[:, :0]), {}, ValueError,
     ("input", "C_in", "(2, 0, 6, 6)")),
    ("conv_zero_width", "conv2d", (X[..., :0], W), {}, ValueError, ("input", "(2, 3, 6, 0)")),
    ("conv_zero_out_channels", "conv2d", (X, W[:0]), {}, ValueError,
     ("weight", "C_out", "(0, 3, 3, 3)")),
    ("conv_batch1_kernel_too_big", "conv2d", (X1, np.zeros((4, 3, 3, 9), f32)), {},
     ValueError, ("kernel", "3x9", "6x6")),
    ("conv_dilated_too_big", "conv2d", (X, W), dict(dilation=3), ValueError,
     ("kernel", "7x7", "6x6")),
    ("pool_kernel_negative", "max_pool2d", (X, -2), {}, ValueError, ("kernel_size", ">= 1")),
    ("pool_kernel_nan", "max_pool2d", (X, float("nan")), {}, TypeError,
     ("kernel_size", "nan")),
    ("pool_stride_negative", "max_pool2d", (X, 2), dict(stride=(2, -1)), ValueError,
     ("stride", ">= 1", "(2, -1)")),
    ("pool_padding_negative", "max_pool2d", (X, 3), dict(padding=-1), ValueError,
     ("padding", ">= 0", "-1")),
    ("pool_zero_height", "max_pool2d", (X[:, :, :0], 2), {}, ValueError,
     ("input", "(2, 3, 0, 6)")),
    ("softmax_dim_none", "softmax", (LOGITS,), dict(dim=None), TypeError,
     ("dim", "an int", "None")),
    ("softmax_dim_too_negative", "softmax", (LOGITS,), dict(dim=-3), ValueError,
     ("dim", "[-2, 1]", "-3")),
    ("log_softmax_dim_bool", "log_softmax", (LOGITS,), dict(dim=True), TypeError,
     ("dim", "True")),
    # class targets: out of range (negative and >= C), non-integer, empty batch
    ("ce_target_eq_C", "cross_entropy", (LOGITS, np.array([0, 1, 2, 5])), {}, ValueError,
     ("target", "[0, 4]", "5")),
    ("ce_target_huge", "cross_entropy", (LOGITS, np.array([0, 1, 2, 2**62])), {}, ValueError,
     ("target", "[0, 4]", str(2**62))),
    ("ce_target_minus_100_not_ignored", "cross_entropy", (LOGITS, np.array([0, -100, 2, 3])),
     dict(ignore_index=-1), ValueError, ("target", "-100")),
    ("ce_bwd_target_negative", "cross_entropy_backward", (1.0, LOGITS, np.array([0, 1, -1, 3])),
     {}, ValueError, ("target", "-1")),
    ("ce_bwd_target_eq_C", "cross_entropy_backward", (1.0, LOGITS, np.array([5, 1, 2, 3])),
     {}, ValueError, ("target", "5")),
    ("ce_target_float64", "cross_entropy", (LOGITS, TARGET.astype(f64)), {}, TypeError,
     ("target", "integer", "float64")),
    ("ce_target_bool", "cross_entropy", (LOGITS, TARGET > 0), {}, TypeError,
     ("target", "integer", "bool")),
    ("ce_target_object", "cross_entropy", (LOGITS, TARGET.astype(object)), {}, TypeError,
     ("target", "object")),
    ("ce_no_classes", "cross_entropy", (LOGITS[:, :0], TARGET), {}, ValueError,
     ("input", "at least one class", "(4, 0)")),
    ("ce_empty_batch_mean", "cross_entropy", (LOGITS[:0], TARGET[:0]), {}, ValueError,
     ("empty batch", "mean")),
    ("ce_bwd_empty_batch_mean", "cross_entropy_backward", (1.0, LOGITS[:0], TARGET[:0]), {},
     ValueError, ("empty batch", "mean")),
    ("ce_bwd_grad_string", "cross_entropy_backward", ("1", LOGITS, TARGET), {}, ValueError,
     ("grad_output", "real scalar", "'1'")),
    ("ce_bwd_grad_array_for_mean", "cross_entropy_backward", (np.ones(4, f32), LOGITS, TARGET),
     {}, ValueError, ("grad_output", "scalar", "mean")),
    ("ce_bwd_reduction", "cross_entropy_backward", (1.0, LOGITS, TARGET),
     dict(reduction="avg"), ValueError, ("reduction", "'avg'")),
    # max_pool2d indices
    ("pool_bwd_indices_out_of_plane", "max_pool2d_backward", (GPOOL, X, 2),
     dict(indices=np.full((2, 3, 3, 3), 36)), ValueError, ("indices", "[0, 35]", "36")),
    ("pool_bwd_indices_negative", "max_pool2d_backward", (GPOOL, X, 2),
     dict(indices=np.full((2, 3, 3, 3), -1)), ValueError, ("indices", "-1")),
    ("pool_bwd_indices_int32", "max_pool2d_backward", (GPOOL, X, 2),
     dict(indices=np.zeros((2, 3, 3, 3), np.int32)), TypeError, ("indices", "int64", "int32")),
    ("pool_bwd_indices_shape", "max_pool2d_backward", (GPOOL, X, 2),
     dict(indices=np.zeros((2, 3, 2, 2), np.int64)), ValueError, ("indices", "(2, 3, 2, 2)")),
]


@pytest.mark.parametrize("ops", [F, R], ids=["numba", "numpy"])
@pytest.mark.parametrize("case", RELIABILITY_CASES, ids=[c[0] for c in RELIABILITY_CASES])
def test_bad_input_message_names_argument_got_and_expected(case, ops):
    _, name, args, kwargs, exc, fragments = case
    with pytest.raises(exc) as info:
        getattr(ops, name)(*args, **kwargs)
    message = str(info.value)
    assert name + "()" in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


# Layers, losses, optimizers and settings: (id, callable, exception, fragments).
LAYER_CASES = [
    ("Linear_nan_features", lambda: fastnn.Linear(float("nan"), 3), TypeError,
     ("Linear()", "in_features", "nan")),
    ("Linear_float_features", lambda: fastnn.Linear(3.0, 3), TypeError,
     ("in_features", "positive int", "3.0")),
    ("Linear_zero_out", lambda: fastnn.Linear(3, 0), ValueError, ("out_features", "0")),
    ("Linear_dtype_str", lambda: fastnn.Linear(3, 2, dtype="foo"), TypeError,
     ("Linear()", "dtype", "'foo'")),
    ("Linear_dtype_int", lambda: fastnn.Linear(3, 2, dtype=np.int32), TypeError,
     ("dtype", "int32")),
    ("Linear_forward_features", lambda: fastnn.Linear(3, 2).forward(np.zeros((2, 5), f32)),
     ValueError, ("linear()", "in_features=3", "5")),
    ("Linear_forward_f64", lambda: fastnn.Linear(3, 2).forward(np.zeros((2, 3))), TypeError,
     ("linear()", MIXED)),
    ("Linear_backward_shape", lambda: _after_forward(fastnn.Linear(3, 2), np.zeros((2, 3), f32),
                                                     np.zeros((2, 3), f32)),
     ValueError, ("linear_backward()", "grad_output", "(2, 2)")),
    ("Conv2d_channels_zero", lambda: fastnn.Conv2d(0, 2, 3), ValueError, ("in_channels", "0")),
    ("Conv2d_stride_negative", lambda: fastnn.Conv2d(1, 2, 3, stride=-1), ValueError,
     ("Conv2d()", "stride", "-1")),
    ("Conv2d_padding_str", lambda: fastnn.Conv2d(1, 2, 3, padding="full"), ValueError,
     ("padding", "'full'")),
    ("Conv2d_kernel_nan", lambda: fastnn.Conv2d(1, 2, float("nan")), TypeError,
     ("kernel_size", "nan")),
    ("Conv2d_algorithm", lambda: fastnn.Conv2d(1, 2, 3, algorithm="fft"), ValueError,
     ("algorithm", "'fft'")),
    ("Conv2d_forward_channels", lambda: fastnn.Conv2d(2, 4, 3).forward(X), ValueError,
     ("conv2d()", "3 channels", "expects 2")),
    ("MaxPool2d_kernel_zero", lambda: fastnn.MaxPool2d(0), ValueError, ("kernel_size", "0")),
    ("MaxPool2d_padding_too_big", lambda: fastnn.MaxPool2d(2, padding=2), ValueError,
     ("MaxPool2d()", "padding", "(1, 1)", "2")),
    ("MaxPool2d_forward_3d", lambda: fastnn.MaxPool2d(2).forward(X[0]), ValueError,
     ("max_pool2d()", "4-D", "3-D")),
    ("ReLU_forward_list", lambda: fastnn.ReLU().forward([1.0]), TypeError, ("relu()", "list")),
    ("Sigmoid_backward_first", lambda: fastnn.Sigmoid().backward(V), RuntimeError,
     ("Sigmoid.backward()", "before forward")),
    ("Flatten_forward_0d", lambda: fastnn.Flatten().forward(np.float32(1)), ValueError,
     ("Flatten.forward()", "batch dimension")),
    ("CrossEntropyLoss_reduction", lambda: fastnn.CrossEntropyLoss("avg"), ValueError,
     ("CrossEntropyLoss()", "reduction", "'avg'")),
    ("CrossEntropyLoss_target_range",
     lambda: fastnn.CrossEntropyLoss()(LOGITS, np.array([0, 1, 2, 5])), ValueError,
     ("cross_entropy()", "target", "5")),
    ("SGD_lr_inf", lambda: fastnn.SGD(fastnn.Linear(2, 3), lr=float("inf")), ValueError,
     ("SGD()", "lr", "finite", "inf")),
    ("SGD_lr_nan", lambda: fastnn.SGD(fastnn.Linear(2, 3), lr=float("nan")), ValueError,
     ("lr", "nan")),
    ("SGD_lr_str", lambda: fastnn.SGD(fastnn.Linear(2, 3), lr="0.1"), TypeError,
     ("lr", "'0.1'")),
    ("SGD_momentum_negative", lambda: fastnn.SGD(fastnn.Linear(2, 3), lr=0.1, momentum=-0.5),
     ValueError, ("momentum", ">= 0", "-0.5")),
    ("SGD_lr_bool", lambda: fastnn.SGD(fastnn.Linear(2, 3), lr=True), TypeError,
     ("SGD()", "lr", "real number", "True")),
    ("Adam_eps_str", lambda: fastnn.Adam(fastnn.Linear(2, 3), eps="1e-8"), TypeError,
     ("Adam()", "eps", "'1e-8'")),
    ("BatchNorm1d_features_float", lambda: fastnn.BatchNorm1d(4.0), TypeError,
     ("BatchNorm1d()", "num_features", "positive int")),
    ("SGD_model", lambda: fastnn.SGD([1, 2], lr=0.1), TypeError, ("SGD()", "model", "list")),
    ("set_num_threads_zero", lambda: fastnn.set_num_threads(0), ValueError,
     ("set_num_threads()", "NUMBA_NUM_THREADS", "got 0")),
    ("set_num_threads_float", lambda: fastnn.set_num_threads(2.0), TypeError,
     ("set_num_threads()", "int", "2.0")),
    ("set_backend_unknown", lambda: fastnn.set_backend("torch"), ValueError,
     ("set_backend()", "'torch'", "numba")),
]


def _after_forward(layer, x, grad):
    layer.forward(x)
    return layer.backward(grad)


@pytest.mark.parametrize("case", LAYER_CASES, ids=[c[0] for c in LAYER_CASES])
def test_layer_bad_input_message(case):
    _, call, exc, fragments = case
    with pytest.raises(exc) as info:
        call()
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


def test_sgd_accepts_numpy_numbers():
    # np.float32(0.1) used to be rejected as "not a number"
    opt = fastnn.SGD(fastnn.Linear(2, 3), lr=np.float32(0.1), momentum=np.float64(0.9))
    assert opt.lr == pytest.approx(0.1) and opt.momentum == 0.9
