"""Model containers: Sequential, Residual and Concat, plus the shape helpers the summary uses."""
import numpy as np

from . import _checks
from .layers import Layer

__all__ = ["Sequential", "Residual", "Concat"]


class Sequential(Layer):
    """Layers applied in order; backward runs them in reverse.

    >>> model = Sequential(Linear(4, 8), ReLU(), Linear(8, 2))
    >>> y = model.forward(x, training=True); grad_x = model.backward(grad_y)

    ``parameters()`` lists (layer, name) for every parameter of every layer,
    which is what :class:`fastnn.optim.SGD` updates. Each forward records the
    input and output shape of every layer (used by :func:`fastnn.summary`).
    """

    def __init__(self, *layers):
        super().__init__()
        _check_layers(type(self).__name__, layers)
        self.layers = list(layers)
        self._shapes = None

    def forward(self, x, training=True):
        shapes = []
        for layer in self.layers:
            in_shape = x.shape if isinstance(x, np.ndarray) else np.shape(x)
            x = layer.forward(x, training)
            shapes.append((in_shape, x.shape if isinstance(x, np.ndarray) else np.shape(x)))
        self._shapes = shapes
        return x

    skips_input_grad = True

    def backward(self, grad_output, input_grad=True):
        """Backward through the layers in reverse; returns the input's gradient.

        ``input_grad=False``: the caller does not need the gradient with respect to
        the model's input (it is data), so None is returned and the first layer is
        told so when it can skip that work (``skips_input_grad``: Linear, Conv2d, a
        nested Sequential). For LeNet-5 this drops conv1's whole grad-input pass,
        which torch skips the same way for an input that does not require grad.
        """
        input_grad = _checks.flag("Sequential.backward", "input_grad", input_grad)
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            if i == 0 and not input_grad:
                if getattr(layer, "skips_input_grad", False):
                    layer.backward(grad_output, input_grad=False)
                else:
                    layer.backward(grad_output)
                return None
            grad_output = layer.backward(grad_output)
        return grad_output

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    def children(self):
        return [(str(i), layer) for i, layer in enumerate(self.layers)]

    def macs(self, input_shape, output_shape):
        """Sum of the layers' MACs (see :meth:`fastnn.Layer.macs`)."""
        return _children_macs(self, input_shape)

    def config(self):
        return {}

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def __repr__(self):
        inner = "".join(f"\n  ({i}): {_indent(layer)}" for i, layer in enumerate(self.layers))
        return f"{type(self).__name__}({inner}\n)"


class Residual(Sequential):
    """Residual block y = F(x) + x, where F is the Sequential of ``layers`` (He et al. 2016).

    >>> block = Residual(Linear(8, 16), ReLU(), Linear(16, 8))

    Forward raises ValueError if F(x) and x differ in shape (add a projection
    layer inside F, or make F keep the shape, e.g. conv padding='same').
    Backward returns dL/dx = F's input gradient (from dL/dy) + dL/dy: the
    gradient flows through both F and the identity path. The addition itself
    costs no MACs in :func:`fastnn.summary`.
    """

    def forward(self, x, training=True):
        fx = super().forward(x, training)
        if np.shape(fx) != np.shape(x):
            raise ValueError(f"Residual.forward(): the residual branch maps input shape "
                             f"{np.shape(x)} to {np.shape(fx)}; y = F(x) + x needs the same "
                             "shape")
        return fx + x

    def backward(self, grad_output):
        return super().backward(grad_output) + grad_output


class Concat(Layer):
    """Parallel branches on the same input, outputs concatenated along ``dim`` (inception-style).

    >>> block = Concat(Conv2d(192, 128, 3, padding=1), Conv2d(192, 32, 5, padding=2))  # 160 ch

    Each branch is one Layer (use a Sequential for a chain of layers; the same
    layer object may not appear twice). ``dim`` (default 1, the channel axis of
    NCHW and the feature axis of (N, features)) may be negative. The branch
    outputs must agree in every other dimension (ValueError otherwise).
    Backward splits the upstream gradient along ``dim`` into one piece per
    branch and returns the sum of the branches' input gradients.
    """

    def __init__(self, *branches, dim=1):
        super().__init__()
        _check_layers("Concat", branches)
        if not branches:
            raise ValueError("Concat(): needs at least one branch")
        if len({id(b) for b in branches}) != len(branches):
            raise ValueError("Concat(): the same layer object appears in two branches; each "
                             "branch must be its own layer (its forward cache is per object)")
        if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"Concat(): dim must be an int, got {dim!r}")
        self.branches = list(branches)
        self.dim = int(dim)
        self._shapes = None

    def forward(self, x, training=True):
        outs = [branch.forward(x, training) for branch in self.branches]
        self._shapes = [(np.shape(x), np.shape(out)) for out in outs]
        ndim = np.ndim(outs[0])
        if not -ndim <= self.dim < ndim:
            raise ValueError(f"Concat.forward(): dim={self.dim} is out of range for the "
                             f"branches' {ndim}-D outputs")
        axis = self.dim % ndim
        first = outs[0].shape
        for i, out in enumerate(outs):
            if out.ndim != ndim or out.shape[:axis] + out.shape[axis + 1:] != \
                    first[:axis] + first[axis + 1:]:
                shapes = [o.shape for o in outs]
                raise ValueError(f"Concat.forward(): branch outputs {shapes} differ outside "
                                 f"dim {self.dim}; they can only be concatenated along it")
        self._cache = (axis, [out.shape[axis] for out in outs])
        return np.concatenate(outs, axis=axis)

    def backward(self, grad_output):
        axis, sizes = self._saved()
        pieces = np.split(grad_output, np.cumsum(sizes)[:-1], axis=axis)
        total = None
        for branch, piece in zip(self.branches, pieces):
            g = branch.backward(np.ascontiguousarray(piece))
            total = g.copy() if total is None else np.add(total, g, out=total)
        return total

    def parameters(self):
        return [p for branch in self.branches for p in branch.parameters()]

    def children(self):
        return [(str(i), branch) for i, branch in enumerate(self.branches)]

    def macs(self, input_shape, output_shape):
        """Sum of the branches' MACs (the concatenation itself costs none)."""
        return _children_macs(self, input_shape)

    def config(self):
        return {"dim": self.dim}

    def __len__(self):
        return len(self.branches)

    def __getitem__(self, i):
        return self.branches[i]

    def __repr__(self):
        inner = "".join(f"\n  ({i}): {_indent(b)}" for i, b in enumerate(self.branches))
        return f"Concat({inner}\n  dim={self.dim}\n)"


def _indent(layer):
    return repr(layer).replace("\n", "\n  ")


def _check_layers(owner, layers):
    for i, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise TypeError(f"{owner}(): argument {i} must be a fastnn Layer, "
                            f"got {type(layer).__name__}")


def model_dtype(model):
    """The dtype of the model's first parameter (float32 if it has none)."""
    for array in model.state_dict().values():
        return array.dtype
    return np.dtype(np.float32)


def child_shapes(container, input_shape):
    """[(input shape, output shape)] of each child of ``container`` for an input of ``input_shape``.

    Uses the shapes recorded by the last forward when it had this input shape;
    otherwise runs a forward pass (training=False) on zeros of ``input_shape``.
    """
    input_shape = tuple(int(d) for d in input_shape)
    if container._shapes is None or not container._shapes \
            or tuple(container._shapes[0][0]) != input_shape:
        container.forward(np.zeros(input_shape, dtype=model_dtype(container)), training=False)
    return container._shapes


def _children_macs(container, input_shape):
    kids = [child for _, child in container.children()]
    if not kids:
        return 0
    shapes = child_shapes(container, input_shape)
    return sum(child.macs(i, o) for child, (i, o) in zip(kids, shapes))
