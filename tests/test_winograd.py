"""conv2d / conv2d_backward with algorithm='winograd' (F(4x4, 3x3), fastnn/_winograd.py)."""
import numpy as np
import pytest

import fastnn.functional as F
import fastnn.reference as R
from fastnn import _geometry, _tuning, _winograd
from helpers import DTYPES, assert_close, check_gradients

# (input shape, C_out, conv kwargs): planes that are not multiples of the 4x4
# output tile, smaller than one tile, one pixel; every padding 0-3 (3 makes the
# grad-input convolution crop: padding 2 - 3 = -1); C 1 and odd; batch 1 and 3;
# a row of 18 tiles, more than one SIMD vector of tiles (16 float32 lanes with
# AVX-512, 8 float64; the transforms take a tile row a vector at a time).
CASES = {
    "6x70_pad1": ((2, 2, 6, 70), 3, dict(padding=1)),
    "9x11_pad1": ((3, 5, 9, 11), 3, dict(padding=1)),
    "8x8_pad1": ((1, 2, 8, 8), 4, dict(padding=1)),
    "5x7_pad0": ((1, 3, 5, 7), 1, dict(padding=0)),
    "5x7_pad2": ((3, 1, 5, 7), 5, dict(padding=2)),
    "2x2_pad1": ((3, 1, 2, 2), 1, dict(padding=1)),
    "1x1_pad1": ((1, 1, 1, 1), 3, dict(padding=1)),
    "1x1_pad2": ((3, 3, 1, 1), 1, dict(padding=2)),
    "6x5_pad3": ((1, 2, 6, 5), 3, dict(padding=3)),
    "7x6_rect_pad": ((1, 3, 7, 6), 2, dict(padding=(0, 2))),
    "same": ((3, 2, 5, 6), 3, dict(padding="same")),
}


def make(case, dtype, rng):
    xs, c_out, kw = CASES[case]
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal((c_out, xs[1], 3, 3)).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    return x, w, b, kw


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES)
def test_forward_matches_reference(case, dtype, bias, rng):
    x, w, b, kw = make(case, dtype, rng)
    b = b if bias else None
    assert_close(F.conv2d(x, w, b, algorithm="winograd", **kw), R.conv2d(x, w, b, **kw))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES)
def test_backward_matches_reference(case, dtype, rng):
    x, w, _, kw = make(case, dtype, rng)
    go = rng.standard_normal(R.conv2d(x, w, **kw).shape).astype(dtype)
    got = F.conv2d_backward(go, x, w, algorithm="winograd", **kw)
    want = R.conv2d_backward(go, x, w, **kw)
    for g, r in zip(got, want):   # grad_input, grad_weight, grad_bias
        assert_close(g, r)


@pytest.mark.parametrize("case", ["9x11_pad1", "6x5_pad3", "2x2_pad1"])
def test_gradcheck(case, rng):
    xs, c_out, kw = CASES[case]
    x = rng.standard_normal((1,) + xs[1:])
    w = rng.standard_normal((c_out, xs[1], 3, 3))
    b = rng.standard_normal(c_out)
    check_gradients(lambda x, w, b: F.conv2d(x, w, b, algorithm="winograd", **kw),
                    lambda g, x, w, b: F.conv2d_backward(g, x, w, algorithm="winograd", **kw),
                    [x, w, b], rng)


def test_non_contiguous_inputs(rng):
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    go = rng.standard_normal((2, 4, 9, 8)).astype(np.float32)
    expected = F.conv2d(x, w, padding=1, algorithm="winograd")
    expected_grads = F.conv2d_backward(go, x, w, padding=1, algorithm="winograd")
    x_t = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    w_f = np.asfortranarray(w)
    go_s = np.repeat(go, 2, axis=1)[:, ::2]
    assert not (x_t.flags.c_contiguous or w_f.flags.c_contiguous or go_s.flags.c_contiguous)
    np.testing.assert_array_equal(F.conv2d(x_t, w_f, padding=1, algorithm="winograd"), expected)
    for got, want in zip(F.conv2d_backward(go_s, x_t, w_f, padding=1, algorithm="winograd"),
                         expected_grads):
        np.testing.assert_array_equal(got, want)


def test_inputs_not_modified(rng):
    x = rng.standard_normal((2, 3, 6, 7))
    w = rng.standard_normal((2, 3, 3, 3))
    go = rng.standard_normal((2, 2, 6, 7))
    copies = [a.copy() for a in (x, w, go)]
    F.conv2d(x, w, padding=1, algorithm="winograd")
    F.conv2d_backward(go, x, w, padding=1, algorithm="winograd")
    for a, c in zip((x, w, go), copies):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_batch_chunks_and_parallel_transforms(dtype, rng, monkeypatch):
    """Several batch chunks (grad_weight accumulates over them) and the parallel transforms."""
    monkeypatch.setattr(_tuning, "IM2COL_CHUNK_BYTES", 1)      # one image per chunk
    monkeypatch.setattr(_tuning, "WINOGRAD_PARALLEL_MIN", 0)   # n_chunks = threads
    x = rng.standard_normal((3, 2, 7, 5)).astype(dtype)
    w = rng.standard_normal((3, 2, 3, 3)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    go = rng.standard_normal((3, 3, 7, 5)).astype(dtype)
    assert_close(F.conv2d(x, w, b, padding=1, algorithm="winograd"),
                 R.conv2d(x, w, b, padding=1))
    for g, r in zip(F.conv2d_backward(go, x, w, padding=1, algorithm="winograd"),
                    R.conv2d_backward(go, x, w, padding=1)):
        assert_close(g, r)


def _max_error(got, truth):
    """max |got - truth| / max |truth|: the error relative to the output's scale."""
    return float(np.max(np.abs(got.astype(np.float64) - truth)) / np.max(np.abs(truth)))


def test_float32_error_bound(rng):
    """float32 Winograd against a float64 reference, within a bound taken from measurement.

    Measured (max |error| / max |output|, standard-normal input and grad_output,
    He-scaled weights) on bench shapes A (N32 C64 32x32 K64) and B (N1 C192
    28x28 K32) and ResNet-18 layers: 7e-6 to 1.2e-5 for the forward, grad_input
    and grad_weight, against 1e-6 to 3e-6 for 'direct' (README, "Winograd").
    The bound 1e-4 leaves ~8x margin over the largest measured value. The
    shape is small but has the bench's reduction depth (C_in = 64).
    """
    x = rng.standard_normal((2, 64, 10, 9))
    w = rng.standard_normal((8, 64, 3, 3)) * np.sqrt(2 / (9 * 64))
    go = rng.standard_normal((2, 8, 10, 9))
    truth = R.conv2d(x, w, padding=1)
    truth_grads = R.conv2d_backward(go, x, w, padding=1)
    x32, w32, go32 = (a.astype(np.float32) for a in (x, w, go))
    assert _max_error(F.conv2d(x32, w32, padding=1, algorithm="winograd"), truth) < 1e-4
    got = F.conv2d_backward(go32, x32, w32, padding=1, algorithm="winograd")
    for g, t in zip(got, truth_grads):
        assert _max_error(g, t) < 1e-4
    # float64 Winograd is accurate to float64 rounding
    assert _max_error(F.conv2d(x, w, padding=1, algorithm="winograd"), truth) < 1e-12


def test_winograd_applicable():
    def geom(stride=1, dil=1):
        return _geometry.ConvGeometry(stride, stride, 1, 1, 1, 1, dil, dil, 3, 3, 4, 4)

    assert _winograd.winograd_applicable((4, 3, 3, 3), geom())
    assert not _winograd.winograd_applicable((4, 3, 5, 5), geom())
    assert not _winograd.winograd_applicable((4, 3, 3, 1), geom())
    assert not _winograd.winograd_applicable((4, 3, 3, 3), geom(stride=2))
    assert not _winograd.winograd_applicable((4, 3, 3, 3), geom(dil=2))
    assert not _winograd.winograd_applicable((4, 3, 3, 3), geom(), groups=3)


@pytest.mark.parametrize("kwargs, weight_shape, fragment", [
    (dict(), (2, 3, 5, 5), "3x3 kernel"),
    (dict(stride=2), (2, 3, 3, 3), "stride=1"),
    (dict(dilation=(1, 2)), (2, 3, 3, 3), "dilation=1"),
    (dict(groups=3), (2, 3, 3, 3), "groups=1"),
], ids=["kernel", "stride", "dilation", "groups"])
def test_not_applicable_raises_value_error(kwargs, weight_shape, fragment):
    x = np.zeros((1, 3, 8, 8), np.float32)
    w = np.zeros(weight_shape, np.float32)
    for op in (F, R):
        with pytest.raises(ValueError, match=fragment):
            op.conv2d(x, w, algorithm="winograd", **kwargs)
