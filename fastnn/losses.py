"""Loss objects for training loops: ``forward`` returns the loss, ``backward`` dL/d(input)."""
from . import _backend, _checks

__all__ = ["CrossEntropyLoss"]


class CrossEntropyLoss:
    """Softmax cross-entropy of logits (N, C) against class indices (N,).

    ``forward(logits, target)`` returns fastnn.functional.cross_entropy(logits,
    target, reduction) and caches its inputs; ``backward(grad_output=1.0)``
    returns dL/d(logits) of shape (N, C) (softmax(logits) - onehot(target),
    divided by N for reduction='mean').
    """

    def __init__(self, reduction="mean"):
        self.reduction = _checks.choice("CrossEntropyLoss", "reduction", reduction,
                                        _checks.REDUCTIONS)
        self._cache = None

    def forward(self, logits, target):
        F = _backend.ops()
        loss = F.cross_entropy(logits, target, self.reduction)
        self._cache = (F, logits, target)
        return loss

    __call__ = forward

    def backward(self, grad_output=1.0):
        if self._cache is None:
            raise RuntimeError("CrossEntropyLoss.backward() called before forward()")
        F, logits, target = self._cache
        return F.cross_entropy_backward(grad_output, logits, target, self.reduction)
