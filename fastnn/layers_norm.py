"""Normalisation and dropout layers: BatchNorm1d, BatchNorm2d, Dropout.

Importable from :mod:`fastnn.layers` and :mod:`fastnn` as well; the layer
conventions are those of fastnn.layers (forward caches what backward needs).
"""
import numpy as np

from . import _backend, _checks
from .layers import Layer

__all__ = ["BatchNorm1d", "BatchNorm2d", "Dropout"]


class _BatchNorm(Layer):
    """Batch normalisation layer (see fastnn.functional.batch_norm); subclasses fix the rank.

    Parameters
    ----------
    num_features : int >= 1, the number of channels C
    eps : float >= 0, added to the variance (default 1e-5)
    momentum : float in [0, 1], weight of each new batch in the running statistics
    affine : bool, whether to learn weight (gamma, initialised to ones) and bias
        (beta, zeros)
    dtype : float32 (default) or float64

    Attributes ``running_mean`` (zeros) and ``running_var`` (ones), shape (C,),
    are updated in place by every training-mode forward; ``forward(x,
    training=False)`` normalises with them. ``params``: 'weight', 'bias' (if affine).
    """
    ndims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, *, dtype=np.float32):
        super().__init__()
        owner = type(self).__name__
        self.num_features = _checks.positive_int(owner, "num_features", num_features)
        self.eps = _checks.real_number(owner, "eps", eps, 0.0, float("inf"))
        self.momentum = _checks.real_number(owner, "momentum", momentum, 0.0, 1.0)
        self.affine = _checks.flag(owner, "affine", affine)
        dt = _checks.float_dtype(owner, dtype)
        self.running_mean = np.zeros(self.num_features, dtype=dt)
        self.running_var = np.ones(self.num_features, dtype=dt)
        # Listed as buffers so state_dict()/save()/load() carry them (updated in place).
        self.buffers = {"running_mean": self.running_mean, "running_var": self.running_var}
        if self.affine:
            self.params["weight"] = np.ones(self.num_features, dtype=dt)
            self.params["bias"] = np.zeros(self.num_features, dtype=dt)

    def _check_rank(self, x):
        if isinstance(x, np.ndarray) and x.ndim not in self.ndims:
            shapes = " or ".join(f"{d}-D" for d in self.ndims)
            raise ValueError(f"{type(self).__name__}.forward(): x must be {shapes} "
                             f"{self.layout}, got shape {x.shape}")

    def forward(self, x, training=True):
        self._check_rank(x)
        F = _backend.ops()
        out = F.batch_norm(x, self.running_mean, self.running_var, self.params.get("weight"),
                           self.params.get("bias"), training, self.momentum, self.eps)
        self._cache = (F, x, bool(training))
        return out

    def backward(self, grad_output):
        F, x, training = self._saved()
        gx, gw, gb = F.batch_norm_backward(grad_output, x, self.running_mean, self.running_var,
                                           self.params.get("weight"), training, self.eps)
        self.grads = {"weight": gw, "bias": gb} if self.affine else {}
        return gx

    def config(self):
        return dict(num_features=self.num_features, eps=self.eps, momentum=self.momentum,
                    affine=self.affine, dtype=self.running_mean.dtype.name)

    def __repr__(self):
        return (f"{type(self).__name__}({self.num_features}, eps={self.eps}, "
                f"momentum={self.momentum}, affine={self.affine})")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) input, per feature C (as torch.nn.BatchNorm1d)."""
    ndims = (2, 3)
    layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) input, per channel C (as torch.nn.BatchNorm2d)."""
    ndims = (4,)
    layout = "(N, C, H, W)"


class Dropout(Layer):
    """Inverted dropout (see fastnn.functional.dropout): identity when training=False.

    Parameters
    ----------
    p : float in [0, 1), the probability of dropping an element (torch's
        convention); default 0.5 when keep_prob is not given either
    keep_prob : float in (0, 1], keyword-only, the probability of KEEPING an
        element (the course material's convention): keep_prob = 1 - p. Give p
        or keep_prob; giving both raises ValueError unless p == 1 - keep_prob.
    seed : None, int or numpy.random.Generator; the layer draws every mask from
        one generator, so two layers built with the same int seed drop the
        same elements forward after forward, on either backend.

    forward(x, training=True): x * mask / (1 - p) with a fresh mask; the mask
    is cached and backward multiplies the gradient by the same mask / (1 - p).
    """

    def __init__(self, p=None, *, keep_prob=None, seed=None):
        super().__init__()
        if keep_prob is not None:
            keep = _checks.real_number("Dropout", "keep_prob", keep_prob, 0.0, 1.0)
            if keep == 0.0:
                raise ValueError("Dropout(): keep_prob must be in (0, 1], got 0 (nothing kept)")
            if p is not None and abs(_checks.dropout_probability("Dropout", p)
                                     - (1.0 - keep)) > 1e-12:
                raise ValueError(f"Dropout(): p={p!r} and keep_prob={keep_prob!r} disagree "
                                 "(p is the drop probability, p = 1 - keep_prob); give one")
            p = 1.0 - keep
        self.p = _checks.dropout_probability("Dropout", 0.5 if p is None else p)
        self.generator = _checks.generator("Dropout", "seed", seed)

    @property
    def keep_prob(self):
        """The probability of keeping an element, 1 - p."""
        return 1.0 - self.p

    def forward(self, x, training=True):
        F = _backend.ops()
        out, mask = F.dropout(x, self.p, training, self.generator, return_mask=True)
        self._cache = (F, mask, training)
        return out

    def backward(self, grad_output):
        F, mask, training = self._saved()
        return F.dropout_backward(grad_output, mask, self.p, training)

    def config(self):
        # The generator's state is not saved: a loaded Dropout draws fresh masks.
        return dict(p=self.p)

    def __repr__(self):
        return f"Dropout(p={self.p:g})"
