"""SGD (momentum, dampening, Nesterov, weight decay) and Adam: hand-computed values and torch."""
import numpy as np
import pytest

import fastnn
from fastnn import SGD, Adam, Layer, Linear


class Params(Layer):
    """Parameters whose gradients the test sets by hand."""

    def __init__(self, **arrays):
        super().__init__()
        self.params = {k: np.array(v, dtype=np.float64) for k, v in arrays.items()}


def run(opt_cls, grads, p0, **kw):
    layer = Params(w=p0)
    opt = opt_cls(layer, **kw)
    history = []
    for g in grads:
        layer.grads = {"w": np.array(g, dtype=np.float64)}
        opt.step()
        history.append(layer.params["w"].copy())
    return history


def test_sgd_weight_decay_by_hand():
    # p = 1, g = 2, lr = 0.1, wd = 0.5: p <- 1 - 0.1 * (2 + 0.5 * 1) = 0.75
    (p1,) = run(SGD, [[2.0]], [1.0], lr=0.1, weight_decay=0.5)
    np.testing.assert_allclose(p1, [0.75], rtol=1e-15)


def test_sgd_nesterov_and_dampening_by_hand():
    # momentum 0.9, g = 1 twice, lr = 1, p0 = 0.
    # plain momentum: v1 = 1, p1 = -1; v2 = 1.9, p2 = -2.9
    hist = run(SGD, [[1.0], [1.0]], [0.0], lr=1.0, momentum=0.9)
    np.testing.assert_allclose(np.ravel(hist), [-1.0, -2.9], rtol=1e-15)
    # Nesterov: step uses g + 0.9 v: p1 = -(1 + 0.9) = -1.9, p2 = -1.9 - (1 + 0.9 * 1.9) = -4.61
    hist = run(SGD, [[1.0], [1.0]], [0.0], lr=1.0, momentum=0.9, nesterov=True)
    np.testing.assert_allclose(np.ravel(hist), [-1.9, -4.61], rtol=1e-15)
    # dampening 0.5: v1 = g = 1 (first step is undamped, as torch), v2 = 0.9 + 0.5 = 1.4
    hist = run(SGD, [[1.0], [1.0]], [0.0], lr=1.0, momentum=0.9, dampening=0.5)
    np.testing.assert_allclose(np.ravel(hist), [-1.0, -2.4], rtol=1e-15)


def test_adam_by_hand():
    # Step 1: m = 0.1 g, v = 0.001 g^2; bias-corrected m_hat = g, v_hat = g^2, so the step is
    # lr * g / (|g| + eps) = lr * sign(g), nearly.
    (p1, p2) = run(Adam, [[0.5, -2.0], [0.5, 1.0]], [1.0, 1.0], lr=0.1)
    np.testing.assert_allclose(p1, [1 - 0.1 * 0.5 / (0.5 + 1e-8), 1 + 0.1 * 2 / (2 + 1e-8)],
                               rtol=1e-15)
    # Step 2 for the second entry: m = 0.9 * (-0.2) + 0.1 * 1 = -0.08, v = 0.999 * 0.004 + 0.001.
    m, v = -0.08, 0.999 * 0.004 + 0.001
    step = 0.1 * (m / (1 - 0.9 ** 2)) / (np.sqrt(v / (1 - 0.999 ** 2)) + 1e-8)
    np.testing.assert_allclose(p2[1], p1[1] - step, rtol=1e-14)


@pytest.mark.parametrize("kw", [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.05, momentum=0.8, weight_decay=0.01),
    dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1),
    dict(lr=0.05, momentum=0.5, dampening=0.3),
], ids=["plain", "momentum", "momentum-wd", "nesterov-wd", "dampening"])
def test_sgd_matches_torch(kw, rng):
    torch = pytest.importorskip("torch")
    grads = rng.standard_normal((6, 3, 2))
    p0 = rng.standard_normal((3, 2))
    ours = run(SGD, grads, p0, **kw)
    t = torch.tensor(p0, requires_grad=True)
    opt = torch.optim.SGD([t], **kw)
    for g, mine in zip(grads, ours):
        t.grad = torch.tensor(g)
        opt.step()
        np.testing.assert_allclose(mine, t.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kw", [
    dict(),
    dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6),
    dict(lr=0.01, weight_decay=0.1),
], ids=["defaults", "betas-eps", "weight-decay"])
def test_adam_matches_torch(kw, rng):
    torch = pytest.importorskip("torch")
    grads = rng.standard_normal((8, 3, 2))
    p0 = rng.standard_normal((3, 2))
    ours = run(Adam, grads, p0, **kw)
    t = torch.tensor(p0, requires_grad=True)
    opt = torch.optim.Adam([t], **kw)
    for g, mine in zip(grads, ours):
        t.grad = torch.tensor(g)
        opt.step()
        np.testing.assert_allclose(mine, t.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_optimizers_keep_float32_and_leave_grads_alone(rng):
    layer = Linear(3, 2, rng=0)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    for opt in (SGD(layer, lr=0.1, momentum=0.9, weight_decay=0.1, nesterov=True),
                Adam(layer, weight_decay=0.1)):
        layer.backward(np.ones_like(layer(x)))
        grads = {k: v.copy() for k, v in layer.grads.items()}
        weight = layer.params["weight"]
        opt.step()
        opt.step()
        assert layer.params["weight"] is weight and weight.dtype == np.float32
        for k in grads:
            np.testing.assert_array_equal(layer.grads[k], grads[k])


@fastnn.backend("numpy")  # the optimizer is under test, not the kernels: keep it fast
def test_adam_fits_a_linear_regression(rng):
    x = rng.standard_normal((64, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3
    layer = Linear(3, 1, dtype=np.float64, rng=0)
    opt = Adam(layer, lr=0.05)
    for _ in range(500):
        err = layer(x) - y
        layer.backward(2 * err / len(x))
        opt.step()
    np.testing.assert_allclose(layer.params["weight"], [[1.0, -2.0, 0.5]], atol=1e-3)
    np.testing.assert_allclose(layer.params["bias"], [0.3], atol=1e-3)


def test_bad_arguments():
    model = Linear(2, 2)
    with pytest.raises(ValueError, match="nesterov=True requires momentum > 0"):
        SGD(model, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="weight_decay must be a finite number >= 0"):
        SGD(model, lr=0.1, weight_decay=-1)
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        Adam(model, lr=0)
    with pytest.raises(ValueError, match=r"betas\[1\] must be a finite number >= 0 and < 1"):
        Adam(model, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="betas must be a pair"):
        Adam(model, betas=0.9)
    with pytest.raises(TypeError, match="model must be"):
        Adam([1, 2])
    with pytest.raises(RuntimeError, match="call backward"):
        Adam(model).step()
    assert fastnn.Adam is Adam


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("kw", [
    dict(lr=0.1),
    dict(lr=0.1, weight_decay=0.01),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.05, momentum=0.8, weight_decay=0.01),
    dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1),
    dict(lr=0.05, momentum=0.5, dampening=0.3),
], ids=["plain", "wd", "momentum", "momentum-wd", "nesterov-wd", "dampening"])
def test_sgd_kernel_gives_the_numpy_backends_bits(kw, dtype, rng, monkeypatch):
    # On the Numba backend SGD.step runs kernels/optim.py's sgd_update (after the first
    # step with momentum); it must round as the NumPy form does: equal bits.
    from fastnn import optim
    from fastnn.kernels import optim as kernel
    calls = []
    monkeypatch.setattr(optim, "_SGD_UPDATE", [lambda *a: (calls.append(1), kernel.sgd_update(*a))])
    grads = rng.standard_normal((4, 37, 5)).astype(dtype)
    p0 = rng.standard_normal((37, 5)).astype(dtype)

    def train(backend):
        layer = Params(w=p0)
        layer.params["w"] = layer.params["w"].astype(dtype)
        opt = SGD(layer, **kw)
        with fastnn.backend(backend):
            for g in grads:
                layer.grads = {"w": g}
                opt.step()
        return layer.params["w"]

    reference = train("numpy")
    assert calls == []
    ours = train("numba")
    assert len(calls) == (3 if kw.get("momentum") else 4)
    assert ours.dtype == dtype and np.array_equal(ours, reference)
    assert not np.array_equal(ours, p0)


def test_sgd_kernel_skips_gradients_it_cannot_take(rng):
    # A non-contiguous gradient, or one of another dtype, takes the NumPy form (same result).
    p0 = rng.standard_normal((6, 4))
    g = rng.standard_normal((4, 6)).T          # Fortran-ordered view
    results = []
    for backend in ("numpy", "numba"):
        for grad in (g, g.astype(np.float32)):
            layer = Params(w=p0)
            opt = SGD(layer, lr=0.1, momentum=0.9)
            with fastnn.backend(backend):
                for _ in range(3):
                    layer.grads = {"w": grad}
                    opt.step()
            results.append(layer.params["w"])
    np.testing.assert_array_equal(results[0], results[2])
    np.testing.assert_array_equal(results[1], results[3])


def test_sgd_kernel_never_writes_past_a_replaced_parameter(rng):
    # A parameter replaced by a larger one after a momentum step keeps its old (smaller)
    # momentum buffer: both backends refuse it alike instead of the kernel running off its end.
    for backend in ("numpy", "numba"):
        layer = Params(w=rng.standard_normal(4))
        opt = SGD(layer, lr=0.1, momentum=0.9)
        with fastnn.backend(backend):
            layer.grads = {"w": np.ones(4)}
            opt.step()
            layer.params["w"] = np.zeros(9)
            layer.grads = {"w": np.ones(9)}
            with pytest.raises(ValueError):
                opt.step()


def test_sgd_read_only_arrays_take_the_numpy_form(rng):
    # A read-only gradient is fine (same result on both backends); a read-only parameter
    # raises NumPy's ValueError on both, never a Numba typing error.
    results = []
    for backend in ("numpy", "numba"):
        layer = Params(w=np.ones(5))
        opt = SGD(layer, lr=0.1, momentum=0.9)
        g = rng.standard_normal(5) if not results else results[0][1]
        g.flags.writeable = False
        with fastnn.backend(backend):
            for _ in range(2):
                layer.grads = {"w": g}
                opt.step()
            results.append((layer.params["w"].copy(), g))
            layer.params["w"].flags.writeable = False
            with pytest.raises(ValueError):
                opt.step()
    np.testing.assert_array_equal(results[0][0], results[1][0])
