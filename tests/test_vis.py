"""fastnn.vis: receptive fields (hand-worked and brute force), max-activating patches (brute
force), saliency (finite differences), the pictures (decode, pixel sizes) and bad input."""
import os
import subprocess
import sys

import numpy as np
import pytest

import fastnn
from fastnn import (AvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU,
                    Sequential, vis)
from helpers import numerical_grad, rel_error

mpl = pytest.importorskip("matplotlib", reason="fastnn.vis plots need matplotlib")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt
    plt.close("all")


def cnn(seed=0, dtype=np.float64, relu=True):
    """conv3 p1 -> (relu) -> maxpool2 -> conv3 p1 -> (relu) -> maxpool2 -> flatten -> linear."""
    rng = np.random.default_rng(seed)
    act = ReLU if relu else fastnn.Tanh
    return Sequential(Conv2d(1, 4, 3, padding=1, rng=rng, dtype=dtype), act(), MaxPool2d(2),
                      Conv2d(4, 6, 3, padding=1, rng=rng, dtype=dtype), act(), MaxPool2d(2),
                      Flatten(), Linear(6 * 2 * 2, 5, rng=rng, dtype=dtype))


# --------------------------------------------------------------------------- receptive field

RF_CASES = [
    # (layers, layer index, size, jump, offset), worked by hand
    ([Conv2d(1, 1, 3), MaxPool2d(2), Conv2d(1, 1, 3), MaxPool2d(2)], 3, 10, 4, 0),
    ([Conv2d(1, 1, 3), MaxPool2d(2), Conv2d(1, 1, 3), MaxPool2d(2)], 2, 8, 2, 0),
    ([Conv2d(1, 1, 3), MaxPool2d(2), Conv2d(1, 1, 3), MaxPool2d(2)], 1, 4, 2, 0),
    ([Conv2d(1, 1, 3), ReLU(), MaxPool2d(2), BatchNorm2d(1), Conv2d(1, 1, 3), ReLU()],
     5, 8, 2, 0),
    ([Conv2d(1, 1, 3, padding=1), Conv2d(1, 1, 3, padding=1)], 1, 5, 1, -2),
    ([Conv2d(1, 1, 3, dilation=2)], 0, 5, 1, 0),
    ([Conv2d(1, 1, 3, dilation=2), Conv2d(1, 1, 3, dilation=4)], 1, 13, 1, 0),
    ([Conv2d(1, 1, 5, stride=2, padding=2), Conv2d(1, 1, 3, padding=1)], 1, 9, 2, -4),
    ([Conv2d(1, 1, 3, stride=2, padding=1, dilation=2), AvgPool2d(3, 2, 1)], 1, 9, 4, -3),
    ([Conv2d(1, 1, 4, padding="same")], 0, 4, 1, -1),          # torch: 1 before, 2 after
    ([Conv2d(1, 1, 3, padding="valid"), MaxPool2d(3, 1, 1)], 1, 5, 1, -1),
]


@pytest.mark.parametrize("layers, idx, size, jump, offset", RF_CASES,
                         ids=[f"case{i}" for i in range(len(RF_CASES))])
def test_receptive_field_hand_worked(layers, idx, size, jump, offset):
    model = Sequential(*layers)
    rf = vis.receptive_field(model, idx)
    assert rf == ((size, size), (jump, jump), (offset, offset))
    assert vis.receptive_field(model, model[idx]) == rf          # the layer object
    assert vis.receptive_field(model, idx - len(model)) == rf     # negative index


def test_receptive_field_per_axis():
    model = Sequential(Conv2d(1, 1, (3, 5), stride=(1, 2), padding=(0, 2), dilation=(2, 1)),
                       MaxPool2d((2, 3)))
    assert vis.receptive_field(model, 1) == ((6, 9), (2, 6), (0, -2))


def _influence(model, idx, x):
    """For every output (i, j) of layer idx (any channel): the input pixels whose perturbation
    changes it, found by perturbing one pixel at a time (both signs)."""
    base = vis.activations(model, x, idx)[0]
    H, W = x.shape[2:]
    hit = np.zeros(base.shape[1:] + (H, W), dtype=bool)
    for r in range(H):
        for c in range(W):
            for delta in (50.0, -50.0):
                xp = x.copy()
                xp[0, :, r, c] += delta
                changed = np.abs(vis.activations(model, xp, idx)[0] - base) > 1e-9
                hit[:, :, r, c] |= changed.any(axis=0)
    return hit


@pytest.mark.parametrize("name", ["conv_avgpool", "strided_dilated", "maxpool_relu"])
def test_receptive_field_brute_force(name, rng):
    r = np.random.default_rng(1)
    f64 = dict(dtype=np.float64, rng=r)
    layers = {
        "conv_avgpool": [Conv2d(2, 3, 3, padding=1, **f64), AvgPool2d(2),
                         Conv2d(3, 3, 3, padding=1, **f64), AvgPool2d(2, 1)],
        "strided_dilated": [Conv2d(2, 3, 3, stride=2, padding=2, dilation=2, **f64),
                            Conv2d(3, 2, (3, 2), stride=(1, 2), padding=(1, 0), **f64)],
        "maxpool_relu": [Conv2d(2, 4, 3, padding=1, **f64), MaxPool2d(2),
                         Conv2d(4, 4, 3, padding=1, **f64), fastnn.Tanh(), MaxPool2d(2)],
    }[name]
    model = Sequential(*layers)
    idx = len(model) - 1
    x = rng.standard_normal((1, 2, 11, 12))
    rf = vis.receptive_field(model, idx)
    with fastnn.backend("numpy"):
        hit = _influence(model, idx, x)
    H, W = x.shape[2:]
    for i in range(hit.shape[0]):
        for j in range(hit.shape[1]):
            window = np.zeros((H, W), dtype=bool)
            top, left = rf.offset[0] + i * rf.jump[0], rf.offset[1] + j * rf.jump[1]
            window[max(top, 0):max(top + rf.size[0], 0),
                   max(left, 0):max(left + rf.size[1], 0)] = True
            assert not np.any(hit[i, j] & ~window), (i, j)     # nothing outside the field
            rows, cols = np.nonzero(hit[i, j].any(axis=1))[0], np.nonzero(hit[i, j].any(0))[0]
            if 0 <= top and top + rf.size[0] <= H:                # tight: both ends matter
                assert (rows.min(), rows.max() + 1) == (top, top + rf.size[0])
            if 0 <= left and left + rf.size[1] <= W:
                assert (cols.min(), cols.max() + 1) == (left, left + rf.size[1])
            if name == "conv_avgpool":                          # linear, no gaps: all of it
                np.testing.assert_array_equal(hit[i, j], window, err_msg=f"{(i, j)}")


# --------------------------------------------------------------------------- max patches

def _brute_force_top(acts, channel, k, per_image):
    cands = []
    n_img, _, h, w = acts.shape
    for n in range(n_img):
        per = [(acts[n, channel, i, j], n, i, j) for i in range(h) for j in range(w)]
        if per_image:
            best = max(per, key=lambda t: (t[0], -t[2], -t[3]))   # first max in raster order
            cands.append(best)
        else:
            cands.extend(per)
    cands.sort(key=lambda t: (-t[0], t[1], t[2] * w + t[3]))
    return cands[:k]


@pytest.mark.parametrize("per_image", [True, False])
@pytest.mark.parametrize("layer, channel, k", [(0, 1, 5), (3, 2, 7), (4, 5, 40)])
def test_max_activating_patches_brute_force(per_image, layer, channel, k, rng):
    model = cnn(relu=False)
    images = rng.standard_normal((6, 1, 8, 8))
    with fastnn.backend("numpy"):
        res = vis.max_activating_patches(model, images, layer, channel, k=k,
                                         per_image=per_image, plot=False)
        acts = vis.activations(model, images, layer)
        rf = vis.receptive_field(model, layer)
        expected = _brute_force_top(acts, channel, k, per_image)
        assert res.figure is None and len(res.indices) == len(expected)
        for t, (value, n, i, j) in enumerate(expected):
            assert res.values[t] == value and res.indices[t] == n
            assert tuple(res.positions[t]) == (i, j)
            top, left = rf.offset[0] + i * rf.jump[0], rf.offset[1] + j * rf.jump[1]
            assert tuple(res.boxes[t]) == (top, left, top + rf.size[0], left + rf.size[1])
            for a in range(rf.size[0]):                         # the crop, pixel by pixel
                for b in range(rf.size[1]):
                    y, x = top + a, left + b
                    inside = 0 <= y < 8 and 0 <= x < 8
                    assert res.patches[t, 0, a, b] == (images[n, 0, y, x] if inside else 0)
            # the patch holds everything the activation depends on: zero the rest
            only = np.zeros_like(images[n:n + 1])
            y0, x0, y1, x1 = res.boxes[t]
            only[..., max(y0, 0):y1, max(x0, 0):x1] = images[n:n + 1, :, max(y0, 0):y1,
                                                             max(x0, 0):x1]
            again = vis.activations(model, only, layer)[0, channel, i, j]
            assert again == pytest.approx(value, rel=1e-12, abs=1e-12)


def test_max_activating_patches_plot_and_bad_input(rng, tmp_path):
    model = cnn()
    images = rng.standard_normal((5, 1, 8, 8)).astype(np.float32)
    model = cnn(dtype=np.float32)
    with fastnn.backend("numpy"):
        res = vis.max_activating_patches(model, images, 4, 0, k=4, path=tmp_path / "p.png")
        assert isinstance(res.figure, mpl.figure.Figure) and (tmp_path / "p.png").exists()
        assert res.patches.shape == (4, 1, 8, 8) and res.patches.dtype == np.float32
        for bad, exc, words in [
            (dict(layer=8), ValueError, "out of range"),
            (dict(layer=-9), ValueError, "out of range"),
            (dict(layer=1.0), TypeError, "layer"),
            (dict(layer=Conv2d(1, 1, 3)), ValueError, "not one of the model"),
            (dict(layer=7), ValueError, "Flatten"),              # no spatial output
            (dict(channel=6), ValueError, "channel 6 is out of range"),
            (dict(channel=-1), ValueError, "channel -1 is out of range"),
            (dict(k=0), ValueError, "k must be >= 1"),
            (dict(k=-3), ValueError, "k must be >= 1"),
            (dict(k=2.0), TypeError, "k must be an int"),
            (dict(images=images[0]), ValueError, r"\(N, C, H, W\)"),
            (dict(images=images.astype(int)), TypeError, "float"),
        ]:
            args = dict(images=images, layer=4, channel=0, k=3, plot=False)
            args.update(bad)
            with pytest.raises(exc, match=words):
                vis.max_activating_patches(model, **args)


# --------------------------------------------------------------------------- saliency

@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_saliency_matches_finite_differences(backend, rng):
    model = cnn(seed=3)
    x = rng.standard_normal((2, 1, 8, 8))
    with fastnn.backend(backend):
        scores = model.predict(x)
        for target in (None, 3, [4, 1]):
            grad = vis.saliency(model, x, target)
            t = np.argmax(scores, 1) if target is None else np.broadcast_to(target, (2,))
            assert grad.shape == x.shape and grad.dtype == x.dtype
            for n in range(2):
                xn = x[n:n + 1].copy()
                fd = numerical_grad(lambda: float(model.predict(xn)[0, t[n]]), xn)
                assert rel_error(grad[n:n + 1], fd) < 1e-6, (target, n)


def test_saliency_leaves_the_training_pass_alone(rng):
    model, ref = cnn(seed=1), cnn(seed=1)
    x = rng.standard_normal((3, 1, 8, 8))
    with fastnn.backend("numpy"):
        g_out = rng.standard_normal((3, 5))
        model.forward(x)
        vis.saliency(model, x[:2], 0)
        g = model.backward(g_out)
        ref.forward(x)
        np.testing.assert_array_equal(g, ref.backward(g_out))
        for (_, a), (_, b) in zip(model.named_layers(), ref.named_layers()):
            for name in a.grads:
                np.testing.assert_array_equal(a.grads[name], b.grads[name])
        with pytest.raises(ValueError, match=r"in \[0, 4\]"):
            vis.saliency(model, x, 5)
        with pytest.raises(TypeError, match="target"):
            vis.saliency(model, x, [0.5, 1, 2])
        with pytest.raises(ValueError, match=r"\(N, classes\)"):
            vis.saliency(Sequential(Conv2d(1, 2, 3, dtype=np.float64)), x)


# --------------------------------------------------------------------------- pictures

def _png_shape(fig, path):
    img = mpl.image.imread(path)
    w, h = fig.get_size_inches() * fig.dpi
    assert img.shape == (int(round(h)), int(round(w)), 4), (img.shape, w, h)
    assert img.dtype == np.float32 and 0 <= img.min() and img.max() <= 1
    assert img[..., :3].std() > 0.05                          # not blank
    return img.shape


def test_every_plot_writes_a_png_of_its_figure_size(rng, tmp_path):
    model = cnn(dtype=np.float32)
    x = rng.random((4, 1, 8, 8), dtype=np.float32)
    history = dict(loss=[1.0, 0.5, 0.3], accuracy=[0.5, 0.8, 0.9], val_loss=[0.9, 0.6, 0.5],
                   val_accuracy=[0.6, 0.7, 0.8])
    with fastnn.backend("numpy"):
        figs = {
            "filters": vis.plot_filters(model[0], path=tmp_path / "filters.png"),
            "filters2": vis.plot_filters(model[3].params["weight"], path=tmp_path / "filters2.png"),
            "rgb": vis.plot_filters(rng.standard_normal((5, 3, 4, 4)), channels="combined",
                                    path=tmp_path / "rgb.png"),
            "maps": vis.plot_feature_maps(model, x[0], 1, path=tmp_path / "maps.png"),
            "saliency": vis.plot_saliency(model, x, path=tmp_path / "saliency.png"),
            "history": vis.plot_history(history, path=tmp_path / "history.png"),
        }
    shapes = {name: _png_shape(fig, tmp_path / f"{name}.png") for name, fig in figs.items()}
    assert shapes["history"] == (350, 900, 4)                  # figsize (9, 3.5) at 100 dpi
    for fig in figs.values():
        assert isinstance(fig, mpl.figure.Figure)


def test_plots_draw_into_a_given_axes(rng):
    import matplotlib.pyplot as plt
    model = cnn(dtype=np.float32)
    x = rng.random((2, 1, 8, 8), dtype=np.float32)
    fig, axes = plt.subplots(2, 3)
    with fastnn.backend("numpy"):
        assert vis.plot_filters(model[0], ax=axes[0, 0]) is fig
        assert vis.plot_feature_maps(model, x[:1], 4, ax=axes[0, 1]) is fig
        assert vis.max_activating_patches(model, x, 1, 0, k=2, ax=axes[0, 2]).figure is fig
        assert vis.plot_saliency(model, x, ax=axes[1, 0]) is fig
        assert vis.plot_history({"loss": [1, 0.5], "accuracy": [0.2, 0.4]},
                                ax=axes[1, 1]) is fig          # accuracy on a twin axis
        assert len(fig.axes) == 7
        assert vis.plot_history({"loss": [1, 0.5], "accuracy": [0.2, 0.4]},
                                ax=[axes[1, 2], axes[1, 2]]) is fig
    assert all(ax.images or ax.lines for ax in axes.flat)


def test_plot_bad_input(rng):
    model = cnn(dtype=np.float32)
    x = rng.random((2, 1, 8, 8), dtype=np.float32)
    with pytest.raises(TypeError, match="Conv2d layer or a weight"):
        vis.plot_filters(Linear(3, 4))
    with pytest.raises(ValueError, match="4-D conv weight"):
        vis.plot_filters(np.zeros((4, 3)))                      # not image filters
    with pytest.raises(ValueError, match="4-D conv weight"):
        vis.plot_filters(np.zeros((4, 3, 3)))
    with pytest.raises(ValueError, match="combined"):
        vis.plot_filters(np.zeros((4, 2, 3, 3)), channels="combined")
    with pytest.raises(ValueError, match="channels must be"):
        vis.plot_filters(np.zeros((4, 1, 3, 3)), channels="rgb")
    with fastnn.backend("numpy"):
        with pytest.raises(ValueError, match="out of range"):
            vis.plot_feature_maps(model, x[0], 8)
        with pytest.raises(ValueError, match="not .N, C, H, W. feature maps"):
            vis.plot_feature_maps(model, x[0], 7)
        with pytest.raises(ValueError, match=r"\(C, H, W\) or \(1, C, H, W\)"):
            vis.plot_feature_maps(model, x, 1)                  # two images
    with pytest.raises(ValueError, match="whole input"):
        vis.receptive_field(model, 7)
    with pytest.raises(TypeError, match="Sequential"):
        vis.receptive_field("model", 0)
    with pytest.raises(ValueError, match="'loss' list"):
        vis.plot_history({"acc": [1]})


def test_headless_without_a_display_and_no_import_cost():
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "DISPLAY",
                                                            "WAYLAND_DISPLAY")}
    code = ("import sys, fastnn; assert 'matplotlib' not in sys.modules; "
            "from fastnn import vis; print(vis._pyplot().get_backend())")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().lower() == "agg"
