"""embedding, layer_norm, group_norm, multi_margin_loss, the extended cross_entropy
(N, C, d1...) with ignore_index, RMSprop and gradient clipping.

Each op against its NumPy twin (float32 / float64), backward against float64
central differences, torch parity where installed, bad input.
"""
import threading

import numpy as np
import pytest

import fastnn
import fastnn.functional as F
import fastnn.reference as R
from fastnn import _loss_ext
from helpers import DTYPES, assert_close, numerical_grad, rel_error

dtypes = pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)


def _check_fd(f, analytic, arrays):
    for k, (arr, ga) in enumerate(zip(arrays, analytic)):
        num = numerical_grad(f, arr)
        assert rel_error(ga, num) < 1e-7, f"argument {k}: {rel_error(ga, num):.2e}"


# --------------------------------------------------------------------------- embedding

@dtypes
@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_matches_reference(rng, dtype, padding_idx):
    w = rng.standard_normal((7, 5)).astype(dtype)
    idx = rng.integers(0, 7, size=(3, 4))
    idx[0, :2] = 2  # repeated rows: the scatter-add must sum them
    assert_close(F.embedding(idx, w, padding_idx), R.embedding(idx, w, padding_idx))
    assert_close(F.embedding(idx, w), w[idx])
    g = rng.standard_normal((3, 4, 5)).astype(dtype)
    got = F.embedding_backward(g, idx, w, padding_idx)
    assert_close(got, R.embedding_backward(g, idx, w, padding_idx))
    if padding_idx is not None:
        assert not got[padding_idx % 7].any()


def test_embedding_backward_parallel_is_exact_and_thread_safe(rng):
    """Large enough for the multi-threaded scatter-add; many repeats; several Python threads."""
    w = np.zeros((50, 64))
    idx = rng.integers(0, 50, size=(4096 + 1,))
    g = rng.standard_normal((idx.size, 64))
    expected = R.embedding_backward(g, idx, w)
    results = [None] * 4

    def run(k):
        results[k] = F.embedding_backward(g, idx, w)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_allclose(r, expected, rtol=1e-12, atol=1e-12)


def test_embedding_bad_input(rng):
    w = np.zeros((5, 3))
    with pytest.raises(ValueError, match="out of range"):
        F.embedding(np.array([0, 5]), w)
    with pytest.raises(ValueError, match="non-negative"):
        F.embedding(np.array([-1, 2]), w)
    with pytest.raises(TypeError, match="integer indices"):
        F.embedding(np.array([0.0, 1.0]), w)
    with pytest.raises(TypeError, match="numpy.ndarray"):
        F.embedding([0, 1], w)
    with pytest.raises(ValueError, match="padding_idx"):
        F.embedding(np.array([0]), w, padding_idx=5)
    with pytest.raises(ValueError, match="weight must be 2-D"):
        F.embedding(np.array([0]), np.zeros(5))


def test_embedding_layer_and_torch(rng, tmp_path):
    layer = fastnn.Embedding(6, 4, padding_idx=1, rng=0, dtype=np.float64)
    assert not layer.params["weight"][1].any()
    idx = np.array([[1, 2, 2], [5, 0, 1]])
    out = layer.forward(idx)
    g = rng.standard_normal(out.shape)
    assert layer.backward(g) is None
    torch = pytest.importorskip("torch")
    te = torch.nn.Embedding(6, 4, padding_idx=1).double()
    te.weight.data = torch.tensor(layer.params["weight"])
    to = te(torch.tensor(idx))
    to.backward(torch.tensor(g))
    np.testing.assert_allclose(out, to.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.grads["weight"], te.weight.grad.numpy(), rtol=1e-12,
                               atol=1e-14)
    fastnn.save(layer, tmp_path / "e.npz")
    assert_close(fastnn.load(tmp_path / "e.npz").forward(idx), out)


# --------------------------------------------------------------------------- layer / group norm

@dtypes
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_matches_reference(rng, dtype, affine):
    x = (3 * rng.standard_normal((3, 2, 5, 7)) + 1).astype(dtype)
    shape = (5, 7)
    w = rng.standard_normal(shape).astype(dtype) if affine else None
    b = rng.standard_normal(shape).astype(dtype) if affine else None
    assert_close(F.layer_norm(x, shape, w, b), R.layer_norm(x, shape, w, b))
    g = rng.standard_normal(x.shape).astype(dtype)
    got = F.layer_norm_backward(g, x, shape, w, b)
    exp = R.layer_norm_backward(g, x, shape, w, b)
    for a, e in zip(got, exp):
        if e is None:
            assert a is None
        else:
            assert_close(a, e)


@dtypes
@pytest.mark.parametrize("groups", [1, 3, 6])
def test_group_norm_matches_reference(rng, dtype, groups):
    x = (2 * rng.standard_normal((2, 6, 3, 5)) - 1).astype(dtype)
    w = rng.standard_normal(6).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    assert_close(F.group_norm(x, groups, w, b), R.group_norm(x, groups, w, b))
    g = rng.standard_normal(x.shape).astype(dtype)
    for a, e in zip(F.group_norm_backward(g, x, groups, w, b),
                    R.group_norm_backward(g, x, groups, w, b)):
        assert_close(a, e)


def test_norm_parallel_paths_match_reference(rng):
    x = rng.standard_normal((64, 8, 160))
    w, b = rng.standard_normal(160), rng.standard_normal(160)
    g = rng.standard_normal(x.shape)
    for a, e in zip(F.layer_norm_backward(g, x, 160, w, b), R.layer_norm_backward(g, x, 160, w, b)):
        assert_close(a, e)
    wc, bc = rng.standard_normal(8), rng.standard_normal(8)
    for a, e in zip(F.group_norm_backward(g, x, 4, wc, bc), R.group_norm_backward(g, x, 4, wc, bc)):
        assert_close(a, e)


def test_norm_backward_finite_differences(rng):
    x = rng.standard_normal((2, 4, 3))
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    go = rng.standard_normal(x.shape)
    grads = F.layer_norm_backward(go, x, 3, w, b)
    _check_fd(lambda: float(np.sum(F.layer_norm(x, 3, w, b) * go)), grads, [x, w, b])
    wc, bc = rng.standard_normal(4), rng.standard_normal(4)
    grads = F.group_norm_backward(go, x, 2, wc, bc)
    _check_fd(lambda: float(np.sum(F.group_norm(x, 2, wc, bc) * go)), grads, [x, wc, bc])


def test_norm_layers_match_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((3, 4, 5))
    g = rng.standard_normal(x.shape)
    for ours, theirs in ((fastnn.LayerNorm((4, 5), dtype=np.float64),
                          torch.nn.LayerNorm((4, 5)).double()),
                         (fastnn.GroupNorm(2, 4, dtype=np.float64),
                          torch.nn.GroupNorm(2, 4).double())):
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor(rng.standard_normal(tuple(theirs.weight.shape))))
            theirs.bias.copy_(torch.tensor(rng.standard_normal(tuple(theirs.bias.shape))))
        ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
        xt = torch.tensor(x, requires_grad=True)
        out_t = theirs(xt)
        out_t.backward(torch.tensor(g))
        np.testing.assert_allclose(ours.forward(x), out_t.detach().numpy(), rtol=1e-10,
                                   atol=1e-12)
        np.testing.assert_allclose(ours.backward(g), xt.grad.numpy(), rtol=1e-9, atol=1e-12)
        for k, p in theirs.named_parameters():
            np.testing.assert_allclose(ours.grads[k], p.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_norm_bad_input():
    x = np.zeros((2, 6, 3))
    with pytest.raises(ValueError, match="trailing dimensions"):
        F.layer_norm(x, (6,))
    with pytest.raises(ValueError, match="weight must have shape"):
        F.layer_norm(x, 3, np.ones(4))
    with pytest.raises(ValueError, match="divisor"):
        F.group_norm(x, 4)
    with pytest.raises(TypeError, match="mixing"):
        F.group_norm(x, 2, np.ones(6, np.float32))
    with pytest.raises(ValueError, match="must divide"):
        fastnn.GroupNorm(4, 6)


# --------------------------------------------------------------------------- losses

@dtypes
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_multi_margin_loss_matches_reference(rng, dtype, p, reduction):
    x = rng.standard_normal((5, 4)).astype(dtype)
    t = rng.integers(0, 4, size=5)
    w = rng.uniform(0.5, 2, 4).astype(dtype)
    for weight in (None, w):
        assert_close(F.multi_margin_loss(x, t, p, 0.7, weight, reduction),
                     R.multi_margin_loss(x, t, p, 0.7, weight, reduction))
        g = np.ones(5, dtype) if reduction == "none" else 1.0
        assert_close(F.multi_margin_loss_backward(g, x, t, p, 0.7, weight, reduction),
                     R.multi_margin_loss_backward(g, x, t, p, 0.7, weight, reduction))


def test_multi_margin_loss_torch_and_fd(rng):
    x = rng.standard_normal((6, 5))
    t = rng.integers(0, 5, size=6)
    w = rng.uniform(0.5, 2, 5)
    for p in (1, 2):
        grad = F.multi_margin_loss_backward(1.0, x, t, p, 1.0, w)
        _check_fd(lambda: float(F.multi_margin_loss(x, t, p, 1.0, w)), [grad], [x])
    torch = pytest.importorskip("torch")
    for p in (1, 2):
        xt = torch.tensor(x, requires_grad=True)
        lt = torch.nn.functional.multi_margin_loss(xt, torch.tensor(t), p=p, margin=1.0,
                                                   weight=torch.tensor(w))
        lt.backward()
        np.testing.assert_allclose(F.multi_margin_loss(x, t, p, 1.0, w), lt.item(), rtol=1e-12)
        np.testing.assert_allclose(F.multi_margin_loss_backward(1.0, x, t, p, 1.0, w),
                                   xt.grad.numpy(), rtol=1e-10, atol=1e-14)


@dtypes
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_nd_matches_reference(rng, dtype, reduction):
    x = rng.standard_normal((3, 5, 4, 2)).astype(dtype)
    t = rng.integers(0, 5, size=(3, 4, 2))
    t[0, 1, :] = -100
    w = rng.uniform(0.5, 2, 5).astype(dtype)
    for weight in (None, w):
        got = F.cross_entropy(x, t, weight, reduction=reduction)
        assert_close(got, R.cross_entropy(x, t, weight, reduction=reduction))
        g = rng.standard_normal((3, 4, 2)).astype(dtype) if reduction == "none" else 1.0
        gx = F.cross_entropy_backward(g, x, t, weight, reduction=reduction)
        assert_close(gx, R.cross_entropy_backward(g, x, t, weight, reduction=reduction))
        assert not gx[0, :, 1, :].any()  # ignored positions get no gradient


def test_cross_entropy_nd_agrees_with_existing_2d(rng):
    x = rng.standard_normal((4, 6))
    t = rng.integers(0, 6, size=4)
    assert_close(_loss_ext.cross_entropy(x, t), F.cross_entropy(x, t))
    assert_close(_loss_ext.cross_entropy_backward(1.0, x, t), F.cross_entropy_backward(1.0, x, t))
    p = rng.dirichlet(np.ones(6), size=4)
    assert_close(_loss_ext.cross_entropy(x, p), F.cross_entropy(x, p))
    assert_close(_loss_ext.cross_entropy_backward(1.0, x, p), F.cross_entropy_backward(1.0, x, p))


def test_cross_entropy_nd_torch_and_fd(rng):
    x = rng.standard_normal((2, 4, 3))
    t = rng.integers(0, 4, size=(2, 3))
    t[1, 0] = 7
    w = rng.uniform(0.5, 2, 4)
    gx = F.cross_entropy_backward(1.0, x, t, w, ignore_index=7)
    _check_fd(lambda: float(F.cross_entropy(x, t, w, ignore_index=7)), [gx], [x])
    torch = pytest.importorskip("torch")
    xt = torch.tensor(x, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(xt, torch.tensor(t), weight=torch.tensor(w),
                                           ignore_index=7)
    lt.backward()
    np.testing.assert_allclose(F.cross_entropy(x, t, w, ignore_index=7), lt.item(),
                               rtol=1e-12)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_losses_bad_input():
    x = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match="target must have shape"):
        F.cross_entropy(x, np.zeros((2, 3), np.int64))
    with pytest.raises(ValueError, match="out of range"):
        F.cross_entropy(x, np.full((2, 4), 3))
    with pytest.raises(ValueError, match="p must be 1 or 2"):
        F.multi_margin_loss(np.zeros((2, 3)), np.zeros(2, np.int64), p=3)
    with pytest.raises(TypeError, match="integer indices"):
        F.multi_margin_loss(np.zeros((2, 3)), np.zeros(2))


# --------------------------------------------------------------------------- RMSprop, clipping

@pytest.mark.parametrize("kw", [dict(), dict(momentum=0.9, weight_decay=0.01),
                                dict(centered=True, alpha=0.9)],
                         ids=["plain", "momentum_wd", "centered"])
def test_rmsprop_matches_torch(rng, kw):
    torch = pytest.importorskip("torch")
    layer = fastnn.Linear(3, 2, dtype=np.float64)
    tl = torch.nn.Linear(3, 2).double()
    with torch.no_grad():
        tl.weight.copy_(torch.tensor(layer.params["weight"]))
        tl.bias.copy_(torch.tensor(layer.params["bias"]))
    opt = fastnn.RMSprop(layer, lr=0.01, **kw)
    topt = torch.optim.RMSprop(tl.parameters(), lr=0.01, **kw)
    for _ in range(3):
        x = rng.standard_normal((4, 3))
        g = rng.standard_normal((4, 2))
        layer.forward(x)
        layer.backward(g)
        opt.step()
        topt.zero_grad()
        tl(torch.tensor(x)).backward(torch.tensor(g))
        topt.step()
    np.testing.assert_allclose(layer.params["weight"], tl.weight.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(layer.params["bias"], tl.bias.detach().numpy(), rtol=1e-10)


def test_clip_grad_norm_and_value(rng):
    layer = fastnn.Linear(3, 2, dtype=np.float64)
    layer.forward(rng.standard_normal((4, 3)))
    layer.backward(10 * rng.standard_normal((4, 2)))
    grads = {k: v.copy() for k, v in layer.grads.items()}
    total = np.sqrt(sum(np.sum(g ** 2) for g in grads.values()))
    assert fastnn.clip_grad_norm_(layer, 1.0) == pytest.approx(total)
    new = np.sqrt(sum(np.sum(g ** 2) for g in layer.grads.values()))
    assert new == pytest.approx(1.0, rel=1e-5)
    for k in grads:  # same direction
        assert_close(layer.grads[k], grads[k] * (1.0 / (total + 1e-6)))
    inf_norm = fastnn.clip_grad_norm_([g.copy() for g in grads.values()], 100.0,
                                      norm_type=float("inf"))
    assert inf_norm == max(np.abs(g).max() for g in grads.values())
    arr = np.array([-3.0, 0.5, 2.0])
    fastnn.clip_grad_value_(arr, 1.0)
    assert_close(arr, np.array([-1.0, 0.5, 1.0]))
    with pytest.raises(ValueError, match="max_norm must be"):
        fastnn.clip_grad_norm_(arr, 0.0)
    with pytest.raises(ValueError, match="clip_value must be"):
        fastnn.clip_grad_value_(arr, -1)
    bad = np.array([1.0, np.nan])
    with pytest.raises(RuntimeError, match="nan"):
        fastnn.clip_grad_norm_(bad, 1.0, error_if_nonfinite=True)
    assert np.isnan(bad[1]) and bad[0] == 1.0  # untouched
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    p.grad = torch.tensor([3.0, -4.0, 12.0], dtype=torch.float64)
    ours = np.array([3.0, -4.0, 12.0])
    assert fastnn.clip_grad_norm_(ours, 2.0) == pytest.approx(
        float(torch.nn.utils.clip_grad_norm_([p], 2.0)))
    np.testing.assert_allclose(ours, p.grad.numpy(), rtol=1e-12)
