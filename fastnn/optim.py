"""Optimizers: update a model's parameters in place from the gradients its backward left."""
import math
import numbers

import numpy as np

__all__ = ["SGD"]


def _real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


class SGD:
    """Stochastic gradient descent with optional momentum (PyTorch's formulation).

    For each parameter p with gradient g (from the last ``backward``)::

        v <- momentum * v + g          (v starts at 0, so the first step uses v = g)
        p <- p - lr * v

    which with momentum=0 is plain p <- p - lr * g. Parameters are updated in
    place, so layers keep referring to the same arrays.

    Parameters
    ----------
    model : a fastnn Layer or Sequential (anything with ``parameters()``
        listing (layer, name) pairs)
    lr : float > 0, the learning rate
    momentum : float >= 0
    """

    def __init__(self, model, lr, momentum=0.0):
        if not hasattr(model, "parameters"):
            raise TypeError(f"SGD(): model must be a fastnn Layer or Sequential, "
                            f"got {type(model).__name__}")
        # numbers.Real takes Python and NumPy ints/floats; inf and NaN are rejected.
        if not _real(lr) or not 0 < lr < math.inf:
            raise ValueError(f"SGD(): lr must be a finite number > 0, got {lr!r}")
        if not _real(momentum) or not 0 <= momentum < math.inf:
            raise ValueError(f"SGD(): momentum must be a finite number >= 0, got {momentum!r}")
        self.model = model
        self.lr = float(lr)
        self.momentum = float(momentum)
        self._velocity = {}

    def step(self):
        """Apply one update to every parameter of the model."""
        for layer, name in self.model.parameters():
            p = layer.params[name]
            g = layer.grads.get(name)
            if g is None:
                raise RuntimeError(f"SGD.step(): {type(layer).__name__}.{name} has no gradient; "
                                   "call backward() before step()")
            if self.momentum:
                key = (id(layer), name)
                v = self._velocity.get(key)
                if v is None:
                    v = self._velocity[key] = g.copy()
                else:
                    np.multiply(v, p.dtype.type(self.momentum), out=v)
                    np.add(v, g, out=v)
                g = v
            p -= p.dtype.type(self.lr) * g
