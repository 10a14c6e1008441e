"""Training / evaluation mode, ``predict`` and the one-forward-per-backward rule of every Layer.

:class:`fastnn.Layer` inherits from :class:`LayerModes`. Its ``__init_subclass__``
wraps the ``forward`` and ``backward`` that each Layer subclass defines, so
every layer (including user-defined ones) gets, without code of its own:

* **mode**: ``forward(x)`` without ``training`` (or with ``training=None``)
  uses the layer's ``training`` attribute, which ``model.train()`` /
  ``model.eval()`` set on the layer and everything inside it (as torch's
  ``Module.train``/``eval``). An explicit ``training=True/False`` wins.
* **the cache check**: a layer keeps the cache of its latest forward only.
  ``backward`` differentiates *the* forward that ran since the previous
  backward; if two or more forwards ran since then, the gradient handed to
  backward might belong to an earlier one, so backward raises RuntimeError
  instead of silently using the latest cache. Only calls made from outside
  any layer's forward/backward are counted (a Sequential's forward counts once
  for the Sequential, not for each of its layers). Passes that are not to be
  differentiated belong in :meth:`LayerModes.predict` (or
  :func:`fastnn.evaluate`, :mod:`fastnn.vis`), which leave the caches, the
  gradients and the count as they found them.
"""
import functools
import inspect
import threading
from contextlib import contextmanager

import numpy as np

# Depth of nested Layer.forward / Layer.backward calls in this thread: only the
# outermost call (depth 0) counts as a pass of its own.
_depth = threading.local()

# Per-pass state a layer may hold; saved and restored around passes that must
# leave no trace (predict, evaluate, fastnn.vis).
_PASS_STATE = ("_cache", "_shapes", "_passes", "grads")


class LayerModes:
    """Mixin of :class:`fastnn.Layer`: train()/eval()/predict() and the forward/backward wrappers."""

    training = True  # class default; train()/eval() set it on each instance

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "forward" in cls.__dict__:
            cls.forward = _wrap_forward(cls.__dict__["forward"])
        if "backward" in cls.__dict__:
            cls.backward = _wrap_backward(cls.__dict__["backward"])

    def train(self, mode=True):
        """Set training mode (``mode=True``) or evaluation mode on this layer and all inside it.

        Returns the layer itself, as torch's ``Module.train``. The mode is what
        ``forward`` uses when it is not given ``training``: BatchNorm uses batch
        statistics and updates its running ones, Dropout drops. TypeError if
        ``mode`` is not a bool.
        """
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"{type(self).__name__}.train(): mode must be a bool, got {mode!r}")
        for _, layer in self.named_layers():
            layer.training = bool(mode)
        return self

    def eval(self):
        """Evaluation mode on this layer and all inside it: ``train(False)``. Returns the layer."""
        return self.train(False)

    def predict(self, x, batch_size=256):
        """The model's output for ``x`` in evaluation mode, computed ``batch_size`` rows at a time.

        Parameters
        ----------
        x : ndarray of shape (N, ...), what ``forward`` accepts
        batch_size : int >= 1, or None for one pass over all of ``x``

        Returns
        -------
        ndarray (N, ...): the forward outputs concatenated (a new array).

        Every forward runs with ``training=False`` (whatever the layer's mode),
        and nothing is kept: the forward caches, gradients and the pass count
        are restored afterwards, so a ``backward`` of a training forward that
        ran before ``predict`` still works. TypeError / ValueError for a bad
        ``x`` or ``batch_size``.
        """
        owner = f"{type(self).__name__}.predict()"
        if not isinstance(x, np.ndarray) or x.ndim < 1:
            raise TypeError(f"{owner}: x must be an ndarray with a batch dimension, got "
                            f"{getattr(x, 'shape', type(x).__name__)}")
        n = len(x)
        step = _batch_size(owner, batch_size, n)
        with no_trace(self):
            if n == 0:
                return np.array(self.forward(x, training=False))
            outs = [self.forward(x[i:i + step], training=False) for i in range(0, n, step)]
        return np.concatenate(outs, axis=0)


def _batch_size(owner, batch_size, n):
    if batch_size is None:
        return max(n, 1)
    if isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"{owner}: batch_size must be an int or None, got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"{owner}: batch_size must be >= 1, got {batch_size}")
    return int(batch_size)


@contextmanager
def no_trace(*objects):
    """Run passes on ``objects`` (layers, models, losses) that leave no trace on them.

    On entry each object's (and each sub-layer's) forward cache, recorded
    shapes, gradients and pass count are saved, and the pass count is reset
    (so one forward + backward inside is allowed); on exit they are restored.
    """
    saved = []
    for obj in objects:
        layers = [layer for _, layer in obj.named_layers()] if hasattr(obj, "named_layers") \
            else [obj]
        for layer in layers:
            state = {k: layer.__dict__[k] for k in _PASS_STATE if k in layer.__dict__}
            saved.append((layer, state))
            layer.__dict__.pop("_passes", None)
    try:
        yield
    finally:
        for layer, state in saved:
            for k in _PASS_STATE:
                layer.__dict__.pop(k, None)
            layer.__dict__.update(state)


def _training_position(fn):
    """Index of ``training`` among fn's arguments after self, or None if it has none."""
    names = list(inspect.signature(fn).parameters)[1:]
    return names.index("training") if "training" in names else None


def _wrap_forward(fn):
    pos = _training_position(fn)

    @functools.wraps(fn)
    def forward(self, *args, **kwargs):
        if pos is not None:  # training=None or not given: the layer's mode
            if "training" in kwargs:
                if kwargs["training"] is None:
                    kwargs["training"] = self.training
            elif len(args) > pos:
                if args[pos] is None:
                    args = args[:pos] + (self.training,) + args[pos + 1:]
            else:
                kwargs["training"] = self.training
        depth = getattr(_depth, "forward", 0)
        _depth.forward = depth + 1
        try:
            out = fn(self, *args, **kwargs)
        finally:
            _depth.forward = depth
        if depth == 0:
            self._passes = self.__dict__.get("_passes", 0) + 1
        return out

    return forward


def _wrap_backward(fn):
    @functools.wraps(fn)
    def backward(self, *args, **kwargs):
        depth = getattr(_depth, "backward", 0)
        if depth == 0:
            passes = self.__dict__.get("_passes", 0)
            if passes > 1:
                self._passes = 0  # raise once; a caller that goes on gets the latest forward
                raise RuntimeError(
                    f"{type(self).__name__}.backward(): forward() ran {passes} times since the "
                    "last backward(); a layer keeps the cache of its latest forward only, so "
                    "this gradient may belong to an earlier forward. Call forward() once on "
                    "the batch to differentiate, then backward(); use predict() (or "
                    "fastnn.evaluate) for passes that are not differentiated")
        _depth.backward = depth + 1
        try:
            out = fn(self, *args, **kwargs)
        finally:
            _depth.backward = depth
        if depth == 0:
            self._passes = 0
        return out

    return backward
