"""Loss objects for training loops: ``forward`` returns the loss, ``backward`` dL/d(input)."""
import numpy as np

from . import _backend, _checks

__all__ = ["CrossEntropyLoss", "MSELoss", "BCEWithLogitsLoss", "BCELoss"]


class CrossEntropyLoss:
    """Softmax cross-entropy of logits against class indices or class probabilities.

    ``forward(logits, target)`` returns ``fastnn.functional.cross_entropy(logits,
    target, weight, ignore_index, reduction)`` and caches its inputs;
    ``backward(grad_output=1.0)`` returns dL/d(logits), shaped like the logits
    (softmax(logits) - onehot(target), weighted, divided by the 'mean' denominator).
    Shapes: logits (N, C) or (N, C, d1, ...), target (N,) / (N, d1, ...) indices or
    probabilities shaped like the logits.

    ``reduction`` may be given positionally (fastnn's earlier signature); ``weight``
    ((C,) class weights) and ``ignore_index`` (targets equal to it add no loss and
    get no gradient; default -100, as torch) are keyword-only. ``target`` may be
    any integer array-like (a list is converted with np.asarray); float class
    indices raise TypeError and classes outside [0, C - 1] ValueError.
    """

    def __init__(self, reduction="mean", *, weight=None, ignore_index=-100):
        self.reduction = _checks.choice("CrossEntropyLoss", "reduction", reduction,
                                        _checks.REDUCTIONS)
        self.weight = weight
        self.ignore_index = ignore_index
        self._cache = None

    def _kwargs(self):
        return dict(weight=self.weight, ignore_index=self.ignore_index, reduction=self.reduction)

    def forward(self, logits, target):
        if not isinstance(target, np.ndarray):  # a list, tuple, tensor ... of class indices
            target = np.asarray(target)
        F = _backend.ops()
        loss = F.cross_entropy(logits, target, **self._kwargs())
        self._cache = (F, logits, target)
        return loss

    __call__ = forward

    def backward(self, grad_output=1.0):
        if self._cache is None:
            raise RuntimeError("CrossEntropyLoss.backward() called before forward()")
        F, logits, target = self._cache
        return F.cross_entropy_backward(grad_output, logits, target, **self._kwargs())


class _ElementwiseLoss:
    """A loss of elementwise (input, target) pairs: fastnn.functional.<name> and its backward.

    ``forward(input, target)`` returns the loss (a scalar for 'mean' / 'sum',
    input's shape for 'none') and caches its inputs; ``backward(grad_output=1.0)``
    returns dL/d(input) of input's shape.
    """
    name = None

    def __init__(self, reduction="mean"):
        self.reduction = _checks.choice(type(self).__name__, "reduction", reduction,
                                        _checks.REDUCTIONS)
        self._cache = None

    def forward(self, input, target):
        F = _backend.ops()
        loss = getattr(F, self.name)(input, target, self.reduction)
        self._cache = (F, input, target)
        return loss

    def __call__(self, input, target):
        return self.forward(input, target)

    def backward(self, grad_output=1.0):
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward() called before forward()")
        F, input, target = self._cache
        return getattr(F, self.name + "_backward")(grad_output, input, target, self.reduction)

    def __repr__(self):
        return f"{type(self).__name__}(reduction={self.reduction!r})"


class MSELoss(_ElementwiseLoss):
    """Mean squared error (input - target)^2 (fastnn.functional.mse_loss)."""
    name = "mse_loss"


class BCEWithLogitsLoss(_ElementwiseLoss):
    """Binary cross-entropy on logits, numerically stable
    (fastnn.functional.binary_cross_entropy_with_logits); gradient sigmoid(x) - t."""
    name = "binary_cross_entropy_with_logits"


class BCELoss(_ElementwiseLoss):
    """Binary cross-entropy on probabilities in [0, 1], logs clamped at -100
    (fastnn.functional.binary_cross_entropy)."""
    name = "binary_cross_entropy"
