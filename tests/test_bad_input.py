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
