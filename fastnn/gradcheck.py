"""Finite-difference gradient checking: numerical Jacobians and gradients, layer checks.

All finite differences are central, ``(f(x + eps) - f(x - eps)) / (2 eps)``,
one element at a time, in float64: float32 has ~7 significant digits, so with
eps = 1e-6 the difference of two nearby float32 values is mostly rounding noise.
Every function here therefore refuses float32 (or any non-float64) arrays with
TypeError. Perturbations are made in place on the given arrays, so ``fn`` may
read them through a closure (a layer's ``params``, say) instead of its
argument; each element is restored after use (also if ``fn`` raises).

Error measures:

* :func:`rel_error` (CS231n's, element-wise, what :func:`gradcheck` and
  :func:`check_layer` compare with ``tol``):
  ``max over elements of |a - b| / max(1e-8, |a| + |b|)``.
* :func:`max_norm_rel_error` (relative error in the max norm):
  ``max|a - b| / max(1e-8, max|a| + max|b|)``. Less noisy on large arrays
  (it does not divide by the smallest gradient entries), but blind to an error
  that is small next to the array's largest entry.

Default ``tol = 1e-4``, from measurement (float64, eps = 1e-6, the repo's
layers and ops: Linear, Conv2d, BatchNorm, activations, pooling, softmax,
losses, seed case 4): correct backwards give element-wise errors up to 3.4e-6
on arrays of <= 300 elements (10 seeds) and up to 1.3e-5 on 2,048-element
ones (the error grows with the size, as finite-difference noise ~1e-10 |f|
meets ever smaller gradient entries); a backward off by 1% gives ~5e-3. A
true gradient of exactly 0 (a conv bias before batch norm) is checked against
the 1e-8 floor and fails on noise alone: skip it (``grads`` entry None).
"""
import numpy as np

__all__ = ["rel_error", "max_norm_rel_error", "numerical_jacobian", "numerical_gradient", "gradcheck", "check_layer",
           "GradcheckError"]


class GradcheckError(AssertionError):
    """Raised by :func:`gradcheck` and :func:`check_layer` when an error exceeds ``tol``."""


def _float64(op, name, x):
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{op}(): {name} must be a float64 ndarray, got {type(x).__name__}")
    if x.dtype != np.float64:
        raise TypeError(f"{op}(): {name} has dtype {x.dtype}; finite differences need float64 "
                        f"(float32 rounding swamps a difference of size eps): use "
                        f"{name}.astype(np.float64) / a float64 model")
    if not x.flags.writeable:
        raise ValueError(f"{op}(): {name} must be writeable (it is perturbed in place and "
                         "restored)")
    return x


def _positive(op, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
            or not value > 0:
        raise ValueError(f"{op}(): {name} must be a number > 0, got {value!r}")
    return float(value)


def _pair(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error(): a and b must have one shape, got {a.shape} and {b.shape}")
    return a, b


def rel_error(a, b):
    """CS231n's relative error: max over elements of |a - b| / max(1e-8, |a| + |b|).

    Element-wise, then the largest: each entry is judged against its own size,
    so a wrong small entry is not hidden by a large one
    (rel_error([1e-3, 1], [2e-3, 1]) = 1/3). Entries where both are below
    ~1e-8 are judged against the floor 1e-8 instead (|a - b| / 1e-8).

    Parameters
    ----------
    a, b : array_like of one shape (converted to float64)

    Returns
    -------
    float, 0.0 for empty arrays.

    Raises ValueError if the shapes differ.
    """
    a, b = _pair(a, b)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def max_norm_rel_error(a, b):
    """Relative error in the max norm: max|a - b| / max(1e-8, max|a| + max|b|).

    One scale for the whole array (rel_error([1e-3, 1], [2e-3, 1]) is 1/3,
    this is 5e-4): less noisy than :func:`rel_error` on large arrays, blind to
    errors that are small next to the largest entry. 0.0 for empty arrays;
    ValueError if the shapes differ.
    """
    a, b = _pair(a, b)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / max(1e-8, np.max(np.abs(a)) + np.max(np.abs(b))))


def numerical_jacobian(fn, x, eps=1e-6):
    """Central-difference Jacobian of ``fn`` at ``x``: shape ``np.shape(fn(x)) + x.shape``.

    Parameters
    ----------
    fn : callable, fn(x) -> ndarray or scalar (any shape; converted to float64)
    x : float64 ndarray of any shape, perturbed in place one element at a time
        and restored
    eps : float > 0, the step

    Returns
    -------
    J : float64 ndarray with J[out_index + in_index] = d fn(x)[out_index] / d x[in_index].
    For f: R^n -> R^m that is the usual m x n matrix; for f(W) = X @ W.T with X
    (n, d) and W (k, d) it is (n, k, k, d) with J[i, j, a, b] = X[i, b] * (j == a).

    Raises TypeError if ``x`` is not a float64 ndarray.
    """
    _float64("numerical_jacobian", "x", x)
    eps = _positive("numerical_jacobian", "eps", eps)
    out_shape = np.shape(fn(x))
    jac = np.zeros((int(np.prod(out_shape, dtype=np.int64)), x.size))
    flat = x.reshape(-1)  # a view: x is perturbed through it
    if x.size and not np.shares_memory(flat, x):
        raise ValueError("numerical_jacobian(): x must be contiguous (it is perturbed in place)")
    for i in range(x.size):
        old = flat[i]
        try:
            flat[i] = old + eps
            plus = np.asarray(fn(x), dtype=np.float64).reshape(-1)
            flat[i] = old - eps
            minus = np.asarray(fn(x), dtype=np.float64).reshape(-1)
        finally:
            flat[i] = old
        jac[:, i] = (plus - minus) / (2.0 * eps)
    return jac.reshape(out_shape + x.shape)


def numerical_gradient(fn, x, eps=1e-6):
    """Central-difference gradient of a scalar-valued ``fn`` at ``x`` (shape ``x.shape``).

    ``fn(x)`` must return a scalar (a 0-d or size-1 result; ValueError
    otherwise). Same rules as :func:`numerical_jacobian`.
    """
    def scalar(v):
        out = np.asarray(fn(v), dtype=np.float64)
        if out.size != 1:
            raise ValueError(f"numerical_gradient(): fn must return a scalar, got shape "
                             f"{out.shape}")
        return out.reshape(())
    return numerical_jacobian(scalar, x, eps)


def gradcheck(fn, inputs, grads, *, eps=1e-6, tol=1e-4, raise_on_failure=True):
    """Compare analytic gradients of a scalar function with central differences.

    Parameters
    ----------
    fn : callable, fn(*inputs) -> scalar (e.g. a loss)
    inputs : float64 ndarray or sequence of them (each perturbed in place and
        restored; fn may also read them through a closure)
    grads : the analytic gradients d fn / d inputs[k], one ndarray per input
        (same shapes; None skips an input), or a callable grads(*inputs)
        returning them
    eps : the finite-difference step; tol : the largest acceptable
        :func:`rel_error` (element-wise; default 1e-4, see the module notes
        for the measurement behind it)
    raise_on_failure : raise :class:`GradcheckError` (an AssertionError) naming
        every input whose error exceeds ``tol`` (default); otherwise just return

    Returns
    -------
    list of float, the relative error of each input (None where skipped).

    Raises TypeError for a non-float64 input (float32 included), ValueError for
    a gradient whose shape differs from its input's.

    Example: f(x, y, z) = ln(x) + exp(y) * z::

        f = lambda x, y, z: float(np.log(x) + np.exp(y) * z)
        x, y, z = np.array(1.0), np.array(3.0), np.array(2.0)
        gradcheck(f, [x, y, z], [1 / x, np.exp(y) * z, np.exp(y)])
    """
    if isinstance(inputs, np.ndarray):
        inputs = [inputs]
    inputs = list(inputs)
    for k, x in enumerate(inputs):
        _float64("gradcheck", f"inputs[{k}]", x)
    eps = _positive("gradcheck", "eps", eps)
    tol = _positive("gradcheck", "tol", tol)
    analytic = grads(*inputs) if callable(grads) else grads
    if isinstance(analytic, np.ndarray):
        analytic = [analytic]
    analytic = list(analytic)
    if len(analytic) != len(inputs):
        raise ValueError(f"gradcheck(): got {len(analytic)} analytic gradients for "
                         f"{len(inputs)} inputs")
    errors = []
    for k, (x, g) in enumerate(zip(inputs, analytic)):
        if g is None:
            errors.append(None)
            continue
        if np.shape(g) != x.shape:
            raise ValueError(f"gradcheck(): analytic gradient {k} has shape {np.shape(g)}, "
                             f"inputs[{k}] has shape {x.shape}")
        num = numerical_gradient(lambda _: fn(*inputs), x, eps)
        errors.append(rel_error(g, num))
    bad = [f"inputs[{k}]: {e:.3e}" for k, e in enumerate(errors) if e is not None and e > tol]
    if bad and raise_on_failure:
        raise GradcheckError(f"gradcheck(): relative error above tol={tol:g}: "
                             + ", ".join(bad))
    return errors


def check_layer(layer, x, *, eps=1e-6, tol=1e-4, rng=0, training=True, raise_on_failure=True):
    """Check a Layer's backward (input gradient and every parameter's) by central differences.

    Uses the scalar L = sum(layer.forward(x, training) * G) with a fixed random
    G (standard normal, drawn from ``rng``: a seed or numpy Generator), whose
    gradients are exactly what ``layer.backward(G)`` returns (for x) and leaves
    in each layer's ``grads`` (for the parameters). Works for any Layer,
    containers included (Sequential, Residual, Concat); the model must be
    float64 throughout (build layers with ``dtype=np.float64``).

    Parameters
    ----------
    layer : fastnn Layer (float64 parameters)
    x : float64 ndarray, a valid input
    eps, tol, raise_on_failure : as :func:`gradcheck`
    rng : seed or Generator for G (default 0)
    training : passed to forward (a layer with randomness in training mode,
        e.g. dropout, must draw the same mask on every call to be checkable)

    Returns
    -------
    dict {'input': error, '<dotted parameter name>': error, ...}, the names as
    in ``layer.state_dict()`` (e.g. '0.weight').

    Raises TypeError for float32 input or parameters; GradcheckError when an
    error exceeds ``tol`` (unless raise_on_failure=False).
    """
    _float64("check_layer", "x", x)
    named = [(prefix + name, owner, name) for prefix, owner in layer.named_layers()
             for name in owner.params]
    for qual, owner, name in named:
        _float64("check_layer", f"parameter {qual!r}", owner.params[name])
    eps = _positive("check_layer", "eps", eps)
    tol = _positive("check_layer", "tol", tol)
    out = layer.forward(x, training)
    g_out = np.random.default_rng(rng).standard_normal(np.shape(out))

    def loss(_):
        return float(np.sum(layer.forward(x, training) * g_out))

    analytic = {"input": np.array(layer.backward(g_out), dtype=np.float64)}
    for qual, owner, name in named:
        analytic[qual] = np.array(owner.grads[name], dtype=np.float64)
    errors = {"input": rel_error(analytic["input"], numerical_gradient(loss, x, eps))}
    for qual, owner, name in named:
        errors[qual] = rel_error(analytic[qual], numerical_gradient(loss, owner.params[name], eps))
    bad = [f"{k}: {e:.3e}" for k, e in errors.items() if e > tol]
    if bad and raise_on_failure:
        raise GradcheckError(f"check_layer({type(layer).__name__}): relative error above "
                             f"tol={tol:g}: " + ", ".join(bad))
    return errors
