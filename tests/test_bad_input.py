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
