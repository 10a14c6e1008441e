"""Optimizers: update a model's parameters in place from the gradients its backward left."""
import numpy as np

from . import _backend, _checks

__all__ = ["SGD", "Adam", "RMSprop"]


def _check_model(owner, model):
    if not hasattr(model, "parameters"):
        raise TypeError(f"{owner}(): model must be a fastnn Layer or Sequential, "
                        f"got {type(model).__name__}")


def _grad(owner, layer, name):
    g = layer.grads.get(name)
    if g is None:
        raise RuntimeError(f"{owner}.step(): {type(layer).__name__}.{name} has no gradient; "
                           "call backward() before step()")
    return g


class SGD:
    """Stochastic gradient descent with momentum, dampening, Nesterov and weight decay.

    PyTorch's formulation (torch.optim.SGD). For each parameter p with gradient
    g (from the last ``backward``)::

        g <- g + weight_decay * p                     (if weight_decay != 0; L2 penalty)
        v <- momentum * v + (1 - dampening) * g       (if momentum != 0; the first step sets v = g)
        g <- g + momentum * v  if nesterov  else  v
        p <- p - lr * g

    which with the defaults is plain p <- p - lr * g. Parameters are updated in
    place, so layers keep referring to the same arrays; ``layer.grads`` is not
    modified.

    Parameters
    ----------
    model : a fastnn Layer or Sequential (anything with ``parameters()``
        listing (layer, name) pairs)
    lr : float > 0, the learning rate
    momentum : float >= 0
    weight_decay : float >= 0
    dampening : float >= 0
    nesterov : bool; needs momentum > 0 and dampening = 0 (ValueError otherwise,
        as torch)
    """

    def __init__(self, model, lr, momentum=0.0, weight_decay=0.0, nesterov=False,
                 dampening=0.0):
        _check_model("SGD", model)
        self.model = model
        self.lr = _checks.finite_number("SGD", "lr", lr, 0, low_ok=False)
        self.momentum = _checks.finite_number("SGD", "momentum", momentum, 0)
        self.weight_decay = _checks.finite_number("SGD", "weight_decay", weight_decay, 0)
        self.dampening = _checks.finite_number("SGD", "dampening", dampening, 0)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"SGD(): nesterov must be a bool, got {nesterov!r}")
        if nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("SGD(): nesterov=True requires momentum > 0 and dampening = 0, "
                             f"got momentum={momentum!r}, dampening={dampening!r}")
        self.nesterov = bool(nesterov)
        self._velocity = {}

    def step(self):
        """Apply one update to every parameter of the model.

        On the Numba backend each update after the first is one pass of
        kernels/optim.py's ``sgd_update`` (C-contiguous float parameters with
        gradients of their dtype); it rounds every operation as the NumPy form
        below does, so both backends give the same bits.
        """
        update = _sgd_kernel()
        scalars = {}   # the kernel's scalar arguments, per dtype
        for layer, name in self.model.parameters():
            p = layer.params[name]
            g = _grad("SGD", layer, name)
            t = p.dtype.type
            v = self._velocity.get((id(layer), name)) if self.momentum else p
            # (v's shape too: a parameter replaced by one of another shape keeps its old
            # momentum buffer, which the NumPy form below rejects with a broadcast error.
            # Read-only arrays are another Numba type: the NumPy form takes them, and
            # raises NumPy's own error for a read-only parameter.)
            pf, gf = p.flags, g.flags
            if (update is not None and v is not None and g.dtype == p.dtype
                    and g.shape == p.shape == v.shape and pf.c_contiguous and pf.writeable
                    and gf.c_contiguous and gf.writeable and p.dtype in _checks.FLOAT_DTYPES):
                s = scalars.get(t)
                if s is None:
                    s = scalars[t] = (t(self.lr), t(self.momentum), t(1.0 - self.dampening),
                                      t(self.weight_decay), self.nesterov)
                update(p.reshape(-1), g.reshape(-1), v.reshape(-1), *s)
                continue
            if self.weight_decay:
                g = g + t(self.weight_decay) * p
            if self.momentum:
                key = (id(layer), name)
                v = self._velocity.get(key)
                if v is None:
                    v = self._velocity[key] = np.array(g, dtype=p.dtype)
                else:
                    np.multiply(v, t(self.momentum), out=v)
                    if self.dampening:
                        v += t(1.0 - self.dampening) * g
                    else:
                        np.add(v, g, out=v)
                g = g + t(self.momentum) * v if self.nesterov else v
            p -= t(self.lr) * g


_SGD_UPDATE = []


def _sgd_kernel():
    """kernels/optim.py's sgd_update on the Numba backend (imported on first use, so that
    the NumPy backend never imports Numba), else None."""
    if _backend.get_backend() != "numba":
        return None
    if not _SGD_UPDATE:
        from .kernels import optim
        _SGD_UPDATE.append(optim.sgd_update)
    return _SGD_UPDATE[0]


class Adam:
    """Adam (Kingma & Ba 2015) with bias correction, as torch.optim.Adam (amsgrad=False).

    For each parameter p with gradient g, at step t = 1, 2, ...::

        g <- g + weight_decay * p            (L2 penalty added to the gradient, as torch.optim.Adam;
                                              this is not AdamW's decoupled decay)
        m <- beta1 * m + (1 - beta1) * g     (m, v start at 0)
        v <- beta2 * v + (1 - beta2) * g^2
        p <- p - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)

    computed in the parameter's dtype, in place.

    Parameters
    ----------
    model : a fastnn Layer or Sequential
    lr : float > 0 (default 1e-3)
    betas : (beta1, beta2), each in [0, 1) (default (0.9, 0.999))
    eps : float >= 0 (default 1e-8), added to the denominator
    weight_decay : float >= 0 (default 0)
    """

    def __init__(self, model, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        _check_model("Adam", model)
        self.model = model
        self.lr = _checks.finite_number("Adam", "lr", lr, 0, low_ok=False)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"Adam(): betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = (_checks.finite_number("Adam", "betas[0]", betas[0], 0, high=1),
                      _checks.finite_number("Adam", "betas[1]", betas[1], 0, high=1))
        self.eps = _checks.finite_number("Adam", "eps", eps, 0)
        self.weight_decay = _checks.finite_number("Adam", "weight_decay", weight_decay, 0)
        self.t = 0
        self._m = {}
        self._v = {}

    def step(self):
        """Apply one update to every parameter of the model."""
        self.t += 1
        beta1, beta2 = self.betas
        for layer, name in self.model.parameters():
            p = layer.params[name]
            g = _grad("Adam", layer, name)
            t = p.dtype.type
            if self.weight_decay:
                g = g + t(self.weight_decay) * p
            key = (id(layer), name)
            if key not in self._m:
                self._m[key] = np.zeros_like(p)
                self._v[key] = np.zeros_like(p)
            m, v = self._m[key], self._v[key]
            np.multiply(m, t(beta1), out=m)
            m += t(1.0 - beta1) * g
            np.multiply(v, t(beta2), out=v)
            v += t(1.0 - beta2) * (g * g)
            # torch's arrangement: step = lr / bc1, denom = sqrt(v) / sqrt(bc2) + eps.
            bc1 = 1.0 - beta1 ** self.t
            bc2 = 1.0 - beta2 ** self.t
            denom = np.sqrt(v) / t(np.sqrt(bc2)) + t(self.eps)
            p -= t(self.lr / bc1) * (m / denom)


class RMSprop:
    """RMSprop (Hinton's lecture 6e), as torch.optim.RMSprop.

    For each parameter p with gradient g::

        g <- g + weight_decay * p
        v <- alpha * v + (1 - alpha) * g^2                 (v starts at 0)
        avg <- sqrt(v - m^2) + eps  with m <- alpha * m + (1 - alpha) * g   if centered
               sqrt(v) + eps                                              otherwise
        b <- momentum * b + g / avg; p <- p - lr * b      if momentum > 0
        p <- p - lr * g / avg                              otherwise

    Parameters: model, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
    centered=False (ValueError for negative values, alpha outside [0, 1)).
    """

    def __init__(self, model, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False):
        _check_model("RMSprop", model)
        self.model = model
        self.lr = _checks.finite_number("RMSprop", "lr", lr, 0, low_ok=False)
        self.alpha = _checks.finite_number("RMSprop", "alpha", alpha, 0, high=1)
        self.eps = _checks.finite_number("RMSprop", "eps", eps, 0)
        self.weight_decay = _checks.finite_number("RMSprop", "weight_decay", weight_decay, 0)
        self.momentum = _checks.finite_number("RMSprop", "momentum", momentum, 0)
        self.centered = _checks.flag("RMSprop", "centered", centered)
        self._state = {}

    def step(self):
        """Apply one update to every parameter of the model."""
        a = self.alpha
        for layer, name in self.model.parameters():
            p = layer.params[name]
            g = _grad("RMSprop", layer, name)
            t = p.dtype.type
            if self.weight_decay:
                g = g + t(self.weight_decay) * p
            key = (id(layer), name)
            if key not in self._state:
                self._state[key] = (np.zeros_like(p), np.zeros_like(p), np.zeros_like(p))
            v, m, buf = self._state[key]
            np.multiply(v, t(a), out=v)
            v += t(1.0 - a) * (g * g)
            if self.centered:
                np.multiply(m, t(a), out=m)
                m += t(1.0 - a) * g
                avg = np.sqrt(v - m * m) + t(self.eps)
            else:
                avg = np.sqrt(v) + t(self.eps)
            if self.momentum:
                np.multiply(buf, t(self.momentum), out=buf)
                buf += g / avg
                p -= t(self.lr) * buf
            else:
                p -= t(self.lr) * (g / avg)
