import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastnn.functional as F
from fastnn import _checks, _conv, _tuning
from fastnn.kernels import conv_direct_grad as _direct_grad
from fastnn.kernels import conv_weight_cvec as _weight_cvec
from fastnn.kernels import simd as _simd
import fastnn.reference as R
from helpers import DTYPES, assert_close, check_gradients

# (input shape, weight shape, conv kwargs) with readable ids.
CASES = {
    "3x3_pad1": ((2, 3, 7, 9), (4, 3, 3, 3), dict(padding=1)),
    "batch1": ((1, 2, 6, 6), (3, 2, 3, 3), dict()),
    "odd_sizes": ((3, 5, 11, 7), (2, 5, 3, 3), dict(padding=1)),
    "stride2": ((2, 3, 9, 8), (4, 3, 3, 3), dict(stride=2)),
    "stride2_pad2": ((2, 2, 10, 11), (3, 2, 5, 5), dict(stride=2, padding=2)),
    "rect_stride_pad": ((1, 2, 8, 9), (3, 2, 2, 3), dict(stride=(2, 1), padding=(1, 0))),
    "dilation2": ((2, 3, 10, 10), (2, 3, 3, 3), dict(dilation=2, padding=1)),
    "1x1": ((2, 4, 5, 5), (3, 4, 1, 1), dict()),
    "same_even": ((2, 3, 6, 7), (4, 3, 2, 4), dict(padding="same")),
    "same_odd_dilated": ((1, 2, 7, 7), (2, 2, 3, 3), dict(padding="same", dilation=2)),
    "valid": ((2, 2, 5, 6), (3, 2, 3, 3), dict(padding="valid")),
    "kernel_equals_input": ((2, 3, 4, 4), (5, 3, 4, 4), dict()),
    "wide_channels": ((2, 16, 5, 5), (8, 16, 3, 3), dict(padding=1)),
}
ALGORITHMS = ["direct", "im2col"]  # "auto" and "1x1": tests further down


def make(case, dtype, rng):
    xs, ws, kw = CASES[case]
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    return x, w, b, kw


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES)
def test_forward_matches_reference(case, dtype, algorithm, rng):
    x, w, b, kw = make(case, dtype, rng)
    out = F.conv2d(x, w, b, algorithm=algorithm, **kw)
    assert_close(out, R.conv2d(x, w, b, **kw))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES)
def test_backward_matches_reference(case, dtype, algorithm, rng):
    x, w, _, kw = make(case, dtype, rng)
    go = rng.standard_normal(R.conv2d(x, w, **kw).shape).astype(dtype)
    got = F.conv2d_backward(go, x, w, algorithm=algorithm, **kw)
    want = R.conv2d_backward(go, x, w, **kw)
    for g, r in zip(got, want):
        assert_close(g, r)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES)
def test_direct_and_im2col_agree(case, dtype, rng):
    x, w, b, kw = make(case, dtype, rng)
    direct = F.conv2d(x, w, b, algorithm="direct", **kw)
    assert_close(F.conv2d(x, w, b, algorithm="im2col", **kw), direct)
    go = rng.standard_normal(direct.shape).astype(dtype)
    for g_i2c, g_dir in zip(F.conv2d_backward(go, x, w, algorithm="im2col", **kw),
                            F.conv2d_backward(go, x, w, algorithm="direct", **kw)):
        assert_close(g_i2c, g_dir)


GRADCHECK_CASES = ["3x3_pad1", "stride2_pad2", "rect_stride_pad", "dilation2", "same_even", "1x1"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("case", GRADCHECK_CASES)
def test_gradcheck(case, algorithm, rng):
    xs, ws, kw = CASES[case]
    # Small shapes keep the finite-difference loop quick.
    x = rng.standard_normal((1, xs[1]) + xs[2:])
    w = rng.standard_normal(ws)
    b = rng.standard_normal(ws[0])

    def forward(x, w, b):
        return F.conv2d(x, w, b, algorithm=algorithm, **kw)

    def grads(g, x, w, b):
        return F.conv2d_backward(g, x, w, algorithm=algorithm, **kw)

    check_gradients(forward, grads, [x, w, b], rng)


def test_reference_gradcheck(rng):
    """The oracle itself is checked against finite differences."""
    x = rng.standard_normal((1, 2, 6, 5))
    w = rng.standard_normal((3, 2, 3, 2))
    b = rng.standard_normal(3)
    kw = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2))
    check_gradients(lambda x, w, b: R.conv2d(x, w, b, **kw),
                    lambda g, x, w, b: R.conv2d_backward(g, x, w, **kw), [x, w, b], rng)


def test_output_size_formula(rng):
    # floor((n + 2p - f) / s) + 1: n=28, p=1, f=3, s=1 -> 28; n=6, p=0, f=3 -> 4; stride 2.
    x = rng.standard_normal((1, 1, 28, 28)).astype(np.float32)
    w = rng.standard_normal((1, 1, 3, 3)).astype(np.float32)
    assert F.conv2d(x, w, padding=1).shape == (1, 1, 28, 28)
    assert F.conv2d(x[:, :, :6, :6], w).shape == (1, 1, 4, 4)
    assert F.conv2d(x, w, stride=2, padding=1).shape == (1, 1, 14, 14)
    assert F.conv2d(x, w, padding="same").shape == (1, 1, 28, 28)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_non_contiguous_inputs(algorithm, rng):
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    expected = F.conv2d(x, w, padding=1, algorithm=algorithm)
    x_t = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)  # strided view
    w_f = np.asfortranarray(w)
    assert not x_t.flags.c_contiguous and not w_f.flags.c_contiguous
    np.testing.assert_array_equal(F.conv2d(x_t, w_f, padding=1, algorithm=algorithm), expected)
    # a sliced (every other channel) view
    big = np.repeat(x, 2, axis=1)
    np.testing.assert_array_equal(F.conv2d(big[:, ::2], w, padding=1, algorithm=algorithm),
                                  expected)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_inputs_not_modified(algorithm, rng):
    x = rng.standard_normal((2, 3, 6, 6))
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    copies = [a.copy() for a in (x, w, b)]
    out = F.conv2d(x, w, b, padding=1, algorithm=algorithm)
    go = rng.standard_normal(out.shape)
    go_copy = go.copy()
    F.conv2d_backward(go, x, w, padding=1, algorithm=algorithm)
    for a, c in zip((x, w, b, go), copies + [go_copy]):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_empty_batch(algorithm, rng):
    x = np.zeros((0, 3, 5, 5), np.float32)
    w = rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    out = F.conv2d(x, w, algorithm=algorithm)
    assert out.shape == (0, 2, 3, 3)
    gx, gw, gb = F.conv2d_backward(out, x, w, algorithm=algorithm)
    assert gx.shape == x.shape
    np.testing.assert_array_equal(gw, 0)
    np.testing.assert_array_equal(gb, 0)


def test_bias_gradient_is_sum_of_grad_output(rng):
    x = rng.standard_normal((3, 2, 5, 5))
    w = rng.standard_normal((4, 2, 3, 3))
    go = rng.standard_normal((3, 4, 3, 3))
    _, _, gb = F.conv2d_backward(go, x, w)
    np.testing.assert_allclose(gb, go.sum(axis=(0, 2, 3)), rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_direct_forward_adds_the_bias_after_the_sum(dtype, rng):
    # The direct kernel adds the bias in registers before it stores: the same rounding as
    # adding it to the finished output. 11 and 17 channels leave partial channel blocks.
    for c_out in (11, 17):
        x = rng.standard_normal((2, 3, 9, 10)).astype(dtype)
        w = rng.standard_normal((c_out, 3, 3, 3)).astype(dtype)
        b = rng.standard_normal(c_out).astype(dtype)
        plain = F.conv2d(x, w, padding=1, algorithm="direct")
        np.testing.assert_array_equal(F.conv2d(x, w, b, padding=1, algorithm="direct"),
                                      plain + b[:, None, None])
        assert_close(plain, R.conv2d(x, w, padding=1))


def test_auto_rule(monkeypatch):
    sel = F.select_conv2d_algorithm
    # 1x1, stride 1, no padding: a GEMM per image.
    assert sel((8, 64, 8, 8), (32, 64, 1, 1), (8, 8), np.float64) == "1x1"
    # ... forward with few input channels on a big plane: direct (MobileNet's first pointwise).
    assert sel((8, 32, 112, 112), (64, 32, 1, 1), (112, 112), np.float32) == "direct"
    assert sel((8, 32, 112, 112), (64, 32, 1, 1), (112, 112), np.float32,
               pass_name="backward") == "1x1"
    # Strided or padded 1x1 (ResNet's projection shortcuts): im2col both ways.
    assert sel((8, 8, 8, 8), (32, 8, 1, 1), (4, 4), np.float32, stride=(2, 2)) == "im2col"
    assert sel((8, 8, 8, 8), (32, 8, 1, 1), (4, 4), np.float32, stride=(2, 2),
               pass_name="backward") == "im2col"
    assert sel((8, 8, 8, 8), (32, 8, 1, 1), (10, 10), np.float32, padding=(1, 1),
               pass_name="backward") == "im2col"
    # Winograd for 3x3 / stride 1 / dilation 1 with >= 64 channels each and C_in * C_out >=
    # 4096, >= 14x14 planes, >= 784 positions in all (shape A, ResNet-18's 56x56, 28x28 and
    # 14x14 3x3 layers, VGG's one-image 56x56 and 28x28 layers), not for a dilated, narrow,
    # 7x7 or small one-image call ...
    assert sel((32, 64, 32, 32), (64, 64, 3, 3), (32, 32), np.float32) == "winograd"
    assert sel((8, 256, 14, 14), (256, 256, 3, 3), (14, 14), np.float32,
               pass_name="backward") == "winograd"
    assert sel((1, 64, 112, 112), (128, 64, 3, 3), (112, 112), np.float32) == "winograd"
    assert sel((1, 512, 14, 14), (512, 512, 3, 3), (14, 14), np.float32) == "im2col"
    assert sel((32, 64, 32, 32), (64, 64, 3, 3), (28, 28), np.float32,
               dilation=(2, 2)) == "direct"
    assert sel((32, 64, 32, 32), (32, 64, 3, 3), (32, 32), np.float32) == "direct"
    assert sel((1, 64, 32, 32), (64, 64, 3, 3), (32, 32), np.float32) == "winograd"
    assert sel((1, 64, 16, 16), (64, 64, 3, 3), (16, 16), np.float32) == "direct"
    # Direct for the other issue shapes (few or many taps, big planes, stride 2) ...
    assert sel((1, 192, 28, 28), (32, 192, 3, 3), (28, 28), np.float32) == "direct"
    assert sel((64, 1, 28, 28), (6, 1, 5, 5), (24, 24), np.float32) == "direct"
    assert sel((8, 3, 224, 224), (64, 3, 7, 7), (112, 112), np.float32, (2, 2), (3, 3)) == "direct"
    # ... im2col for a tiny output plane with a deep reduction (digits layer 2).
    assert sel((64, 16, 4, 4), (32, 16, 3, 3), (4, 4), np.float32, padding=(1, 1)) == "im2col"
    assert sel((32, 7, 4, 4), (16, 7, 3, 3), (4, 4), np.float32, padding=(1, 1)) == "direct"
    assert sel((64, 16, 5, 5), (32, 16, 3, 3), (5, 5), np.float32, padding=(1, 1)) == "direct"
    # Small planes with much work per position (shape E, ResNet layer4) and deep, wide
    # layers that Winograd does not take (dilated VGG conv3): im2col; LeNet-5's conv2 and
    # 32x64x8 (little work per position): direct.
    assert sel((16, 128, 14, 14), (256, 128, 3, 3), (7, 7), np.float32, (2, 2), (1, 1)) == "im2col"
    assert sel((8, 512, 7, 7), (512, 512, 3, 3), (7, 7), np.float32, padding=(1, 1)) == "im2col"
    assert sel((1, 128, 56, 56), (256, 128, 3, 3), (56, 56), np.float32, padding=(1, 1)) == "winograd"
    assert sel((1, 128, 56, 56), (256, 128, 3, 3), (54, 54), np.float32, padding=(1, 1),
               dilation=(2, 2)) == "im2col"
    assert sel((64, 6, 12, 12), (16, 6, 5, 5), (8, 8), np.float32) == "direct"
    assert sel((32, 64, 8, 8), (64, 64, 3, 3), (8, 8), np.float32, padding=(1, 1)) == "direct"
    # Backward: im2col from less work per position (ResNet layer2), and when the direct
    # grad-input kernel would have too few tasks for the threads (VGG conv1: N1, C_in 3).
    # (ResNet's layer2 itself goes to Winograd; dilated, it shows the rule below it.)
    layer2 = ((8, 128, 28, 28), (128, 128, 3, 3), (28, 28), np.float32, (1, 1), (1, 1))
    assert sel(*layer2) == "winograd" == sel(*layer2, pass_name="backward")
    assert sel(*layer2, dilation=(2, 2)) == "direct"
    assert sel(*layer2, pass_name="backward", dilation=(2, 2)) == "im2col"
    vgg1 = ((1, 3, 224, 224), (64, 3, 3, 3), (224, 224), np.float32, (1, 1), (1, 1))
    assert sel(*vgg1) == "direct" and sel(*vgg1, pass_name="backward") == "im2col"
    monkeypatch.setattr(_tuning, "POINTWISE_GEMM", False)
    assert sel((8, 64, 8, 8), (32, 64, 1, 1), (8, 8), np.float64) == "direct"


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", [c for c in CASES if c != "1x1"] + ["1x1"])
def test_auto_matches_reference(case, dtype, rng):
    x, w, b, kw = make(case, dtype, rng)
    out = F.conv2d(x, w, b, **kw)
    assert_close(out, R.conv2d(x, w, b, **kw))
    go = rng.standard_normal(out.shape).astype(dtype)
    for got, want in zip(F.conv2d_backward(go, x, w, **kw), R.conv2d_backward(go, x, w, **kw)):
        assert_close(got, want)


POINTWISE = {
    "1x1": CASES["1x1"][:2],
    "1x1_batch1": ((1, 5, 4, 6), (7, 5, 1, 1)),
    "1x1_odd": ((3, 3, 7, 5), (2, 3, 1, 1)),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", POINTWISE)
def test_pointwise_gemm_path(case, dtype, rng):
    xs, ws = POINTWISE[case]
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    out = F.conv2d(x, w, b, algorithm="1x1")
    assert_close(out, R.conv2d(x, w, b))
    go = rng.standard_normal(out.shape).astype(dtype)
    for got, want in zip(F.conv2d_backward(go, x, w, algorithm="1x1"),
                         R.conv2d_backward(go, x, w)):
        assert_close(got, want)


def test_pointwise_gradcheck(rng):
    x = rng.standard_normal((2, 3, 3, 4))
    w = rng.standard_normal((2, 3, 1, 1))
    b = rng.standard_normal(2)
    check_gradients(lambda x, w, b: F.conv2d(x, w, b, algorithm="1x1"),
                    lambda g, x, w, b: F.conv2d_backward(g, x, w, algorithm="1x1"), [x, w, b], rng)


@pytest.mark.parametrize("kw", [dict(stride=2), dict(padding=1)], ids=["stride", "padding"])
def test_pointwise_algorithm_rejects_other_geometry(kw):
    x = np.zeros((1, 2, 4, 4))
    with pytest.raises(ValueError, match="algorithm='1x1' needs a 1x1 kernel"):
        F.conv2d(x, np.zeros((3, 2, 1, 1)), algorithm="1x1", **kw)
    with pytest.raises(ValueError, match="algorithm='1x1' needs a 1x1 kernel"):
        F.conv2d(x, np.zeros((3, 2, 3, 3)), algorithm="1x1")


@pytest.mark.parametrize("algorithm", ["im2col", "1x1"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_chunked_batch_matches_reference(algorithm, dtype, rng, monkeypatch):
    """A tiny chunk budget forces one image (or a few) per GEMM; results are unchanged."""
    if algorithm == "1x1":
        xs, ws, kw = (5, 3, 4, 5), (4, 3, 1, 1), {}
    else:
        xs, ws, kw = (5, 3, 6, 7), (4, 3, 3, 2), dict(stride=(2, 1), padding=1, dilation=(1, 2))
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    go = rng.standard_normal(R.conv2d(x, w, **kw).shape).astype(dtype)
    want_out = R.conv2d(x, w, **kw)
    want_grads = R.conv2d_backward(go, x, w, **kw)
    per_image = ws[1] * ws[2] * ws[3] * go.shape[2] * go.shape[3] * np.dtype(dtype).itemsize
    for budget in (1, 2 * per_image, 10**9):  # 1 image, 2 images (+ a remainder of 1), all
        monkeypatch.setattr(_tuning, "IM2COL_CHUNK_BYTES", budget)
        assert len(_conv._batch_chunks(xs[0], per_image)) == {1: 5, 2 * per_image: 3}.get(budget, 1)
        assert_close(F.conv2d(x, w, algorithm=algorithm, **kw), want_out)
        for got, want in zip(F.conv2d_backward(go, x, w, algorithm=algorithm, **kw), want_grads):
            assert_close(got, want)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_direct_weight_grad_image_groups(dtype, rng, monkeypatch):
    """Few channels: the direct grad-weight kernel sums groups of images separately, then adds
    the groups (fastnn/_conv._weight_groups). Every grouping gives the reference gradients."""
    ob = _direct_grad.WEIGHT_OB
    assert _conv._weight_groups(64, 6, 1, ob) > 1       # LeNet-5's conv1: one channel block
    assert _conv._weight_groups(32, 64, 64, ob) == 1
    assert _conv._weight_groups(1, 6, 1, ob) == 1       # never more groups than images
    xs, ws, kw = (5, 1, 9, 8), (3, 1, 5, 5), dict(stride=(2, 1), padding=1)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    go = rng.standard_normal(R.conv2d(x, w, **kw).shape).astype(dtype)
    want = R.conv2d_backward(go, x, w, **kw)
    for groups in (1, 2, 3, 5):   # 3: uneven groups of 1 and 2 images
        monkeypatch.setattr(_conv, "_weight_groups", lambda n, c_out, c_in, ob: groups)
        for got, ref in zip(F.conv2d_backward(go, x, w, algorithm="direct", **kw), want):
            assert_close(got, ref)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_direct_weight_grad_channel_vectors(dtype, rng, monkeypatch):
    """C_out a multiple of the lanes on a small output plane: the direct grad-weight runs
    kernels/conv_weight_cvec.py (vectors along output channels, 9 taps a pass). 1x1, 3x3
    (one pass), 2x4 and 5x5 (a partial last pass), strides, padding, dilation, 1-3 image
    groups and 1 or 2 channel blocks give the reference gradients."""
    lanes = _simd.VECTOR_BYTES // np.dtype(dtype).itemsize
    monkeypatch.setattr(_tuning, "CONV_CVEC_WEIGHT_MIN_TAPS", 1)   # every case below takes it
    ran = []
    real = _weight_cvec.conv2d_weight_grad_cvec
    monkeypatch.setattr(_weight_cvec, "conv2d_weight_grad_cvec",
                        lambda *a: (ran.append(a[4].shape), real(*a)))
    cases = [((3, 2, 9, 8), (lanes, 2, 3, 3), dict(padding=1)),
             ((2, 3, 12, 11), (2 * lanes, 3, 5, 5), dict()),
             ((1, 2, 9, 10), (lanes, 2, 2, 4), dict(stride=(2, 1), padding=(1, 2))),
             ((2, 1, 10, 10), (lanes, 1, 3, 3), dict(dilation=2, padding=1)),
             ((3, 4, 5, 5), (lanes, 4, 1, 1), dict())]
    for xs, ws, kw in cases:
        x = rng.standard_normal(xs).astype(dtype)
        w = rng.standard_normal(ws).astype(dtype)
        go = rng.standard_normal(R.conv2d(x, w, **kw).shape).astype(dtype)
        want = R.conv2d_backward(go, x, w, **kw)
        for groups in (1, 2, 3):
            monkeypatch.setattr(_conv, "_weight_groups", lambda n, c_out, c_in, ob: min(groups, n))
            for input_grad in (True, False):
                got = F.conv2d_backward(go, x, w, algorithm="direct", input_grad=input_grad, **kw)
                assert_close(got[1], want[1])
                assert_close(got[2], want[2])
                if input_grad:
                    assert_close(got[0], want[0])
    assert len(ran) == 2 * 3 * len(cases)
    monkeypatch.undo()
    choose = _conv._channel_vector_weight_grad
    assert choose(16, 6 * 25, 64, np.float32)            # LeNet-5's conv2
    assert not choose(6, 25, 576, np.float32)            # conv1: 6 channels
    assert not choose(16, 9, 64, np.float32)             # the digits demo's conv1: 1 x 3x3 taps
    assert not choose(64, 64 * 9, 56 * 56, np.float32)   # a large plane


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_direct_input_grad_partial_channel_blocks(dtype, rng):
    """The direct grad-input kernel's channel blocks (8 with AVX-512, else 4; INPUT_OB) with
    C_in below, at and between multiples of the block give the reference gradients."""
    for c_in in (3, 5, 8, 12, 13):
        x = rng.standard_normal((2, c_in, 7, 6)).astype(dtype)
        w = rng.standard_normal((3, c_in, 3, 3)).astype(dtype)
        go = rng.standard_normal(R.conv2d(x, w, padding=1).shape).astype(dtype)
        got = F.conv2d_backward(go, x, w, padding=1, algorithm="direct")
        for g, ref in zip(got, R.conv2d_backward(go, x, w, padding=1)):
            assert_close(g, ref)


def test_workspace_reuse_gives_identical_results(rng):
    """Cached scratch buffers carry garbage between calls of different shapes: results must not."""
    calls = []
    for xs, ws, kw in [((2, 3, 9, 9), (4, 3, 3, 3), dict(padding=1)),
                       ((4, 5, 6, 6), (2, 5, 1, 1), {}),
                       ((1, 2, 12, 11), (3, 2, 5, 5), dict(stride=2, padding=2)),
                       ((3, 8, 5, 5), (6, 8, 3, 3), {})]:
        x = rng.standard_normal(xs).astype(np.float32)
        w = rng.standard_normal(ws).astype(np.float32)
        go = rng.standard_normal(R.conv2d(x, w, **kw).shape).astype(np.float32)
        calls.append((x, w, go, kw))
    algos = ["direct", "im2col", "auto"]
    first = [[(F.conv2d(x, w, algorithm=a, **kw),) + F.conv2d_backward(go, x, w, algorithm=a, **kw)
              for a in algos] for x, w, go, kw in calls]
    # Again in reverse order: every cached buffer now holds another shape's data.
    again = [[(F.conv2d(x, w, algorithm=a, **kw),) + F.conv2d_backward(go, x, w, algorithm=a, **kw)
              for a in algos] for x, w, go, kw in reversed(calls)][::-1]
    for per_call_1, per_call_2 in zip(first, again):
        for res1, res2 in zip(per_call_1, per_call_2):
            for a, b in zip(res1, res2):
                np.testing.assert_array_equal(a, b)


def test_concurrent_threads_give_correct_results(rng):
    """Workspaces are per thread: two threads convolving different shapes don't interfere."""
    import threading
    jobs = []
    for k, xs in enumerate([(3, 4, 10, 10), (2, 6, 7, 9)]):
        x = rng.standard_normal(xs).astype(np.float32)
        w = rng.standard_normal((5, xs[1], 3, 3)).astype(np.float32)
        jobs.append((x, w, R.conv2d(x, w, padding=1)))
    errors = []

    def work(x, w, want):
        try:
            for _ in range(20):
                for a in ("direct", "im2col"):
                    assert_close(F.conv2d(x, w, padding=1, algorithm=a), want)
        except AssertionError as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_output_too_large_raises_memory_error_before_allocating():
    x = np.zeros((64, 1, 64, 64), np.float32)
    w = np.zeros((2**20, 1, 1, 1), np.float32)  # output: 64 * 2**20 * 4096 floats = 1 PiB
    with pytest.raises(MemoryError, match=r"output of shape \(64, 1048576, 64, 64\).*bytes"):
        F.conv2d(x, w)


def test_memory_check_passes_ordinary_sizes():
    _checks.check_allocation("conv2d", "output", (64, 64, 112, 112), np.float32)  # 205 MB: no error
    with pytest.raises(MemoryError, match="conv2d\\(\\): the output of shape"):
        _checks.check_allocation("conv2d", "output", (2**40, 2**10), np.float64)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 3), c_in=st.integers(1, 4), c_out=st.integers(1, 4),
    h=st.integers(1, 9), w=st.integers(1, 9), kh=st.integers(1, 4), kw=st.integers(1, 4),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.tuples(st.integers(0, 3), st.integers(0, 3)),
    dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    algorithm=st.sampled_from(ALGORITHMS), seed=st.integers(0, 2**32 - 1),
)
def test_property_matches_reference(n, c_in, c_out, h, w, kh, kw, stride, padding, dilation,
                                    algorithm, seed):
    """Any geometry the checks accept gives the reference's values, forward and backward."""
    eff_h, eff_w = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    if eff_h > h + 2 * padding[0] or eff_w > w + 2 * padding[1]:
        with pytest.raises(ValueError, match="larger than the padded input"):
            F.conv2d(np.zeros((n, c_in, h, w)), np.zeros((c_out, c_in, kh, kw)),
                     stride=stride, padding=padding, dilation=dilation)
        return
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, c_in, h, w))
    wt = r.standard_normal((c_out, c_in, kh, kw))
    b = r.standard_normal(c_out)
    kwargs = dict(stride=stride, padding=padding, dilation=dilation)
    out = F.conv2d(x, wt, b, algorithm=algorithm, **kwargs)
    assert_close(out, R.conv2d(x, wt, b, **kwargs))
    go = r.standard_normal(out.shape)
    for got, want in zip(F.conv2d_backward(go, x, wt, algorithm=algorithm, **kwargs),
                         R.conv2d_backward(go, x, wt, **kwargs)):
        assert_close(got, want)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("algorithm", ["direct", "im2col", "winograd", "auto"])
def test_backward_without_input_grad(backend, algorithm, rng):
    """input_grad=False: None for grad_input, the same grad_weight and grad_bias."""
    ops = F if backend == "numba" else R
    x = rng.standard_normal((2, 3, 7, 6))
    w = rng.standard_normal((4, 3, 3, 3))
    kw = dict(padding=1)
    go = rng.standard_normal(R.conv2d(x, w, **kw).shape)
    full = ops.conv2d_backward(go, x, w, algorithm=algorithm, **kw)
    gx, gw, gb = ops.conv2d_backward(go, x, w, algorithm=algorithm, input_grad=False, **kw)
    assert gx is None
    np.testing.assert_array_equal(gw, full[1])
    np.testing.assert_array_equal(gb, full[2])
    assert_close(gw, R.conv2d_backward(go, x, w, **kw)[1])
    with pytest.raises(TypeError, match="input_grad"):
        ops.conv2d_backward(go, x, w, input_grad="no", **kw)
