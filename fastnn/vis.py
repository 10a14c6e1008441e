"""Looking inside a CNN: filters, feature maps, maximally activating patches, saliency maps,
receptive fields and training curves (the course's three ways to see what a CNN learned).

Plotting needs matplotlib (the ``examples`` extra). It is imported only when a
plot is made, with the Agg backend when there is no display (Linux without
DISPLAY / WAYLAND_DISPLAY and no MPLBACKEND set), so everything works headless.
Every plot function returns the matplotlib Figure and takes ``ax`` (draw into
that Axes instead of a new figure) and ``path`` (also save the figure there as
PNG at the figure's dpi: the picture is exactly figsize * dpi pixels). Grids
are drawn as one mosaic image per Axes, so any of them fits in a subplot.

``model`` is a :class:`fastnn.Sequential` (or a single layer); ``layer`` is an
index into it (negative counts from the end) or one of its layer objects.
Passes made here run in evaluation mode and leave no trace: the model's
caches, gradients and pass count are restored (see fastnn._modes.no_trace).
"""
import os
import sys
from collections import namedtuple

import numpy as np

from ._modes import _batch_size, no_trace

__all__ = ["receptive_field", "activations", "max_activating_patches", "saliency",
           "plot_filters", "plot_feature_maps", "plot_max_patches", "plot_saliency",
           "plot_history", "ReceptiveField", "MaxPatches"]

ReceptiveField = namedtuple("ReceptiveField", "size jump offset")
ReceptiveField.__doc__ = """Receptive field of one layer's outputs, each field an (h, w) pair.

Output position (i, j) of the layer sees input rows offset[0] + i * jump[0]
... offset[0] + i * jump[0] + size[0] - 1 (columns likewise); offset < 0 where
padding puts part of the field outside the image.
"""

MaxPatches = namedtuple("MaxPatches", "patches indices boxes positions values figure")
MaxPatches.__doc__ = """Result of :func:`max_activating_patches`, best first.

patches : ndarray (k, C, size_h, size_w), the input under each receptive
    field (zeros where it falls outside the image)
indices : ndarray (k,) int, the image of each patch
boxes : ndarray (k, 4) int, (top, left, bottom, right) of each patch in its
    image, bottom/right exclusive; may reach outside the image
positions : ndarray (k, 2) int, (row, col) of the activation in the layer's output
values : ndarray (k,), the activations
figure : the matplotlib Figure (None with plot=False)
"""


# ----------------------------------------------------------------------------- model access

def _layer_list(owner, model):
    from .containers import Residual, Sequential
    from .layers import Layer
    if isinstance(model, Sequential) and not isinstance(model, Residual):
        return list(model.layers)
    if isinstance(model, Layer):
        return [model]
    raise TypeError(f"{owner}: model must be a fastnn Sequential or Layer, "
                    f"got {type(model).__name__}")


def _resolve(owner, model, layer):
    """(the model's layers, the index of ``layer`` among them)."""
    from .layers import Layer
    layers = _layer_list(owner, model)
    if isinstance(layer, Layer):
        for i, candidate in enumerate(layers):
            if candidate is layer:
                return layers, i
        raise ValueError(f"{owner}: layer {type(layer).__name__} is not one of the model's "
                         "top-level layers")
    if isinstance(layer, (bool, np.bool_)) or not isinstance(layer, (int, np.integer)):
        raise TypeError(f"{owner}: layer must be an int index or a layer of the model, "
                        f"got {layer!r}")
    if not -len(layers) <= layer < len(layers):
        raise ValueError(f"{owner}: layer index {layer} is out of range for a model of "
                         f"{len(layers)} layers (0 to {len(layers) - 1}, or negative from "
                         "the end)")
    return layers, int(layer) % len(layers)


def _images(owner, name, x, single=False):
    """x as a float (N, C, H, W) array; (C, H, W) is accepted when ``single``."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{owner}: {name} must be a numpy.ndarray, got {type(x).__name__}")
    if single and x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or (single and x.shape[0] != 1):
        want = "(C, H, W) or (1, C, H, W)" if single else "(N, C, H, W)"
        raise ValueError(f"{owner}: {name} must be image data of shape {want}, "
                         f"got shape {x.shape}")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{owner}: {name} must be float32 or float64, got {x.dtype}")
    return x


def activations(model, x, layer, batch_size=256):
    """The output of ``layer`` (and so of every layer before it) for input ``x``.

    Runs the model's layers 0..layer on ``x`` (N, ...) with training=False,
    ``batch_size`` rows at a time, and returns their output (N, ...) as a new
    array. TypeError / ValueError for a bad model, layer or batch size.
    """
    layers, idx = _resolve("activations()", model, layer)
    if not isinstance(x, np.ndarray) or x.ndim < 1:
        raise TypeError("activations(): x must be an ndarray with a batch dimension, got "
                        f"{getattr(x, 'shape', type(x).__name__)}")
    step = _batch_size("activations()", batch_size, len(x))
    outs = []
    with no_trace(model):
        for start in range(0, max(len(x), 1), step):
            h = x[start:start + step]
            for lay in layers[:idx + 1]:
                h = lay.forward(h, training=False)
            outs.append(np.array(h))
    return np.concatenate(outs, axis=0)


# ----------------------------------------------------------------------------- receptive field

def _pair(v):
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def _geometry(lay):
    """(kernel, stride, padding before, dilation) pairs of a spatial layer, 'pointwise', or None."""
    from . import layers as L
    from ._geometry import same_padding
    if isinstance(lay, L.Conv2d):
        k, d = _pair(lay.kernel_size), _pair(lay.dilation)
        if lay.padding == "same":
            p = tuple(same_padding(k[a], d[a])[0] for a in (0, 1))
        else:
            p = (0, 0) if lay.padding == "valid" else _pair(lay.padding)
        return k, _pair(lay.stride), p, d
    if isinstance(lay, (L.MaxPool2d, L.AvgPool2d)):
        return _pair(lay.kernel_size), _pair(lay.stride), _pair(lay.padding), (1, 1)
    if isinstance(lay, (L._Activation, L.BatchNorm1d, L.BatchNorm2d, L.Dropout)):
        return "pointwise"
    return None


def receptive_field(model, layer):
    """Receptive field (size, jump, offset) per axis of the outputs of ``layer``.

    Computed from the kernel size k, stride s, padding p (before: top / left)
    and dilation d of every Conv2d / MaxPool2d / AvgPool2d up to and including
    ``layer``; activations, batch norm and dropout act per position. Starting
    from size 1, jump 1, offset 0 at the input, each layer does
    (Araujo et al., Distill 2019)::

        size   += d * (k - 1) * jump
        offset -= p * jump
        jump   *= s

    E.g. conv3x3/s1 -> maxpool2/s2 -> conv3x3/s1 -> maxpool2/s2: size 10, jump 4.

    Returns
    -------
    ReceptiveField(size=(h, w), jump=(h, w), offset=(h, w)) of ints.

    Raises
    ------
    TypeError / ValueError for a bad model or layer index; ValueError when a
    layer up to ``layer`` mixes all positions (Flatten, Linear, global pooling,
    a nested container): its receptive field is the whole input.
    """
    from ._geometry import receptive_field as chain
    layers, idx = _resolve("receptive_field()", model, layer)
    steps = []
    for j, lay in enumerate(layers[:idx + 1]):
        geom = _geometry(lay)
        if geom == "pointwise":
            continue
        if geom is None:
            raise ValueError(f"receptive_field(): layer {j} ({type(lay).__name__}) is not a "
                             "convolution, pooling or per-position layer; from there on every "
                             "output sees the whole input")
        steps.append(geom)
    size, jump, offset = zip(*(chain([tuple(g[a] for g in step) for step in steps])
                               for a in (0, 1)))
    return ReceptiveField(tuple(size), tuple(jump), tuple(offset))


# ----------------------------------------------------------------------------- analyses

def _positive_int(owner, name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{owner}: {name} must be an int, got {value!r}")
    if value <= 0:
        raise ValueError(f"{owner}: {name} must be >= 1, got {value}")
    return int(value)


def max_activating_patches(model, images, layer, channel, k=9, per_image=True, batch_size=256,
                           plot=True, ax=None, path=None):
    """The ``k`` input patches that excite ``channel`` of ``layer`` most (Zeiler & Fergus 2014).

    Every image of ``images`` (N, C, H, W) goes through the model up to
    ``layer`` (evaluation mode); the activations of ``channel`` over all
    images and positions are ranked, largest first, and for each of the top
    ``k`` the input under its receptive field (:func:`receptive_field`) is cut
    out. ``per_image=True`` (default) keeps only each image's strongest
    position, so the k patches come from k different images; False ranks
    every (image, position). Ties go to the lower image index, then position.

    Returns
    -------
    :class:`MaxPatches` (patches, indices, boxes, positions, values, figure),
    fewer than k entries when there are fewer candidates. With ``plot`` the
    patches are drawn as a grid (see :func:`plot_max_patches`; ``ax``/``path``).

    Raises
    ------
    TypeError / ValueError for images that are not (N, C, H, W) float arrays,
    a layer index out of range or without a spatial output, a channel out of
    range, k <= 0.
    """
    owner = "max_activating_patches()"
    images = _images(owner, "images", images)
    k = _positive_int(owner, "k", k)
    rf = receptive_field(model, layer)
    _, idx = _resolve(owner, model, layer)
    if isinstance(channel, (bool, np.bool_)) or not isinstance(channel, (int, np.integer)):
        raise TypeError(f"{owner}: channel must be an int, got {channel!r}")
    acts = activations(model, images, idx, batch_size)
    if acts.ndim != 4:
        raise ValueError(f"{owner}: layer {idx} gives shape {acts.shape}, not (N, C, H, W) "
                         "feature maps")
    if not 0 <= channel < acts.shape[1]:
        raise ValueError(f"{owner}: channel {channel} is out of range for layer {idx}'s "
                         f"{acts.shape[1]} channels (0 to {acts.shape[1] - 1})")
    a = acts[:, channel].reshape(len(images), -1)                  # (N, H' * W')
    width = acts.shape[3]
    if per_image:
        best = np.argmax(a, axis=1) if a.size else np.zeros(len(a), dtype=np.intp)
        values = a[np.arange(len(a)), best] if a.size else np.zeros(0, a.dtype)
        order = np.lexsort((np.arange(len(a)), -values))[:k]
        indices, flat, values = order, best[order], values[order]
    else:
        v = a.reshape(-1)
        order = np.lexsort((np.arange(v.size), -v))[:k]
        indices, flat, values = np.divmod(order, a.shape[1])[0], order % a.shape[1], v[order]
    positions = np.stack(np.divmod(flat, width), axis=1).astype(np.int64).reshape(-1, 2)
    top = rf.offset[0] + positions[:, 0] * rf.jump[0]
    left = rf.offset[1] + positions[:, 1] * rf.jump[1]
    boxes = np.stack([top, left, top + rf.size[0], left + rf.size[1]], axis=1).reshape(-1, 4)
    patches = np.zeros((len(indices), images.shape[1]) + rf.size, dtype=images.dtype)
    inside = np.zeros((len(indices),) + rf.size, dtype=bool)
    H, W = images.shape[2:]
    for t, (n, (y0, x0, y1, x1)) in enumerate(zip(indices, boxes)):
        ya, yb, xa, xb = max(y0, 0), min(y1, H), max(x0, 0), min(x1, W)
        if ya < yb and xa < xb:
            patches[t, :, ya - y0:yb - y0, xa - x0:xb - x0] = images[n, :, ya:yb, xa:xb]
            inside[t, ya - y0:yb - y0, xa - x0:xb - x0] = True
    fig = None
    if plot:
        title = f"layer {idx} channel {channel}: top {len(indices)} patches {rf.size[0]}x{rf.size[1]}"
        fig = plot_max_patches(patches, inside, title=title, ax=ax, path=path,
                               value_range=(float(images.min()), float(images.max()))
                               if images.size else (0.0, 1.0))
    return MaxPatches(patches, indices.astype(np.int64), boxes.astype(np.int64), positions,
                      values, fig)


def saliency(model, x, target=None):
    """Gradient of the class score with respect to the input (Simonyan et al. 2014).

    Parameters
    ----------
    model : a fastnn Layer whose output is (N, classes) scores (logits, before softmax)
    x : float ndarray (N, ...), the input the model takes
    target : None (each sample's predicted class), an int (the same class for
        all) or an integer array-like (N,) of classes

    Returns
    -------
    ndarray of x's shape and dtype: d score[n, target[n]] / d x[n]. One forward
    (training=False) and one backward; the model's caches and gradients are
    restored afterwards. TypeError / ValueError for a bad x or target, or a
    model output that is not (N, classes).
    """
    owner = "saliency()"
    if not isinstance(x, np.ndarray) or x.dtype not in (np.float32, np.float64) or x.ndim < 1:
        raise TypeError(f"{owner}: x must be a float32 or float64 ndarray (N, ...), "
                        f"got {getattr(x, 'dtype', type(x).__name__)}")
    with no_trace(model):
        out = model.forward(x, training=False)
        if not isinstance(out, np.ndarray) or out.ndim != 2 or len(out) != len(x):
            raise ValueError(f"{owner}: the model's output must be (N, classes) scores, "
                             f"got shape {np.shape(out)}")
        t = np.argmax(out, axis=1) if target is None else np.asarray(target)
        if t.ndim == 0:
            t = np.full(len(x), t)
        if not np.issubdtype(t.dtype, np.integer) or t.shape != (len(x),):
            raise TypeError(f"{owner}: target must be None, an int or integer class indices "
                            f"of shape ({len(x)},), got {target!r}")
        if len(t) and (t.min() < 0 or t.max() >= out.shape[1]):
            raise ValueError(f"{owner}: target classes must be in [0, {out.shape[1] - 1}], "
                             f"got {t.min() if t.min() < 0 else t.max()}")
        grad = np.zeros_like(out)
        grad[np.arange(len(x)), t] = 1
        return np.array(model.backward(grad))


# ----------------------------------------------------------------------------- plotting

def _pyplot():
    import matplotlib
    headless = sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if headless and not os.environ.get("MPLBACKEND") and "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _mosaic(tiles, ncols, pad=1, fill=np.nan):
    """Tiles (n, h, w[, 3]) laid out in rows of ``ncols`` with ``pad`` pixels of ``fill`` between."""
    n, h, w = tiles.shape[:3]
    ncols = max(1, min(ncols, n))
    nrows = max(1, -(-n // ncols))
    out = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad) + tiles.shape[3:], fill)
    for t in range(n):
        r, c = divmod(t, ncols)
        out[pad + r * (h + pad):pad + r * (h + pad) + h,
            pad + c * (w + pad):pad + c * (w + pad) + w] = tiles[t]
    return out


def _axes(plt, ax, shape, extra_height=0.45, max_inches=6.0):
    """(figure, axes): ``ax`` and its figure, or a new figure sized for a mosaic of ``shape``."""
    if ax is not None:
        return ax.figure, ax
    h, w = shape
    scale = min(max_inches / w, max_inches / h, 0.3)               # inches per mosaic pixel
    width, height = max(2.5, w * scale), max(1.5, h * scale) + extra_height
    fig = plt.figure(figsize=(round(width, 2), round(height, 2)), dpi=100)
    ax = fig.add_axes([0.02, 0.02, 0.96, 1.0 - 0.04 - extra_height / height])
    return fig, ax


def _show(ax, mosaic, title, cmap, vmin, vmax):
    import matplotlib
    cm = (matplotlib.colormaps[cmap] if isinstance(cmap, str) else cmap).with_extremes(
        bad="#ffffff")
    if mosaic.ndim == 3:  # RGB: gaps white
        mosaic = np.where(np.isnan(mosaic), 1.0, mosaic)
    ax.imshow(np.ma.masked_invalid(mosaic) if mosaic.ndim == 2 else mosaic, cmap=cm,
              vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)


def _finish(fig, path):
    if path is not None:
        fig.savefig(os.fspath(path), dpi=fig.dpi, format="png")
    return fig


def plot_filters(weight_or_layer, channels="auto", ax=None, path=None, cmap="gray", title=None):
    """Convolution filters as small image patches in a grid.

    Parameters
    ----------
    weight_or_layer : a Conv2d layer or its weight, ndarray (C_out, C_in, kH, kW)
    channels : 'split' (one grey tile per (output, input channel) pair: a
        row per filter when C_in > 1), 'combined' (one tile per filter, its 3
        input channels as RGB; C_in must be 1 or 3) or 'auto' (combined for
        C_in = 3 or 1, split otherwise)

    Each tile is scaled by its own max |w|: mid-grey is 0, white the largest
    positive weight, black the most negative; an edge detector shows as a
    bright band next to a dark one. Returns the Figure.

    Raises
    ------
    TypeError for something that is neither a Conv2d nor an ndarray; ValueError
    for an array that is not 4-D (not image filters) or an unknown ``channels``.
    """
    from .layers import Conv2d
    owner = "plot_filters()"
    w = weight_or_layer.params["weight"] if isinstance(weight_or_layer, Conv2d) \
        else weight_or_layer
    if not isinstance(w, np.ndarray):
        raise TypeError(f"{owner}: expected a Conv2d layer or a weight ndarray (C_out, C_in, "
                        f"kH, kW), got {type(weight_or_layer).__name__}")
    if w.ndim != 4 or w.size == 0:
        raise ValueError(f"{owner}: filters must be a 4-D conv weight (C_out, C_in, kH, kW), "
                         f"got shape {w.shape}")
    if channels not in ("auto", "split", "combined"):
        raise ValueError(f"{owner}: channels must be 'auto', 'split' or 'combined', "
                         f"got {channels!r}")
    c_out, c_in = w.shape[:2]
    if channels == "combined" and c_in not in (1, 3):
        raise ValueError(f"{owner}: channels='combined' needs 1 or 3 input channels, got {c_in}")
    combined = channels == "combined" or (channels == "auto" and c_in in (1, 3))
    w = np.asarray(w, dtype=np.float64)
    if combined:
        scale = np.abs(w).max(axis=(1, 2, 3), keepdims=True)
        tiles = 0.5 + 0.5 * w / np.where(scale > 0, scale, 1.0)
        tiles = tiles[:, 0] if c_in == 1 else tiles.transpose(0, 2, 3, 1)
        ncols = int(np.ceil(np.sqrt(c_out)))
    else:
        scale = np.abs(w).max(axis=(2, 3), keepdims=True)
        tiles = (0.5 + 0.5 * w / np.where(scale > 0, scale, 1.0)).reshape((-1,) + w.shape[2:])
        ncols = c_in
    mosaic = _mosaic(tiles, ncols)
    plt = _pyplot()
    fig, ax = _axes(plt, ax, mosaic.shape[:2])
    how = "RGB" if combined and c_in == 3 else ("rows: filters, columns: input channels"
                                                 if not combined else "")
    _show(ax, mosaic, title if title is not None else
          f"{c_out} filters {w.shape[2]}x{w.shape[3]}" + (f" ({how})" if how else ""),
          cmap, 0.0, 1.0)
    return _finish(fig, path)


def plot_feature_maps(model, x, layer, ax=None, path=None, cmap="viridis", title=None):
    """Each channel of ``layer``'s output for one image ``x`` (C, H, W), as a heatmap grid.

    All maps share one colour scale (the layer output's min to max), so weak
    and dead (all-zero after ReLU) channels show as such. Returns the Figure.
    Raises TypeError / ValueError for x that is not one image, a layer index
    out of range, or a layer whose output is not (1, C, H, W) feature maps.
    """
    owner = "plot_feature_maps()"
    x = _images(owner, "x", x, single=True)
    _, idx = _resolve(owner, model, layer)
    maps = activations(model, x, idx)
    if maps.ndim != 4:
        raise ValueError(f"{owner}: layer {idx} gives shape {maps.shape}, not (N, C, H, W) "
                         "feature maps")
    maps = maps[0].astype(np.float64)
    mosaic = _mosaic(maps, int(np.ceil(np.sqrt(len(maps)))))
    plt = _pyplot()
    fig, ax = _axes(plt, ax, mosaic.shape)
    lo, hi = float(maps.min()), float(maps.max())
    _show(ax, mosaic, title if title is not None else
          f"layer {idx} ({type(_layer_list(owner, model)[idx]).__name__}): {len(maps)} maps "
          f"{maps.shape[1]}x{maps.shape[2]}", cmap, lo, hi if hi > lo else lo + 1)
    return _finish(fig, path)


def plot_max_patches(patches, inside=None, title=None, ax=None, path=None, cmap="gray",
                     value_range=None, ncols=None):
    """Draw patches (k, C, h, w) (e.g. from :func:`max_activating_patches`) as a grid.

    ``inside`` (k, h, w) bool marks the pixels inside the image (the rest, the
    receptive field beyond the border, is drawn light red); 1 channel is drawn
    through ``cmap``, 3 as RGB, otherwise the channel mean.
    ``value_range`` (lo, hi) fixes the grey scale (default: the patches' own).
    Returns the Figure.
    """
    patches = np.asarray(patches, dtype=np.float64)
    if patches.ndim != 4:
        raise ValueError(f"plot_max_patches(): patches must be (k, C, h, w), got {patches.shape}")
    lo, hi = value_range if value_range is not None else (
        (float(patches.min()), float(patches.max())) if patches.size else (0.0, 1.0))
    hi = hi if hi > lo else lo + 1
    tiles = patches.transpose(0, 2, 3, 1) if patches.shape[1] == 3 else patches.mean(axis=1)
    tiles = np.clip((tiles - lo) / (hi - lo), 0.0, 1.0)
    import matplotlib
    if tiles.ndim == 3:  # grey values -> RGB through the colour map
        tiles = matplotlib.colormaps[cmap](tiles)[..., :3]
    if inside is not None:  # outside the image: light red
        outside = ~np.asarray(inside, dtype=bool)
        tiles[outside] = matplotlib.colors.to_rgb("#f2b8b8")
    n = max(len(tiles), 1)
    mosaic = _mosaic(tiles if len(tiles) else np.full((1, 1, 1, 3), np.nan),
                     ncols or int(np.ceil(np.sqrt(n))))
    plt = _pyplot()
    fig, ax = _axes(plt, ax, mosaic.shape[:2])
    _show(ax, mosaic, title, cmap, 0.0, 1.0)
    return _finish(fig, path)


def plot_saliency(model, x, target=None, ax=None, path=None, cmap="hot", title=None):
    """Images ``x`` (N, C, H, W) on the top row, their saliency maps below (max |gradient| over C).

    Each saliency map is scaled to its own maximum. ``target`` as in
    :func:`saliency`. Returns the Figure.
    """
    x = _images("plot_saliency()", "x", x)
    grad = saliency(model, x, target)
    sal = np.abs(grad).max(axis=1).astype(np.float64)
    top = sal.reshape(len(sal), -1).max(axis=1) if len(sal) else np.zeros(0)
    sal = sal / np.where(top > 0, top, 1.0)[:, None, None]
    img = x.mean(axis=1).astype(np.float64)
    lo, hi = (float(img.min()), float(img.max())) if img.size else (0.0, 1.0)
    img = (img - lo) / (hi - lo if hi > lo else 1.0)
    n = max(len(x), 1)
    both = np.concatenate([img, sal]) if len(x) else np.full((2,) + x.shape[2:], np.nan)
    mosaic = _mosaic(both, n)
    # images in grey: drawn as RGB so one Axes holds both colour maps
    import matplotlib
    rgb = np.full(mosaic.shape + (3,), np.nan)
    half = (mosaic.shape[0]) // 2
    grey, heat = matplotlib.colormaps["gray"], matplotlib.colormaps[cmap]
    for rows, cm in ((slice(0, half), grey), (slice(half, None), heat)):
        part = mosaic[rows]
        rgb[rows] = np.where(np.isnan(part)[..., None], np.nan,
                             cm(np.nan_to_num(part))[..., :3])
    plt = _pyplot()
    fig, ax = _axes(plt, ax, mosaic.shape)
    _show(ax, rgb, title if title is not None else
          "inputs (top) and saliency |d score / d input| (bottom)", "gray", 0.0, 1.0)
    return _finish(fig, path)


def plot_history(history, ax=None, path=None, title=None):
    """Loss and accuracy per epoch from :func:`fastnn.fit`'s history (with val_* if present).

    ``ax``: None (a new figure with a loss panel and, when there is accuracy,
    an accuracy panel), one Axes (loss on it, accuracy on a twin right axis)
    or a pair of Axes (loss, accuracy). Returns the Figure. ValueError for a
    history without a 'loss' list.
    """
    if not isinstance(history, dict) or not isinstance(history.get("loss"), (list, tuple)):
        raise ValueError("plot_history(): history must be a dict with a 'loss' list "
                         f"(as fastnn.fit returns), got {type(history).__name__}")
    acc = np.asarray(history.get("accuracy", []), dtype=np.float64)
    has_acc = acc.size > 0 and not np.all(np.isnan(acc))
    plt = _pyplot()
    if ax is None:
        fig, axes = plt.subplots(1, 2 if has_acc else 1, figsize=(9 if has_acc else 5, 3.5),
                                 dpi=100, squeeze=False)
        loss_ax, acc_ax = axes[0, 0], (axes[0, 1] if has_acc else None)
    elif isinstance(ax, (list, tuple, np.ndarray)):
        loss_ax, acc_ax = ax[0], ax[1]
        fig = loss_ax.figure
    else:
        loss_ax = ax
        acc_ax = ax.twinx() if has_acc else None
        fig = ax.figure
    for key, style in (("loss", "-o"), ("val_loss", "--s")):
        if history.get(key):
            loss_ax.plot(np.arange(1, len(history[key]) + 1), history[key], style,
                         ms=3, label=key)
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss")
    loss_ax.legend(loc="upper right", fontsize=8)
    from matplotlib.ticker import MaxNLocator
    loss_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if acc_ax is not None:
        for key, style in (("accuracy", "-o"), ("val_accuracy", "--s")):
            if history.get(key):
                acc_ax.plot(np.arange(1, len(history[key]) + 1), history[key], style, ms=3,
                            label=key, color="C2" if key == "accuracy" else "C3")
        acc_ax.set_xlabel("epoch")
        acc_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        acc_ax.set_ylabel("accuracy")
        acc_ax.legend(loc="lower right", fontsize=8)
    if title:
        fig.suptitle(title)
    if ax is None:
        fig.subplots_adjust(left=0.1, right=0.97, bottom=0.15, top=0.9, wspace=0.3)
    return _finish(fig, path)
