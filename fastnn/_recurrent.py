"""Recurrent ops: Elman RNN (tanh / relu), LSTM and GRU over whole sequences and single steps.

Exported by :mod:`fastnn.functional`; :mod:`fastnn.reference` has plain-NumPy
twins with the same signatures. One layer, one direction per call (the layer
classes in :mod:`fastnn.recurrent` stack layers and directions).

How a sequence is computed (T steps, batch N, input size D, hidden size H,
k = 1, 4 or 3 gate blocks for RNN, LSTM, GRU):

* the input projection of all T steps, x @ W_ih^T + bias, is ONE GEMM of
  (T*N, D) x (D, kH);
* each step then runs one recurrent GEMM h_{t-1} @ W_hh^T (accumulated into
  that step's gate block) and one fused gate kernel (kernels/recurrent.py)
  that applies the nonlinearities and the cell update in one pass;
* backward through time runs the fused backward gate kernel and one GEMM
  (dgates @ W_hh) per step, from t = T-1 down to 0, then the weight gradients
  of all steps as three GEMMs: dW_ih = dgates^T x, dW_hh = dgates^T h_{<T},
  dx = dgates W_ih.

Equations and gate order follow torch.nn.RNN / LSTM / GRU:

* rnn_tanh / rnn_relu: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
* lstm (gate rows of the weights: i, f, g, o):
  i, f, o = sigmoid(.), g = tanh(.) of W_i* x_t + b_i* + W_h* h_{t-1} + b_h*;
  c_t = f * c_{t-1} + i * g; h_t = o * tanh(c_t)
* gru (gate rows r, z, n): r = sigmoid(W_ir x + b_ir + W_hr h + b_hr),
  z = sigmoid(W_iz x + b_iz + W_hz h + b_hz),
  n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h_t = (1 - z) * n + z * h_{t-1}

Forward ops return ``(output, h_n)`` (``(output, (h_n, c_n))`` for the LSTM),
plus a cache object with ``return_cache=True`` that the backward op accepts to
skip recomputing the forward. Backward ops return the gradients in the order
of the forward's inputs: ``(grad_input, grad_hx, grad_weight_ih,
grad_weight_hh, grad_bias_ih, grad_bias_hh)``; grad_hx is ``(grad_h0,
grad_c0)`` for the LSTM (the gradient with respect to the initial state, also
when hx was None, i.e. zeros); a bias gradient is None when that bias was None.
"""
import numpy as np

from . import _args_recurrent as _rc
from . import _checks
from ._linear import gemm_into
from .kernels import recurrent as _k

__all__ = ["rnn_tanh", "rnn_tanh_backward", "rnn_relu", "rnn_relu_backward",
           "lstm", "lstm_backward", "gru", "gru_backward",
           "rnn_tanh_cell", "rnn_tanh_cell_backward", "rnn_relu_cell", "rnn_relu_cell_backward",
           "lstm_cell", "lstm_cell_backward", "gru_cell", "gru_cell_backward"]

class RecurrentCache:
    """What a recurrent forward saves for its backward (opaque to users).

    x : (T, N, D) input, time-major, in processing order (time-flipped when
    reverse); hs : (T+1, N, H) hidden states h_0..h_T; cs : (T+1, N, H) LSTM
    cell states (None otherwise); gates : (T, N, kH) activated gates (LSTM,
    GRU) or pre-activations (RNN); gh : (T, N, 3H) GRU hidden products
    W_hh h + b_hh (None otherwise).
    """

    __slots__ = ("mode", "reverse", "x", "hs", "cs", "gates", "gh")

    def __init__(self, mode, reverse, x, hs, cs, gates, gh):
        self.mode, self.reverse, self.x, self.hs, self.cs = mode, reverse, x, hs, cs
        self.gates, self.gh = gates, gh




def _bias_sum(g2):
    out = np.empty(g2.shape[1], dtype=g2.dtype)
    _k.column_sum(g2, out)
    return out


def _forward(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse):
    """Run one direction of one layer; x (T, N, D) time-major C-contiguous. Returns the cache."""
    t_len, n, d = x.shape
    hid = w_hh.shape[1]
    dt = x.dtype
    if reverse:
        x = np.ascontiguousarray(x[::-1])
    gates = np.empty((t_len, n, w_hh.shape[0]), dtype=dt)
    g2 = gates.reshape(t_len * n, -1)
    gemm_into(x.reshape(t_len * n, d), w_ih, g2, trans_b=True)
    bias = b_ih
    if mode != "gru" and b_hh is not None:
        bias = b_hh if b_ih is None else b_ih + b_hh
    if bias is not None:
        _k.add_row_vector(g2, bias)
    hs = np.empty((t_len + 1, n, hid), dtype=dt)
    hs[0] = 0 if h0 is None else h0
    cs = gh = None
    if mode == "lstm":
        cs = np.empty((t_len + 1, n, hid), dtype=dt)
        cs[0] = 0 if c0 is None else c0
    elif mode == "gru":
        gh = np.empty((t_len, n, 3 * hid), dtype=dt)
        b_hh = np.zeros(3 * hid, dtype=dt) if b_hh is None else b_hh
    relu = mode == "rnn_relu"
    for t in range(t_len):
        if mode == "gru":
            gemm_into(hs[t], w_hh, gh[t], trans_b=True)
            _k.gru_forward_step(gates[t], gh[t], b_hh, hs[t], hs[t + 1])
            continue
        gemm_into(hs[t], w_hh, gates[t], trans_b=True, accumulate=True)
        if mode == "lstm":
            _k.lstm_forward_step(gates[t], cs[t], cs[t + 1], hs[t + 1])
        else:
            _k.rnn_forward_step(gates[t], hs[t + 1], relu)
    return RecurrentCache(mode, reverse, x, hs, cs, gates, gh)


def _output(cache, batch_first):
    out = cache.hs[1:]
    if cache.reverse:
        out = out[::-1]
    if batch_first:
        out = out.transpose(1, 0, 2)
    return np.ascontiguousarray(out)


def _backward(cache, w_ih, w_hh, has_ih, has_hh, go, gh_n, gc_n):
    """Backward through time. go (T, N, H) time-major in original order, or None."""
    mode = cache.mode
    x, hs, cs, gates = cache.x, cache.hs, cache.cs, cache.gates
    t_len, n, d = x.shape
    hid = w_hh.shape[1]
    dt = x.dtype
    if go is None:
        go = np.zeros((t_len, n, hid), dtype=dt)
    elif cache.reverse:
        go = np.ascontiguousarray(go[::-1])
    dh = np.zeros((n, hid), dtype=dt) if gh_n is None else gh_n.copy()
    dc = None
    if mode == "lstm":
        dc = np.zeros((n, hid), dtype=dt) if gc_n is None else gc_n.copy()
    dgates = np.empty_like(gates)
    dgh = np.empty_like(cache.gh) if mode == "gru" else None
    relu = mode == "rnn_relu"
    for t in range(t_len - 1, -1, -1):
        if mode == "lstm":
            _k.lstm_backward_step(go[t], dh, dc, gates[t], cs[t], cs[t + 1], dgates[t])
            gemm_into(dgates[t], w_hh, dh)
        elif mode == "gru":
            _k.gru_backward_step(go[t], dh, gates[t], cache.gh[t], hs[t], dgates[t], dgh[t])
            gemm_into(dgh[t], w_hh, dh, accumulate=True)
        else:
            _k.rnn_backward_step(go[t], dh, hs[t + 1], dgates[t], relu)
            gemm_into(dgates[t], w_hh, dh)
    dg2 = dgates.reshape(t_len * n, -1)
    x2 = x.reshape(t_len * n, d)
    grad_x = np.empty((t_len, n, d), dtype=dt)
    gemm_into(dg2, w_ih, grad_x.reshape(t_len * n, d))
    if cache.reverse:
        grad_x = grad_x[::-1]
    gw_ih = np.empty_like(w_ih)
    gemm_into(dg2, x2, gw_ih, trans_a=True)
    dhh2 = dg2 if dgh is None else dgh.reshape(t_len * n, -1)
    gw_hh = np.empty_like(w_hh)
    gemm_into(dhh2, hs[:t_len].reshape(t_len * n, hid), gw_hh, trans_a=True)
    gb_ih = _bias_sum(dg2) if has_ih else None
    if not has_hh:
        gb_hh = None
    elif dgh is not None:
        gb_hh = _bias_sum(dhh2)
    else:
        gb_hh = gb_ih.copy() if gb_ih is not None else _bias_sum(dg2)
    return grad_x, dh, dc, gw_ih, gw_hh, gb_ih, gb_hh



def _seq(op, mode, input, hx, weight_ih, weight_hh, bias_ih, bias_hh, batch_first, reverse,
         return_cache):
    reverse = _checks.flag(op, "reverse", reverse)
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = _rc.recurrent_args(
        op, mode, input, hx, weight_ih, weight_hh, bias_ih, bias_hh, batch_first)
    cache = _forward(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)
    t_len = x.shape[0]
    h_n = cache.hs[t_len].copy()
    states = (h_n, cache.cs[t_len].copy()) if mode == "lstm" else h_n
    out = _output(cache, bool(batch_first))
    return (out, states, cache) if return_cache else (out, states)


def _seq_backward(op, mode, grad_output, input, hx, weight_ih, weight_hh, bias_ih, bias_hh,
                  batch_first, reverse, grad_hx, cache):
    reverse = _checks.flag(op, "reverse", reverse)
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = _rc.recurrent_args(
        op, mode, input, hx, weight_ih, weight_hh, bias_ih, bias_hh, batch_first)
    t_len, n, _ = x.shape
    hid = w_hh.shape[1]
    go = _rc.grad_sequence(op, grad_output, batch_first, t_len, n, hid, x.dtype)
    gh_n, gc_n = _rc.grad_states(op, mode, grad_hx, n, hid, x.dtype)
    if cache is None:
        cache = _forward(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)
    elif not isinstance(cache, RecurrentCache) or cache.mode != mode \
            or cache.reverse != reverse or cache.x.shape != x.shape \
            or cache.hs.shape[2] != hid or cache.x.dtype != x.dtype:
        raise ValueError(f"{op}(): cache must be the one returned by {mode}(..., "
                         "return_cache=True) for these same arguments")
    gx, dh, dc, gw_ih, gw_hh, gb_ih, gb_hh = _backward(cache, w_ih, w_hh, b_ih is not None,
                                                       b_hh is not None, go, gh_n, gc_n)
    if batch_first:
        gx = gx.transpose(1, 0, 2)
    ghx = (dh, dc) if mode == "lstm" else dh
    return np.ascontiguousarray(gx), ghx, gw_ih, gw_hh, gb_ih, gb_hh


_SEQ_DOC = """{title}

    Parameters
    ----------
    input : ndarray of shape (T, N, input_size), or (N, T, input_size) when
        batch_first; float32 or float64 (non-contiguous input is copied once)
    hx : {hx_doc}
    weight_ih : ndarray of shape ({k}*hidden_size, input_size), same dtype{rows}
    weight_hh : ndarray of shape ({k}*hidden_size, hidden_size)
    bias_ih, bias_hh : ndarrays of shape ({k}*hidden_size,) or None (no bias)
    batch_first : bool, input and output are (N, T, features)
    reverse : bool, run from t = T-1 down to 0 (the backward direction of a
        bidirectional layer); output[t] is then the state after reading x[t..T-1]
    return_cache : bool, also return the cache that ``{name}_backward`` accepts

    Returns
    -------
    output : ndarray (T, N, hidden_size) (or (N, T, hidden_size)), h_t for every t
    {ret}
    cache (only with return_cache=True)

    Raises
    ------
    TypeError for non-float or mixed dtypes, or a non-bool flag; ValueError for
    a wrong ndim (input must be 3-D), weights whose shapes do not match each
    other or the input's feature count (mismatched hidden size), an hx of
    the wrong shape, or an empty sequence or batch.

    Notes
    -----
    {eq}
    """

_BWD_DOC = """Gradients of :func:`{name}` by backpropagation through time (one call).

    Parameters
    ----------
    grad_output : ndarray shaped like the forward's output (dL/d output), or None
        (zeros: only the final state feeds the loss)
    input, hx, weight_ih, weight_hh, bias_ih, bias_hh, batch_first, reverse : as
        passed to the forward
    grad_hx : {ghx}, or None (zeros)
    cache : the cache from ``{name}(..., return_cache=True)`` on the same
        arguments, or None to recompute the forward

    Returns
    -------
    (grad_input, grad_hx, grad_weight_ih, grad_weight_hh, grad_bias_ih,
    grad_bias_hh): grad_input shaped like input; grad_hx {ghx_ret}; bias
    gradients None where the bias was None.
    """


def _make(name, mode, title, k, rows, eq):
    lstm_ = mode == "lstm"
    hx_doc = ("pair (h0, c0) of (N, hidden_size) arrays (either may be None = zeros), or None"
              if lstm_ else "ndarray of shape (N, hidden_size), or None (zeros)")
    ret = ("(h_n, c_n) : final hidden and cell states, each (N, hidden_size)" if lstm_ else
           "h_n : ndarray (N, hidden_size), the final hidden state")

    def fwd(input, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None, batch_first=False,
            reverse=False, return_cache=False):
        return _seq(name, mode, input, hx, weight_ih, weight_hh, bias_ih, bias_hh, batch_first,
                    reverse, return_cache)

    def bwd(grad_output, input, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None,
            batch_first=False, reverse=False, grad_hx=None, cache=None):
        return _seq_backward(name + "_backward", mode, grad_output, input, hx, weight_ih,
                             weight_hh, bias_ih, bias_hh, batch_first, reverse, grad_hx, cache)

    fwd.__name__ = fwd.__qualname__ = name
    bwd.__name__ = bwd.__qualname__ = name + "_backward"
    fwd.__doc__ = _SEQ_DOC.format(title=title, hx_doc=hx_doc, k=k, rows=rows, name=name,
                                  ret=ret, eq=eq)
    ghx = "pair (grad_h_n, grad_c_n) (either may be None)" if lstm_ else \
        "ndarray (N, hidden_size), dL/dh_n"
    bwd.__doc__ = _BWD_DOC.format(name=name, ghx=ghx,
                                  ghx_ret="= (grad_h0, grad_c0)" if lstm_ else "= grad_h0")
    return fwd, bwd


rnn_tanh, rnn_tanh_backward = _make(
    "rnn_tanh", "rnn_tanh", "Elman RNN with tanh over a whole sequence, as torch.nn.RNN.", 1, "",
    "h_t = tanh(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh)")
rnn_relu, rnn_relu_backward = _make(
    "rnn_relu", "rnn_relu", "Elman RNN with relu over a whole sequence, as "
    "torch.nn.RNN(nonlinearity='relu').", 1, "", "h_t = relu(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh)")
lstm, lstm_backward = _make(
    "lstm", "lstm", "LSTM over a whole sequence, as torch.nn.LSTM (one layer, one direction).",
    4, "; gate rows i, f, g, o",
    "i, f, o = sigmoid, g = tanh of W_i* x_t + b_i* + W_h* h_(t-1) + b_h*; "
    "c_t = f * c_(t-1) + i * g; h_t = o * tanh(c_t)")
gru, gru_backward = _make(
    "gru", "gru", "GRU over a whole sequence, as torch.nn.GRU (one layer, one direction).",
    3, "; gate rows r, z, n",
    "r, z = sigmoid(W_i* x_t + b_i* + W_h* h + b_h*); n = tanh(W_in x_t + b_in + "
    "r * (W_hn h + b_hn)); h_t = (1 - z) * n + z * h_(t-1)")


# --------------------------------------------------------------------------- cells

def _cell(op, mode, input, hx, weight_ih, weight_hh, bias_ih, bias_hh):
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = _rc.recurrent_args(
        op, mode, input, hx, weight_ih, weight_hh, bias_ih, bias_hh, False, cell=True)
    cache = _forward(mode, x[None], h0, c0, w_ih, w_hh, b_ih, b_hh, False)
    return cache, b_ih is not None, b_hh is not None, w_ih, w_hh


def _cell_backward(op, mode, grad_output, input, hx, weight_ih, weight_hh, bias_ih, bias_hh):
    cache, has_ih, has_hh, w_ih, w_hh = _cell(op, mode, input, hx, weight_ih, weight_hh,
                                              bias_ih, bias_hh)
    n, hid = cache.hs.shape[1:]
    gh, gc = _rc.grad_states(op, mode, grad_output, n, hid, cache.x.dtype, "grad_output")
    gx, dh, dc, gw_ih, gw_hh, gb_ih, gb_hh = _backward(cache, w_ih, w_hh, has_ih, has_hh, None,
                                                       gh, gc)
    return gx[0], ((dh, dc) if mode == "lstm" else dh), gw_ih, gw_hh, gb_ih, gb_hh


def _make_cell(name, mode, title):
    lstm_ = mode == "lstm"

    def fwd(input, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
        cache = _cell(name, mode, input, hx, weight_ih, weight_hh, bias_ih, bias_hh)[0]
        return (cache.hs[1].copy(), cache.cs[1].copy()) if lstm_ else cache.hs[1].copy()

    def bwd(grad_output, input, hx, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
        return _cell_backward(name + "_backward", mode, grad_output, input, hx, weight_ih,
                              weight_hh, bias_ih, bias_hh)

    fwd.__name__ = fwd.__qualname__ = name
    bwd.__name__ = bwd.__qualname__ = name + "_backward"
    state = "(h, c), a pair of (N, hidden_size) arrays" if lstm_ else "h (N, hidden_size)"
    fwd.__doc__ = f"""{title}

    input (N, input_size); hx: {state} or None (zeros); weights and biases as
    the sequence op ``{name[:-5]}``. Returns the next state, {state}. The same
    checks and errors as the sequence op (input must be 2-D).
    """
    bwd.__doc__ = f"""Gradients of :func:`{name}` (recomputes the step).

    grad_output: dL/d(next state), {state} (LSTM: either part may be None).
    Returns (grad_input (N, input_size), grad_hx ({'(grad_h, grad_c)' if lstm_ else
    'grad_h'}), grad_weight_ih, grad_weight_hh, grad_bias_ih, grad_bias_hh).
    """
    return fwd, bwd


rnn_tanh_cell, rnn_tanh_cell_backward = _make_cell(
    "rnn_tanh_cell", "rnn_tanh", "One step of the tanh Elman RNN, as torch.nn.RNNCell.")
rnn_relu_cell, rnn_relu_cell_backward = _make_cell(
    "rnn_relu_cell", "rnn_relu", "One step of the relu Elman RNN, as "
    "torch.nn.RNNCell(nonlinearity='relu').")
lstm_cell, lstm_cell_backward = _make_cell("lstm_cell", "lstm",
                                           "One LSTM step, as torch.nn.LSTMCell.")
gru_cell, gru_cell_backward = _make_cell("gru_cell", "gru", "One GRU step, as torch.nn.GRUCell.")
