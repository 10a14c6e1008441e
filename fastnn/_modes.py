"""Training / evaluation mode, ``predict`` and the one-forward-per-backward rule of every Layer.

:class:`fastnn.Layer` inherits from :class:`LayerModes`. Its ``__init_subclass__``
wraps the ``forward`` and ``backward`` that each Layer subclass defines, so
every layer (including user-defined ones) gets, without code of its own:

* **mode**: ``forward(x)`` without ``training`` (or with ``training=None``)
  uses the layer's ``training`` attribute, which ``model.train()`` /
  ``model.eval()`` set on the layer and everything inside it (as torch's
  ``Module.train``/``eval``). An explicit ``training=True/False`` wins. A
  container hands its mode to the layers it runs, so the mode of the layer
  ``forward`` is called on is the one that counts.
* **the cache check**: a layer keeps the cache of its latest forward only,
  and ``backward`` differentiates that one. When forward ran more than once
  since the previous backward, the gradient handed to backward might belong
  to an earlier forward; backward raises RuntimeError instead of silently
  using the latest cache, unless the gradient can only be the latest one's:
  the earlier forwards either were the same computation (the same input
  object, the same mode, no random layer such as Dropout in training mode) or
  gave outputs of another shape than the gradient. So
  ``loss(model.forward(x1)); loss(model.forward(x2)); model.backward(g)``
  raises when x1 and x2 are different batches of one shape, and
  ``model.forward(x)`` twice then ``backward`` works. Only calls from outside
  any forward/backward are passes of their own (a Sequential's forward is one
  pass of the Sequential, not one of each layer inside it); a layer that was
  called on its own and then runs inside a container counts that as another
  forward of its own.
  Passes that are not differentiated belong in :meth:`LayerModes.predict`
  (or :func:`fastnn.evaluate`, :mod:`fastnn.vis`), which leave the caches,
  gradients and this record as they found them.
"""
import functools
import inspect
import threading
import weakref
from contextlib import contextmanager

import numpy as np

# Per-pass state a layer may hold; saved and restored around passes that must
# leave no trace (predict, evaluate, fastnn.vis). _pass / _ambiguous: see _record.
_PASS_STATE = ("_cache", "_shapes", "_pass", "_ambiguous", "grads")

# Per thread: the layers whose forward is running (outermost first) and the
# depth of nested backward calls. Only outermost calls are recorded/checked.
_calls = threading.local()


class LayerModes:
    """Mixin of :class:`fastnn.Layer`: train(), eval(), predict() and the forward/backward wrappers."""

    training = True  # class default; train()/eval() set it on each instance

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "forward" in cls.__dict__:
            cls.forward = _wrap_forward(cls.__dict__["forward"])
        if "backward" in cls.__dict__:
            cls.backward = _wrap_backward(cls.__dict__["backward"])

    def __getstate__(self):
        # Pickles and copies leave out the record of forwards (it holds a weak reference,
        # which cannot be pickled, e.g. to send a model to dask workers).
        state = dict(self.__dict__)
        state.pop("_pass", None)
        state.pop("_ambiguous", None)
        return state

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
        and nothing is kept: the forward caches, gradients and the record of
        forwards since the last backward are restored afterwards, so the
        ``backward`` of a training forward that ran before ``predict`` still
        works. TypeError / ValueError for a bad
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
    shapes, gradients and record of forwards are saved, and the record is
    cleared (so one forward + backward inside is allowed); on exit all are
    restored.
    """
    saved = []
    for obj in objects:
        layers = [layer for _, layer in obj.named_layers()] if hasattr(obj, "named_layers") \
            else [obj]
        for layer in layers:
            state = {k: layer.__dict__[k] for k in _PASS_STATE if k in layer.__dict__}
            saved.append((layer, state))
            layer.__dict__.pop("_pass", None)
            layer.__dict__.pop("_ambiguous", None)
    try:
        yield
    finally:
        for layer, state in saved:
            for k in _PASS_STATE:
                layer.__dict__.pop(k, None)
            layer.__dict__.update(state)


def _arguments(fn):
    """(name of the input argument, index of ``training`` after it or None) of a forward."""
    names = list(inspect.signature(fn).parameters)[1:]
    return names[0] if names else None, (names.index("training") if "training" in names
                                          else None)


def _shape(obj):
    if hasattr(obj, "shape"):
        return tuple(obj.shape)
    if isinstance(obj, (tuple, list)):
        return tuple(_shape(o) for o in obj)
    return None


def _stochastic(layer):
    """Whether a training forward of ``layer`` may draw random numbers (a ``generator`` inside)."""
    return any(hasattr(sub, "generator") for _, sub in layer.named_layers())


def _record(layer, x, training, out, plain=True):
    """Remember this forward; shapes of earlier, different forwards become ambiguous.

    Two forwards are the same computation when they got the same input object,
    the same mode, no other argument (``plain``: e.g. a recurrent layer's
    initial state left None) and no random layer draws in training mode.
    """
    prev = layer.__dict__.get("_pass")
    ambiguous = layer.__dict__.get("_ambiguous", frozenset())
    if prev is not None:
        ref, prev_training, prev_shape = prev
        same = ref is not None and plain and ref() is x and prev_training == training \
            and not (training and _stochastic(layer))
        if not same:
            ambiguous = ambiguous | {prev_shape}
    try:
        ref = weakref.ref(x) if plain else None  # a weak reference: no memory held
    except TypeError:
        ref = None
    layer._pass = (ref, training, _shape(out))
    layer._ambiguous = ambiguous


def _wrap_forward(fn):
    xname, pos = _arguments(fn)

    @functools.wraps(fn)
    def forward(self, *args, **kwargs):
        training = None
        if pos is not None:  # training=None or not given: the layer's mode
            if "training" in kwargs:
                if kwargs["training"] is None:
                    kwargs["training"] = self.training
                training = kwargs["training"]
            elif len(args) > pos:
                if args[pos] is None:
                    args = args[:pos] + (self.training,) + args[pos + 1:]
                training = args[pos]
            else:
                kwargs["training"] = training = self.training
        active = _calls.__dict__.setdefault("forward", [])
        for layer in active:   # (a loop, not any(generator): ~0.5 us less per layer call)
            if layer is self:  # e.g. Residual -> Sequential.forward
                return fn(self, *args, **kwargs)
        active.append(self)
        try:
            out = fn(self, *args, **kwargs)
        finally:
            active.pop()
        # Outermost calls are recorded; so is a call inside a container on a layer that
        # has a pending forward of its own (it was also called on its own).
        if not active or self.__dict__.get("_pass") is not None:
            x = args[0] if args else kwargs.get(xname)
            extras = [a for i, a in enumerate(args[1:], 1) if i != pos] + \
                [v for k, v in kwargs.items() if k not in ("training", xname)]
            _record(self, x, training, out, all(e is None for e in extras))
        return out

    return forward


def _wrap_backward(fn):
    @functools.wraps(fn)
    def backward(self, *args, **kwargs):
        depth = getattr(_calls, "backward", 0)
        if depth == 0:
            _check_backward(self, args[0] if args else next(iter(kwargs.values()), None))
        else:  # a backward through a container consumes the layer's own record too
            self.__dict__.pop("_pass", None)
            self.__dict__.pop("_ambiguous", None)
        _calls.backward = depth + 1
        try:
            return fn(self, *args, **kwargs)
        finally:
            _calls.backward = depth

    return backward


def _check_backward(layer, grad):
    ambiguous = layer.__dict__.pop("_ambiguous", frozenset())
    layer.__dict__.pop("_pass", None)  # consumed: a second backward reuses the same cache
    shape = _shape(grad)
    if shape in ambiguous:
        raise RuntimeError(
            f"{type(layer).__name__}.backward(): forward() ran more than once since the last "
            f"backward(), on different inputs (or with random layers) giving outputs of shape "
            f"{shape}, this gradient's shape; a layer keeps the cache of its latest forward "
            "only, so this gradient may belong to an earlier forward. Call forward() on the "
            "batch to differentiate, then backward(); use predict() (or fastnn.evaluate) for "
            "passes that are not differentiated")
