"""Recurrent ops and layers: RNN (tanh, relu), LSTM, GRU over sequences and single steps.

* every op against its NumPy twin (float32 / float64, odd sizes, T=1, N=1,
  non-contiguous input, batch_first, reverse, no bias, hx=None), forward and
  backward, with and without the forward's cache;
* backward against float64 central differences through the whole sequence,
  including the gradients with respect to h0 and c0;
* parity with torch.nn.RNN / LSTM / GRU and the cells (float64, copied weights,
  stacked, bidirectional, batch_first; skipped without torch);
* bad input: wrong ndim, mismatched hidden size, wrong h0 shape, bad cache;
* the layers' save/load, dropout between layers, backends.
"""
import os

import numpy as np
import pytest

import fastnn
import fastnn.functional as F
import fastnn.reference as R
from helpers import DTYPES, assert_close, numerical_grad, rel_error

MODES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def _flat(values):
    out = []
    for v in values:
        if isinstance(v, (tuple, list)):
            out += _flat(v)
        else:
            out.append(v)
    return out


def _problem(rng, mode, dtype, t, n, d, h, bias=True, with_hx=True, scale=0.5):
    k = MODES[mode]
    x = rng.standard_normal((t, n, d)).astype(dtype)
    w_ih = (scale * rng.standard_normal((k * h, d))).astype(dtype)
    w_hh = (scale * rng.standard_normal((k * h, h))).astype(dtype)
    b_ih = rng.standard_normal(k * h).astype(dtype) if bias else None
    b_hh = rng.standard_normal(k * h).astype(dtype) if bias else None
    hx = None
    if with_hx:
        h0 = rng.standard_normal((n, h)).astype(dtype)
        hx = (h0, rng.standard_normal((n, h)).astype(dtype)) if mode == "lstm" else h0
    return x, hx, w_ih, w_hh, b_ih, b_hh


def _grad_hx(rng, mode, n, h, dtype):
    g = rng.standard_normal((n, h)).astype(dtype)
    return (g, rng.standard_normal((n, h)).astype(dtype)) if mode == "lstm" else g


def _assert_all_close(actual, expected, dtype):
    a, e = _flat(actual), _flat(expected)
    assert len(a) == len(e)
    for u, v in zip(a, e):
        if v is None:
            assert u is None
        else:
            assert_close(u, v, dtype)


CASES = {
    "odd": dict(t=3, n=2, d=5, h=7),
    "T1": dict(t=1, n=3, d=4, h=5),
    "N1": dict(t=4, n=1, d=3, h=6),
    "nobias_nohx": dict(t=3, n=2, d=3, h=4, bias=False, with_hx=False),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("mode", list(MODES))
def test_sequence_op_matches_reference(rng, mode, case, dtype):
    x, hx, *w = _problem(rng, mode, dtype, **CASES[case])
    for reverse in (False, True):
        out, states, cache = getattr(F, mode)(x, hx, *w, reverse=reverse, return_cache=True)
        ref_out, ref_states = getattr(R, mode)(x, hx, *w, reverse=reverse)
        _assert_all_close((out, states), (ref_out, ref_states), dtype)
        go = rng.standard_normal(out.shape).astype(dtype)
        ghx = _grad_hx(rng, mode, x.shape[1], w[1].shape[1], dtype)
        expected = getattr(R, mode + "_backward")(go, x, hx, *w, reverse=reverse, grad_hx=ghx)
        for c in (cache, None):
            got = getattr(F, mode + "_backward")(go, x, hx, *w, reverse=reverse, grad_hx=ghx,
                                                 cache=c)
            _assert_all_close(got, expected, dtype)


@pytest.mark.parametrize("mode", list(MODES))
def test_batch_first_and_noncontiguous_input(rng, mode):
    dtype = np.float64
    x, hx, *w = _problem(rng, mode, dtype, 3, 2, 4, 5)
    # x_bf[n, t] = x[t, n], built as a non-contiguous view; weights non-contiguous too
    x_bf = np.asfortranarray(x.transpose(1, 0, 2))
    w_ih_nc = np.asfortranarray(w[0])
    out, states = getattr(F, mode)(x_bf, hx, w_ih_nc, *w[1:], batch_first=True)
    ref_out, ref_states = getattr(R, mode)(x, hx, *w)
    _assert_all_close((out, states), (ref_out.transpose(1, 0, 2), ref_states), dtype)
    strided = np.zeros((3, 2, 8))[:, :, ::2]
    strided[...] = x
    _assert_all_close(getattr(F, mode)(strided, hx, *w), (ref_out, ref_states), dtype)
    go = rng.standard_normal(ref_out.shape)
    g_bf = getattr(F, mode + "_backward")(np.asfortranarray(go.transpose(1, 0, 2)), x_bf, hx,
                                          w_ih_nc, *w[1:], batch_first=True)
    g_ref = getattr(R, mode + "_backward")(go, x, hx, *w)
    assert_close(g_bf[0], g_ref[0].transpose(1, 0, 2), dtype)
    _assert_all_close(g_bf[1:], g_ref[1:], dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("mode", list(MODES))
def test_cell_matches_reference_and_sequence(rng, mode, dtype):
    x, hx, *w = _problem(rng, mode, dtype, 1, 3, 5, 4)
    got = getattr(F, mode + "_cell")(x[0], hx, *w)
    _assert_all_close(got, getattr(R, mode + "_cell")(x[0], hx, *w), dtype)
    _assert_all_close(got, getattr(F, mode)(x, hx, *w)[1], dtype)
    g = _grad_hx(rng, mode, 3, 4, dtype)
    got = getattr(F, mode + "_cell_backward")(g, x[0], hx, *w)
    _assert_all_close(got, getattr(R, mode + "_cell_backward")(g, x[0], hx, *w), dtype)
    seq = getattr(F, mode + "_backward")(None, x, hx, *w, grad_hx=g)
    _assert_all_close((seq[0][0],) + tuple(seq[1:]), got, dtype)


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("mode", list(MODES))
def test_backward_through_time_matches_finite_differences(rng, mode, reverse):
    """L = sum(output * G) + sum(h_n * Gh) (+ sum(c_n * Gc)); every input, h0 and c0 checked."""
    x, hx, *w = _problem(rng, mode, np.float64, 4, 2, 3, 3, scale=0.8)
    if mode == "rnn_relu":  # keep pre-activations away from the kink at 0
        w[2] = w[2] + 0.3
    op = getattr(F, mode)
    out, states = op(x, hx, *w, reverse=reverse)
    g_out = rng.standard_normal(out.shape)
    g_states = _grad_hx(rng, mode, 2, 3, np.float64)

    def loss():
        o, s = op(x, hx, *w, reverse=reverse)
        return float(np.sum(o * g_out) + sum(np.sum(a * b) for a, b in
                                             zip(_flat([s]), _flat([g_states]))))

    grads = getattr(F, mode + "_backward")(g_out, x, hx, *w, reverse=reverse, grad_hx=g_states)
    targets = [x] + _flat([hx]) + list(w)
    analytic = [grads[0]] + _flat([grads[1]]) + list(grads[2:])
    for k, (arr, ga) in enumerate(zip(targets, analytic)):
        num = numerical_grad(loss, arr)
        assert rel_error(ga, num) < 1e-7, f"input {k}: {rel_error(ga, num):.2e}"


def test_gradient_wrt_zero_initial_state(rng):
    """hx=None means zeros, and its gradient is still returned."""
    x, hx, *w = _problem(rng, "lstm", np.float64, 3, 2, 3, 4)
    zeros = (np.zeros((2, 4)), np.zeros((2, 4)))
    go = rng.standard_normal((3, 2, 4))
    a = F.lstm_backward(go, x, None, *w)
    b = F.lstm_backward(go, x, zeros, *w)
    _assert_all_close(a, b, np.float64)
    assert np.abs(a[1][0]).max() > 0


# --------------------------------------------------------------------------- bad input

def test_bad_input_raises_naming_the_argument(rng):
    x, hx, *w = _problem(rng, "lstm", np.float64, 3, 2, 4, 5)
    with pytest.raises(ValueError, match="input must be 3-D"):
        F.lstm(x[0], hx, *w)
    with pytest.raises(ValueError, match="input must be 2-D"):
        F.lstm_cell(x, hx, *w)
    with pytest.raises(ValueError, match="weight_ih"):
        F.lstm(x[:, :, :3], hx, *w)  # 3 features, weight_ih expects 4
    with pytest.raises(ValueError, match="weight_hh"):
        F.lstm(x, hx, w[0], w[1][:, :4], *w[2:])  # hidden size 5 vs 4
    with pytest.raises(ValueError, match="weight_ih"):
        F.lstm(x, hx, w[0][:16], *w[1:])  # 4 * 4 rows vs 4 * 5
    with pytest.raises(ValueError, match="bias_hh"):
        F.lstm(x, hx, *w[:3], w[3][:-1])
    with pytest.raises(ValueError, match=r"hx\[0\] \(h0\) must have shape"):
        F.lstm(x, (hx[0][:, :4], hx[1]), *w)
    with pytest.raises(ValueError, match=r"hx\[1\] \(c0\) must have shape"):
        F.lstm(x, (hx[0], hx[1][:1]), *w)
    with pytest.raises(TypeError, match="hx must be a pair"):
        F.lstm(x, hx[0], *w)
    with pytest.raises(ValueError, match="hx must have shape"):
        F.gru(x, np.zeros((2, 3)), np.zeros((15, 4)), np.zeros((15, 5)))
    with pytest.raises(TypeError, match="mixing float32 and float64"):
        F.lstm(x.astype(np.float32), None, *w)
    with pytest.raises(TypeError, match="dtype float32 or float64"):
        F.rnn_tanh(x.astype(np.int64), None, np.zeros((5, 4)), np.zeros((5, 5)))
    with pytest.raises(ValueError, match="at least one time step"):
        F.lstm(x[:0], None, *w)
    with pytest.raises(TypeError, match="batch_first must be True or False"):
        F.lstm(x, None, *w, batch_first=1)
    _, _, cache = F.gru(x, None, np.zeros((15, 4)), np.zeros((15, 5)), return_cache=True)
    with pytest.raises(ValueError, match="cache must be"):
        F.lstm_backward(None, x, hx, *w, cache=cache)
    with pytest.raises(ValueError, match="grad_output must have the output's shape"):
        F.lstm_backward(np.zeros((3, 2, 4)), x, hx, *w)


def test_layer_bad_input(rng):
    lstm = fastnn.LSTM(4, 5, num_layers=2, dtype=np.float64)
    x = rng.standard_normal((3, 2, 4))
    with pytest.raises(ValueError, match="input must be 3-D"):
        lstm.forward(x[0])
    with pytest.raises(ValueError, match="4 features"):
        lstm.forward(x[:, :, :3])
    with pytest.raises(ValueError, match=r"hx\[0\] must have shape"):
        lstm.forward(x, hx=(np.zeros((1, 2, 5)), None))
    with pytest.raises(TypeError, match="input has dtype float32"):
        lstm.forward(x.astype(np.float32))
    with pytest.raises(ValueError, match="nonlinearity"):
        fastnn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        fastnn.GRU(3, 0)


# --------------------------------------------------------------------------- layers

@pytest.mark.parametrize("cls", [fastnn.RNN, fastnn.LSTM, fastnn.GRU], ids=lambda c: c.__name__)
def test_layer_backends_agree_and_save_load(rng, cls, tmp_path):
    layer = cls(3, 4, num_layers=2, bidirectional=True, batch_first=True, rng=1,
                dtype=np.float64)
    bound = 1 / np.sqrt(4)
    assert all(np.abs(p).max() <= bound for p in layer.params.values())
    assert set(layer.params) == {f"{w}_l{k}{s}" for w in ("weight_ih", "weight_hh", "bias_ih",
                                                          "bias_hh")
                                 for k in (0, 1) for s in ("", "_reverse")}
    assert layer.params["weight_ih_l1"].shape == (MODES[layer._mode] * 4, 8)
    x = rng.standard_normal((2, 5, 3))
    out = layer.forward(x)
    assert out.shape == (2, 5, 8)
    go = rng.standard_normal(out.shape)
    gx = layer.backward(go)
    grads = dict(layer.grads)
    with fastnn.backend("numpy"):
        _assert_all_close(layer.forward(x), out, np.float64)
        _assert_all_close(layer.backward(go), gx, np.float64)
        for k in grads:
            assert_close(layer.grads[k], grads[k])
    path = os.path.join(tmp_path, "rnn.npz")
    fastnn.save(layer, path)
    loaded = fastnn.load(path)
    assert type(loaded) is cls and loaded.config() == layer.config()
    assert_close(loaded.forward(x), out)


def test_dropout_between_layers(rng):
    x = rng.standard_normal((4, 3, 2))
    a = fastnn.LSTM(2, 6, num_layers=3, dropout=0.5, seed=3, rng=0, dtype=np.float64)
    b = fastnn.LSTM(2, 6, num_layers=3, dropout=0.5, seed=3, rng=0, dtype=np.float64)
    c = fastnn.LSTM(2, 6, num_layers=3, rng=0, dtype=np.float64)
    out_a, out_b = a.forward(x), b.forward(x)
    assert_close(out_a, out_b)  # same seed, same masks
    assert np.abs(out_a - c.forward(x)).max() > 1e-3  # dropout changed something
    assert_close(a.forward(x, training=False), c.forward(x))  # identity when not training
    # backward through the masks: finite differences of the whole stack
    a2 = fastnn.LSTM(2, 3, num_layers=2, dropout=0.5, seed=5, rng=0, dtype=np.float64)
    x2 = rng.standard_normal((3, 2, 2))
    go = rng.standard_normal((3, 2, 3))
    a2.generator = np.random.default_rng(9)
    a2.forward(x2)
    gx = a2.backward(go)

    def loss():
        a2.generator = np.random.default_rng(9)
        return float(np.sum(a2.forward(x2) * go))

    assert rel_error(gx, numerical_grad(loss, x2)) < 1e-7


@pytest.mark.parametrize("cls", [fastnn.RNNCell, fastnn.LSTMCell, fastnn.GRUCell],
                         ids=lambda c: c.__name__)
def test_cells(rng, cls, tmp_path):
    cell = cls(3, 4, rng=2, dtype=np.float64)
    x = rng.standard_normal((2, 3))
    lstm = cls is fastnn.LSTMCell
    hx = (rng.standard_normal((2, 4)), rng.standard_normal((2, 4))) if lstm else \
        rng.standard_normal((2, 4))
    out = cell.forward(x, hx=hx)
    g = (rng.standard_normal((2, 4)), rng.standard_normal((2, 4))) if lstm else \
        rng.standard_normal((2, 4))
    gx = cell.backward(g)
    mode = cell._mode
    w = (cell.params["weight_ih"], cell.params["weight_hh"], cell.params["bias_ih"],
         cell.params["bias_hh"])
    _assert_all_close(out, getattr(R, mode + "_cell")(x, hx, *w), np.float64)
    ref = getattr(R, mode + "_cell_backward")(g, x, hx, *w)
    _assert_all_close((gx, cell.grad_hx), ref[:2], np.float64)
    path = os.path.join(tmp_path, "cell.npz")
    fastnn.save(cell, path)
    _assert_all_close(fastnn.load(path).forward(x, hx=hx), out, np.float64)


# --------------------------------------------------------------------------- torch parity

def _torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("config", [
    dict(num_layers=1), dict(num_layers=2), dict(num_layers=2, bidirectional=True),
    dict(num_layers=2, bidirectional=True, batch_first=True), dict(bias=False)],
    ids=["1layer", "2layers", "bidirectional", "bidir_batch_first", "nobias"])
@pytest.mark.parametrize("kind", ["RNN", "RNN_relu", "LSTM", "GRU"])
def test_layers_match_torch(rng, kind, config):
    torch = _torch()
    name, kw = (kind[:3], {"nonlinearity": "relu"}) if kind == "RNN_relu" else (kind, {})
    tl = getattr(torch.nn, name)(4, 5, **config, **kw).double()
    fl = getattr(fastnn, name)(4, 5, **config, **kw, dtype=np.float64)
    fl.load_state_dict({k: v.detach().numpy() for k, v in tl.state_dict().items()})
    bf = config.get("batch_first", False)
    x = rng.standard_normal((2, 3, 4) if bf else (3, 2, 4))
    dirs = 2 if config.get("bidirectional") else 1
    h0 = rng.standard_normal((config["num_layers"] * dirs if "num_layers" in config else 1,
                              2, 5))
    lstm = name == "LSTM"
    hx = (h0, rng.standard_normal(h0.shape)) if lstm else h0
    xt = torch.tensor(x, requires_grad=True)
    hxt = tuple(torch.tensor(a, requires_grad=True) for a in hx) if lstm else \
        torch.tensor(hx, requires_grad=True)
    out_t, st_t = tl(xt, hxt)
    out = fl.forward(x, hx=hx)
    go = rng.standard_normal(out.shape)
    gs = [rng.standard_normal(h0.shape) for _ in range(2 if lstm else 1)]
    st_list = list(st_t) if lstm else [st_t]
    loss = (out_t * torch.tensor(go)).sum() + sum((s * torch.tensor(g)).sum()
                                                  for s, g in zip(st_list, gs))
    loss.backward()
    gx = fl.backward(go, grad_state=tuple(gs) if lstm else gs[0])
    tol = dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out, out_t.detach().numpy(), **tol)
    for a, b in zip(_flat([fl.final_state]), st_list):
        np.testing.assert_allclose(a, b.detach().numpy(), **tol)
    np.testing.assert_allclose(gx, xt.grad.numpy(), **tol)
    for a, b in zip(_flat([fl.grad_hx]), _flat([hxt])):
        np.testing.assert_allclose(a, b.grad.numpy(), **tol)
    for k, p in tl.named_parameters():
        np.testing.assert_allclose(fl.grads[k], p.grad.numpy(), **tol, err_msg=k)


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_match_torch(rng, kind):
    torch = _torch()
    tc = getattr(torch.nn, kind)(3, 4).double()
    fc = getattr(fastnn, kind)(3, 4, dtype=np.float64)
    fc.load_state_dict({k: v.detach().numpy() for k, v in tc.state_dict().items()})
    x = rng.standard_normal((2, 3))
    lstm = kind == "LSTMCell"
    hx = (rng.standard_normal((2, 4)), rng.standard_normal((2, 4))) if lstm else \
        rng.standard_normal((2, 4))
    out_t = tc(torch.tensor(x), tuple(torch.tensor(a) for a in hx) if lstm else
               torch.tensor(hx))
    _assert_all_close(fc.forward(x, hx=hx), tuple(o.detach().numpy() for o in out_t)
                      if lstm else out_t.detach().numpy(), np.float64)


def test_layers_pass_check_layer(rng):
    """fastnn.check_layer (central differences of every parameter) on stacked / composed layers.

    check_layer reports CS231n's element-wise rel_error, which is stricter than the old
    norm-wise measure on small entries: correct float64 gradients measure up to ~3e-6
    (fastnn.gradcheck's notes), a 1% error ~5e-3; 1e-5 separates the two."""
    x = rng.standard_normal((4, 3, 5))
    lstm = fastnn.LSTM(5, 3, num_layers=2, bidirectional=True, rng=0, dtype=np.float64)
    assert max(fastnn.check_layer(lstm, x).values()) < 1e-5
    model = fastnn.Sequential(fastnn.GRU(5, 4, batch_first=True, rng=1, dtype=np.float64),
                              fastnn.LayerNorm(4, dtype=np.float64))
    assert max(fastnn.check_layer(model, x).values()) < 1e-5
    rnn = fastnn.RNN(5, 3, nonlinearity="tanh", bias=False, rng=2, dtype=np.float64)
    assert max(fastnn.check_layer(rnn, x).values()) < 1e-5


def test_concurrent_calls_from_python_threads(rng):
    """Several Python threads running BPTT at once get the results of one-at-a-time calls
    (GEMM workspaces are per thread; the gate kernels keep no state)."""
    import threading
    problems = [_problem(rng, "lstm", np.float32, 6, 40, 8, 32) for _ in range(4)]
    grads = [rng.standard_normal((6, 40, 32)).astype(np.float32) for _ in range(4)]
    expected = [F.lstm_backward(g, *p) for g, p in zip(grads, problems)]
    results = [None] * 4

    def run(k):
        for _ in range(3):
            results[k] = F.lstm_backward(grads[k], *problems[k])

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, exp in zip(results, expected):
        for a, e in zip(_flat(got), _flat(exp)):
            np.testing.assert_array_equal(a, e)
