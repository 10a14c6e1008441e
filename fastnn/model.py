"""Model containers."""
from .layers import Layer

__all__ = ["Sequential"]


class Sequential(Layer):
    """Layers applied in order; backward runs them in reverse.

    >>> model = Sequential(Linear(4, 8), ReLU(), Linear(8, 2))
    >>> y = model.forward(x, training=True); grad_x = model.backward(grad_y)

    ``parameters()`` lists (layer, name) for every parameter of every layer,
    which is what :class:`fastnn.optim.SGD` updates.
    """

    def __init__(self, *layers):
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential(): argument {i} must be a fastnn Layer, "
                                f"got {type(layer).__name__}")
        self.layers = list(layers)

    def forward(self, x, training=True):
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def backward(self, grad_output):
        for layer in reversed(self.layers):
            grad_output = layer.backward(grad_output)
        return grad_output

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def __repr__(self):
        inner = "".join(f"\n  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)"
