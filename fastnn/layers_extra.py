"""Layers for the course's remaining ops: Embedding, LayerNorm, GroupNorm.

Same conventions as fastnn.layers: ``params`` / ``grads`` dicts with torch's
parameter names, ``forward(x, training=True)``, ``backward(grad)`` returning
dL/dx (None for Embedding, whose input is integer indices), ``config()`` for
fastnn.save / fastnn.load.
"""
import numpy as np

from . import _backend, _checks
from .layers import Layer

__all__ = ["Embedding", "LayerNorm", "GroupNorm"]


class Embedding(Layer):
    """Lookup table, as torch.nn.Embedding: out[...] = weight[indices[...]].

    Parameters: num_embeddings, embedding_dim, padding_idx=None (that row is
    initialised to zeros and gets no gradient); keyword-only rng, dtype.
    ``params['weight']`` (num_embeddings, embedding_dim) ~ N(0, 1) as torch.
    forward(indices) -> indices.shape + (embedding_dim,); backward fills
    grads['weight'] (a scatter-add) and returns None.
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, *, rng=None,
                 dtype=np.float32):
        super().__init__()
        self.num_embeddings = _checks.positive_int("Embedding", "num_embeddings", num_embeddings)
        self.embedding_dim = _checks.positive_int("Embedding", "embedding_dim", embedding_dim)
        dt = _checks.float_dtype("Embedding", dtype)
        w = np.random.default_rng(rng).standard_normal(
            (self.num_embeddings, self.embedding_dim)).astype(dt)
        from ._args_ext import padding_index
        pad = padding_index("Embedding", padding_idx, self.num_embeddings)
        self.padding_idx = None if pad < 0 else pad
        if self.padding_idx is not None:
            w[self.padding_idx] = 0
        self.params["weight"] = w

    def forward(self, x, training=True):
        F = _backend.ops()
        self._cache = (F, x)
        return F.embedding(x, self.params["weight"], self.padding_idx)

    def backward(self, grad_output):
        F, x = self._saved()
        self.grads = {"weight": F.embedding_backward(grad_output, x, self.params["weight"],
                                                     self.padding_idx)}
        return None

    def config(self):
        return dict(num_embeddings=self.num_embeddings, embedding_dim=self.embedding_dim,
                    padding_idx=self.padding_idx, dtype=self.params["weight"].dtype.name)

    def __repr__(self):
        return f"Embedding({self.num_embeddings}, {self.embedding_dim})"


class LayerNorm(Layer):
    """Layer normalisation over the trailing ``normalized_shape`` dims, as torch.nn.LayerNorm.

    Parameters: normalized_shape (int or tuple), eps=1e-5, elementwise_affine=True,
    bias=True; keyword-only dtype. params 'weight' (ones), 'bias' (zeros).
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, *,
                 dtype=np.float32):
        super().__init__()
        shape = (normalized_shape,) if np.ndim(normalized_shape) == 0 else normalized_shape
        self.normalized_shape = tuple(_checks.positive_int("LayerNorm", "normalized_shape", s)
                                      for s in shape)
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        self.use_bias = bool(bias)
        dt = _checks.float_dtype("LayerNorm", dtype)
        if self.elementwise_affine:
            self.params["weight"] = np.ones(self.normalized_shape, dt)
            if self.use_bias:
                self.params["bias"] = np.zeros(self.normalized_shape, dt)
        self._dt = dt

    def forward(self, x, training=True):
        F = _backend.ops()
        self._cache = (F, x)
        return F.layer_norm(x, self.normalized_shape, self.params.get("weight"),
                            self.params.get("bias"), self.eps)

    def backward(self, grad_output):
        F, x = self._saved()
        gx, gw, gb = F.layer_norm_backward(grad_output, x, self.normalized_shape,
                                           self.params.get("weight"), self.params.get("bias"),
                                           self.eps)
        self.grads = {k: v for k, v in (("weight", gw), ("bias", gb)) if v is not None}
        return gx

    def config(self):
        return dict(normalized_shape=list(self.normalized_shape), eps=self.eps,
                    elementwise_affine=self.elementwise_affine, bias=self.use_bias,
                    dtype=self._dt.name)

    def __repr__(self):
        return f"LayerNorm({self.normalized_shape}, eps={self.eps:g})"


class GroupNorm(Layer):
    """Group normalisation, as torch.nn.GroupNorm(num_groups, num_channels, eps, affine).

    Input (N, C, *); params 'weight' (C,) ones and 'bias' (C,) zeros when affine.
    """

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, *, dtype=np.float32):
        super().__init__()
        self.num_groups = _checks.positive_int("GroupNorm", "num_groups", num_groups)
        self.num_channels = _checks.positive_int("GroupNorm", "num_channels", num_channels)
        if self.num_channels % self.num_groups:
            raise ValueError(f"GroupNorm(): num_groups ({num_groups}) must divide "
                             f"num_channels ({num_channels})")
        self.eps = float(eps)
        self.affine = bool(affine)
        dt = _checks.float_dtype("GroupNorm", dtype)
        if self.affine:
            self.params["weight"] = np.ones(self.num_channels, dt)
            self.params["bias"] = np.zeros(self.num_channels, dt)
        self._dt = dt

    def forward(self, x, training=True):
        F = _backend.ops()
        self._cache = (F, x)
        return F.group_norm(x, self.num_groups, self.params.get("weight"),
                            self.params.get("bias"), self.eps)

    def backward(self, grad_output):
        F, x = self._saved()
        gx, gw, gb = F.group_norm_backward(grad_output, x, self.num_groups,
                                           self.params.get("weight"), self.params.get("bias"),
                                           self.eps)
        self.grads = {k: v for k, v in (("weight", gw), ("bias", gb)) if v is not None}
        return gx

    def config(self):
        return dict(num_groups=self.num_groups, num_channels=self.num_channels, eps=self.eps,
                    affine=self.affine, dtype=self._dt.name)

    def __repr__(self):
        return f"GroupNorm({self.num_groups}, {self.num_channels}, eps={self.eps:g})"
