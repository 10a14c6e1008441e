"""Model summary: each layer's output shape, parameter count and multiply-accumulates (MACs)."""
from collections import namedtuple

import numpy as np

from .layers import Layer
from .containers import model_dtype

__all__ = ["summary", "ModelSummary", "SummaryRow"]

SummaryRow = namedtuple("SummaryRow", "name layer depth input_shape output_shape params macs")
SummaryRow.__doc__ = """One layer of a :class:`ModelSummary`.

name : dotted position in the model ('2', '1.0', ...); layer : class name;
depth : nesting level (1 = a direct child of the model); input_shape,
output_shape : tuples (batch dimension included); params : number of parameter
values (for a container, those of all layers inside it); macs : its MACs.
"""


class ModelSummary:
    """What :func:`summary` returns: ``rows`` (list of :class:`SummaryRow`) and the totals.

    Attributes: ``rows``, ``input_shape``, ``output_shape``, ``total_params``
    (parameter values, each shared array counted once), ``total_macs``.
    ``str(summary)`` is the printed table.
    """

    def __init__(self, rows, input_shape, output_shape, total_params, total_macs):
        self.rows = rows
        self.input_shape = input_shape
        self.output_shape = output_shape
        self.total_params = total_params
        self.total_macs = total_macs

    def __str__(self):
        header = ("layer", "output shape", "params", "MACs")
        body = [("  " * (r.depth - 1) + f"{r.name} {r.layer}", str(r.output_shape),
                 f"{r.params:,}", f"{r.macs:,}") for r in self.rows]
        widths = [max(len(line[i]) for line in [header] + body) for i in range(4)]

        def fmt(line):
            return (f"{line[0]:<{widths[0]}}  {line[1]:<{widths[1]}}  "
                    f"{line[2]:>{widths[2]}}  {line[3]:>{widths[3]}}")

        rule = "-" * len(fmt(header))
        lines = [f"input shape {self.input_shape}", rule, fmt(header), rule]
        lines += [fmt(line) for line in body]
        lines += [rule, f"total params: {self.total_params:,}",
                  f"total MACs:   {self.total_macs:,}", f"output shape {self.output_shape}"]
        return "\n".join(lines)

    def __repr__(self):
        return (f"ModelSummary(input_shape={self.input_shape}, output_shape={self.output_shape}, "
                f"total_params={self.total_params}, total_macs={self.total_macs})")


def _param_count(layer):
    return sum(int(layer_.params[name].size) for layer_, name in layer.parameters())


def _rows(layer, name, depth, in_shape, out_shape, rows):
    rows.append(SummaryRow(name, type(layer).__name__, depth, in_shape, out_shape,
                           _param_count(layer), int(layer.macs(in_shape, out_shape))))
    kids = layer.children()
    shapes = getattr(layer, "_shapes", None)  # recorded by the containers' forward
    if kids and shapes is not None and len(shapes) == len(kids):
        for (child_name, child), (i, o) in zip(kids, shapes):
            _rows(child, f"{name}.{child_name}" if name else child_name, depth + 1,
                  tuple(i), tuple(o), rows)


def summary(model, input_shape, *, dtype=None, verbose=True):
    """Shapes, parameter counts and MACs of ``model`` for an input of ``input_shape``; prints them.

    Parameters
    ----------
    model : a fastnn Layer (Sequential, Residual, Concat, or a single layer)
    input_shape : tuple of ints, the full input shape INCLUDING the batch
        dimension, e.g. (1, 3, 32, 32) for one NCHW image or (N, features)
    dtype : dtype of the zeros fed through the model; default the dtype of the
        model's parameters (float32 for a model without any)
    verbose : print the table (default True)

    Returns
    -------
    ModelSummary with one row per layer (containers first, then their layers,
    indented) and the totals.

    Notes
    -----
    The output shapes come from one forward pass (training=False) on zeros of
    ``input_shape``; it overwrites the layers' forward caches, so call backward
    only after a fresh forward.

    MAC convention: one multiply-add = one MAC (FLOPs are about 2 x MACs);
    biases and other additions are not counted.
    Linear: rows * in_features * out_features, rows = prod(input_shape[:-1]);
    Conv2d: N * C_out * H_out * W_out * (C_in / groups) * kH * kW;
    activations, pooling, normalisation, dropout, Flatten, the residual add and
    the concatenation: 0 (the :meth:`fastnn.Layer.macs` default, which new layer
    classes inherit); containers: the sum over their layers.
    Parameter counts are numbers of trainable values (``layer.params``); buffers
    such as batch-norm running statistics are not counted.

    Raises TypeError if ``model`` is not a Layer; ValueError for a bad
    ``input_shape``; whatever the model's forward raises for that shape.
    """
    if not isinstance(model, Layer):
        raise TypeError(f"summary(): model must be a fastnn Layer, got {type(model).__name__}")
    try:
        shape = tuple(int(d) for d in input_shape)
        ok = all(d == e for d, e in zip(shape, input_shape)) and len(shape) >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok or min(shape) < 0:
        raise ValueError(f"summary(): input_shape must be a tuple of ints >= 0 including the "
                         f"batch dimension, e.g. (1, 3, 32, 32); got {input_shape!r}")
    dt = model_dtype(model) if dtype is None else np.dtype(dtype)
    out_shape = tuple(np.shape(model.forward(np.zeros(shape, dtype=dt), training=False)))
    rows = []
    _rows(model, "", 0, shape, out_shape, rows)
    top = rows[0]
    if model.children():
        rows = rows[1:]  # the model itself is the totals line
    else:
        rows = [top._replace(name="0", depth=1)]
    unique = {id(layer.params[name]): layer.params[name].size
              for layer, name in model.parameters()}
    result = ModelSummary(rows, shape, out_shape, int(sum(unique.values())), top.macs)
    if verbose:
        print(result)
    return result
